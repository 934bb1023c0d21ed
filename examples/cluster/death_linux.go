package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel send sig to the child if this program dies
// without stopping it (kill -9, a crash), so no server outlives the demo.
func setDeathSignal(cmd *exec.Cmd, sig syscall.Signal) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: sig}
}

package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a busy loop if this program dies
// without stopping it (a panic, kill -9).
func dieWithParent(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal does nothing here: only Linux can tie a child's life to its
// parent's. Children are still stopped when run returns or on Ctrl-C.
func setDeathSignal(*exec.Cmd, syscall.Signal) {}

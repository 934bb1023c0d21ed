package main

import "syscall"

// deathSignal makes the kernel kill a busy loop when this process dies.
func deathSignal() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

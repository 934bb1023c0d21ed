//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing here: busy loops stop by themselves after
// their time limit.
func dieWithParent(*exec.Cmd) {}

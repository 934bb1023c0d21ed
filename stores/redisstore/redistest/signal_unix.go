//go:build unix

package redistest

import "syscall"

// Pause stops the server's process (SIGSTOP), as a long garbage-collection
// pause, a frozen virtual machine or a server swapping would: its
// connections stay open and it answers nothing, while the kernel still
// accepts new connections for it, until Continue. Kill works on a paused
// server.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Continue resumes a paused server (SIGCONT); it then serves what was sent
// to it meanwhile, in order.
func (s *Server) Continue() error { return s.signal(syscall.SIGCONT) }

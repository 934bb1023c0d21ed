//go:build !unix

package redistest

import "errors"

var errNoSignals = errors.New("redistest: Pause and Continue need a Unix system (SIGSTOP, SIGCONT)")

// Pause stops the server's process; on this system it returns an error.
func (s *Server) Pause() error { return errNoSignals }

// Continue resumes a paused server; on this system it returns an error.
func (s *Server) Continue() error { return errNoSignals }

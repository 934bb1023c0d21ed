package redistest

import (
	"os"
	"strings"
)

// Launch starts a standalone server outside a test, for programs that
// measure or demonstrate (bench/, examples/): in a temporary directory of
// its own, on a free loopback port. Stop it with Shutdown, which also
// removes the directory; it dies with the program on Linux.
func Launch(extra ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s, err := start(dir, extra...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// LaunchCluster starts a three-master Redis Cluster outside a test, and
// waits until it serves every slot. Stop it with Shutdown.
func LaunchCluster() (*Cluster, error) {
	c, err := startCluster()
	if err != nil && c != nil {
		c.Shutdown()
	}
	return c, err
}

// Shutdown kills the server and removes its directory.
func (s *Server) Shutdown() {
	s.Stop()
	if strings.Contains(s.dir, "redistest-") {
		os.RemoveAll(s.dir)
	}
}

// Shutdown kills the cluster's servers and removes their directories.
func (c *Cluster) Shutdown() {
	for _, s := range c.Servers {
		s.Shutdown()
	}
}

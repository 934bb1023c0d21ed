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
func LaunchCluster() (*Cluster, error) { return launchCluster(0) }

// LaunchClusterWithReplicas starts a Redis Cluster of three masters with
// one replica each outside a test, and waits until it serves every slot and
// every replica is in sync. Stop it with Shutdown.
func LaunchClusterWithReplicas() (*Cluster, error) { return launchCluster(1) }

func launchCluster(replicas int) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	c, err := startCluster(dir, replicas)
	if err != nil {
		if c != nil {
			c.Shutdown()
		}
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
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
	for _, s := range c.all() {
		s.Shutdown()
	}
}

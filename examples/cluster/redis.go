package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// installRedis is what to tell a user whose machine lacks the servers.
const installRedis = "install redis-server and redis-cli (Debian/Ubuntu: apt-get install redis-server redis-tools; macOS: brew install redis)"

// redisCluster is three redis-server processes, one master each, no
// replicas, all slots assigned.
type redisCluster struct {
	addrs []string
	procs []*proc
}

// startCluster starts the three masters in dir, joins them with
// redis-cli --cluster create and waits until every node reports
// cluster_state:ok. On error it stops what it started.
func startCluster(ctx context.Context, dir string) (_ *redisCluster, err error) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found: %s", installRedis)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli not found: %s", installRedis)
	}
	c := &redisCluster{}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	for i := 0; i < 3; i++ {
		p, addr, err := startNode(ctx, server, dir)
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, p)
		c.addrs = append(c.addrs, addr)
	}

	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(cctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	for i, addr := range c.addrs {
		if err := waitClusterOK(ctx, addr, c.procs[i].done); err != nil {
			return nil, fmt.Errorf("redis node %s: %w\n%s", addr, err, c.procs[i].out)
		}
	}
	return c, nil
}

// startNode starts one cluster-enabled redis-server on free ports (a client
// port and a cluster bus port) and waits until it answers PING. A port found
// free may be taken before the server binds it: then it tries other ports.
func startNode(ctx context.Context, bin, dir string) (*proc, string, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, "", err
		}
		port := strconv.Itoa(ports[0])
		ndir := filepath.Join(dir, "redis-"+port)
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			return nil, "", err
		}
		p, err := startProc(ctx, "redis-server :"+port, syscall.SIGKILL, bin,
			"--port", port, "--bind", "127.0.0.1", "--dir", ndir,
			"--save", "", "--appendonly", "no", // nothing to keep: the counters live a minute
			"--daemonize", "no", "--logfile", "",
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(ports[1]),
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + port
		if err := poll(ctx, 10*time.Second, p.done, func() error { return ping(addr) }); err != nil {
			p.stop()
			last = fmt.Errorf("redis-server on %s: %w\n%s", addr, err, p.out)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return p, addr, nil
	}
	return nil, "", last
}

// ping sends PING over a raw connection, so that readiness does not depend
// on a client's retries.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// waitClusterOK waits until the node at addr says cluster_state:ok: it knows
// all three masters and every slot is served.
func waitClusterOK(ctx context.Context, addr string, exited <-chan struct{}) error {
	n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer n.Close()
	return poll(ctx, 30*time.Second, exited, func() error {
		info, err := n.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return errors.New("cluster_state is not ok")
		}
		return nil
	})
}

// stop stops every node; it is safe to call more than once.
func (c *redisCluster) stop() {
	for _, p := range c.procs {
		p.stop()
	}
}

package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters, with or without one replica
// each.
type Cluster struct {
	// Addrs are the masters' addresses, as the cluster was created.
	Addrs []string
	// Servers are the masters, as the cluster was created.
	Servers []*Server
	// Replicas are the replicas, as the cluster was created: none unless
	// it was started with replicas. Failover swaps a master and its
	// replica.
	Replicas []*Server
}

// SharedCluster returns a three-master cluster shared by the package's tests,
// created on first use with redis-cli --cluster create.
func SharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if cluster == nil {
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			tb.Fatal(err)
		}
		c, err := startCluster(dir, 0)
		if err != nil {
			tb.Fatal(err)
		}
		cluster = c
	}
	return cluster
}

// StartClusterWithReplicas starts a cluster of three masters with one
// replica each, for a test of its own (Failover changes who is master); it
// stops when tb ends.
func StartClusterWithReplicas(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := startCluster(tb.TempDir(), 1)
	if c != nil {
		tb.Cleanup(c.Shutdown)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func startCluster(dir string, replicas int) (*Cluster, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-cli not found: %s", Install)
	}
	c := &Cluster{}
	var all []*Server
	for i := 0; i < 3*(1+replicas); i++ {
		bus, err := freePorts(1)
		if err != nil {
			return c, err
		}
		s, err := start(dir, "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus[0]),
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		if err != nil {
			return c, err
		}
		all = append(all, s)
		c.Servers = append(c.Servers, s) // until the roles are known: so that Shutdown finds it
	}
	args := []string{"--cluster", "create"}
	for _, s := range all {
		args = append(args, s.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return c, fmt.Errorf("redistest: redis-cli --cluster create: %w\n%s", err, out)
	}
	// redis-cli chose the masters: ask each node its role.
	c.Servers = nil
	for _, s := range all {
		role, err := roleOf(ctx, s.Addr)
		if err != nil {
			c.Servers = all
			return c, err
		}
		if role == "master" {
			c.Servers = append(c.Servers, s)
			c.Addrs = append(c.Addrs, s.Addr)
		} else {
			c.Replicas = append(c.Replicas, s)
		}
	}
	if len(c.Servers) != 3 || len(c.Replicas) != 3*replicas {
		c.Servers, c.Replicas = all, nil
		return c, fmt.Errorf("redistest: cluster created with %d masters and %d replicas, want 3 and %d", len(c.Servers), len(c.Replicas), 3*replicas)
	}
	if err := c.waitReady(30 * time.Second); err != nil {
		return c, err
	}
	return c, nil
}

// roleOf is the first word of a node's ROLE reply: master or slave.
func roleOf(ctx context.Context, addr string) (string, error) {
	n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer n.Close()
	v, err := n.Do(ctx, "role").Slice()
	if err != nil {
		return "", err
	}
	if len(v) == 0 {
		return "", fmt.Errorf("redistest: %s: empty ROLE reply", addr)
	}
	role, _ := v[0].(string)
	return role, nil
}

// linkUp reports whether a replica is in sync with its master.
func linkUp(ctx context.Context, addr string) error {
	n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer n.Close()
	info, err := n.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("replica %s: link to its master not up", addr)
	}
	return nil
}

// all is every node, masters first.
func (c *Cluster) all() []*Server {
	return append(append([]*Server(nil), c.Servers...), c.Replicas...)
}

// waitReady waits until every node reports cluster_state:ok, every replica
// is in sync, and a cluster client can write to a key in each master's
// slots.
func (c *Cluster) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	ctx := context.Background()
	for {
		err := func() error {
			for _, s := range c.all() {
				if err := stateOK(ctx, s.Addr); err != nil {
					return err
				}
			}
			for _, s := range c.Replicas {
				if err := linkUp(ctx, s.Addr); err != nil {
					return err
				}
			}
			cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, MaxRetries: -1})
			defer cc.Close()
			// 64 keys spread over the slots reach every master (each misses
			// one with odds (2/3)^64).
			for i := 0; i < 64; i++ {
				if err := cc.Set(ctx, "redistest:"+strconv.Itoa(i), "1", time.Second).Err(); err != nil {
					return err
				}
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: cluster not ready after %v: %w", limit, err)
		}
		time.Sleep(20 * time.Millisecond) // polling processes we do not control
	}
}

func stateOK(ctx context.Context, addr string) error {
	n := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer n.Close()
	info, err := n.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fmt.Errorf("node %s: cluster_state not ok", addr)
	}
	return nil
}

// Client returns a cluster client, closed when tb ends. Every node is a
// seed, so the client finds the cluster whichever nodes are masters.
func (c *Cluster) Client(tb testing.TB, opt *redis.ClusterOptions) *redis.ClusterClient {
	tb.Helper()
	if opt == nil {
		opt = &redis.ClusterOptions{}
	}
	opt.Addrs = c.Seeds()
	cc := redis.NewClusterClient(opt)
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// Seeds are every node's address, for a client's ClusterOptions.Addrs.
func (c *Cluster) Seeds() []string {
	var addrs []string
	for _, s := range c.all() {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

// node is one line of CLUSTER NODES.
type node struct {
	id, addr string
	master   bool
	of       string   // the master's id, for a replica
	slots    [][2]int // ranges served, for a master
}

// parseNodes reads CLUSTER NODES: id, address@bus, flags, master id, ping,
// pong, epoch, link state, then the slots ("0-5460", "5461", or
// "[…]" for a slot being moved, which is skipped).
func parseNodes(text string) []node {
	var out []node
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := node{id: f[0], addr: addr}
		for _, flag := range strings.Split(f[2], ",") {
			if flag == "master" {
				n.master = true
			}
		}
		if f[3] != "-" {
			n.of = f[3]
		}
		for _, r := range f[8:] {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				n.slots = append(n.slots, [2]int{a, b})
			}
		}
		out = append(out, n)
	}
	return out
}

func (n node) serves(slot int) bool {
	for _, r := range n.slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// Failover promotes the replica of the master serving key's slot: it waits
// until the replica is in sync, sends it CLUSTER FAILOVER (a manual
// failover: the master stops taking writes until the replica has every one,
// so none is lost, then the replica takes over its slots and the master
// becomes its replica), and waits, within limit, until every node agrees and
// the new replica is in sync. It returns the promoted and the demoted server.
func (c *Cluster) Failover(key string, limit time.Duration) (promoted, demoted *Server, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	byAddr := map[string]*Server{}
	for _, s := range c.all() {
		byAddr[s.Addr] = s
	}
	any := redis.NewClient(&redis.Options{Addr: c.Servers[0].Addr, MaxRetries: -1})
	defer any.Close()
	slot64, err := any.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("redistest: CLUSTER KEYSLOT: %w", err)
	}
	slot := int(slot64)
	text, err := any.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("redistest: CLUSTER NODES: %w", err)
	}
	var master, replica node
	nodes := parseNodes(text)
	for _, n := range nodes {
		if n.master && n.serves(slot) {
			master = n
		}
	}
	for _, n := range nodes {
		if !n.master && master.id != "" && n.of == master.id {
			replica = n
		}
	}
	promoted, demoted = byAddr[replica.addr], byAddr[master.addr]
	if promoted == nil || demoted == nil {
		return nil, nil, fmt.Errorf("redistest: no master with a replica of ours serves slot %d:\n%s", slot, text)
	}
	poll := func(what string, ok func() error) error {
		for {
			err := ok()
			if err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("redistest: failover of slot %d from %s to %s: %s: %w", slot, demoted.Addr, promoted.Addr, what, err)
			case <-time.After(10 * time.Millisecond): // polling processes we do not control
			}
		}
	}
	if err := poll("replica in sync", func() error { return linkUp(ctx, promoted.Addr) }); err != nil {
		return nil, nil, err
	}
	rc := redis.NewClient(&redis.Options{Addr: promoted.Addr, MaxRetries: -1})
	defer rc.Close()
	if err := rc.Do(ctx, "cluster", "failover").Err(); err != nil {
		return nil, nil, fmt.Errorf("redistest: CLUSTER FAILOVER on %s: %w", promoted.Addr, err)
	}
	agreed := func() error {
		for _, s := range c.all() {
			n := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
			text, err := n.ClusterNodes(ctx).Result()
			n.Close()
			if err != nil {
				return err
			}
			for _, n := range parseNodes(text) {
				switch {
				case n.id == replica.id && !(n.master && n.serves(slot)):
					return fmt.Errorf("node %s does not see %s serving the slot yet", s.Addr, promoted.Addr)
				case n.id == master.id && n.master:
					return fmt.Errorf("node %s still sees %s as a master", s.Addr, demoted.Addr)
				}
			}
			if err := stateOK(ctx, s.Addr); err != nil {
				return err
			}
		}
		return linkUp(ctx, demoted.Addr)
	}
	if err := poll("every node agrees", agreed); err != nil {
		return nil, nil, err
	}
	return promoted, demoted, nil
}

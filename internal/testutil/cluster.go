package testutil

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ClusterNodeTimeout is the cluster-node-timeout of test clusters: a node
// silent for this long is suspected, and a replica of a failed master
// is promoted a second or two later.
const ClusterNodeTimeout = 1000 * time.Millisecond

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// Cluster is a Redis Cluster of redis-server processes on loopback ports.
type Cluster struct {
	Nodes    []*Process // every node, masters first
	Masters  []*Process // the masters at creation
	Replicas []*Process // the replicas at creation, in the order of their masters

	t   testing.TB
	cli []string // redis-cli's options to reach the nodes (TLS's)
}

// ClusterNode is one line of CLUSTER NODES.
type ClusterNode struct {
	ID       string
	Addr     string // "ip:port", the cluster bus port and hostname cut off
	Flags    []string
	MasterID string   // of a replica; "" for a master
	Slots    [][2]int // the inclusive slot ranges a master serves
}

// Master reports whether the node is flagged a master.
func (n ClusterNode) Master() bool { return slices.Contains(n.Flags, "master") }

// Failed reports whether the node is flagged failed or suspected of it.
func (n ClusterNode) Failed() bool {
	return slices.Contains(n.Flags, "fail") || slices.Contains(n.Flags, "fail?")
}

// StartCluster starts masters+masters*replicasPerMaster redis-server nodes
// in cluster mode (cluster-node-timeout ClusterNodeTimeout, full coverage
// not required), joins them with redis-cli --cluster create, which splits
// the slots evenly among the masters, and returns once every node says
// cluster_state:ok and all agree on the slots and on the replicas.
func StartCluster(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	return startCluster(t, masters, replicasPerMaster, nil, func() *Process { return StartClusterNode(t) })
}

// startCluster is StartCluster with nodes started by startNode, which
// redis-cli reaches with the options cli.
func startCluster(t testing.TB, masters, replicasPerMaster int, cli []string, startNode func() *Process) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("StartCluster: redis-cli --cluster create wants at least 3 masters, not %d", masters)
	}
	c := &Cluster{t: t, cli: cli}
	for i := range masters * (1 + replicasPerMaster) {
		p := startNode()
		c.Nodes = append(c.Nodes, p)
		if i < masters {
			c.Masters = append(c.Masters, p)
		}
	}
	args := append(slices.Clone(cli), "--cluster", "create")
	for _, p := range c.Nodes {
		args = append(args, p.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	redisCLI(t, args...)
	c.Wait(t)
	// redis-cli pairs replicas with masters as it likes: ask who follows whom.
	nodes := c.NodesView(t, c.Nodes[0])
	for _, m := range c.Masters {
		id := c.ID(t, m)
		for _, n := range nodes {
			if n.MasterID == id {
				c.Replicas = append(c.Replicas, c.byAddr(t, n.Addr))
			}
		}
	}
	if len(c.Replicas) != masters*replicasPerMaster {
		t.Fatalf("cluster: %d replicas follow the first %d nodes, want %d", len(c.Replicas), masters, masters*replicasPerMaster)
	}
	return c
}

// StartClusterNode starts one empty cluster node, with extra arguments as
// StartRedis's. Its cluster bus port is a free port of its own (by
// default it is the port plus 10000, which may be taken or in the
// ephemeral range).
func StartClusterNode(t testing.TB, extra ...string) *Process {
	t.Helper()
	return StartRedis(t, append(clusterNodeArgs(t), extra...)...)
}

// clusterNodeArgs are the arguments of a test cluster node.
func clusterNodeArgs(t testing.TB) []string {
	t.Helper()
	return []string{
		"--cluster-enabled", "yes",
		"--cluster-port", strconv.Itoa(FreePort(t)),
		"--cluster-config-file", "nodes.conf", // in the node's own directory
		"--cluster-node-timeout", strconv.FormatInt(ClusterNodeTimeout.Milliseconds(), 10),
		"--cluster-require-full-coverage", "no",
		// Redis calls a replica "loading" and leaves it out of CLUSTER
		// SLOTS until its replication offset is not 0: the first ping down
		// the replication stream moves it, every second instead of ten.
		"--repl-ping-replica-period", "1"}
}

// redisCLI runs redis-cli with args, bounded in time, and fails the test
// with its output when it fails.
func redisCLI(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*StartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Live returns the nodes that are running (not killed).
func (c *Cluster) Live() []*Process {
	var live []*Process
	for _, p := range c.Nodes {
		if p.cmd != nil {
			live = append(live, p)
		}
	}
	return live
}

// ID returns the node ID of p (CLUSTER MYID).
func (c *Cluster) ID(t testing.TB, p *Process) string {
	t.Helper()
	cl := p.Dial(t)
	defer cl.Conn.Close()
	r := cl.Do("CLUSTER", "MYID")
	id, ok := strings.CutPrefix(r, "$40\r\n")
	if !ok {
		t.Fatalf("CLUSTER MYID at %s: %q", p.Addr, r)
	}
	return strings.TrimSuffix(id, "\r\n")
}

// NodesView returns the cluster as p sees it (CLUSTER NODES).
func (c *Cluster) NodesView(t testing.TB, p *Process) []ClusterNode {
	t.Helper()
	cl := p.Dial(t)
	defer cl.Conn.Close()
	nodes, err := ParseClusterNodes(bulkText(cl.Do("CLUSTER", "NODES")))
	if err != nil {
		t.Fatalf("CLUSTER NODES at %s: %v", p.Addr, err)
	}
	return nodes
}

// ParseClusterNodes parses the text of a CLUSTER NODES reply.
func ParseClusterNodes(text string) ([]ClusterNode, error) {
	var nodes []ClusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("short line %q", line)
		}
		n := ClusterNode{ID: f[0], Flags: strings.Split(f[2], ",")}
		n.Addr, _, _ = strings.Cut(f[1], "@")
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				continue // a slot being migrated or imported
			}
			lo, hi, isRange := strings.Cut(s, "-")
			if !isRange {
				hi = lo
			}
			a, errA := strconv.Atoi(lo)
			b, errB := strconv.Atoi(hi)
			if errA != nil || errB != nil || a > b || b >= clusterSlots {
				return nil, fmt.Errorf("bad slots %q in line %q", s, line)
			}
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// SlotOwners returns the address of the master serving each slot in
// nodes, "" where none does. A master flagged failed still owns its slots
// until a replica takes them over.
func SlotOwners(nodes []ClusterNode) [clusterSlots]string {
	var owners [clusterSlots]string
	for _, n := range nodes {
		for _, r := range n.Slots {
			for s := r[0]; s <= r[1]; s++ {
				owners[s] = n.Addr
			}
		}
	}
	return owners
}

// bulkText returns the data of a raw bulk string reply, or raw itself.
func bulkText(raw string) string {
	header, data, ok := strings.Cut(raw, "\r\n")
	if !ok || !strings.HasPrefix(header, "$") {
		return raw
	}
	return strings.TrimSuffix(data, "\r\n")
}

// Wait returns once every live node says cluster_state:ok, they all agree
// on the master of every slot, none is thought failed, and each says in
// CLUSTER SHARDS that every live node is online (a replica is "loading"
// until it has had some of its master's replication stream).
func (c *Cluster) Wait(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(3 * StartTimeout)
	for {
		why := c.disagreement(t)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not settled within %v: %s", 3*StartTimeout, why)
		}
		time.Sleep(20 * time.Millisecond) // each round asks every node twice
	}
}

// disagreement returns why the live nodes do not agree yet, or "".
func (c *Cluster) disagreement(t testing.TB) string {
	t.Helper()
	live := c.Live()
	var first [clusterSlots]string
	for i, p := range live {
		cl := p.Dial(t)
		info := cl.Do("CLUSTER", "INFO")
		nodes, err := ParseClusterNodes(bulkText(cl.Do("CLUSTER", "NODES")))
		shards := cl.Do("CLUSTER", "SHARDS")
		cl.Conn.Close()
		if online := strings.Count(shards, "$6\r\nhealth\r\n$6\r\nonline\r\n"); online != len(live) {
			return fmt.Sprintf("%s: CLUSTER SHARDS says %d nodes are online, not %d", p.Addr, online, len(live))
		}
		if state := infoField(bulkText(info), "cluster_state"); state != "ok" {
			return fmt.Sprintf("%s: cluster_state:%s", p.Addr, state)
		}
		if err != nil {
			return fmt.Sprintf("%s: CLUSTER NODES: %v", p.Addr, err)
		}
		if len(nodes) < len(live) {
			return fmt.Sprintf("%s knows %d nodes of %d", p.Addr, len(nodes), len(live))
		}
		for _, n := range nodes {
			if n.Failed() && slices.ContainsFunc(live, func(q *Process) bool { return q.Addr == n.Addr }) {
				return fmt.Sprintf("%s says %s is %v", p.Addr, n.Addr, n.Flags)
			}
		}
		owners := SlotOwners(nodes)
		if i == 0 {
			first = owners
		} else if owners != first {
			return fmt.Sprintf("%s and %s disagree on the slots", live[0].Addr, p.Addr)
		}
	}
	return ""
}

// MasterOf returns the node that serves slot, as the first live node sees
// it; it fails the test when no live node does.
func (c *Cluster) MasterOf(slot int) *Process {
	c.t.Helper()
	live := c.Live()
	if len(live) == 0 {
		c.t.Fatalf("cluster: no node running")
	}
	owner := SlotOwners(c.NodesView(c.t, live[0]))[slot]
	if owner == "" {
		c.t.Fatalf("cluster: no master serves slot %d", slot)
	}
	return c.byAddr(c.t, owner)
}

// byAddr returns the node listening at addr.
func (c *Cluster) byAddr(t testing.TB, addr string) *Process {
	t.Helper()
	for _, p := range c.Nodes {
		if p.Addr == addr {
			return p
		}
	}
	t.Fatalf("cluster: no node at %s", addr)
	return nil
}

// Reshard moves slots slots from master from to master to with redis-cli
// --cluster reshard (the slots with their keys, lowest slots first), and
// returns once every live node agrees on the result (see Wait).
func (c *Cluster) Reshard(t testing.TB, from, to *Process, slots int) {
	t.Helper()
	redisCLI(t, append(slices.Clone(c.cli), "--cluster", "reshard", to.Addr,
		"--cluster-from", c.ID(t, from), "--cluster-to", c.ID(t, to),
		"--cluster-slots", strconv.Itoa(slots), "--cluster-yes")...)
	c.Wait(t)
}

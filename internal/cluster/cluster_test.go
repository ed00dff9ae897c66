package cluster

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// fetch calls Fetch with a test's bound.
func fetch(t testing.TB, addr string, opts Options) (*Map, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Fetch(ctx, addr, opts)
}

// mustFetch is fetch that fails the test on an error.
func mustFetch(t testing.TB, addr string, opts Options) *Map {
	t.Helper()
	m, err := fetch(t, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkAgainstNodes fails the test where m differs from the CLUSTER NODES
// view of node: the master of every slot, and each master's replicas.
func checkAgainstNodes(t testing.TB, c *testutil.Cluster, node *testutil.Process, m *Map) {
	t.Helper()
	nodes := c.NodesView(t, node)
	owners := testutil.SlotOwners(nodes)
	bad := 0
	for slot, want := range owners {
		if got := m.Master(slot); got != want && bad < 5 {
			t.Errorf("slot %d: map says %q, CLUSTER NODES %q", slot, got, want)
			bad++
		}
	}
	for _, s := range m.Shards {
		var want []string
		for _, master := range nodes {
			if master.Addr != s.Master {
				continue
			}
			for _, n := range nodes {
				if n.MasterID == master.ID && !n.Failed() {
					want = append(want, n.Addr)
				}
			}
		}
		got := slices.Clone(s.Replicas)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("replicas of %s: map says %v, CLUSTER NODES %v", s.Master, got, want)
		}
	}
}

// TestFetch checks the map of every node, by CLUSTER SHARDS and by CLUSTER
// SLOTS, against CLUSTER NODES, then moves slots and checks that exactly
// those moved.
func TestFetch(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, 3, 1)
	for _, node := range c.Nodes {
		shards := mustFetch(t, node.Addr, Options{})
		checkAgainstNodes(t, c, node, shards)
		slots := mustFetch(t, node.Addr, Options{slotsOnly: true})
		checkAgainstNodes(t, c, node, slots)
		if !shards.Equal(slots) || !slices.Equal(shards.Masters(), slots.Masters()) {
			t.Errorf("%s: CLUSTER SHARDS and CLUSTER SLOTS give different maps", node.Addr)
		}
	}
	before := mustFetch(t, c.Nodes[0].Addr, Options{})
	want := []string{c.Masters[0].Addr, c.Masters[1].Addr, c.Masters[2].Addr}
	slices.Sort(want)
	if got := before.Masters(); !slices.Equal(got, want) {
		t.Errorf("Masters() = %v, want %v", got, want)
	}
	for i, s := range before.Shards {
		for _, r := range s.Slots {
			for slot := r[0]; slot <= r[1]; slot++ {
				if before.Owner[slot] != int16(i) {
					t.Fatalf("shard %s lists slot %d, Owner says shard %d", s.Master, slot, before.Owner[slot])
				}
			}
		}
	}

	from, to := c.Masters[0], c.Masters[1]
	c.Reshard(t, from, to, 100)
	for _, opts := range []Options{{}, {slotsOnly: true}} {
		after := mustFetch(t, c.Nodes[len(c.Nodes)-1].Addr, opts)
		checkAgainstNodes(t, c, c.Nodes[len(c.Nodes)-1], after)
		moved := 0
		for slot := range Slots {
			was, is := before.Master(slot), after.Master(slot)
			if was == is {
				continue
			}
			if was != from.Addr || is != to.Addr {
				t.Errorf("slot %d moved from %s to %s, want from %s to %s", slot, was, is, from.Addr, to.Addr)
			}
			moved++
		}
		if moved != 100 {
			t.Errorf("slotsOnly %v: %d slots moved, want 100", opts.slotsOnly, moved)
		}
		if after.Equal(before) {
			t.Error("Equal says the maps before and after the reshard are the same")
		}
	}
}

// TestFetchFailover kills a master and waits for a live node to name its
// replica as the master of its slots; Discover passes over the dead one.
func TestFetchFailover(t *testing.T) {
	t.Parallel()
	c := testutil.StartCluster(t, 3, 1)
	dead := c.MasterOf(0)
	before := mustFetch(t, dead.Addr, Options{})
	replicas := before.Shards[before.Owner[0]].Replicas
	if len(replicas) != 1 {
		t.Fatalf("master of slot 0 has replicas %v, want one", replicas)
	}
	dead.Kill()
	live := c.Live()[0]
	testutil.Eventually(t, 10*testutil.ClusterNodeTimeout, func() bool {
		m, err := fetch(t, live.Addr, Options{})
		return err == nil && m.Master(0) == replicas[0]
	}, "no live node names %s master of slot 0 after %s died", replicas[0], dead.Addr)
	c.Wait(t)
	checkAgainstNodes(t, c, live, mustFetch(t, live.Addr, Options{}))

	m, err := Discover(context.Background(), []string{dead.Addr, live.Addr}, Options{})
	if err != nil {
		t.Fatalf("Discover with a dead seed first: %v", err)
	}
	if m.Master(0) != replicas[0] {
		t.Errorf("Discover: slot 0 on %q, want %s", m.Master(0), replicas[0])
	}
	for _, s := range m.Shards {
		if s.Master == dead.Addr || slices.Contains(s.Replicas, dead.Addr) {
			t.Errorf("Discover: the dead node %s is in shard %+v", dead.Addr, s)
		}
	}
}

// TestDiscoverNamesEveryNode checks that when no node gives a map the error
// names each and why.
func TestDiscoverNamesEveryNode(t *testing.T) {
	plain := testutil.StartRedis(t)
	closed := testutil.FreePort(t)
	deadAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(closed))
	_, err := Discover(context.Background(), []string{deadAddr, plain.Addr}, Options{Timeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("Discover gave a map from no cluster")
	}
	msg := err.Error()
	for _, want := range []string{deadAddr, "connection refused", plain.Addr, "cluster support disabled"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Discover error %q does not say %q", msg, want)
		}
	}
	if !errors.Is(err, ErrClusterDisabled) {
		t.Errorf("Discover error %q does not wrap ErrClusterDisabled", msg)
	}
	if _, err := Discover(context.Background(), nil, Options{}); err == nil {
		t.Error("Discover of no address gave no error")
	}
}

// TestFetchNotCluster: a node not in cluster mode, and one of a cluster
// not yet joined.
func TestFetchNotCluster(t *testing.T) {
	plain := testutil.StartRedis(t)
	for _, opts := range []Options{{}, {slotsOnly: true}} {
		_, err := fetch(t, plain.Addr, opts)
		if !errors.Is(err, ErrClusterDisabled) || !strings.Contains(err.Error(), "cluster support disabled") || !strings.Contains(err.Error(), plain.Addr) {
			t.Errorf("slotsOnly %v: Fetch from a node not in cluster mode: %v", opts.slotsOnly, err)
		}
	}
	lone := testutil.StartClusterNode(t)
	m := mustFetch(t, lone.Addr, Options{})
	if len(m.Shards) != 0 || m.Master(0) != "" || m.Master(Slots-1) != "" {
		t.Errorf("a node of no slots gives shards %+v", m.Shards)
	}
	if _, err := Discover(context.Background(), []string{lone.Addr}, Options{}); err == nil || !strings.Contains(err.Error(), "no master serves any slot") {
		t.Errorf("Discover from a node of no slots: %v", err)
	}
}

// TestFetchAuth: a cluster node with requirepass, asked with and without
// the password.
func TestFetchAuth(t *testing.T) {
	node := testutil.StartClusterNode(t, "--requirepass", "secret")
	cl := testutil.Dial(t, node.Addr)
	cl.Do("AUTH", "secret")
	if r := cl.Do("CLUSTER", "ADDSLOTSRANGE", "0", "99"); r != "+OK\r\n" {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %q", r)
	}
	m := mustFetch(t, node.Addr, Options{Password: "secret"})
	if m.Master(0) != node.Addr || m.Master(99) != node.Addr || m.Master(100) != "" {
		t.Errorf("one node serving 0-99: shards %+v", m.Shards)
	}
	if _, err := fetch(t, node.Addr, Options{}); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("Fetch without the password: %v", err)
	}
	if _, err := fetch(t, node.Addr, Options{Password: "wrong"}); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("Fetch with a wrong password: %v", err)
	}
}

// fakeNode serves each connection with serve on a loopback port, for
// what no real node does: garbage, silence, endless replies, or the
// error of a node older than CLUSTER SHARDS.
func fakeNode(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go serve(c)
		}
	}()
	return l.Addr().String()
}

// readRequest reads one request's worth of bytes, enough for these fakes.
func readRequest(c net.Conn) bool {
	buf := make([]byte, 512)
	_, err := c.Read(buf)
	return err == nil
}

// TestFetchBadNodes: every broken node gives an error within the timeout.
func TestFetchBadNodes(t *testing.T) {
	const timeout = 300 * time.Millisecond
	endless := func(header, filler string) func(net.Conn) {
		return func(c net.Conn) {
			readRequest(c)
			c.Write([]byte(header))
			chunk := []byte(strings.Repeat(filler, 64<<10/len(filler)))
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}
	}
	tests := []struct {
		name  string
		serve func(net.Conn)
		want  string
	}{
		{"garbage", func(c net.Conn) { readRequest(c); c.Write([]byte("hello world\r\n")) }, "type byte"},
		{"silent", func(c net.Conn) { readRequest(c) }, "no complete reply within"},
		{"half reply", func(c net.Conn) { readRequest(c); c.Write([]byte("*1\r\n*4\r\n$5\r\nslo")) }, "no complete reply within"},
		{"closes", func(c net.Conn) { readRequest(c); c.Close() }, "EOF"},
		{"huge bulk", endless("$400000000\r\n", "x"), "reply longer than"},
		{"endless array", endless("*2000000000\r\n", ":1\r\n"), "reply longer than"},
		{"not an array", func(c net.Conn) { readRequest(c); c.Write([]byte(":1\r\n")) }, "want an array"},
		{"two replies", func(c net.Conn) { readRequest(c); c.Write([]byte("*0\r\n*0\r\n")) }, "bytes after the reply"},
		{"error", func(c net.Conn) { readRequest(c); c.Write([]byte("-LOADING Redis is loading\r\n")) }, "LOADING Redis is loading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeNode(t, tt.serve)
			start := time.Now()
			// A small limit, so that the endless replies reach it well
			// within the timeout even under the race detector.
			_, err := fetch(t, addr, Options{Timeout: timeout, replyLimit: 64 << 10})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), addr) {
				t.Errorf("Fetch: %v, want an error naming %s and saying %q", err, addr, tt.want)
			}
			if took := time.Since(start); took > 3*timeout {
				t.Errorf("Fetch took %v with a timeout of %v", took, timeout)
			}
		})
	}
}

// TestFetchOlderNode: a node that answers CLUSTER SHARDS with Redis 6's
// error is asked CLUSTER SLOTS, whose reply is one a real 7.0 node sent.
func TestFetchOlderNode(t *testing.T) {
	slotsReply := readTestdata(t, "slots-failover.resp")
	addr := fakeNode(t, func(c net.Conn) {
		for _, reply := range []string{
			"-ERR Unknown subcommand or wrong number of arguments for 'SHARDS'. Try CLUSTER HELP.\r\n",
			string(slotsReply),
		} {
			if !readRequest(c) {
				return
			}
			c.Write([]byte(reply))
		}
	})
	m := mustFetch(t, addr, Options{})
	want := map[int]string{0: "127.0.0.1:30001", 5460: "127.0.0.1:30001", 5461: "127.0.0.1:30002", 16383: "127.0.0.1:30006"}
	for slot, master := range want {
		if got := m.Master(slot); got != master {
			t.Errorf("slot %d: %q, want %q", slot, got, master)
		}
	}
	if got := m.Shards[m.Owner[0]].Replicas; !slices.Equal(got, []string{"127.0.0.1:30004"}) {
		t.Errorf("replicas of the master of slot 0: %v", got)
	}
}

// TestFetchCanceled: the end of ctx ends a Fetch waiting on a silent node
// long before its timeout.
func TestFetchCanceled(t *testing.T) {
	addr := fakeNode(t, func(c net.Conn) { readRequest(c) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Fetch(ctx, addr, Options{Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch: %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Fetch took %v after its context ended", took)
	}
}

package proxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nutcracker-go/nutcracker/internal/cluster"
	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// startClusterProxy runs a proxy whose pool fronts cl, with one master as
// its seed.
func startClusterProxy(t *testing.T, cl *testutil.Cluster) (*Proxy, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  redis_cluster: true\n  timeout: 1000\n  servers:\n   - %s:1\n",
		addr, cl.Masters[0].Addr), DefaultMbufSize)
	return p, addr
}

// TestClusterPool: keys written through a cluster pool are on the nodes
// that own their slots, and read back; split commands over many slots,
// commands of every master (DBSIZE, SCAN), transactions on one hash tag,
// RESP3 and go-redis's ClusterClient work; the pool's servers are the
// cluster's masters.
func TestClusterPool(t *testing.T) {
	cl := testutil.StartCluster(t, 3, 1)
	p, addr := startClusterProxy(t, cl)
	if n := len(p.poolList()[0].pool().Servers); n != 3 {
		t.Fatalf("%d servers, want the 3 masters", n)
	}
	c := testutil.Dial(t, addr)
	const keys = 10000
	setKeys(t, c, keys)
	direct := map[string]*testutil.Client{}
	for i := 0; i < keys; i += 7 {
		key := fmt.Sprintf("key:%d", i)
		owner := cl.MasterOf(int(hashkit.ClusterSlot([]byte(key))))
		if direct[owner.Addr] == nil {
			direct[owner.Addr] = testutil.Dial(t, owner.Addr)
		}
		want := fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(i)), i)
		if got := direct[owner.Addr].Do("GET", key); got != want {
			t.Fatalf("%s on its node %s: %q, want %q", key, owner.Addr, got, want)
		}
		if got := c.Do("GET", key); got != want {
			t.Fatalf("%s through the proxy: %q, want %q", key, got, want)
		}
	}
	expect(t, c, "*3\r\n$1\r\n0\r\n$-1\r\n$3\r\n999\r\n", "MGET", "key:0", "nope", "key:999")
	expect(t, c, "+OK\r\n", "MSET", "a", "1", "b", "2", "c", "3", "{a}x", "4")
	expect(t, c, "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n", "MGET", "a", "b", "c", "{a}x")
	expect(t, c, ":4\r\n", "DEL", "a", "b", "c", "{a}x", "nope")
	if got := c.Do("DBSIZE"); got != fmt.Sprintf(":%d\r\n", keys) {
		t.Errorf("DBSIZE: %q, want %d", got, keys)
	}
	seen := map[string]bool{}
	for cursor := "0"; ; {
		reply, err := resp.ArrayElems([]byte(c.Do("SCAN", cursor, "COUNT", "1000")), nil)
		if err != nil || len(reply) != 2 {
			t.Fatalf("SCAN %s: %q %v", cursor, reply, err)
		}
		cursor = bulkText(t, string(reply[0]))
		names, _ := resp.ArrayElems(reply[1], nil)
		for _, k := range names {
			seen[bulkText(t, string(k))] = true
		}
		if cursor == "0" {
			break
		}
	}
	if len(seen) != keys {
		t.Errorf("SCAN saw %d keys, want %d", len(seen), keys)
	}

	// A transaction on one hash tag; RESP3's nulls.
	expect(t, c, "+OK\r\n", "MULTI")
	expect(t, c, "+QUEUED\r\n", "SET", "{t}a", "1")
	expect(t, c, "+QUEUED\r\n", "INCR", "{t}a")
	expect(t, c, "*2\r\n+OK\r\n:2\r\n", "EXEC")
	if got := c.Do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3: %q", got)
	}
	expect(t, c, "*3\r\n$1\r\n0\r\n_\r\n$1\r\n2\r\n", "MGET", "key:0", "nope", "{t}a")

	// go-redis's ClusterClient sees one node, the proxy, and reaches every
	// master through it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	defer cc.Close()
	for i := 0; i < keys; i += 97 {
		if got, err := cc.Get(ctx, fmt.Sprintf("key:%d", i)).Result(); err != nil || got != fmt.Sprint(i) {
			t.Fatalf("ClusterClient GET key:%d: %q, %v", i, got, err)
		}
	}
	expect(t, c, "+OK\r\n", "FLUSHDB")
	expect(t, c, ":0\r\n", "DBSIZE")
}

// TestClusterReshard: slots move between two masters while clients write
// and read their own keys through the proxy: no error, no wrong value
// (MOVED and ASK are followed).
func TestClusterReshard(t *testing.T) {
	if testing.Short() {
		t.Skip("a reshard takes seconds")
	}
	cl := testutil.StartCluster(t, 3, 0)
	p, addr := startClusterProxy(t, cl)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops atomic.Int64
	var failures sync.Map
	for cl := range 8 {
		wg.Go(func() {
			c := testutil.Dial(t, addr)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("c%d:%d", cl, i%500)
				val := fmt.Sprint(i)
				if r := c.Do("SET", key, val); r != "+OK\r\n" {
					failures.Store(key, "SET: "+r)
					return
				}
				if r := c.Do("GET", key); r != fmt.Sprintf("$%d\r\n%s\r\n", len(val), val) {
					failures.Store(key, "GET: "+r)
					return
				}
				ops.Add(2)
			}
		})
	}
	// Two more write and read two keys of one hash tag at once, in a slot
	// that moves: a slot in the middle of its move gives them ASK and
	// TRYAGAIN.
	for cl := range 2 {
		tag := ""
		for i := 0; tag == ""; i++ {
			if t := fmt.Sprintf("{t%d.%d}", cl, i); hashkit.ClusterSlot([]byte(t)) < 2000 {
				tag = t
			}
		}
		wg.Go(func() {
			c := testutil.Dial(t, addr)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a, b := fmt.Sprint(i), fmt.Sprint(-i)
				if r := c.Do("MSET", tag+"a", a, tag+"b", b); r != "+OK\r\n" {
					failures.Store(tag, "MSET: "+r)
					return
				}
				want := fmt.Sprintf("*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(a), a, len(b), b)
				if r := c.Do("MGET", tag+"a", tag+"b"); r != want {
					failures.Store(tag, "MGET: "+r)
					return
				}
				ops.Add(2)
			}
		})
	}
	cl.Reshard(t, cl.Masters[0], cl.Masters[1], 2000) // slots 0-1999 move
	close(stop)
	wg.Wait()
	st := p.poolList()[0].pool().Stats
	moved, ask, retry := st.Redirections[0].Load(), st.Redirections[1].Load(), st.Redirections[2].Load()
	t.Logf("redirections followed: %d MOVED, %d ASK, %d TRYAGAIN; slot map fetched %d times, %d changes applied",
		moved, ask, retry, st.MapFetches.Load(), st.MapEpoch.Load())
	if moved+ask == 0 {
		t.Error("no redirection followed: the test did not see a slot move")
	}
	failures.Range(func(k, v any) bool {
		t.Errorf("%s: %v", k, v)
		return true
	})
	t.Logf("%d requests during the reshard of 2000 slots", ops.Load())
	if ops.Load() == 0 {
		t.Error("nothing ran during the reshard")
	}
}

// TestClusterFailover: a master is killed while clients write to its
// slots and to another master's through the proxy; once the cluster has
// promoted its replica (as CLUSTER SHARDS shows it), writes to its slots
// work again within a second, and the other master's never fail.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	cl := testutil.StartCluster(t, 3, 1)
	p, addr := startClusterProxy(t, cl)
	victim, heir, other := cl.Masters[1], cl.Replicas[1], cl.Masters[2]
	keyOn := func(node *testutil.Process, prefix string) string {
		for i := 0; ; i++ {
			key := fmt.Sprintf("%s%d", prefix, i)
			if cl.MasterOf(int(hashkit.ClusterSlot([]byte(key)))) == node {
				return key
			}
		}
	}
	kv, ko := keyOn(victim, "v"), keyOn(other, "o")
	wv, wo := startWriter(t, addr, kv), startWriter(t, addr, ko)
	testutil.Eventually(t, 5*time.Second, func() bool { return wv.mark() > 0 && wo.mark() > 0 }, "no write went through")
	otherErrs := len(wo.errors())

	since := wv.mark()
	victim.Kill()
	slot := int(hashkit.ClusterSlot([]byte(kv)))
	var promoted time.Time
	testutil.Eventually(t, 30*time.Second, func() bool {
		m, err := cluster.Fetch(context.Background(), heir.Addr, cluster.Options{})
		if err == nil && m.Master(slot) == heir.Addr {
			promoted = time.Now()
			return true
		}
		return false
	}, "the replica %s was never promoted", heir.Addr)
	ok := wv.firstOKAfter(t, since, promoted)
	t.Logf("writes to the failed master's slots work again %v after the promotion showed", ok.Sub(promoted))
	if ok.Sub(promoted) > time.Second {
		t.Errorf("writes work again only %v after the promotion, want at most 1s", ok.Sub(promoted))
	}
	if got := wo.errors(); len(got) != otherErrs {
		t.Errorf("the other master's writes failed: %q", got[otherErrs:])
	}
	if got := p.poolList()[0].pool().ServerAt(heir.Addr); got == nil {
		t.Errorf("the pool has no server for the new master %s", heir.Addr)
	}
}

// TestClusterReload: a reload that changes a cluster pool's seeds keeps
// the masters' connections and counters, and the pool still serves.
func TestClusterReload(t *testing.T) {
	cl := testutil.StartCluster(t, 3, 0)
	p, addr := startClusterProxy(t, cl)
	c := testutil.Dial(t, addr)
	expect(t, c, "+OK\r\n", "SET", "k", "v")
	pl := p.poolList()[0].pool()
	s := pl.ServerAt(cl.MasterOf(int(hashkit.ClusterSlot([]byte("k")))).Addr)
	conns, requests := s.Stats.Connections.Load(), s.Stats.Requests.Load()
	reload(t, p, fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  redis_cluster: true\n  timeout: 1000\n  servers:\n   - %s:1\n   - %s:1\n",
		addr, cl.Masters[2].Addr, cl.Masters[1].Addr))
	next := p.poolList()[0].pool()
	if next == pl || len(next.Servers) != 3 {
		t.Fatalf("after the reload: the same pool %v, %d servers", next == pl, len(next.Servers))
	}
	expect(t, c, "$1\r\nv\r\n", "GET", "k")
	ns := next.ServerAt(s.Config.Addr)
	if ns.Stats != s.Stats || ns.Stats.Connections.Load() != conns || ns.Stats.Requests.Load() <= requests {
		t.Errorf("the master's connections and counters were not kept: %d connections (had %d)", ns.Stats.Connections.Load(), conns)
	}
}

// TestClusterTryAgain: a multi-key request whose keys are split between
// the two ends of a slot's move gets TRYAGAIN from the cluster; the proxy
// tries again, and once the move is done the request succeeds: the
// client never sees TRYAGAIN.
func TestClusterTryAgain(t *testing.T) {
	cl := testutil.StartCluster(t, 3, 0)
	p, addr := startClusterProxy(t, cl)
	c := testutil.Dial(t, addr)
	const tag = "{tt}"
	slot := hashkit.ClusterSlot([]byte(tag))
	expect(t, c, "+OK\r\n", "MSET", tag+"a", "1", tag+"b", "2")
	src := cl.MasterOf(int(slot))
	dst := cl.Masters[0]
	if dst == src {
		dst = cl.Masters[1]
	}
	srcID, dstID := cl.ID(t, src), cl.ID(t, dst)
	s, d := testutil.Dial(t, src.Addr), testutil.Dial(t, dst.Addr)
	slotArg := fmt.Sprint(slot)
	expect(t, d, "+OK\r\n", "CLUSTER", "SETSLOT", slotArg, "IMPORTING", srcID)
	expect(t, s, "+OK\r\n", "CLUSTER", "SETSLOT", slotArg, "MIGRATING", dstID)
	host, port, _ := strings.Cut(dst.Addr, ":")
	expect(t, s, "+OK\r\n", "MIGRATE", host, port, tag+"a", "0", "5000")

	// The keys are now on both ends: MGET gets TRYAGAIN until the move ends.
	got := make(chan string, 1)
	go func() {
		c2 := testutil.Dial(t, addr)
		got <- c2.Do("MGET", tag+"a", tag+"b")
	}()
	retries := &p.poolList()[0].pool().Stats.Redirections[2]
	testutil.Eventually(t, 5*time.Second, func() bool { return retries.Load() > 0 }, "no TRYAGAIN followed")
	expect(t, s, "+OK\r\n", "MIGRATE", host, port, tag+"b", "0", "5000")
	for _, n := range []*testutil.Client{d, s} {
		expect(t, n, "+OK\r\n", "CLUSTER", "SETSLOT", slotArg, "NODE", dstID)
	}
	select {
	case r := <-got:
		if r != "*2\r\n$1\r\n1\r\n$1\r\n2\r\n" {
			t.Fatalf("MGET across the move: %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("MGET never answered")
	}
}

// setKeys sets key:0 .. key:<n-1> to their numbers through c, pipelined.
func setKeys(t *testing.T, c *testutil.Client, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		b.WriteString(testutil.EncodeCmd("SET", fmt.Sprintf("key:%d", i), fmt.Sprint(i)))
	}
	c.Send(b.String())
	for i := range n {
		if r := c.Reply(); r != "+OK\r\n" {
			t.Fatalf("SET key:%d: %q", i, r)
		}
	}
}

package pool

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// sentinelPool builds a sentinel pool of groups (which no sentinel is
// asked about here: Follow is called by the test).
func sentinelPool(t *testing.T, extra string, groups ...string) *Pool {
	t.Helper()
	yaml := "p:\n  listen: 127.0.0.1:1\n" + extra + "  sentinels:\n   - 127.0.0.1:1\n  groups:\n"
	for _, g := range groups {
		yaml += "   - " + g + "\n"
	}
	return poolOf(t, yaml)
}

// TestGroupsRouteAsNamedServers: a sentinel pool places keys as a pool of
// servers named after its groups, whatever their addresses, so a
// failover never moves a key.
func TestGroupsRouteAsNamedServers(t *testing.T) {
	groups := []string{"shard-a", "shard-b", "shard-c", "s-d", "shard-long-e"}
	for _, dist := range []string{"hash: fnv1a_64\n  distribution: ketama\n", "hash: murmur\n  distribution: modula\n"} {
		sp := sentinelPool(t, "  "+dist, groups...)
		var servers strings.Builder
		for i, g := range groups {
			fmt.Fprintf(&servers, "   - 10.0.0.%d:%d:1 %s\n", i+1, 6379+i, g)
		}
		np := poolOf(t, "p:\n  listen: 127.0.0.1:1\n  redis: true\n  "+dist+"  servers:\n"+servers.String())
		for k := range 2000 {
			key := []byte(fmt.Sprintf("key:%d", k))
			if a, b := sp.Route(key).Name(), np.Route(key).Name(); a != b {
				t.Fatalf("%s%q: group %s, named server %s", dist, key, a, b)
			}
		}
	}
}

// done collects completed requests.
type done struct {
	mu sync.Mutex
	n  int
}

func (d *done) Complete(*proto.Request) { d.mu.Lock(); d.n++; d.mu.Unlock() }
func (d *done) count() int              { d.mu.Lock(); defer d.mu.Unlock(); return d.n }

// TestFollow: a group without a known master fails its requests at once,
// naming the group; Follow points it at a master, then at another (a
// failover): what is in flight on the old one fails saying so, what
// follows goes to the new one, and the group's transactions on the old
// one break.
func TestFollow(t *testing.T) {
	a, b := testutil.StartRedis(t), testutil.StartRedis(t)
	p := sentinelPool(t, "", "g1")
	s := p.Servers[0]
	do := func(args ...string) *proto.Request {
		t.Helper()
		d := &done{}
		r := &proto.Request{Wire: []byte(testutil.EncodeCmd(args...)), Owner: d}
		s.Send(r, 0, 0)
		testutil.Eventually(t, 5*time.Second, func() bool { return d.count() == 1 }, "%q never completed", args)
		return r
	}
	if r := do("PING"); r.Err == nil || r.Err.Error() != "no master known for sentinel group g1" {
		t.Fatalf("no master: %q %v", r.Reply, r.Err)
	}
	if s.Follow(a.Addr) || s.Addr() != a.Addr {
		t.Fatalf("the first master is not a failover; Addr %q", s.Addr())
	}
	if r := do("SET", "k", "a"); r.Err != nil {
		t.Fatalf("SET on the first master: %v", r.Err)
	}
	pin := s.Pin(0)
	pinned := &proto.Request{Wire: []byte(testutil.EncodeCmd("MULTI")), Owner: &done{}}
	pin.Send(pinned)
	testutil.Eventually(t, 5*time.Second, func() bool { return pinned.Owner.(*done).count() == 1 }, "MULTI never answered")

	a.Pause()
	defer a.Resume()
	d := &done{}
	stuck := &proto.Request{Wire: []byte(testutil.EncodeCmd("GET", "k")), Owner: d}
	s.Send(stuck, 0, 0)
	testutil.Eventually(t, 5*time.Second, func() bool { return s.Stats.InQueue.Load() == 0 }, "the writer never took the request")
	if !s.Follow(b.Addr) || s.Stats.Failovers.Load() != 1 || s.Stats.Master() != b.Addr {
		t.Fatalf("a move from one master to another is a failover: %d counted, master %q", s.Stats.Failovers.Load(), s.Stats.Master())
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return d.count() == 1 }, "the request in flight never failed")
	var moved *backend.Redirected
	if !errors.As(stuck.Err, &moved) || !strings.Contains(moved.Reason, "moved from "+a.Addr+" to "+b.Addr) {
		t.Fatalf("in flight on the old master: %q %v", stuck.Reply, stuck.Err)
	}
	if r := do("GET", "k"); r.Err != nil || string(r.Reply) != "$-1\r\n" {
		t.Fatalf("GET after the failover: %q %v, want the new master's nil", r.Reply, r.Err)
	}
	after := &proto.Request{Wire: []byte(testutil.EncodeCmd("SET", "k", "x")), Owner: &done{}}
	pin.Send(after)
	testutil.Eventually(t, 5*time.Second, func() bool { return after.Owner.(*done).count() == 1 }, "the transaction's command never failed")
	if after.Err == nil {
		t.Fatalf("a transaction on the old master went on: %q", after.Reply)
	}
	s.Unpin(pin, 0)
	if s.Follow("") || s.Addr() != "" || s.Stats.Failovers.Load() != 1 || s.Stats.Master() != "" {
		t.Fatal("no master known is not a failover")
	}
	if r := do("PING"); r.Err == nil {
		t.Fatalf("no master again: %q", r.Reply)
	}
	// From b through none known to a: a failover all the same.
	a.Resume()
	if !s.Follow(a.Addr) || s.Stats.Failovers.Load() != 2 {
		t.Fatalf("b, none, then a: %d failovers counted, want 2", s.Stats.Failovers.Load())
	}
}

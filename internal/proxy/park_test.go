package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// parkedClients counts the proxy's parked clients and all its clients.
func parkedClients(p *Proxy) (parked, all int) {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	parked = len(p.parker.byFD)
	return parked, len(p.clients) + p.asleep
}

func waitParked(t *testing.T, p *Proxy, want int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool {
		parked, _ := parkedClients(p)
		return parked == want
	}, "want %d parked clients", want)
}

// TestParking: a client is parked as soon as it is accepted and again
// after a sweep finds it idle; a parked client is served again as soon as
// it sends, byte for byte as before, including a request that arrives in
// pieces and a pipeline.
func TestParking(t *testing.T) {
	tp := startProxy(t, 2, "")
	cl := testutil.Dial(t, tp.addr)
	waitParked(t, tp.Proxy, 1) // parked at accept

	expect(t, cl, "+OK\r\n", "SET", "parked", "v1")
	waitParked(t, tp.Proxy, 1) // parked by the sweeper

	cl.Send("*2\r\n$3\r\nGET\r\n$6\r\npar")
	waitParked(t, tp.Proxy, 0) // resumed on the first piece, which it holds
	cl.Send("ked\r\n")
	if got := cl.Reply(); got != "$2\r\nv1\r\n" {
		t.Fatalf("GET in two pieces: %q", got)
	}
	waitParked(t, tp.Proxy, 1)

	var pipe strings.Builder
	for i := range 100 {
		pipe.WriteString(testutil.EncodeCmd("SET", fmt.Sprintf("k%d", i), fmt.Sprint(i)))
		pipe.WriteString(testutil.EncodeCmd("GET", fmt.Sprintf("k%d", i)))
	}
	pipe.WriteString(testutil.EncodeCmd("MGET", "k1", "k2", "k3"))
	cl.Send(pipe.String())
	for i := range 100 {
		if got := cl.Reply(); got != "+OK\r\n" {
			t.Fatalf("SET %d: %q", i, got)
		}
		want := fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(i)), i)
		if got := cl.Reply(); got != want {
			t.Fatalf("GET %d: %q, want %q", i, got, want)
		}
	}
	if got := cl.Reply(); got != "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n" {
		t.Fatalf("MGET: %q", got)
	}
}

// TestParkedClientCloses: a parked client that closes is counted gone,
// and a proxy that closes ends its parked clients.
func TestParkedClientCloses(t *testing.T) {
	tp := startProxy(t, 1, "")
	gone := testutil.Dial(t, tp.addr)
	stays := testutil.Dial(t, tp.addr)
	expect(t, stays, "+PONG\r\n", "PING")
	waitParked(t, tp.Proxy, 2)
	gone.Conn.Close()
	st := tp.Proxy.poolList()[0].pool().Stats
	testutil.Eventually(t, 5*time.Second, func() bool { return st.ClientConnections.Load() == 1 },
		"the closed parked client is still counted")
	testutil.Eventually(t, 5*time.Second, func() bool {
		parked, all := parkedClients(tp.Proxy)
		return parked == 1 && all == 1
	}, "want the one client left, parked")
	done := make(chan struct{})
	go func() { tp.Proxy.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs with a parked client")
	}
	if !stays.Closed(5 * time.Second) {
		t.Fatal("a parked client outlived the proxy")
	}
}

// TestParkedClientOfRemovedPool: a reload that removes a pool lets its
// parked clients go too.
func TestParkedClientOfRemovedPool(t *testing.T) {
	r := testutil.StartRedis(t)
	lp, lq := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, poolYAML(lp, "", r.Addr+":1"), DefaultMbufSize)
	old := testutil.Dial(t, lp)
	expect(t, old, "+PONG\r\n", "PING")
	waitParked(t, p, 1)
	q := strings.Replace(poolYAML(lq, "", r.Addr+":1"), "p:\n", "q:\n", 1)
	reload(t, p, "global:\n  reload_timeout: 100\n"+q)
	if !old.Closed(5 * time.Second) {
		t.Fatal("parked client of the removed pool never let go")
	}
}

// TestParkedClientKeepsItsState: a client parked after serving keeps what
// it set up for itself (AUTH, RESP3, its name and id, CLIENT REPLY OFF),
// and other clients' CLIENT LIST shows it while it is parked.
func TestParkedClientKeepsItsState(t *testing.T) {
	tp := startProxy(t, 1, "redis_auth: secret", "--requirepass", "secret")
	cl := testutil.Dial(t, tp.addr)
	expect(t, cl, "+OK\r\n", "AUTH", "secret")
	cl.Send(testutil.EncodeCmd("HELLO", "3"))
	if got := cl.Reply(); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q, want a RESP3 map", got)
	}
	expect(t, cl, "+OK\r\n", "CLIENT", "SETNAME", "sleeper")
	id := cl.Do("CLIENT", "ID")
	cl.Send(testutil.EncodeCmd("CLIENT", "REPLY", "OFF")) // no reply
	waitParked(t, tp.Proxy, 1)

	other := testutil.Dial(t, tp.addr)
	expect(t, other, "+OK\r\n", "AUTH", "secret")
	list := other.Do("CLIENT", "LIST")
	if !strings.Contains(list, " name=sleeper ") || !strings.Contains(list, " resp=3") {
		t.Fatalf("CLIENT LIST while it is parked: %q", list)
	}

	cl.Send(testutil.EncodeCmd("SET", "k", "v")) // no reply: CLIENT REPLY OFF holds
	expect(t, cl, "+OK\r\n", "CLIENT", "REPLY", "ON")
	expect(t, cl, id, "CLIENT", "ID")
	expect(t, cl, "$7\r\nsleeper\r\n", "CLIENT", "GETNAME")
	expect(t, cl, "_\r\n", "GET", "missing") // RESP3's null: still RESP3, still authenticated
	expect(t, cl, "$1\r\nv\r\n", "GET", "k")
}

// TestDrainServesRequestsSent: a request a client sent before Drain, still
// in its socket when Drain comes (the client parked, or its reader not yet
// reading), is answered before the client is closed, not reset with it.
func TestDrainServesRequestsSent(t *testing.T) {
	r := testutil.StartRedis(t)
	for i := range 20 {
		addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		p := runProxy(t, poolYAML(addr, "", r.Addr+":1"), DefaultMbufSize)
		cl := testutil.Dial(t, addr)
		expect(t, cl, "+OK\r\n", "SET", "k", fmt.Sprint(i))
		waitParked(t, p, 1)
		cl.Send(testutil.EncodeCmd("GET", "k"))
		p.Drain(5 * time.Second)
		if got, want := cl.Reply(), fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(i)), i); got != want {
			t.Fatalf("round %d: GET sent before Drain: %q, want %q", i, got, want)
		}
		if !cl.Closed(5 * time.Second) {
			t.Fatalf("round %d: the client outlived Drain", i)
		}
	}
}

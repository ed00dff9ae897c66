package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// handOverPair is an old proxy (a) handing its clients over to a new one
// (b): the same pool "p" over the same servers, on two ports.
type handOverPair struct {
	a, b         *Proxy
	addrA, addrB string

	mu   sync.Mutex
	offs []HandOff // what a gave, File aside
}

func newHandOverPair(t *testing.T, yaml func(listen string) string) *handOverPair {
	t.Helper()
	hp := &handOverPair{
		addrA: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		addrB: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
	}
	hp.a = runProxy(t, yaml(hp.addrA), DefaultMbufSize)
	hp.b = runProxy(t, yaml(hp.addrB), DefaultMbufSize)
	return hp
}

// give is a's HandOver callback: b adopts the client.
func (hp *handOverPair) give(h HandOff) error {
	hp.mu.Lock()
	hp.offs = append(hp.offs, HandOff{Pool: h.Pool, Unparsed: h.Unparsed, Session: h.Session})
	hp.mu.Unlock()
	return hp.b.Adopt(h)
}

// handOver stops a accepting and hands its clients over on a goroutine;
// the channel is closed when HandOver returns.
func (hp *handOverPair) handOver(grace time.Duration) chan struct{} {
	hp.a.StopAccepting()
	done := make(chan struct{})
	go func() {
		hp.a.HandOver(hp.give, grace)
		close(done)
	}()
	return done
}

func waitClosed(t *testing.T, done chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never returned", what)
	}
}

func poolStats(p *Proxy) *stats.Pool { return p.poolList()[0].pool().Stats }

// clientsMarked reports whether every client of p has been told to leave.
func clientsMarked(p *Proxy) bool {
	for _, c := range p.clientList(nil) {
		if c.leaving() == nil {
			return false
		}
	}
	return true
}

// owed is the number of requests p's clients are waiting for.
func owed(p *Proxy) int64 {
	var n int64
	for _, c := range p.clientList(nil) {
		n += c.pending.Load()
	}
	return n
}

// forwarded is the number of requests p's clients sent to its servers.
func forwarded(p *Proxy) int64 {
	var n int64
	for _, s := range p.poolList()[0].pool().Servers {
		n += s.Stats.InQueue.Load() + s.Stats.Requests.Load()
	}
	return n
}

// TestHandOverPipelined hands clients over while their pipelined requests
// wait on a paused server, some with half a request sent: every reply
// comes in order, the half request completes on the new proxy, and the
// new proxy serves what follows.
func TestHandOverPipelined(t *testing.T) {
	r := testutil.StartRedis(t)
	hp := newHandOverPair(t, func(listen string) string { return poolYAML(listen, "", r.Addr+":1") })
	const nClients, n = 8, 50
	clients := make([]*testutil.Client, nClients)
	for i := range clients {
		clients[i] = testutil.Dial(t, hp.addrA)
		expect(t, clients[i], "+PONG\r\n", "PING")
	}
	partial := func(i int) string {
		full := testutil.EncodeCmd("SET", fmt.Sprintf("c%d:partial", i), "pv")
		return full[:len(full)/2]
	}
	rest := func(i int) string {
		full := testutil.EncodeCmd("SET", fmt.Sprintf("c%d:partial", i), "pv")
		return full[len(full)/2:]
	}

	r.Pause()
	defer r.Resume()
	before := forwarded(hp.a)
	for i, c := range clients {
		var batch strings.Builder
		for j := 0; j < n; j++ {
			k := fmt.Sprintf("c%d:k%d", i, j)
			batch.WriteString(testutil.EncodeCmd("SET", k, k))
			batch.WriteString(testutil.EncodeCmd("GET", k))
		}
		if i%2 == 1 {
			batch.WriteString(partial(i))
		}
		c.Send(batch.String())
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return forwarded(hp.a)-before == nClients*n*2 },
		"the proxy never forwarded the pipelines")
	done := hp.handOver(30 * time.Second)
	testutil.Eventually(t, 10*time.Second, func() bool { return clientsMarked(hp.a) }, "clients never told to leave")
	if got := owed(hp.a); got != nClients*n*2 {
		t.Fatalf("%d requests owed when the handover started, want %d", got, nClients*n*2)
	}
	if c, err := net.DialTimeout("tcp", hp.addrA, time.Second); err == nil {
		c.Close()
		t.Fatal("the old proxy still accepts after StopAccepting")
	}
	r.Resume()

	for i, c := range clients {
		for j := 0; j < n; j++ {
			k := fmt.Sprintf("c%d:k%d", i, j)
			for _, want := range []string{"+OK\r\n", fmt.Sprintf("$%d\r\n%s\r\n", len(k), k)} {
				if got := c.Reply(); got != want {
					t.Fatalf("client %d request %d: got %q, want %q", i, j, got, want)
				}
			}
		}
	}
	waitClosed(t, done, "HandOver")

	if got := poolStats(hp.b).ClientConnections.Load(); got != nClients {
		t.Fatalf("new proxy has %d client connections, want %d", got, nClients)
	}
	if got := poolStats(hp.a).ClientConnections.Load(); got != 0 {
		t.Fatalf("old proxy still counts %d client connections", got)
	}
	if eof, errs := poolStats(hp.a).ClientEOF.Load(), poolStats(hp.a).ClientErr.Load(); eof != 0 || errs != 0 {
		t.Fatalf("handovers counted as client_eof %d, client_err %d", eof, errs)
	}
	withPartial := 0
	for _, h := range hp.offs {
		if h.Pool != "p" || h.Session != (proto.Session{}) {
			t.Fatalf("handed over %+v", h)
		}
		if len(h.Unparsed) > 0 {
			withPartial++
		}
	}
	if len(hp.offs) != nClients || withPartial != nClients/2 {
		t.Fatalf("%d clients handed over, %d with half a request, want %d and %d",
			len(hp.offs), withPartial, nClients, nClients/2)
	}

	oldForwarded, newForwarded := forwarded(hp.a), forwarded(hp.b)
	for i, c := range clients {
		k := fmt.Sprintf("c%d:partial", i)
		if i%2 == 1 {
			c.Send(rest(i))
			if got := c.Reply(); got != "+OK\r\n" {
				t.Fatalf("client %d: the half sent request: %q", i, got)
			}
			expect(t, c, "$2\r\npv\r\n", "GET", k)
		} else {
			expect(t, c, "$-1\r\n", "GET", k)
		}
		expect(t, c, "$5\r\nc0:k0\r\n", "GET", "c0:k0")
	}
	if got := forwarded(hp.a); got != oldForwarded {
		t.Fatalf("the old proxy forwarded %d requests after the handover", got-oldForwarded)
	}
	if got := forwarded(hp.b) - newForwarded; got != nClients*2+nClients/2 {
		t.Fatalf("the new proxy forwarded %d requests, want %d", got, nClients*2+nClients/2)
	}
}

// TestHandOverStuckClient: a client waiting on a stopped server is closed
// after grace, with the replies it is owed in order (an error for the one
// that never came); an idle client of the same proxy moves.
func TestHandOverStuckClient(t *testing.T) {
	r0, r1 := testutil.StartRedis(t), testutil.StartRedis(t)
	hp := newHandOverPair(t, func(listen string) string { return poolYAML(listen, "", r0.Addr+":1", r1.Addr+":1") })
	stuckServer := r0
	if hp.a.poolList()[0].pool().Servers[0].Config.Addr != r0.Addr {
		stuckServer = r1
	}
	kStuck, kLive := keyOn(t, hp.a, 0, "s"), keyOn(t, hp.a, 1, "l")
	stuck, idle := testutil.Dial(t, hp.addrA), testutil.Dial(t, hp.addrA)
	expect(t, stuck, "+OK\r\n", "SET", kLive, "1")
	expect(t, idle, "+PONG\r\n", "PING")

	stuckServer.Pause()
	defer stuckServer.Resume()
	stuck.Send(testutil.EncodeCmd("GET", kLive) + testutil.EncodeCmd("GET", kStuck) +
		testutil.EncodeCmd("GET", kLive) + testutil.EncodeCmd("PING"))
	if got := stuck.Reply(); got != "$1\r\n1\r\n" {
		t.Fatalf("first reply: %q", got)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return owed(hp.a) == 3 }, "pipeline never read")

	start := time.Now()
	done := hp.handOver(300 * time.Millisecond)
	testutil.Eventually(t, 10*time.Second, func() bool { return poolStats(hp.b).ClientConnections.Load() == 1 },
		"the idle client never moved")
	expect(t, idle, "+PONG\r\n", "PING")
	for _, want := range []string{"-ERR " + errHandOverTimeout + "\r\n", "$1\r\n1\r\n", "+PONG\r\n"} {
		if got := stuck.Reply(); got != want {
			t.Fatalf("stuck client: got %q, want %q", got, want)
		}
	}
	if !stuck.Closed(10 * time.Second) {
		t.Fatal("stuck client never closed")
	}
	waitClosed(t, done, "HandOver")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("stuck client closed after %v, before grace", d)
	}
	if got := poolStats(hp.a).ClientConnections.Load(); got != 0 {
		t.Fatalf("old proxy still counts %d client connections", got)
	}
	if len(hp.offs) != 1 {
		t.Fatalf("%d clients handed over, want the idle one", len(hp.offs))
	}
	stuckServer.Resume()
	expect(t, idle, "$-1\r\n", "GET", kStuck) // the new proxy reaches the server again
}

// TestHandOverAuth: a client that passed redis_auth stays authenticated
// on the new proxy; one that did not still has to.
func TestHandOverAuth(t *testing.T) {
	r := testutil.StartRedis(t, "--requirepass", "s3cret")
	hp := newHandOverPair(t, func(listen string) string { return poolYAML(listen, "redis_auth: s3cret", r.Addr+":1") })
	authed, anon := testutil.Dial(t, hp.addrA), testutil.Dial(t, hp.addrA)
	expect(t, authed, "+OK\r\n", "AUTH", "s3cret")
	expect(t, authed, "+OK\r\n", "SET", "a", "1")
	expect(t, anon, "-NOAUTH Authentication required.\r\n", "PING")
	waitClosed(t, hp.handOver(10*time.Second), "HandOver")
	if got := poolStats(hp.b).ClientConnections.Load(); got != 2 {
		t.Fatalf("new proxy has %d clients, want 2", got)
	}
	expect(t, authed, "$1\r\n1\r\n", "GET", "a")
	expect(t, anon, "-NOAUTH Authentication required.\r\n", "GET", "a")
	expect(t, anon, "+OK\r\n", "AUTH", "s3cret")
	expect(t, anon, "$1\r\n1\r\n", "GET", "a")
}

// TestHandOverSession: a client keeps what it set up for itself on the
// new proxy: RESP3 (HELLO 3) with AUTH, and its name.
func TestHandOverSession(t *testing.T) {
	r := testutil.StartRedis(t, "--requirepass", "s3cret")
	hp := newHandOverPair(t, func(listen string) string { return poolYAML(listen, "redis_auth: s3cret", r.Addr+":1") })
	c3, c2 := testutil.Dial(t, hp.addrA), testutil.Dial(t, hp.addrA)
	if got := c3.Do("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "three"); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3: %q", got)
	}
	expect(t, c3, "_\r\n", "GET", "a")
	expect(t, c2, "+OK\r\n", "AUTH", "s3cret")
	waitClosed(t, hp.handOver(10*time.Second), "HandOver")
	if got := poolStats(hp.b).ClientConnections.Load(); got != 2 {
		t.Fatalf("new proxy has %d clients, want 2", got)
	}
	expect(t, c3, "_\r\n", "GET", "a")
	expect(t, c3, "$5\r\nthree\r\n", "CLIENT", "GETNAME")
	expect(t, c2, "$-1\r\n", "GET", "a")
	expect(t, c2, "$-1\r\n", "CLIENT", "GETNAME")
}

// TestHandOverMemcache moves a memcached client in the middle of a data
// block.
func TestHandOverMemcache(t *testing.T) {
	m := testutil.StartMemcached(t)
	hp := newHandOverPair(t, func(listen string) string {
		return strings.Replace(poolYAML(listen, "", m.Addr+":1"), "redis: true", "redis: false", 1)
	})
	c := testutil.Dial(t, hp.addrA)
	// Sent in one write: the reply to the get shows the proxy read the
	// start of the set.
	exchange(t, c, "get x\r\nset k 0 0 5\r\nab", "END")
	waitClosed(t, hp.handOver(10*time.Second), "HandOver")
	if len(hp.offs) != 1 || string(hp.offs[0].Unparsed) != "set k 0 0 5\r\nab" {
		t.Fatalf("handed over %+v", hp.offs)
	}
	exchange(t, c, "cde\r\n", "STORED")
	exchange(t, c, "get k\r\n", "VALUE k 0 5", "abcde", "END")
	if got := poolStats(hp.b).ClientConnections.Load(); got != 1 {
		t.Fatalf("new proxy has %d clients, want 1", got)
	}
}

// TestHandOverGiveFails closes the client, without counting it as ended
// by the client.
func TestHandOverGiveFails(t *testing.T) {
	r := testutil.StartRedis(t)
	tp := runProxy(t, poolYAML(fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), "", r.Addr+":1"), DefaultMbufSize)
	c := testutil.Dial(t, tp.poolList()[0].ln.Addr().String())
	expect(t, c, "+PONG\r\n", "PING")
	var files []*os.File
	tp.StopAccepting()
	tp.HandOver(func(h HandOff) error { files = append(files, h.File); return errors.New("no") }, 10*time.Second)
	if !c.Closed(5 * time.Second) {
		t.Fatal("client not closed")
	}
	if len(files) != 1 || files[0].Close() == nil {
		t.Fatal("the file of a failed handover was not closed")
	}
	if got := poolStats(tp).ClientEOF.Load() + poolStats(tp).ClientConnections.Load(); got != 0 {
		t.Fatalf("client_eof + client_connections = %d", got)
	}
}

func TestAdoptUnknownPool(t *testing.T) {
	r := testutil.StartRedis(t)
	p := runProxy(t, poolYAML(fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), "", r.Addr+":1"), DefaultMbufSize)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	pf := os.NewFile(uintptr(fds[1]), "peer")
	peer, err := net.FileConn(pf)
	pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	err = p.Adopt(HandOff{Pool: "nope", File: os.NewFile(uintptr(fds[0]), "client")})
	if err == nil || !strings.Contains(err.Error(), `no pool "nope"`) {
		t.Fatalf("Adopt to an unknown pool: %v", err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the adopted socket was not closed: %v", err)
	}
}

// TestStopAccepting: idempotent, and a later reload opens no listener.
func TestStopAccepting(t *testing.T) {
	r := testutil.StartRedis(t)
	lp, lq := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, poolYAML(lp, "", r.Addr+":1"), DefaultMbufSize)
	c := testutil.Dial(t, lp)
	expect(t, c, "+PONG\r\n", "PING") // accepted and counted
	conns := p.stats.CurrConnections.Load()
	p.StopAccepting()
	p.StopAccepting()
	if got := p.stats.CurrConnections.Load(); got != conns-1 {
		t.Fatalf("curr_connections %d after closing the listener, want %d", got, conns-1)
	}
	expect(t, c, "+OK\r\n", "SET", "k", "1") // still served
	q := strings.Replace(poolYAML(lq, "", r.Addr+":1"), "p:\n", "q:\n", 1)
	reload(t, p, poolYAML(lp, "timeout: 1000", r.Addr+":1")+q)
	for _, addr := range []string{lp, lq} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s accepts after StopAccepting and a reload", addr)
		}
	}
	expect(t, c, "$1\r\n1\r\n", "GET", "k")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.Closed(5 * time.Second) {
		t.Fatal("client open after Close")
	}
}

// TestHandOverInTransaction: a client inside MULTI or holding a WATCH is
// closed, not handed over (the new process could not go on with its
// transaction), and nothing of its transaction runs; a client outside
// one moves as usual.
func TestHandOverInTransaction(t *testing.T) {
	r := testutil.StartRedis(t)
	hp := newHandOverPair(t, func(listen string) string { return poolYAML(listen, "", r.Addr+":1") })
	inMulti, watching, plain := testutil.Dial(t, hp.addrA), testutil.Dial(t, hp.addrA), testutil.Dial(t, hp.addrA)
	expect(t, inMulti, "+OK\r\n", "MULTI")
	expect(t, inMulti, "+QUEUED\r\n", "SET", "t", "1")
	expect(t, watching, "+OK\r\n", "WATCH", "w")
	expect(t, plain, "+OK\r\n", "SET", "p", "1")
	waitClosed(t, hp.handOver(10*time.Second), "HandOver")
	for name, c := range map[string]*testutil.Client{"in MULTI": inMulti, "watching": watching} {
		if !c.Closed(5 * time.Second) {
			t.Errorf("client %s not closed", name)
		}
	}
	expect(t, plain, "$-1\r\n", "GET", "t")
	if got := poolStats(hp.b).ClientConnections.Load(); got != 1 {
		t.Fatalf("new proxy has %d clients, want 1", got)
	}
}

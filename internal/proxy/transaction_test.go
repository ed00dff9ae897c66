package proxy

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// txPool is two redis backends behind a pool with the {} hash tag.
func txPool(t *testing.T) *testProxy {
	t.Helper()
	return startProxy(t, 2, `hash_tag: "{}"`)
}

// keysOnTwoServers returns two keys the pool puts on different servers,
// each set to "v".
func keysOnTwoServers(t *testing.T, tp *testProxy) (string, string) {
	t.Helper()
	k1, k2 := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	c := testutil.Dial(t, tp.addr)
	expect(t, c, "+OK\r\n", "MSET", k1, "v", k2, "v")
	return k1, k2
}

// TestTransactionsAsRedis runs transactions on one hash tag through the
// proxy and on a redis-server alone, and compares every reply: queued
// commands, EXEC's array, nesting and misuse errors, an aborted
// transaction, WATCH, DISCARD, UNWATCH, RESET.
func TestTransactionsAsRedis(t *testing.T) {
	tp := txPool(t)
	ref := testutil.StartRedis(t)
	steps := [][]string{
		{"MULTI"}, {"SET", "{t}a", "1"}, {"INCR", "{t}a"}, {"GET", "{t}a"}, {"MGET", "{t}a", "{t}b"},
		{"MSET", "{t}b", "2", "{t}c", "3"}, {"DEL", "{t}c"},
		{"EVAL", "return redis.call('incr', KEYS[1])", "1", "{t}a"}, {"EXEC"},
		{"GET", "{t}a"}, {"MULTI"}, {"EXEC"}, {"EXEC"}, {"DISCARD"},
		{"MULTI"}, {"MULTI"}, {"SET", "{t}b", "x"}, {"DISCARD"}, {"GET", "{t}b"},
		{"WATCH", "{t}a"}, {"MULTI"}, {"WATCH", "{t}a"}, {"SET", "{t}a", "7"}, {"EXEC"}, {"GET", "{t}a"},
		{"MULTI"}, {"NOSUCH", "x"}, {"SET", "{t}a", "9"}, {"EXEC"}, {"GET", "{t}a"},
		{"MULTI"}, {"SET", "{t}a"}, {"EXEC"},
		{"WATCH", "{t}a", "{t}b"}, {"UNWATCH"}, {"UNWATCH"},
		{"WATCH", "{t}a"}, {"MULTI"}, {"EXEC"},
		{"WATCH", "{t}a"}, {"MULTI"}, {"DISCARD"},
		{"MULTI"}, {"SET", "{t}d", "1"}, {"RESET"}, {"GET", "{t}d"}, {"EXEC"},
		{"WATCH", "{t}a"}, {"RESET"}, {"MULTI"}, {"INCR", "{t}a"}, {"EXEC"},
		{"QUIT"},
	}
	compareWithRedis(t, ref.Addr, tp.addr, steps, func(s []string) ([]string, string) { return s, "" })
}

// TestTransactionRefusedCommands: a queued command the transaction's
// server cannot run (a key of another server, no key) is refused at once
// and EXEC aborts; nothing of the transaction reaches a server.
func TestTransactionRefusedCommands(t *testing.T) {
	tp := txPool(t)
	k1, k2 := keysOnTwoServers(t, tp)
	c := testutil.Dial(t, tp.addr)
	for _, refused := range [][]string{{"SET", k2, "2"}, {"PING"}, {"MGET", k1, k2}} {
		expect(t, c, "+OK\r\n", "MULTI")
		expect(t, c, "+QUEUED\r\n", "SET", k1, "1")
		if got := c.Do(refused...); !strings.HasPrefix(got, "-ERR ") {
			t.Fatalf("%q queued after %s: %q", refused, k1, got)
		}
		expect(t, c, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC")
	}
	for _, k := range []string{k1, k2} {
		b := tp.backends[tp.backendFor(t, k)]
		if got := testutil.Dial(t, b.Addr).Do("GET", k); got != "$1\r\nv\r\n" {
			t.Errorf("%s on its server: %q, want the value before the transactions", k, got)
		}
	}
	// WATCH of keys on two servers is refused; the connection goes on.
	if got := c.Do("WATCH", k1, k2); !strings.Contains(got, "different servers") {
		t.Errorf("WATCH across servers: %q", got)
	}
	expect(t, c, "+PONG\r\n", "PING")
}

// TestWatchSeesOtherClients: a write by another client between WATCH and
// EXEC makes EXEC fail, as on a redis-server.
func TestWatchSeesOtherClients(t *testing.T) {
	tp := txPool(t)
	a, b := testutil.Dial(t, tp.addr), testutil.Dial(t, tp.addr)
	expect(t, a, "+OK\r\n", "WATCH", "{w}x")
	expect(t, a, "$-1\r\n", "GET", "{w}x")
	expect(t, b, "+OK\r\n", "SET", "{w}x", "theirs")
	expect(t, a, "+OK\r\n", "MULTI")
	expect(t, a, "+QUEUED\r\n", "SET", "{w}x", "mine")
	expect(t, a, "*-1\r\n", "EXEC")
	expect(t, a, "$6\r\ntheirs\r\n", "GET", "{w}x")
	// Without the other write, it goes through.
	expect(t, a, "+OK\r\n", "WATCH", "{w}x")
	expect(t, a, "+OK\r\n", "MULTI")
	expect(t, a, "+QUEUED\r\n", "SET", "{w}x", "mine")
	expect(t, a, "*1\r\n+OK\r\n", "EXEC")
	expect(t, b, "$4\r\nmine\r\n", "GET", "{w}x")
}

// TestTransactionsDoNotInterleave: many clients pipeline transactions of
// INCRs on one key at once; each EXEC's results are consecutive, so no
// other client's command ran inside a transaction.
func TestTransactionsDoNotInterleave(t *testing.T) {
	tp := txPool(t)
	const clients, rounds, incrs = 16, 20, 8
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for range clients {
		c := testutil.Dial(t, tp.addr)
		wg.Go(func() {
			for range rounds {
				var b strings.Builder
				b.WriteString(testutil.EncodeCmd("MULTI"))
				for range incrs {
					b.WriteString(testutil.EncodeCmd("INCR", "{n}count"))
				}
				b.WriteString(testutil.EncodeCmd("EXEC"))
				c.Send(b.String())
				for range incrs + 1 {
					c.Reply() // +OK, +QUEUED...
				}
				reply := c.Reply()
				var first, n int64
				lines := strings.Split(reply, "\r\n")
				if lines[0] != fmt.Sprintf("*%d", incrs) {
					errs <- "EXEC: " + reply
					return
				}
				for i, l := range lines[1 : incrs+1] {
					fmt.Sscanf(l, ":%d", &n)
					if i == 0 {
						first = n
					} else if n != first+int64(i) {
						errs <- "not consecutive: " + reply
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	c := testutil.Dial(t, tp.addr)
	expect(t, c, fmt.Sprintf(":%d\r\n", clients*rounds*incrs+1), "INCR", "{n}count")
}

// TestTransactionServerRestarts: the transaction's server restarts after
// a command was queued. The next commands and EXEC fail; none of them
// runs on the restarted server outside a transaction.
func TestTransactionServerRestarts(t *testing.T) {
	tp := txPool(t)
	c := testutil.Dial(t, tp.addr)
	expect(t, c, "+OK\r\n", "SET", "{r}a", "before")
	srv := tp.backends[tp.backendFor(t, "{r}a")]
	expect(t, c, "+OK\r\n", "MULTI")
	expect(t, c, "+QUEUED\r\n", "SET", "{r}a", "1")
	srv.Restart()
	for _, cmd := range [][]string{{"SET", "{r}a", "2"}, {"EXEC"}} {
		if got := c.Do(cmd...); !strings.HasPrefix(got, "-ERR ") {
			t.Fatalf("%q after the restart: %q, want an error", cmd, got)
		}
	}
	if got := testutil.Dial(t, srv.Addr).Do("GET", "{r}a"); got != "$-1\r\n" {
		t.Errorf("the restarted server has {r}a = %q: a queued command ran outside its transaction", got)
	}
	// The client goes on with a new transaction.
	expect(t, c, "+OK\r\n", "MULTI")
	expect(t, c, "+QUEUED\r\n", "SET", "{r}a", "3")
	expect(t, c, "*1\r\n+OK\r\n", "EXEC")
}

// TestTransactionLeftOpen: a client that closes inside a transaction
// leaves nothing behind: its queued commands never run, and its server
// connection does not go to another client with the transaction open.
func TestTransactionLeftOpen(t *testing.T) {
	tp := txPool(t)
	for range 3 {
		c := testutil.Dial(t, tp.addr)
		expect(t, c, "+OK\r\n", "MULTI")
		expect(t, c, "+QUEUED\r\n", "SET", "{o}a", "1")
		c.Conn.Close()
	}
	c := testutil.Dial(t, tp.addr)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return c.Do("GET", "{o}a") == "$-1\r\n"
	}, "a transaction left open ran")
	expect(t, c, "+OK\r\n", "MULTI")
	expect(t, c, "+QUEUED\r\n", "GET", "{o}a")
	expect(t, c, "*1\r\n$-1\r\n", "EXEC")
}

// TestTransactionOrder: commands pipelined around a transaction run in
// the client's order although the transaction goes on a connection of its
// own: a GET sent after EXEC sees its writes, a queued INCR sees a SET
// sent before MULTI, and a GET after WATCH is read once the key is
// watched.
func TestTransactionOrder(t *testing.T) {
	tp := txPool(t)
	c := testutil.Dial(t, tp.addr)
	for i := range 20 {
		v := fmt.Sprint(i)
		c.Send(testutil.EncodeCmd("SET", "{o}a", v) +
			testutil.EncodeCmd("MULTI") + testutil.EncodeCmd("INCR", "{o}a") + testutil.EncodeCmd("SET", "{o}b", v) +
			testutil.EncodeCmd("EXEC") + testutil.EncodeCmd("MGET", "{o}a", "{o}b"))
		want := []string{"+OK\r\n", "+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
			fmt.Sprintf("*2\r\n:%d\r\n+OK\r\n", i+1), fmt.Sprintf("*2\r\n$%d\r\n%d\r\n$%d\r\n%s\r\n", len(fmt.Sprint(i+1)), i+1, len(v), v)}
		for j, w := range want {
			if got := c.Reply(); got != w {
				t.Fatalf("round %d reply %d: %q, want %q", i, j, got, w)
			}
		}
	}
}

// TestTransactionAcrossReload: a reload that adds a server while a client
// is inside a transaction leaves the transaction on its server (though
// every server index moved); the client follows the new configuration
// after EXEC.
func TestTransactionAcrossReload(t *testing.T) {
	a, b, c := testutil.StartRedis(t), testutil.StartRedis(t), testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, poolYAML(listen, `hash_tag: "{}"`, b.Addr+":1 b", c.Addr+":1 c"), DefaultMbufSize)
	cl := testutil.Dial(t, listen)
	expect(t, cl, "+OK\r\n", "WATCH", "{x}k")
	expect(t, cl, "+OK\r\n", "MULTI")
	expect(t, cl, "+QUEUED\r\n", "SET", "{x}k", "1")
	// Server "a" sorts first: every index moves.
	reload(t, p, poolYAML(listen, `hash_tag: "{}"`, a.Addr+":1 a", b.Addr+":1 b", c.Addr+":1 c"))
	expect(t, cl, "+QUEUED\r\n", "INCR", "{x}k")
	expect(t, cl, "*2\r\n+OK\r\n:2\r\n", "EXEC")
	// It ran on the server it began on, which the new ring may not pick.
	on := 0
	for _, s := range []*testutil.Process{b, c} {
		if testutil.Dial(t, s.Addr).Do("GET", "{x}k") == "$1\r\n2\r\n" {
			on++
		}
	}
	if on != 1 {
		t.Errorf("{x}k = 2 on %d of the servers the transaction began with, want 1", on)
	}
	expect(t, cl, "+OK\r\n", "SET", "{x}k", "after") // on the new ring's server
}

// TestBackToBackTransactions: transactions pipelined one after another
// on one key run in order, though each may get another connection of its
// own (other clients take the one given back).
func TestBackToBackTransactions(t *testing.T) {
	tp := txPool(t)
	var wg sync.WaitGroup
	for range 4 { // others taking and giving back connections
		o := testutil.Dial(t, tp.addr)
		wg.Go(func() {
			for range 200 {
				o.Send(testutil.EncodeCmd("MULTI") + testutil.EncodeCmd("INCR", "{b}other") + testutil.EncodeCmd("EXEC"))
				o.Reply()
				o.Reply()
				o.Reply()
			}
		})
	}
	c := testutil.Dial(t, tp.addr)
	for round := range 50 {
		var b strings.Builder
		for i := range 5 {
			b.WriteString(testutil.EncodeCmd("MULTI") + testutil.EncodeCmd("SET", "{b}k", fmt.Sprint(round*5+i)) + testutil.EncodeCmd("EXEC"))
		}
		b.WriteString(testutil.EncodeCmd("GET", "{b}k"))
		c.Send(b.String())
		for range 15 {
			c.Reply()
		}
		want := fmt.Sprint(round*5 + 4)
		if got := c.Reply(); got != fmt.Sprintf("$%d\r\n%s\r\n", len(want), want) {
			t.Fatalf("round %d: GET after 5 transactions: %q, want %s", round, got, want)
		}
	}
	wg.Wait()
}

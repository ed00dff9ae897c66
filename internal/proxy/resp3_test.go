package proxy

import (
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestRESP3: after HELLO 3 a client gets RESP3 replies, those of servers
// (maps, doubles, sets, nulls) byte for byte as a redis-server sends them
// to a RESP3 client, and merged ones in RESP3, while a RESP2 client of
// the same pool still gets RESP2; HELLO 2 and RESET go back to RESP2.
func TestRESP3(t *testing.T) {
	tp := startProxy(t, 2, "")
	k0, k1 := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	k1z, k1x, k1n := keyOn(t, tp.Proxy, 1, "z"), keyOn(t, tp.Proxy, 1, "x"), keyOn(t, tp.Proxy, 1, "n")
	c3, c2 := testutil.Dial(t, tp.addr), testutil.Dial(t, tp.addr)
	direct := testutil.Dial(t, tp.Proxy.poolList()[0].pool().Servers[1].Config.Addr) // k1's server
	for _, c := range []*testutil.Client{c3, direct} {
		if got := c.Do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") {
			t.Fatalf("HELLO 3: %q", got)
		}
	}
	expect(t, c3, ":2\r\n", "HSET", k1, "f", "v", "g", "w")
	expect(t, c3, ":1\r\n", "ZADD", k1z, "1.5", "m")
	for _, args := range [][]string{
		{"HGETALL", k1}, {"ZSCORE", k1z, "m"}, {"ZRANGE", k1z, "0", "-1", "WITHSCORES"},
		{"GET", k1x}, {"HKEYS", k1}, {"SMEMBERS", k1n}, {"ZSCORE", k1z, "x"},
		{"HRANDFIELD", k1n, "1", "WITHVALUES"}, {"OBJECT", "FREQ", k1},
	} {
		want := direct.Do(args...)
		if got := c3.Do(args...); got != want {
			t.Errorf("%q: proxy %q, redis %q", args, got, want)
		}
	}
	// The RESP2 client sees the same data in RESP2.
	expect(t, c2, "$3\r\n1.5\r\n", "ZSCORE", k1z, "m")
	expect(t, c2, "$-1\r\n", "GET", k1x)
	// Merged replies across the two servers.
	expect(t, c3, "+OK\r\n", "MSET", k0, "x", k1x, "y")
	expect(t, c3, "*3\r\n$1\r\nx\r\n_\r\n$1\r\ny\r\n", "MGET", k0, k0+"none", k1x)
	expect(t, c2, "*3\r\n$1\r\nx\r\n$-1\r\n$1\r\ny\r\n", "MGET", k0, k0+"none", k1x)
	expect(t, c3, ":2\r\n", "EXISTS", k0, k1x)
	info := c3.Do("INFO", "keyspace")
	if !strings.HasPrefix(info, "=") || !strings.Contains(info, "\r\ntxt:# Keyspace\r\ndb0:keys=") {
		t.Errorf("INFO keyspace in RESP3: %q", info)
	}
	if got := c2.Do("INFO", "keyspace"); !strings.HasPrefix(got, "$") {
		t.Errorf("INFO keyspace in RESP2: %q", got)
	}
	if got := c3.Do("CLIENT", "INFO"); !strings.HasPrefix(got, "=") || !strings.Contains(got, " resp=3\n") {
		t.Errorf("CLIENT INFO in RESP3: %q", got)
	}
	if got := bulkText(t, c2.Do("CLIENT", "LIST")); !strings.Contains(got, " resp=3\n") || !strings.Contains(got, " resp=2\n") {
		t.Errorf("CLIENT LIST: %q", got)
	}
	expect(t, c3, ":2\r\n", "DEL", k0, k1x)
	expect(t, c3, "_\r\n", "CLIENT", "GETNAME")

	// A transaction's replies come from its server, in RESP3.
	for _, c := range []*testutil.Client{c3, direct} {
		c.Cmd("MULTI")
		c.Cmd("HGETALL", k1)
		c.Cmd("ZSCORE", k1z, "m")
		c.Cmd("GET", k1n)
	}
	for range 4 {
		if got, want := c3.Reply(), direct.Reply(); got != want {
			t.Errorf("transaction: proxy %q, redis %q", got, want)
		}
	}
	expect(t, c3, "*3\r\n%2\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$1\r\nw\r\n,1.5\r\n_\r\n", "EXEC")

	// WATCH holds a RESP3 connection: the protocol stays until UNWATCH.
	expect(t, c3, "+OK\r\n", "WATCH", k1)
	expect(t, c3, "-"+"ERR HELLO cannot change the protocol while WATCH is active in this proxy: UNWATCH first\r\n", "HELLO", "2")
	expect(t, c3, ",1.5\r\n", "ZSCORE", k1z, "m")
	expect(t, c3, "+OK\r\n", "UNWATCH")
	if got := c3.Do("HELLO", "2"); !strings.HasPrefix(got, "*14\r\n") {
		t.Fatalf("HELLO 2: %q", got)
	}
	expect(t, c3, "$3\r\n1.5\r\n", "ZSCORE", k1z, "m")
	c3.Do("HELLO", "3")
	expect(t, c3, "+RESET\r\n", "RESET")
	expect(t, c3, "$-1\r\n", "GET", k1n)
}

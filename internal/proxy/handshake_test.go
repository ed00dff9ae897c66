package proxy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// handshakeVaries are the parts of a reply that differ between a proxy
// and a redis-server and say nothing of the protocol: the connection id
// and the server version in HELLO's reply, the id of CLIENT ID.
var handshakeVaries = regexp.MustCompile(`(\$2\r\nid\r\n|^):[0-9]+\r\n|\$7\r\nversion\r\n\$[0-9]+\r\n[0-9.]+\r\n`)

// TestHandshakeAsRedis sends the commands clients send when they connect
// (HELLO, AUTH, CLIENT SETNAME, ECHO, ...) to a real redis-server and to
// the proxy, with and without a password, and compares the replies byte
// for byte, in RESP2 and after HELLO 3 in RESP3.
func TestHandshakeAsRedis(t *testing.T) {
	type step struct {
		args   []string
		differ string // the proxy's reply where it may not be Redis's
	}
	common := []step{
		{args: []string{"HELLO"}},
		{args: []string{"HELLO", "2"}},
		{args: []string{"HELLO", "3"}},
		{args: []string{"HELLO"}},
		{args: []string{"HELLO", "4"}},
		{args: []string{"HELLO", "2"}},
		{args: []string{"HELLO", "1"}},
		{args: []string{"HELLO", "x"}},
		{args: []string{"HELLO", "02"}},
		{args: []string{"HELLO", "-2"}},
		{args: []string{"HELLO", "2", "FOO"}},
		{args: []string{"HELLO", "2", "AUTH", "x"}},
		{args: []string{"HELLO", "2", "SETNAME", "a b"}},
		{args: []string{"HELLO", "2", "SETNAME", "n1"}},
		{args: []string{"CLIENT", "GETNAME"}},
		{args: []string{"client", "setname", "n2"}},
		{args: []string{"CLIENT", "GETNAME"}},
		{args: []string{"CLIENT", "SETNAME", ""}},
		{args: []string{"CLIENT", "GETNAME"}},
		{args: []string{"CLIENT", "SETNAME"}},
		{args: []string{"CLIENT", "GETNAME", "x"}},
		{args: []string{"CLIENT", "ID"}},
		{args: []string{"CLIENT", "NO-EVICT", "on"}},
		{args: []string{"CLIENT", "NO-EVICT", "maybe"}},
		{args: []string{"CLIENT", "BOGUS"}},
		{args: []string{"CLIENT"}},
		{args: []string{"ECHO", "hi"}},
		{args: []string{"ECHO"}},
		{args: []string{"FOO", "a", "b"}},
		{args: []string{"foo"}},
		{args: []string{"PING"}},
		{args: []string{"PING", "a", "b"}},
	}
	// The same in RESP3: each HELLO 2 a HELLO 3.
	resp3 := []step{{args: []string{"HELLO", "3"}}}
	for _, s := range common {
		if len(s.args) > 1 && s.args[0] == "HELLO" && s.args[1] == "2" {
			s.args = append([]string{"HELLO", "3"}, s.args[2:]...)
		}
		resp3 = append(resp3, s)
	}
	common = append(common, resp3...)
	common = append(common, step{args: []string{"HELLO", "2"}}, step{args: []string{"CLIENT", "GETNAME"}})
	t.Run("no password", func(t *testing.T) {
		tp := startProxy(t, 1, "")
		steps := append(common,
			step{args: []string{"AUTH", "x"}},
			step{args: []string{"AUTH", "default", "x"}},
			step{args: []string{"HELLO", "2", "AUTH", "default", "x"}},
			step{args: []string{"QUIT"}})
		compareWithRedis(t, tp.backends[0].Addr, tp.addr, steps, func(s step) ([]string, string) { return s.args, s.differ })
	})
	t.Run("password", func(t *testing.T) {
		r := testutil.StartRedis(t, "--requirepass", "s3cret")
		tp := startProxy(t, 1, "redis_auth: s3cret", "--requirepass", "s3cret")
		steps := []step{
			{args: []string{"PING"}},
			{args: []string{"GET", "a"}},
			{args: []string{"ECHO", "x"}},
			{args: []string{"CLIENT", "SETNAME", "a"}},
			{args: []string{"HELLO"}},
			{args: []string{"HELLO", "2", "AUTH", "default", "bad"}},
			{args: []string{"AUTH", "bad"}},
			{args: []string{"AUTH", "default", "bad"}},
			{args: []string{"AUTH", "nobody", "s3cret"}},
			{args: []string{"HELLO", "3", "AUTH", "default", "bad"}},
			{args: []string{"HELLO", "3", "AUTH", "default", "s3cret"}},
			{args: []string{"GET", "a"}},
			{args: []string{"CLIENT", "GETNAME"}},
			{args: []string{"HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "n"}},
			{args: []string{"CLIENT", "GETNAME"}},
			{args: []string{"PING"}},
			{args: []string{"AUTH", "s3cret"}},
			{args: []string{"QUIT"}},
		}
		compareWithRedis(t, r.Addr, tp.addr, steps, func(s step) ([]string, string) { return s.args, s.differ })
	})
}

// compareWithRedis runs steps on a connection to redis and one to the
// proxy, and fails where the replies differ (but for handshakeVaries); a
// step with a reply of its own is compared with that, and not sent to
// redis.
func compareWithRedis[S any](t *testing.T, redisAddr, proxyAddr string, steps []S, of func(S) ([]string, string)) {
	t.Helper()
	r, p := testutil.Dial(t, redisAddr), testutil.Dial(t, proxyAddr)
	for _, s := range steps {
		args, want := of(s)
		if want == "" { // else redis's own reply would differ, or change its protocol
			want = r.Do(args...)
		}
		got := p.Do(args...)
		if handshakeVaries.ReplaceAllString(got, "$1") != handshakeVaries.ReplaceAllString(want, "$1") {
			t.Errorf("%q: proxy %q, redis %q", args, got, want)
		}
	}
	if !p.Closed(5*time.Second) || !r.Closed(5*time.Second) {
		t.Error("QUIT left a connection open")
	}
}

// TestClientList: CLIENT LIST and CLIENT INFO list the pool's clients in
// Redis's format: the same fields in the same order as a redis-server's
// lines, with the proxy's own ids, names, addresses and last commands.
func TestClientList(t *testing.T) {
	tp := startProxy(t, 1, "")
	fields := func(line string) (keys []string, vals map[string]string) {
		vals = map[string]string{}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			keys = append(keys, k)
			vals[k] = v
		}
		return keys, vals
	}
	redisKeys, _ := fields(bulkText(t, testutil.Dial(t, tp.backends[0].Addr).Do("CLIENT", "INFO")))
	a, b := testutil.Dial(t, tp.addr), testutil.Dial(t, tp.addr)
	expect(t, a, "+OK\r\n", "CLIENT", "SETNAME", "alpha")
	expect(t, b, "$-1\r\n", "GET", "x")
	list := strings.Split(strings.TrimSuffix(bulkText(t, a.Do("CLIENT", "LIST")), "\n"), "\n")
	if len(list) != 2 {
		t.Fatalf("CLIENT LIST: %q, want 2 lines", list)
	}
	want := []map[string]string{
		{"name": "alpha", "cmd": "client|list", "laddr": tp.addr, "addr": a.Conn.LocalAddr().String()},
		{"name": "", "cmd": "get", "laddr": tp.addr, "addr": b.Conn.LocalAddr().String()},
	}
	for i, line := range list {
		keys, vals := fields(line)
		if !slices.Equal(keys, redisKeys) {
			t.Errorf("line %d fields %q, redis-server's %q", i, keys, redisKeys)
		}
		for k, v := range want[i] {
			if vals[k] != v {
				t.Errorf("line %d: %s=%q, want %q (%s)", i, k, vals[k], v, line)
			}
		}
	}
	info := bulkText(t, b.Do("CLIENT", "INFO"))
	if _, vals := fields(info); vals["cmd"] != "client|info" || vals["addr"] != b.Conn.LocalAddr().String() {
		t.Errorf("CLIENT INFO: %q", info)
	}
	expect(t, a, "$0\r\n\r\n", "CLIENT", "LIST", "TYPE", "pubsub")
	expect(t, a, "-ERR Invalid client ID\r\n", "CLIENT", "LIST", "ID", "x")
}

// bulkText returns the text of a bulk string reply.
func bulkText(t *testing.T, reply string) string {
	t.Helper()
	head, body, ok := strings.Cut(reply, "\r\n")
	if !ok || !strings.HasPrefix(head, "$") {
		t.Fatalf("not a bulk string: %q", reply)
	}
	return strings.TrimSuffix(body, "\r\n")
}

// TestClientReply: CLIENT REPLY OFF and SKIP silence replies, forwarded
// ones too, and ON brings them back; the requests still run.
func TestClientReply(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	c.Cmd("CLIENT", "REPLY", "OFF")
	c.Cmd("SET", "a", "1")
	c.Cmd("MSET", "b", "2", "c", "3")
	c.Cmd("PING")
	expect(t, c, "+OK\r\n", "CLIENT", "REPLY", "ON")
	c.Cmd("CLIENT", "REPLY", "SKIP")
	c.Cmd("INCR", "a")
	expect(t, c, "*3\r\n$1\r\n2\r\n$1\r\n2\r\n$1\r\n3\r\n", "MGET", "a", "b", "c")
	expect(t, c, "-ERR syntax error\r\n", "CLIENT", "REPLY", "MAYBE")
}

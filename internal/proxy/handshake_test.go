package proxy

import (
	"regexp"
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
// for byte. HELLO 3 is the exception, until the proxy speaks RESP3: it
// gets the reply of a Redis that cannot, which clients take as "RESP2".
func TestHandshakeAsRedis(t *testing.T) {
	type step struct {
		args   []string
		differ string // the proxy's reply where it may not be Redis's
	}
	noProto := "-NOPROTO unsupported protocol version\r\n"
	common := []step{
		{args: []string{"HELLO"}},
		{args: []string{"HELLO", "2"}},
		{args: []string{"HELLO", "3"}, differ: noProto},
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
			{args: []string{"HELLO", "3", "AUTH", "default", "s3cret"}, differ: noProto},
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

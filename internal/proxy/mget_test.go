package proxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// mgetWant is the reply Redis itself gives to MGET keys, from GETs sent
// to the backend that holds each key.
func mgetWant(t *testing.T, tp *testProxy, keys []string) string {
	t.Helper()
	pl := tp.poolList()[0].pool()
	direct := map[int]*testutil.Client{}
	want := resp.AppendArrayHeader(nil, len(keys))
	for _, k := range keys {
		i := pl.Route([]byte(k)).Index()
		if direct[i] == nil {
			direct[i] = testutil.Dial(t, tp.backends[tp.backendIndex(pl.Servers[i].Config.Addr)].Addr)
		}
		want = append(want, direct[i].Do("GET", k)...)
	}
	return string(want)
}

// sloppy encodes args as a multibulk whose header lines and bulks end in
// bytes other than CRLF, which Redis skips unchecked.
func sloppy(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\rX%sYZ", len(a), a)
	}
	return b.String()
}

// TestMGetMerge checks merged MGET replies byte for byte against Redis's
// own, with missing keys, empty, binary and large values (some over 64 KB
// and over the server read buffer), repeated keys, and requests framed
// canonically, sloppily and inline.
func TestMGetMerge(t *testing.T) {
	tp := startProxy(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	values := map[string]string{
		"":       "",
		"bin":    "a\r\nb\x00c$-1\r\n*2\r\n",
		"small":  "v",
		"100k":   strings.Repeat("x", 100<<10),
		"1m":     strings.Repeat("y", 1<<20+3),
		"number": "12345",
	}
	var keys []string
	i := 0
	for name, v := range values {
		for j := 0; j < 5; j++ {
			k := fmt.Sprintf("%d:%s:%d", i, name, j)
			i++
			expect(t, c, "+OK\r\n", "SET", k, v)
			keys = append(keys, k, fmt.Sprintf("missing:%d", i))
		}
	}
	keys = append(keys, keys[0], keys[3], keys[0]) // repeated keys
	want := mgetWant(t, tp, keys)
	if got := c.Do(append([]string{"MGET"}, keys...)...); got != want {
		t.Fatalf("MGET: %d bytes %q..., want %d bytes %q...", len(got), testutil.Trunc([]byte(got)), len(want), testutil.Trunc([]byte(want)))
	}
	c.Send(sloppy(append([]string{"MGET"}, keys...)...))
	if got := c.Reply(); got != want {
		t.Fatalf("sloppy MGET: %d bytes, want %d", len(got), len(want))
	}
	short := []string{keys[0], keys[1], keys[2], keys[5], keys[8]}
	c.Send("MGET " + strings.Join(short, " ") + "\r\n")
	if got, want := c.Reply(), mgetWant(t, tp, short); got != want {
		t.Fatalf("inline MGET: %q, want %q", got, want)
	}

	// MSET and DEL, canonical and sloppy, with the values back.
	var kv []string
	for n := 0; n < 30; n++ {
		kv = append(kv, fmt.Sprintf("ms:%d", n), fmt.Sprintf("value\r\n%d", n))
	}
	expect(t, c, "+OK\r\n", append([]string{"MSET"}, kv...)...)
	for n := 0; n < len(kv); n += 2 {
		expect(t, c, string(resp.AppendBulkString(nil, kv[n+1])), "GET", kv[n])
	}
	for n := 1; n < len(kv); n += 2 {
		kv[n] += "!"
	}
	c.Send(sloppy(append([]string{"MSET"}, kv...)...))
	if got := c.Reply(); got != "+OK\r\n" {
		t.Fatalf("sloppy MSET: %q", got)
	}
	for n := 0; n < len(kv); n += 2 {
		expect(t, c, string(resp.AppendBulkString(nil, kv[n+1])), "GET", kv[n])
	}
	c.Send(sloppy("DEL", kv[0], kv[2], "nope", kv[4]))
	if got := c.Reply(); got != ":3\r\n" {
		t.Fatalf("sloppy DEL: %q", got)
	}
}

// TestMGetFragmentError: a fragment answered with an error makes the whole
// reply that error, named after its server, as before.
func TestMGetFragmentError(t *testing.T) {
	tp := startProxy(t, 2, "", "--rename-command", "MGET", "")
	c := testutil.Dial(t, tp.addr)
	k0, k1 := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	pl := tp.poolList()[0].pool()
	for _, keys := range [][]string{{k0, k1}, {k1, k0, k1}} {
		first := pl.Route([]byte(keys[0]))
		d := testutil.Dial(t, tp.backends[tp.backendIndex(first.Config.Addr)].Addr)
		var frag []string
		for _, k := range keys {
			if pl.Route([]byte(k)) == first {
				frag = append(frag, k)
			}
		}
		e := d.Do(append([]string{"mget"}, frag...)...)
		want := "-ERR Invalid argument: " + first.Name() + ": " + strings.TrimRight(e[1:], "\r\n") + "\r\n"
		if got := c.Do(append([]string{"MGET"}, keys...)...); got != want {
			t.Fatalf("MGET %q: %q, want %q", keys, got, want)
		}
	}
}

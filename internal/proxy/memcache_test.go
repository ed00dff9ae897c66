package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// startMC starts n memcached backends and a memcache pool over them.
func startMC(t testing.TB, n int, extra string) *testProxy {
	t.Helper()
	tp := &testProxy{}
	var servers []string
	for i := 0; i < n; i++ {
		m := testutil.StartMemcached(t)
		tp.backends = append(tp.backends, m)
		servers = append(servers, m.Addr+":1")
	}
	tp.addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml := strings.Replace(poolYAML(tp.addr, extra, servers...), "redis: true", "redis: false", 1)
	tp.Proxy = runProxy(t, yaml, DefaultMbufSize)
	return tp
}

// exchange sends raw and reads as many lines as want has, comparing them.
func exchange(t *testing.T, c *testutil.Client, raw string, want ...string) {
	t.Helper()
	c.Send(raw)
	for _, w := range want {
		if got := c.Line(); got != w+"\r\n" {
			t.Fatalf("after %q: got %q, want %q", raw, got, w)
		}
	}
}

func TestMemcacheCommands(t *testing.T) {
	tp := startMC(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	exchange(t, c, "set a 5 0 1\r\n1\r\n", "STORED")
	exchange(t, c, "add a 0 0 1\r\n2\r\n", "NOT_STORED")
	exchange(t, c, "append a 0 0 1\r\nx\r\n", "STORED")
	exchange(t, c, "prepend a 0 0 1\r\ny\r\n", "STORED")
	exchange(t, c, "get a\r\n", "VALUE a 5 3", "y1x", "END")
	exchange(t, c, "replace b 0 0 1\r\n1\r\n", "NOT_STORED")
	exchange(t, c, "set n 0 0 2\r\n10\r\n", "STORED")
	exchange(t, c, "incr n 5\r\n", "15")
	exchange(t, c, "decr n 20\r\n", "0")
	exchange(t, c, "touch n 100\r\n", "TOUCHED")
	exchange(t, c, "set n 0 0 1\r\n0\r\n", "STORED")
	c.Send("gets n\r\n")
	line := c.Line()
	var cas uint64
	if _, err := fmt.Sscanf(line, "VALUE n 0 1 %d\r\n", &cas); err != nil {
		t.Fatalf("gets: %q", line)
	}
	exchange(t, c, "", "0", "END")
	exchange(t, c, fmt.Sprintf("cas n 0 0 1 %d\r\n7\r\n", cas), "STORED")
	exchange(t, c, fmt.Sprintf("cas n 0 0 1 %d\r\n8\r\n", cas), "EXISTS")
	exchange(t, c, "delete n\r\n", "DELETED")
	exchange(t, c, "delete n\r\n", "NOT_FOUND")
	exchange(t, c, "version\r\n")
	if v := c.Line(); !strings.HasPrefix(v, "VERSION ") {
		t.Fatalf("version: %q", v)
	}
	// noreply: no reply is owed, and later replies stay in order.
	exchange(t, c, "set q 0 0 1 noreply\r\nq\r\ndelete nothing noreply\r\nget q\r\n", "VALUE q 0 1", "q", "END")
	// Meta commands, quiet ones fenced by the proxy.
	exchange(t, c, "ms m 2\r\nhi\r\n", "HD")
	exchange(t, c, "mg m v\r\n", "VA 2", "hi")
	exchange(t, c, "mg missing v q\r\nmg m v q\r\nmn\r\n", "VA 2", "hi", "MN")
	exchange(t, c, "md m q\r\nmg m v\r\n", "EN")
	exchange(t, c, "ms bQ== 1 b\r\nz\r\nmg bQ== b v\r\n", "HD", "VA 1", "z")
}

func TestMemcacheMultiGet(t *testing.T) {
	tp := startMC(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	var get strings.Builder
	get.WriteString("get")
	var want []string
	for i := 0; i < 30; i++ {
		k := fmt.Sprintf("%d:mk", i)
		exchange(t, c, fmt.Sprintf("set %s %d 0 %d\r\n%s\r\n", k, i, len(k), k), "STORED")
		fmt.Fprintf(&get, " %s missing%d", k, i)
		want = append(want, fmt.Sprintf("VALUE %s %d %d", k, i, len(k)), k)
	}
	get.WriteString(" 0:mk\r\n")
	want = append(want, "VALUE 0:mk 0 4", "0:mk", "END")
	exchange(t, c, get.String(), want...)
	used := map[int]bool{}
	for i := 0; i < 30; i++ {
		k := fmt.Sprintf("%d:mk", i)
		for j, b := range tp.backends {
			d := testutil.Dial(t, b.Addr)
			d.Send("get " + k + "\r\n")
			if strings.HasPrefix(d.Line(), "VALUE") {
				used[j] = true
			}
		}
	}
	if len(used) != 3 {
		t.Fatalf("multi-get keys only on backends %v", used)
	}
}

func TestMemcacheBadInput(t *testing.T) {
	tp := startMC(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	exchange(t, c, "get "+strings.Repeat("k", 251)+"\r\n", "CLIENT_ERROR bad command line format")
	exchange(t, c, "cache_memlimit 100\r\n", "ERROR")
	// As memcached: the block's length and two bytes are skipped, and the
	// leftover "\r\n" is an empty command.
	exchange(t, c, "set k 0 0 1\r\nxyz\r\n", "CLIENT_ERROR bad data chunk", "ERROR")
	exchange(t, c, "set k 0 0 1\r\nv\r\nget k\r\n", "STORED", "VALUE k 0 1", "v", "END")
	c.Send("quit\r\n")
	if !c.Closed(5 * time.Second) {
		t.Fatal("quit did not close")
	}
}

func TestMemcacheBackendDown(t *testing.T) {
	tp := startMC(t, 2, "timeout: 300")
	c := testutil.Dial(t, tp.addr)
	srv := tp.Proxy.poolList()[0].pool().Servers[0]
	idx := tp.backendIndex(srv.Config.Addr)
	kDown, kUp := keyOn(t, tp.Proxy, 0, "d"), keyOn(t, tp.Proxy, 1, "u")
	exchange(t, c, "set "+kUp+" 0 0 1\r\n1\r\n", "STORED")
	tp.backends[idx].Pause()
	exchange(t, c, "get "+kDown+"\r\n", "SERVER_ERROR Connection timed out")
	exchange(t, c, "get "+kDown+" "+kUp+"\r\n", "SERVER_ERROR Connection timed out")
	tp.backends[idx].Resume()
	tp.backends[idx].Kill()
	exchange(t, c, "get "+kDown+"\r\n", "SERVER_ERROR Connection refused")
	exchange(t, c, "get "+kUp+"\r\n", "VALUE "+kUp+" 0 1", "1", "END")
}

// TestMemcacheEveryServerEjected: with no live server, a memcached client
// gets memcached's SERVER_ERROR (not a Redis error) for a single-key
// request and a multi-get alike, in order, on a connection that goes on
// working.
func TestMemcacheEveryServerEjected(t *testing.T) {
	tp := startMC(t, 2, "auto_eject_hosts: true\nserver_failure_limit: 1\nserver_retry_timeout: 60000\ntimeout: 2000")
	c := testutil.Dial(t, tp.addr)
	k0, k1 := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	ejectAll(t, tp, func() {
		c.Send("get " + k0 + "\r\nget " + k1 + "\r\n")
		c.Line()
		c.Line()
	})
	exchange(t, c, "get "+k0+"\r\nget "+k0+" "+k1+"\r\nset "+k1+" 0 0 1\r\nx\r\nmn\r\n",
		"SERVER_ERROR Connection refused", "SERVER_ERROR Connection refused", "SERVER_ERROR Connection refused", "MN")
}

// TestMemcacheBinaryAndVerbosity: a binary protocol request is closed at
// once (it used to wait for a line end that never came, and the client
// hung until its own timeout); verbosity is answered as memcached does.
func TestMemcacheBinaryAndVerbosity(t *testing.T) {
	tp := startMC(t, 1, "")
	c := testutil.Dial(t, tp.addr)
	exchange(t, c, "verbosity 1\r\nverbosity 1 noreply\r\nverbosity\r\nmn\r\n", "OK", "ERROR", "MN")
	b := testutil.Dial(t, tp.addr)
	b.Send("\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	if !b.Closed(2 * time.Second) {
		t.Fatal("binary protocol request: connection not closed")
	}
	if got := tp.Proxy.poolList()[0].pool().Stats.ClientErr.Load(); got != 1 {
		t.Fatalf("client_err %d, want 1", got)
	}
}

// TestGomemcache uses a real client library through the proxy.
func TestGomemcache(t *testing.T) {
	tp := startMC(t, 3, "")
	mcl := memcache.New(tp.addr)
	mcl.Timeout = 5 * time.Second
	keys := []string{}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("%d:gm", i)
		keys = append(keys, k)
		if err := mcl.Set(&memcache.Item{Key: k, Value: []byte(k), Flags: uint32(i)}); err != nil {
			t.Fatalf("set: %v", err)
		}
	}
	items, err := mcl.GetMulti(append(keys, "absent"))
	if err != nil || len(items) != 20 {
		t.Fatalf("get multi: %d items, %v", len(items), err)
	}
	for i, k := range keys {
		if it := items[k]; string(it.Value) != k || it.Flags != uint32(i) {
			t.Fatalf("item %s: %+v", k, it)
		}
	}
	it, err := mcl.Get("1:gm")
	if err != nil {
		t.Fatal(err)
	}
	it.Value = []byte("changed")
	if err := mcl.CompareAndSwap(it); err != nil {
		t.Fatalf("cas: %v", err)
	}
	if err := mcl.CompareAndSwap(it); err != memcache.ErrCASConflict {
		t.Fatalf("second cas: %v", err)
	}
	if err := mcl.Set(&memcache.Item{Key: "ctr", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if n, err := mcl.Increment("ctr", 41); err != nil || n != 42 {
		t.Fatalf("incr: %d %v", n, err)
	}
	if err := mcl.Touch("ctr", 100); err != nil {
		t.Fatalf("touch: %v", err)
	}
	if err := mcl.Delete("ctr"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := mcl.Get("ctr"); err != memcache.ErrCacheMiss {
		t.Fatalf("get deleted: %v", err)
	}
}

func TestMemcacheGat(t *testing.T) {
	tp := startMC(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	var keys []string
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("%d:gat", i)
		keys = append(keys, k)
		exchange(t, c, fmt.Sprintf("set %s 0 0 1\r\n%d\r\n", k, i), "STORED")
	}
	var want []string
	for i, k := range keys {
		want = append(want, fmt.Sprintf("VALUE %s 0 1", k), fmt.Sprint(i))
	}
	exchange(t, c, "gat 100 "+strings.Join(keys, " ")+" nokey\r\n", append(want, "END")...)
	c.Send("gats 100 " + strings.Join(keys[:3], " ") + "\r\n")
	for i := 0; i < 3; i++ {
		var cas uint64
		if line := c.Line(); !strings.HasPrefix(line, "VALUE "+keys[i]+" 0 1 ") {
			t.Fatalf("gats: %q", line)
		} else if _, err := fmt.Sscanf(strings.Fields(line)[4], "%d", &cas); err != nil {
			t.Fatalf("gats cas: %q", line)
		}
		exchange(t, c, "", fmt.Sprint(i))
	}
	exchange(t, c, "", "END")
	exchange(t, c, "gat 0\r\n", "END")
}

func TestMemcacheLargeValuesAndMultiGet(t *testing.T) {
	tp := startMC(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	big := strings.Repeat("0123456789abcdef", 60000) // 960,000 bytes, under memcached's 1 MB item
	exchange(t, c, fmt.Sprintf("set big 0 0 %d\r\n%s\r\n", len(big), big), "STORED")
	exchange(t, c, "get big\r\n", fmt.Sprintf("VALUE big 0 %d", len(big)), big, "END")
	// A 10,000-key multi-get, every other key missing.
	var get strings.Builder
	get.WriteString("get")
	const n = 10000
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("%d:many", i)
		if i%2 == 0 {
			c.Send(fmt.Sprintf("set %s 0 0 %d noreply\r\n%s\r\n", k, len(k), k))
		}
		get.WriteString(" " + k)
	}
	get.WriteString("\r\n")
	c.Send(get.String())
	for i := 0; i < n; i += 2 {
		k := fmt.Sprintf("%d:many", i)
		exchange(t, c, "", fmt.Sprintf("VALUE %s 0 %d", k, len(k)), k)
	}
	exchange(t, c, "", "END")
}

func TestMemcacheKillUnderLoad(t *testing.T) {
	tp := startMC(t, 2, "timeout: 1000")
	pl := tp.Proxy.poolList()[0].pool()
	victim := pl.Servers[0]
	vi := tp.backendIndex(victim.Config.Addr)
	c := testutil.Dial(t, tp.addr)
	failures, okOther := 0, 0
	for i := 0; i < 2000; i++ {
		if i == 500 {
			tp.backends[vi].Kill()
		}
		k := fmt.Sprintf("%d:kl", i%100)
		c.Send(fmt.Sprintf("set %s 0 0 1\r\nv\r\n", k))
		got := c.Line()
		switch {
		case got == "STORED\r\n":
			if pl.Route([]byte(k)) != victim {
				okOther++
			}
		case pl.Route([]byte(k)) == victim && i >= 500 && strings.HasPrefix(got, "SERVER_ERROR Connection "):
			failures++
		default:
			t.Fatalf("request %d for %s: %q", i, k, got)
		}
	}
	if failures == 0 || okOther == 0 {
		t.Fatalf("failures %d, successes on the live server %d", failures, okOther)
	}
}

func BenchmarkMemcacheGet(b *testing.B) {
	tp := startMC(b, 2, "")
	conn, err := net.Dial("tcp", tp.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	conn.Write([]byte("set bench 0 0 100\r\n" + strings.Repeat("v", 100) + "\r\n"))
	r.ReadString('\n')
	req, end := []byte("get bench\r\n"), []byte("END\r\n")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		conn.Write(req)
		n := 0
		for !bytes.HasSuffix(buf[:n], end) {
			m, err := r.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
	}
}

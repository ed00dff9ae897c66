//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// testOptions are the tool's defaults for conns connections to addr.
func testOptions(t testing.TB, addr string, conns int) options {
	t.Helper()
	o, err := parseArgs([]string{"-addr", addr, "-n", fmt.Sprint(conns), "idle"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Connections come from every source address in turn, each answers its PING,
// and busy connections get their GETs answered and timed.
func TestAgainstRedis(t *testing.T) {
	redis := testutil.StartRedis(t)
	redis.Dial(t).Do("SET", "key:000000000001", "xxx")
	o := testOptions(t, redis.Addr, 40)
	conns, err := dialAll(context.Background(), o)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 40 {
		t.Fatalf("%d connections, want 40", len(conns))
	}
	for i, c := range conns {
		src := c.LocalAddr().String()
		if want := o.sources[i%len(o.sources)].String() + ":"; !strings.HasPrefix(src, want) {
			t.Fatalf("connection %d from %s, want from %s", i, src, want)
		}
	}
	if err := pingAll(conns, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	res := runBusy(context.Background(), conns[:4], 2, 200*time.Millisecond)
	if res.errors != 0 || res.requests == 0 || res.lat.Count() != res.requests {
		t.Fatalf("busy phase: %v", res)
	}
	if p50, p99 := res.lat.Quantile(0.5), res.lat.Quantile(0.99); p50 <= 0 || p99 < p50 || p99 > res.lat.Max() {
		t.Errorf("p50 %v p99 %v max %v: not in order", p50, p99, res.lat.Max())
	}
	if line := res.String(); !strings.HasPrefix(line, "result busy=4 requests=") || !strings.Contains(line, " errors=0") {
		t.Errorf("result line %q", line)
	}
}

// A server that answers PING with an error fails the ping mode with the reply.
func TestPingError(t *testing.T) {
	redis := testutil.StartRedis(t, "--requirepass", "secret")
	conns, err := dialAll(context.Background(), testOptions(t, redis.Addr, 3))
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	err = pingAll(conns, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "-NOAUTH") {
		t.Fatalf("pingAll = %v, want the -NOAUTH reply named", err)
	}
}

// A refused connect names the connection and its source.
func TestDialError(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	_, err := dialAll(context.Background(), testOptions(t, addr, 5))
	if err == nil || !strings.Contains(err.Error(), "of 5, from 127.0.0.") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dialAll = %v, want a refused connect named", err)
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"busy", "0.1", "5"}, ""},
		{[]string{"-n", "0", "idle"}, "need at least one connection"},
		{[]string{}, "no mode given"},
		{[]string{"walk"}, `bad mode "walk"`},
		{[]string{"ping", "3"}, `bad mode "ping 3"`},
		{[]string{"busy", "1.5", "5"}, `busy FRACTION "1.5"`},
		{[]string{"busy", "0.1", "-2"}, `busy SECONDS "-2"`},
		{[]string{"-sources", "127.0.0.2,nope", "idle"}, `"nope" is not an IP address`},
	} {
		o, err := parseArgs(tc.args)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err == "" && (o.fraction != 0.1 || o.duration != 5*time.Second):
			t.Errorf("%q: fraction %v duration %v", tc.args, o.fraction, o.duration)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.err)
		}
	}
}

package pool

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

func newPool(t testing.TB, extra string) *Pool {
	t.Helper()
	return poolOf(t, "p:\n  listen: 127.0.0.1:1\n  redis: true\n"+extra+
		"  servers:\n   - 127.0.0.1:7001:1 a\n   - 127.0.0.1:7002:1 b\n   - 127.0.0.1:7003:1 c\n")
}

// poolOf builds the first pool of a configuration, closed when t ends.
func poolOf(t testing.TB, yaml string) *Pool {
	t.Helper()
	cfg, err := config.Parse("test.yml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg.Pools[0], 1024, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestEjectAndReturn(t *testing.T) {
	p := newPool(t, "  auto_eject_hosts: true\n  server_failure_limit: 2\n  server_retry_timeout: 200\n")
	owners := map[string]*Server{}
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("%d:k", i)
		owners[k] = p.Route([]byte(k))
	}
	a := p.Servers[0]
	a.ServerFailed(errors.New("boom"))
	if a.Ejected() {
		t.Fatal("ejected after 1 failure, limit is 2")
	}
	a.ServerOK() // a good reply resets the count
	a.ServerFailed(errors.New("boom"))
	if a.Ejected() {
		t.Fatal("ejected although a success reset the count")
	}
	a.ServerFailed(errors.New("boom"))
	if !a.Ejected() {
		t.Fatal("not ejected after 2 failures in a row")
	}
	if !a.Stats.Ejected.Load() {
		t.Error("the stats do not show the server ejected")
	}
	for k, owner := range owners {
		got := p.Route([]byte(k))
		if got == a || owner != a && got != owner {
			t.Fatalf("key %s: owner %s, routed to %s with %s ejected", k, owner.Name(), got.Name(), a.Name())
		}
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return !a.Ejected() }, "server not back after the retry timeout")
	if a.Stats.Ejected.Load() {
		t.Error("the stats show the server ejected after its return")
	}
	for k, owner := range owners {
		if got := p.Route([]byte(k)); got != owner {
			t.Fatalf("key %s: routed to %s after the return, owner %s", k, got.Name(), owner.Name())
		}
	}
}

func TestNoEjectWithoutAutoEject(t *testing.T) {
	p := newPool(t, "  server_failure_limit: 1\n")
	p.Servers[1].ServerFailed(errors.New("boom"))
	if p.Servers[1].Ejected() {
		t.Fatal("ejected with auto_eject_hosts false")
	}
}

func TestRouteKeysRoutesAsRoute(t *testing.T) {
	for _, extra := range []string{"", "  hash_tag: \"{}\"\n", "  distribution: modula\n"} {
		p := newPool(t, extra+"  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 60000\n")
		keys := [][]byte{[]byte(""), []byte("{}"), []byte("a{b}c")}
		for i := range 2000 {
			keys = append(keys, fmt.Appendf(nil, "user:{%d}:%d", i%50, i))
		}
		check := func(live int) {
			for _, step := range []int{1, 2} {
				route := make([]uint32, (len(keys)+step-1)/step)
				if !p.RouteKeys(route, keys, step) {
					t.Fatalf("%q, %d live: RouteKeys reports no live server", extra, live)
				}
				for i, si := range route {
					if want := p.Route(keys[i*step]).Index(); int(si) != want {
						t.Fatalf("%q, %d live, step %d: key %q routed to %d, Route says %d", extra, live, step, keys[i*step], si, want)
					}
				}
			}
		}
		check(3)
		p.Servers[1].ServerFailed(errors.New("boom"))
		check(2)
		p.Servers[0].ServerFailed(errors.New("boom"))
		check(1)
		p.Servers[2].ServerFailed(errors.New("boom"))
		if p.RouteKeys(make([]uint32, 1), keys, 1) {
			t.Fatalf("%q: RouteKeys routes with every server ejected", extra)
		}
	}
}

func BenchmarkRoute(b *testing.B) {
	p := newPool(b, "")
	key := []byte("user:1000:profile")
	b.ReportAllocs()
	for b.Loop() {
		p.Route(key)
	}
}

// BenchmarkRouteKeys routes the keys of a 10,000-key MGET in the layout
// of scripts/bench_extra.sh ("key:%012d", fnv1a_64, ketama).
func BenchmarkRouteKeys(b *testing.B) {
	p := newPool(b, "  hash: fnv1a_64\n  distribution: ketama\n")
	keys := make([][]byte, 10000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:%012d", i*7)
	}
	route := make([]uint32, len(keys))
	b.ReportAllocs()
	for b.Loop() {
		p.RouteKeys(route, keys, 1)
	}
}

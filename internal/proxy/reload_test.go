package proxy

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

func reload(t *testing.T, p *Proxy, yaml string) {
	t.Helper()
	cfg, err := config.Parse("reload.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	if err := p.Reload(cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// TestReloadInPlace adds a server to a pool: the client stays connected,
// keys spread to the new server, and the unchanged servers keep their
// connections and counters.
func TestReloadInPlace(t *testing.T) {
	a, b, c := testutil.StartRedis(t), testutil.StartRedis(t), testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, poolYAML(listen, "", a.Addr+":1 a", b.Addr+":1 b"), DefaultMbufSize)
	cl := testutil.Dial(t, listen)
	for i := 0; i < 50; i++ {
		expect(t, cl, "+OK\r\n", "SET", fmt.Sprintf("%d:before", i), "1")
	}
	statsA := p.poolList()[0].pool().Servers[0].Stats
	requestsA := statsA.Requests.Load()

	reload(t, p, poolYAML(listen, "", a.Addr+":1 a", b.Addr+":1 b", c.Addr+":1 c"))
	for i := 0; i < 50; i++ {
		expect(t, cl, "+OK\r\n", "SET", fmt.Sprintf("%d:after", i), "1")
	}
	if n := testutil.Dial(t, c.Addr).Do("DBSIZE"); n == ":0\r\n" {
		t.Fatal("no key reached the added server")
	}
	sa := p.poolList()[0].pool().Servers[0]
	if sa.Stats != statsA || sa.Stats.Requests.Load() <= requestsA || sa.Stats.Connections.Load() != 1 {
		t.Fatalf("server a: stats replaced or connection not kept (requests %d, connections %d)",
			sa.Stats.Requests.Load(), sa.Stats.Connections.Load())
	}
	if got := p.poolList()[0].pool().Stats.ClientConnections.Load(); got != 1 {
		t.Fatalf("%d client connections after the reload, want the same 1", got)
	}
}

// TestReloadPools adds and removes pools: the new one listens, the removed
// one stops accepting and lets its client go after reload_timeout.
func TestReloadPools(t *testing.T) {
	r := testutil.StartRedis(t)
	lp, lq := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, poolYAML(lp, "", r.Addr+":1"), DefaultMbufSize)
	old := testutil.Dial(t, lp)
	expect(t, old, "+OK\r\n", "SET", "k", "1")

	q := strings.Replace(poolYAML(lq, "", r.Addr+":1"), "p:\n", "q:\n", 1)
	reload(t, p, "global:\n  reload_timeout: 300\n"+q)
	expect(t, testutil.Dial(t, lq), "$1\r\n1\r\n", "GET", "k")
	if c, err := net.DialTimeout("tcp", lp, time.Second); err == nil {
		c.Close()
		t.Fatal("the removed pool still accepts")
	}
	expect(t, old, "$1\r\n1\r\n", "GET", "k") // served until reload_timeout
	if !old.Closed(5 * time.Second) {
		t.Fatal("client of the removed pool never let go")
	}
}

// TestReloadUnderLoad reloads ten times while clients run: none sees an
// error or a closed connection.
func TestReloadUnderLoad(t *testing.T) {
	a, b := testutil.StartRedis(t), testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := func(i int) string {
		return poolYAML(listen, fmt.Sprintf("timeout: %d\nserver_connections: %d", 1000+i, 1+i%2), a.Addr+":1", b.Addr+":1")
	}
	p := runProxy(t, conf(0), DefaultMbufSize)
	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for cl := 0; cl < 4; cl++ {
		wg.Add(1)
		go func(cl int) {
			defer wg.Done()
			c := testutil.Dial(t, listen)
			for i := 0; !stop.Load(); i++ {
				k := fmt.Sprintf("%d:r%d", i%100, cl)
				v := fmt.Sprint(i)
				c.Cmd("SET", k, v)
				c.Cmd("GET", k)
				if got := c.Reply(); got != "+OK\r\n" {
					errs <- fmt.Sprintf("SET: %q", got)
					return
				}
				if got := c.Reply(); got != fmt.Sprintf("$%d\r\n%s\r\n", len(v), v) {
					errs <- fmt.Sprintf("GET: %q", got)
					return
				}
				ops.Add(2)
			}
		}(cl)
	}
	wg.Add(1)
	go func() { // stats are read while pools are swapped
		defer wg.Done()
		for !stop.Load() {
			p.Stats().AppendJSON(nil, time.Now())
			p.Health()
		}
	}()
	for i := 1; i <= 10; i++ {
		before := ops.Load()
		testutil.Eventually(t, 5*time.Second, func() bool { return ops.Load() > before+100 }, "load stalled")
		reload(t, p, conf(i))
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	t.Logf("%d requests across 10 reloads", ops.Load())
}

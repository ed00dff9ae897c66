package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestMain keeps the log to warnings: every test connects clients, and
// notices of each accept and close would drown the output.
func TestMain(m *testing.M) {
	if spec := os.Getenv("NUTCRACKER_HOLD"); spec != "" {
		holdConnections(spec) // the child process of TestManyIdleClients
	}
	logging.Init(logging.Warn, "")
	os.Exit(m.Run())
}

// testProxy is a proxy in front of real backends.
type testProxy struct {
	*Proxy
	addr     string
	yaml     string // the configuration it runs
	backends []*testutil.Process
}

// poolYAML renders a one-pool config named "p" listening on listen.
func poolYAML(listen string, extra string, servers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "p:\n  listen: %s\n  redis: true\n", listen)
	for _, line := range strings.Split(strings.TrimSpace(extra), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	b.WriteString("  servers:\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "   - %s\n", s)
	}
	return b.String()
}

// startProxy starts n redis backends and a proxy pool over them.
func startProxy(t testing.TB, n int, extra string, redisArgs ...string) *testProxy {
	t.Helper()
	tp := &testProxy{}
	var servers []string
	for i := 0; i < n; i++ {
		r := testutil.StartRedis(t, redisArgs...)
		tp.backends = append(tp.backends, r)
		servers = append(servers, r.Addr+":1")
	}
	tp.addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	tp.yaml = poolYAML(tp.addr, extra, servers...)
	tp.Proxy = runProxy(t, tp.yaml, DefaultMbufSize)
	return tp
}

func runProxy(t testing.TB, yaml string, mbuf int) *Proxy {
	t.Helper()
	cfg, err := config.Parse("test.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	p, err := New(cfg, Options{MbufSize: mbuf})
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p.Serve()
	t.Cleanup(func() { p.Close() })
	return p
}

// backendIndex returns the index in tp.backends of the backend at addr.
func (tp *testProxy) backendIndex(addr string) int {
	for i, b := range tp.backends {
		if b.Addr == addr {
			return i
		}
	}
	panic("no backend at " + addr)
}

// backendFor returns the backend that holds key, asking each directly.
func (tp *testProxy) backendFor(t *testing.T, key string) int {
	t.Helper()
	found := -1
	for i, b := range tp.backends {
		if testutil.Dial(t, b.Addr).Do("EXISTS", key) == ":1\r\n" {
			if found >= 0 {
				t.Fatalf("key %q on backends %d and %d", key, found, i)
			}
			found = i
		}
	}
	return found
}

func expect(t *testing.T, c *testutil.Client, want string, args ...string) {
	t.Helper()
	if got := c.Do(args...); got != want {
		t.Fatalf("%q: got %q, want %q", args, got, want)
	}
}

func TestGetSetAcrossServers(t *testing.T) {
	tp := startProxy(t, 3, "hash: fnv1a_64\ndistribution: ketama")
	c := testutil.Dial(t, tp.addr)
	used := map[int]bool{}
	for i := 0; i < 50; i++ {
		// fnv1a mixes the last bytes of a key poorly: vary an early one.
		k, v := fmt.Sprintf("%d:key", i), fmt.Sprintf("value-%d", i)
		expect(t, c, "+OK\r\n", "SET", k, v)
		expect(t, c, fmt.Sprintf("$%d\r\n%s\r\n", len(v), v), "GET", k)
		used[tp.backendFor(t, k)] = true
	}
	if len(used) != 3 {
		t.Fatalf("50 keys used backends %v, want all 3", used)
	}
	expect(t, c, "$-1\r\n", "GET", "missing")
	expect(t, c, ":1\r\n", "INCR", "counter")
	expect(t, c, ":3\r\n", "HSET", "h", "a", "1", "b", "2", "c", "3")
	expect(t, c, "*2\r\n$1\r\n1\r\n$1\r\n3\r\n", "HMGET", "h", "a", "c")
}

// TestPlacementThroughProxy writes a recorded vector's keys through the
// proxy and checks on which real backend each one lands.
func TestPlacementThroughProxy(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "dist", "testdata", "placement", "redis_ketama_named_fnv1a_64.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Hash, Distribution string
		Servers            []struct{ Name string }
		Placement          map[string]int
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	tp := &testProxy{}
	var servers []string
	for _, s := range vec.Servers {
		r := testutil.StartRedis(t)
		tp.backends = append(tp.backends, r)
		servers = append(servers, r.Addr+":1 "+s.Name)
	}
	tp.addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	tp.Proxy = runProxy(t, poolYAML(tp.addr, "hash: "+vec.Hash+"\ndistribution: "+vec.Distribution, servers...), DefaultMbufSize)
	c := testutil.Dial(t, tp.addr)
	keys := make([]string, 0, len(vec.Placement))
	for k := range vec.Placement {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.Cmd("SET", k, "1")
	}
	for range keys {
		if r := c.Reply(); r != "+OK\r\n" {
			t.Fatalf("SET reply %q", r)
		}
	}
	for i, b := range tp.backends {
		held := map[string]bool{}
		d := testutil.Dial(t, b.Addr)
		d.Cmd("KEYS", "*")
		for _, k := range parseArray(t, d.Reply()) {
			held[k] = true
		}
		for _, k := range keys {
			if want := vec.Placement[k] == i; held[k] != want {
				t.Fatalf("key %q on backend %d: %v, twemproxy put it on %d", k, i, held[k], vec.Placement[k])
			}
		}
	}
}

// parseArray decodes a flat RESP array of bulk strings.
func parseArray(t *testing.T, reply string) []string {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(reply, "*%d\r\n", &n); err != nil {
		t.Fatalf("not an array: %q", reply)
	}
	rest := reply[strings.Index(reply, "\r\n")+2:]
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		var l int
		fmt.Sscanf(rest, "$%d\r\n", &l)
		rest = rest[strings.Index(rest, "\r\n")+2:]
		out = append(out, rest[:l])
		rest = rest[l+2:]
	}
	return out
}

func TestMultiKeyCommands(t *testing.T) {
	tp := startProxy(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	var args []string
	var want strings.Builder
	fmt.Fprintf(&want, "*%d\r\n", 21)
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("m:%d", i)
		args = append(args, k, fmt.Sprintf("v%d", i))
	}
	expect(t, c, "+OK\r\n", append([]string{"MSET"}, args...)...)
	mget := []string{"MGET"}
	for i := 0; i < 20; i++ {
		mget = append(mget, fmt.Sprintf("m:%d", i))
		v := fmt.Sprintf("v%d", i)
		fmt.Fprintf(&want, "$%d\r\n%s\r\n", len(v), v)
	}
	mget = append(mget, "nope")
	want.WriteString("$-1\r\n")
	expect(t, c, want.String(), mget...)
	expect(t, c, ":20\r\n", append([]string{"EXISTS"}, mget[1:]...)...)
	expect(t, c, ":2\r\n", "EXISTS", "m:1", "m:1")
	expect(t, c, ":3\r\n", "TOUCH", "m:1", "m:2", "m:3")
	expect(t, c, ":2\r\n", "UNLINK", "m:1", "m:2", "nope")
	expect(t, c, ":18\r\n", append([]string{"DEL"}, mget[1:]...)...)
	expect(t, c, "*2\r\n$-1\r\n$-1\r\n", "MGET", "m:0", "m:19")
	expect(t, c, ":0\r\n", "DEL", "m:0")
}

func TestLocalCommands(t *testing.T) {
	tp := startProxy(t, 1, "")
	c := testutil.Dial(t, tp.addr)
	expect(t, c, "+PONG\r\n", "PING")
	expect(t, c, "$5\r\nhello\r\n", "ping", "hello")
	expect(t, c, "+OK\r\n", "SELECT", "0")
	if r := c.Do("SELECT", "1"); !strings.HasPrefix(r, "-ERR SELECT") {
		t.Fatalf("SELECT 1: %q", r)
	}
	if r := c.Do("COMMAND", "COUNT"); !strings.HasPrefix(r, ":") { // forwarded to a server
		t.Fatalf("COMMAND COUNT: %q", r)
	}
	c.Send("PING\r\nset inline \"a b\"\r\nget inline\r\n")
	for _, want := range []string{"+PONG\r\n", "+OK\r\n", "$3\r\na b\r\n"} {
		if got := c.Reply(); got != want {
			t.Fatalf("inline: got %q, want %q", got, want)
		}
	}
	expect(t, c, "+OK\r\n", "QUIT")
	if !c.Closed(5 * time.Second) {
		t.Fatal("QUIT did not close the connection")
	}
}

func TestErrorsKeepConnectionOpen(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	long := strings.Repeat("k", DefaultMbufSize)
	// Pipelined: every reply comes back, in order.
	c.Cmd("SET", "a", "1")
	c.Cmd("CONFIG", "GET", "*")
	c.Cmd("GET")
	c.Cmd("MSET", "a", "1", "b")
	c.Cmd("GET", long)
	c.Cmd("MGET", "a", long)
	c.Cmd("EVAL", "return 1", "0")
	c.Cmd("GET", "a")
	for _, want := range []string{
		"+OK\r\n",
		"-ERR 'config' is a Redis command this proxy does not serve\r\n",
		"-ERR wrong number of arguments for 'get' command\r\n",
		"-ERR wrong number of arguments for 'mset' command\r\n",
		"-ERR key too long for 'get' command: 16384 bytes, the limit is 16383\r\n",
		"-ERR key too long for 'mget' command: 16384 bytes, the limit is 16383\r\n",
		"-ERR eval with no keys cannot be routed by the proxy\r\n",
		"$1\r\n1\r\n",
	} {
		if got := c.Reply(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	// A backend error reply passes through for that command only.
	expect(t, c, "+OK\r\n", "SET", "s", "x")
	if r := c.Do("LPUSH", "s", "y"); !strings.HasPrefix(r, "-WRONGTYPE") {
		t.Fatalf("LPUSH on a string: %q", r)
	}
	expect(t, c, "$1\r\nx\r\n", "GET", "s")
	// Broken framing closes, after an error.
	c.Send("*1\r\n$abc\r\n")
	if r := c.Reply(); r != "-ERR Protocol error: invalid bulk length\r\n" {
		t.Fatalf("bad framing: %q", r)
	}
	if !c.Closed(5 * time.Second) {
		t.Fatal("connection open after broken framing")
	}
}

func TestAuth(t *testing.T) {
	tp := startProxy(t, 2, "redis_auth: s3cret\nredis_db: 3", "--requirepass", "s3cret")
	c := testutil.Dial(t, tp.addr)
	expect(t, c, "-NOAUTH Authentication required.\r\n", "PING")
	expect(t, c, "-NOAUTH Authentication required.\r\n", "GET", "a")
	expect(t, c, "-WRONGPASS invalid username-password pair or user is disabled.\r\n", "AUTH", "wrong")
	expect(t, c, "+OK\r\n", "AUTH", "s3cret")
	expect(t, c, "+OK\r\n", "SET", "a", "1")
	expect(t, c, "$1\r\n1\r\n", "GET", "a")
	// The proxy authenticated to the backend and selected db 3 there.
	i := -1
	for j, b := range tp.backends {
		d := testutil.Dial(t, b.Addr)
		expect(t, d, "+OK\r\n", "AUTH", "s3cret")
		expect(t, d, "+OK\r\n", "SELECT", "3")
		if d.Do("EXISTS", "a") == ":1\r\n" {
			i = j
		}
	}
	if i < 0 {
		t.Fatal("key not found in db 3 of any backend")
	}
}

func TestPipelinedClients(t *testing.T) {
	tp := startProxy(t, 3, "server_connections: 2")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for cl := 0; cl < 16; cl++ {
		wg.Add(1)
		go func(cl int) {
			defer wg.Done()
			c := testutil.Dial(t, tp.addr)
			const n = 300
			var batch strings.Builder
			for i := 0; i < n; i++ {
				k := fmt.Sprintf("c%d:k%d", cl, i)
				batch.WriteString(testutil.EncodeCmd("SET", k, k))
				batch.WriteString(testutil.EncodeCmd("GET", k))
				batch.WriteString(testutil.EncodeCmd("MGET", k, fmt.Sprintf("c%d:k%d", cl, i/2)))
			}
			c.Send(batch.String())
			for i := 0; i < n; i++ {
				k := fmt.Sprintf("c%d:k%d", cl, i)
				k2 := fmt.Sprintf("c%d:k%d", cl, i/2)
				for _, want := range []string{"+OK\r\n", fmt.Sprintf("$%d\r\n%s\r\n", len(k), k),
					fmt.Sprintf("*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(k2), k2)} {
					if got := c.Reply(); got != want {
						errs <- fmt.Errorf("client %d request %d: got %q, want %q", cl, i, got, want)
						return
					}
				}
			}
		}(cl)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestPipelineMixesAnsweredAndForwarded: one write of 2,000 requests
// (past the reader's outbox and the client's pipeline bound) mixes
// requests the proxy answers itself, refuses, forwards whole to either
// server and splits across both; every reply comes back in order, and the
// servers' stats add up once the last reply is in.
func TestPipelineMixesAnsweredAndForwarded(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	k0, k1 := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	const rounds = 400
	var batch strings.Builder
	var want []string
	for i := 0; i < rounds; i++ {
		v := fmt.Sprint(i)
		k := k0
		if i%2 == 1 {
			k = k1
		}
		batch.WriteString(testutil.EncodeCmd("SET", k, v))
		batch.WriteString(testutil.EncodeCmd("PING"))
		batch.WriteString(testutil.EncodeCmd("GET", k))
		batch.WriteString(testutil.EncodeCmd("CONFIG", "GET", "x"))
		batch.WriteString(testutil.EncodeCmd("MGET", k0, k1))
		want = append(want, "+OK\r\n", "+PONG\r\n", fmt.Sprintf("$%d\r\n%s\r\n", len(v), v),
			"-ERR 'config' is a Redis command this proxy does not serve\r\n", "")
	}
	c.Send(batch.String())
	last := map[string]string{}
	for i, w := range want {
		got := c.Reply()
		if w == "" { // the MGET: both keys as the SETs before it left them
			r := i / 5
			if r%2 == 0 {
				last[k0] = fmt.Sprint(r)
			} else {
				last[k1] = fmt.Sprint(r)
			}
			w = "*2\r\n"
			for _, k := range []string{k0, k1} {
				if v, ok := last[k]; ok {
					w += fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
				} else {
					w += "$-1\r\n"
				}
			}
		}
		if got != w {
			t.Fatalf("reply %d: got %q, want %q", i, got, w)
		}
	}
	pool := tp.Proxy.Stats().Pools[0]
	for i, s := range pool.Servers {
		// Per server: a SET and a GET every other round, a fragment of every MGET.
		if n := int64(rounds + rounds); s.Requests.Load() != n || s.Responses.Load() != n {
			t.Errorf("server %d: requests %d, responses %d, want %d each", i, s.Requests.Load(), s.Responses.Load(), n)
		}
		if s.InQueue.Load() != 0 || s.OutQueue.Load() != 0 || s.InQueueBytes.Load() != 0 || s.OutQueueBytes.Load() != 0 {
			t.Errorf("server %d: queues not empty: in %d (%d bytes), out %d (%d bytes)", i,
				s.InQueue.Load(), s.InQueueBytes.Load(), s.OutQueue.Load(), s.OutQueueBytes.Load())
		}
	}
}

func TestUnixSocketAndClientLimit(t *testing.T) {
	r := testutil.StartRedis(t)
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	runProxy(t, poolYAML(sock+" 0600", "client_connections: 1", r.Addr+":1"), DefaultMbufSize)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0600 {
		t.Fatalf("socket %s: %v %v", sock, fi, err)
	}
	c := testutil.Dial(t, sock)
	expect(t, c, "+OK\r\n", "SET", "u", "1")
	second := testutil.Dial(t, sock)
	if !second.Closed(5 * time.Second) {
		t.Fatal("second client accepted past client_connections: 1")
	}
	expect(t, c, "$1\r\n1\r\n", "GET", "u")
}

func TestEvalRoutesByItsKey(t *testing.T) {
	tp := startProxy(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("e%d", i)
		expect(t, c, "+OK\r\n", "EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", k, "v")
		expect(t, c, "$1\r\nv\r\n", "GET", k)
	}
}

// keyOn finds a key that the pool routes to backend i.
func keyOn(t *testing.T, p *Proxy, i int, prefix string) string {
	t.Helper()
	pl := p.poolList()[0].pool()
	for n := 0; n < 10000; n++ {
		k := fmt.Sprintf("%s%d", prefix, n)
		if s := pl.Route([]byte(k)); s != nil && s.Index() == i {
			return k
		}
	}
	t.Fatalf("no key routes to server %d", i)
	return ""
}

func TestBackendKilled(t *testing.T) {
	tp := startProxy(t, 2, "timeout: 2000")
	c := testutil.Dial(t, tp.addr)
	dead := tp.Proxy.poolList()[0].pool().Servers[0].Config.Addr
	deadIdx := tp.backendIndex(dead)
	kDead, kLive := keyOn(t, tp.Proxy, 0, "d"), keyOn(t, tp.Proxy, 1, "l")
	expect(t, c, "+OK\r\n", "SET", kDead, "1")
	expect(t, c, "+OK\r\n", "SET", kLive, "1")
	tp.backends[deadIdx].Kill()
	got := c.Do("GET", kDead)
	if got != "-ERR Connection reset by peer\r\n" && got != "-ERR Connection refused\r\n" {
		t.Fatalf("GET on killed server: %q", got)
	}
	expect(t, c, "-ERR Connection refused\r\n", "GET", kDead)
	expect(t, c, "$1\r\n1\r\n", "GET", kLive)
	expect(t, c, "-ERR Invalid argument: "+dead+": Connection refused\r\n", "MGET", kLive, kDead)
	tp.backends[deadIdx].Restart()
	expect(t, c, "$-1\r\n", "GET", kDead)
}

func TestAutoEject(t *testing.T) {
	tp := startProxy(t, 2, "auto_eject_hosts: true\nserver_failure_limit: 2\nserver_retry_timeout: 500\ntimeout: 2000")
	c := testutil.Dial(t, tp.addr)
	srv := tp.Proxy.poolList()[0].pool().Servers[0]
	deadIdx := tp.backendIndex(srv.Config.Addr)
	k := keyOn(t, tp.Proxy, 0, "ej")
	tp.backends[deadIdx].Kill()
	// Failures until ejection, then the key moves to the live server.
	testutil.Eventually(t, 5*time.Second, func() bool { return c.Do("SET", k, "moved") == "+OK\r\n" },
		"key of a killed server never moved to the live one")
	if !srv.Ejected() {
		t.Fatal("server not ejected")
	}
	tp.backends[deadIdx].Restart()
	testutil.Eventually(t, 5*time.Second, func() bool { return !srv.Ejected() }, "server never back in the ring")
	expect(t, c, "$-1\r\n", "GET", k) // routed to the restarted (empty) server again
}

// TestSplitWithEveryServerEjected: a multi-key command finds no live
// server to route to and gets one error, in order, on a connection that
// goes on working.
func TestSplitWithEveryServerEjected(t *testing.T) {
	tp := startProxy(t, 2, "auto_eject_hosts: true\nserver_failure_limit: 1\nserver_retry_timeout: 60000\ntimeout: 2000")
	c := testutil.Dial(t, tp.addr)
	k0, k1 := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	ejectAll(t, tp, func() {
		c.Do("GET", k0)
		c.Do("GET", k1)
	})
	c.Cmd("MGET", k0, k1)
	c.Cmd("DEL", k0, k1)
	c.Cmd("PING")
	for _, want := range []string{"-ERR Connection refused\r\n", "-ERR Connection refused\r\n", "+PONG\r\n"} {
		if got := c.Reply(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// ejectAll kills every backend of tp, whose pool ejects a server at its
// first failure, and makes requests with poke until every server is out.
func ejectAll(t *testing.T, tp *testProxy, poke func()) {
	t.Helper()
	for _, b := range tp.backends {
		b.Kill()
	}
	servers := tp.Proxy.poolList()[0].pool().Servers
	testutil.Eventually(t, 5*time.Second, func() bool {
		poke()
		return servers[0].Ejected() && servers[1].Ejected()
	}, "servers of killed backends never ejected")
}

func TestTimeout(t *testing.T) {
	tp := startProxy(t, 2, "timeout: 300")
	c := testutil.Dial(t, tp.addr)
	srv := tp.Proxy.poolList()[0].pool().Servers[0]
	idx := tp.backendIndex(srv.Config.Addr)
	kSlow, kFast := keyOn(t, tp.Proxy, 0, "s"), keyOn(t, tp.Proxy, 1, "f")
	expect(t, c, "+OK\r\n", "SET", kFast, "1")
	tp.backends[idx].Pause()
	defer tp.backends[idx].Resume()
	start := time.Now()
	c.Cmd("GET", kSlow)
	c.Cmd("GET", kFast)
	if got := c.Reply(); got != "-ERR Connection timed out\r\n" {
		t.Fatalf("GET on paused server: %q", got)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("timed out after %v, before the 300ms timeout", d)
	}
	if got := c.Reply(); got != "$1\r\n1\r\n" {
		t.Fatalf("GET on live server behind a timed out one: %q", got)
	}
}

// TestTimeoutAfterBusyConnection: the read deadline a server connection
// keeps while replies come was set for an earlier request; a request
// sent later still gets its whole timeout, and no more than about it.
func TestTimeoutAfterBusyConnection(t *testing.T) {
	tp := startProxy(t, 1, "timeout: 400")
	c := testutil.Dial(t, tp.addr)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		expect(t, c, "$-1\r\n", "GET", "busy")
	}
	tp.backends[0].Pause()
	defer tp.backends[0].Resume()
	start := time.Now()
	if got := c.Do("GET", "stuck"); got != "-ERR Connection timed out\r\n" {
		t.Fatalf("GET on paused server: %q", got)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %v, want about the 400ms timeout", d)
	}
}

// benchClient is a minimal RESP client that allocates nothing per request,
// so the benchmark's allocation count is the proxy's.
type benchClient struct {
	conn   net.Conn
	buf    []byte
	parser resp.ReplyParser // resumable: a large reply is scanned once
}

func (bc *benchClient) roundTrip(b *testing.B, req []byte, replies int) {
	if _, err := bc.conn.Write(req); err != nil {
		b.Fatal(err)
	}
	got, start, n := 0, 0, 0
	for got < replies {
		if n == len(bc.buf) { // a reply larger than the buffer so far
			bc.buf = append(bc.buf, make([]byte, len(bc.buf))...)
		}
		m, err := bc.conn.Read(bc.buf[n:])
		if err != nil {
			b.Fatal(err)
		}
		n += m
		for start < n {
			l, err := bc.parser.Parse(bc.buf[start:n])
			if err != nil {
				b.Fatal(err)
			}
			if l == 0 {
				break
			}
			bc.parser.Reset()
			start += l
			got++
		}
		n = copy(bc.buf, bc.buf[start:n])
		start = 0
	}
}

func benchmarkProxy(b *testing.B, pipeline int, args ...string) {
	tp := startProxy(b, 2, "")
	conn, err := net.Dial("tcp", tp.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bc := &benchClient{conn: conn, buf: make([]byte, 1<<20)}
	bc.roundTrip(b, []byte(testutil.EncodeCmd("SET", "bench", strings.Repeat("v", 100))), 1)
	req := []byte(strings.Repeat(testutil.EncodeCmd(args...), pipeline))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bc.roundTrip(b, req, pipeline)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pipeline), "ns/req")
}

func BenchmarkProxyGet(b *testing.B)            { benchmarkProxy(b, 1, "GET", "bench") }
func BenchmarkProxyGetPipelined16(b *testing.B) { benchmarkProxy(b, 16, "GET", "bench") }
func BenchmarkProxyMGet10(b *testing.B) {
	args := []string{"MGET"}
	for i := 0; i < 10; i++ {
		args = append(args, fmt.Sprintf("bench%d", i))
	}
	benchmarkProxy(b, 1, args...)
}

// redisCLI returns a function that runs redis-cli against addr with
// args and returns its output, failing t if it fails.
func redisCLI(t *testing.T, addr string) func(args ...string) string {
	_, port, _ := net.SplitHostPort(addr)
	return func(args ...string) string {
		t.Helper()
		out, err := exec.Command("redis-cli", append([]string{"-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %q: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
}

// TestRedisTools drives the proxy with redis-cli and redis-benchmark, as a
// user trying it would.
func TestRedisTools(t *testing.T) {
	tp := startProxy(t, 2, "")
	cli := redisCLI(t, tp.addr)
	_, port, _ := net.SplitHostPort(tp.addr)
	if got := cli("SET", "tool", "works"); got != "OK" {
		t.Fatalf("redis-cli SET: %q", got)
	}
	if got := cli("GET", "tool"); got != "works" {
		t.Fatalf("redis-cli GET: %q", got)
	}
	if got := cli("MGET", "tool", "missing"); got != "works" {
		t.Fatalf("redis-cli MGET: %q", got)
	}
	out, err := exec.Command("redis-benchmark", "-p", port, "-c", "8", "-n", "2000", "-r", "1000",
		"-t", "set,get,incr,lpush,rpop,sadd,hset,mset", "-P", "4", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	for _, test := range []string{"SET", "GET", "INCR", "LPUSH", "RPOP", "SADD", "HSET", "MSET (10 keys)"} {
		if !strings.Contains(string(out), test+": ") {
			t.Errorf("redis-benchmark has no result for %s:\n%s", test, out)
		}
	}
	if strings.Contains(string(out), "ERR") {
		t.Errorf("redis-benchmark saw errors:\n%s", out)
	}
}

func TestPreconnect(t *testing.T) {
	tp := startProxy(t, 2, "preconnect: true\nserver_connections: 2")
	for _, b := range tp.backends {
		d := testutil.Dial(t, b.Addr)
		// The test's own connection plus the proxy's two.
		testutil.Eventually(t, 5*time.Second, func() bool {
			return strings.Contains(d.Do("INFO", "clients"), "connected_clients:3\r\n")
		}, "backend %s has not the proxy's 2 connections", b.Addr)
	}
}

// TestKillUnderLoad kills one backend while clients hammer the pool: only
// requests for that server's keys fail, with a connection error; with
// auto-eject its keys then move to the other servers, and come back.
func TestKillUnderLoad(t *testing.T) {
	tp := startProxy(t, 3, "auto_eject_hosts: true\nserver_failure_limit: 1\nserver_retry_timeout: 1000\ntimeout: 1000")
	pl := tp.Proxy.poolList()[0].pool()
	victim := pl.Servers[0]
	vi := tp.backendIndex(victim.Config.Addr)
	// Where each key lives while every server is up.
	origVictim := map[string]bool{}
	for cl := 0; cl < 4; cl++ {
		for i := 0; i < 200; i++ {
			k := fmt.Sprintf("%d:load:%d", i, cl)
			origVictim[k] = pl.Route([]byte(k)) == victim
		}
	}
	stop := make(chan struct{})
	type result struct{ okVictim, failVictim, failOther, ok int }
	results := make(chan result, 4)
	for cl := 0; cl < 4; cl++ {
		go func(cl int) {
			var r result
			defer func() { results <- r }()
			c := testutil.Dial(t, tp.addr)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("%d:load:%d", i%200, cl)
				onVictim := origVictim[k]
				got := c.Do("SET", k, "v")
				switch {
				case got == "+OK\r\n":
					r.ok++
					if onVictim {
						r.okVictim++
					}
				case got == "-ERR Connection refused\r\n" || got == "-ERR Connection reset by peer\r\n" ||
					got == "-ERR Connection timed out\r\n":
					if onVictim {
						r.failVictim++
					} else {
						r.failOther++
					}
				default:
					t.Errorf("unexpected reply %q", got)
					return
				}
			}
		}(cl)
	}
	time.Sleep(200 * time.Millisecond) // let the load run before the kill
	tp.backends[vi].Kill()
	testutil.Eventually(t, 5*time.Second, victim.Ejected, "killed server never ejected")
	// While it is out, its keys are served by the others.
	for k, onVictim := range origVictim {
		if onVictim {
			if got := testutil.Dial(t, tp.addr).Do("SET", k, "v"); got != "+OK\r\n" || !victim.Ejected() {
				t.Fatalf("key %s of the ejected server: %q", k, got)
			}
			break
		}
	}
	tp.backends[vi].Restart()
	testutil.Eventually(t, 5*time.Second, func() bool { return !victim.Ejected() }, "server never returned")
	// Load keeps flowing to the returned server.
	d := testutil.Dial(t, tp.backends[vi].Addr)
	testutil.Eventually(t, 5*time.Second, func() bool { return d.Do("DBSIZE") != ":0\r\n" }, "no keys on the returned server")
	close(stop)
	var total result
	for range 4 {
		r := <-results
		total.ok += r.ok
		total.okVictim += r.okVictim
		total.failVictim += r.failVictim
		total.failOther += r.failOther
	}
	t.Logf("%+v", total)
	if total.failOther > 0 {
		t.Fatalf("%d requests for live servers failed", total.failOther)
	}
	// Requests in flight at the kill may fail (or none was in flight: the
	// closed connection alone ejects the server); all others succeed.
	if total.okVictim == 0 || total.ok == 0 {
		t.Fatalf("load saw no success: %+v", total)
	}
}

func TestLargeValuesAndMGet(t *testing.T) {
	tp := startProxy(t, 3, "")
	c := testutil.Dial(t, tp.addr)
	big := strings.Repeat("x", 4<<20)
	expect(t, c, "+OK\r\n", "SET", "big", big)
	expect(t, c, fmt.Sprintf("$%d\r\n%s\r\n", len(big), big), "GET", "big")
	const n = 10000
	mget := []string{"MGET"}
	var want strings.Builder
	fmt.Fprintf(&want, "*%d\r\n", n)
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("%d:many", i)
		mget = append(mget, k)
		if i%2 == 0 {
			c.Cmd("SET", k, k)
			fmt.Fprintf(&want, "$%d\r\n%s\r\n", len(k), k)
		} else {
			want.WriteString("$-1\r\n")
		}
	}
	for i := 0; i < n; i += 2 {
		if r := c.Reply(); r != "+OK\r\n" {
			t.Fatalf("SET: %q", r)
		}
	}
	expect(t, c, want.String(), mget...)
	expect(t, c, fmt.Sprintf(":%d\r\n", n/2), append([]string{"DEL"}, mget[1:]...)...)
}

func TestStatsCounters(t *testing.T) {
	tp := startProxy(t, 2, "")
	st := tp.Proxy.Stats()
	c := testutil.Dial(t, tp.addr)
	k0, k1 := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	expect(t, c, "+OK\r\n", "SET", k0, "1")
	expect(t, c, "*2\r\n$1\r\n1\r\n$-1\r\n", "MGET", k0, k1)
	pool := st.Pools[0]
	s0 := pool.Servers[0]
	if got := s0.Requests.Load(); got != 2 {
		t.Errorf("server 0 requests %d, want 2", got)
	}
	if got := s0.Responses.Load(); got != 2 {
		t.Errorf("server 0 responses %d, want 2", got)
	}
	if s0.ResponseBytes.Load() != int64(len("+OK\r\n")+len("*1\r\n$1\r\n1\r\n")) {
		t.Errorf("server 0 response bytes %d", s0.ResponseBytes.Load())
	}
	if pool.Fragments.Load() != 2 || pool.ClientConnections.Load() != 1 || s0.Connections.Load() != 1 {
		t.Errorf("fragments %d, clients %d, server connections %d",
			pool.Fragments.Load(), pool.ClientConnections.Load(), s0.Connections.Load())
	}
	for _, s := range pool.Servers {
		if s.InQueue.Load() != 0 || s.OutQueue.Load() != 0 || s.OutQueueBytes.Load() != 0 {
			t.Errorf("server %s queues not empty: %d %d", s.Name, s.InQueue.Load(), s.OutQueue.Load())
		}
	}
	// 1 listener + 1 client + 2 server connections.
	if st.CurrConnections.Load() != 4 {
		t.Errorf("curr_connections %d, want 4", st.CurrConnections.Load())
	}
	c.Conn.Close()
	testutil.Eventually(t, 5*time.Second, func() bool {
		return pool.ClientEOF.Load() == 1 && pool.ClientConnections.Load() == 0
	}, "client close not counted")
	tp.backends[0].Kill()
	tp.backends[1].Kill()
	d := testutil.Dial(t, tp.addr)
	d.Do("GET", k0)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return pool.ForwardError.Load() >= 1 && pool.Servers[0].Connections.Load()+pool.Servers[1].Connections.Load() == 0
	}, "forward error or server closes not counted")
}

func TestSlowRequestLog(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "nc.log")
	if err := logging.Init(logging.Notice, logFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logging.Init(logging.Warn, "") })
	tp := startProxy(t, 2, "slow_req_duration: 100")
	c := testutil.Dial(t, tp.addr)
	srv := tp.Proxy.poolList()[0].pool().Servers[0]
	idx := tp.backendIndex(srv.Config.Addr)
	k := keyOn(t, tp.Proxy, 0, "slow")
	expect(t, c, "+OK\r\n", "SET", k, "1")
	tp.backends[idx].Pause()
	c.Cmd("GET", k)
	time.Sleep(150 * time.Millisecond) // the backend must stay paused past slow_req_duration
	tp.backends[idx].Resume()
	if got := c.Reply(); got != "$1\r\n1\r\n" {
		t.Fatalf("GET after resume: %q", got)
	}
	want := fmt.Sprintf("slow request on pool p: GET key %q from client %s to server %s took ", k, c.Conn.LocalAddr(), srv.Name())
	testutil.Eventually(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), want)
	}, "no slow log line %q", want)
}

// TestNoAllocationPerRequest guards the hot path: a GET and a SET through
// the proxy allocate nothing once warm, in any goroutine, in RESP2 and in
// RESP3.
func TestNoAllocationPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	tp := startProxy(t, 2, "")
	conn, err := net.Dial("tcp", tp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bc := &benchClient{conn: conn, buf: make([]byte, 1<<16)}
	set := []byte(testutil.EncodeCmd("SET", "alloc", strings.Repeat("v", 100)))
	get := []byte(testutil.EncodeCmd("GET", "alloc"))
	var b testing.B // roundTrip reports failures through it
	for _, version := range []string{"2", "3"} {
		bc.roundTrip(&b, []byte(testutil.EncodeCmd("HELLO", version)), 1)
		for range 1000 {
			bc.roundTrip(&b, set, 1)
			bc.roundTrip(&b, get, 1)
		}
		allocs := testing.AllocsPerRun(2000, func() {
			bc.roundTrip(&b, set, 1)
			bc.roundTrip(&b, get, 1)
		})
		if b.Failed() {
			t.Fatal("round trip failed")
		}
		// A stray allocation now and then (the runtime's, a timer's) is
		// not per request; one per request is.
		if allocs >= 0.5 {
			t.Fatalf("RESP%s: %.2f allocations per GET+SET round trip, want 0", version, allocs)
		}
	}
}

package proxy

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// sentinelSetup is two sentinel groups, each a master and a replica,
// watched by three sentinels (quorum 2), and a proxy pool of the groups.
type sentinelSetup struct {
	t         *testing.T
	groups    []string
	masters   map[string]*testutil.Process // by group: its master now
	replicas  map[string]*testutil.Process // by group: its replica now
	sentinels []*testutil.Process
	down      map[*testutil.Process]bool // sentinels killed or paused
	p         *Proxy
	addr      string
	yaml      string
}

func startSentinels(t *testing.T, heartbeat int) *sentinelSetup {
	t.Helper()
	st := &sentinelSetup{t: t, groups: []string{"g1", "g2"}, masters: map[string]*testutil.Process{},
		replicas: map[string]*testutil.Process{}, down: map[*testutil.Process]bool{}}
	var watched []testutil.SentinelMaster
	for _, g := range st.groups {
		m := testutil.StartRedis(t)
		st.masters[g], st.replicas[g] = m, testutil.StartReplica(t, m)
		watched = append(watched, testutil.SentinelMaster{Name: g, Addr: m.Addr, Quorum: 2})
	}
	st.sentinels = testutil.StartSentinels(t, 3, watched, 1)
	st.addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	var b strings.Builder
	fmt.Fprintf(&b, "p:\n  listen: %s\n  timeout: 400\n  hash_tag: \"{}\"\n  sentinel_heartbeat: %d\n  groups:\n", st.addr, heartbeat)
	for _, g := range st.groups {
		fmt.Fprintf(&b, "   - %s\n", g)
	}
	b.WriteString("  sentinels:\n")
	for _, s := range st.sentinels {
		fmt.Fprintf(&b, "   - %s\n", s.Addr)
	}
	st.yaml = b.String()
	st.p = runProxy(t, st.yaml, DefaultMbufSize)
	t.Cleanup(func() { // before the sentinels' directories go
		if t.Failed() {
			for _, s := range st.sentinels {
				t.Logf("sentinel %s events:\n%s", s.Addr, testutil.SentinelEvents(s))
			}
		}
	})
	return st
}

// key returns a key of group g, made from prefix.
func (st *sentinelSetup) key(g, prefix string) string {
	st.t.Helper()
	pl := st.p.poolList()[0].pool()
	for _, s := range pl.Servers {
		if s.Name() == g {
			return keyOn(st.t, st.p, s.Index(), prefix)
		}
	}
	st.t.Fatalf("no group %s", g)
	return ""
}

// switches subscribes to +switch-master on every sentinel and returns
// when a group was announced as switched: by the sentinel at addr, or
// first by any when addr is "".
func (st *sentinelSetup) switches() func(group, addr string) time.Time {
	st.t.Helper()
	var mu sync.Mutex
	first := map[string]time.Time{}
	by := map[string]time.Time{} // group + " " + sentinel
	for _, s := range st.running() {
		c := testutil.Dial(st.t, s.Addr)
		if got := c.Do("SUBSCRIBE", "+switch-master"); !strings.HasPrefix(got, "*3\r\n") {
			st.t.Fatalf("SUBSCRIBE +switch-master: %q", got)
		}
		c.Conn.SetReadDeadline(time.Time{}) // Do's is too short for a failover
		addr := s.Addr
		go func() {
			for {
				msg, err := testutil.ReadReply(c.R)
				if err != nil {
					return // the sentinel or the test is gone
				}
				at := time.Now()
				// "*3 message +switch-master <group> <old ip> <old port> <new ip> <new port>"
				fields := strings.Split(msg, "\r\n")
				group, _, _ := strings.Cut(fields[len(fields)-2], " ")
				mu.Lock()
				if _, ok := first[group]; !ok {
					first[group] = at
				}
				if _, ok := by[group+" "+addr]; !ok {
					by[group+" "+addr] = at
				}
				mu.Unlock()
			}
		}()
	}
	return func(group, addr string) time.Time {
		mu.Lock()
		defer mu.Unlock()
		if addr == "" {
			return first[group]
		}
		return by[group+" "+addr]
	}
}

// failOver kills group g's master and returns once the proxy writes to
// its new master (the replica), and how long after the sentinel the proxy
// follows announced the switch that was. (A sentinel that did not lead
// the failover learns of it from the leader's hello, which took up to
// 0.8 s here: the proxy cannot know sooner than its sentinel does.) The
// master dies once the proxy follows a running sentinel: it leaves a dead
// one at once, a paused one when its heartbeat goes unanswered. The old
// master is restarted: the sentinels make it the new master's replica.
func (st *sentinelSetup) failOver(g string, writer *groupWriter) time.Duration {
	t := st.t
	t.Helper()
	var followed string
	start := time.Now()
	testutil.Eventually(t, 10*time.Second, func() bool {
		followed = st.followed()
		return followed != ""
	}, "the proxy follows none of the running sentinels")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Logf("failover of %s: the proxy followed a running sentinel (%s) after %v", g, followed, d.Round(time.Millisecond))
	}
	announced := st.switches()
	old, next := st.masters[g], st.replicas[g]
	since := writer.mark()
	old.Kill()
	var switched time.Time
	testutil.Eventually(t, 30*time.Second, func() bool {
		switched = announced(g, followed)
		return !switched.IsZero()
	}, "sentinel %s never announced a switch of %s", followed, g)
	if first := announced(g, ""); switched.Sub(first) > 100*time.Millisecond {
		t.Logf("failover of %s: sentinel %s announced it %v after the first", g, followed, switched.Sub(first))
	}
	ok := writer.firstOKAfter(t, since, switched)
	// The old master comes back once no running sentinel can undo the
	// failover: one that still took the old one for the master would make
	// the new master its replica, and the new master would sync the old
	// one's empty dataset (a CI run lost acknowledged writes so); one that
	// could fail the new master over on its own would promote the old one
	// (a run here found the old master the master again, the new one its
	// replica, emptied).
	testutil.WaitSettled(t, st.running(), g, next)
	// Back as a replica, as its operator would make it at once (the
	// sentinels would too, but only at their next look, up to 10 s on).
	old.Restart()
	host, port, _ := strings.Cut(next.Addr, ":")
	if got := testutil.Dial(t, old.Addr).Do("REPLICAOF", host, port); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("REPLICAOF %s on %s: %q", next.Addr, old.Addr, got) // "+OK Already connected...": the sentinels were first
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		info := replication(old.Addr) // the sentinels close its clients when they reconfigure it
		return strings.Contains(info, "role:slave") && strings.Contains(info, "master_port:"+fmt.Sprint(next.Port)) &&
			strings.Contains(info, "master_link_status:up")
	}, "old master %s of %s never became the replica of %s:\n%s\nnew master:\n%s", old.Addr, g, next.Addr, testutil.Lazy(func() string { return replication(old.Addr) }), testutil.Lazy(func() string { return replication(next.Addr) }))
	st.masters[g], st.replicas[g] = next, old
	st.waitReplica(g)
	return ok.Sub(switched)
}

// followed returns the address of the running sentinel the proxy
// follows (the one with a client subscribed to patterns, psub=3 for the
// proxy's three: the test's own subscriptions are plain ones, and the
// proxy's last command there is the heartbeat's PING, not PSUBSCRIBE),
// or "" when it follows none of them (it has not left a dead or paused
// one yet).
func (st *sentinelSetup) followed() string {
	st.t.Helper()
	for _, s := range st.running() {
		c := testutil.Dial(st.t, s.Addr)
		list := c.Do("CLIENT", "LIST")
		c.Conn.Close()
		for _, client := range strings.Split(list, "\n") {
			if strings.Contains(client, " psub=") && !strings.Contains(client, " psub=0 ") {
				return s.Addr
			}
		}
	}
	return ""
}

// running returns the sentinels neither killed nor paused.
func (st *sentinelSetup) running() []*testutil.Process {
	var running []*testutil.Process
	for _, s := range st.sentinels {
		if !st.down[s] {
			running = append(running, s)
		}
	}
	return running
}

// waitMaster returns once every sentinel that runs names master as
// group g's master.
func (st *sentinelSetup) waitMaster(g string, master *testutil.Process) {
	st.t.Helper()
	want := testutil.EncodeCmd(strings.Split(master.Addr, ":")...)
	for _, s := range st.running() {
		c := testutil.Dial(st.t, s.Addr)
		testutil.Eventually(st.t, 30*time.Second, func() bool {
			return c.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", g) == want
		}, "sentinel %s does not name %s as %s's master", s.Addr, master.Addr, g)
	}
}

// waitReplica returns once every sentinel that runs sees group g's
// replica up, so that it can fail g over again.
func (st *sentinelSetup) waitReplica(g string) {
	st.t.Helper()
	for _, s := range st.running() {
		c := testutil.Dial(st.t, s.Addr)
		testutil.Eventually(st.t, 30*time.Second, func() bool {
			f := testutil.SentinelFields(c.Do("SENTINEL", "REPLICAS", g)) // one replica: its fields
			return f["ip"]+":"+f["port"] == st.replicas[g].Addr && !strings.Contains(f["flags"], "down")
		}, "sentinel %s does not see %s's replica %s up", s.Addr, g, st.replicas[g].Addr)
	}
}

// replication returns the INFO replication of the redis at addr, "" if
// it does not answer.
func replication(addr string) string {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(testutil.EncodeCmd("INFO", "replication"))); err != nil {
		return ""
	}
	info, _ := testutil.ReadReply(bufio.NewReader(conn))
	return info
}

// groupWriter writes to one key of a group through the proxy, as fast as
// it is answered, and records when each write was acknowledged or failed.
type groupWriter struct {
	mu     sync.Mutex
	oks    []time.Time // acknowledged writes
	last   string      // the value of the last one
	errs   []string    // failed writes, with when
	seq    atomic.Int64
	cutoff atomic.Int64 // writes from this sequence number on are after mark
	stop   chan struct{}
	done   chan struct{}
}

func startWriter(t *testing.T, addr, key string) *groupWriter {
	w := &groupWriter{stop: make(chan struct{}), done: make(chan struct{})}
	c := testutil.Dial(t, addr)
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			v := fmt.Sprint(w.seq.Add(1))
			c.Send(testutil.EncodeCmd("SET", key, v))
			reply, err := testutil.ReadReply(c.R)
			at := time.Now()
			if err != nil {
				return
			}
			w.mu.Lock()
			if reply == "+OK\r\n" {
				w.oks, w.last = append(w.oks, at), v
			} else {
				w.errs = append(w.errs, at.Format("15:04:05.000")+" "+strings.TrimSpace(reply))
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *groupWriter) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// mark returns how many acknowledged writes there are so far.
func (w *groupWriter) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.oks)
}

// firstOKAfter waits for a write acknowledged after time at, among those
// after the first since, and returns when it was.
func (w *groupWriter) firstOKAfter(t *testing.T, since int, at time.Time) time.Time {
	t.Helper()
	var ok time.Time
	testutil.Eventually(t, 30*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, o := range w.oks[since:] {
			if o.After(at) {
				ok = o
				return true
			}
		}
		return false
	}, "no write acknowledged after the switch")
	return ok
}

func (w *groupWriter) errors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// TestSentinelFailover runs failovers of real sentinel groups under
// writes through the proxy, with correctness checkers: each group's
// writes work again within 500 ms of the +switch-master of the sentinel
// the proxy follows, the other group sees no error, replicated keys read
// back, and no checker client gets a reply that is not its own. It fails
// over through the sentinel the proxy listens to, then with that one
// killed, then with the next one paused (the heartbeat must notice), and
// logs the recovery times.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failovers take seconds each")
	}
	st := startSentinels(t, 200)
	k1, k2 := st.key("g1", "w1:"), st.key("g2", "w2:")
	w1, w2 := startWriter(t, st.addr, k1), startWriter(t, st.addr, k2)

	// Keys written before and replicated read back after.
	c := testutil.Dial(t, st.addr)
	before := st.key("g1", "kept:")
	expect(t, c, "+OK\r\n", "SET", before, "v")
	expect(t, testutil.Dial(t, st.masters["g1"].Addr), ":1\r\n", "WAIT", "1", "5000")

	checkers := startCheckers(t, st)
	writers := map[string]*groupWriter{"g1": w1, "g2": w2}
	var times []time.Duration
	// failOver fails group g over; the other group's writer must see no
	// error meanwhile.
	failOver := func(g string) {
		other := "g2"
		if g == "g2" {
			other = "g1"
		}
		errs := len(writers[other].errors())
		checkers.uncertain(g, func() {
			d := st.failOver(g, writers[g])
			t.Logf("failover %d (%s): writes again %v after the +switch-master", len(times)+1, g, d)
			times = append(times, d)
		})
		if got := writers[other].errors(); len(got) != errs {
			t.Errorf("%s's writes failed while %s failed over: %q", other, g, got[errs:])
		}
	}
	// 1: the proxy hears it from the sentinel it listens to.
	failOver("g1")
	expect(t, c, "$1\r\nv\r\n", "GET", before)
	// 2: the sentinel it listens to is dead.
	s0, s1 := st.sentinels[0], st.sentinels[1]
	s0.Kill()
	st.down[s0] = true
	failOver("g2")
	// 3: the one it moved to is paused: only the heartbeat can tell. (The
	// first is back: two sentinels must agree on a failover.)
	s0.Restart()
	delete(st.down, s0)
	st.waitReplica("g1")
	s1.Pause()
	st.down[s1] = true
	failOver("g1")
	s1.Resume()
	delete(st.down, s1)
	st.waitMaster("g1", st.masters["g1"]) // what s1 slept through
	st.waitMaster("g2", st.masters["g2"])
	// 4 and 5: every sentinel back.
	failOver("g2")
	failOver("g1")
	checkers.stop(t)

	sorted := slices.Clone(times)
	slices.Sort(sorted)
	t.Logf("recovery after +switch-master over %d failovers: median %v, worst %v", len(sorted), sorted[len(sorted)/2], sorted[len(sorted)-1])
	for i, d := range times {
		if d > 500*time.Millisecond {
			t.Errorf("failover %d: writes again only %v after the switch, want at most 500ms", i+1, d)
		}
	}
	// Every write acknowledged since the last failover is on the master,
	// none on the old master that came back as its replica: each key
	// holds its writer's last acknowledged value.
	for g, w := range writers {
		w.close()
		key := map[string]string{"g1": k1, "g2": k2}[g]
		expect(t, testutil.Dial(t, st.masters[g].Addr), fmt.Sprintf("$%d\r\n%s\r\n", len(w.last), w.last), "GET", key)
	}
}

// checkers are correctness checkers (see TestChecker) running through the
// failovers; uncertain marks a group's writes as maybe lost while it
// fails over (replication is asynchronous).
type checkers struct {
	epochs []atomic.Int64
	index  map[string]int
	stopc  chan struct{}
	wg     sync.WaitGroup
	ops    atomic.Int64
}

func startCheckers(t *testing.T, st *sentinelSetup) *checkers {
	pl := st.p.poolList()[0].pool()
	ck := &checkers{epochs: make([]atomic.Int64, len(pl.Servers)), index: map[string]int{}, stopc: make(chan struct{})}
	for _, s := range pl.Servers {
		ck.index[s.Name()] = s.Index()
	}
	route := func(key string) int { return pl.Route([]byte(key)).Index() }
	for cl := range 2 {
		one := &checker{t: t, c: testutil.Dial(t, st.addr), id: cl, model: map[string]entry{},
			rng: rand.New(rand.NewPCG(uint64(cl), 7)), route: route, epochs: ck.epochs, null: "$-1\r\n"}
		ck.wg.Go(func() {
			for !t.Failed() {
				select {
				case <-ck.stopc:
					ck.ops.Add(one.ops)
					return
				default:
				}
				one.round()
			}
		})
	}
	t.Cleanup(ck.halt) // before their connections close: cleanups run last first
	return ck
}

func (ck *checkers) uncertain(group string, failover func()) {
	e := &ck.epochs[ck.index[group]]
	e.Add(1)
	failover()
	e.Add(1)
}

// halt stops the checkers, once.
func (ck *checkers) halt() {
	select {
	case <-ck.stopc:
	default:
		close(ck.stopc)
	}
	ck.wg.Wait()
}

func (ck *checkers) stop(t *testing.T) {
	ck.halt()
	if ck.ops.Load() == 0 {
		t.Error("the checkers checked nothing")
	}
	t.Logf("checkers: %d requests checked", ck.ops.Load())
}

// TestSentinelUnknownGroup: a group the sentinels do not know refuses the
// start, and a reload, naming the group; the running pool stays.
func TestSentinelUnknownGroup(t *testing.T) {
	m := testutil.StartRedis(t)
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{{Name: "g1", Addr: m.Addr, Quorum: 1}})
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml := func(groups ...string) string {
		return fmt.Sprintf("p:\n  listen: %s\n  groups: [%s]\n  sentinels: [%s]\n", addr, strings.Join(groups, ", "), s.Addr)
	}
	cfg, err := config.Parse("test.yml", []byte(yaml("g1", "nope")))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := New(cfg, Options{MbufSize: DefaultMbufSize}); err == nil {
		p.Close()
		t.Fatal("a pool with a group unknown to the sentinels started")
	} else if !strings.Contains(err.Error(), "sentinel "+s.Addr+" does not know group nope") {
		t.Fatalf("start: %v", err)
	}
	p := runProxy(t, yaml("g1"), DefaultMbufSize)
	c := testutil.Dial(t, addr)
	expect(t, c, "+OK\r\n", "SET", "k", "v")
	cfg, _ = config.Parse("test.yml", []byte(yaml("g1", "nope")))
	if err := p.Reload(cfg); err == nil || !strings.Contains(err.Error(), "does not know group nope") {
		t.Fatalf("reload: %v", err)
	}
	expect(t, c, "$1\r\nv\r\n", "GET", "k")
}

// TestSentinelReload: a reload changes a sentinel pool in place: a group
// added gets its master and its share of the keys, the groups kept keep
// their connections, and the new configuration's watcher follows the
// next failover (the old one is stopped).
func TestSentinelReload(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	m1, m2 := testutil.StartRedis(t), testutil.StartRedis(t)
	r1 := testutil.StartReplica(t, m1)
	watched := []testutil.SentinelMaster{{Name: "g1", Addr: m1.Addr, Quorum: 1}, {Name: "g2", Addr: m2.Addr, Quorum: 1}}
	s := testutil.StartSentinel(t, watched)
	testutil.WaitSentinels(t, []*testutil.Process{s}, "g1", 1)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml := func(heartbeat int, groups ...string) string {
		return fmt.Sprintf("p:\n  listen: %s\n  timeout: 400\n  sentinel_heartbeat: %d\n  groups: [%s]\n  sentinels: [%s]\n",
			addr, heartbeat, strings.Join(groups, ", "), s.Addr)
	}
	p := runProxy(t, yaml(1000, "g1"), DefaultMbufSize)
	c := testutil.Dial(t, addr)
	expect(t, c, "+OK\r\n", "SET", "k", "v")
	conns := p.Stats().Pools[0].Servers[0].Connections.Load()

	reload(t, p, yaml(200, "g1", "g2"))
	pl := p.poolList()[0].pool()
	if len(pl.Servers) != 2 || pl.Servers[0].Addr() != m1.Addr || pl.Servers[1].Addr() != m2.Addr {
		t.Fatalf("after the reload: %d groups, at %q and %q", len(pl.Servers), pl.Servers[0].Addr(), pl.Servers[1].Addr())
	}
	k2 := keyOn(t, p, 1, "two:")
	expect(t, c, "+OK\r\n", "SET", k2, "x")
	expect(t, testutil.Dial(t, m2.Addr), "$1\r\nx\r\n", "GET", k2)
	if got := pl.Servers[0].Stats.Connections.Load(); got != conns {
		t.Errorf("g1 has %d connections after the reload, had %d: not kept", got, conns)
	}

	sc := testutil.Dial(t, s.Addr)
	testutil.Eventually(t, 30*time.Second, func() bool { // until the sentinel has looked at the replica
		return sc.Do("SENTINEL", "FAILOVER", "g1") == "+OK\r\n"
	}, "SENTINEL FAILOVER g1 refused")
	k1 := keyOn(t, p, 0, "one:")
	testutil.Eventually(t, 30*time.Second, func() bool {
		return c.Do("SET", k1, "y") == "+OK\r\n" && pl.Servers[0].Addr() == r1.Addr
	}, "g1's failover to %s not followed after the reload (at %s)", r1.Addr, pl.Servers[0].Addr())
	expect(t, testutil.Dial(t, r1.Addr), "$1\r\ny\r\n", "GET", k1)
}

// TestSentinelAuth: the masters' password (redis_auth) goes to the ROLE
// check and to every connection's handshake; the sentinels' own password
// is sentinel_auth.
func TestSentinelAuth(t *testing.T) {
	m := testutil.StartRedis(t, "--requirepass", "mpw")
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{{Name: "g1", Addr: m.Addr, Quorum: 1}},
		"sentinel auth-pass g1 mpw", "requirepass spw")
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, fmt.Sprintf("p:\n  listen: %s\n  redis_auth: mpw\n  sentinel_auth: spw\n  groups: [g1]\n  sentinels: [%s]\n", addr, s.Addr), DefaultMbufSize)
	if got := p.poolList()[0].pool().Servers[0].Addr(); got != m.Addr {
		t.Fatalf("g1's master: %q, want %s", got, m.Addr)
	}
	c := testutil.Dial(t, addr)
	expect(t, c, "-NOAUTH Authentication required.\r\n", "SET", "k", "v")
	expect(t, c, "+OK\r\n", "AUTH", "mpw")
	expect(t, c, "+OK\r\n", "SET", "k", "v")
}

// TestSentinelReadOnly: a switch the proxy did not hear (its sentinel is
// paused, and the heartbeat is an hour) is found by the first -READONLY
// from the old master, now a replica: the proxy asks again, and writes go
// to the new master within a few timeouts, not an hour.
func TestSentinelReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	m := testutil.StartRedis(t)
	r := testutil.StartReplica(t, m)
	watched := []testutil.SentinelMaster{{Name: "g1", Addr: m.Addr, Quorum: 2}}
	sentinels := testutil.StartSentinels(t, 3, watched, 1)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, fmt.Sprintf("p:\n  listen: %s\n  timeout: 400\n  sentinel_heartbeat: 3600000\n  groups: [g1]\n  sentinels: [%s]\n",
		addr, testutil.Addrs(sentinels)), DefaultMbufSize)
	c := testutil.Dial(t, addr)
	expect(t, c, "+OK\r\n", "SET", "k", "1")

	// The proxy follows the first sentinel once it has subscribed there
	// and its first ask was answered.
	s0 := testutil.Dial(t, sentinels[0].Addr)
	testutil.Eventually(t, 10*time.Second, func() bool {
		list := s0.Do("CLIENT", "LIST")
		return strings.Contains(list, " cmd=psubscribe ") && strings.Contains(list, " cmd=sentinel|get-master-addr-by-name ")
	}, "the proxy does not follow the first sentinel")
	sentinels[0].Pause()
	defer sentinels[0].Resume()
	sc := testutil.Dial(t, sentinels[1].Addr)
	testutil.Eventually(t, 30*time.Second, func() bool {
		return sc.Do("SENTINEL", "FAILOVER", "g1") == "+OK\r\n"
	}, "SENTINEL FAILOVER g1 refused")
	testutil.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(replication(m.Addr), "role:slave")
	}, "the old master %s was never made a replica", m.Addr)
	readOnly := 0
	testutil.Eventually(t, 20*time.Second, func() bool {
		reply := c.Do("SET", "k", "2")
		if strings.HasPrefix(reply, "-READONLY") {
			readOnly++
		}
		return reply == "+OK\r\n"
	}, "writes never reached the new master")
	if got := p.poolList()[0].pool().Servers[0].Addr(); got != r.Addr {
		t.Fatalf("g1 at %s, want the new master %s", got, r.Addr)
	}
	if readOnly == 0 {
		t.Error("no -READONLY: the test did not see the case it is for")
	}
	expect(t, testutil.Dial(t, r.Addr), "$1\r\n2\r\n", "GET", "k")
}

// TestSentinelNoneAnswers: with no sentinel answering at start, clients
// are accepted and a group's requests fail at once naming it (/healthz
// too), then work once a sentinel answers.
func TestSentinelNoneAnswers(t *testing.T) {
	m := testutil.StartRedis(t)
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{{Name: "g1", Addr: m.Addr, Quorum: 1}})
	s.Pause()
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, fmt.Sprintf("p:\n  listen: %s\n  timeout: 200\n  sentinel_heartbeat: 100\n  groups: [g1]\n  sentinels: [%s]\n", addr, s.Addr), DefaultMbufSize)
	c := testutil.Dial(t, addr)
	expect(t, c, "-ERR no master known for sentinel group g1\r\n", "SET", "k", "v")
	if err := p.Health(); err == nil || !strings.Contains(err.Error(), "p/g1") {
		t.Errorf("Health: %v, want it to name p/g1", err)
	}
	s.Resume()
	testutil.Eventually(t, 10*time.Second, func() bool { return c.Do("SET", "k", "v") == "+OK\r\n" }, "g1 never served")
	if err := p.Health(); err != nil {
		t.Errorf("Health: %v", err)
	}
}

package sentinel_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/sentinel"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// logPath is the log file of the package's tests, which check its lines;
// it is printed when a test fails.
var logPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sentinel-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logPath = filepath.Join(dir, "nutcracker.log")
	if err := logging.Init(logging.DefaultLevel, logPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		log, _ := os.ReadFile(logPath)
		fmt.Fprintf(os.Stderr, "the log:\n%s", log)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// logLines returns the lines of the log that contain text.
func logLines(t *testing.T, text string) []string {
	t.Helper()
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, text) {
			lines = append(lines, line)
		}
	}
	return lines
}

// wantLogged fails unless the log has exactly one line containing text.
func wantLogged(t *testing.T, text string) {
	t.Helper()
	if lines := logLines(t, text); len(lines) != 1 {
		t.Errorf("want one log line with %q, got %d: %q", text, len(lines), lines)
	}
}

// failoverTimeout bounds a failover from a master's SIGKILL to its group
// being followed: down-after 1 s, an election, a promotion.
const failoverTimeout = 15 * time.Second

// deployment is the test deployment: groups, each a master and a
// replica, watched by three sentinels with quorum 2.
type deployment struct {
	masters, replicas map[string]*testutil.Process
	sentinels         []*testutil.Process
}

func (d *deployment) sentinelAddrs() []string {
	var addrs []string
	for _, s := range d.sentinels {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

func deploy(t *testing.T, groups ...string) *deployment {
	t.Helper()
	d := &deployment{masters: map[string]*testutil.Process{}, replicas: map[string]*testutil.Process{}}
	var monitored []testutil.SentinelMaster
	for _, g := range groups {
		d.masters[g] = testutil.StartRedis(t)
		d.replicas[g] = testutil.StartReplica(t, d.masters[g])
		monitored = append(monitored, testutil.SentinelMaster{Name: g, Addr: d.masters[g].Addr, Quorum: 2})
	}
	d.sentinels = testutil.StartSentinels(t, 3, monitored, 1)
	return d
}

// masterCall is one call of Options.Master.
type masterCall struct {
	group, addr, from string
	at                time.Time
}

// recorder records the calls of Options.Master.
type recorder struct {
	mu    sync.Mutex
	calls []masterCall
}

func (r *recorder) master(group, addr, from string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, masterCall{group, addr, from, time.Now()})
}

// find returns the first call for group naming addr.
func (r *recorder) find(group, addr string) (masterCall, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if c.group == group && c.addr == addr {
			return c, true
		}
	}
	return masterCall{}, false
}

// of returns the calls for group.
func (r *recorder) of(group string) []masterCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var calls []masterCall
	for _, c := range r.calls {
		if c.group == group {
			calls = append(calls, c)
		}
	}
	return calls
}

// wait returns the call for group naming addr, once it is made.
func (r *recorder) wait(t *testing.T, timeout time.Duration, group, addr string) masterCall {
	t.Helper()
	testutil.Eventually(t, timeout, func() bool { _, ok := r.find(group, addr); return ok },
		"Master(%s, %s) not called; calls: %v", group, addr, r.of(group))
	c, _ := r.find(group, addr)
	return c
}

// announcements records when each group's +switch-master is first
// published by any of the sentinels, as a client subscribed to all of them
// sees it.
type announcements struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func listenAnnouncements(t *testing.T, sentinels []*testutil.Process) *announcements {
	t.Helper()
	a := &announcements{first: map[string]time.Time{}}
	for _, s := range sentinels {
		c := testutil.Dial(t, s.Addr)
		if r := c.Do("SUBSCRIBE", "+switch-master"); !strings.Contains(r, "subscribe") {
			t.Fatalf("SUBSCRIBE +switch-master on %s: %q", s.Addr, r)
		}
		go a.read(c.Conn, bufio.NewReader(c.Conn)) // ends when the test closes c
	}
	return a
}

func (a *announcements) read(c net.Conn, r *bufio.Reader) {
	for {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		msg, err := testutil.ReadReply(r)
		if err != nil {
			return
		}
		now := time.Now()
		// *3 $7 message $14 +switch-master $N <group> <old ip> <old port> <new ip> <new port>
		lines := strings.Split(msg, "\r\n")
		if len(lines) < 7 {
			continue
		}
		group, _, _ := strings.Cut(lines[6], " ")
		a.mu.Lock()
		if _, seen := a.first[group]; !seen {
			a.first[group] = now
		}
		a.mu.Unlock()
	}
}

func (a *announcements) wait(t *testing.T, group string) time.Time {
	t.Helper()
	var at time.Time
	testutil.Eventually(t, failoverTimeout, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		var ok bool
		at, ok = a.first[group]
		return ok
	}, "no +switch-master for %s", group)
	return at
}

// failover kills group's master and returns the address of its replica,
// which the sentinels promote, once the watcher was told, with the time
// from the first +switch-master announcement to Master's call.
func failover(t *testing.T, d *deployment, ann *announcements, rec *recorder, group string) masterCall {
	t.Helper()
	d.masters[group].Kill()
	killed := time.Now()
	call := rec.wait(t, failoverTimeout, group, d.replicas[group].Addr)
	announced := ann.wait(t, group)
	t.Logf("%s: master killed, +switch-master %v later, Master called %v after it (through sentinel %s)",
		group, announced.Sub(killed).Round(time.Millisecond), call.at.Sub(announced).Round(time.Microsecond), call.from)
	return call
}

// noWatcherGoroutines fails unless every goroutine of package sentinel
// has ended.
func noWatcherGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	testutil.Eventually(t, 5*time.Second, func() bool {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "nutcracker/internal/sentinel.")
	}, "goroutines of package sentinel left:\n%s", stacks)
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	d := deploy(t, "shard-a", "shard-b")
	opts := sentinel.Options{Sentinels: d.sentinelAddrs(), Groups: []string{"shard-a", "shard-b"}}
	ctx := context.Background()

	masters, err := sentinel.Discover(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"shard-a": d.masters["shard-a"].Addr, "shard-b": d.masters["shard-b"].Addr}
	if len(masters) != 2 || masters["shard-a"] != want["shard-a"] || masters["shard-b"] != want["shard-b"] {
		t.Fatalf("Discover = %v, want %v", masters, want)
	}

	unknown := opts
	unknown.Groups = []string{"shard-a", "shard-x"}
	_, err = sentinel.Discover(ctx, unknown)
	var unknownErr *sentinel.UnknownGroupError
	if want := "sentinel " + d.sentinels[0].Addr + " does not know group shard-x"; !errors.As(err, &unknownErr) || err.Error() != want {
		t.Errorf("Discover of an unknown group: error %v, want %q", err, want)
	}
	unknown.Groups = []string{"shard-y", "shard-a", "shard-x"}
	_, err = sentinel.Discover(ctx, unknown)
	if want := "sentinel " + d.sentinels[0].Addr + " does not know groups shard-y, shard-x"; err == nil || err.Error() != want {
		t.Errorf("Discover of two unknown groups: error %v, want %q", err, want)
	}

	d.sentinels[0].Kill()
	masters, err = sentinel.Discover(ctx, opts)
	if err != nil || masters["shard-a"] != want["shard-a"] || masters["shard-b"] != want["shard-b"] {
		t.Errorf("Discover with the first sentinel dead = %v, %v; want %v", masters, err, want)
	}

	nobody := opts
	nobody.Sentinels = []string{d.sentinels[0].Addr, "127.0.0.1:1"}
	_, err = sentinel.Discover(ctx, nobody)
	if err == nil || !strings.Contains(err.Error(), "sentinel "+d.sentinels[0].Addr+":") || !strings.Contains(err.Error(), "sentinel 127.0.0.1:1:") {
		t.Errorf("Discover with no sentinel up: error %v, want one naming both", err)
	}
}

// TestWatcherFollowsFailovers fails a master over, then kills the sentinel
// the watcher follows and fails the other master over: both are followed.
func TestWatcherFollowsFailovers(t *testing.T) {
	t.Parallel()
	d := deploy(t, "shard-a", "shard-b")
	ann := listenAnnouncements(t, d.sentinels)
	rec := &recorder{}
	w := sentinel.Start(sentinel.Options{
		Sentinels: d.sentinelAddrs(),
		Groups:    []string{"shard-a", "shard-b"},
		Heartbeat: 200 * time.Millisecond,
		Master:    rec.master,
	})
	defer w.Close()
	for _, g := range []string{"shard-a", "shard-b"} {
		if c := rec.wait(t, 5*time.Second, g, d.masters[g].Addr); c.from != d.sentinels[0].Addr {
			t.Errorf("%s learned from %s, want the first sentinel %s", g, c.from, d.sentinels[0].Addr)
		}
	}

	failover(t, d, ann, rec, "shard-a")
	if calls := rec.of("shard-b"); len(calls) != 1 {
		t.Errorf("shard-b was not failed over, yet Master was called for it %d times: %v", len(calls), calls)
	}

	wantLogged(t, fmt.Sprintf("sentinel: group shard-a master %s -> %s (", "none", d.masters["shard-a"].Addr))
	a := rec.of("shard-a")
	wantLogged(t, fmt.Sprintf("sentinel: group shard-a master %s -> %s (", orNone(a[len(a)-2].addr), d.replicas["shard-a"].Addr))

	d.sentinels[0].Kill()
	c := failover(t, d, ann, rec, "shard-b")
	if c.from == d.sentinels[0].Addr {
		t.Errorf("shard-b's switch came from the killed sentinel %s", c.from)
	}
	wantLogged(t, fmt.Sprintf("sentinel: following sentinel %s failed: ", d.sentinels[0].Addr))
	wantLogged(t, fmt.Sprintf("sentinel: following sentinel %s instead of %s", c.from, d.sentinels[0].Addr))
	// shard-a had its master, maybe none while it was down, then its replica.
	for _, c := range rec.of("shard-a") {
		if c.addr != d.masters["shard-a"].Addr && c.addr != "" && c.addr != d.replicas["shard-a"].Addr {
			t.Errorf("Master called for shard-a with %s, neither its master nor its replica", c.addr)
		}
	}
}

// TestWatcherHeartbeat pauses the sentinel the watcher follows: the
// heartbeat notices, and the next failover is followed through another.
func TestWatcherHeartbeat(t *testing.T) {
	t.Parallel()
	d := deploy(t, "shard-a", "shard-b")
	ann := listenAnnouncements(t, d.sentinels[1:])
	rec := &recorder{}
	w := sentinel.Start(sentinel.Options{
		Sentinels: d.sentinelAddrs(),
		Groups:    []string{"shard-a", "shard-b"},
		Heartbeat: 200 * time.Millisecond,
		Master:    rec.master,
	})
	defer w.Close()
	rec.wait(t, 5*time.Second, "shard-a", d.masters["shard-a"].Addr)

	d.sentinels[0].Pause()
	defer d.sentinels[0].Resume()
	if c := failover(t, d, ann, rec, "shard-a"); c.from == d.sentinels[0].Addr {
		t.Errorf("shard-a's switch came from the paused sentinel %s", c.from)
	}
}

// TestWatcherConfirmsWithRole names a replica as a group's master: ROLE
// says it is none, so the group gets no master, asked again each heartbeat.
// The watcher starts from known masters that are not the sentinel's.
func TestWatcherConfirmsWithRole(t *testing.T) {
	master := testutil.StartRedis(t)
	replica := testutil.StartReplica(t, master)
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{
		{Name: "real", Addr: master.Addr, Quorum: 1},
		{Name: "demoted", Addr: replica.Addr, Quorum: 1},
	})
	opts := sentinel.Options{Sentinels: []string{s.Addr}, Groups: []string{"real", "demoted"}, Heartbeat: 50 * time.Millisecond}

	masters, err := sentinel.Discover(context.Background(), opts)
	if err != nil || masters["real"] != master.Addr || masters["demoted"] != "" || len(masters) != 2 {
		t.Errorf("Discover = %v, %v; want real at %s and demoted with none", masters, err, master.Addr)
	}

	rec := &recorder{}
	opts.Master = rec.master
	opts.Known = map[string]string{"real": "127.0.0.1:1", "demoted": replica.Addr}
	w := sentinel.Start(opts)
	t.Cleanup(w.Close)
	rec.wait(t, 5*time.Second, "real", master.Addr)
	rec.wait(t, 5*time.Second, "demoted", "")
	// Asked again at every heartbeat while unconfirmed: let it ask a few
	// times (Discover asked once).
	c := testutil.Dial(t, replica.Addr)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return commandCalls(c.Do("INFO", "commandstats"), "role") >= 1+3
	}, "the watcher does not ask again")
	w.Close()
	if calls := rec.of("demoted"); len(calls) != 1 {
		t.Errorf("Master calls for a group whose master is a replica: %v, want one taking the known one away", calls)
	}
	wantLogged(t, fmt.Sprintf("sentinel: confirming the master of group demoted failed: %s named by sentinel %s: ROLE says \"slave\"", replica.Addr, s.Addr))
	noWatcherGoroutines(t)
}

// TestWatcherKeepsUnansweringMaster: the master in use stops answering
// (SIGSTOP, as a stalled machine would) while the sentinel still names it:
// ROLE times out at each ask, and the group keeps its master instead of
// being left with none, which failed all of its requests for a stall of
// one ROLE round trip. It answers again: nothing changed.
func TestWatcherKeepsUnansweringMaster(t *testing.T) {
	master := testutil.StartRedis(t)
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{{Name: "stalled", Addr: master.Addr, Quorum: 1}})
	rec := &recorder{}
	opts := sentinel.Options{
		Sentinels: []string{s.Addr}, Groups: []string{"stalled"},
		Heartbeat: 50 * time.Millisecond, Timeout: 100 * time.Millisecond,
		Master: rec.master, Known: map[string]string{"stalled": master.Addr},
	}
	w := sentinel.Start(opts)
	t.Cleanup(w.Close)
	master.Pause()
	// Asked at every heartbeat while unconfirmed, until the sentinel too
	// finds the master down (down-after 1 s): some twenty asks.
	kept := fmt.Sprintf("%s named by sentinel %s, kept: ", master.Addr, s.Addr)
	down := fmt.Sprintf("group stalled master %s is objectively down", master.Addr)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(logLines(t, kept)) == 1 && len(logLines(t, down)) == 1 },
		"the paused master was not found kept, or the sentinel never found it down")
	master.Resume()
	w.Close()
	if calls := rec.of("stalled"); len(calls) != 0 {
		t.Errorf("Master calls while the master in use did not answer ROLE: %v, want none", calls)
	}
	noWatcherGoroutines(t)
}

func orNone(addr string) string {
	if addr == "" {
		return "none"
	}
	return addr
}

// commandCalls returns the calls count of a command in INFO commandstats.
func commandCalls(info, command string) int {
	for _, line := range strings.Split(info, "\r\n") {
		rest, ok := strings.CutPrefix(line, "cmdstat_"+command+":calls=")
		if !ok {
			continue
		}
		n := 0
		for _, ch := range rest {
			if ch < '0' || ch > '9' {
				break
			}
			n = n*10 + int(ch-'0')
		}
		return n
	}
	return 0
}

// TestCloseWhileStuck closes a watcher stuck on a paused sentinel: Close
// returns at once, and leaves no goroutine behind.
func TestCloseWhileStuck(t *testing.T) {
	master := testutil.StartRedis(t)
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{{Name: "g", Addr: master.Addr, Quorum: 1}})
	s.Pause()
	defer s.Resume()
	w := sentinel.Start(sentinel.Options{Sentinels: []string{s.Addr}, Groups: []string{"g"}, Timeout: time.Minute})
	t.Cleanup(w.Close)
	// Let it connect and wait for its PSUBSCRIBE's reply.
	testutil.Eventually(t, 5*time.Second, func() bool {
		buf := make([]byte, 1<<20)
		return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "sentinel.(*Watcher).subscribe")
	}, "the watcher does not subscribe")
	start := time.Now()
	w.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	noWatcherGoroutines(t)
}

// TestReask demotes a group's master behind the sentinel's back, as when an
// old master comes back as a replica: Reask finds it out long before the
// next heartbeat would, and the group has no master.
func TestReask(t *testing.T) {
	t.Parallel()
	master := testutil.StartRedis(t)
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{{Name: "g", Addr: master.Addr, Quorum: 1}})
	rec := &recorder{}
	w := sentinel.Start(sentinel.Options{Sentinels: []string{s.Addr}, Groups: []string{"g"}, Heartbeat: time.Hour, Master: rec.master})
	defer w.Close()
	rec.wait(t, 5*time.Second, "g", master.Addr)

	other := testutil.StartRedis(t)
	host, port, _ := strings.Cut(other.Addr, ":")
	if r := testutil.Dial(t, master.Addr).Do("REPLICAOF", host, port); r != "+OK\r\n" {
		t.Fatalf("REPLICAOF: %q", r)
	}
	w.Reask()
	rec.wait(t, 5*time.Second, "g", "")
}

// TestAuth runs a sentinel and a master that require passwords.
func TestAuth(t *testing.T) {
	t.Parallel()
	master := testutil.StartRedis(t, "--requirepass", "master-secret")
	s := testutil.StartSentinel(t, []testutil.SentinelMaster{{Name: "g", Addr: master.Addr, Quorum: 1}},
		"sentinel auth-pass g master-secret", "requirepass sentinel-secret")
	opts := sentinel.Options{Sentinels: []string{s.Addr}, Groups: []string{"g"}}
	ctx := context.Background()

	_, err := sentinel.Discover(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("Discover without the sentinel's password: error %v, want NOAUTH", err)
	}
	opts.Password = "sentinel-secret"
	masters, err := sentinel.Discover(ctx, opts)
	if err != nil || masters["g"] != "" {
		t.Errorf("Discover without the master's password = %v, %v; want g with no confirmed master", masters, err)
	}
	opts.MasterPassword = "master-secret"
	masters, err = sentinel.Discover(ctx, opts)
	if err != nil || masters["g"] != master.Addr {
		t.Errorf("Discover with both passwords = %v, %v; want g at %s", masters, err, master.Addr)
	}

	rec := &recorder{}
	opts.Master = rec.master
	w := sentinel.Start(opts)
	defer w.Close()
	rec.wait(t, 5*time.Second, "g", master.Addr)
}

// TestBadSentinel has Discover ask servers that are not sentinels: each
// fails with an error naming it, in bounded time.
func TestBadSentinel(t *testing.T) {
	t.Parallel()
	silent := fakeServer(t, "")
	garbage := fakeServer(t, "hello\r\n")
	endless := fakeServer(t, "$100000000\r\n"+strings.Repeat("x", 2<<20))
	notAnArray := fakeServer(t, "+OK\r\n")
	redis := testutil.StartRedis(t) // answers SENTINEL with an error
	for _, addr := range []string{silent, garbage, endless, notAnArray, redis.Addr} {
		start := time.Now()
		_, err := sentinel.Discover(context.Background(), sentinel.Options{
			Sentinels: []string{addr}, Groups: []string{"g"}, Timeout: 200 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "sentinel "+addr+":") {
			t.Errorf("Discover from %s: error %v, want one naming it", addr, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Discover from %s took %v", addr, took)
		}
		t.Logf("%v", err)
	}
}

// fakeServer listens on a loopback port and answers every read with reply
// (nothing when it is ""). It stops with the test.
func fakeServer(t *testing.T, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if reply != "" {
						c.Write([]byte(reply))
					}
				}
			})
		}
	})
	return l.Addr().String()
}

// TestFailingSentinelLogsOnce has the watcher retry a sentinel that
// accepts connections and closes them: one line says so, not one per try.
func TestFailingSentinelLogsOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	defer func() { l.Close(); <-done }()
	w := sentinel.Start(sentinel.Options{Sentinels: []string{l.Addr().String()}, Groups: []string{"g"}, Heartbeat: 10 * time.Millisecond})
	defer w.Close()
	testutil.Eventually(t, 5*time.Second, func() bool { return accepted.Load() >= 10 }, "the watcher does not retry")
	wantLogged(t, "sentinel: following sentinel "+l.Addr().String()+" failed")
}

// TestSwitchNotUndoneByOlderAsk pauses a master, so that every ask hangs
// on its ROLE until the timeout: the ask under way when the switch is
// announced must not take the group's new master away when it ends.
func TestSwitchNotUndoneByOlderAsk(t *testing.T) {
	t.Parallel()
	d := deploy(t, "shard-a")
	rec := &recorder{}
	w := sentinel.Start(sentinel.Options{
		Sentinels: d.sentinelAddrs(),
		Groups:    []string{"shard-a"},
		Heartbeat: 200 * time.Millisecond,
		Timeout:   3 * time.Second,
		Master:    rec.master,
	})
	defer w.Close()
	rec.wait(t, 5*time.Second, "shard-a", d.masters["shard-a"].Addr)

	d.masters["shard-a"].Pause()
	promoted := d.replicas["shard-a"].Addr
	switched := rec.wait(t, failoverTimeout, "shard-a", promoted)
	// Asks run one at a time: once one has asked the promoted replica its
	// ROLE, any ask started before the switch has ended.
	c := testutil.Dial(t, promoted)
	testutil.Eventually(t, 10*time.Second, func() bool {
		return commandCalls(c.Do("INFO", "commandstats"), "role") >= 1
	}, "the watcher does not ask %s its ROLE", promoted)
	w.Close()
	for _, call := range rec.of("shard-a") {
		if call.at.After(switched.at) {
			t.Errorf("Master(shard-a, %q) called after the switch to %s", call.addr, promoted)
		}
	}
}

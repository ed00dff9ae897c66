//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// master is a nutcracker master process started by a test.
type master struct {
	cmd     *exec.Cmd
	conf    string // its configuration file
	logFile string
	stats   string // host:port of the stats port
	exited  chan error
}

// startMaster runs the binary on conf (a configuration body) with args
// and waits until listen answers PING.
func startMaster(t *testing.T, conf, listen string, args ...string) *master {
	t.Helper()
	dir := t.TempDir()
	m := &master{
		conf:    writeFile(t, dir, "nc.yml", conf),
		logFile: filepath.Join(dir, "nc.log"),
		stats:   "127.0.0.1:" + statsPort(t),
		exited:  make(chan error, 1),
	}
	_, port, _ := net.SplitHostPort(m.stats)
	m.cmd = exec.Command(binary, append([]string{"-c", m.conf, "-o", m.logFile, "-s", port, "-a", "127.0.0.1"}, args...)...)
	// A binary built with the race detector reports to files here.
	m.cmd.Env = append(os.Environ(), "GORACE=log_path="+filepath.Join(dir, "race"))
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		m.exited <- m.cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		m.cmd.Process.Kill() // its workers die with it (parent-death signal)
		<-done
		reports, _ := filepath.Glob(filepath.Join(dir, "race.*"))
		for _, r := range reports {
			b, _ := os.ReadFile(r)
			t.Errorf("race detector, %s:\n%s", filepath.Base(r), b)
		}
		if t.Failed() {
			log, _ := os.ReadFile(m.logFile)
			t.Logf("log:\n%s", log)
		}
	})
	testutil.Eventually(t, 10*time.Second, func() bool { return ping(listen) }, "nutcracker does not serve on %s", listen)
	return m
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 7)
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	_, err = io.ReadFull(c, buf)
	return err == nil && string(buf) == "+PONG\r\n"
}

// workers returns the pids of the master's worker processes by worker
// number; while an upgrade hands over, a number has two.
func (m *master) workers(t *testing.T) map[int]int {
	t.Helper()
	found := make(map[int]int)
	for num, pids := range m.allWorkers(t) {
		found[num] = pids[len(pids)-1]
	}
	return found
}

// allWorkers returns the pids of the master's worker processes by worker
// number.
func (m *master) allWorkers(t *testing.T) map[int][]int {
	t.Helper()
	found := make(map[int][]int)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(m.cmd.Process.Pid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		name, _, _ := strings.Cut(string(cmdline), "\x00")
		if n, ok := strings.CutPrefix(name, "nutcracker worker "); ok {
			num, _ := strconv.Atoi(n)
			found[num] = append(found[num], pid)
		}
	}
	return found
}

// waitServing polls /healthz until every worker serves.
func (m *master) waitServing(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + m.stats + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "workers not all serving")
}

// metric returns the value of a line of the stats port's /metrics that
// starts with name (labels included), 0 when absent.
func (m *master) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + m.stats + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return 0
}

// document returns the twemproxy stats document.
func (m *master) document(t *testing.T) string {
	t.Helper()
	c, err := net.Dial("tcp", m.stats)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	return string(b)
}

var requestsRe = regexp.MustCompile(`"requests":(\d+)`)

// requests sums the servers' request counters of a stats document.
func requests(doc string) int64 {
	var n int64
	for _, m := range requestsRe.FindAllStringSubmatch(doc, -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		n += v
	}
	return n
}

// load is a steady load of persistent clients, half of them pipelining,
// each checking that every reply is the one its request expects: SETs of
// its own keys, and GETs of keys that every backend holds with the same
// value, so that the replies do not depend on the routing in force.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup

	answered atomic.Int64 // replies checked so far, for progress

	mu       sync.Mutex
	requests int
	failed   []string // one line per client that saw a wrong reply or lost its connection
	ok       int      // clients that ran to the end without a fault
	dials    int      // short connections served
}

// sharedKeys are set on every backend before the load starts.
const sharedKeys = 50

func preload(t *testing.T, backends ...*testutil.Process) {
	for _, b := range backends {
		c := testutil.Dial(t, b.Addr)
		for i := range sharedKeys {
			if got := c.Do("SET", "shared:"+strconv.Itoa(i), "value-"+strconv.Itoa(i)); got != "+OK\r\n" {
				t.Fatalf("preload %s: %q", b.Addr, got)
			}
		}
	}
}

func startLoad(t *testing.T, addr string, clients int) *load {
	conns := make([]net.Conn, clients)
	for i := range conns {
		var err error
		if conns[i], err = net.Dial("tcp", addr); err != nil {
			t.Fatalf("load: %v", err)
		}
	}
	return startLoadOn(conns, true)
}

// startLoadOn runs the load on connections already made: client i is
// conns[i], pipelining when i is odd; with dial, new connections are
// made all along too.
func startLoadOn(conns []net.Conn, dial bool) *load {
	l := &load{stop: make(chan struct{})}
	if dial && len(conns) > 0 {
		l.wg.Add(1)
		go l.dialer(conns[0].RemoteAddr().String())
	}
	for i, conn := range conns {
		depth := 1
		if i%2 == 1 {
			depth = 8
		}
		l.wg.Add(1)
		go l.client(conn, i, depth)
	}
	return l
}

// serverSide returns the pid among pids whose process holds the accepted
// end of conn, 0 if none does yet.
func serverSide(t *testing.T, conn net.Conn, pids []int) int {
	t.Helper()
	local := conn.LocalAddr().(*net.TCPAddr)
	remote := conn.RemoteAddr().(*net.TCPAddr)
	// In /proc/net/tcp the accepted socket has our peer's port as its local
	// port and our local port as its remote one.
	want := fmt.Sprintf("0100007F:%04X 0100007F:%04X", remote.Port, local.Port)
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	inode := ""
	for _, line := range strings.Split(string(table), "\n") {
		f := strings.Fields(line)
		if len(f) > 9 && f[1]+" "+f[2] == want {
			inode = "socket:[" + f[9] + "]"
		}
	}
	if inode == "" {
		return 0
	}
	for _, pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); target == inode {
				return pid
			}
		}
	}
	return 0
}

// spread connects to listen until each of the worker processes pids
// holds n of the connections (the worker that accepts one is the kernel's
// choice); it returns them and the pid holding each.
func spread(t *testing.T, listen string, pids []int, n int) (conns []net.Conn, owners []int) {
	t.Helper()
	perWorker := map[int]int{}
	for attempt := 0; len(conns) < n*len(pids); attempt++ {
		if attempt > 1000 {
			t.Fatalf("connections not spread over the workers: %v", perWorker)
		}
		conn, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		var owner int
		testutil.Eventually(t, 5*time.Second, func() bool {
			owner = serverSide(t, conn, pids)
			return owner != 0
		}, "no worker holds the connection")
		if perWorker[owner] == n {
			conn.Close()
			continue
		}
		perWorker[owner]++
		owners = append(owners, owner)
		conns = append(conns, conn)
	}
	return conns, owners
}

func (l *load) client(conn net.Conn, id, depth int) {
	defer l.wg.Done()
	defer conn.Close()
	r := bufio.NewReader(conn)
	var batch []byte
	want := make([]string, depth)
	done := 0
	fail := func(format string, args ...any) {
		l.mu.Lock()
		l.requests += done
		l.failed = append(l.failed, fmt.Sprintf("client %d after %d requests: ", id, done)+fmt.Sprintf(format, args...))
		l.mu.Unlock()
	}
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			l.mu.Lock()
			l.requests += done
			l.ok++
			l.mu.Unlock()
			return
		default:
		}
		batch = batch[:0]
		for j := range depth {
			seq := n*depth + j
			if seq%2 == 0 {
				v := fmt.Sprintf("c%d-%d", id, seq)
				batch = append(batch, testutil.EncodeCmd("SET", fmt.Sprintf("client:%d:%d", id, seq%100), v)...)
				want[j] = "+OK\r\n"
			} else {
				k := seq % sharedKeys
				v := "value-" + strconv.Itoa(k)
				batch = append(batch, testutil.EncodeCmd("GET", "shared:"+strconv.Itoa(k))...)
				want[j] = fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
			}
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(batch); err != nil {
			fail("write: %v", err)
			return
		}
		for j := range depth {
			got, err := testutil.ReadReply(r)
			if err != nil {
				fail("read: %v", err)
				return
			}
			if got != want[j] {
				fail("reply %q, want %q", got, want[j])
				return
			}
			done++
			l.answered.Add(1)
		}
	}
}

// dialer opens short connections (one PING each) until the load stops:
// none may be refused, reset or left unanswered.
func (l *load) dialer(addr string) {
	defer l.wg.Done()
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			l.mu.Lock()
			l.dials = n
			l.mu.Unlock()
			return
		default:
		}
		if !ping(addr) {
			l.mu.Lock()
			l.failed = append(l.failed, fmt.Sprintf("new connection %d: not served", n))
			l.mu.Unlock()
			return
		}
	}
}

// progress waits until n more replies have been checked.
func (l *load) progress(t *testing.T, n int64) {
	t.Helper()
	target := l.answered.Load() + n
	testutil.Eventually(t, 10*time.Second, func() bool { return l.answered.Load() >= target }, "load stalled")
}

// finish stops the load and returns the requests answered.
func (l *load) finish() (requests, ok int, failed []string) {
	close(l.stop)
	l.wg.Wait()
	return l.requests, l.ok, l.failed
}

// waitMetric polls /metrics until name reaches want.
func (m *master) waitMetric(t *testing.T, name string, want float64) {
	t.Helper()
	var got float64
	testutil.Eventually(t, 20*time.Second, func() bool {
		got = m.metric(t, name)
		return got >= want
	}, "%s is %v, want %v", name, got, want)
}

// TestReloadUnderLoad sends SIGHUP 20 times, cycling two valid
// configurations and an invalid one, under a steady load of persistent
// clients: no request fails, no connection closes, and the configuration
// in force at the end is the expected one.
func TestReloadUnderLoad(t *testing.T) {
	r1, r2, r3 := testutil.StartRedis(t), testutil.StartRedis(t), testutil.StartRedis(t)
	preload(t, r1, r2, r3)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	added := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	confA := fmt.Sprintf("global:\n  reload_timeout: 2000\np:\n  listen: %s\n  redis: true\n  hash: fnv1a_64\n  servers:\n   - %s:1 one\n   - %s:1 two\n",
		listen, r1.Addr, r2.Addr)
	confB := fmt.Sprintf("global:\n  reload_timeout: 2000\np:\n  listen: %s\n  redis: true\n  hash: md5\n  distribution: modula\n  timeout: 3000\n  servers:\n   - %s:1 two\n   - %s:1 three\nq:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n",
		listen, r2.Addr, r3.Addr, added, r1.Addr)
	invalid := fmt.Sprintf("p:\n  listen: %s\n  redis: maybe\n", listen)
	m := startMaster(t, confA, listen, "-n", "2")

	l := startLoad(t, listen, 16)
	valid := 0
	for i := range 20 {
		l.progress(t, 500)
		body := []string{confB, invalid, confA}[i%3]
		if err := os.WriteFile(m.conf+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(m.conf+".tmp", m.conf); err != nil {
			t.Fatal(err)
		}
		m.cmd.Process.Signal(syscall.SIGHUP)
		if body == invalid {
			m.waitMetric(t, `nutcracker_reloads_total{result="refused"}`, float64(i+1-valid))
			continue
		}
		valid++
		m.waitMetric(t, `nutcracker_reloads_total{result="ok"}`, float64(valid))
		// The added pool listens exactly when B is in force.
		if got := ping(added); got != (body == confB) {
			t.Errorf("reload %d: pool q answers: %v", i+1, got)
		}
	}
	requests, ok, failed := l.finish()
	for _, f := range failed {
		t.Error(f)
	}
	if requests < 1000 || ok != 16 {
		t.Errorf("%d requests answered, %d of 16 clients ran to the end", requests, ok)
	}
	// The 20th reload applied B (the 19th was refused).
	doc := m.document(t)
	if !strings.Contains(doc, `"two": {`) || !strings.Contains(doc, `"three": {`) || strings.Contains(doc, `"one": {`) {
		t.Errorf("configuration in force is not B: %s", doc)
	}
	t.Logf("%d requests and %d new connections across 20 reloads (%d valid)", requests, l.dials, valid)
}

// TestUpgradeUnderLoad runs three binary upgrades (SIGUSR2) under the
// same load: every worker is replaced each time, no request fails, no
// client connection closes, and the summed counters never go backwards.
func TestUpgradeUnderLoad(t *testing.T) {
	r1, r2 := testutil.StartRedis(t), testutil.StartRedis(t)
	preload(t, r1, r2)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := fmt.Sprintf("global:\n  reload_timeout: 3000\np:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n   - %s:1\n", listen, r1.Addr, r2.Addr)
	m := startMaster(t, conf, listen, "-n", "2")
	testutil.Eventually(t, 5*time.Second, func() bool { return len(m.workers(t)) == 2 }, "two workers")

	l := startLoad(t, listen, 16)
	var last int64
	monotonic := func() {
		doc := m.document(t)
		n := requests(doc)
		if n < last {
			t.Errorf("requests went back from %d to %d: %s", last, n, doc)
		}
		last = n
	}
	for round := 1; round <= 3; round++ {
		l.progress(t, 2000)
		before := m.workers(t)
		m.cmd.Process.Signal(syscall.SIGUSR2)
		testutil.Eventually(t, 20*time.Second, func() bool {
			monotonic()
			now := m.allWorkers(t)
			if len(now) != 2 {
				return false
			}
			for num, pids := range now {
				if len(pids) != 1 || before[num] == pids[0] {
					return false
				}
			}
			return true
		}, "upgrade %d: workers %v not all replaced", round, before)
	}
	requests, ok, failed := l.finish()
	for _, f := range failed {
		t.Error(f)
	}
	if requests < 1000 || ok != 16 {
		t.Errorf("%d requests answered, %d of 16 clients ran to the end", requests, ok)
	}
	monotonic()
	if last < int64(requests) {
		t.Errorf("stats count %d requests, the clients had %d answered", last, requests)
	}
	if name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", m.cmd.Process.Pid)); !strings.HasPrefix(string(name), "nutcracker master\x00") {
		t.Errorf("master's command line: %q", name)
	}
	t.Logf("%d requests and %d new connections across 3 upgrades", requests, l.dials)
}

// TestWorkerKilled kills a worker with SIGKILL under load: it is back
// within a second, and only the clients it served lose their connection.
func TestWorkerKilled(t *testing.T) {
	r1 := testutil.StartRedis(t)
	preload(t, r1)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", listen, r1.Addr)
	m := startMaster(t, conf, listen, "-n", "2")
	var ws map[int]int
	testutil.Eventually(t, 5*time.Second, func() bool { ws = m.workers(t); return len(ws) == 2 }, "two workers")
	victim := ws[1]
	conns, owners := spread(t, listen, []int{ws[1], ws[2]}, 8)
	onVictim := make(map[int]bool) // client index
	for i, owner := range owners {
		onVictim[i] = owner == victim
	}
	// No new connections while a worker is killed: one it accepted just
	// before would be reset with it, as the clients it serves are.
	l := startLoadOn(conns, false)
	l.progress(t, 2000)

	killed := time.Now()
	syscall.Kill(victim, syscall.SIGKILL)
	testutil.Eventually(t, 5*time.Second, func() bool {
		pid, ok := m.workers(t)[1]
		return ok && pid != victim
	}, "worker 1 not started again")
	if d := time.Since(killed); d > time.Second {
		t.Errorf("worker 1 back after %v", d)
	}
	for range 20 { // both workers accept
		if !ping(listen) {
			t.Fatal("a new connection is not served")
		}
	}
	_, ok, failed := l.finish()
	if len(failed) != 8 || ok != 8 {
		t.Errorf("%d clients failed, %d ran to the end: want the killed worker's 8 clients and only them to fail", len(failed), ok)
	}
	for _, f := range failed {
		// A client of the killed worker that lost its connection, never a
		// wrong reply.
		var id int
		fmt.Sscanf(f, "client %d ", &id)
		if !onVictim[id] || !strings.Contains(f, "read: ") && !strings.Contains(f, "write: ") {
			t.Error(f)
		}
	}
	if got := m.metric(t, `nutcracker_worker_restarts_total{worker="1"}`); got != 1 {
		t.Errorf("restarts of worker 1: %v", got)
	}
}

// TestPinning runs -n 2 -M 3: every thread of worker 1 may run on cpu 0
// only, every thread of worker 2 on cpu 1 only; the master is not pinned.
func TestPinning(t *testing.T) {
	m := startPinned(t, "-n", "2", "-M", "3")
	m.waitServing(t)
	ws := m.workers(t)
	if len(ws) != 2 {
		t.Fatalf("workers: %v", ws)
	}
	for num, pid := range ws {
		for task, cpus := range threadCPUs(t, pid) {
			if cpus != strconv.Itoa(num-1) {
				t.Errorf("worker %d thread %s: Cpus_allowed_list %s, want %d", num, task, cpus, num-1)
			}
		}
	}
	if cpus := threadCPUs(t, m.cmd.Process.Pid); !strings.HasPrefix(cpus[strconv.Itoa(m.cmd.Process.Pid)], "0-") {
		t.Errorf("master pinned: %v", cpus)
	}
}

// startPinned runs the binary with args (-n and -M) on a pool whose
// server need not be up, on a machine with 2 cpus or more.
func startPinned(t *testing.T, args ...string) *master {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cpus")
	}
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n", listen)
	return startMaster(t, conf, listen, args...)
}

var cpusAllowedRe = regexp.MustCompile(`(?m)^Cpus_allowed_list:\s*(\S+)$`)

// threadCPUs returns the Cpus_allowed_list of every thread of pid.
func threadCPUs(t *testing.T, pid int) map[string]string {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	cpus := make(map[string]string)
	for _, task := range tasks {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if m := cpusAllowedRe.FindStringSubmatch(string(status)); m != nil {
			cpus[task.Name()] = m[1]
		}
	}
	return cpus
}

// TestGracefulStop: SIGTERM lets a request in progress finish, then
// closes the client (no handover is tried, so none fails in the log),
// removes the pid file and leaves no worker behind.
func TestGracefulStop(t *testing.T) {
	for _, n := range []string{"2", "0"} {
		t.Run("-n "+n, func(t *testing.T) { testGracefulStop(t, n) })
	}
}

func testGracefulStop(t *testing.T, n string) {
	r1 := testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", listen, r1.Addr)
	pidFile := filepath.Join(t.TempDir(), "nc.pid")
	m := startMaster(t, conf, listen, "-n", n, "-p", pidFile)
	var ws map[int]int
	testutil.Eventually(t, 5*time.Second, func() bool { ws = m.workers(t); return strconv.Itoa(len(ws)) == n }, "%s workers", n)
	c := testutil.Dial(t, listen)
	if got := c.Do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	r1.Pause()
	c.Cmd("GET", "k") // held by the paused server
	testutil.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(m.document(t), `"out_queue":1`)
	}, "request out")
	m.cmd.Process.Signal(syscall.SIGTERM)
	r1.Resume()
	if got := c.Reply(); got != "$1\r\nv\r\n" {
		t.Errorf("request in progress at SIGTERM: %q", got)
	}
	if !c.Closed(5 * time.Second) {
		t.Error("client not closed after its reply")
	}
	if st := waitExit(t, m.exited); st != nil {
		t.Fatalf("after SIGTERM: %v", st)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left: %v", err)
	}
	for num, pid := range ws {
		if alive(pid) {
			t.Errorf("worker %d (pid %d) still runs", num, pid)
		}
	}
	log, err := os.ReadFile(m.logFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "not handed over") || !strings.Contains(string(log), "closed client "+c.Conn.LocalAddr().String()) {
		t.Errorf("log of a graceful stop:\n%s", log)
	}
}

// TestPinningOneProcess runs -n 0 -M 2: one process, no worker, every
// thread on cpu 1.
func TestPinningOneProcess(t *testing.T) {
	m := startPinned(t, "-n", "0", "-M", "2")
	if ws := m.workers(t); len(ws) != 0 {
		t.Errorf("workers under -n 0: %v", ws)
	}
	for task, cpus := range threadCPUs(t, m.cmd.Process.Pid) {
		if cpus != "1" {
			t.Errorf("thread %s: Cpus_allowed_list %s, want 1", task, cpus)
		}
	}
}

// TestCrashLoop kills worker 1 each time it comes back: the first restart
// is immediate, the next ones wait longer and longer, and the log says so.
func TestCrashLoop(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n", listen)
	m := startMaster(t, conf, listen, "-n", "2")
	m.waitServing(t) // a worker dying before the master's start is over ends the master
	var pid int
	testutil.Eventually(t, 5*time.Second, func() bool { pid = m.workers(t)[1]; return pid != 0 }, "worker 1")
	var delays []time.Duration
	for range 4 {
		victim := pid
		syscall.Kill(victim, syscall.SIGKILL)
		killed := time.Now()
		testutil.Eventually(t, 10*time.Second, func() bool {
			pid = m.workers(t)[1]
			return pid != 0 && pid != victim
		}, "worker 1 not back")
		delays = append(delays, time.Since(killed))
	}
	if delays[0] > time.Second || delays[2] < 450*time.Millisecond || delays[3] < 900*time.Millisecond {
		t.Errorf("restart delays %v: want the first at once, then 250ms, 500ms, 1s", delays)
	}
	waitFile(t, m.logFile, contains("crash loop, restarting in 1s"), "crash loop")
	if got := m.metric(t, `nutcracker_worker_restarts_total{worker="1"}`); got != 4 {
		t.Errorf("restarts of worker 1: %v", got)
	}
}

// statsFileConf is a redis pool on listen whose server need not be up,
// with stats dumped to file every 50 ms.
func statsFileConf(listen, file string) string {
	return fmt.Sprintf("global:\n  stats_duration: 50\n  stats_file: %s\np:\n  listen: %s\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n",
		file, listen)
}

// newDocuments waits for n documents appended to file after offset and
// returns them.
func newDocuments(t *testing.T, file string, offset, n int) []string {
	t.Helper()
	var docs []string
	waitFile(t, file, func(content string) bool {
		docs = strings.SplitAfter(content[min(offset, len(content)):], "\n")
		docs = docs[:len(docs)-1] // after the last newline
		return len(docs) >= n
	}, "stats documents")
	return docs
}

var workerStatsLine = regexp.MustCompile(`worker \d+: stats: \{`)

// TestStatsFileSummed: with two workers the master alone dumps the stats
// document, and its counters are the sum of both workers' (their clients'
// connections); no worker dumps its share.
func TestStatsFileSummed(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	file := filepath.Join(t.TempDir(), "twstats.log")
	m := startMaster(t, statsFileConf(listen, file), listen, "-n", "2")
	m.waitServing(t)
	ws := m.workers(t)
	conns, _ := spread(t, listen, []int{ws[1], ws[2]}, 2)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	testutil.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(m.document(t), `"client_connections":4`)
	}, "the four clients are not counted")
	offset := len(waitFile(t, file, contains("}\n"), "a first document"))
	// The first new document may have been summed before the last client
	// came; the next ones after it.
	for i, doc := range newDocuments(t, file, offset, 4)[1:] {
		if !strings.Contains(doc, `"client_connections":4`) || !strings.Contains(doc, `"version":"`+testVersion+`"`) {
			t.Errorf("document %d is not the sum over both workers: %s", i+1, doc)
		}
	}
	log, _ := os.ReadFile(m.logFile)
	if !strings.Contains(string(log), "stats: {") || workerStatsLine.Match(log) {
		t.Errorf("the stats lines of the log are not all the master's:\n%s", log)
	}
}

// TestStatsFileOneProcess: with -n 0 the one process dumps its document.
func TestStatsFileOneProcess(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	file := filepath.Join(t.TempDir(), "twstats.log")
	startMaster(t, statsFileConf(listen, file), listen, "-n", "0")
	c := testutil.Dial(t, listen)
	if got := c.Do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}
	doc := waitFile(t, file, contains(`"client_connections":1`), "a document with the client")
	if !strings.Contains(doc, `"version":"`+testVersion+`"`) {
		t.Errorf("version in the document: %s", doc)
	}
}

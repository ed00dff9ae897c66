//go:build linux

// Package supervisor is the master process of nutcracker's master and
// worker processes (bilitw's model, without its flaws); a worker's own
// life is internal/worker.
//
// The master opens every listening socket once and passes copies to the
// workers, so a worker that stops accepting never closes an accept queue.
// It never proxies traffic. It starts the workers (pinned to cores when
// asked), restarts a crashed one with backoff, re-reads and checks the
// configuration on SIGHUP and has every worker apply it in place, and
// serves one stats document summed over its workers, keeping the final
// counts of the workers that exited so that no counter goes backwards.
//
// A binary upgrade (SIGUSR2) re-executes the master from the executable on
// disk in the same process, keeping the listening sockets, the stats
// socket and the control channels of the running workers; the new master
// starts a new generation of workers, then has the old ones hand every
// client connection over, at a request boundary and with its unparsed
// bytes, through the master to a new worker.
//
// Each worker has a control channel to the master (internal/control),
// and dies with the master: its parent-death signal is tied to the master
// thread that forked it, so all forks and the re-exec happen on one
// locked thread.
//
// # Locks
//
// Master.mu guards the workers' table (slots, old, backoff, stopping,
// upgrading), the configuration in force, the listening sockets and each
// proc's keys. Master.statsMu guards what the stats view keeps: retired,
// summing, frozen, and each proc's last and final. statsMu may be held
// when mu is taken (document lists the workers), never the reverse.
// drainListener.mu guards its count of open connections and is taken
// under no other lock; the write lock of a control.Conn serializes the
// frames of one channel and is the only lock held across a socket write.
//
// Nothing that waits runs under these locks: no fork or exec, no write to
// a control channel, no wait for a worker, a reply or a timer. The system
// calls made under mu return at once (opening, binding, copying and
// closing listening sockets). A summing of the workers' counters is
// marked in summing, not held under a lock, and the others wait on its
// channel.
package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/control"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/sockets"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// MasterName and workerName are the process names ps shows.
const (
	MasterName = "nutcracker master"
	workerName = "nutcracker worker "
)

// Options are the master's settings from the command line.
type Options struct {
	Config    *config.Config // loaded and checked
	Workers   int
	CoreMask  uint64 // 0: no pinning
	MbufSize  int
	Version   string
	StatsAddr string   // host:port
	Args      []string // the command line after argv[0], given to workers as is
}

// Timing of the master's dealings with workers.
const (
	readyTimeout = 10 * time.Second       // a new worker serves
	ackTimeout   = 10 * time.Second       // a worker applied a reload
	statsTimeout = 500 * time.Millisecond // a worker answers a stats query
	statsPoll    = time.Second            // how fresh a crashed worker's last counts are
	stableRun    = 10 * time.Second       // a worker that ran this long did not crash-loop
	maxBackoff   = 30 * time.Second
	killSlack    = 2 * time.Second // past the shutdown grace, before SIGKILL
)

// Master is the master process.
type Master struct {
	opts  Options
	exe   string // the executable's path when first started: the one an upgrade runs
	start time.Time

	spawnQ chan func() // runs on the spawner thread

	mu        sync.Mutex
	cfg       *config.Config
	listeners map[string][]int // sockets.Key -> sockets, one per worker or one shared (sockets.ListenGroup)
	slots     []*proc          // the current generation, by worker number - 1
	old       map[*proc]bool   // workers handing over or stopping
	backoff   []time.Duration
	stopping  bool
	upgrading bool

	statsMu sync.Mutex      // guards retired, summing, frozen, proc.last and proc.final
	retired *stats.Snapshot // final counts of the workers that exited
	summing chan struct{}   // closed when the summing in progress ends; nil when none
	frozen  bool            // an upgrade takes the counts: the workers are not asked

	statsLn *drainListener
	statsFD int
	port    *stats.Port
	dumper  *stats.Dumper // stats_file; nil without global:

	done chan struct{} // closed by Shutdown
	wg   sync.WaitGroup

	handed atomic.Uint64 // clients forwarded, for turns

	restarts *prometheus.CounterVec
	reloads  *stats.Reloads
	running  prometheus.GaugeFunc
}

// proc is one worker process as the master sees it.
type proc struct {
	num     int
	pid     int
	ctl     *control.Conn
	started time.Time
	keys    map[string]bool // listeners it has; guarded by Master.mu

	ready     chan struct{}
	readyOnce sync.Once
	acks      chan *control.Message // reload replies
	replies   chan *control.Message // stats replies

	last  *stats.Snapshot // guarded by Master.statsMu
	final bool            // its counts are in retired; guarded by Master.statsMu

	pausing atomic.Bool   // an upgrade stops the reader
	paused  chan struct{} // the reader stopped for it

	readerDone chan struct{}
	exited     chan struct{}
}

// Start opens the listening sockets and the stats socket, starts the
// workers and serves stats; or, in a master re-executed by an upgrade,
// takes them over from the previous master and replaces its workers.
func Start(opts Options) (*Master, error) {
	m := &Master{
		opts:      opts,
		start:     time.Now(),
		spawnQ:    make(chan func()),
		cfg:       opts.Config,
		listeners: make(map[string][]int),
		old:       make(map[*proc]bool),
		slots:     make([]*proc, opts.Workers),
		backoff:   make([]time.Duration, opts.Workers),
		retired:   &stats.Snapshot{},
		statsFD:   -1,
		done:      make(chan struct{}),
	}
	m.restarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nutcracker_worker_restarts_total", Help: "Workers started again after they exited unasked.",
	}, []string{"worker"})
	// Every worker's series from the start: increase() misses a first restart otherwise.
	for num := 1; num <= opts.Workers; num++ {
		m.restarts.WithLabelValues(strconv.Itoa(num))
	}
	m.reloads = stats.NewReloads()
	m.running = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "nutcracker_workers", Help: "Worker processes serving.",
	}, func() float64 { return float64(m.liveWorkers()) })
	go m.runSpawner()

	var err error
	if fd, ok := upgradeFD(); ok {
		err = m.resume(fd)
	} else {
		err = m.open()
	}
	if err != nil {
		m.closeSockets()
		return nil, err
	}
	m.serveStats()
	m.wg.Go(m.pollStats)
	if g := m.cfg.Global; g.Present && g.StatsDuration > 0 {
		m.dumper = stats.StartDumper(g.StatsDuration, g.StatsFile, m.document)
	}
	return m, nil
}

// serveStats serves the summed document on m.statsLn.
func (m *Master) serveStats() {
	m.port = stats.StartPort(m.statsLn, m.document, m.health, m.restarts, m.reloads, m.running)
}

// open makes the sockets and starts the first generation.
func (m *Master) open() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find executable: %w", err)
	}
	m.exe = exe
	if err := m.openListeners(m.cfg); err != nil {
		return err
	}
	fd, err := sockets.ListenFD(config.Listen{Network: "tcp", Addr: m.opts.StatsAddr}, 0)
	if err != nil {
		return fmt.Errorf("stats: listen on %s: %w", m.opts.StatsAddr, err)
	}
	m.statsFD = fd
	if m.statsLn, err = newDrainListener(fd); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	for i := range m.slots {
		if err := m.startWorker(i + 1); err != nil {
			return err
		}
	}
	return m.waitReady(m.current())
}

// openListeners opens the sockets of cfg's pools that are not open yet.
func (m *Master) openListeners(cfg *config.Config) error {
	for _, pc := range cfg.Pools {
		key := sockets.Key(pc.Listen)
		if _, ok := m.listeners[key]; ok {
			continue
		}
		fds, err := sockets.ListenGroup(pc.Listen, pc.Backlog, m.opts.Workers)
		if err != nil {
			return fmt.Errorf("pool %s: listen on %s: %w", pc.Name, pc.Listen.Addr, err)
		}
		m.listeners[key] = fds
	}
	return nil
}

// closeUnused closes the sockets no pool of cfg listens on; the workers
// closed their copies when they applied cfg. m.mu is held.
func (m *Master) closeUnused(cfg *config.Config) {
	used := make(map[string]bool)
	for _, pc := range cfg.Pools {
		used[sockets.Key(pc.Listen)] = true
	}
	for key, fds := range m.listeners {
		if !used[key] {
			closeListener(key, fds)
			delete(m.listeners, key)
			for _, p := range m.currentLocked() {
				delete(p.keys, key)
			}
		}
	}
}

// socketOf is worker num's socket of a listener group.
func socketOf(fds []int, num int) int { return fds[(num-1)%len(fds)] }

// closeListener closes a listener's sockets and removes a unix socket's
// file.
func closeListener(key string, fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
	if path, ok := strings.CutPrefix(key, "unix:"); ok {
		os.Remove(path)
	}
}

// drainListener is the stats listener: it counts the connections it
// accepted that are still open, so that an upgrade can let them finish
// before the exec closes them; those not accepted yet wait in the socket,
// which the new master keeps.
type drainListener struct {
	net.Listener

	mu   sync.Mutex
	open int           // accepted connections not closed yet
	idle chan struct{} // closed when open falls to 0 during waitIdle
}

// newDrainListener listens on a copy of fd, which stays the master's.
func newDrainListener(fd int) (*drainListener, error) {
	// An *os.File closes its descriptor when collected: it gets a copy.
	dup, err := unix.FcntlInt(uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	f := os.NewFile(uintptr(dup), "stats") // non-blocking: Fd is never called
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	return &drainListener{Listener: ln}, nil
}

func (l *drainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.mu.Unlock()
	return &drainConn{Conn: c, done: l.connClosed}, nil
}

func (l *drainListener) connClosed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open--; l.open == 0 && l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
}

// waitIdle waits up to d for the connections accepted to be closed; call
// it once the listener is closed and accepts no more.
func (l *drainListener) waitIdle(d time.Duration) {
	l.mu.Lock()
	if l.open == 0 {
		l.mu.Unlock()
		return
	}
	idle := make(chan struct{})
	l.idle = idle
	l.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
	}
}

type drainConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *drainConn) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

// runSpawner runs forks and the upgrade's exec on one thread that never
// exits: a worker's parent-death signal fires when the thread that forked
// it ends, and an exec ends every thread but the caller's.
func (m *Master) runSpawner() {
	runtime.LockOSThread()
	for f := range m.spawnQ {
		f()
	}
}

func (m *Master) onSpawner(f func()) {
	done := make(chan struct{})
	m.spawnQ <- func() { f(); close(done) }
	<-done
}

// startWorker starts worker num of the current generation.
func (m *Master) startWorker(num int) error {
	var err error
	m.onSpawner(func() { err = m.spawn(num) })
	return err
}

// spawn forks and executes worker num and sends it the configuration;
// it runs on the spawner thread. Its slot stays empty until it is forked:
// the configuration it starts with and the sockets it inherits are taken
// under m.mu (the sockets as copies, which a reload cannot close under
// the fork), and a reload that came in the meantime is sent to it after
// its start.
func (m *Master) spawn(num int) error {
	ctl, childEnd, err := control.Pair()
	if err != nil {
		return err
	}
	defer childEnd.Close()
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		ctl.Close()
		return errors.New("stopping")
	}
	cfg := m.cfg
	socks, err := m.copySocketsLocked(num, nil)
	m.mu.Unlock()
	if err != nil {
		ctl.Close()
		return fmt.Errorf("start worker %d: %w", num, err)
	}
	defer socks.close()
	// Descriptors 0-2 as ours, 3 the control channel, then the sockets.
	files := []uintptr{0, 1, 2, childEnd.Fd()}
	inherited := make(map[string]int)
	keys := make(map[string]bool)
	for key, fd := range socks {
		inherited[key] = len(files)
		keys[key] = true
		files = append(files, uintptr(fd))
	}
	lns, _ := json.Marshal(inherited)
	env := append(cleanEnv(),
		control.EnvWorker+"="+strconv.Itoa(num),
		control.EnvListeners+"="+string(lns))
	if os.Getenv("GOMAXPROCS") == "" {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(m.procsPerWorker()))
	}
	argv := append([]string{workerName + strconv.Itoa(num)}, m.opts.Args...)
	attr := &syscall.ProcAttr{Env: env, Files: files, Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	restore, err := m.pin(num)
	if err != nil {
		ctl.Close()
		return err
	}
	pid, err := syscall.ForkExec(m.exe, argv, attr)
	restore()
	childEnd.Close() // the worker's now: a send fails if it dies
	if err != nil {
		ctl.Close()
		return fmt.Errorf("start worker %d: %w", num, err)
	}
	p := newProc(num, pid, ctl)
	p.keys = keys
	if err := ctl.Send(&control.Message{Type: control.MsgStart, File: cfg.File, Config: cfg.Data}, -1); err != nil {
		logging.Errorf("worker %d: %v", num, err)
	}

	m.mu.Lock()
	stopping, next := m.stopping, m.cfg
	var late socketCopies
	if !stopping {
		m.slots[num-1] = p
		if next != cfg {
			if late, err = m.copySocketsLocked(num, p.keys); err != nil {
				logging.Errorf("worker %d: %v", num, err)
			}
			for key := range late {
				p.keys[key] = true
			}
		}
	}
	m.mu.Unlock()
	m.watch(p)
	if stopping {
		syscall.Kill(pid, syscall.SIGKILL)
		return errors.New("stopping")
	}
	logging.Noticef("worker %d started, pid %d", num, pid)
	if next != cfg {
		m.sendReload(p, late, next)
		late.close()
	}
	return nil
}

// socketCopies are copies of listening sockets by sockets.Key, made for
// a worker; the master closes them once the worker has its own.
type socketCopies map[string]int

// copySocketsLocked copies worker num's socket of every listener but
// those in have. m.mu is held.
func (m *Master) copySocketsLocked(num int, have map[string]bool) (socketCopies, error) {
	c := make(socketCopies)
	for key, fds := range m.listeners {
		if have[key] {
			continue
		}
		fd, err := unix.FcntlInt(uintptr(socketOf(fds, num)), syscall.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("copy listening socket %s: %w", key, err)
		}
		c[key] = fd
	}
	return c, nil
}

func (c socketCopies) close() {
	for _, fd := range c {
		syscall.Close(fd)
	}
}

// sendReload sends p the listening sockets it lacks, by key, then cfg to
// apply.
func (m *Master) sendReload(p *proc, socks map[string]int, cfg *config.Config) {
	for key, fd := range socks {
		if err := p.ctl.Send(&control.Message{Type: control.MsgListener, Key: key}, fd); err != nil {
			logging.Errorf("worker %d: %v", p.num, err)
		}
	}
	if err := p.ctl.Send(&control.Message{Type: control.MsgReload, File: cfg.File, Config: cfg.Data}, -1); err != nil {
		logging.Errorf("worker %d: %v", p.num, err)
	}
}

func newProc(num, pid int, ctl *control.Conn) *proc {
	return &proc{
		num: num, pid: pid, ctl: ctl, started: time.Now(),
		keys:       make(map[string]bool),
		ready:      make(chan struct{}),
		acks:       make(chan *control.Message, 1),
		replies:    make(chan *control.Message, 1),
		paused:     make(chan struct{}),
		readerDone: make(chan struct{}),
		exited:     make(chan struct{}),
	}
}

// procsPerWorker is a worker's GOMAXPROCS: one core when pinned, else its
// share of the machine's.
func (m *Master) procsPerWorker() int {
	if m.opts.CoreMask != 0 {
		return 1
	}
	return max(1, runtime.NumCPU()/m.opts.Workers)
}

// pin sets the spawner thread's affinity to worker num's core, so that
// the worker and every thread it makes inherit it; restore puts it back.
func (m *Master) pin(num int) (restore func(), err error) {
	if m.opts.CoreMask == 0 {
		return func() {}, nil
	}
	cpu := nthSetBit(m.opts.CoreMask, num-1)
	var saved, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &saved); err != nil {
		return nil, fmt.Errorf("pin worker %d: %w", num, err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("pin worker %d to cpu %d: %w", num, cpu, err)
	}
	return func() { unix.SchedSetaffinity(0, &saved) }, nil
}

// nthSetBit returns the position of the n-th (from 0) set bit of mask.
func nthSetBit(mask uint64, n int) int {
	for ; n > 0; n-- {
		mask &= mask - 1
	}
	return bits.TrailingZeros64(mask)
}

// cleanEnv is the environment without the variables the master sets.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case control.EnvWorker, control.EnvListeners, envUpgrade:
			continue
		}
		env = append(env, kv)
	}
	return env
}

// watch starts the goroutines that read a worker's control channel and
// wait for its exit.
func (m *Master) watch(p *proc) {
	go m.readCtl(p)
	go func() {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(p.pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		<-p.readerDone // its last messages (clients handed over, final counts) are read
		m.exited(p, ws)
	}()
}

// readCtl acts on a worker's messages until its channel closes.
func (m *Master) readCtl(p *proc) {
	for {
		msg, err := p.ctl.Recv()
		if err != nil {
			if p.pausing.Load() {
				p.paused <- struct{}{}
				return
			}
			close(p.readerDone)
			return
		}
		switch msg.Type {
		case control.MsgReady:
			p.readyOnce.Do(func() { close(p.ready) })
		case control.MsgReloaded:
			select {
			case p.acks <- msg:
			default:
			}
		case control.MsgStats:
			if msg.Final {
				m.statsMu.Lock()
				if !p.final {
					m.retired.Merge(msg.Stats.WithoutGauges())
					p.final = true
				}
				m.statsMu.Unlock()
				continue
			}
			select {
			case p.replies <- msg:
			default:
			}
		case control.MsgClient:
			m.forward(msg)
		}
	}
}

// forward gives a handed-over client to a worker of the current
// generation, in turn.
func (m *Master) forward(msg *control.Message) {
	defer syscall.Close(msg.FD)
	m.mu.Lock()
	var targets []*proc
	for _, p := range m.slots {
		if p != nil && !m.old[p] {
			targets = append(targets, p)
		}
	}
	m.mu.Unlock()
	if len(targets) == 0 {
		logging.Warnf("no worker to take a client of pool %s: closed", msg.Pool)
		return
	}
	p := targets[int(m.handed.Add(1))%len(targets)]
	fwd := &control.Message{Type: control.MsgClient, Pool: msg.Pool, Unparsed: msg.Unparsed,
		Authed: msg.Authed, Dialect: msg.Dialect, Name: msg.Name}
	if err := p.ctl.Send(fwd, msg.FD); err != nil {
		logging.Warnf("worker %d: %v: client of pool %s closed", p.num, err, msg.Pool)
	}
}

// exited accounts for a worker that ended and restarts it when it was not
// asked to end.
func (m *Master) exited(p *proc, ws syscall.WaitStatus) {
	m.statsMu.Lock()
	if !p.final {
		if p.last != nil {
			m.retired.Merge(p.last.WithoutGauges())
		}
		p.final = true
	}
	m.statsMu.Unlock()
	close(p.exited)
	p.ctl.Close()

	m.mu.Lock()
	asked := m.old[p] || m.stopping
	delete(m.old, p)
	restart := !asked && m.slots[p.num-1] == p
	var delay time.Duration
	if restart {
		m.slots[p.num-1] = nil
		i := p.num - 1
		if time.Since(p.started) >= stableRun {
			m.backoff[i] = 0
		}
		delay = m.backoff[i]
		m.backoff[i] = min(maxBackoff, max(250*time.Millisecond, 2*delay))
	}
	m.mu.Unlock()
	switch {
	case asked:
		logging.Noticef("worker %d (pid %d) %s", p.num, p.pid, describeStatus(ws))
		return
	case !restart:
		return
	case delay > 0:
		logging.Logf(logging.Alert, "worker %d (pid %d) %s after %v: crash loop, restarting in %v",
			p.num, p.pid, describeStatus(ws), time.Since(p.started).Round(time.Millisecond), delay)
	default:
		logging.Logf(logging.Alert, "worker %d (pid %d) %s: restarting", p.num, p.pid, describeStatus(ws))
	}
	m.restarts.WithLabelValues(strconv.Itoa(p.num)).Inc()
	time.AfterFunc(delay, func() { m.respawn(p.num) })
}

// respawn starts worker num again unless it is running or the master stops.
func (m *Master) respawn(num int) {
	m.mu.Lock()
	skip := m.stopping || m.slots[num-1] != nil
	if m.upgrading { // the new master starts every worker
		skip = true
	}
	m.mu.Unlock()
	if skip {
		return
	}
	if err := m.startWorker(num); err != nil {
		logging.Errorf("%v", err)
		m.mu.Lock()
		delay := m.backoff[num-1]
		m.backoff[num-1] = min(maxBackoff, max(250*time.Millisecond, 2*delay))
		m.mu.Unlock()
		time.AfterFunc(max(delay, 250*time.Millisecond), func() { m.respawn(num) })
	}
}

func describeStatus(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	case ws.Exited():
		return "exited with status " + strconv.Itoa(ws.ExitStatus())
	}
	return fmt.Sprintf("ended (status %#x)", uint32(ws))
}

// current returns the workers of the current generation that run.
func (m *Master) current() []*proc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.currentLocked()
}

func (m *Master) currentLocked() []*proc {
	var ps []*proc
	for _, p := range m.slots {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// everyLocked returns the current generation and the workers leaving.
func (m *Master) everyLocked() []*proc {
	ps := m.currentLocked()
	for p := range m.old {
		ps = append(ps, p)
	}
	return ps
}

// waitReady waits until every worker of ps serves.
func (m *Master) waitReady(ps []*proc) error {
	deadline := time.After(readyTimeout)
	for _, p := range ps {
		select {
		case <-p.ready:
		case <-p.exited:
			return fmt.Errorf("worker %d (pid %d) exited while starting", p.num, p.pid)
		case <-deadline:
			return fmt.Errorf("worker %d (pid %d) not serving after %v", p.num, p.pid, readyTimeout)
		}
	}
	return nil
}

func (m *Master) liveWorkers() int {
	n := 0
	for _, p := range m.current() {
		select {
		case <-p.ready:
			n++
		default:
		}
	}
	return n
}

// health is the stats port's /healthz: every worker serves, and every
// sentinel group has a master known to the workers.
func (m *Master) health() error {
	if n := m.liveWorkers(); n < m.opts.Workers {
		return fmt.Errorf("%d of %d workers serving", n, m.opts.Workers)
	}
	if down := m.document().GroupsDown(); len(down) > 0 {
		return fmt.Errorf("no master known for sentinel groups %s", strings.Join(down, ", "))
	}
	return nil
}

// Reload re-reads the configuration; when it is valid every worker
// applies it in place (new sockets are opened here first, the sockets of
// removed pools are closed once every worker let go of them). An invalid
// file is logged and counted, and the running configuration stays.
func (m *Master) Reload() {
	cfg, err := config.Load(m.cfg.File)
	if err != nil {
		logging.Errorf("reload refused, the running configuration stays: %v", err)
		m.reloads.Count(stats.ReloadRefused)
		return
	}
	for _, w := range cfg.Warnings {
		logging.Warnf("%s", w)
	}
	m.mu.Lock()
	if err := m.openListeners(cfg); err != nil {
		m.closeUnused(m.cfg)
		m.mu.Unlock()
		logging.Errorf("reload refused, the running configuration stays: %v", err)
		m.reloads.Count(stats.ReloadRefused)
		return
	}
	m.cfg = cfg
	ps := m.currentLocked()
	// The sockets are sent as they are, not copied: only Reload and
	// Shutdown close listening sockets, and they run one after the other.
	grants := make(map[*proc]map[string]int)
	for _, p := range ps {
		grants[p] = make(map[string]int)
		for key, fds := range m.listeners {
			if !p.keys[key] {
				grants[p][key] = socketOf(fds, p.num)
				p.keys[key] = true
			}
		}
	}
	m.mu.Unlock()

	failed := false
	for _, p := range ps {
		for len(p.acks) > 0 {
			<-p.acks
		}
		m.sendReload(p, grants[p], cfg)
	}
	for _, p := range ps {
		select {
		case ack := <-p.acks:
			if ack.Error != "" {
				logging.Errorf("worker %d: reload: %s", p.num, ack.Error)
				failed = true
			}
		case <-p.exited:
		case <-time.After(ackTimeout):
			logging.Errorf("worker %d: no reload reply after %v", p.num, ackTimeout)
			failed = true
		}
	}
	m.mu.Lock()
	m.closeUnused(cfg)
	m.mu.Unlock()
	if failed {
		m.reloads.Count(stats.ReloadPartial)
		return
	}
	m.reloads.Count(stats.ReloadOK)
	logging.Noticef("configuration reloaded by %d workers: %d pools", len(ps), len(cfg.Pools))
}

// Reopen has every worker reopen the log file.
func (m *Master) Reopen() { m.broadcast(&control.Message{Type: control.MsgReopen}) }

// Level has every worker raise (delta > 0) or lower its log level.
func (m *Master) Level(delta int) {
	m.broadcast(&control.Message{Type: control.MsgLevel, Delta: delta})
}

func (m *Master) broadcast(msg *control.Message) {
	for _, p := range m.current() {
		if err := p.ctl.Send(msg, -1); err != nil {
			logging.Errorf("worker %d: %v", p.num, err)
		}
	}
}

// grace is how long stopping workers may take: reload_timeout.
func (m *Master) grace() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.Global.Grace()
}

// Shutdown stops every worker gracefully: each stops accepting and closes
// its clients at a request boundary, within reload_timeout; then the
// sockets are closed. Workers still running after that are killed.
func (m *Master) Shutdown() {
	grace := m.grace()
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return
	}
	m.stopping = true
	ps := m.everyLocked()
	m.mu.Unlock()
	close(m.done)
	m.dumper.Stop()
	for _, p := range ps {
		p.ctl.Send(&control.Message{Type: control.MsgStop, Delta: int(grace / time.Millisecond)}, -1)
	}
	deadline := time.After(grace + killSlack)
	for _, p := range ps {
		select {
		case <-p.exited:
		case <-deadline:
			logging.Errorf("worker %d (pid %d) still running after %v: killed", p.num, p.pid, grace)
			syscall.Kill(p.pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	m.closeSockets()
	m.port.Wait()
	m.wg.Wait()
}

func (m *Master) closeSockets() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, fds := range m.listeners {
		closeListener(key, fds)
	}
	m.listeners = map[string][]int{}
	if m.statsLn != nil {
		m.statsLn.Close()
	}
	if m.statsFD >= 0 {
		syscall.Close(m.statsFD)
		m.statsFD = -1
	}
}

// document is the stats view: the sum of every worker's counters and of
// the final counters of the workers that exited. One summing runs at a
// time, and each caller gets one that started after its call: one that
// comes during another waits for it to end first.
func (m *Master) document() *stats.Process {
	m.statsMu.Lock()
	m.waitSummingLocked()
	if m.frozen {
		defer m.statsMu.Unlock()
		return m.sumLocked(nil, nil)
	}
	done := make(chan struct{})
	m.summing = done
	var ps []*proc
	m.mu.Lock()
	for _, p := range m.everyLocked() {
		if !p.final {
			ps = append(ps, p)
		}
	}
	m.mu.Unlock()
	m.statsMu.Unlock()

	// The workers are asked all at once: one slow worker costs one
	// timeout, not one each.
	replies := make([]*stats.Snapshot, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { replies[i] = query(p) })
	}
	wg.Wait()

	m.statsMu.Lock()
	doc := m.sumLocked(ps, replies)
	m.summing = nil
	m.statsMu.Unlock()
	close(done)
	return doc
}

// waitSummingLocked returns when no summing is in progress; m.statsMu is
// held, and released while it waits.
func (m *Master) waitSummingLocked() {
	for m.summing != nil {
		done := m.summing
		m.statsMu.Unlock()
		<-done
		m.statsMu.Lock()
	}
}

// sumLocked keeps the replies of ps (nil: none in time) as their last
// counts, then sums the last counts of the workers that run and the final
// counts of those that exited. A worker that exited since it was asked
// counts by its final counts only. m.statsMu is held.
func (m *Master) sumLocked(ps []*proc, replies []*stats.Snapshot) *stats.Process {
	for i, p := range ps {
		if replies[i] != nil && !p.final {
			p.last = replies[i]
		}
	}
	m.mu.Lock()
	every := m.everyLocked()
	m.mu.Unlock()
	sum := &stats.Snapshot{}
	for _, p := range every {
		if !p.final && p.last != nil {
			sum.Merge(p.last)
		}
	}
	sum.AddExisting(m.retired)
	host, _ := os.Hostname()
	return sum.Process(host, m.opts.Version, m.start)
}

// query asks p for its counters; nil when it does not answer in time or
// exits. Only the summing in progress asks.
func query(p *proc) *stats.Snapshot {
	for len(p.replies) > 0 { // a late reply to an earlier query
		<-p.replies
	}
	if err := p.ctl.Send(&control.Message{Type: control.MsgStats}, -1); err != nil {
		return nil
	}
	timer := time.NewTimer(statsTimeout)
	defer timer.Stop()
	select {
	case r := <-p.replies:
		return r.Stats
	case <-p.exited:
	case <-timer.C:
	}
	return nil
}

// pollStats keeps every worker's last counters fresh, for those that
// crash, until Shutdown.
func (m *Master) pollStats() {
	tick := time.NewTicker(statsPoll)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-tick.C:
			m.document()
		}
	}
}

// Executable returns the path an upgrade runs.
func (m *Master) Executable() string { return m.exe }

// PinProcess restricts every thread of this process to the cpus set in
// mask, for -M without workers. Threads started later inherit it from
// the thread that starts them; the pass is made twice for a thread started
// during the first.
func PinProcess(mask uint64) error {
	var set unix.CPUSet
	for m := mask; m != 0; m &= m - 1 {
		set.Set(bits.TrailingZeros64(m))
	}
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != syscall.ESRCH {
				return fmt.Errorf("pin thread %d: %w", tid, err)
			}
		}
	}
	return nil
}

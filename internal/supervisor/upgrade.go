//go:build linux

package supervisor

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/control"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// envUpgrade names the descriptor holding the state a re-executed master
// resumes from.
const envUpgrade = "NUTCRACKER_UPGRADE"

// upgradeState is what a master passes to its re-executed self; every
// descriptor in it is inherited.
type upgradeState struct {
	Exe       string           `json:"exe"`
	Start     time.Time        `json:"start"`
	Listeners map[string][]int `json:"listeners"`
	StatsFD   int              `json:"stats_fd"`
	Workers   []upgradeWorker  `json:"workers"`
	Retired   *stats.Snapshot  `json:"retired"`
}

type upgradeWorker struct {
	Num     int             `json:"num"`
	PID     int             `json:"pid"`
	Started time.Time       `json:"started"`
	CtlFD   int             `json:"ctl_fd"`
	Pending []byte          `json:"pending,omitempty"` // channel bytes read, not yet a whole frame
	FDs     []int           `json:"fds,omitempty"`     // descriptors received, not yet taken
	Last    *stats.Snapshot `json:"last,omitempty"`
}

// Upgraded reports whether this process is a master re-executed by an
// upgrade: it keeps its pid file and does not daemonize again.
func Upgraded() bool {
	_, ok := upgradeFD()
	return ok
}

func upgradeFD() (int, bool) {
	fd, err := strconv.Atoi(os.Getenv(envUpgrade))
	return fd, err == nil && fd > 2
}

// Upgrade replaces the master and its workers with the executable now on
// disk, without closing a listening socket or a client connection: the
// master re-executes itself in the same process (same pid) keeping its
// sockets and its workers' control channels; the new master starts new
// workers, then the old ones hand their clients over and exit. The new
// executable must accept the configuration (its -t) first; an upgrade
// while the previous one still drains is refused.
func (m *Master) Upgrade() {
	m.mu.Lock()
	refuse := ""
	switch {
	case m.stopping:
		refuse = "stopping"
	case len(m.old) > 0:
		refuse = fmt.Sprintf("%d workers of the previous generation are still handing over", len(m.old))
	}
	cfgFile := m.cfg.File
	m.mu.Unlock()
	if refuse == "" && m.liveWorkers() < m.opts.Workers {
		refuse = "a worker is not serving"
	}
	if refuse == "" {
		if out, err := exec.Command(m.exe, "-t", "-c", cfgFile).CombinedOutput(); err != nil {
			refuse = fmt.Sprintf("%s -t: %v: %s", m.exe, err, out)
		}
	}
	if refuse != "" {
		logging.Errorf("upgrade refused: %s", refuse)
		return
	}
	logging.Noticef("upgrading to %s", m.exe)
	err := m.reexec()
	logging.Errorf("upgrade failed, this master and its workers stay: %v", err)
}

// reexec executes the master again with its state; it returns only on
// failure, with everything as it was.
func (m *Master) reexec() error {
	m.mu.Lock()
	m.upgrading = true
	ps := m.currentLocked()
	m.mu.Unlock()
	// Stats requests being served finish here, the next ones wait in the
	// socket for the new master.
	m.statsLn.Close()
	m.port.Wait()
	m.statsLn.waitIdle(statsDrain)
	// No worker is asked for its counts from here (a stats document is
	// the sum of their last ones), and none is being asked.
	m.statsMu.Lock()
	m.frozen = true
	m.waitSummingLocked()
	m.statsMu.Unlock()
	defer func() {
		m.statsMu.Lock()
		m.frozen = false
		m.statsMu.Unlock()
		m.restartStats()
		m.mu.Lock()
		m.upgrading = false
		m.mu.Unlock()
	}()

	// Stop reading the channels: what was read and not yet a frame goes
	// with the state.
	for _, p := range ps {
		p.pausing.Store(true)
		p.ctl.SetReadDeadline(time.Now())
		<-p.paused
	}
	defer func() {
		for _, p := range ps {
			p.pausing.Store(false)
			p.ctl.SetReadDeadline(time.Time{})
			go m.readCtl(p)
		}
	}()

	m.statsMu.Lock() // it guards retired and last, which stay as they are now
	st := upgradeState{Exe: m.exe, Start: m.start, Listeners: m.listeners, StatsFD: m.statsFD, Retired: m.retired}
	var inherit []int
	for _, fds := range m.listeners {
		inherit = append(inherit, fds...)
	}
	inherit = append(inherit, m.statsFD)
	for _, p := range ps {
		fd, err := p.ctl.FD()
		if err != nil {
			m.statsMu.Unlock()
			return err
		}
		pending, fds := p.ctl.Unread()
		st.Workers = append(st.Workers, upgradeWorker{
			Num: p.num, PID: p.pid, Started: p.started, CtlFD: fd,
			Pending: pending, FDs: fds, Last: p.last,
		})
		inherit = append(inherit, fd)
		inherit = append(inherit, fds...)
	}
	data, err := json.Marshal(st)
	m.statsMu.Unlock()
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	stateFD, err := unix.MemfdCreate("nutcracker-upgrade", 0)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	defer syscall.Close(stateFD)
	if _, err := syscall.Write(stateFD, data); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	for _, fd := range inherit {
		if _, err := unix.FcntlInt(uintptr(fd), syscall.F_SETFD, 0); err != nil {
			return fmt.Errorf("keep descriptor %d: %w", fd, err)
		}
	}
	defer func() {
		for _, fd := range inherit {
			syscall.CloseOnExec(fd)
		}
	}()
	argv := append([]string{MasterName}, m.opts.Args...)
	env := append(cleanEnv(), envUpgrade+"="+strconv.Itoa(stateFD))
	m.onSpawner(func() { err = syscall.Exec(m.exe, argv, env) })
	return fmt.Errorf("exec %s: %w", m.exe, err)
}

// statsDrain bounds the wait for stats connections before an upgrade's
// exec (a Prometheus scraper may keep one open).
const statsDrain = time.Second

// restartStats serves stats again after a failed upgrade.
func (m *Master) restartStats() {
	ln, err := newDrainListener(m.statsFD)
	if err != nil {
		logging.Errorf("stats: %v", err)
		return
	}
	m.statsLn = ln
	m.serveStats()
}

// resume takes over the sockets and workers of the master this process
// was before its exec, starts a new generation and has the old one hand
// its clients over.
func (m *Master) resume(stateFD int) error {
	os.Unsetenv(envUpgrade)
	f := os.NewFile(uintptr(stateFD), "upgrade state")
	f.Seek(0, io.SeekStart)
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("upgrade: read state: %w", err)
	}
	var st upgradeState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("upgrade: decode state: %w", err)
	}
	m.exe, m.start = st.Exe, st.Start
	if st.Retired != nil {
		m.retired = st.Retired
	}
	for key, fds := range st.Listeners {
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
		}
		m.listeners[key] = fds
	}
	syscall.CloseOnExec(st.StatsFD)
	m.statsFD = st.StatsFD
	if m.statsLn, err = newDrainListener(st.StatsFD); err != nil {
		return fmt.Errorf("upgrade: stats socket: %w", err)
	}
	// New pools of the configuration get their sockets; those of removed
	// pools close once the old workers are gone (closeUnused on reload).
	if err := m.openListeners(m.cfg); err != nil {
		return err
	}
	var olds []*proc
	for _, w := range st.Workers {
		syscall.CloseOnExec(w.CtlFD)
		for _, fd := range w.FDs {
			syscall.CloseOnExec(fd)
		}
		ctl, err := control.Resume(os.NewFile(uintptr(w.CtlFD), "control"), w.Pending, w.FDs)
		if err != nil {
			return fmt.Errorf("upgrade: worker %d: %w", w.Num, err)
		}
		p := newProc(w.Num, w.PID, ctl)
		p.started, p.last = w.Started, w.Last
		p.readyOnce.Do(func() { close(p.ready) })
		m.old[p] = true
		olds = append(olds, p)
		m.watch(p)
	}
	logging.Noticef("upgraded: %d workers of the previous master to replace", len(olds))
	for i := range m.slots {
		if err := m.startWorker(i + 1); err != nil {
			return m.abortUpgrade(olds, err)
		}
	}
	if err := m.waitReady(m.current()); err != nil {
		return m.abortUpgrade(olds, err)
	}
	grace := m.grace()
	for _, p := range olds {
		if err := p.ctl.Send(&control.Message{Type: control.MsgHandover, Delta: int(grace / time.Millisecond)}, -1); err != nil {
			logging.Errorf("worker %d (pid %d): %v", p.num, p.pid, err)
		}
	}
	return nil
}

// abortUpgrade keeps the previous generation serving when the new one
// does not start, and stops the new one.
func (m *Master) abortUpgrade(olds []*proc, cause error) error {
	logging.Logf(logging.Alert, "upgrade: new workers do not serve (%v): the previous ones stay", cause)
	m.mu.Lock()
	var news []*proc
	for i, p := range m.slots {
		if p != nil {
			news = append(news, p)
			m.old[p] = true
		}
		m.slots[i] = nil
	}
	for _, p := range olds {
		delete(m.old, p)
		m.slots[p.num-1] = p
	}
	m.mu.Unlock()
	for _, p := range news {
		p.ctl.Send(&control.Message{Type: control.MsgStop}, -1)
	}
	if len(olds) == 0 {
		return cause
	}
	return nil
}

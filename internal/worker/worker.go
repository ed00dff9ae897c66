//go:build linux

// Package worker is the life of one worker process under a master
// (internal/supervisor): it serves, with internal/proxy, the configuration
// the master sends over the control channel (internal/control), on the
// listening sockets the master opened and passed down, and acts on the
// master's messages: reloads, new listening sockets, log reopening and
// levels, stats queries, clients handed over from another worker.
//
// It ends when told to stop (its clients leave at a request boundary),
// to hand over (its clients go to the master, for the workers of a new
// binary), or when the channel breaks: the master is gone. Its last
// message is its final counters, which the master keeps.
package worker

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/control"
	"github.com/nutcracker-go/nutcracker/internal/daemon"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/proxy"
	"github.com/nutcracker-go/nutcracker/internal/sockets"
)

// Number returns this process's worker number, 0 when it is not a
// worker.
func Number() int {
	n, _ := strconv.Atoi(os.Getenv(control.EnvWorker))
	return n
}

// Options are the process settings a worker takes from the command line
// it shares with its master.
type Options struct {
	MbufSize int
	Version  string
}

// worker is the state of a worker process.
type worker struct {
	ctl       *control.Conn
	listeners map[string]*os.File // by sockets.Key; kept open for pools a reload brings back
	proxy     *proxy.Proxy
	leaving   bool          // told to hand over or stop
	left      chan struct{} // closed when the clients are gone and the final counters sent
}

// Run is the whole life of a worker process: it serves the configuration
// its master sends on the listening sockets it inherited, and acts on the
// master's messages until told to stop or hand over, or until the master
// is gone. It returns the exit code.
func Run(opts Options) int {
	logging.SetPrefix(fmt.Sprintf("worker %d: ", Number()))
	// The master acts on signals for the whole group; a terminal's Ctrl-C
	// reaches the workers too and must not stop them under their master.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2,
		syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE)
	lns, err := inheritedListeners()
	if err != nil {
		logging.Logf(logging.Emerg, "%v", err)
		return 1
	}
	ctl, err := control.New(os.NewFile(control.WorkerFD, "control"))
	if err != nil {
		logging.Logf(logging.Emerg, "%v", err)
		return 1
	}
	return run(ctl, lns, opts)
}

// run serves on ctl and lns until the worker ends; it returns the exit
// code.
func run(ctl *control.Conn, lns map[string]*os.File, opts Options) int {
	w := &worker{ctl: ctl, listeners: lns, left: make(chan struct{})}
	if err := w.start(opts); err != nil {
		logging.Logf(logging.Emerg, "%v", err)
		return 1
	}
	logging.Noticef("serving, pid %d", os.Getpid())
	if err := daemon.ReleaseStartupPages(); err != nil {
		logging.Warnf("%v", err)
	}
	return w.serve()
}

// inheritedListeners reads the listening sockets the master passed.
func inheritedListeners() (map[string]*os.File, error) {
	var fds map[string]int
	if err := json.Unmarshal([]byte(os.Getenv(control.EnvListeners)), &fds); err != nil {
		return nil, fmt.Errorf("%s: %w", control.EnvListeners, err)
	}
	lns := make(map[string]*os.File, len(fds))
	for key, fd := range fds {
		syscall.CloseOnExec(fd)
		lns[key] = os.NewFile(uintptr(fd), key)
	}
	return lns, nil
}

// start builds the proxy from the master's first message and serves.
func (w *worker) start(opts Options) error {
	m, err := w.ctl.Recv()
	if err != nil {
		return err
	}
	if m.Type != control.MsgStart {
		return fmt.Errorf("control channel: %s before start", m.Type)
	}
	cfg, err := config.Parse(m.File, m.Config)
	if err != nil {
		return err
	}
	p, err := proxy.New(cfg, proxy.Options{MbufSize: opts.MbufSize, Version: opts.Version, Listen: w.listen})
	if err != nil {
		return err
	}
	w.proxy = p
	p.Serve()
	return w.ctl.Send(&control.Message{Type: control.MsgReady}, -1)
}

// listen takes a pool's listener from the sockets the master passed. The
// file is a copy of the master's socket: closing the listener made from it
// leaves the master's socket, and its accept queue, open.
func (w *worker) listen(l config.Listen, _ int) (net.Listener, error) {
	f := w.listeners[sockets.Key(l)]
	if f == nil {
		return nil, fmt.Errorf("no socket from the master for %s", sockets.Key(l))
	}
	return net.FileListener(f)
}

// serve acts on the master's messages until the worker has left or the
// channel breaks; it returns the exit code.
func (w *worker) serve() int {
	msgs, failed := w.receive()
	for {
		var m *control.Message
		select {
		case <-w.left:
			return 0
		case err := <-failed:
			// The master is gone (it would have killed us with the
			// parent-death signal) or the channel broke: stop serving.
			logging.Errorf("%v: exiting", err)
			w.proxy.Close()
			return 1
		case m = <-msgs:
		}
		switch m.Type {
		case control.MsgListener:
			if old := w.listeners[m.Key]; old != nil {
				old.Close()
			}
			w.listeners[m.Key] = os.NewFile(uintptr(m.FD), m.Key)
		case control.MsgReload:
			reply := &control.Message{Type: control.MsgReloaded}
			if err := w.reload(m); err != nil {
				reply.Error = err.Error()
			}
			w.send(reply)
		case control.MsgReopen:
			if err := logging.Reopen(); err != nil {
				logging.Logf(logging.Emerg, "%v", err)
			}
		case control.MsgLevel:
			if m.Delta > 0 {
				logging.LevelUp()
			} else {
				logging.LevelDown()
			}
		case control.MsgStats:
			w.send(&control.Message{Type: control.MsgStats, Stats: w.proxy.Stats().Snapshot()})
		case control.MsgClient:
			w.adopt(m)
		case control.MsgHandover, control.MsgStop:
			// The loop goes on answering stats queries while clients leave.
			if w.leaving {
				continue
			}
			w.leaving = true
			handover, grace := m.Type == control.MsgHandover, time.Duration(m.Delta)*time.Millisecond
			go func() {
				w.leave(handover, grace)
				close(w.left)
			}()
		}
	}
}

// receive reads the channel on a goroutine of its own, so that serve
// also sees the worker leave; the goroutine ends with the channel.
func (w *worker) receive() (<-chan *control.Message, <-chan error) {
	msgs, failed := make(chan *control.Message), make(chan error, 1)
	go func() {
		for {
			m, err := w.ctl.Recv()
			if err != nil {
				failed <- err
				return
			}
			select {
			case msgs <- m:
			case <-w.left:
				if m.FD >= 0 {
					syscall.Close(m.FD)
				}
				return
			}
		}
	}()
	return msgs, failed
}

func (w *worker) send(m *control.Message) {
	if err := w.ctl.Send(m, -1); err != nil {
		logging.Errorf("%v", err)
	}
}

func (w *worker) reload(m *control.Message) error {
	cfg, err := config.Parse(m.File, m.Config)
	if err != nil {
		return err
	}
	err = w.proxy.Reload(cfg)
	// The sockets of removed pools close here too, so that the master's
	// close ends them.
	used := make(map[string]bool)
	for _, pc := range cfg.Pools {
		used[sockets.Key(pc.Listen)] = true
	}
	for key, f := range w.listeners {
		if !used[key] {
			f.Close()
			delete(w.listeners, key)
		}
	}
	return err
}

// adopt serves a client another worker handed over.
func (w *worker) adopt(m *control.Message) {
	h := proxy.HandOff{Pool: m.Pool, File: os.NewFile(uintptr(m.FD), "client"), Unparsed: m.Unparsed,
		Session: proto.Session{Authed: m.Authed, Dialect: m.Dialect, Name: m.Name}}
	if err := w.proxy.Adopt(h); err != nil {
		logging.Warnf("handed-over client on pool %s: %v", m.Pool, err)
	}
}

// leave stops accepting and lets every client go at a request boundary:
// to the master for a new worker (handover), or closed (stop). It closes
// the proxy, then sends the final counters: the worker's last message.
func (w *worker) leave(handover bool, grace time.Duration) {
	if handover {
		logging.Noticef("handing clients over")
		w.proxy.StopAccepting()
		w.proxy.HandOver(func(h proxy.HandOff) error {
			defer h.File.Close()
			s := h.Session
			return w.ctl.SendFile(&control.Message{Type: control.MsgClient, Pool: h.Pool, Unparsed: h.Unparsed,
				Authed: s.Authed, Dialect: s.Dialect, Name: s.Name}, h.File)
		}, grace)
	} else {
		logging.Noticef("stopping")
		w.proxy.Drain(grace)
	}
	w.proxy.Close()
	w.send(&control.Message{Type: control.MsgStats, Stats: w.proxy.Stats().Snapshot(), Final: true})
}

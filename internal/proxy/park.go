//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// An idle client costs the proxy its reader goroutine's stack (its writer
// runs only while a reply is ready), some kilobytes, where twemproxy pays a
// few hundred bytes. So a client with nothing to do is parked: its reader
// ends at a request boundary, with every reply written, and its socket
// waits in an epoll instance of the proxy's own until the client sends
// something (or closes); then its reader starts again, as for a new
// client. A parked client costs its socket and its client struct.
//
// A new client is parked as soon as it is accepted, so a connection that
// is opened and never used never costs a goroutine. One that served is
// asked to park, with a passed read deadline that wakes its reader (the
// way HandOver does): by its writer as soon as every reply is written, if
// it is eager (client.parkSoon), else by the sweeper once it had no read
// for a whole parkSweep (between one and two sweeps).
//
// The epoll instance is itself a descriptor of the Go poller, so waiting
// for parked clients costs no thread: parker.run waits like any read.

// parkSweep is how often the proxy looks for idle clients to park.
const parkSweep = time.Second

// parker is the epoll instance holding parked clients.
type parker struct {
	epfd   int
	file   *os.File        // epfd, in the Go poller
	raw    syscall.RawConn // of file
	waitFn func(fd uintptr) bool
	events [64]unix.EpollEvent
	ready  []*client // the clients of the events being handled
	closed atomic.Bool

	mu   sync.Mutex        // guards byFD; taken under client.mu, never the other way
	byFD map[int32]*client // parked clients by socket
}

func newParker() (*parker, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	k := &parker{epfd: fd, file: os.NewFile(uintptr(fd), "parked clients"), byFD: make(map[int32]*client)}
	if k.raw, err = k.file.SyscallConn(); err != nil {
		k.file.Close()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	k.waitFn = k.wait
	return k, nil
}

// run resumes parked clients as their sockets become readable, until
// close.
func (k *parker) run() {
	for {
		err := k.raw.Read(k.waitFn)
		// The clients are resumed here, not in wait: a resume may call
		// back into the poller (epoll_ctl through the socket's RawConn).
		for i, c := range k.ready {
			c.resume()
			k.ready[i] = nil
		}
		k.ready = k.ready[:0]
		if err != nil {
			if !k.closed.Load() && !errors.Is(err, os.ErrClosed) {
				logging.Errorf("parked clients: %v", err)
			}
			return
		}
	}
}

// wait takes the ready events without waiting; it reports false (wait in
// the poller) when none is ready.
func (k *parker) wait(fd uintptr) bool {
	n, err := unix.EpollWait(int(fd), k.events[:], 0)
	for err == unix.EINTR {
		n, err = unix.EpollWait(int(fd), k.events[:], 0)
	}
	if err != nil || n == 0 {
		return false // wait in the poller (an error here is a bug: EBADF, EINVAL)
	}
	k.mu.Lock()
	for _, ev := range k.events[:n] {
		// A client resumed meanwhile (or a socket number reused) is
		// skipped, or resumed once more than needed: harmless.
		if c := k.byFD[ev.Fd]; c != nil {
			k.ready = append(k.ready, c)
		}
	}
	k.mu.Unlock()
	return true
}

func (k *parker) close() {
	k.closed.Store(true)
	k.file.Close()
}

// add waits for c's socket to become readable (under c.mu).
func (k *parker) add(c *client) bool {
	if c.raw == nil {
		return false
	}
	var err error
	cerr := c.raw.Control(func(fd uintptr) {
		c.parkFD = int32(fd)
		k.mu.Lock()
		k.byFD[c.parkFD] = c // before the event can come
		k.mu.Unlock()
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd)}
		err = unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil || err != nil {
		k.forget(c)
		return false
	}
	return true
}

// remove stops waiting for c (under c.mu). A socket closed meanwhile has
// left the epoll instance by itself.
func (k *parker) remove(c *client) {
	k.forget(c)
	c.raw.Control(func(fd uintptr) {
		unix.EpollCtl(k.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
}

func (k *parker) forget(c *client) {
	k.mu.Lock()
	if k.byFD[c.parkFD] == c {
		delete(k.byFD, c.parkFD)
	}
	k.mu.Unlock()
}

// sweepIdle asks the clients that read nothing since the last sweep and
// owe no reply to park. The clients are looked at outside the registry's
// lock: a snapshot of them is taken (into buf, reused) under it.
func (p *Proxy) sweepIdle(buf []*client) []*client {
	buf = p.clientList(buf[:0])
	for i, c := range buf {
		buf[i] = nil
		if c.getState() != stateReading {
			continue
		}
		if reads := c.reads.Load(); reads != c.seenReads {
			c.seenReads = reads
			continue
		}
		if c.pending.Load() == 0 && c.leaving() == nil {
			c.conn.SetReadDeadline(aLongTimeAgo)
		}
	}
	return buf[:0]
}

package proxy

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// An idle client costs the proxy its two goroutines' stacks, several
// kilobytes, where twemproxy pays a few hundred bytes. So a client with
// nothing to do is parked: its reader and writer goroutines end at a
// request boundary, with every reply written, and its socket waits in an
// epoll instance of the proxy's own until the client sends something (or
// closes); then both goroutines start again, as for a new client. A parked
// client costs its socket and its client struct.
//
// A new client is parked as soon as it is accepted, so a connection that
// is opened and never used never costs a goroutine; one that served and
// then had no read for a whole parkSweep (between one and two sweeps) is
// asked to park by the sweeper, which wakes its reader with a passed read
// deadline (the way HandOver does). Parking state is under Proxy.mu.
//
// The epoll instance is itself a descriptor of the Go poller, so waiting
// for parked clients costs no thread: parker.run waits like any read.

// parkSweep is how often the proxy looks for idle clients to park.
const parkSweep = time.Second

// parker is the epoll instance holding parked clients.
type parker struct {
	p      *Proxy
	epfd   int
	file   *os.File        // epfd, in the Go poller
	raw    syscall.RawConn // of file
	waitFn func(fd uintptr) bool
	events [64]unix.EpollEvent
	byFD   map[int32]*client // parked clients by socket (under Proxy.mu)
}

func newParker(p *Proxy) (*parker, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	k := &parker{p: p, epfd: fd, file: os.NewFile(uintptr(fd), "parked clients"), byFD: make(map[int32]*client)}
	if k.raw, err = k.file.SyscallConn(); err != nil {
		k.file.Close()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	k.waitFn = k.wake
	return k, nil
}

// run resumes parked clients as their sockets become readable, until
// close.
func (k *parker) run() {
	defer k.p.wg.Done()
	for {
		if err := k.raw.Read(k.waitFn); err != nil {
			if !errors.Is(err, os.ErrClosed) {
				logging.Errorf("parked clients: %v", err)
			}
			return
		}
	}
}

// wake takes the ready events without waiting and resumes their clients;
// it reports false (wait in the poller) when none is ready.
func (k *parker) wake(fd uintptr) bool {
	n, err := unix.EpollWait(int(fd), k.events[:], 0)
	for err == unix.EINTR {
		n, err = unix.EpollWait(int(fd), k.events[:], 0)
	}
	if err != nil || n == 0 {
		return false // wait in the poller (an error here is a bug: EBADF, EINVAL)
	}
	k.p.mu.Lock()
	for _, ev := range k.events[:n] {
		// A client resumed meanwhile (or a socket number reused) is
		// skipped, or resumed once more than needed: harmless.
		if c := k.byFD[ev.Fd]; c != nil {
			c.resumeLocked()
		}
	}
	k.p.mu.Unlock()
	return true
}

func (k *parker) close() { k.file.Close() }

// add waits for c's socket to become readable (under Proxy.mu).
func (k *parker) add(c *client) bool {
	if c.raw == nil {
		return false
	}
	var err error
	cerr := c.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd)}
		err = unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		c.parkFD = int32(fd)
	})
	if cerr != nil || err != nil {
		return false
	}
	k.byFD[c.parkFD] = c
	return true
}

// remove stops waiting for c (under Proxy.mu). A socket closed meanwhile
// has left the epoll instance by itself.
func (k *parker) remove(c *client) {
	delete(k.byFD, c.parkFD)
	c.raw.Control(func(fd uintptr) {
		unix.EpollCtl(k.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// startOrPark starts a client just tracked, or parks it when it has no
// bytes to parse yet and parking is possible.
func (p *Proxy) startOrPark(c *client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.unparsed == nil && p.canPark(c) && p.parker.add(c) {
		c.parked = true
		p.wg.Add(-2)
		return
	}
	c.start()
}

// canPark reports whether c may be parked now (under Proxy.mu).
func (p *Proxy) canPark(c *client) bool {
	return p.parker != nil && !p.closed && p.handover == nil && c.ho.Load() == nil && !c.shared
}

// resumeLocked starts a parked client's goroutines again (under Proxy.mu).
func (c *client) resumeLocked() {
	if !c.parked {
		return
	}
	p := c.ps.proxy
	c.parked = false
	p.parker.remove(c)
	p.wg.Add(2)
	c.start()
}

// park is called by the writer when the reader stopped to park, with the
// queue empty: it parks the client and reports true, or starts the reader
// again and reports false when the client cannot park (its replies are
// still being written, a handover began, the proxy closes).
func (c *client) park(o *output) bool {
	p := c.ps.proxy
	c.queue.reopen()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !o.busy() && p.canPark(c) && p.parker.add(c) {
		c.parked = true
		c.dropScratch()
		return true
	}
	p.wg.Add(1)
	go c.readLoop()
	return false
}

// sweepIdle asks the clients that read nothing since the last sweep and
// owe no reply to park.
func (p *Proxy) sweepIdle(time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.clients {
		if c.parked || !p.canPark(c) {
			continue
		}
		if reads := c.reads.Load(); reads != c.seenReads {
			c.seenReads = reads
			continue
		}
		if c.pending.Load() == 0 {
			c.conn.SetReadDeadline(aLongTimeAgo)
		}
	}
}

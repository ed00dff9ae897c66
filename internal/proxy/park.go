//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// An idle client costs the proxy its reader goroutine's stack (its writer
// runs only while a reply is ready), some kilobytes, where twemproxy pays a
// few hundred bytes. So a client with nothing to do is parked: its reader
// ends at a request boundary, with every reply written, and its socket
// waits in an epoll instance of the proxy's own until the client sends
// something (or closes); then it is served again, as a new client is.
//
// A plaintext client parks as a parkedConn: its socket's descriptor and
// what outlives its reader and writer (its protocol state, if it ever sent
// a request), about a hundred bytes. Its client struct and its Go socket
// go, the descriptor kept by a dup; waking makes them again (newFileConn
// costs no system call more than the poller's registration). The proxy
// accepts a plaintext client's connection itself (rawio.Acceptor, then
// admitParked), straight into a parkedConn, so a connection that is opened and never used costs
// that and nothing else. A TLS client parks whole: its TLS state stays
// with it.
//
// A client that served is asked to park, with a passed read deadline that
// wakes its reader (the way HandOver does): by its writer as soon as every
// reply is written, if it is eager (client.parkSoon), else by the sweeper
// once it had no read for a whole parkSweep (between one and two sweeps).
//
// The epoll instance is itself a descriptor of the Go poller, so waiting
// for parked clients costs no thread: parker.run waits like any read.

// parkSweep is how often the proxy looks for idle clients to park.
const parkSweep = time.Second

// parkedConn is a parked client.
type parkedConn struct {
	fd       int32
	affinity uint32 // the client's (client.affinity), kept
	ps       *poolServer
	// c is a TLS client, parked whole; nil for a plaintext one, which
	// is the rest.
	c        *client
	h        proto.Client   // its protocol state; nil if it never read a request
	remote   netip.AddrPort // its address; the zero AddrPort for a Unix socket
	since    int64          // when it was accepted, Unix nanoseconds
	parkedAt int64          // when it parked right after a burst (client.parkSoon), Unix nanoseconds; 0 if it did not
}

// remoteAddr is the client's address as its net.Conn gives it.
func (pc *parkedConn) remoteAddr() net.Addr {
	if !pc.remote.IsValid() {
		return &net.UnixAddr{Net: "unix"}
	}
	return net.TCPAddrFromAddrPort(pc.remote)
}

// remoteString is remoteAddr's String, made without it.
func (pc *parkedConn) remoteString() string {
	if !pc.remote.IsValid() {
		return ""
	}
	return pc.remote.String()
}

// parker is the epoll instance holding parked clients.
type parker struct {
	epfd    int
	file    *os.File        // epfd, in the Go poller
	raw     syscall.RawConn // of file
	waitFn  func(fd uintptr) bool
	events  [64]unix.EpollEvent
	ready   []int32 // the sockets of the events being handled
	onReady func(fd int32)
	closed  atomic.Bool

	// byFD are the parked clients by socket, under Proxy.clientsMu (the
	// registry's lock: a client moves between the two under it).
	byFD map[int32]*parkedConn
}

func newParker(onReady func(fd int32)) (*parker, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	k := &parker{epfd: fd, file: os.NewFile(uintptr(fd), "parked clients"), byFD: make(map[int32]*parkedConn), onReady: onReady}
	if k.raw, err = k.file.SyscallConn(); err != nil {
		k.file.Close()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	k.waitFn = k.wait
	return k, nil
}

// run wakes parked clients as their sockets become readable, until close.
func (k *parker) run() {
	for {
		err := k.raw.Read(k.waitFn)
		// The clients are woken here, not in wait: waking calls back into
		// the poller (a socket's registration).
		for _, fd := range k.ready {
			k.onReady(fd)
		}
		k.ready = k.ready[:0]
		// The clients just woken are served before more are: in a flood
		// of parked clients sending at once, a parker that went on
		// waking would have every one awake at the same time, each with
		// its client struct and goroutine stack (TestWakeFloodMemory).
		runtime.Gosched()
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
	for _, ev := range k.events[:n] {
		k.ready = append(k.ready, ev.Fd)
	}
	return true
}

func (k *parker) close() {
	k.closed.Store(true)
	k.file.Close()
}

// watch waits for the socket fd to become readable, once.
func (k *parker) watch(fd int32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: fd}
	return unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
}

// unwatch stops waiting for fd. A socket closed meanwhile has left the
// epoll instance by itself.
func (k *parker) unwatch(fd int32) {
	unix.EpollCtl(k.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
}

// parkWhole parks a TLS client whole (under c.mu).
func (p *Proxy) parkWhole(c *client) bool {
	k := p.parker
	if c.raw == nil {
		return false
	}
	pc := &parkedConn{c: c}
	var err error
	cerr := c.raw.Control(func(fd uintptr) {
		pc.fd = int32(fd)
		p.clientsMu.Lock()
		k.byFD[pc.fd] = pc // before the event can come
		p.clientsMu.Unlock()
		err = k.watch(pc.fd)
	})
	c.parkFD = pc.fd
	if cerr != nil || err != nil {
		p.takeParked(pc.fd, pc)
		return false
	}
	return true
}

// unparkWhole stops waiting for a TLS client parked whole (under c.mu).
func (p *Proxy) unparkWhole(c *client) {
	p.takeParked(c.parkFD, nil)
	c.raw.Control(func(fd uintptr) { p.parker.unwatch(int32(fd)) })
}

// takeParked takes the client parked on fd out of the parker: pc if
// given, else whichever it is; it returns nil when there is none (woken
// meanwhile, or a socket number reused).
func (p *Proxy) takeParked(fd int32, pc *parkedConn) *parkedConn {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	got := p.parker.byFD[fd]
	if got == nil || pc != nil && got != pc {
		return nil
	}
	delete(p.parker.byFD, fd)
	return got
}

// parkedReady wakes the client parked on fd, whose socket is readable.
func (p *Proxy) parkedReady(fd int32) {
	switch pc := p.takeParked(fd, nil); {
	case pc == nil:
	case pc.c != nil:
		pc.c.resume()
	default:
		p.wake(pc)
	}
}

// sleep parks a plaintext client: pc, with c its client struct, which
// ends here (nil for a connection accepted straight into pc). Whatever
// happens to pc, c leaves the registry: with the proxy closed pc is
// closed, with a handover under way it is woken at once (to leave).
func (p *Proxy) sleep(pc *parkedConn, c *client) {
	p.clientsMu.Lock()
	if c != nil {
		p.untrackLocked(c)
	}
	closed := p.isClosed()
	if !closed {
		p.asleep++
	}
	parkNow := !closed && p.handover == nil
	if parkNow {
		p.parker.byFD[pc.fd] = pc // before the event can come
	}
	p.clientsMu.Unlock()
	switch {
	case closed:
		unix.Close(int(pc.fd))
		pc.ps.connClosed(false)
	case !parkNow:
		p.wake(pc)
	case p.parker.watch(pc.fd) != nil:
		if p.takeParked(pc.fd, pc) != nil {
			p.wake(pc)
		}
	}
}

// wake serves a plaintext client taken out of the parker (or never put
// in): as a new client, with its protocol state.
func (p *Proxy) wake(pc *parkedConn) {
	p.parker.unwatch(pc.fd)
	conn := newFileConn(int(pc.fd), pc.remoteAddr())
	c := newClient(pc.ps, conn, nil)
	c.affinity, c.since, c.h = pc.affinity, time.Unix(0, pc.since), pc.h
	c.eager.Store(pc.parkedAt == 0 || time.Since(time.Unix(0, pc.parkedAt)) >= parkSweep)
	if !p.trackWoken(c) {
		conn.Close()
		pc.ps.connClosed(false)
		return
	}
	c.run()
	if h := p.handoverNow(); h != nil {
		c.leave(h) // a handover began meanwhile: this client goes too
	}
	if pc.ps.letGo.Load() {
		c.shutdownRead() // its pool was removed meanwhile
	}
}

// takeParkedWhere takes the plaintext clients parked for which is
// reports true out of the parker (still counted asleep).
func (p *Proxy) takeParkedWhere(is func(pc *parkedConn) bool) []*parkedConn {
	if p.parker == nil {
		return nil
	}
	var taken []*parkedConn
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	for fd, pc := range p.parker.byFD {
		if pc.c == nil && is(pc) {
			delete(p.parker.byFD, fd)
			taken = append(taken, pc)
		}
	}
	return taken
}

// closeParked closes the plaintext clients parked for which is reports
// true (every one: Close; a removed pool's: retirePool).
func (p *Proxy) closeParked(is func(pc *parkedConn) bool) {
	closing := p.takeParkedWhere(is)
	for _, pc := range closing {
		p.parker.unwatch(pc.fd)
		unix.Close(int(pc.fd))
		pc.ps.connClosed(false)
		logging.Noticef("closed client %s on pool %s", pc.remoteAddr(), pc.ps.cfg().Name)
	}
	p.clientsMu.Lock()
	p.asleep -= len(closing)
	p.signalIfEmptyLocked()
	p.clientsMu.Unlock()
}

// wakeParked wakes every plaintext client parked, for a handover.
func (p *Proxy) wakeParked() {
	for _, pc := range p.takeParkedWhere(func(*parkedConn) bool { return true }) {
		p.wake(pc)
	}
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

// parkedPeers lists the plaintext clients of ps parked that have a
// protocol state (proto.Settings.Peers).
func (p *Proxy) parkedPeers(ps *poolServer) []proto.Peer {
	if p.parker == nil {
		return nil
	}
	var parked []*parkedConn
	p.clientsMu.Lock()
	for _, pc := range p.parker.byFD {
		if pc.c == nil && pc.ps == ps && pc.h != nil {
			parked = append(parked, pc)
		}
	}
	p.clientsMu.Unlock()
	peers := make([]proto.Peer, 0, len(parked))
	for _, pc := range parked {
		// Asked outside the lock: a client woken meanwhile keeps its
		// descriptor, and one that closed since gets no address.
		local, _ := unix.Getsockname(int(pc.fd))
		peers = append(peers, proto.Peer{Client: pc.h, Addr: pc.remoteAddr().String(), LocalAddr: sockaddrAddr(local).String(),
			FD: int(pc.fd), Since: time.Unix(0, pc.since)})
	}
	return peers
}

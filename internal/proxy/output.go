package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/nutcracker-go/nutcracker/internal/rawio"
)

// DefaultOutputLimit bounds the reply bytes waiting for a client that does
// not read, like Redis's client output buffer limit.
const DefaultOutputLimit = 64 << 20

// output sends a client's replies without ever blocking the goroutine
// that encodes them, up to a limit: a client that pipelines a million
// requests before reading any reply gets them all, from memory. The
// encoder first tries a non-blocking write; what the socket does not take
// is queued, and a sender goroutine, started only then, writes the queue
// with blocking writes until it is empty. Past the limit the encoder
// waits, so the client's requests stop being read until it drains.
type output struct {
	conn net.Conn        // the socket
	raw  syscall.RawConn // nil: every write goes through the sender
	// tls, for a TLS client, is conn's TLS connection: send encrypts
	// through it, and its records come back to sendRaw (tlsSocket).
	tls   *tls.Conn
	limit int
	spawn func(func()) // starts the sender goroutine (tracked by the proxy)

	// State of the raw write in progress (under mu); writeFn is writeOnce
	// bound once, so that a write allocates nothing.
	writeFn func(fd uintptr) bool
	wbuf    []byte
	wn      int
	werr    error

	mu        sync.Mutex
	drained   sync.Cond   // signalled when queued bytes fall or the sender stops
	queue     net.Buffers // owned by output once queued
	lastOwned bool        // the last buffer of queue is a chunk output made, with room to append
	queued    int
	// sending: a sender runs; written under mu, read without it by busy.
	sending atomic.Bool
	err     error
}

func newOutput(conn net.Conn, limit int, spawn func(func())) *output {
	o := &output{conn: conn, limit: limit, spawn: spawn}
	o.writeFn = o.writeOnce
	o.drained.L = &o.mu
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			o.raw = raw
		}
	}
	return o
}

// send writes b or queues it. It reports whether output keeps b itself
// from now on (a large b; the caller must then not reuse it; a small one is
// copied) and an error once the connection has failed.
func (o *output) send(b []byte) (owned bool, err error) {
	if o.tls != nil && len(b) > 0 {
		_, err := o.tls.Write(b)
		return false, err
	}
	return o.sendRaw(b, true)
}

// sendRaw is send on the socket itself; b is always copied unless mayKeep.
func (o *output) sendRaw(b []byte, mayKeep bool) (owned bool, err error) {
	if len(b) == 0 {
		return false, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return false, o.err
	}
	if !o.sending.Load() {
		// The write never blocks, and while no sender runs nobody else
		// takes mu (only this goroutine starts one): it delays no one.
		n, err := o.tryWrite(b)
		if err != nil {
			o.err = err
			return false, err
		}
		if n == len(b) {
			return false, nil
		}
		b = b[n:]
		o.sending.Store(true)
		o.spawn(o.sendLoop)
	}
	owned = o.enqueue(b, mayKeep)
	for o.queued > o.limit && o.err == nil {
		o.drained.Wait()
	}
	return owned, o.err
}

// outputChunk is the size of the buffers small replies are gathered in
// while the sender is busy.
const outputChunk = 64 << 10

// enqueue adds b to the queue: a large b as it is if mayKeep (output owns
// it from then on), else copied into chunks; a small one copied into the
// last chunk, so that a flood of small replies costs about its bytes and
// not a buffer each.
func (o *output) enqueue(b []byte, mayKeep bool) (owned bool) {
	o.queued += len(b)
	if len(b) >= outputChunk && mayKeep {
		o.queue, o.lastOwned = append(o.queue, b), false
		return true
	}
	if n := len(o.queue); n > 0 && o.lastOwned && cap(o.queue[n-1])-len(o.queue[n-1]) >= len(b) {
		o.queue[n-1] = append(o.queue[n-1], b...)
		return false
	}
	chunk := make([]byte, 0, max(outputChunk, len(b)))
	o.queue = append(o.queue, append(chunk, b...))
	o.lastOwned = true
	return false
}

// tryWrite writes what the socket takes now without waiting.
func (o *output) tryWrite(b []byte) (int, error) {
	if o.raw == nil {
		return 0, nil
	}
	o.wbuf = b
	err := o.raw.Write(o.writeFn)
	n, werr := o.wn, o.werr
	o.wbuf = nil
	if err != nil {
		return 0, err
	}
	if errors.Is(werr, syscall.EAGAIN) {
		return 0, nil
	}
	if werr != nil {
		return 0, werr
	}
	return n, nil
}

// writeOnce is the raw write; it never waits.
func (o *output) writeOnce(fd uintptr) bool {
	o.wn, o.werr = rawio.Write(fd, o.wbuf)
	return true
}

// sendLoop writes the queue until it is empty.
func (o *output) sendLoop() {
	o.mu.Lock()
	for len(o.queue) > 0 && o.err == nil {
		bufs := o.queue
		o.queue, o.lastOwned = nil, false
		o.mu.Unlock()
		n, err := bufs.WriteTo(o.conn)
		o.mu.Lock()
		o.queued -= int(n)
		if err != nil {
			o.err = err
		}
		o.drained.Broadcast()
	}
	o.sending.Store(false)
	o.drained.Broadcast()
	o.mu.Unlock()
}

// busy reports whether queued replies are still being written. It takes
// no lock: the writer asks before each reply it writes inline.
func (o *output) busy() bool { return o.sending.Load() }

// wait blocks until everything queued is written or the connection failed.
func (o *output) wait() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.sending.Load() && o.err == nil {
		o.drained.Wait()
	}
	return o.err
}

// Package backend manages one connection to a server (a redis-server or a
// memcached): a writer goroutine that batches every queued request into one
// write, and a reader goroutine that matches replies to requests through an
// in-flight FIFO. Requests and their replies are package proto's: the
// connection sends Wire and frames each reply with the pool protocol's
// Framer, knowing nothing else of the protocol.
//
// Lifecycle: a Conn is created idle and dials on the first request (or at
// once with Connect, for preconnect). When the connection breaks, times out
// or cannot be established, every queued and in-flight request completes
// with an error, and the next request dials again. Requests are never
// retried: the server may have executed them.
//
// Ownership: a proto.Request belongs to the Conn from Send until its Owner's
// Complete is called; after that the Conn never touches it again.
package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/tlsdial"
)

// Typed failures a request can complete with. Their messages are Linux's
// strerror texts, which twemproxy sends to clients.
var (
	ErrTimedOut  = errors.New("Connection timed out")
	ErrRefused   = errors.New("Connection refused")
	ErrReset     = errors.New("Connection reset by peer")
	ErrHostDown  = errors.New("Host is down")
	ErrClosed    = errors.New("Connection closed")
	ErrBadReply  = errors.New("Invalid argument")
	ErrQueueFull = errors.New("Server queue full: too many requests waiting for this server")
)

// Events receives a connection's health changes (a Server uses them for
// auto-ejection). Methods are called from the conn's goroutines.
type Events interface {
	// ServerOK is called when replies arrive.
	ServerOK()
	// ServerFailed is called when a connection attempt fails or an
	// established connection breaks.
	ServerFailed(err error)
}

// Options configure a Conn.
type Options struct {
	Network string // "tcp" or "unix"
	Addr    string
	// Moves, if not nil, is where to dial instead of Addr: the address of
	// a server that moves (a sentinel group's master).
	Moves *Address
	// TLS, if not nil, makes the connection speak TLS, its handshake
	// bounded by Timeout (or DefaultConnectTimeout). An empty ServerName
	// verifies the host of the address dialed.
	TLS *tls.Config
	// TLSFailures, if not nil, counts the TLS handshakes that failed, by
	// reason (stats.TLSFailureReason).
	TLSFailures *[len(stats.TLSFailureReasons)]atomic.Int64
	// OneInFlight sends a request only once the one before has its reply:
	// for a server that mishandles pipelined requests (memcached 1.6's
	// TLS leaves bytes in OpenSSL's buffer until the next packet comes).
	OneInFlight bool
	Timeout     time.Duration // connect and reply timeout; 0 = none
	KeepAlive   bool
	// NewFramer returns the reply framer of a new connection.
	NewFramer func() proto.Framer
	// Handshake requests are written first on every new connection (redis
	// AUTH, SELECT); their replies are read and dropped.
	Handshake [][]byte
	Events    Events
	// Stats are the server's counters, shared by its connections.
	Stats *stats.Server
	// ReadBufferSize is the reader's initial buffer size.
	ReadBufferSize int
	// MaxOutstanding bounds the requests queued and in flight on the
	// connection; past it Send fails at once with ErrQueueFull. 0 means
	// DefaultMaxOutstanding.
	MaxOutstanding int
}

// Address is where the connections of a server that moves dial (a
// sentinel group's master): they share it, and each dial goes where it
// points then. While it points nowhere, requests fail at once with its
// reason, which is not counted as the server's failure.
type Address struct{ cur atomic.Pointer[addressState] }

type addressState struct {
	addr string
	none error
	last string // the last address it pointed at, "" if none yet
}

// NewAddress returns an Address that points nowhere, for reason.
func NewAddress(reason error) *Address {
	a := &Address{}
	a.Unset(reason)
	return a
}

// Set points a at addr ("host:port"). Set and Unset are not for
// concurrent use.
func (a *Address) Set(addr string) { a.cur.Store(&addressState{addr: addr, last: addr}) }

// Unset points a nowhere, for reason.
func (a *Address) Unset(reason error) { a.cur.Store(&addressState{none: reason, last: a.Last()}) }

// Last returns the last address a pointed at, even if it points nowhere
// now; "" if it never pointed anywhere.
func (a *Address) Last() string {
	if st := a.cur.Load(); st != nil {
		return st.last
	}
	return ""
}

// Get returns where a points, or why it points nowhere.
func (a *Address) Get() (string, error) {
	st := a.cur.Load()
	return st.addr, st.none
}

// Redirected is the failure of the requests in flight on a connection
// that Redirect ended: they may have run on the server it left.
type Redirected struct{ Reason string }

func (e *Redirected) Error() string { return e.Reason }

// DefaultMaxOutstanding is the default bound on a connection's queued and
// in-flight requests: far above what a healthy server has (each client
// has at most 256 requests in the proxy), low enough that a stalled
// server cannot make the proxy hold requests without bound.
const DefaultMaxOutstanding = 65536

func (o *Options) maxOutstanding() int {
	if o.MaxOutstanding > 0 {
		return o.MaxOutstanding
	}
	return DefaultMaxOutstanding
}

// Conn is one server connection, shared by many clients.
type Conn struct {
	opts *Options

	outstanding atomic.Int64 // requests sent and not yet replied or failed
	// idle, set by CloseWhenIdle, is signalled when outstanding falls to 0.
	idle atomic.Pointer[chan struct{}]

	// single: the connection is dialed once; after it breaks, every
	// request fails (a pinned connection: see NewSingle).
	single bool
	broken atomic.Bool // a single connection's session is over

	mu       sync.Mutex
	queue    []*proto.Request // waiting for the writer
	closed   bool
	redirect *Redirected   // set by Redirect for the writer
	wake     chan struct{} // cap 1: the queue became non-empty
	done     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the writer has exited

	// Owned by the writer goroutine.
	batch   []*proto.Request
	noReply []*proto.Request // the batch's requests that get no reply
	wbuf    []byte
	segs    net.Buffers // writev segments when the batch holds a large request
	sess    *session
}

// DefaultConnectTimeout bounds a dial when the pool has no timeout.
const DefaultConnectTimeout = 10 * time.Second

// maxIdleBuffer is the largest buffer a connection keeps between bursts.
const maxIdleBuffer = 256 << 10

// DirectWriteSize is the size from which a message is written from its own
// buffer rather than copied into a connection's output buffer.
const DirectWriteSize = 64 << 10

// New returns an idle Conn and starts its writer.
func New(opts *Options) *Conn {
	c := &Conn{
		opts:    opts,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go c.writeLoop()
	return c
}

// NewSingle returns an idle Conn that dials once: when that connection
// breaks (or cannot be made), the request then and every later one fail,
// and it never dials again. A client's own connection for a transaction
// is one, so that no command of it can reach the server on a connection
// where the transaction is not open.
func NewSingle(opts *Options) *Conn {
	c := New(opts)
	c.single = true
	return c
}

// Broken reports whether a Conn made by NewSingle has lost its connection.
func (c *Conn) Broken() bool { return c.broken.Load() }

// Send queues r for the server. It never blocks on I/O.
func (c *Conn) Send(r *proto.Request) {
	one := [1]*proto.Request{r}
	c.SendBatch(one[:])
}

// SendBatch queues rs for the server, in order, as Send does each, for
// the cost of one Send: a client's pipelined requests to one server,
// read at once, take the connection's lock once. It keeps no reference
// to rs.
func (c *Conn) SendBatch(rs []*proto.Request) {
	n := int64(len(rs))
	if c.outstanding.Add(n) > int64(c.opts.maxOutstanding()) {
		c.outstanding.Add(-n)
		if n > 1 { // as many as fit
			for _, r := range rs {
				c.Send(r)
			}
			return
		}
		failAll(rs, ErrQueueFull)
		return
	}
	var size int64
	for _, r := range rs {
		size += int64(len(r.Wire))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.outstanding.Add(-n)
		failAll(rs, ErrClosed)
		return
	}
	// Counted before they are queued: from then on the writer owns them.
	st := c.opts.Stats
	st.InQueue.Add(n)
	st.InQueueBytes.Add(size)
	first := len(c.queue) == 0
	c.queue = append(c.queue, rs...)
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// Redirect ends the connection's session, if it has one, because its
// server moved (Options.Moves): the requests in flight fail with why;
// those queued go where the Address points now, on a new connection
// dialed at once. A connection of NewSingle breaks for good.
func (c *Conn) Redirect(why *Redirected) {
	c.mu.Lock()
	c.redirect = why
	c.mu.Unlock()
	c.Connect()
}

// Connect asks the writer to dial now (preconnect) without a request.
func (c *Conn) Connect() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close fails every queued and in-flight request with ErrClosed, closes
// the connection and waits for the writer to exit.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.stopped
		return
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	<-c.stopped
}

// CloseWhenIdle closes the connection once no request is queued or in
// flight on it, or after grace at most, or when abort is closed (requests
// then left fail with ErrClosed). A reload retires connections this way.
func (c *Conn) CloseWhenIdle(grace time.Duration, abort <-chan struct{}) {
	idle := make(chan struct{}, 1)
	c.idle.Store(&idle)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for c.outstanding.Load() != 0 {
		select {
		case <-idle:
		case <-timer.C:
			c.Close()
			return
		case <-abort:
			c.Close()
			return
		}
	}
	c.Close()
}

func (c *Conn) writeLoop() {
	defer close(c.stopped)
	for {
		select {
		case <-c.wake:
		case <-c.done:
			c.shutdown()
			return
		}
		// Let the client goroutines that are ready run first: their
		// requests then join this batch, and one write carries them all
		// (twemproxy's event loop gets the same effect by reading every
		// ready client before writing to a server).
		runtime.Gosched()
		c.mu.Lock()
		if c.opts.OneInFlight {
			c.batch = c.takeOne(c.batch[:0])
		} else {
			c.batch, c.queue = c.queue, c.batch[:0]
		}
		redirect := c.redirect
		c.redirect = nil
		c.mu.Unlock()
		c.dequeued()
		if redirect != nil && c.sess != nil {
			c.sess.fail(redirect)
		}
		if c.single && (c.broken.Load() || c.sess != nil && c.sess.isBroken()) {
			c.broken.Store(true)
			c.failBatch(ErrReset)
			continue
		}
		if c.sess == nil || c.sess.isBroken() {
			if err := c.dial(); err != nil {
				if c.single {
					c.broken.Store(true)
				}
				c.failBatch(err)
				continue
			}
		}
		if len(c.batch) > 0 {
			c.write()
			clear(c.batch)
			if c.opts.OneInFlight {
				c.Connect() // for the next, if this one needed no reply
			}
		}
	}
}

// takeOne appends to batch the oldest queued request when none is in
// flight (OneInFlight); c.mu is held.
func (c *Conn) takeOne(batch []*proto.Request) []*proto.Request {
	if len(c.queue) == 0 || c.sess != nil && c.sess.busy() {
		return batch
	}
	batch = append(batch, c.queue[0])
	c.queue = append(c.queue[:0], c.queue[1:]...)
	return batch
}

// write sends the batch as one write. Requests go into the in-flight FIFO
// before the bytes leave, so the reader can always match a reply.
//
// Small requests are copied into one buffer; a large one (a big value) is
// written from its own buffer with writev, so its bytes are never copied
// again on the way out.
func (c *Conn) write() {
	c.wbuf = c.wbuf[:0]
	c.noReply = c.noReply[:0]
	c.segs = c.segs[:0]
	mark := 0 // start of wbuf bytes not yet in segs
	for _, r := range c.batch {
		if len(r.Wire) >= DirectWriteSize {
			if len(c.wbuf) > mark {
				c.segs = append(c.segs, c.wbuf[mark:])
				mark = len(c.wbuf)
			}
			c.segs = append(c.segs, r.Wire)
		} else {
			c.wbuf = append(c.wbuf, r.Wire...)
		}
		if r.NoReply {
			c.noReply = append(c.noReply, r)
		}
	}
	s := c.sess
	if !s.push(c.batch, time.Now(), c.opts.Timeout) {
		// The reader saw the connection break after the check above; the
		// batch is not on the wire, so it fails with the session's error.
		c.failBatch(s.failure())
		return
	}
	var err error
	if len(c.segs) == 0 {
		_, err = s.sock.Write(c.wbuf)
	} else {
		if len(c.wbuf) > mark {
			c.segs = append(c.segs, c.wbuf[mark:])
		}
		bufs := c.segs
		_, err = s.sock.WriteBuffers(bufs)
		clear(c.segs)
	}
	if err != nil {
		s.fail(classify(err))
	}
	// The other requests belong to the reader now: touch only these.
	for _, r := range c.noReply {
		c.replied(r)
		r.Owner.Complete(r)
	}
	clear(c.noReply)
	if cap(c.wbuf) > maxIdleBuffer {
		c.wbuf = nil // give a burst's buffer back
	}
}

func (c *Conn) dial() error {
	timeout := c.opts.Timeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	if c.opts.KeepAlive {
		d.KeepAlive = 0 // Go's default keep-alive period
	}
	addr := c.opts.Addr
	if c.opts.Moves != nil {
		var none error
		if addr, none = c.opts.Moves.Get(); none != nil {
			return none // nothing was tried: not the server's failure
		}
	}
	conn, err := d.Dial(c.opts.Network, addr)
	if err != nil {
		return c.dialFailed(classify(err))
	}
	if c.opts.TLS != nil {
		if conn, err = c.handshake(conn, addr, timeout); err != nil {
			return c.dialFailed(err)
		}
	}
	s := newSession(c, addr, conn)
	c.sess = s
	if len(c.opts.Handshake) > 0 {
		hs := make([]*proto.Request, len(c.opts.Handshake))
		for i, w := range c.opts.Handshake {
			hs[i] = &proto.Request{Wire: w}
			c.outstanding.Add(1)
			c.opts.Stats.InQueue.Add(1)
			c.opts.Stats.InQueueBytes.Add(int64(len(w)))
		}
		saved := c.batch
		c.batch = hs
		c.dequeued()
		c.write()
		c.batch = saved
	}
	go s.readLoop()
	return nil
}

// dialFailed counts a connection that could not be made as the server's
// failure, and returns err.
func (c *Conn) dialFailed(err error) error {
	c.opts.Stats.Err.Add(1)
	if c.opts.Events != nil {
		c.opts.Events.ServerFailed(err)
	}
	return err
}

// handshake makes conn, dialed to addr, a TLS connection; it closes conn
// when the handshake fails.
func (c *Conn) handshake(conn net.Conn, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tc, err := tlsdial.Client(ctx, conn, tlsdial.Host(addr), c.opts.TLS)
	if err != nil {
		conn.Close()
		if c.opts.TLSFailures != nil {
			c.opts.TLSFailures[stats.TLSFailureReason(err)].Add(1)
		}
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

func (c *Conn) shutdown() {
	c.mu.Lock()
	c.batch, c.queue = c.queue, nil
	c.mu.Unlock()
	c.dequeued()
	c.failBatch(ErrClosed)
	if c.sess != nil {
		c.sess.fail(ErrClosed)
		<-c.sess.readerDone
	}
}

// dequeued moves the batch from the server's in_queue to its out_queue
// and counts its requests.
func (c *Conn) dequeued() {
	var n int64
	for _, r := range c.batch {
		n += int64(len(r.Wire))
	}
	st, k := c.opts.Stats, int64(len(c.batch))
	st.InQueue.Add(-k)
	st.InQueueBytes.Add(-n)
	st.OutQueue.Add(k)
	st.OutQueueBytes.Add(n)
	st.Requests.Add(k)
	st.RequestBytes.Add(n)
}

// failBatch fails the requests the writer took that never reached the
// wire.
func (c *Conn) failBatch(err error) {
	for _, r := range c.batch {
		c.replied(r)
	}
	failAll(c.batch, err)
	clear(c.batch)
}

// replied takes a request that failed, or was sent and wants no reply,
// off the server's out_queue and the connection's outstanding count.
func (c *Conn) replied(r *proto.Request) {
	c.opts.Stats.OutQueue.Add(-1)
	c.opts.Stats.OutQueueBytes.Add(-int64(len(r.Wire)))
	c.repliedN(1)
}

// repliedN takes n requests that got their reply or failed off the
// connection's outstanding count (their stats are the caller's).
func (c *Conn) repliedN(n int64) {
	if c.outstanding.Add(-n) == 0 {
		if idle := c.idle.Load(); idle != nil {
			select {
			case *idle <- struct{}{}:
			default:
			}
		}
	}
}

func failAll(rs []*proto.Request, err error) {
	for _, r := range rs {
		r.Err = err
		if r.Owner != nil {
			r.Owner.Complete(r)
		}
	}
}

// classify maps a network error to the error twemproxy would report.
func classify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOENT):
		return ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ErrReset
	case errors.As(err, &ne) && ne.Timeout():
		return ErrTimedOut
	case errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.EHOSTUNREACH):
		return ErrHostDown
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return ErrHostDown
	}
	return fmt.Errorf("%w", err)
}

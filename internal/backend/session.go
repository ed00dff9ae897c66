package backend

import (
	"errors"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/rawio"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// session is one established TCP or unix connection of a Conn. It ends at
// the first failure; the Conn then dials a new session for later requests.
type session struct {
	c    *Conn
	addr string // where it is connected, for logs
	conn net.Conn
	sock *rawio.Conn // reads and writes conn

	mu       sync.Mutex
	inflight []*proto.Request // sent (or being sent), oldest first, from head on
	head     int
	broken   bool
	err      error
	armed    bool // a read deadline is set, no later than the oldest in-flight request's expiry
	// reading is the head request whose reply the reader reads straight
	// into its Reply (see readLarge): fail leaves it to the reader.
	reading *proto.Request
	// The reader's own: batch is what the owners of the replies of one
	// read left to be done after it; replies tallies them for the
	// server's stats (counted); heads and ends are complete's scratch.
	batch   proto.Batch
	replies stats.Replies
	heads   []*proto.Request
	ends    []int

	readerDone chan struct{}
}

func newSession(c *Conn, addr string, conn net.Conn) *session {
	c.opts.Stats.Connections.Add(1)
	c.opts.Stats.Process.AddConn()
	return &session{c: c, addr: addr, conn: conn, sock: rawio.New(conn), readerDone: make(chan struct{})}
}

// busy reports whether a request is in flight.
func (s *session) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head < len(s.inflight)
}

func (s *session) isBroken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

func (s *session) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// push appends a batch about to be written to the in-flight FIFO and arms
// the reply timeout. It reports false when the session is already broken.
func (s *session) push(batch []*proto.Request, now time.Time, timeout time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return false
	}
	for _, r := range batch {
		if !r.NoReply {
			r.SentAt = now
			s.inflight = append(s.inflight, r)
		}
	}
	if timeout > 0 && !s.armed {
		s.conn.SetReadDeadline(now.Add(timeout))
		s.armed = true
	}
	return true
}

// popLocked removes the oldest in-flight request; nil when none is in
// flight.
func (s *session) popLocked() *proto.Request {
	if s.head == len(s.inflight) {
		return nil
	}
	r := s.inflight[s.head]
	s.inflight[s.head] = nil
	s.head++
	if s.head == len(s.inflight) {
		s.head = 0
		s.inflight = s.inflight[:0]
	}
	return r
}

func (s *session) peek() *proto.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.inflight) {
		return nil
	}
	return s.inflight[s.head]
}

// rearm sets the read deadline from the oldest in-flight request, or clears
// it when nothing is in flight. It runs only when the deadline passed: a
// deadline is left as it is while replies come (resetting it per reply
// cost a timer update per request), so it may come early, for a request
// already answered; then the reader finds the oldest request not expired
// and rearms.
func (s *session) rearm(timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return
	}
	if s.head == len(s.inflight) {
		if s.armed {
			s.conn.SetReadDeadline(time.Time{})
			s.armed = false
		}
		return
	}
	s.conn.SetReadDeadline(s.inflight[s.head].SentAt.Add(timeout))
	s.armed = true
}

// fail breaks the session once: the socket is closed and every in-flight
// request completes with err.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.broken {
		s.mu.Unlock()
		return
	}
	s.broken = true
	s.err = err
	taken := s.inflight[s.head:]
	if len(taken) > 0 && taken[0] == s.reading {
		taken = taken[1:] // the reader fails it when its read ends
	}
	s.inflight, s.head = nil, 0
	s.mu.Unlock()
	s.conn.Close()
	st := s.c.opts.Stats
	st.Connections.Add(-1)
	st.Process.DoneConn()
	var moved *Redirected
	quiet := err == ErrClosed || errors.As(err, &moved) // the proxy's doing, not the server's
	switch {
	case quiet:
	case err == ErrReset:
		st.EOF.Add(1)
	case err == ErrTimedOut:
		st.TimedOut.Add(1)
	default:
		st.Err.Add(1)
	}
	for _, r := range taken {
		s.c.replied(r)
	}
	failAll(taken, err)
	if s.c.opts.OneInFlight {
		s.c.Connect() // the writer dials again for what is queued
	}
	if !quiet && s.c.opts.Events != nil {
		s.c.opts.Events.ServerFailed(err)
	}
}

// readLoop reads replies and completes in-flight requests in order.
func (s *session) readLoop() {
	defer close(s.readerDone)
	opts := s.c.opts
	framer := opts.NewFramer()
	size := opts.ReadBufferSize
	if size <= 0 {
		size = 16 << 10
	}
	buf := make([]byte, 0, size)
	for {
		read := true
		if len(buf) == cap(buf) {
			// A reply larger than the buffer: read it into its request,
			// unless it is a handshake's.
			if r := s.peek(); r != nil && r.Owner != nil && s.startReading(r) {
				var ok bool
				buf, ok = s.readLarge(framer, r, buf)
				s.countReplies()
				s.batch.Run()
				if !ok {
					return
				}
				if opts.Events != nil {
					opts.Events.ServerOK()
				}
				read = false // the replies read past it come first
			} else {
				grown := make([]byte, len(buf), 2*cap(buf))
				copy(grown, buf)
				buf = grown
			}
		}
		if read {
			n, err := s.sock.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				if isTimeout(err) && !s.expired(opts.Timeout) {
					s.rearm(opts.Timeout)
					continue
				}
				s.fail(classify(err))
				return
			}
		}
		off, ok := s.complete(framer, buf, time.Now())
		s.countReplies()
		s.batch.Run() // the owners of the replies just handed over
		if !ok {
			return
		}
		if off > 0 {
			rest := copy(buf, buf[off:])
			buf = buf[:rest]
			if rest == 0 && cap(buf) > maxIdleBuffer {
				buf = make([]byte, 0, size)
			}
			if opts.Events != nil {
				opts.Events.ServerOK()
			}
		}
	}
}

// complete hands every whole reply in buf to its request and returns the
// bytes consumed; false when the session failed.
//
// It takes the requests in flight in runs (heads), frames their replies
// without the lock, and takes the run framed off the FIFO at once
// (popFramed): two lockings of the session per run rather than per
// reply. A failure meanwhile (fail) took the FIFO and failed them; the
// replies framed are then moot.
func (s *session) complete(framer proto.Framer, buf []byte, now time.Time) (int, bool) {
	off := 0
	for off < len(buf) {
		heads, ok := s.peekHeads()
		if !ok {
			return off, false // failed meanwhile (closed, timed out): its replies are moot
		}
		if len(heads) == 0 {
			logging.Warnf("server %s sent %d bytes with no request in flight", s.addr, len(buf)-off)
			s.fail(ErrBadReply)
			return off, false
		}
		s.ends = s.ends[:0]
		end := off
		var bad error
		for _, r := range heads {
			n, err := framer.Frame(r, buf[end:])
			if err != nil {
				bad = err
				break
			}
			if n == 0 {
				break
			}
			end += n
			s.ends = append(s.ends, end)
		}
		framed := heads[:len(s.ends)]
		if len(framed) > 0 && !s.popFramed(framed) {
			clear(s.heads)
			return off, false
		}
		for i, r := range framed {
			reply := buf[off:s.ends[i]]
			off = s.ends[i]
			if r.Owner == nil {
				s.counted(r, len(reply), now)
				if len(reply) > 0 && reply[0] == '-' {
					logging.Warnf("server %s rejected a connection handshake: %s", s.addr, trimCRLF(reply))
				}
				continue
			}
			r.Reply = append(r.Reply[:0], reply...)
			s.deliver(r, now)
		}
		clear(s.heads) // holds no request past its reply
		if bad != nil {
			logging.Warnf("server %s sent a bad reply: %v", s.addr, bad)
			s.fail(ErrBadReply)
			return off, false
		}
		if len(framed) < len(heads) {
			break // the next reply is not whole yet
		}
	}
	return off, true
}

// maxHeads is the most requests in flight complete takes at once.
const maxHeads = 64

// peekHeads returns the oldest requests in flight, up to maxHeads, in
// s.heads; false when the session is broken.
func (s *session) peekHeads() ([]*proto.Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return nil, false
	}
	s.heads = append(s.heads[:0], s.inflight[s.head:min(len(s.inflight), s.head+maxHeads)]...)
	return s.heads, true
}

// popFramed takes framed, the oldest requests in flight, off the FIFO;
// false when the session failed since peekHeads (and failed them).
func (s *session) popFramed(framed []*proto.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return false
	}
	for range framed {
		s.popLocked()
	}
	return true
}

// counted counts r, which has its reply of n bytes, off the connection:
// in the session's tally, which countReplies adds to the server's stats.
func (s *session) counted(r *proto.Request, n int, now time.Time) {
	s.replies.Add(n, len(r.Wire), now.Sub(r.SentAt))
}

// countReplies adds the replies tallied since the last call to the
// server's stats and takes them off the connection's outstanding count:
// after each read, before the clients are woken, and before an owner
// outside a batch is told of its reply.
func (s *session) countReplies() {
	if n := s.replies.Len(); n > 0 {
		s.c.opts.Stats.AddReplies(&s.replies)
		s.c.repliedN(n)
	}
}

// deliver hands r, taken off the FIFO with its reply in r.Reply, to its
// owner.
func (s *session) deliver(r *proto.Request, now time.Time) {
	s.counted(r, len(r.Reply), now)
	r.DoneAt = now
	if o, ok := r.Owner.(proto.BatchOwner); ok {
		o.CompleteIn(r, &s.batch)
	} else {
		s.countReplies()
		r.Owner.Complete(r)
	}
	if s.c.opts.OneInFlight {
		s.c.Connect() // the writer sends the next
	}
}

// startReading makes r, the head of the FIFO, the request whose reply is
// read into its own buffer; false when the session failed meanwhile.
func (s *session) startReading(r *proto.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken || s.head == len(s.inflight) || s.inflight[s.head] != r {
		return false
	}
	s.reading = r
	return true
}

// endReading ends the direct read of r: it takes r off the FIFO and
// reports true, or false when the session failed meanwhile (fail left r to
// the reader).
func (s *session) endReading(r *proto.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reading = nil
	if s.broken {
		return false
	}
	s.popLocked()
	return true
}

// readLarge reads the reply of r, whose start fills buf, straight into
// r.Reply: a reply larger than the read buffer is then copied neither as
// the buffer grows nor out of it. It returns buf holding the bytes read
// past the reply, or false when the session failed (and r with it).
func (s *session) readLarge(framer proto.Framer, r *proto.Request, buf []byte) ([]byte, bool) {
	opts := s.c.opts
	reply := append(slices.Grow(r.Reply[:0], 2*len(buf)), buf...)
	buf = buf[:0]
	for {
		if len(reply) == cap(reply) {
			reply = slices.Grow(reply, len(reply))
		}
		n, err := s.sock.Read(reply[len(reply):cap(reply)])
		reply = reply[:len(reply)+n]
		now := time.Now()
		if err != nil {
			if isTimeout(err) && !s.expired(opts.Timeout) {
				s.rearm(opts.Timeout)
				continue
			}
			s.fail(classify(err))
			s.failReading(r, reply)
			return buf, false
		}
		l, err := framer.Frame(r, reply)
		if err != nil {
			logging.Warnf("server %s sent a bad reply: %v", s.addr, err)
			s.fail(ErrBadReply)
			s.failReading(r, reply)
			return buf, false
		}
		if l == 0 {
			continue
		}
		buf = append(buf, reply[l:]...)
		r.Reply = reply[:l]
		if !s.endReading(r) {
			s.failReading(r, r.Reply)
			return buf, false
		}
		s.deliver(r, now)
		return buf, true
	}
}

// failReading fails r, whose direct read the session's failure ended.
func (s *session) failReading(r *proto.Request, reply []byte) {
	s.mu.Lock()
	s.reading = nil
	err := s.err
	s.mu.Unlock()
	s.c.replied(r)
	r.Reply, r.Err = reply[:0], err
	r.Owner.Complete(r)
}

// expired reports whether the oldest in-flight request is past timeout.
func (s *session) expired(timeout time.Duration) bool {
	r := s.peek()
	return timeout > 0 && r != nil && time.Since(r.SentAt) >= timeout
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

package backend

import (
	"errors"
	"net"
	"sync"
	"time"

	"nutcracker/internal/logging"
)

// session is one established TCP or unix connection of a Conn. It ends at
// the first failure; the Conn then dials a new session for later requests.
type session struct {
	c    *Conn
	conn net.Conn

	mu       sync.Mutex
	inflight []*Request // sent (or being sent), oldest first, from head on
	head     int
	broken   bool
	err      error
	armed    bool // a read deadline is set

	readerDone chan struct{}
}

func newSession(c *Conn, conn net.Conn) *session {
	c.opts.Stats.Connections.Add(1)
	c.opts.Stats.Process.AddConn()
	return &session{c: c, conn: conn, readerDone: make(chan struct{})}
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
func (s *session) push(batch []*Request, now time.Time, timeout time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return false
	}
	for _, r := range batch {
		if !r.NoReply {
			r.sentAt = now
			s.inflight = append(s.inflight, r)
		}
	}
	if timeout > 0 && !s.armed {
		s.conn.SetReadDeadline(now.Add(timeout))
		s.armed = true
	}
	return true
}

// pop removes the oldest in-flight request; nil when none is in flight.
func (s *session) pop() *Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.popLocked()
}

func (s *session) popLocked() *Request {
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

func (s *session) peek() *Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.inflight) {
		return nil
	}
	return s.inflight[s.head]
}

// rearm sets the read deadline from the oldest in-flight request, or clears
// it when nothing is in flight.
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
	s.conn.SetReadDeadline(s.inflight[s.head].sentAt.Add(timeout))
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
	s.inflight, s.head = nil, 0
	s.mu.Unlock()
	s.conn.Close()
	st := s.c.opts.Stats
	st.Connections.Add(-1)
	st.Process.DoneConn()
	switch err {
	case ErrClosed:
	case ErrReset:
		st.EOF.Add(1)
	case ErrTimedOut:
		st.TimedOut.Add(1)
	default:
		st.Err.Add(1)
	}
	for _, r := range taken {
		s.c.replied(r)
	}
	failAll(taken, err)
	if err != ErrClosed && s.c.opts.Events != nil {
		s.c.opts.Events.ServerFailed(err)
	}
}

// readLoop reads replies and completes in-flight requests in order.
func (s *session) readLoop() {
	defer close(s.readerDone)
	opts := s.c.opts
	codec := opts.NewCodec()
	size := opts.ReadBufferSize
	if size <= 0 {
		size = 16 << 10
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), 2*cap(buf))
			copy(grown, buf)
			buf = grown
		}
		n, err := s.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if isTimeout(err) && !s.expired(opts.Timeout) {
				s.rearm(opts.Timeout)
				continue
			}
			s.fail(classify(err))
			return
		}
		off, ok := s.complete(codec, buf, time.Now())
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
		s.rearm(opts.Timeout)
	}
}

// complete hands every whole reply in buf to its request and returns the
// bytes consumed; false when the session failed.
func (s *session) complete(codec Codec, buf []byte, now time.Time) (int, bool) {
	off := 0
	for off < len(buf) {
		r := s.peek()
		if r == nil && s.isBroken() {
			return off, false // failed meanwhile (closed, timed out): its replies are moot
		}
		if r == nil {
			logging.Warnf("server %s sent %d bytes with no request in flight", s.c.opts.Addr, len(buf)-off)
			s.fail(ErrBadReply)
			return off, false
		}
		n, err := codec.ReplyLen(r, buf[off:])
		if err != nil {
			logging.Warnf("server %s sent a bad reply: %v", s.c.opts.Addr, err)
			s.fail(ErrBadReply)
			return off, false
		}
		if n == 0 {
			break
		}
		codec.Reset()
		if s.pop() != r {
			// fail() took the FIFO while we parsed; r was failed there.
			return off, false
		}
		reply := buf[off : off+n]
		off += n
		s.c.replied(r)
		st := s.c.opts.Stats
		st.Responses.Add(1)
		st.ResponseBytes.Add(int64(n))
		st.ObserveLatency(now.Sub(r.sentAt))
		if r.Owner == nil {
			if len(reply) > 0 && reply[0] == '-' {
				logging.Warnf("server %s rejected a connection handshake: %s", s.c.opts.Addr, trimCRLF(reply))
			}
			continue
		}
		r.Reply = append(r.Reply[:0], reply...)
		r.DoneAt = now
		r.Owner.Complete(r)
	}
	return off, true
}

// expired reports whether the oldest in-flight request is past timeout.
func (s *session) expired(timeout time.Duration) bool {
	r := s.peek()
	return timeout > 0 && r != nil && time.Since(r.sentAt) >= timeout
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

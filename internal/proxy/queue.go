package proxy

import "sync"

// requests is a client's FIFO of requests from its reader to its writer.
// It is a ring that grows on demand up to maxPipeline slots, so an idle
// client holds a few slots, not maxPipeline; the reader waits for room
// when it is full. The reader pushes what it dispatched from one read at
// once (outbox). The writer is started for a reply ready, a request
// answered by the proxy, or the close (client.wakeWriter).
type requests struct {
	mu     sync.Mutex
	ring   []*msg
	head   int
	n      int
	closed bool
	full   bool          // the reader waits for room
	room   chan struct{} // cap 1: a slot was freed while full; made the first time
}

// keptRing is the largest ring kept once the queue is empty: deeper
// pipelines get theirs back when they need it.
const keptRing = 64

// pushAll appends ms, in order, waiting until there is room for all of
// them: len(ms) is at most maxOutboxMsgs, well under maxPipeline, and
// every request queued before is already sent (see outbox), so the
// writer makes room.
func (q *requests) pushAll(ms []*msg) {
	q.mu.Lock()
	for q.n+len(ms) > maxPipeline {
		if q.room == nil { // made once needed: most clients never fill the queue
			q.room = make(chan struct{}, 1)
		}
		q.full = true
		room := q.room
		q.mu.Unlock()
		<-room
		q.mu.Lock()
	}
	for q.n+len(ms) > len(q.ring) {
		q.grow()
	}
	for _, m := range ms {
		q.ring[(q.head+q.n)%len(q.ring)] = m
		q.n++
	}
	q.mu.Unlock()
}

// grow doubles the ring (under mu).
func (q *requests) grow() {
	ring := make([]*msg, max(4, 2*len(q.ring)))
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// popBatch appends the oldest requests, up to maxTaken, to dst. None
// appended: closed reports that none will be.
func (q *requests) popBatch(dst []*msg) (taken []*msg, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return dst, q.closed
	}
	k := min(q.n, maxTaken)
	for range k {
		dst = append(dst, q.ring[q.head])
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
	}
	if q.n -= k; q.n == 0 {
		q.head = 0
		if len(q.ring) > keptRing {
			q.ring = nil
		}
	}
	if q.full {
		q.full = false
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
	return dst, false
}

// maxTaken is the most requests the writer takes off the queue at once.
const maxTaken = 64

// ready reports whether popBatch would return a request or the close.
func (q *requests) ready() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n > 0 || q.closed
}

// close marks the end of the requests (under the reader).
func (q *requests) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// reopen starts a new run of requests after close, once the writer has
// taken every request of the last one (the reader stopped to park), and
// lets go of the ring.
func (q *requests) reopen() {
	q.mu.Lock()
	q.closed = false
	q.ring, q.head = nil, 0
	q.mu.Unlock()
}

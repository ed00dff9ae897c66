package stats

import "time"

// latencyBounds are the upper bounds (inclusive, as Prometheus's "le") of
// the request latency buckets; a last, unbounded bucket follows them.
var latencyBounds = [...]time.Duration{
	100 * time.Microsecond,
	250 * time.Microsecond,
	500 * time.Microsecond,
	1 * time.Millisecond,
	2500 * time.Microsecond,
	5 * time.Millisecond,
	10 * time.Millisecond,
	25 * time.Millisecond,
	50 * time.Millisecond,
	100 * time.Millisecond,
	250 * time.Millisecond,
	500 * time.Millisecond,
	1 * time.Second,
}

// Replies tallies the replies one server connection has read, for its
// Server to count at once (AddReplies): a reader adds each reply to its
// own tally with plain adds, and the shared counters, which every
// connection to the server adds to, take a few atomic adds per read
// rather than ten per reply.
type Replies struct {
	n       int64 // replies: responses, and off the out_queue
	bytes   int64 // their bytes: response_bytes
	sent    int64 // their requests' bytes: off out_queue_bytes
	latency [len(latencyBounds) + 1]int64
	sum     time.Duration
}

// Add counts a reply of replyBytes to a request of requestBytes, which
// took d to come.
func (t *Replies) Add(replyBytes, requestBytes int, d time.Duration) {
	t.n++
	t.bytes += int64(replyBytes)
	t.sent += int64(requestBytes)
	d = max(d, 0)
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	t.latency[i]++
	t.sum += d
}

// Len returns how many replies t holds.
func (t *Replies) Len() int64 { return t.n }

// AddReplies counts the replies of t and empties it: responses and their
// bytes, the out_queue they leave, and their latencies in the histogram.
// It does not allocate; a nil s counts nothing.
func (s *Server) AddReplies(t *Replies) {
	if t.n == 0 {
		return
	}
	if s != nil {
		s.Responses.Add(t.n)
		s.ResponseBytes.Add(t.bytes)
		s.OutQueue.Add(-t.n)
		s.OutQueueBytes.Add(-t.sent)
		for i, n := range t.latency {
			if n != 0 {
				s.latency.counts[i].Add(n)
			}
		}
		s.latency.sumNanos.Add(int64(t.sum))
	}
	*t = Replies{}
}

// latencySnapshot reads the histogram: per-bucket counts (not cumulative,
// the last one unbounded), their total and the sum of observations.
//
// The count is the buckets' total rather than an atomic of its own, so a
// scrape that races with AddReplies still sees a count equal to its
// +Inf bucket; only the sum may be one read's replies ahead or behind.
func (s *Server) latencySnapshot() (counts [len(latencyBounds) + 1]uint64, count uint64, sum time.Duration) {
	for i := range counts {
		counts[i] = uint64(s.latency.counts[i].Load())
		count += counts[i]
	}
	return counts, count, time.Duration(s.latency.sumNanos.Load())
}

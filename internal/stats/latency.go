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

// ObserveLatency counts one request that took d in the server's latency
// histogram. It costs two atomic adds (the bucket and the sum) and does not
// allocate, so the request path may call it once per request. A nil s is
// allowed and counts nothing.
func (s *Server) ObserveLatency(d time.Duration) {
	if s == nil {
		return
	}
	if d < 0 {
		d = 0
	}
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	s.latency.counts[i].Add(1)
	s.latency.sumNanos.Add(int64(d))
}

// latencySnapshot reads the histogram: per-bucket counts (not cumulative,
// the last one unbounded), their total and the sum of observations.
//
// The count is the buckets' total rather than an atomic of its own, so a
// scrape that races with ObserveLatency still sees a count equal to its
// +Inf bucket; only the sum may be one observation ahead or behind.
func (s *Server) latencySnapshot() (counts [len(latencyBounds) + 1]uint64, count uint64, sum time.Duration) {
	for i := range counts {
		counts[i] = uint64(s.latency.counts[i].Load())
		count += counts[i]
	}
	return counts, count, time.Duration(s.latency.sumNanos.Load())
}

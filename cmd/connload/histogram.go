package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the histogram's precision: every power of two is cut into
// 2^subBits buckets of equal width, so a recorded value is known to within
// 1/64 (1.6%) of itself, whatever its size, in a fixed ~17 KB.
const subBits = 6

const (
	subCount = 1 << subBits
	// maxShift covers durations up to 2^(maxShift+subBits+1) ns, 2^41 ns =
	// 36 minutes; anything longer lands in the last bucket.
	maxShift   = 34
	numBuckets = (maxShift + 2) * subCount
)

// histogram counts durations in log-linear buckets (the shape of
// HdrHistogram): exact below 64 ns, then 64 buckets per power of two. Record
// is safe from many goroutines at once: the counters are atomic, and the load
// tool runs on one core, where they are seldom contended.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
}

// bucketOf is the bucket of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	if shift > maxShift {
		return numBuckets - 1
	}
	// v>>shift has subBits+1 bits: its top bit is the power of two, the
	// rest pick the bucket within it.
	return (shift+1)<<subBits + int(v>>shift) - subCount
}

// bucketBounds are the smallest and the largest value of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := i>>subBits - 1
	top := uint64(i&(subCount-1) + subCount)
	return top << shift, (top+1)<<shift - 1
}

// Record counts one duration (a negative one as 0).
func (h *histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of durations recorded.
func (h *histogram) Count() uint64 { return h.total.Load() }

// Max is the longest duration recorded, exactly.
func (h *histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile is the duration that q (0 < q <= 1) of the recorded ones do not
// exceed: the upper end of the bucket holding that rank, never above Max, so
// it errs high by at most a bucket's width (1.6%). 0 when nothing was recorded.
func (h *histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999) // the ceiling, without float noise pushing an exact rank up
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(time.Duration(hi), h.Max())
		}
	}
	return h.Max()
}

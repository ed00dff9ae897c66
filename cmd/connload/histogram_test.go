package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every value lies within its bucket, buckets follow each other without a gap,
// and a bucket is at most 1/64 of its values wide.
func TestHistogramBuckets(t *testing.T) {
	prevHi := uint64(0)
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, the one before ends at %d", i, lo, prevHi)
		}
		if width := hi - lo + 1; width > 1 && float64(width) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of %d", i, lo, hi, subCount, lo)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		prevHi = hi
	}
	if got := bucketOf(1 << 62); got != numBuckets-1 {
		t.Errorf("bucketOf(2^62) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

// Quantiles of random latencies agree with the sorted sample to the
// histogram's precision, and never fall below it.
func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	r := rand.New(rand.NewPCG(1, 2))
	sample := make([]time.Duration, 100000)
	for i := range sample {
		// Mostly 50-300 µs, with a tail up to 50 ms: a loopback GET's shape.
		d := time.Duration(50e3 + r.ExpFloat64()*60e3)
		if r.IntN(100) == 0 {
			d = time.Duration(r.Int64N(50e6))
		}
		sample[i] = d
		h.Record(d)
	}
	slices.Sort(sample)
	if h.Count() != uint64(len(sample)) || h.Max() != sample[len(sample)-1] {
		t.Fatalf("count %d max %v, want %d %v", h.Count(), h.Max(), len(sample), sample[len(sample)-1])
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := sample[int(q*float64(len(sample)))-1]
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("quantile %v = %v, want %v (to within 1/%d above)", q, got, want, subCount)
		}
	}
}

func TestHistogramEmptyAndSmall(t *testing.T) {
	var h histogram
	if got := h.Quantile(0.99); got != 0 {
		t.Errorf("empty histogram's p99 = %v, want 0", got)
	}
	for _, d := range []time.Duration{3, 5, -1, 40} {
		h.Record(d)
	}
	// Below 64 ns every value is its own bucket: exact.
	for q, want := range map[float64]time.Duration{0.25: 0, 0.5: 3, 0.75: 5, 1: 40} {
		if got := h.Quantile(q); got != want {
			t.Errorf("quantile %v = %v, want %v", q, got, want)
		}
	}
}

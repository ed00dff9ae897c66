package proxy

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// A burst (100,000 requests held for stopped servers, thousands of
// connections opened and closed) leaves the process holding much more
// memory than stays live, and a proxy whose request path allocates
// nothing may not collect for a long time; Go's background scavenger then
// gives the memory back over minutes. The proxy looks every releaseEvery:
// when what it holds is more than releaseAbove over the least it held
// after a release, or at least every releaseAtLeast, it collects and
// returns what is free. So memory a burst took goes back within
// releaseEvery of the burst's end, even when a release during the burst
// found it all live.
const (
	releaseEvery   = 5 * time.Second
	releaseAbove   = 8 << 20
	releaseAtLeast = 30 * time.Second
)

// memorySamples are the runtime metrics heldMemory reads: no stop of the
// world, unlike runtime.ReadMemStats.
var memorySamples = []string{
	"/memory/classes/total:bytes",         // everything mapped
	"/memory/classes/heap/released:bytes", // of which given back
}

// releaser decides when to return memory.
type releaser struct {
	samples []metrics.Sample
	floor   uint64    // the least memory held after a release
	last    time.Time // of the last release
}

func newReleaser() *releaser {
	r := &releaser{samples: make([]metrics.Sample, len(memorySamples)), last: time.Now(), floor: math.MaxUint64}
	for i, name := range memorySamples {
		r.samples[i].Name = name
	}
	return r
}

// heldMemory is the memory the Go runtime holds from the system.
func (r *releaser) heldMemory() uint64 {
	metrics.Read(r.samples)
	total, released := r.samples[0].Value, r.samples[1].Value
	if total.Kind() != metrics.KindUint64 || released.Kind() != metrics.KindUint64 {
		return 0
	}
	return total.Uint64() - released.Uint64()
}

// check collects and returns free memory to the system the first time,
// when what is held is more than above over the floor, or when the last
// release is older than atLeast (memory freed since then, such as the
// stacks of closed connections, goes back too); it reports whether it
// did.
func (r *releaser) check(now time.Time, above uint64, atLeast time.Duration) bool {
	first := r.floor == math.MaxUint64
	if held := r.heldMemory(); !first && held <= r.floor+above && now.Sub(r.last) < atLeast {
		return false
	}
	// Two collections: the first leaves what sync.Pools held (recycled
	// messages and buffers) in their victim caches, the second frees it.
	runtime.GC()
	debug.FreeOSMemory()
	r.floor, r.last = min(r.floor, r.heldMemory()), now
	return true
}

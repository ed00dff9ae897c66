package proxy

import (
	"runtime/metrics"
	"testing"
	"time"
)

// TestReleaser holds 64 MB, then drops it: check returns it to the
// system at the next look, though a release while it was live found
// nothing to free; then does nothing more until memory grows again, and
// releases anyway once the last release is old.
func TestReleaser(t *testing.T) {
	r := newReleaser()
	now := time.Now()
	r.check(now, 0, 0) // the floor: this test binary's memory
	released := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	burst = make([][]byte, 64)
	for i := range burst {
		burst[i] = make([]byte, 1<<20)
	}
	if !r.check(now, 32<<20, time.Minute) {
		t.Fatal("64 MB more held, and no release")
	}
	burst = nil
	metrics.Read(released)
	before := released[0].Value.Uint64()
	if !r.check(now.Add(time.Second), 32<<20, time.Minute) {
		t.Fatal("64 MB of garbage not released")
	}
	metrics.Read(released)
	if got := released[0].Value.Uint64() - before; got < 48<<20 {
		t.Errorf("%d MB returned to the system, want most of 64", got>>20)
	}
	if r.check(now.Add(2*time.Second), 32<<20, time.Minute) {
		t.Error("released again with nothing to release")
	}
	if !r.check(now.Add(2*time.Minute), 32<<20, time.Minute) {
		t.Error("not released a minute after the last release")
	}
}

// burst holds the test's garbage while it is made: a global, so that a
// collection during the allocations cannot free it early.
var burst [][]byte

package backoff

import (
	"testing"
	"time"
)

func TestAccept(t *testing.T) {
	var a Accept
	if a.OK() {
		t.Fatal("OK before any failure reports a run")
	}
	var waits []time.Duration
	for i := range 10 {
		w, first := a.Failed()
		if first != (i == 0) {
			t.Fatalf("failure %d: first = %v", i, first)
		}
		waits = append(waits, w)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		if waits[i] != w*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", waits, want)
		}
	}
	if !a.OK() {
		t.Fatal("OK after failures reports no run")
	}
	if w, first := a.Failed(); !first || w != Min {
		t.Fatalf("after OK: %v, first %v", w, first)
	}
}

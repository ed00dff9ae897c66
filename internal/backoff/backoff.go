// Package backoff paces an accept loop whose accepts fail for a while,
// typically for want of file descriptors (EMFILE, ENFILE): the first retry
// waits 5 ms, each next one twice as long, up to 1 s, as net/http's server
// does, so that a loop neither spins nor gives up. The proxy's pools and
// the stats port use it.
package backoff

import "time"

// The first wait and the longest.
const (
	Min = 5 * time.Millisecond
	Max = time.Second
)

// Accept is the state of one accept loop: the zero value has seen no
// failure. It is not safe for concurrent use (one loop owns it).
type Accept struct {
	wait time.Duration
}

// Failed returns how long to wait before the next accept, and whether
// this failure starts a run of them: the one to log.
func (a *Accept) Failed() (wait time.Duration, first bool) {
	first = a.wait == 0
	if first {
		a.wait = Min
	} else {
		a.wait = min(2*a.wait, Max)
	}
	return a.wait, first
}

// OK ends a run of failures, reporting whether one was under way.
func (a *Accept) OK() bool {
	failing := a.wait != 0
	a.wait = 0
	return failing
}

package logging

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// RecurringPeriod is how often a Recurring failure writes a line with its count. Tests shorten it.
var RecurringPeriod = 10 * time.Second

// Recurring logs a failure that may repeat thousands of times a second, such as a server that
// keeps refusing connections under load, without flooding the log. The first failure of a run
// is written at once; the next ones are counted, and written as one line with their count when
// one comes at least RecurringPeriod after the previous line; Recover ends the run with one line
// and the total.
//
// The zero value is ready to use, and safe for concurrent use. Failing costs one atomic load, so
// the success path can check it every time. A line is written with mu held, so that the lines of
// one Recurring come out in the order of their events (a recovery after the failure it ends);
// mu is only taken while failing.
type Recurring struct {
	failing atomic.Bool // a run is under way; changed with mu held

	mu       sync.Mutex
	start    time.Time // the run's first failure
	lastLine time.Time
	total    int // failures in the run
	unlogged int // failures since the last line
}

// Fail records a failure of subject ("server a of pool b"), at level lvl.
func (r *Recurring) Fail(lvl int, subject string, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.failing.Load() {
		r.failing.Store(true)
		r.start, r.lastLine, r.total, r.unlogged = now, now, 1, 0
		if Enabled(lvl) {
			output(2, subject+" failed: "+err.Error())
		}
		return
	}
	r.total++
	r.unlogged++
	if since := now.Sub(r.lastLine); since >= RecurringPeriod {
		if Enabled(lvl) {
			output(2, subject+" failed "+plural(r.unlogged, "more time")+" in "+
				since.Round(time.Millisecond).String()+" (last: "+err.Error()+")")
		}
		r.lastLine, r.unlogged = now, 0
	}
}

// Failing reports whether a run of failures is under way: Recover has something to end.
func (r *Recurring) Failing() bool { return r.failing.Load() }

// Recover ends the run of failures, if one is under way, with a line at level lvl.
func (r *Recurring) Recover(lvl int, subject string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.failing.Load() {
		return
	}
	r.failing.Store(false)
	if Enabled(lvl) {
		output(2, subject+" recovered after "+plural(r.total, "failure")+" in "+
			time.Since(r.start).Round(time.Millisecond).String())
	}
}

// plural writes n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

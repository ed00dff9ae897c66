package logging

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

var (
	firstRE     = regexp.MustCompile(`\] recurring_test\.go:\d+ server a failed: boom$`)
	moreRE      = regexp.MustCompile(`\] recurring_test\.go:\d+ server a failed (\d+) more times? in \S+ \(last: boom\)$`)
	recoveredRE = regexp.MustCompile(`\] recurring_test\.go:\d+ server a recovered after (\d+) failures? in \S+$`)
)

// shortenRecurringPeriod sets RecurringPeriod to d for one test.
func shortenRecurringPeriod(t *testing.T, d time.Duration) {
	old := RecurringPeriod
	RecurringPeriod = d
	t.Cleanup(func() { RecurringPeriod = old })
}

// TestRecurring fails as fast as it can for a few periods: the log gets the first failure, one
// line with a count per period, and one recovery line whose total is every failure.
func TestRecurring(t *testing.T) {
	path := initFile(t, Warn)
	shortenRecurringPeriod(t, 50*time.Millisecond)
	var r Recurring
	boom := errors.New("boom")

	r.Recover(Warn, "server a")
	if r.Failing() {
		t.Fatal("failing before any failure")
	}
	fails := 0
	start := time.Now()
	testutil.Eventually(t, 10*time.Second, func() bool {
		for range 100 {
			r.Fail(Warn, "server a", boom)
			fails++
		}
		return strings.Count(readLog(t, path), " more time") == 3
	}, "no count line every %v", RecurringPeriod)
	elapsed := time.Since(start)
	if !r.Failing() {
		t.Fatal("not failing after failures")
	}
	r.Recover(Warn, "server a")
	r.Recover(Warn, "server a") // nothing left to end
	if r.Failing() {
		t.Fatal("failing after Recover")
	}

	lines := strings.Split(strings.TrimSuffix(readLog(t, path), "\n"), "\n")
	if len(lines) != 5 || !firstRE.MatchString(lines[0]) || !recoveredRE.MatchString(lines[4]) {
		t.Fatalf("want the first failure, 3 count lines and a recovery; got\n%s", strings.Join(lines, "\n"))
	}
	logged := 1
	for _, line := range lines[1:4] {
		m := moreRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a count line: %q", line)
		}
		n, _ := strconv.Atoi(m[1])
		logged += n
	}
	total, _ := strconv.Atoi(recoveredRE.FindStringSubmatch(lines[4])[1])
	if total != fails || logged > fails {
		t.Errorf("%d failures, the count lines say %d so far and the recovery %d", fails, logged, total)
	}
	if elapsed < 3*RecurringPeriod {
		t.Errorf("3 count lines in %v, want one per %v at most", elapsed, RecurringPeriod)
	}

	// A new run starts with its first failure; below the level nothing is written, but the run
	// is still tracked.
	r.Fail(Warn, "server a", boom)
	r.Fail(Notice+1, "server a", boom)
	r.Recover(Notice+1, "server a")
	if r.Failing() {
		t.Fatal("failing after Recover below the level")
	}
	lines = strings.Split(strings.TrimSuffix(readLog(t, path), "\n"), "\n")
	if len(lines) != 6 || !firstRE.MatchString(lines[5]) {
		t.Fatalf("want one more line for the second run; got\n%s", strings.Join(lines, "\n"))
	}
}

package stats

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// logToFile points the log at a new file for one test.
func logToFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nc.log")
	if err := logging.Init(logging.DefaultLevel, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logging.Init(logging.DefaultLevel, "") })
	return path
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestDumper: every interval the view's document is appended to the file
// and logged, one per call of the view, in order; Stop ends the dumps
// with every document the view gave written.
func TestDumper(t *testing.T) {
	logFile := logToFile(t)
	file := filepath.Join(t.TempDir(), "twstats.log")
	proc := testProcess()
	var views atomic.Int64
	d := StartDumper(10*time.Millisecond, file, func() *Process {
		proc.TotalConnections.Store(views.Add(1))
		return proc
	})
	testutil.Eventually(t, 5*time.Second, func() bool {
		return strings.Count(readFile(file), "\n") >= 3
	}, "fewer than 3 documents in %s", file)
	d.Stop()

	docs := strings.SplitAfter(readFile(file), "\n")
	docs = docs[:len(docs)-1] // after the last newline
	if int64(len(docs)) != views.Load() {
		t.Fatalf("%d documents for %d views", len(docs), views.Load())
	}
	for i, doc := range docs {
		checkDocument(t, doc)
		if want := fmt.Sprintf(`"total_connections":%d,`, i+1); !strings.Contains(doc, want) {
			t.Errorf("document %d has not %s: %s", i, want, doc)
		}
	}
	if got := strings.Count(readFile(logFile), "stats: {"); got != len(docs) {
		t.Errorf("%d documents logged, %d written", got, len(docs))
	}
	var none *Dumper
	none.Stop() // no dumper: nothing to stop
}

// TestDumperFileError: a stats_file that cannot be written is a warning
// at each dump, and the dumps go on.
func TestDumperFileError(t *testing.T) {
	logFile := logToFile(t)
	file := filepath.Join(t.TempDir(), "missing", "twstats.log")
	d := StartDumper(10*time.Millisecond, file, testProcess)
	defer d.Stop()
	testutil.Eventually(t, 5*time.Second, func() bool {
		return strings.Count(readFile(logFile), "stats_file: open "+file+": no such file or directory") >= 2
	}, "no warnings about %s", file)
}

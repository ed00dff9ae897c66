package logging

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// initFile points the logger at a new file for one test.
func initFile(t *testing.T, lvl int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nc.log")
	if err := Init(lvl, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Init(DefaultLevel, "") })
	return path
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var lineRE = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] logging_test\.go:\d+ `)

func TestLevelFiltering(t *testing.T) {
	for _, tc := range []struct {
		level int
		want  []string // the messages written, in order
	}{
		{Emerg, []string{"always"}},
		{Alert, []string{"always", "error"}},
		{Err, []string{"always", "error"}},
		{Warn, []string{"always", "error", "warn"}},
		{Notice, []string{"always", "error", "warn", "notice"}},
		{Info, []string{"always", "error", "warn", "notice", "info"}},
		{Debug, []string{"always", "error", "warn", "notice", "info", "debug"}},
		{Verb, []string{"always", "error", "warn", "notice", "info", "debug", "verb", "at 8"}},
		{PVerb, []string{"always", "error", "warn", "notice", "info", "debug", "verb", "at 8", "at 11"}},
	} {
		path := initFile(t, tc.level)
		Logf(Emerg, "always")
		Errorf("error")
		Warnf("warn")
		Noticef("notice")
		Infof("info")
		Debugf("debug")
		Verbf("verb")
		Logf(Verb, "at %d", Verb)
		Logf(PVerb, "at %d", PVerb)
		var got []string
		for _, l := range strings.Split(strings.TrimSuffix(readLog(t, path), "\n"), "\n") {
			if !lineRE.MatchString(l) {
				t.Fatalf("level %d: line %q is not in twemproxy's format", tc.level, l)
			}
			got = append(got, lineRE.ReplaceAllString(l, ""))
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("level %d wrote %q, want %q", tc.level, got, tc.want)
		}
		for lvl := Emerg; lvl <= PVerb; lvl++ {
			if Enabled(lvl) != (lvl <= tc.level) {
				t.Errorf("level %d: Enabled(%d) = %v", tc.level, lvl, Enabled(lvl))
			}
		}
	}
}

func TestInitClampsLevel(t *testing.T) {
	initFile(t, 99)
	if Level() != PVerb {
		t.Errorf("Init(99): level %d, want %d", Level(), PVerb)
	}
	initFile(t, -3)
	if Level() != Emerg {
		t.Errorf("Init(-3): level %d, want %d", Level(), Emerg)
	}
}

func TestLevelUpDown(t *testing.T) {
	path := initFile(t, Notice)
	LevelUp()
	LevelUp()
	LevelDown()
	if Level() != Info {
		t.Fatalf("level %d, want %d", Level(), Info)
	}
	for range 20 {
		LevelUp()
	}
	if Level() != PVerb {
		t.Fatalf("level %d after many ups, want %d", Level(), PVerb)
	}
	for range 20 {
		LevelDown()
	}
	if Level() != Emerg {
		t.Fatalf("level %d after many downs, want %d", Level(), Emerg)
	}
	got := readLog(t, path)
	// twemproxy's texts, one line per change, none past the bounds.
	for _, want := range []string{"] logging_test.go:", "up log level to 6\n", "up log level to 7\n", "down log level to 6\n",
		"up log level to 11\n", "down log level to 0\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 3+5+11 {
		t.Errorf("%d lines, want %d (no line at the bounds):\n%s", n, 3+5+11, got)
	}
}

func TestReopenRecreatesRemovedFile(t *testing.T) {
	path := initFile(t, Notice)
	Noticef("before")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := Reopen(); err != nil {
		t.Fatal(err)
	}
	Noticef("after")
	if got := readLog(t, path); !strings.HasSuffix(got, " after\n") || strings.Contains(got, "before") {
		t.Fatalf("reopened log:\n%s", got)
	}

}

func TestReopenFailureKeepsOldFile(t *testing.T) {
	path := initFile(t, Notice)
	// Replace the file by a directory: opening it for writing fails.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0700); err != nil {
		t.Fatal(err)
	}
	err := Reopen()
	if err == nil || !strings.Contains(err.Error(), "reopening log file '"+path+"' failed, ignored: ") {
		t.Fatalf("Reopen onto a directory: %v", err)
	}
	Noticef("still logging") // into the removed file: must not panic or fail
}

func TestInitError(t *testing.T) {
	t.Cleanup(func() { Init(DefaultLevel, "") })
	bad := filepath.Join(t.TempDir(), "missing", "nc.log")
	err := Init(Notice, bad)
	if err == nil || err.Error() != "opening log file '"+bad+"' failed: no such file or directory" {
		t.Fatalf("Init on a missing directory: %v", err)
	}
}

func TestStderrReopenIsNoop(t *testing.T) {
	if err := Init(Notice, ""); err != nil {
		t.Fatal(err)
	}
	if err := Reopen(); err != nil {
		t.Fatal(err)
	}
}

// Lines from concurrent writers never interleave, also while the file is
// being reopened underneath them.
func TestConcurrentLinesDoNotInterleave(t *testing.T) {
	path := initFile(t, Notice)
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	msg := strings.Repeat("x", 500)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range lines {
				Warnf("%d %s", w, msg)
			}
		}()
	}
	stop := make(chan struct{})
	reopened := make(chan struct{})
	go func() {
		defer close(reopened)
		for {
			select {
			case <-stop:
				return
			default:
				if err := Reopen(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-reopened
	got := strings.Split(strings.TrimSuffix(readLog(t, path), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		if !lineRE.MatchString(l) || !strings.HasSuffix(l, " "+msg) {
			t.Fatalf("mangled line %q", l)
		}
	}
}

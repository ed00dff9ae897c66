package logging

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLevelsAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nc.log")
	if err := Init(Notice, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Init(DefaultLevel, "") })
	Noticef("shown %d", 1)
	Infof("hidden")
	LevelUp()
	Infof("shown after level up")
	LevelDown()
	LevelDown()
	Noticef("hidden after level down")
	got := readLog(t, path)
	for _, want := range []string{"] logging_test.go:", "shown 1\n", "set log level to 6", "shown after level up", "set log level to 4"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"hidden"} {
		if strings.Contains(got, bad) {
			t.Errorf("log has %q:\n%s", bad, got)
		}
	}
	for range 20 {
		LevelUp()
	}
	if Level() != PVerb {
		t.Fatalf("level %d after many ups, want %d", Level(), PVerb)
	}
	// Rotation: the file is removed, Reopen creates it again.
	os.Remove(path)
	if err := Reopen(); err != nil {
		t.Fatal(err)
	}
	Errorf("after reopen")
	if got := readLog(t, path); !strings.Contains(got, "after reopen") || strings.Contains(got, "shown 1") {
		t.Fatalf("reopened log:\n%s", got)
	}
}

func TestConcurrentLinesDoNotInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nc.log")
	if err := Init(Notice, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Init(DefaultLevel, "") })
	var wg sync.WaitGroup
	msg := strings.Repeat("x", 500)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				Warnf("%s", msg)
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(readLog(t, path), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, " "+msg) || !strings.HasPrefix(l, "[") {
			t.Fatalf("mangled line %q", l)
		}
	}
}

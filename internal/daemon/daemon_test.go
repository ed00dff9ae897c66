package daemon

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nc.pid")

	// A stale file (no such process) is overwritten.
	os.WriteFile(path, []byte("999999999\n"), 0644)
	if err := WritePIDFile(path); err != nil {
		t.Fatalf("stale pid file: %v", err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}

	// A live process that is not nutcracker does not block us.
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	os.WriteFile(path, []byte(strconv.Itoa(sleeper.Process.Pid)), 0644)
	if err := WritePIDFile(path); err != nil {
		t.Fatalf("pid file of a live non-nutcracker: %v", err)
	}

	// A live nutcracker does.
	link := filepath.Join(dir, "nutcracker")
	if err := os.Symlink("/bin/sleep", link); err != nil {
		t.Fatal(err)
	}
	nc := exec.Command(link, "30")
	if err := nc.Start(); err != nil {
		t.Fatal(err)
	}
	defer nc.Process.Kill()
	os.WriteFile(path, []byte(strconv.Itoa(nc.Process.Pid)), 0644)
	if err := WritePIDFile(path); !errors.Is(err, ErrRunning) {
		t.Fatalf("pid file of a live nutcracker: %v, want ErrRunning", err)
	}

	// RemovePIDFile leaves another process's file alone, removes ours.
	RemovePIDFile(path)
	if _, err := os.Stat(path); err != nil {
		t.Fatal("removed another process's pid file")
	}
	os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0644)
	RemovePIDFile(path)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("own pid file not removed")
	}
}

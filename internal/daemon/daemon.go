//go:build linux

// Package daemon detaches the process from its terminal and manages the
// pid file, as twemproxy's -d and -p do, and gives back the pages of the
// binary that only start-up used (ReleaseStartupPages).
//
// Go cannot fork a running runtime, so Daemonize re-executes the program:
// same executable, same arguments, same working directory (twemproxy's
// nc_daemonize(1) keeps it too, so relative -c, -o and -p paths still
// work), in a new session with stdin, stdout and stderr on /dev/null. The
// parent exits at once; the copy finds a marker in its environment and
// carries on as the daemon.
package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// envMarker tells the re-executed copy that it is the daemon.
const envMarker = "NUTCRACKER_DAEMONIZED"

// Daemonize makes this process a daemon. In the process started from the
// terminal it starts the detached copy and returns parent=true: the caller
// exits 0 at once. In the detached copy it returns parent=false and removes
// the marker from the environment, so that programs the daemon starts in
// turn are not mistaken for daemon copies.
func Daemonize() (parent bool, err error) {
	if os.Getenv(envMarker) == "1" {
		os.Unsetenv(envMarker)
		return false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return true, fmt.Errorf("daemonize: find executable: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return true, fmt.Errorf("daemonize: %w", err)
	}
	defer null.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(withoutMarker(os.Environ()), envMarker+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return true, fmt.Errorf("daemonize: start %s: %w", exe, err)
	}
	return true, cmd.Process.Release()
}

func withoutMarker(env []string) []string {
	kept := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, envMarker+"=") {
			kept = append(kept, kv)
		}
	}
	return kept
}

// ErrRunning means the pid file names a live nutcracker process.
var ErrRunning = errors.New("nutcracker is already running")

// WritePIDFile writes this process's pid to path, as twemproxy does (the
// digits, no newline, mode 0644). It refuses with an error wrapping
// ErrRunning when the file names another live process running nutcracker;
// a file naming a dead process, or one running something else, is stale
// and is overwritten. The content is replaced atomically where the
// directory is writable, so a concurrent reader never sees a partial pid.
func WritePIDFile(path string) error {
	if pid, ok := readPID(path); ok && pid != os.Getpid() && isNutcracker(pid) {
		return fmt.Errorf("pid file '%s': %w as pid %d", path, ErrRunning, pid)
	}
	content := []byte(strconv.Itoa(os.Getpid()))
	if err := replaceFile(path, content); err != nil {
		// The directory may be read-only with the file itself writable.
		if err2 := os.WriteFile(path, content, 0644); err2 != nil {
			return fmt.Errorf("writing pid file '%s': %w", path, err)
		}
	}
	return nil
}

func replaceFile(path string, content []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(content)
	if err == nil {
		err = f.Chmod(0644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// RemovePIDFile removes path if it names this process, so a process that
// never owned the file (or lost it to a successor) leaves it alone.
func RemovePIDFile(path string) {
	if pid, ok := readPID(path); ok && pid == os.Getpid() {
		os.Remove(path)
	}
}

func readPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	return pid, err == nil && pid > 0
}

// isNutcracker reports whether pid is a live (not zombie) process whose
// command name or argv[0] is nutcracker, or which runs this executable.
func isNutcracker(pid int) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return false // no such process
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	if comm, err := os.ReadFile(proc + "/comm"); err == nil && string(bytes.TrimSpace(comm)) == "nutcracker" {
		return true
	}
	if cmdline, err := os.ReadFile(proc + "/cmdline"); err == nil {
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if filepath.Base(string(argv0)) == "nutcracker" {
			return true
		}
	}
	self, err1 := os.Executable()
	exe, err2 := os.Readlink(proc + "/exe")
	return err1 == nil && err2 == nil && exe == self
}

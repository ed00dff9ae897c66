// Package daemon detaches the process from its terminal and manages the
// pid file, as twemproxy's -d and -p do.
//
// Go cannot fork a running runtime, so Detach re-executes the program in a
// new session with its standard streams on /dev/null; the parent exits at
// once and the child, seeing the marker in its environment, carries on as
// the daemon.
package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// envMarker tells the re-executed child that it is the daemon.
const envMarker = "NUTCRACKER_DAEMONIZED"

// IsChild reports whether this process is the detached daemon.
func IsChild() bool { return os.Getenv(envMarker) == "1" }

// Detach starts the detached copy of this process and returns nil in the
// parent, which should then exit 0. The child's working directory is "/"
// (as twemproxy's), so relative paths must be made absolute first.
func Detach(args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("daemonize: find executable: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("daemonize: %w", err)
	}
	defer null.Close()
	cmd := exec.Command(exe, args...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), envMarker+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("daemonize: start %s: %w", exe, err)
	}
	return cmd.Process.Release()
}

// ErrRunning means the pid file names a live nutcracker.
var ErrRunning = errors.New("already running")

// WritePIDFile writes this process's pid to path. It refuses when the file
// names another live nutcracker process; a stale file is overwritten.
func WritePIDFile(path string) error {
	if old, err := os.ReadFile(path); err == nil {
		pid, err := strconv.Atoi(strings.TrimSpace(string(old)))
		if err == nil && pid != os.Getpid() && isNutcracker(pid) {
			return fmt.Errorf("pid file %s: nutcracker pid %d: %w", path, pid, ErrRunning)
		}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// RemovePIDFile removes path if it still holds this process's pid.
func RemovePIDFile(path string) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
}

// isNutcracker reports whether pid is a live process running nutcracker.
func isNutcracker(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) == syscall.ESRCH {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return bytes.Contains(argv0, []byte("nutcracker")) || bytes.Contains(comm, []byte("nutcracker"))
}

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nutcracker/internal/stats"
	"nutcracker/internal/testutil"
)

// binary is the nutcracker built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nutcracker-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "nutcracker")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nc runs the binary to completion and returns its combined output and exit code.
func nc(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("run %v: %v", args, err)
	return "", 0
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nc.yml")
	if err := os.WriteFile(path, []byte(body), 0644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runnableConfig is a redis pool on a free port whose server need not be up.
func runnableConfig(t *testing.T) (path, listen string) {
	listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return writeConfig(t, fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n", listen)), listen
}

func TestInformationalFlags(t *testing.T) {
	for _, args := range [][]string{{"-V"}, {"--version"}} {
		if out, code := nc(t, args...); code != 0 || out != "This is nutcracker-0.1.0\n" {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}} {
		out, code := nc(t, args...)
		if code != 0 || !strings.Contains(out, "Usage: nutcracker") || !strings.Contains(out, "--core-mask") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	out, code := nc(t, "-D")
	if code != 0 {
		t.Fatalf("-D exit %d", code)
	}
	for _, m := range append(append([]stats.Metric{}, stats.PoolMetrics...), stats.ServerMetrics...) {
		if !strings.Contains(out, fmt.Sprintf("%-20s\"%s\"", m.Name, m.Description)) {
			t.Errorf("-D lacks %s:\n%s", m.Name, out)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"}, {"-x"}, {"-v", "12"}, {"-v", "x"}, {"-m", "100"}, {"-s", "0"},
		{"-n", "4", "-M", "3"}, {"-M", "zz"}, {"extra"},
	} {
		out, code := nc(t, args...)
		if code != 1 || !strings.Contains(out, "Usage: nutcracker") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	if out, code := nc(t, "-t", "-n", "2", "-M", "0x6", "-c", "../../conf/nutcracker.yml"); code != 0 {
		t.Errorf("hex core mask refused: %s", out)
	}
}

func TestTestConf(t *testing.T) {
	good, _ := runnableConfig(t)
	out, code := nc(t, "-t", "-c", good)
	if code != 0 || out != "nutcracker: configuration file '"+good+"' syntax is ok\n" {
		t.Fatalf("good config: %d %q", code, out)
	}
	bad := writeConfig(t, "p:\n  listen: 127.0.0.1:1\n  hash: nope\n  servers:\n   - 127.0.0.1:2:1\n")
	out, code = nc(t, "--test-conf", "--conf-file="+bad)
	if code != 1 || !strings.Contains(out, "syntax is invalid") || !strings.Contains(out, bad+":3") ||
		!strings.Contains(out, `key "hash"`) {
		t.Fatalf("bad config: %d %q", code, out)
	}
	for _, f := range []string{"nutcracker.yml", "examples.yml", "sentinel.yml"} {
		if out, code := nc(t, "-t", "-c", filepath.Join("..", "..", "conf", f)); code != 0 {
			t.Errorf("conf/%s: %s", f, out)
		}
	}
}

// waitFile polls until path holds content for which ok is true.
func waitFile(t *testing.T, path string, ok func(string) bool, what string) string {
	t.Helper()
	var content string
	testutil.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(path)
		content = string(b)
		return err == nil && ok(content)
	}, "%s: %s holds %q", what, path, content)
	return content
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestDaemonAndPIDFile(t *testing.T) {
	conf, listen := runnableConfig(t)
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "nc.pid"), filepath.Join(dir, "nc.log")
	start := time.Now()
	out, code := nc(t, "-d", "-c", conf, "-p", pidFile, "-o", logFile)
	if code != 0 || out != "" {
		t.Fatalf("-d: exit %d, output %q", code, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the parent took %v to exit", d)
	}
	content := waitFile(t, pidFile, func(s string) bool { return strings.HasSuffix(s, "\n") }, "pid file")
	pid, err := strconv.Atoi(strings.TrimSpace(content))
	if err != nil || !alive(pid) {
		t.Fatalf("pid file %q names no live process", content)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	// The daemon serves, and a second one with the same pid file refuses.
	c := testutil.Dial(t, listen)
	if got := c.Do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING through the daemon: %q", got)
	}
	conf2, _ := runnableConfig(t)
	if out, code := nc(t, "-c", conf2, "-p", pidFile); code != 1 || !strings.Contains(out, "already running") {
		t.Fatalf("second start with a live pid file: exit %d, %q", code, out)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, err := os.Stat(pidFile)
		return os.IsNotExist(err) && !alive(pid)
	}, "pid file not removed or process alive after SIGTERM")
	waitFile(t, logFile, func(s string) bool { return strings.Contains(s, "signal 15 (SIGTERM) received, exiting") }, "log")
}

func TestSignals(t *testing.T) {
	conf, listen := runnableConfig(t)
	logFile := filepath.Join(t.TempDir(), "nc.log")
	cmd := exec.Command(binary, "-c", conf, "-o", logFile, "-v", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	testutil.Eventually(t, 10*time.Second, func() bool {
		c, err := os.ReadFile(logFile)
		return err == nil && strings.Contains(string(c), "listening on "+listen)
	}, "proxy did not start")

	// SIGHUP reopens (and recreates) the log file.
	os.Remove(logFile)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFile(t, logFile, func(s string) bool { return strings.Contains(s, "signal 1 (SIGHUP) received, reopening log file") }, "SIGHUP")

	// SIGTTIN raises the level to info: connections are then logged.
	cmd.Process.Signal(syscall.SIGTTIN)
	waitFile(t, logFile, func(s string) bool { return strings.Contains(s, "set log level to 6") }, "SIGTTIN")
	testutil.Dial(t, listen).Do("PING")
	waitFile(t, logFile, func(s string) bool { return strings.Contains(s, "accepted client") }, "info level")
	cmd.Process.Signal(syscall.SIGTTOU)
	waitFile(t, logFile, func(s string) bool { return strings.Contains(s, "set log level to 5") }, "SIGTTOU")

	// SIGSEGV sent by kill is logged and ends the process.
	cmd.Process.Signal(syscall.SIGSEGV)
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("exit status 0 after SIGSEGV")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGSEGV")
	}
	waitFile(t, logFile, func(s string) bool { return strings.Contains(s, "signal 11 (SIGSEGV) received") }, "SIGSEGV")
}

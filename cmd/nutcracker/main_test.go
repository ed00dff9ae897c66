//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
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
	args := append(append([]string{"build", "-ldflags=-X main.version=" + testVersion}, buildFlags...), "-o", binary, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	// The SIGSEGV test kills a child by the signal: no core files.
	syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nc runs the binary to completion and returns its stdout, its stderr and
// its exit code.
func nc(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return o.String(), e.String(), 0
	case errors.As(err, &exit):
		return o.String(), e.String(), exit.ExitCode()
	}
	t.Fatalf("run %v: %v", args, err)
	return
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runnableConfig writes a redis pool on a free port whose server need not
// be up (no preconnect) into dir/nc.yml.
func runnableConfig(t *testing.T, dir string) (path, listen string) {
	listen = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return writeFile(t, dir, "nc.yml", fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n", listen)), listen
}

// waitFile polls until path holds content for which ok is true.
func waitFile(t *testing.T, path string, ok func(string) bool, what string) string {
	t.Helper()
	var content string
	testutil.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(path)
		content = string(b)
		return err == nil && ok(content)
	}, "%s: %s holds %q", what, path, current{&content})
	return content
}

// current formats what a variable holds when the message is written, not
// when it is passed.
type current struct{ s *string }

func (c current) String() string { return *c.s }

func contains(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

// statsPort is a free port for -s, so that tests do not share 22222.
func statsPort(t *testing.T) string { return strconv.Itoa(testutil.FreePort(t)) }

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// testVersion is the version the tests' binary is built with.
const testVersion = "0.1.0-test"

const versionText = "This is nutcracker-" + testVersion + "\n\n"

// The informational flags print twemproxy's texts on stderr and exit 0.
func TestInformationalFlags(t *testing.T) {
	for _, args := range [][]string{{"-V"}, {"--version"}} {
		if out, errOut, code := nc(t, args...); code != 0 || out != "" || errOut != versionText {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-?"}} {
		out, errOut, code := nc(t, args...)
		if code != 0 || out != "" || !strings.HasPrefix(errOut, versionText+"Usage: nutcracker [-?hVdDt] [-v verbosity level] [-o output file]\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		for _, want := range []string{
			"  -h, --help             : this help\n",
			"  -v, --verbose=N        : set logging level (default: 5, min: 0, max: 11)\n",
			"  -c, --conf-file=S      : set configuration file (default: conf/nutcracker.yml)\n",
			"  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: 16384 bytes)\n",
			"  -n, --worker-num=N     : ",
			"  -M, --core-mask=MASK   : ",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, errOut)
			}
		}
	}

	out, errOut, code := nc(t, "-D")
	if code != 0 || out != "" {
		t.Fatalf("-D: exit %d, stdout %q", code, out)
	}
	// twemproxy's layout: a "%-20s" name column, then the quoted description.
	want := versionText + "pool stats:\n"
	for _, m := range stats.PoolMetrics {
		want += fmt.Sprintf("  %-20s\"%s\"\n", m.Name, m.Description)
	}
	want += "\nserver stats:\n"
	for _, m := range stats.ServerMetrics {
		want += fmt.Sprintf("  %-20s\"%s\"\n", m.Name, m.Description)
	}
	if errOut != want {
		t.Errorf("-D printed:\n%s\nwant:\n%s", errOut, want)
	}
	for _, line := range []string{
		`  client_eof          "# eof on client connections"`,
		`  fragments           "# fragments created from a multi-vector request"`,
		`  server_ejected_at   "timestamp when server was ejected in usec since epoch"`,
		`  out_queue_bytes     "current request bytes in outgoing queue"`,
	} {
		if !strings.Contains(errOut, line+"\n") {
			t.Errorf("-D lacks %q", line)
		}
	}
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	conf, _ := runnableConfig(t, dir)
	for _, tc := range []struct {
		args []string
		err  string // the first line on stderr
	}{
		{[]string{"--bogus"}, "nutcracker: unknown flag: --bogus"},
		{[]string{"-x"}, "nutcracker: unknown shorthand flag: 'x' in -x"},
		{[]string{"-c"}, "nutcracker: flag needs an argument: 'c' in -c"},
		{[]string{"--verbose"}, "nutcracker: flag needs an argument: --verbose"},
		{[]string{"-v", "x"}, "nutcracker: option -v requires a number"},
		{[]string{"-v", "-1"}, "nutcracker: option -v requires a number"},
		{[]string{"-s", "0"}, "nutcracker: option -s value 0 is not a valid port"},
		{[]string{"--stats-port=65536"}, "nutcracker: option -s value 65536 is not a valid port"},
		{[]string{"-s", "x"}, "nutcracker: option -s requires a number"},
		{[]string{"-i", "-5"}, "nutcracker: option -i requires a non-zero number"},
		{[]string{"-m", "x"}, "nutcracker: option -m requires a non-zero number"},
		{[]string{"-m", "511"}, "nutcracker: mbuf chunk size must be between 512 and 16777216 bytes"},
		{[]string{"-m", "16777217"}, "nutcracker: mbuf chunk size must be between 512 and 16777216 bytes"},
		{[]string{"-n", "x"}, "nutcracker: option -n requires a number"},
		{[]string{"-n", "4", "-M", "3"}, "nutcracker: core mask 3 has 2 cores, fewer than the 4 workers"},
		{[]string{"-n", "3", "--core-mask=0x6"}, "nutcracker: core mask 0x6 has 2 cores, fewer than the 3 workers"},
		{[]string{"-M", "zz"}, "nutcracker: option -M requires a core mask, decimal or 0x hex"},
		{[]string{"-M", "-1"}, "nutcracker: option -M requires a core mask, decimal or 0x hex"},
		{[]string{"extra"}, "nutcracker: unexpected argument 'extra'"},
	} {
		args := append(append([]string{}, tc.args...), "-t", "-c", conf)
		if tc.args[0] == "-c" || tc.args[0] == "--verbose" {
			args = tc.args // a trailing flag lacking its value
		}
		out, errOut, code := nc(t, args...)
		first, rest, _ := strings.Cut(errOut, "\n")
		if code != 1 || out != "" || first != tc.err || !strings.HasPrefix(rest, "Usage: nutcracker") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1, %q and the usage", args, code, out, errOut, tc.err)
		}
	}
	// Accepted: twemproxy's -m bounds, -v above 11 (clamped, as twemproxy),
	// decimal masks as bilitw ("012" is twelve: cores 2 and 3), hex masks.
	for _, args := range [][]string{
		{"-m", "512"}, {"-m", "16777216"}, {"-v", "12"}, {"-v0"}, {"--verbose=11"},
		{"-n", "2", "-M", "012"}, {"-n", "2", "-M", "0x6"}, {"-n", "1", "-M", "1"},
		{"-s", "1", "-a", "127.0.0.1", "-i", "1000", "-o", filepath.Join(dir, "x.log"), "-p", filepath.Join(dir, "x.pid")},
	} {
		args := append(append([]string{}, args...), "-t", "-c", conf)
		if _, errOut, code := nc(t, args...); code != 0 {
			t.Errorf("%v refused: %s", args, errOut)
		}
	}
	// -t wrote neither the log nor the pid file.
	for _, f := range []string{"x.log", "x.pid"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("-t created %s", f)
		}
	}
}

func TestTestConf(t *testing.T) {
	dir := t.TempDir()
	good, listen := runnableConfig(t, dir)
	// -t binds nothing: the pool's port stays free for a listener of ours.
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, args := range [][]string{{"-t", "-c", good}, {"--test-conf", "--conf-file=" + good}} {
		out, errOut, code := nc(t, args...)
		if code != 0 || out != "" || errOut != "nutcracker: configuration file '"+good+"' syntax is ok\n" {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}

	for _, tc := range []struct{ name, body, want string }{
		{"bad-value.yml", "p:\n  listen: 127.0.0.1:1\n  hash: nope\n  servers:\n   - 127.0.0.1:2:1\n", `bad-value.yml:3: pool "p": key "hash": invalid value "nope"`},
		{"bad-key.yml", "p:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:2:1\n  bogus: 1\n", `bad-key.yml:5: pool "p": key "bogus": unknown key`},
	} {
		bad := writeFile(t, dir, tc.name, tc.body)
		out, errOut, code := nc(t, "-t", "-c", bad)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if code != 1 || out != "" || len(lines) != 2 ||
			!strings.HasPrefix(lines[0], "nutcracker: "+filepath.Join(dir, tc.want)) ||
			lines[1] != "nutcracker: configuration file '"+bad+"' syntax is invalid" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.name, code, out, errOut)
		}
	}
	missing := filepath.Join(dir, "missing.yml")
	if _, errOut, code := nc(t, "-t", "-c", missing); code != 1 ||
		!strings.HasSuffix(errOut, "nutcracker: configuration file '"+missing+"' syntax is invalid\n") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
	for _, f := range []string{"nutcracker.yml", "examples.yml", "sentinel.yml"} {
		if _, errOut, code := nc(t, "-t", "-c", filepath.Join("..", "..", "conf", f)); code != 0 {
			t.Errorf("conf/%s: %s", f, errOut)
		}
	}
}

// -d with relative paths: the parent exits at once, the daemon keeps the
// working directory (as twemproxy's), writes the pid file once it serves,
// a second nutcracker refuses that pid file, SIGTERM removes it.
func TestDaemonAndPIDFile(t *testing.T) {
	dir := t.TempDir()
	_, listen := runnableConfig(t, dir)
	cmd := exec.Command(binary, "-d", "-c", "nc.yml", "-p", "nc.pid", "-o", "nc.log", "-s", statsPort(t))
	cmd.Dir = dir
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("-d: %v, output %q", err, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the parent took %v to exit", d)
	}
	pidFile, logFile := filepath.Join(dir, "nc.pid"), filepath.Join(dir, "nc.log")
	content := waitFile(t, pidFile, func(s string) bool { return s != "" }, "pid file")
	pid, err := strconv.Atoi(content) // written whole, as twemproxy: digits, no newline
	if err != nil || pid == cmd.Process.Pid || !alive(pid) {
		t.Fatalf("pid file %q names no live daemon", content)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != dir {
		t.Errorf("daemon cwd %q, want %q", cwd, dir)
	}
	c := testutil.Dial(t, listen)
	if got := c.Do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING through the daemon: %q", got)
	}

	// A second nutcracker with the same pid file opens its listeners, then
	// refuses to start.
	conf2, _ := runnableConfig(t, t.TempDir())
	if _, errOut, code := nc(t, "-c", conf2, "-p", pidFile, "-s", statsPort(t)); code != 1 ||
		!strings.Contains(errOut, "pid file '"+pidFile+"': nutcracker is already running as pid "+content+"\n") {
		t.Fatalf("second start with a live pid file: exit %d, %q", code, errOut)
	}
	if got, _ := os.ReadFile(pidFile); string(got) != content {
		t.Fatalf("the refused start changed the pid file to %q", got)
	}

	syscall.Kill(pid, syscall.SIGTERM)
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, err := os.Stat(pidFile)
		return os.IsNotExist(err) && !alive(pid)
	}, "pid file not removed or process alive after SIGTERM")
	log := waitFile(t, logFile, contains("done, rabbit done"), "log")
	for _, want := range []string{"nutcracker-" + testVersion + " built for ", " started on pid " + content + "\n",
		"signal 15 (SIGTERM) received, exiting\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// A stale pid file (its process gone) is taken over.
	if err := os.WriteFile(pidFile, []byte(content), 0644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(binary, "-c", conf2, "-p", pidFile, "-s", statsPort(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	waitFile(t, pidFile, func(s string) bool { return s == strconv.Itoa(cmd.Process.Pid) }, "stale pid file")
}

// startForeground runs nutcracker in the foreground on a runnable config
// and waits until it accepts connections; exited yields its Wait result.
func startForeground(t *testing.T, args ...string) (cmd *exec.Cmd, listen, logFile string, exited <-chan error) {
	t.Helper()
	dir := t.TempDir()
	conf, listen := runnableConfig(t, dir)
	logFile = filepath.Join(dir, "nc.log")
	cmd = exec.Command(binary, append([]string{"-c", conf, "-o", logFile, "-s", statsPort(t)}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch, done := make(chan error, 1), make(chan struct{})
	go func() {
		ch <- cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	testutil.Eventually(t, 10*time.Second, func() bool {
		// A reply shows the connection was accepted, and logged if at all.
		c, err := net.Dial("tcp", listen)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 7)
		_, err = c.Write([]byte("PING\r\n"))
		if err == nil {
			_, err = io.ReadFull(c, buf)
		}
		return err == nil && string(buf) == "+PONG\r\n"
	}, "nutcracker does not serve on %s", listen)
	return cmd, listen, logFile, ch
}

func waitExit(t *testing.T, exited <-chan error) *os.ProcessState {
	t.Helper()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if exit != nil {
			return exit.ProcessState
		}
		return nil // exit status 0
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after the signal")
	}
	return nil
}

func TestSignals(t *testing.T) {
	cmd, listen, logFile, exited := startForeground(t, "-v", "4")

	// SIGHUP reopens the log file, creating it again after a rotation.
	if err := os.Remove(logFile); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitFile(t, logFile, contains("signal 1 (SIGHUP) received, reopening log file and reloading the configuration\n"), "SIGHUP")

	// SIGTTIN raises the level to notice: accepted clients are then logged.
	testutil.Dial(t, listen).Do("PING")
	cmd.Process.Signal(syscall.SIGTTIN)
	waitFile(t, logFile, contains("signal 21 (SIGTTIN) received, up logging level\n"), "SIGTTIN")
	// The master and each worker (-n defaults to the number of cpus) say
	// so: a client accepted before its worker did would not be logged.
	waitFile(t, logFile, func(log string) bool {
		return strings.Count(log, "up log level to 5\n") == 1+runtime.NumCPU()
	}, "SIGTTIN")
	if log, _ := os.ReadFile(logFile); strings.Contains(string(log), "accepted client") {
		t.Fatalf("a client was logged at level 4:\n%s", log)
	}
	testutil.Dial(t, listen).Do("PING")
	waitFile(t, logFile, contains("accepted client"), "notice level")
	cmd.Process.Signal(syscall.SIGTTOU)
	waitFile(t, logFile, contains("signal 22 (SIGTTOU) received, down logging level\n"), "SIGTTOU")
	waitFile(t, logFile, contains("down log level to 4\n"), "SIGTTOU")
	// SIGUSR1 reopens the log file too (SIGHUP will also reload).
	if err := os.Remove(logFile); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGUSR1)
	waitFile(t, logFile, contains("signal 10 (SIGUSR1) received, reopening log file\n"), "SIGUSR1")
	// SIGPIPE is ignored.
	cmd.Process.Signal(syscall.SIGPIPE)

	// SIGSEGV sent by kill is logged, then the process dies of it.
	cmd.Process.Signal(syscall.SIGSEGV)
	st := waitExit(t, exited)
	if st == nil {
		t.Fatal("exit status 0 after SIGSEGV")
	}
	if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGSEGV {
		t.Errorf("after SIGSEGV: %v, want killed by SIGSEGV", st)
	}
	log := waitFile(t, logFile, contains("signal 11 (SIGSEGV) received, core dumping\n"), "SIGSEGV")
	if strings.Contains(log, "SIGPIPE") {
		t.Errorf("SIGPIPE was not ignored:\n%s", log)
	}
}

func TestSIGINTStops(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "nc.pid")
	cmd, listen, logFile, exited := startForeground(t, "-p", pidFile, "-v", "0")
	waitFile(t, pidFile, func(s string) bool { return s == strconv.Itoa(cmd.Process.Pid) }, "pid file")
	cmd.Process.Signal(syscall.SIGINT)
	if st := waitExit(t, exited); st != nil {
		t.Fatalf("after SIGINT: %v, want exit status 0", st)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after SIGINT: %v", err)
	}
	// The listener is closed.
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Errorf("the pool port is still taken: %v", err)
	} else {
		l.Close()
	}
	// Logged at level 0 too.
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), "signal 2 (SIGINT) received, exiting\n") || !strings.HasSuffix(string(log), "done, rabbit done\n") {
		t.Errorf("log:\n%s", log)
	}
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	conf, listen := runnableConfig(t, dir)

	badLog := filepath.Join(dir, "missing", "nc.log")
	for _, args := range [][]string{{"-c", conf, "-o", badLog}, {"-d", "-c", conf, "-o", badLog}} {
		if _, errOut, code := nc(t, args...); code != 1 || errOut != "opening log file '"+badLog+"' failed: no such file or directory\n" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	if _, errOut, code := nc(t, "-c", filepath.Join(dir, "missing.yml"), "-s", statsPort(t)); code != 1 || !strings.Contains(errOut, "missing.yml") {
		t.Errorf("missing config: exit %d, %q", code, errOut)
	}
	// The pool's port is taken: no pid file is written.
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pidFile := filepath.Join(dir, "nc.pid")
	if _, errOut, code := nc(t, "-c", conf, "-p", pidFile, "-s", statsPort(t)); code != 1 || !strings.Contains(errOut, listen) {
		t.Errorf("busy port: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("pid file written though the listeners failed")
	}
}

// TestSIGHUPReloads edits the configuration file and sends SIGHUP: an
// added pool starts listening; a broken file is refused and the running
// configuration stays.
func TestSIGHUPReloads(t *testing.T) {
	cmd, listen, logFile, _ := startForeground(t)
	conf := cmd.Args[2]
	added := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	body, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	more := fmt.Sprintf("%sq:\n  listen: %s\n  redis: true\n  servers:\n   - 127.0.0.1:1:1\n", body, added)
	if err := os.WriteFile(conf, []byte(more), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitFile(t, logFile, contains("configuration reloaded: 2 pools"), "reload")
	if got := testutil.Dial(t, added).Do("PING"); got != "+PONG\r\n" {
		t.Fatalf("added pool: %q", got)
	}
	if err := os.WriteFile(conf, []byte("p:\n  listen: nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitFile(t, logFile, contains("reload refused, the running configuration stays"), "bad reload")
	for _, addr := range []string{listen, added} {
		if got := testutil.Dial(t, addr).Do("PING"); got != "+PONG\r\n" {
			t.Fatalf("pool on %s after a refused reload: %q", addr, got)
		}
	}
}

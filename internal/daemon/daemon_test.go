//go:build linux

package daemon

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
)

// helperEnv, when set to a directory, makes the test binary act as a
// program that daemonizes and reports on itself into that directory.
const helperEnv = "DAEMON_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		daemonHelper(dir)
		return
	}
	os.Exit(m.Run())
}

func daemonHelper(dir string) {
	parent, err := Daemonize()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if parent {
		os.Exit(0)
	}
	cwd, _ := os.Getwd()
	stat, _ := os.ReadFile("/proc/self/stat")
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var fds []string
	for fd := range 3 {
		l, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		fds = append(fds, l)
	}
	report := fmt.Sprintf("pid=%d\nsid=%s\ncwd=%s\nmarker=%q\nfds=%s\n",
		os.Getpid(), fields[3], cwd, os.Getenv(envMarker), strings.Join(fds, ","))
	os.WriteFile(filepath.Join(dir, "report.tmp"), []byte(report), 0644)
	os.Rename(filepath.Join(dir, "report.tmp"), filepath.Join(dir, "report"))
	os.Exit(0)
}

func TestDaemonize(t *testing.T) {
	dir, cwd := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonize$")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("parent: %v, output %q", err, out)
	}
	report := filepath.Join(dir, "report")
	deadline := time.Now().Add(10 * time.Second)
	var b []byte
	for {
		var err error
		if b, err = os.ReadFile(report); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon copy never reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	if got["pid"] == strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("the daemon is the parent process")
	}
	if got["sid"] != got["pid"] {
		t.Errorf("daemon session %s, want a new session (%s)", got["sid"], got["pid"])
	}
	if got["cwd"] != cwd {
		t.Errorf("daemon cwd %s, want %s kept", got["cwd"], cwd)
	}
	if got["marker"] != `""` {
		t.Errorf("daemon environment still has the marker: %s", got["marker"])
	}
	if got["fds"] != "/dev/null,/dev/null,/dev/null" {
		t.Errorf("daemon stdin, stdout, stderr: %s", got["fds"])
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// start runs a long sleep under the given name and returns its pid.
func start(t *testing.T, name string) int {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	if name != "" {
		link := filepath.Join(t.TempDir(), name)
		if err := os.Symlink(sleep, link); err != nil {
			t.Fatal(err)
		}
		sleep = link
	}
	cmd := exec.Command(sleep, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

func TestPIDFile(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content string // "" = no file
		refused bool
	}{
		{"no file", "", false},
		{"dead process", strconv.Itoa(dead.Process.Pid) + "\n", false},
		{"pid out of range", "999999999", false},
		{"garbage", "not a pid\n", false},
		{"empty", "\n", false},
		{"this process", self, false},
		{"live process not nutcracker", strconv.Itoa(start(t, "")), false},
		{"live nutcracker", strconv.Itoa(start(t, "nutcracker")) + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nc.pid")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0644); err != nil {
					t.Fatal(err)
				}
			}
			err := WritePIDFile(path)
			if tc.refused {
				pid := strings.TrimSpace(tc.content)
				if !errors.Is(err, ErrRunning) || err.Error() != "pid file '"+path+"': nutcracker is already running as pid "+pid {
					t.Fatalf("WritePIDFile: %v, want ErrRunning", err)
				}
				if got := readFile(t, path); got != tc.content {
					t.Fatalf("refused, yet the pid file changed to %q", got)
				}
				RemovePIDFile(path)
				if got := readFile(t, path); got != tc.content {
					t.Fatal("RemovePIDFile removed another process's pid file")
				}
				return
			}
			if err != nil {
				t.Fatalf("WritePIDFile: %v", err)
			}
			if got := readFile(t, path); got != self {
				t.Fatalf("pid file holds %q, want %q", got, self)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0644 {
				t.Fatalf("pid file mode: %v %v", fi.Mode(), err)
			}
			if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
				t.Fatalf("temporary files left: %v", ents)
			}
			RemovePIDFile(path)
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatal("own pid file not removed")
			}
		})
	}
}

func TestZombieIsStale(t *testing.T) {
	// A nutcracker that exited but was not waited for is a zombie: it is
	// not running.
	trueCmd, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true command")
	}
	link := filepath.Join(t.TempDir(), "nutcracker")
	if err := os.Symlink(trueCmd, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && string(stat[i+2]) == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never became a zombie")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) != nil {
		t.Fatal("zombie not signalable: test premise broken")
	}
	if isNutcracker(pid) {
		t.Fatal("a zombie counted as a running nutcracker")
	}
}

func TestWritePIDFileError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "nc.pid")
	if err := WritePIDFile(path); err == nil || !strings.HasPrefix(err.Error(), "writing pid file '"+path+"': ") {
		t.Fatalf("WritePIDFile in a missing directory: %v", err)
	}
}

//go:build linux

package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify plays systemd's side of Type=notify: a unixgram socket
// named by $NOTIFY_SOCKET. READY=1 must come only once the pool answers,
// in one process and as a master with workers, and STOPPING=1 when
// SIGTERM starts the graceful stop.
func TestSystemdNotify(t *testing.T) {
	for _, workers := range []string{"0", "1"} {
		t.Run("n="+workers, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "notify")
			systemd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer systemd.Close()
			conf, listen := runnableConfig(t, dir)
			cmd := exec.Command(binary, "-c", conf, "-s", statsPort(t), "-a", "127.0.0.1", "-n", workers,
				"-o", filepath.Join(dir, "nc.log"))
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited, done := make(chan error, 1), make(chan struct{})
			go func() {
				exited <- cmd.Wait()
				close(done)
			}()
			defer func() {
				cmd.Process.Kill()
				<-done
			}()

			if got := readNotify(t, systemd); got != "READY=1" {
				t.Fatalf("first notification %q, want READY=1", got)
			}
			if !ping(listen) {
				t.Fatalf("READY=1 sent before %s answers PING", listen)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if got := readNotify(t, systemd); got != "STOPPING=1" {
				t.Fatalf("after SIGTERM %q, want STOPPING=1", got)
			}
			if st := waitExit(t, exited); st != nil {
				t.Fatalf("after SIGTERM: %v, want exit status 0", st)
			}
		})
	}
}

func readNotify(t *testing.T, systemd *net.UnixConn) string {
	t.Helper()
	systemd.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := systemd.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

//go:build linux

package control

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// TestControlChannel sends frames with and without descriptors, large and
// small, and reads them back in order with their descriptors.
func TestControlChannel(t *testing.T) {
	master, workerEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	worker, err := New(workerEnd)
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()

	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()
	big := bytes.Repeat([]byte("x"), 1<<20) // more than a socket buffer
	msgs := []*Message{
		{Type: MsgClient, Pool: "alpha", Unparsed: []byte("*1\r\n$4\r\nPI"), Authed: true, Dialect: 1, Name: "n"},
		{Type: MsgReload, File: "a.yml", Config: big},
		{Type: MsgStats, Stats: &stats.Snapshot{TotalConnections: 7, Pools: []stats.PoolSnapshot{{Name: "p"}}}},
		{Type: MsgClient, Pool: "beta"},
	}
	go func() {
		for i, m := range msgs {
			var err error
			if i%3 == 0 {
				err = worker.SendFile(m, pipeW)
			} else {
				err = worker.Send(m, -1)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}()
	for i, want := range msgs {
		got, err := master.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.Pool != want.Pool || !bytes.Equal(got.Unparsed, want.Unparsed) ||
			got.Authed != want.Authed || got.Dialect != want.Dialect || got.Name != want.Name || len(got.Config) != len(want.Config) {
			t.Errorf("message %d: got %+v", i, got)
		}
		if want.Stats != nil && (got.Stats == nil || got.Stats.TotalConnections != 7 || got.Stats.Pools[0].Name != "p") {
			t.Errorf("message %d: stats %+v", i, got.Stats)
		}
		if (i%3 == 0) != (got.FD >= 0) {
			t.Fatalf("message %d: descriptor %d", i, got.FD)
		}
		if got.FD >= 0 { // the descriptor is the pipe's write end
			f := os.NewFile(uintptr(got.FD), "pipe")
			if _, err := f.Write([]byte{byte('0' + i)}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			b := make([]byte, 1)
			if _, err := pipeR.Read(b); err != nil || b[0] != byte('0'+i) {
				t.Errorf("message %d: read %q through the descriptor: %v", i, b, err)
			}
		}
	}

	// The peer closing ends recv with an error.
	worker.Close()
	if _, err := master.Recv(); err == nil {
		t.Error("recv after the peer closed: no error")
	}
}

// TestControlChannelRejects a frame longer than maxFrame and a frame that
// claims a descriptor it does not carry.
func TestControlChannelRejects(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
	}{
		{"\xff\xff\xff\xff{}", "frame of"},
		{frame(`{"type":"x","has_fd":true}`), "without its descriptor"},
		{frame("{]"), "decode"},
	} {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(os.NewFile(uintptr(fds[0]), "a"))
		if err != nil {
			t.Fatal(err)
		}
		syscall.Write(fds[1], []byte(tc.raw))
		_, err = c.Recv()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.raw, err, tc.want)
		}
		c.Close()
		syscall.Close(fds[1])
	}
}

func frame(body string) string {
	return string(binary.BigEndian.AppendUint32(nil, uint32(len(body)))) + body
}

// TestWireFormat pins the bytes of a frame: a master and a worker of
// different binaries (during an upgrade) must read each other.
func TestWireFormat(t *testing.T) {
	master, workerEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	worker, err := New(workerEnd)
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()
	m := &Message{Type: MsgStats, Key: "tcp:1.2.3.4:5", File: "f.yml", Config: []byte("p:"), Error: "e", Delta: -1,
		Stats: &stats.Snapshot{}, Final: true, Pool: "p", Unparsed: []byte("*1"), Authed: true}
	if err := master.Send(m, -1); err != nil {
		t.Fatal(err)
	}
	body := `{"type":"stats","key":"tcp:1.2.3.4:5","file":"f.yml","config":"cDo=","error":"e","delta":-1,` +
		`"stats":{"total_connections":0,"curr_connections":0,"pools":null},"final":true,"pool":"p","unparsed":"KjE=","authed":true}`
	raw, err := worker.FD()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4+len(body)+1)
	n, err := syscall.Read(raw, got)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[:n]) != frame(body) {
		t.Errorf("frame\n%q, want\n%q", got[:n], frame(body))
	}

	// And the other way: a frame of an older or newer binary, with a
	// member this one does not know, reads.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1])
	c, err := New(os.NewFile(uintptr(fds[0]), "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	syscall.Write(fds[1], []byte(frame(`{"type":"stop","delta":2000,"later":1}`)))
	if m, err := c.Recv(); err != nil || m.Type != MsgStop || m.Delta != 2000 || m.FD != -1 {
		t.Errorf("stop frame: %+v, %v", m, err)
	}
}

// TestResume: a channel taken over mid-frame (an upgrade's exec) goes on
// from the bytes and descriptors the previous reader left.
func TestResume(t *testing.T) {
	master, workerEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	worker, err := New(workerEnd)
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()

	// A whole frame with a descriptor, then the first half of another.
	if err := worker.SendFile(&Message{Type: MsgClient, Pool: "a"}, pipeW); err != nil {
		t.Fatal(err)
	}
	raw, err := worker.FD()
	if err != nil {
		t.Fatal(err)
	}
	second := frame(`{"type":"reloaded","error":"half"}`)
	syscall.Write(raw, []byte(second[:10]))
	// The reader returns the first frame; the next Recv, stopped by the
	// deadline as an upgrade stops it, holds the half frame it read.
	master.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	first, err := master.Recv()
	if err != nil || first.Type != MsgClient || first.FD < 0 {
		t.Fatalf("first frame: %+v, %v", first, err)
	}
	syscall.Close(first.FD)
	if _, err := master.Recv(); err == nil {
		t.Fatal("Recv of half a frame returned")
	}
	pending, fds := master.Unread()
	if string(pending) != second[:10] || len(fds) != 0 {
		t.Fatalf("unread %q, %v", pending, fds)
	}
	fd, err := master.FD()
	if err != nil {
		t.Fatal(err)
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	master.Close()
	resumed, err := Resume(os.NewFile(uintptr(dup), "control"), pending, fds)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	syscall.Write(raw, []byte(second[10:]))
	if m, err := resumed.Recv(); err != nil || m.Type != MsgReloaded || m.Error != "half" {
		t.Errorf("resumed: %+v, %v", m, err)
	}
}

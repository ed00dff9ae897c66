package supervisor

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// TestControlChannel sends frames with and without descriptors, large and
// small, and reads them back in order with their descriptors.
func TestControlChannel(t *testing.T) {
	master, workerEnd, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer master.close()
	worker, err := newCtlConn(workerEnd)
	if err != nil {
		t.Fatal(err)
	}
	defer worker.close()

	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()
	big := bytes.Repeat([]byte("x"), 1<<20) // more than a socket buffer
	msgs := []*message{
		{Type: msgClient, Pool: "alpha", Unparsed: []byte("*1\r\n$4\r\nPI"), Authed: true},
		{Type: msgReload, File: "a.yml", Config: big},
		{Type: msgStats, Stats: &stats.Snapshot{TotalConnections: 7, Pools: []stats.PoolSnapshot{{Name: "p"}}}},
		{Type: msgClient, Pool: "beta"},
	}
	go func() {
		for i, m := range msgs {
			var err error
			if i%3 == 0 {
				err = worker.sendFile(m, pipeW)
			} else {
				err = worker.send(m, -1)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}()
	for i, want := range msgs {
		got, err := master.recv()
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.Pool != want.Pool || !bytes.Equal(got.Unparsed, want.Unparsed) ||
			got.Authed != want.Authed || len(got.Config) != len(want.Config) {
			t.Errorf("message %d: got %+v", i, got)
		}
		if want.Stats != nil && (got.Stats == nil || got.Stats.TotalConnections != 7 || got.Stats.Pools[0].Name != "p") {
			t.Errorf("message %d: stats %+v", i, got.Stats)
		}
		if (i%3 == 0) != (got.fd >= 0) {
			t.Fatalf("message %d: descriptor %d", i, got.fd)
		}
		if got.fd >= 0 { // the descriptor is the pipe's write end
			f := os.NewFile(uintptr(got.fd), "pipe")
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
	worker.close()
	if _, err := master.recv(); err == nil {
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
		c, err := newCtlConn(os.NewFile(uintptr(fds[0]), "a"))
		if err != nil {
			t.Fatal(err)
		}
		syscall.Write(fds[1], []byte(tc.raw))
		_, err = c.recv()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.raw, err, tc.want)
		}
		c.close()
		syscall.Close(fds[1])
	}
}

func frame(body string) string {
	return string(binary.BigEndian.AppendUint32(nil, uint32(len(body)))) + body
}

func TestNthSetBit(t *testing.T) {
	for _, tc := range []struct {
		mask uint64
		n    int
		want int
	}{
		{0b1, 0, 0}, {0b1010, 0, 1}, {0b1010, 1, 3}, {0xc, 1, 3}, {1 << 63, 0, 63},
	} {
		if got := nthSetBit(tc.mask, tc.n); got != tc.want {
			t.Errorf("nthSetBit(%b, %d) = %d, want %d", tc.mask, tc.n, got, tc.want)
		}
	}
}

//go:build linux

package supervisor

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/sockets"
)

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

// TestWaitIdle: the stats listener's waitIdle returns as soon as the last
// connection it accepted closes, and after its bound while one stays open.
func TestWaitIdle(t *testing.T) {
	fd, err := sockets.ListenFD(config.Listen{Network: "tcp", Addr: "127.0.0.1:0"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	ln, err := newDrainListener(fd)
	if err != nil {
		t.Fatal(err)
	}
	accept := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first, second := accept(), accept()
	ln.Close()

	start := time.Now()
	ln.waitIdle(50 * time.Millisecond) // both open: the bound
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("waitIdle returned after %v with connections open", d)
	}
	first.Close()
	first.Close() // counted once
	done := make(chan struct{})
	go func() {
		ln.waitIdle(time.Minute)
		close(done)
	}()
	second.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waitIdle still waiting after the last connection closed")
	}
	ln.waitIdle(time.Minute) // none open: at once
}

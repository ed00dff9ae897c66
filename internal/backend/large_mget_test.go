package backend

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// fakeServer accepts one connection, reads until it has seen want request
// lines, then runs serve on it.
func fakeServer(t *testing.T, want int, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var got []byte
		buf := make([]byte, 4096)
		for bytes.Count(got, []byte("\n")) < want {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got = append(got, buf[:n]...)
		}
		serve(c)
	}()
	return ln.Addr().String()
}

func bulk(n int) string {
	return "$" + strconv.Itoa(n) + "\r\n" + strings.Repeat("v", n) + "\r\n"
}

// TestLargeReplyReadDirect: a reply larger than the read buffer, followed
// in the same writes by small replies, reaches its request whole, and the
// replies after it theirs.
func TestLargeReplyReadDirect(t *testing.T) {
	large := bulk(300 << 10)
	addr := fakeServer(t, 3, func(c net.Conn) {
		all := large + "+OK\r\n" + bulk(10)
		for len(all) > 0 { // in uneven pieces
			n := min(len(all), 7000)
			c.Write([]byte(all[:n]))
			all = all[n:]
		}
		time.Sleep(time.Second)
	})
	st := &stats.Server{}
	c := New(&Options{Network: "tcp", Addr: addr, NewFramer: resp.Protocol{}.NewFramer, Stats: st})
	defer c.Close()
	own := &collect{}
	reqs := []*proto.Request{{Wire: []byte("a\r\n"), Owner: own}, {Wire: []byte("b\r\n"), Owner: own}, {Wire: []byte("c\r\n"), Owner: own}}
	for _, r := range reqs {
		c.Send(r)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return own.count() == 3 }, "replies never came")
	for i, want := range []string{large, "+OK\r\n", bulk(10)} {
		if r := reqs[i]; r.Err != nil || string(r.Reply) != want {
			t.Fatalf("request %d: %d bytes %q..., err %v; want %d bytes", i, len(r.Reply), testutil.Trunc(r.Reply), r.Err, len(want))
		}
	}
	if c.outstanding.Load() != 0 || st.OutQueue.Load() != 0 || st.Responses.Load() != 3 {
		t.Fatalf("outstanding %d, out_queue %d, responses %d", c.outstanding.Load(), st.OutQueue.Load(), st.Responses.Load())
	}
}

// TestLargeReplyFails: a connection that breaks or stalls in the middle of
// a large reply fails that request and the ones behind it.
func TestLargeReplyFails(t *testing.T) {
	half := bulk(300 << 10)[:150<<10]
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		after   func(c net.Conn)
		want    error
	}{
		{"closed", 0, func(net.Conn) {}, ErrReset},
		{"stalled", 300 * time.Millisecond, func(net.Conn) { time.Sleep(3 * time.Second) }, ErrTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, 2, func(c net.Conn) {
				c.Write([]byte(half))
				tc.after(c)
			})
			st := &stats.Server{}
			c := New(&Options{Network: "tcp", Addr: addr, Timeout: tc.timeout,
				NewFramer: resp.Protocol{}.NewFramer, Stats: st})
			defer c.Close()
			own := &collect{}
			reqs := []*proto.Request{{Wire: []byte("a\r\n"), Owner: own}, {Wire: []byte("b\r\n"), Owner: own}}
			for _, r := range reqs {
				c.Send(r)
			}
			testutil.Eventually(t, 5*time.Second, func() bool { return own.count() == 2 }, "requests never failed")
			for i, r := range reqs {
				if r.Err != tc.want {
					t.Fatalf("request %d: err %v, want %v", i, r.Err, tc.want)
				}
			}
			if c.outstanding.Load() != 0 || st.OutQueue.Load() != 0 {
				t.Fatalf("outstanding %d, out_queue %d", c.outstanding.Load(), st.OutQueue.Load())
			}
		})
	}
}

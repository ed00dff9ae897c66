package backend

import (
	"errors"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestRedirect: connections of a server that moves (Options.Moves) fail at
// once while it points nowhere, without counting a server failure; they
// dial where it points; Redirect fails what is in flight on the server
// left with the reason given and sends what follows to the new one.
func TestRedirect(t *testing.T) {
	a, b := testutil.StartRedis(t), testutil.StartRedis(t)
	st := &stats.Server{}
	nowhere := errors.New("group g has no known master")
	addr := NewAddress(nowhere)
	c := New(&Options{Network: "tcp", Moves: addr, NewFramer: resp.Protocol{}.NewFramer, Stats: st})
	defer c.Close()
	send := func(args ...string) *proto.Request {
		t.Helper()
		own := &collect{}
		r := &proto.Request{Wire: []byte(testutil.EncodeCmd(args...)), Owner: own}
		c.Send(r)
		testutil.Eventually(t, 5*time.Second, func() bool { return own.count() == 1 }, "%q never completed", args)
		return r
	}
	if r := send("PING"); r.Err != nowhere {
		t.Fatalf("pointing nowhere: %q %v", r.Reply, r.Err)
	}
	if st.Err.Load() != 0 {
		t.Fatalf("pointing nowhere counted %d server errors", st.Err.Load())
	}
	addr.Set(a.Addr)
	if r := send("SET", "k", "a"); r.Err != nil || string(r.Reply) != "+OK\r\n" {
		t.Fatalf("SET on a: %q %v", r.Reply, r.Err)
	}

	// A request in flight on a (paused) when it moves to b fails with the
	// reason.
	a.Pause()
	defer a.Resume()
	own := &collect{}
	stuck := &proto.Request{Wire: []byte(testutil.EncodeCmd("GET", "k")), Owner: own}
	c.Send(stuck)
	// Once the writer took it, it is written before the writer sees the
	// redirect.
	testutil.Eventually(t, 5*time.Second, func() bool { return st.InQueue.Load() == 0 }, "the writer never took the request")
	addr.Set(b.Addr)
	moved := &Redirected{Reason: "group g moved to " + b.Addr}
	c.Redirect(moved)
	testutil.Eventually(t, 5*time.Second, func() bool { return own.count() == 1 }, "the request in flight never failed")
	if stuck.Err != moved {
		t.Fatalf("in flight when moved: %q %v", stuck.Reply, stuck.Err)
	}
	if r := send("GET", "k"); r.Err != nil || string(r.Reply) != "$-1\r\n" {
		t.Fatalf("GET after the move: %q %v, want b's nil", r.Reply, r.Err)
	}
	if st.Err.Load() != 0 || st.EOF.Load() != 0 {
		t.Fatalf("a move counted as a server failure: err %d, eof %d", st.Err.Load(), st.EOF.Load())
	}
}

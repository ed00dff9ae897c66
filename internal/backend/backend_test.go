package backend

import (
	"sync"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

type collect struct {
	mu   sync.Mutex
	done []*proto.Request
}

func (c *collect) Complete(r *proto.Request) {
	c.mu.Lock()
	c.done = append(c.done, r)
	c.mu.Unlock()
}

func (c *collect) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.done)
}

// TestQueueFull pauses a real redis: requests past MaxOutstanding fail at
// once with ErrQueueFull, the others complete once it resumes.
func TestQueueFull(t *testing.T) {
	r := testutil.StartRedis(t)
	st := &stats.Server{}
	c := New(&Options{Network: "tcp", Addr: r.Addr, NewFramer: resp.Protocol{}.NewFramer,
		Stats: st, MaxOutstanding: 10})
	defer c.Close()
	own := &collect{}
	r.Pause()
	var reqs []*proto.Request
	for i := 0; i < 15; i++ {
		req := &proto.Request{Wire: []byte("PING\r\n"), Owner: own}
		reqs = append(reqs, req)
		c.Send(req)
	}
	if n := own.count(); n != 5 {
		t.Fatalf("%d requests completed at once, want the 5 past the bound", n)
	}
	for _, req := range reqs[10:] {
		if req.Err != ErrQueueFull {
			t.Fatalf("request past the bound: %v", req.Err)
		}
	}
	r.Resume()
	testutil.Eventually(t, 5*time.Second, func() bool { return own.count() == 15 }, "paused requests never completed")
	for _, req := range reqs[:10] {
		if req.Err != nil || string(req.Reply) != "+PONG\r\n" {
			t.Fatalf("request %q %v", req.Reply, req.Err)
		}
	}
	if c.outstanding.Load() != 0 || st.OutQueue.Load() != 0 || st.InQueue.Load() != 0 {
		t.Fatalf("outstanding %d, out_queue %d, in_queue %d after all replies",
			c.outstanding.Load(), st.OutQueue.Load(), st.InQueue.Load())
	}
}

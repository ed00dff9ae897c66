package backend

import (
	"fmt"
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

// batchCollect is a proxy client's kind of owner: it takes the replies of
// one read in a batch and is woken once after it.
type batchCollect struct {
	collect
	inBatch bool
	wakes   int
}

func (c *batchCollect) CompleteIn(r *proto.Request, b *proto.Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = append(c.done, r)
	if !c.inBatch {
		c.inBatch = true
		b.Add(c)
	}
}

func (c *batchCollect) Wake() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inBatch = false
	c.wakes++
}

// TestManyRepliesInOneRead: a paused redis answers 1,000 pipelined
// requests at once, so that reads hold many more replies than the reader
// takes off the in-flight FIFO at a time (maxHeads). Each request gets
// its own reply, in order, whether its owner takes replies in a batch
// or one by one, and the counters the reader tallies per read add up.
func TestManyRepliesInOneRead(t *testing.T) {
	r := testutil.StartRedis(t)
	st := &stats.Server{}
	c := New(&Options{Network: "tcp", Addr: r.Addr, NewFramer: resp.Protocol{}.NewFramer, Stats: st})
	defer c.Close()
	batched, single := &batchCollect{}, &collect{}
	const n = 1000
	reqs := make([]*proto.Request, n)
	wire := 0
	r.Pause()
	for sent := 0; sent < n; {
		k := min(1+sent%97, n-sent) // batches of every size, past maxHeads too
		for i := sent; i < sent+k; i++ {
			v := fmt.Sprint(i)
			reqs[i] = &proto.Request{Wire: []byte(testutil.EncodeCmd("ECHO", v)), Owner: batched}
			if i%3 == 0 {
				reqs[i].Owner = single
			}
			wire += len(reqs[i].Wire)
		}
		c.SendBatch(reqs[sent : sent+k])
		sent += k
	}
	r.Resume()
	testutil.Eventually(t, 5*time.Second, func() bool { return batched.count()+single.count() == n }, "replies missing")
	replyBytes := 0
	for i, req := range reqs {
		v := fmt.Sprint(i)
		if want := fmt.Sprintf("$%d\r\n%s\r\n", len(v), v); req.Err != nil || string(req.Reply) != want {
			t.Fatalf("request %d: reply %q err %v, want %q", i, req.Reply, req.Err, want)
		}
		replyBytes += len(req.Reply)
	}
	for i, got := range single.done { // one by one: in request order
		if got != reqs[3*i] {
			t.Fatalf("owner completed out of order at %d", i)
		}
	}
	batched.mu.Lock()
	wakes, inBatch := batched.wakes, batched.inBatch
	batched.mu.Unlock()
	if inBatch || wakes == 0 || wakes >= batched.count()/10 {
		t.Errorf("batched owner woken %d times for %d replies (left in a batch: %v): not once per read", wakes, batched.count(), inBatch)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"requests", st.Requests.Load(), n},
		{"request_bytes", st.RequestBytes.Load(), int64(wire)},
		{"responses", st.Responses.Load(), n},
		{"response_bytes", st.ResponseBytes.Load(), int64(replyBytes)},
		{"in_queue", st.InQueue.Load(), 0},
		{"in_queue_bytes", st.InQueueBytes.Load(), 0},
		{"out_queue", st.OutQueue.Load(), 0},
		{"out_queue_bytes", st.OutQueueBytes.Load(), 0},
		{"outstanding", c.outstanding.Load(), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s %d, want %d", c.name, c.got, c.want)
		}
	}
}

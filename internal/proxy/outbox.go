package proxy

import (
	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// outbox holds what a client's reader dispatched from one read and has
// not handed on yet: the requests for the writer's queue and what goes to
// each server connection. The reader hands them on at once (flushOut),
// so that a pipeline of requests takes the queue's lock, the pending
// count and each server connection's lock once, not once per request.
//
// A request is queued before it is sent, as one at a time would be: its
// reply cannot come before the writer can find it. The outbox is handed
// on only between requests, so every request queued is wholly sent by
// the time the reader queues more.
type outbox struct {
	msgs  []*msg
	done  bool // one of msgs has its reply already (answered by the proxy)
	sends []outSend
	batch []*proto.Request // flushOut's scratch: one connection's requests
}

// outSend is a request for a server connection.
type outSend struct {
	conn *backend.Conn
	r    *proto.Request
}

// The outbox is handed on once it holds this many requests, or sends,
// even within a read (full): it bounds the requests the reader holds
// unqueued, which pushAll needs well under maxPipeline.
const (
	maxOutboxMsgs  = 64
	maxOutboxSends = 256
)

// full reports whether the outbox is to be handed on before the next
// request is dispatched.
func (o *outbox) full() bool {
	return len(o.msgs) >= maxOutboxMsgs || len(o.sends) >= maxOutboxSends
}

// enqueue hands m to the writer, in request order, through the outbox.
// The writer is woken only for a reply already made: for a forwarded
// request the wake-up comes with the reply (finish), so a request costs
// the writer one wake-up, not two.
func (c *client) enqueue(m *msg) {
	m.Key, m.Keys = nil, nil // the reader's bytes: not kept past dispatch
	o := &c.out
	o.msgs = append(o.msgs, m)
	if m.done() {
		o.done = true
	}
}

// send sends r, part of a request enqueued, on conn through the outbox.
func (c *client) send(conn *backend.Conn, r *proto.Request) {
	c.out.sends = append(c.out.sends, outSend{conn, r})
}

// flushOut hands on what the outbox holds: the requests are counted
// pending and queued for the writer, then sent, each connection's in one
// batch and in request order.
func (c *client) flushOut() {
	o := &c.out
	if len(o.msgs) > 0 {
		c.pending.Add(int64(len(o.msgs)))
		c.queue.pushAll(o.msgs)
		clear(o.msgs)
		o.msgs = o.msgs[:0]
		if o.done {
			o.done = false
			c.wakeWriter()
		}
	}
	// Each connection's requests, in order; a read's requests go to a
	// few servers, so this scans the sends once per connection.
	for i := range o.sends {
		conn := o.sends[i].conn
		if conn == nil {
			continue // sent with an earlier one's batch
		}
		for j := i; j < len(o.sends); j++ {
			if o.sends[j].conn == conn {
				o.batch = append(o.batch, o.sends[j].r)
				o.sends[j].conn = nil
			}
		}
		conn.SendBatch(o.batch)
		clear(o.batch)
		o.batch = o.batch[:0]
	}
	clear(o.sends)
	o.sends = o.sends[:0]
}

// release lets go of the outbox's buffers, for a client that parks.
func (o *outbox) release() { *o = outbox{} }

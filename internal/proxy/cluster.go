package proxy

import (
	"slices"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// A cluster pool's requests are routed by slot (package pool), split per
// slot (a cluster refuses a multi-key command across slots, even on one
// node), and redirected without the client seeing it: on MOVED the pool
// learns where the slot lives and the request goes there; on ASK it goes
// once to the node importing the slot, after ASKING; on TRYAGAIN or
// CLUSTERDOWN it goes again after a pause, within the pool's timeout.
// A MOVED or ASK reply means the node did not run the request, so it is
// never sent twice to a node that may have run it. The client's writer
// does this, before it writes the reply: the client's replies stay in
// order.

// maxRedirects bounds the redirections of one request: a cluster that
// keeps redirecting is out of step, and the client gets its last word.
const maxRedirects = 16

// retryPause is the first pause before a request the cluster asked to try
// again goes again; it doubles each time, up to a tenth of a second.
const retryPause = 5 * time.Millisecond

// assignSlotFrags is assignFrags for a cluster pool: one fragment per slot.
func (c *client) assignSlotFrags(m *msg) bool {
	pl := c.st.pool
	n := m.NumKeys()
	kf := slices.Grow(m.KeyFrag[:0], n)[:n]
	pool.RouteSlots(kf, m.Keys, m.Step)
	m.KeyFrag = kf
	if c.fragOfSlot == nil {
		c.fragOfSlot = make(map[uint32]int32)
	}
	defer func() {
		for _, s := range m.servers {
			c.fragOf[s.Index()] = -1 // addFrag's, which is per server
		}
		clear(c.fragOfSlot)
	}()
	for k, slot := range kf {
		fi, ok := c.fragOfSlot[slot]
		if !ok {
			s := pl.SlotServer(int(slot))
			if s == nil {
				m.KeyFrag = kf[:0]
				return false
			}
			fi = c.addFrag(m, s)
			c.fragOfSlot[slot] = fi
		}
		kf[k] = uint32(fi)
	}
	for _, fi := range kf {
		m.Frags[fi].NKeys++
	}
	return true
}

// resend sends again the parts of m (a request of a cluster pool, whole
// or its fragments) that the cluster redirected, and reports whether it
// sent any: the writer then waits for m again. It runs on the writer,
// which reads the pool through c.ps (c.st is the reader's).
func (c *client) resend(m *msg) bool {
	if !c.ps.pool().IsCluster() || m.Pin != proto.PinNone || m.redirects >= maxRedirects {
		return false
	}
	if len(m.Frags) == 0 {
		s := c.redirect(m, &m.Request, m.server)
		if s == nil {
			return false
		}
		m.redirects++
		m.server = s
		m.gen++ // not done: it waits for the reply again
		s.Send(&m.Request, c.affinity, m.Dialect)
		return true
	}
	var again []int
	for i, f := range m.Frags {
		if s := c.redirect(m, &f.Request, m.servers[i]); s != nil {
			m.servers[i] = s
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return false
	}
	m.redirects++
	m.gen++
	m.pending.Store(int32(len(again)))
	for _, i := range again {
		m.servers[i].Send(&m.Frags[i].Request, c.affinity, m.Dialect)
	}
	return true
}

// redirect returns where r, which went to cur, must go again, or nil when
// its reply is its own (or the cluster's last word).
func (c *client) redirect(m *msg, r *proto.Request, cur *pool.Server) *pool.Server {
	if r.Err != nil {
		return nil
	}
	if r.Preamble > 0 { // ASKING's +OK, from the last redirection
		r.Reply, r.Preamble = r.Reply[r.Preamble:], 0
	}
	rd := c.proto.Redirection(r.Reply)
	if rd.Kind != proto.RedirectNone {
		c.ps.pool().Stats.Redirections[rd.Kind-1].Add(1)
	}
	switch rd.Kind {
	case proto.RedirectMoved:
		s := c.ps.pool().Moved(rd.Slot, rd.Addr)
		if s == nil {
			s = c.serverAt(rd.Addr)
		}
		return s
	case proto.RedirectAsk:
		s := c.serverAt(rd.Addr)
		if s != nil {
			wire := r.Wire
			r.Wire, r.Hint = c.proto.Asking(make([]byte, 0, len(wire)+32), wire)
		}
		return s
	case proto.RedirectRetry:
		pause := min(retryPause<<m.redirects, 100*time.Millisecond)
		if timeout := c.ps.cfg().Timeout; timeout > 0 && m.paused+pause > timeout {
			return nil
		}
		m.paused += pause
		time.Sleep(pause)
		return cur
	}
	return nil
}

// serverAt returns the newest pool's server at addr, after a refresh of
// the slot map when it has none (a master the pool did not know).
func (c *client) serverAt(addr string) *pool.Server {
	if s := c.ps.pool().ServerAt(addr); s != nil {
		return s
	}
	c.ps.pool().Refresh()
	return c.ps.pool().ServerAt(addr)
}

// replaced serves next in place of pl, a cluster pool whose masters
// changed, as a reload would: the clients move to it when they have no
// request out, and pl retires.
func (p *Proxy) replaced(ps *poolServer, pl, next *pool.Pool) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	st := ps.state.Load()
	if st.pool != pl || p.isClosed() { // a reload replaced it first
		// next took connections over from pl, whose clients may still
		// use them: they close once idle.
		p.spawn(func() { next.Retire(config.DefaultReloadTimeout, p.done) })
		return
	}
	ps.state.Store(ps.newState(st.cfg, next))
	p.retireState(st, config.DefaultReloadTimeout)
}

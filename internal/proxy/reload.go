package proxy

import (
	"errors"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// Reload applies a new configuration in place, without closing a client
// that has not done anything wrong:
//   - a pool that keeps its name, listen address and protocol keeps its
//     listener and its clients; its servers, hash, distribution and
//     timeouts are swapped atomically, requests already routed finish on
//     the old routing, and the connections of servers that did not change
//     are kept (the others close once their requests are answered);
//   - a pool that is new (or moved to another address) starts listening,
//     unless the proxy is draining (StopAccepting);
//   - a pool that is gone stops accepting, and its clients are let go at
//     a request boundary after reload_timeout.
//
// It returns the errors of pools that could not be started; the others
// are applied.
func (p *Proxy) Reload(cfg *config.Config) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if p.isClosed() {
		return errors.New("reload: proxy closed")
	}
	old := p.poolList()
	grace := cfg.Global.Grace()
	byName := make(map[string]*poolServer, len(old))
	for _, ps := range old {
		byName[ps.cfg().Name] = ps
	}
	kept := make(map[*poolServer]bool)
	var errs []error
	for _, pc := range cfg.Pools {
		ps := byName[pc.Name]
		if ps == nil || !sameListener(ps.cfg(), pc) {
			continue
		}
		st := ps.state.Load()
		pl, err := pool.New(pc, p.opts.MbufSize, p.stats, st.pool)
		if err != nil {
			errs = append(errs, err)
			kept[ps] = true // keeps serving its old configuration
			continue
		}
		ps.state.Store(ps.newState(pc, pl))
		if pc.Preconnect {
			pl.Preconnect()
		}
		p.retireState(st, grace)
		kept[ps] = true
	}
	for _, ps := range old {
		if !kept[ps] {
			p.retirePool(ps, grace)
		}
	}
	var next []*poolServer
	for _, pc := range cfg.Pools {
		if ps := byName[pc.Name]; ps != nil && kept[ps] {
			next = append(next, ps)
			continue
		}
		// A draining proxy builds a new pool without a listener: its
		// clients can only be adopted.
		ps, err := p.newPoolServer(pc, !p.draining.Load())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if pc.Preconnect {
			ps.pool().Preconnect()
		}
		ps.serve()
		next = append(next, ps)
	}
	// Pools kept on their old configuration after an error stay listed.
	for _, ps := range old {
		if kept[ps] && !contains(next, ps) {
			next = append(next, ps)
		}
	}
	statPools := make([]*stats.Pool, len(next))
	for i, ps := range next {
		statPools[i] = ps.pool().Stats
	}
	p.pools.Store(&next)
	p.stats.SetPools(statPools)
	logging.Noticef("configuration reloaded: %d pools", len(next))
	return errors.Join(errs...)
}

// retireState ends a pool state replaced by a reload once no client uses
// it any more (each moves to the new state when it has no request out),
// or after grace at most.
func (p *Proxy) retireState(st *poolState, grace time.Duration) {
	st.users.retire()
	p.spawn(func() {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-st.users.gone:
		case <-timer.C:
		case <-p.done:
		}
		st.pool.Retire(time.Second, p.done)
	})
}

func contains(list []*poolServer, ps *poolServer) bool {
	for _, o := range list {
		if o == ps {
			return true
		}
	}
	return false
}

// sameListener reports whether a pool's listener and client protocol can
// serve the new configuration.
func sameListener(a, b *config.Pool) bool {
	return a.Listen == b.Listen && a.Redis == b.Redis && a.Backlog == b.Backlog
}

// retirePool stops a removed pool: no more accepts; after grace its
// clients stop being read (those with requests in the proxy get their
// replies first), then its server connections close, once its clients
// are gone or after another grace.
func (p *Proxy) retirePool(ps *poolServer, grace time.Duration) {
	ps.clients.retire()
	ps.closeListener()
	logging.Noticef("pool %s removed: its clients are let go in %v", ps.cfg().Name, grace)
	p.spawn(func() {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-timer.C:
			ps.letGo.Store(true) // before the list: a client woken after it sees this
			for _, c := range p.clientList(nil) {
				if c.ps == ps {
					c.shutdownRead()
				}
			}
			p.closeParked(func(pc *parkedConn) bool { return pc.ps == ps })
			timer.Reset(grace)
			select {
			case <-ps.clients.gone:
			case <-timer.C:
			case <-p.done:
			}
		case <-ps.clients.gone:
		case <-p.done:
		}
		ps.pool().Close()
	})
}

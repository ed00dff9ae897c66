package proxy

import (
	"os"

	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// poolStatus tells a pool's protocol what the proxy knows of itself and
// of the pool (proto.StatusSource), from the counters of the stats
// document, for Redis INFO and memcached stats.
type poolStatus struct {
	p  *Proxy
	pl *pool.Pool
}

func (ps poolStatus) Status(st *proto.Status) {
	proc, pl := ps.p.stats, ps.pl
	st.Version = ps.p.opts.Version
	st.PID = os.Getpid()
	st.Start = proc.Start
	st.TotalConnections = proc.TotalConnections.Load()
	st.CurrConnections = proc.CurrConnections.Load()
	st.Pool = pl.Config.Name
	st.Clients = pl.Stats.ClientConnections.Load()
	st.DB = pl.Config.RedisDB
	st.Servers = st.Servers[:0]
	for _, s := range pl.Servers {
		ss := s.Stats
		st.Servers = append(st.Servers, proto.ServerStatus{
			Name:        s.Name(),
			Addr:        s.Addr(),
			Ejected:     s.Ejected(),
			Connections: ss.Connections.Load(),
			Requests:    ss.Requests.Load(),
			Errors:      ss.EOF.Load() + ss.Err.Load() + ss.TimedOut.Load(),
		})
	}
}

package pool

import (
	"errors"
	"fmt"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/config"
)

// A sentinel pool (twemproxy-163's groups and sentinels) has a server per
// group, of weight 1, whose ring name is the group's name: the ring never
// changes when a group's master moves, so neither does a key's group. The
// server's connections dial where its master is now (backend.Address),
// which Follow changes.

// groupServers returns the servers of a sentinel pool: its groups, in
// the configuration's order (which sorts them as servers are sorted).
func groupServers(cfg *config.Pool) []config.Server {
	servers := make([]config.Server, len(cfg.Groups))
	for i, g := range cfg.Groups {
		servers[i] = config.Server{Network: "tcp", Weight: 1, Name: g, RingName: g, Line: cfg.Line}
	}
	return servers
}

// errNoMaster is the error of a request for a group whose master is not
// known.
func errNoMaster(group string) error {
	return errors.New("no master known for sentinel group " + group)
}

// Addr returns where the server is now: its master's address for a
// sentinel group ("" while none is known), else its configured address.
func (s *Server) Addr() string {
	if s.moves == nil {
		return s.Config.Addr
	}
	addr, _ := s.moves.Get()
	return addr
}

// Group reports whether the server is a sentinel group's.
func (s *Server) Group() bool { return s.moves != nil }

// Demoted tells a sentinel group's server that it answered as a replica:
// its master moved without the pool hearing of it, and the pool asks the
// sentinels again.
func (s *Server) Demoted() {
	if w := s.pool.watcher; w != nil {
		w.Reask()
	}
}

// Follow points a sentinel group's server at its master addr ("" when
// none is known): requests go there from now on; those in flight on the
// master it leaves fail, saying so, and so do the transactions open there.
// It reports whether the server moved from one master to another (a
// failover).
func (s *Server) Follow(addr string) bool {
	if s.moves == nil {
		return false
	}
	old, _ := s.moves.Get()
	if addr == old {
		return false
	}
	if addr == "" {
		s.moves.Unset(errNoMaster(s.Config.RingName))
	} else {
		s.moves.Set(addr)
	}
	s.Stats.SetMaster(addr)
	if old == "" { // nothing was sent anywhere
		return false
	}
	if addr != "" {
		s.Stats.Failovers.Add(1)
	}
	to := addr
	if to == "" {
		to = "nowhere known"
	}
	why := &backend.Redirected{Reason: fmt.Sprintf("sentinel group %s moved from %s to %s while the request was in flight: it may have run there", s.Config.RingName, old, to)}
	for _, c := range s.sets.all() {
		c.Redirect(why)
	}
	s.pinMu.Lock()
	var idle []*backend.Conn
	for d := range s.pinIdle {
		idle = append(idle, s.pinIdle[d]...)
		s.pinIdle[d] = nil
	}
	for c := range s.pinOut {
		c.Redirect(why) // a client's own connection breaks for good
	}
	s.pinMu.Unlock()
	for _, c := range idle {
		c.Close()
	}
	return addr != ""
}

// watcher follows a sentinel pool's masters (package sentinel's Watcher).
type watcher interface {
	Reask()
	Close()
}

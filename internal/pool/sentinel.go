package pool

import (
	"context"
	"errors"
	"fmt"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/sentinel"
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

// sentinelOptions are the sentinel settings of pool cfg, telling master
// (if not nil) where the groups' masters are.
func sentinelOptions(cfg *config.Pool, master func(group, addr, from string)) sentinel.Options {
	opts := sentinel.Options{
		Groups:         cfg.Groups,
		Heartbeat:      cfg.SentinelHeartbeat,
		Timeout:        cfg.Timeout,
		Password:       cfg.SentinelAuth,
		MasterPassword: cfg.RedisAuth,
		MasterTLS:      cfg.ServerTLS.Config,
		Master:         master,
	}
	for _, s := range cfg.Sentinels {
		opts.Sentinels = append(opts.Sentinels, s.Addr)
	}
	return opts
}

// discover asks the sentinels where the groups' masters are. A group they
// do not know is an error: the pool is refused. Sentinels that do not
// answer are not: the masters are then nil, and the watcher finds them
// later (meanwhile those groups' requests fail, the others' go on).
func discover(cfg *config.Pool, opts sentinel.Options) (map[string]string, error) {
	masters, err := sentinel.Discover(context.Background(), opts)
	var unknown *sentinel.UnknownGroupError
	switch {
	case errors.As(err, &unknown):
		return nil, fmt.Errorf("pool %s: %w", cfg.Name, err)
	case err != nil:
		logging.Warnf("pool %s: the masters of its sentinel groups are not known yet: %v", cfg.Name, err)
	}
	return masters, nil
}

// followSentinels points the groups at the masters discover found (if
// it found them: a group taken over from a reload's previous pool keeps
// its master otherwise), and starts the watcher that follows them.
func (p *Pool) followSentinels(masters map[string]string) {
	opts := sentinelOptions(p.Config, p.follow)
	opts.Known = map[string]string{}
	for _, s := range p.Servers {
		if masters != nil {
			s.Follow(masters[s.Name()])
		}
		opts.Known[s.Name()] = s.Addr()
	}
	p.watcher = sentinel.Start(opts)
}

// follow is the watcher's news: group's master is now addr ("" for none
// known). The watcher logs it, with the sentinel that said so.
func (p *Pool) follow(group, addr, _ string) {
	for _, s := range p.Servers {
		if s.Name() == group {
			s.Follow(addr)
		}
	}
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
// failover), even through a while when none was known.
func (s *Server) Follow(addr string) bool {
	if s.moves == nil {
		return false
	}
	old, _ := s.moves.Get()
	if addr == old {
		return false
	}
	last := s.moves.Last() // the master before, even if none was known since
	if addr == "" {
		s.moves.Unset(errNoMaster(s.Config.RingName))
	} else {
		s.moves.Set(addr)
	}
	s.Stats.SetMaster(addr)
	failover := addr != "" && last != "" && addr != last
	if failover {
		s.Stats.Failovers.Add(1)
	}
	if old == "" { // nothing was sent anywhere
		return failover
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
	return failover
}

// watcher follows a sentinel pool's masters (package sentinel's Watcher).
type watcher interface {
	Reask()
	Close()
}

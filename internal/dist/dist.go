// Package dist maps key hashes to servers the way twemproxy 0.5 does, with its
// three distributions: ketama (consistent hashing), modula and random.
//
// A Continuum is built once from a pool's live servers, in the order the pool
// keeps them (sorted by ring name with Compare), and never changes afterwards:
// when the set of live servers changes, the caller builds a new one and swaps
// it in. Pick returns an index into the server slice the continuum was built
// from, so the caller maps it back to its own server. Pick is safe for
// concurrent use and does not allocate.
//
// Hash tags, the empty key (hash 0) and key hashing itself belong to the
// caller; see package hashkit.
package dist

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Server is one live server as the distribution sees it: its ring name (see
// RingName) and its configured weight.
type Server struct {
	Name   string
	Weight int
}

// Continuum picks the server for a key hash.
type Continuum interface {
	// Pick returns the index of the server, among those the continuum was
	// built from, that owns hash.
	Pick(hash uint32) int
	// PickEach replaces every hash in hashes with Pick's index for it:
	// the routing of a multi-key command, in one call.
	PickEach(hashes []uint32)
}

// New builds the continuum of distribution kind ("ketama", "modula" or
// "random") over servers, which must be the live servers in pool order.
// Every weight must be at least 1.
func New(kind string, servers []Server) (Continuum, error) {
	i := slices.IndexFunc(distributions[:], func(d distribution) bool { return d.name == kind })
	if i < 0 {
		return nil, fmt.Errorf("dist: unknown distribution %q (want ketama, modula or random)", kind)
	}
	if len(servers) == 0 {
		return nil, errors.New("dist: no live servers")
	}
	for _, s := range servers {
		if s.Weight < 1 {
			return nil, fmt.Errorf("dist: server %q has weight %d, want at least 1", s.Name, s.Weight)
		}
	}
	if len(servers) == 1 {
		return single{}, nil
	}
	return distributions[i].build(servers), nil
}

// distribution is a distribution's config name and the constructor of its continuum.
type distribution struct {
	name  string
	build func([]Server) Continuum
}

// distributions lists the distributions in twemproxy's order (nc_conf.h).
var distributions = [...]distribution{
	{"ketama", func(s []Server) Continuum { return newKetama(s) }},
	{"modula", func(s []Server) Continuum { return newModula(s) }},
	{"random", func(s []Server) Continuum { return random(len(s)) }},
}

// Names lists the valid distribution names in twemproxy's order, for config
// validation and its error messages.
func Names() []string {
	names := make([]string, len(distributions))
	for i, d := range distributions {
		names[i] = d.name
	}
	return names
}

// single is the continuum of a one-server pool: twemproxy sends every key to
// that server without hashing.
type single struct{}

func (single) Pick(uint32) int { return 0 }

func (single) PickEach(hashes []uint32) { clear(hashes) }

// Compare orders names as twemproxy's string_compare does: the shorter string
// first, then bytewise. The configuration sorts servers by ring name, and
// pools and sentinel groups by name, with it: that order fixes modula and
// random placement and the order of the stats output.
func Compare(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// ketamaDefaultPort is the port that libmemcached, and so twemproxy, leaves
// out of a server's ring name.
const ketamaDefaultPort = "11211"

// RingName returns the name twemproxy places a server under on the ketama
// ring, sorts it by and reports its stats under. name is the server's
// configured name, or "" when it has none; addr is its address exactly as the
// configuration writes it: "host:port" or a unix socket path. The name wins
// when there is one. Else it is addr, without its ":port" when the port is
// 11211 (also written "011211"), as libmemcached does; a unix socket path is
// its own name. The address is taken as written, because twemproxy hashes the
// text: "[::1]:6379", "::1:6379" and "127.0.0.1:06379" are three names, and
// "[::1]:11211" is "[::1]".
func RingName(name, addr string) string {
	if name != "" {
		return name
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.HasPrefix(addr, "/") || strings.TrimLeft(addr[i+1:], "0") != ketamaDefaultPort {
		return addr
	}
	return addr[:i]
}

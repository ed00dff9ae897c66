// Package config reads a twemproxy (nutcracker 0.5) YAML configuration file, with two extensions
// from its forks: bilitw's top-level `global:` block and twemproxy-163's sentinel pool keys
// (`groups`, `sentinels`, `sentinel_heartbeat`); and one of ours: `redis_cluster`, a pool that
// fronts a Redis Cluster.
//
// The file is a mapping from pool name to pool keys. Load or Parse returns a fully validated Config
// with every default filled in, pools and servers sorted the way twemproxy sorts them, and each
// pool's effective slow request threshold resolved; callers never look at the YAML again.
//
// Parsing is strict where twemproxy is strict (unknown keys, "true"/"false" only, decimal integers
// only, duplicate keys) so that a file we accept is, as far as possible, one twemproxy accepts too.
// The deliberate differences are: timeout -1 means "no timeout", flow sequences are allowed,
// IPv6 hosts may be bracketed, and values twemproxy silently overflows or mangles (integers beyond
// int32, bad octal permissions, empty hosts or names) are rejected. The first problem found is
// returned as an *Error naming the file, line, pool and key.
package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is one validated configuration file.
type Config struct {
	File   string // path it was loaded from
	Data   []byte // the file's content as read by Load, for a master to hand to its workers
	Global Global
	Pools  []*Pool // sorted by name: shorter first, then bytewise (twemproxy's string_compare)
	// Warnings are problems that do not stop the proxy, for the log.
	Warnings []string
}

// Global holds bilitw's `global:` block. Its values apply to the whole process.
type Global struct {
	// Present is set when the file has a global: block. Periodic stats dumps
	// (bilitw) run only then, so a plain twemproxy file writes no stats file.
	Present bool

	StatsDuration   time.Duration // stats_duration: how often stats are appended to StatsFile
	ReloadTimeout   time.Duration // reload_timeout: how long an old worker may drain after a reload
	SlowReqDuration time.Duration // slow_req_duration: default slow request threshold; 0 = off
	StatsFile       string        // stats_file
}

// Grace is how long clients of a removed pool, of a stopping worker or of
// a graceful stop have to finish: reload_timeout, or DefaultReloadTimeout
// when it is 0.
func (g Global) Grace() time.Duration {
	if g.ReloadTimeout > 0 {
		return g.ReloadTimeout
	}
	return DefaultReloadTimeout
}

// Pool is one server pool: a listener and the servers its keys are spread over.
type Pool struct {
	Name               string
	Listen             Listen
	ClientConnections  int           // 0 = unlimited
	Hash               string        // one of the twemproxy hash names, e.g. "fnv1a_64"
	HashTag            string        // "" or exactly two bytes, e.g. "{}"
	Distribution       string        // "ketama", "modula" or "random"
	Timeout            time.Duration // server response timeout; 0 = none
	Backlog            int           // listen backlog
	Preconnect         bool          // connect to every server at start
	Redis              bool          // redis protocol; memcache ASCII otherwise
	RedisAuth          string        // password clients must AUTH with and sent to servers
	RedisDB            int           // database SELECTed on each server connection
	ServerConnections  int           // connections per server, >= 1
	AutoEjectHosts     bool          // take failing servers out of the ring
	ServerRetryTimeout time.Duration // how long an ejected server stays out
	ServerFailureLimit int           // consecutive failures before ejection
	TCPKeepalive       bool          // SO_KEEPALIVE on server connections
	SlowReqDuration    time.Duration // effective slow request threshold: the pool's own, else Global's; 0 = off
	DenyCommands       []string      // deny_commands: commands the pool refuses, lowercase; nil for none
	Servers            []Server      // sorted by RingName like Pools; empty for a sentinel pool

	// A sentinel pool (twemproxy-163) names its servers by sentinel master name instead of
	// listing addresses; it is always a redis pool.
	Groups            []string      // master names, sorted like Servers; each is a server of weight 1 whose ring name is the group name
	Sentinels         []Sentinel    // in file order, which is the order they are tried in
	SentinelHeartbeat time.Duration // how often the sentinel subscription is renewed
	SentinelAuth      string        // our extension: the sentinels' password (their requirepass); "" for none

	// RedisCluster (our extension, redis_cluster) makes the pool front a whole Redis Cluster:
	// Servers are its seed nodes (their weights are ignored), the cluster's slot of a key
	// decides its server, and HashTag is always "{}". It is always a redis pool; hash,
	// distribution, auto_eject_hosts and sentinel groups are refused with it.
	RedisCluster bool

	// ServerTLS is how the pool's server connections speak TLS (our
	// server_tls keys); its Config is nil when they do not.
	ServerTLS ServerTLS
	// ClientTLS is how the pool's listener speaks TLS (our tls_* keys,
	// named after redis.conf's); its Config is nil when it does not.
	ClientTLS ClientTLS

	Line int // line of the pool's name in the file
}

// Listen is where a pool accepts clients.
type Listen struct {
	Network string      // "tcp" or "unix"
	Addr    string      // "host:port" for tcp, ready for net.Listen (IPv6 hosts bracketed); the socket path for unix
	Perm    os.FileMode // unix socket permission from "/path 0666"; 0 = leave as created
}

// TCPAddr returns the "host:port" clients dial to reach the pool, or "" when it listens on a
// unix socket.
func (l Listen) TCPAddr() string {
	if l.Network != "tcp" {
		return ""
	}
	return l.Addr
}

// Server is one backend of a pool, from "host:port:weight [name]" or "/path:weight [name]".
type Server struct {
	Addr     string // "host:port" or the unix path, exactly as written; dial tcp with Host and Port
	Network  string // "tcp" or "unix"
	Host     string // IPv6 without brackets; "" for unix
	Port     int    // 0 for unix
	Weight   int    // >= 1
	Name     string // node name as written, "" if none
	RingName string // name used for hashing, sorting and stats: dist.RingName(Name, Addr)
	Line     int
}

// Sentinel is one redis sentinel of a sentinel pool, from "host:port [name]".
type Sentinel struct {
	Addr string // "host:port", ready for net.Dial (IPv6 hosts bracketed)
	Name string // "" if none
	Line int
}

// Error is a configuration problem. Its text is "file:line: scope: key "k": problem", leaving out
// the parts that do not apply.
type Error struct {
	File    string
	Line    int    // 0 when the problem has no single line, such as an empty file
	Scope   string // `pool "alpha"`, "global", or "" for the file as a whole
	Key     string // "" when the problem is not about one key
	Problem string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Scope != "" {
		b.WriteString(": " + e.Scope)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	b.WriteString(": " + e.Problem)
	return b.String()
}

// Load reads and validates a config file. A file holding a redis_auth
// password that other users may read gets a warning.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	cfg.Data = data
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		for _, p := range cfg.Pools {
			if p.RedisAuth != "" {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf(
					"%s: pool %q has a redis_auth password and the file is readable by every user (mode %04o); chmod o-r it",
					path, p.Name, fi.Mode().Perm()))
				break
			}
		}
	}
	return cfg, nil
}

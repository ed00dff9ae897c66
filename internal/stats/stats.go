package stats

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Server holds one server's counters and gauges. The proxy updates them
// with atomic adds on the request path; a reader sees current values.
type Server struct {
	Name    string   // the server's name in the document: ring name
	Process *Process // counts the server's connections too; may be nil

	EOF         atomic.Int64 // server_eof
	Err         atomic.Int64 // server_err
	TimedOut    atomic.Int64 // server_timedout
	Connections atomic.Int64 // server_connections (gauge)
	EjectedAt   atomic.Int64 // server_ejected_at, usec since epoch

	// Ejected tells whether the server is out of its pool's ring now, which
	// EjectedAt cannot: twemproxy keeps that time after the server returns.
	// Only /metrics shows it.
	Ejected atomic.Bool

	Requests      atomic.Int64
	RequestBytes  atomic.Int64
	Responses     atomic.Int64
	ResponseBytes atomic.Int64

	InQueue       atomic.Int64 // waiting to be written (gauge)
	InQueueBytes  atomic.Int64
	OutQueue      atomic.Int64 // written, waiting for a reply (gauge)
	OutQueueBytes atomic.Int64

	// A sentinel group's server (twemproxy-163) has a fourteenth metric
	// in the document, server_failover: how often its master moved. Its
	// master's address is in /metrics.
	Group     bool
	Failovers atomic.Int64
	master    atomic.Pointer[string]

	// latency is the request latency histogram fed by AddReplies;
	// only /metrics shows it, not the twemproxy document.
	latency struct {
		counts   [len(latencyBounds) + 1]atomic.Int64 // per bucket, last is +Inf
		sumNanos atomic.Int64
	}
}

// SetMaster records where a sentinel group's master is now ("" for
// nowhere known).
func (s *Server) SetMaster(addr string) { s.master.Store(&addr) }

// Master returns what SetMaster recorded last.
func (s *Server) Master() string {
	if m := s.master.Load(); m != nil {
		return *m
	}
	return ""
}

// GroupsDown returns the sentinel groups whose master is not known, as
// "pool/group", for /healthz.
func (p *Process) GroupsDown() []string {
	var down []string
	for _, pool := range p.poolList() {
		for _, s := range pool.serverList() {
			if s.Group && s.Master() == "" {
				down = append(down, pool.Name+"/"+s.Name)
			}
		}
	}
	return down
}

// RedirectKinds name Pool.Redirections, in order.
var RedirectKinds = [3]string{"moved", "ask", "retry"}

// FailoverMetric is the extra server metric of twemproxy-163's sentinel
// pools, after ServerMetrics in the document.
var FailoverMetric = Metric{"server_failover", "# failover of the group"}

// Pool holds one pool's counters and its servers', in twemproxy's order.
type Pool struct {
	Name string

	ClientEOF         atomic.Int64
	ClientErr         atomic.Int64
	ClientConnections atomic.Int64 // gauge
	ServerEjects      atomic.Int64
	ForwardError      atomic.Int64
	Fragments         atomic.Int64

	// SlowRequests counts requests slower than the slow-request threshold.
	// Only /metrics shows it: the twemproxy document keeps twemproxy's keys.
	SlowRequests atomic.Int64

	// A cluster pool's (redis_cluster), in /metrics only: the
	// redirections its requests followed, by kind (RedirectKinds), the
	// slot map fetches, and how many new slot maps it applied (its epoch).
	Cluster      atomic.Bool
	Redirections [3]atomic.Int64
	MapFetches   atomic.Int64
	MapEpoch     atomic.Int64

	TLS TLSCounters

	mu      sync.RWMutex
	Servers []*Server // set before serving; replaced through SetServers after
}

// SetServers replaces the servers shown, after a configuration reload.
func (p *Pool) SetServers(servers []*Server) {
	p.mu.Lock()
	p.Servers = servers
	p.mu.Unlock()
}

// serverList returns the servers shown now.
func (p *Pool) serverList() []*Server {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.Servers
}

// Process holds the counters of the whole process.
type Process struct {
	Source  string // host name
	Version string
	Start   time.Time

	TotalConnections atomic.Int64 // every connection ever opened
	CurrConnections  atomic.Int64 // open connections: listeners, clients, servers

	mu    sync.RWMutex
	Pools []*Pool // set before serving; replaced through SetPools after
}

// SetPools replaces the pools shown, after a configuration reload.
func (p *Process) SetPools(pools []*Pool) {
	p.mu.Lock()
	p.Pools = pools
	p.mu.Unlock()
}

// poolList returns the pools shown now.
func (p *Process) poolList() []*Pool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.Pools
}

// AddConn counts a connection opened.
func (p *Process) AddConn() {
	if p != nil {
		p.TotalConnections.Add(1)
		p.CurrConnections.Add(1)
	}
}

// DoneConn counts a connection closed.
func (p *Process) DoneConn() {
	if p != nil {
		p.CurrConnections.Add(-1)
	}
}

// fields are the server's metrics in ServerMetrics order.
func (s *Server) fields() [13]*atomic.Int64 {
	return [13]*atomic.Int64{
		&s.EOF, &s.Err, &s.TimedOut, &s.Connections, &s.EjectedAt,
		&s.Requests, &s.RequestBytes, &s.Responses, &s.ResponseBytes,
		&s.InQueue, &s.InQueueBytes, &s.OutQueue, &s.OutQueueBytes,
	}
}

// fields are the pool's metrics in PoolMetrics order.
func (p *Pool) fields() [6]*atomic.Int64 {
	return [6]*atomic.Int64{
		&p.ClientEOF, &p.ClientErr, &p.ClientConnections,
		&p.ServerEjects, &p.ForwardError, &p.Fragments,
	}
}

func (s *Server) values() (v [13]int64) {
	for i, f := range s.fields() {
		v[i] = f.Load()
	}
	return v
}

func (p *Pool) values() (v [6]int64) {
	for i, f := range p.fields() {
		v[i] = f.Load()
	}
	return v
}

// AppendJSON appends the stats document twemproxy's stats port serves,
// byte for byte in its format (nc_stats.c): scalars as `"key":value, `,
// nestings opened with `"name": {` and closed with `}` replacing the last
// `, `, pools and servers in configuration order (sorted as twemproxy
// sorts them), and a final newline.
func (p *Process) AppendJSON(dst []byte, now time.Time) []byte {
	dst = append(dst, '{')
	dst = appendString(dst, "service", "nutcracker")
	dst = appendString(dst, "source", p.Source)
	dst = appendString(dst, "version", p.Version)
	dst = appendInt(dst, "uptime", int64(now.Sub(p.Start)/time.Second))
	dst = appendInt(dst, "timestamp", now.Unix())
	dst = appendInt(dst, "total_connections", p.TotalConnections.Load())
	dst = appendInt(dst, "curr_connections", p.CurrConnections.Load())
	for _, pool := range p.poolList() {
		dst = appendKey(dst, pool.Name)
		dst = append(dst, " {"...)
		for i, v := range pool.values() {
			dst = appendInt(dst, PoolMetrics[i].Name, v)
		}
		for _, s := range pool.serverList() {
			dst = appendKey(dst, s.Name)
			dst = append(dst, " {"...)
			for i, v := range s.values() {
				dst = appendInt(dst, ServerMetrics[i].Name, v)
			}
			if s.Group {
				dst = appendInt(dst, FailoverMetric.Name, s.Failovers.Load())
			}
			dst = closeNesting(dst)
		}
		dst = closeNesting(dst)
	}
	dst = closeNesting(dst)
	dst[len(dst)-1] = '\n' // the document's closing "}," becomes "}\n"
	return dst
}

// closeNesting replaces the separator after the last member (", " after a
// scalar, "," after a nesting) with "},", as twemproxy's
// stats_end_nesting does.
func closeNesting(dst []byte) []byte {
	n := len(dst)
	if n >= 2 && dst[n-2] == ',' && dst[n-1] == ' ' {
		dst = dst[:n-2]
	} else if n >= 1 && dst[n-1] == ',' {
		dst = dst[:n-1]
	}
	return append(dst, "},"...)
}

func appendKey(dst []byte, key string) []byte {
	dst = appendQuoted(dst, key)
	return append(dst, ':')
}

func appendString(dst []byte, key, value string) []byte {
	dst = appendKey(dst, key)
	dst = appendQuoted(dst, value)
	return append(dst, ", "...)
}

// appendQuoted writes s as a JSON string. twemproxy writes names raw;
// escaping only changes names that would otherwise break the document.
func appendQuoted(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func appendInt(dst []byte, key string, v int64) []byte {
	dst = appendKey(dst, key)
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, ", "...)
}

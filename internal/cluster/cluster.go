// Package cluster reads the slot map of a Redis Cluster: which master
// serves each of the 16384 hash slots (hashkit.ClusterSlot gives a key's),
// and the replicas of each master.
//
// Fetch asks one node, with CLUSTER SHARDS (Redis 7) or, from a node that
// does not know it, CLUSTER SLOTS; Discover asks a list of nodes in turn
// until one answers with a map. A Map is a snapshot, never changed once
// returned: a caller that follows a cluster fetches a new one (after a
// MOVED, say) and swaps it in whole; Equal tells whether anything a router
// cares about changed.
//
// What counts as a master: with CLUSTER SHARDS only a master whose health
// is "online" serves its slots, so the slots of a master that the cluster
// has marked failed are unowned until a replica takes them over. CLUSTER
// SLOTS does not tell health, so there such a master keeps its slots until
// the failover. Replicas are those Redis calls available: "online" in
// CLUSTER SHARDS, listed at all in CLUSTER SLOTS (Redis 7.0 leaves out a
// failed replica, and one that has had nothing of its master's
// replication stream yet, which it calls "loading"). Nothing here reads
// from them.
//
// Addresses are "ip:port" as the nodes announce them (the "ip" field of
// CLUSTER SHARDS, not a hostname); a node that does not know its own IP
// yet (an empty one) is at the host Fetch dialled.
//
// TLS (Options.TLS): a cluster whose nodes talk TLS among themselves
// (tls-cluster yes) announces each node's TLS port, as "tls-port" in
// CLUSTER SHARDS (beside "port", the plaintext one, when the node has
// one), and as the port itself in CLUSTER SLOTS and in MOVED and ASK to a
// client connected with TLS. So a map fetched with TLS names TLS ports,
// and one fetched in plaintext the plaintext ports. A cluster with
// tls-cluster no knows no TLS port of its nodes: Fetch with TLS fails on
// its CLUSTER SHARDS, naming the node without one (its CLUSTER SLOTS, not
// telling, gives the plaintext ports, where the TLS handshakes fail).
//
// Every connection is short-lived and RESP2, every read and write has a
// deadline (Options.Timeout), and every reply is framed by
// resp.ReplyParser and bounded (maxReply) before it is looked at, so a
// broken or hostile node costs an error, never unbounded memory or time.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/hashkit"
)

// Slots is the number of hash slots of a Redis Cluster.
const Slots = hashkit.ClusterSlots

// defaultTimeout bounds a dial and a reply when Options.Timeout is 0.
const defaultTimeout = time.Second

// Options are how Fetch and Discover talk to nodes.
type Options struct {
	Timeout  time.Duration // bounds a dial and each reply; 0: 1 s
	Password string        // sent with AUTH first when not ""
	// TLS, when not nil, makes every connection TLS, its handshake within
	// Timeout, and the map's addresses the nodes' TLS ports. An empty
	// ServerName verifies the host dialled.
	TLS *tls.Config

	// slotsOnly skips CLUSTER SHARDS, as for a node older than Redis 7:
	// tests use it to check the fallback against a real cluster.
	slotsOnly bool
	// replyLimit, when not 0, replaces maxReply: tests reach it quickly.
	replyLimit int
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return defaultTimeout
	}
	return o.Timeout
}

// ErrClusterDisabled is returned by Fetch when the node is not in cluster
// mode (cluster-enabled no).
var ErrClusterDisabled = errors.New("cluster support disabled on the node")

// Shard is a master serving slots, with its replicas.
type Shard struct {
	Master   string   // "host:port"
	Replicas []string // "host:port", in the order the node listed them
	Slots    [][2]int // inclusive ranges, ascending, none adjacent
}

// Map is the slot map of a cluster as one node saw it.
type Map struct {
	// Shards are the masters that serve at least one slot, in the order
	// the node listed them.
	Shards []Shard
	// Owner is, for each slot, its master's index in Shards, or -1 when
	// no master serves it.
	Owner [Slots]int16
}

// Master returns the address of the master serving slot, or "" when
// none does (or slot is out of range).
func (m *Map) Master(slot int) string {
	if slot < 0 || slot >= Slots || m.Owner[slot] < 0 {
		return ""
	}
	return m.Shards[m.Owner[slot]].Master
}

// Masters returns the address of every master serving slots, sorted.
func (m *Map) Masters() []string {
	masters := make([]string, len(m.Shards))
	for i, s := range m.Shards {
		masters[i] = s.Master
	}
	slices.Sort(masters)
	return masters
}

// Equal reports whether m and o have the same master for every slot;
// replicas and the order of shards do not count.
func (m *Map) Equal(o *Map) bool {
	for slot := range Slots {
		if m.Master(slot) != o.Master(slot) {
			return false
		}
	}
	return true
}

// Fetch asks the node at addr for the slot map: CLUSTER SHARDS, or CLUSTER
// SLOTS when the node does not know that subcommand (before Redis 7). A
// node in cluster mode that knows of no slot owner (not yet joined, or
// every slot unassigned) gives a Map with no shards and no error. It
// gives up when ctx ends.
func Fetch(ctx context.Context, addr string, opts Options) (*Map, error) {
	limit := maxReply
	if opts.replyLimit > 0 {
		limit = opts.replyLimit
	}
	c, err := dial(ctx, addr, opts.TLS, opts.timeout(), limit)
	if err != nil {
		return nil, fmt.Errorf("cluster node %s: %w", addr, err)
	}
	defer c.close()
	m, err := c.fetch(opts)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // the read or write failed because ctx closed the connection
		}
		return nil, fmt.Errorf("cluster node %s: %w", addr, err)
	}
	return m, nil
}

// fetch sends AUTH if asked, then CLUSTER SHARDS or SLOTS, and parses the
// reply.
func (c *conn) fetch(opts Options) (*Map, error) {
	if opts.Password != "" {
		r, err := c.do("AUTH", opts.Password)
		if err != nil {
			return nil, fmt.Errorf("AUTH: %w", err)
		}
		if string(r) != "+OK\r\n" {
			return nil, fmt.Errorf("AUTH: %s", text(r))
		}
	}
	if !opts.slotsOnly {
		r, err := c.do("CLUSTER", "SHARDS")
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
		}
		// Redis 7.0 says "unknown subcommand 'SHARDS'", 6.x "Unknown
		// subcommand or wrong number of arguments for 'SHARDS'".
		if !isError(r, "ERR unknown subcommand") {
			if err := replyError(r); err != nil {
				return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
			}
			m, err := parseShards(r, c.host, opts.TLS != nil)
			if err != nil {
				return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
			}
			return m, nil
		}
	}
	r, err := c.do("CLUSTER", "SLOTS")
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	if err := replyError(r); err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	m, err := parseSlots(r, c.host)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	return m, nil
}

// replyError returns the error of an error reply, ErrClusterDisabled for
// the one a node not in cluster mode sends, or nil for any other reply.
func replyError(r []byte) error {
	switch {
	case isError(r, "ERR This instance has cluster support disabled"):
		return ErrClusterDisabled
	case len(r) > 0 && r[0] == '-':
		return errors.New(text(r))
	}
	return nil
}

// isError reports whether r is an error reply starting with prefix, in
// any case.
func isError(r []byte, prefix string) bool {
	return len(r) > len(prefix) && r[0] == '-' && strings.EqualFold(string(r[1:1+len(prefix)]), prefix)
}

// Discover asks the nodes at addrs in order (seed nodes first, say, then
// nodes a previous map named) and returns the first map that has a slot
// owner. A node that fails, or knows of no owner, is passed over; when
// none answers with a map the error names every address and why.
func Discover(ctx context.Context, addrs []string, opts Options) (*Map, error) {
	if len(addrs) == 0 {
		return nil, errors.New("cluster: no node to ask")
	}
	var errs []error
	for _, addr := range addrs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		m, err := Fetch(ctx, addr, opts)
		if err == nil && len(m.Shards) == 0 {
			err = fmt.Errorf("cluster node %s: no master serves any slot", addr)
		}
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return nil, discoverError(errs)
}

// discoverError is why each node Discover asked gave no map, on one line.
type discoverError []error

func (e discoverError) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "cluster: no slot map from any node: " + strings.Join(msgs, "; ")
}

func (e discoverError) Unwrap() []error { return e }

package resp

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"

	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// A pool that fronts a Redis Cluster (proto.Settings.Cluster) shows its
// clients a cluster of one node: the proxy, at the address they reached
// it on, serving every slot. A cluster-aware client (go-redis's
// ClusterClient, ioredis's Cluster, redis-cli -c) asks it where the slots
// are, finds them all on the proxy and sends it everything; the proxy
// routes each key to the node of its slot and follows the cluster's
// redirections itself. The replies have the shapes of a Redis 7.0 node's
// that owns slots 0-16383 alone. Questions about the real nodes (the keys
// of a slot, failure reports) and the commands that administer them are
// refused: they are for the nodes themselves.
//
// A pool that is not a cluster pool answers these commands as it did
// before they were served: as commands the proxy does not serve.

// numSlots is how many hash slots a Redis Cluster has.
const numSlots = hashkit.ClusterSlots

// clusterInfo is CLUSTER INFO of a healthy cluster of one node that has
// never talked to another, as Redis 7.0 writes it.
const clusterInfo = "cluster_state:ok\r\n" +
	"cluster_slots_assigned:16384\r\n" +
	"cluster_slots_ok:16384\r\n" +
	"cluster_slots_pfail:0\r\n" +
	"cluster_slots_fail:0\r\n" +
	"cluster_known_nodes:1\r\n" +
	"cluster_size:1\r\n" +
	"cluster_current_epoch:0\r\n" +
	"cluster_my_epoch:0\r\n" +
	"cluster_stats_messages_sent:0\r\n" +
	"cluster_stats_messages_received:0\r\n" +
	"total_cluster_links_buffer_limit_exceeded:0\r\n"

// clusterHelp is CLUSTER HELP: the subcommands the proxy answers.
var clusterHelp = []string{
	"CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"INFO",
	"    Return information about the cluster: one node, every slot served.",
	"KEYSLOT <key>",
	"    Return the hash slot for <key>.",
	"LINKS",
	"    Return the links to other nodes: none.",
	"MYID",
	"    Return the node id of this proxy.",
	"NODES",
	"    Return the cluster as this proxy shows it: itself, serving every slot.",
	"SHARDS",
	"    Return the shards of the cluster as this proxy shows it: one.",
	"SLOTS",
	"    Return the slot ranges and their nodes: 0-16383 on this proxy.",
	"HELP",
	"    Print this help.",
	"This proxy routes every key to the node of its slot in the cluster behind it.",
}

// clusterArity is the argument count, with CLUSTER and the subcommand,
// of each subcommand the proxy answers, as Redis 7.0 has it.
var clusterArity = map[string]int{
	"help": 2, "info": 2, "keyslot": 3, "links": 2, "myid": 2, "nodes": 2, "shards": 2, "slots": 2,
}

// clusterAdmin are Redis 7.0's other CLUSTER subcommands: those that
// administer a node, and those that ask about the keys a node holds.
var clusterAdmin = map[string]bool{
	"addslots": true, "addslotsrange": true, "bumpepoch": true, "count-failure-reports": true,
	"countkeysinslot": true, "delslots": true, "delslotsrange": true, "failover": true,
	"flushslots": true, "forget": true, "getkeysinslot": true, "meet": true, "replicas": true,
	"replicate": true, "reset": true, "saveconfig": true, "set-config-epoch": true, "setslot": true,
	"slaves": true,
}

// cluster answers CLUSTER, READONLY, READWRITE and ASKING in a cluster
// pool. READONLY and READWRITE are accepted as a node accepts them (the
// proxy reads from the masters whatever they say), and so is ASKING (the
// proxy follows ASK redirections itself).
func (c *Client) cluster(m *proto.Msg, args [][]byte, s *proto.Settings) proto.Action {
	if !bytes.EqualFold(args[0], []byte("cluster")) {
		m.Local = append(m.Local, replyOK...)
		return proto.Answer
	}
	sub := string(bytes.ToLower(args[1]))
	arity, served := clusterArity[sub]
	switch {
	case clusterAdmin[sub]:
		return refuse(m, "ERR CLUSTER "+string(bytes.ToUpper(args[1]))+
			" is not served by the proxy: it is about one node of the cluster, ask that node")
	case !served:
		// Redis quotes at most 128 bytes of it.
		return refuse(m, "ERR unknown subcommand '"+string(args[1][:min(len(args[1]), 128)])+"'. Try CLUSTER HELP.")
	case len(args) != arity:
		return refuse(m, "ERR wrong number of arguments for 'cluster|"+sub+"' command")
	}
	switch sub {
	case "help":
		m.Local = AppendArrayHeader(m.Local, len(clusterHelp))
		for _, line := range clusterHelp {
			m.Local = AppendSimple(m.Local, line)
		}
		return proto.Answer
	case "info":
		m.Local = appendText(m.Local, []byte(clusterInfo), m.Dialect)
		return proto.Answer
	case "keyslot":
		m.Local = AppendInt(m.Local, int64(hashkit.ClusterSlot(args[2])))
		return proto.Answer
	case "links":
		m.Local = AppendArrayHeader(m.Local, 0)
		return proto.Answer
	case "myid":
		m.Local = AppendBulkString(m.Local, nodeID(s.Listen))
		return proto.Answer
	}
	host, port, ok := c.clusterAddr(s)
	if !ok {
		return refuse(m, "ERR the pool listens on a unix socket: a cluster client needs a host and port")
	}
	id := nodeID(s.Listen)
	switch sub {
	case "slots":
		m.Local = appendSlots(m.Local, host, port, id, m.Dialect)
	case "shards":
		m.Local = appendShards(m.Local, host, port, id, m.Dialect)
	case "nodes":
		// As Redis writes it, an IPv6 address unbracketed; the proxy has
		// no cluster bus, so its bus port is 0.
		line := id + " " + host + ":" + strconv.Itoa(port) +
			"@0 myself,master - 0 0 0 connected 0-" + strconv.Itoa(numSlots-1) + "\n"
		m.Local = appendText(m.Local, []byte(line), m.Dialect)
	}
	return proto.Answer
}

// nodeID is the node id the proxy has for the pool listening on listen:
// 40 hex digits that stay the same across restarts, as a node's do.
func nodeID(listen string) string {
	sum := sha1.Sum([]byte("nutcracker cluster pool " + listen))
	return hex.EncodeToString(sum[:])
}

// clusterAddr returns the IP address and port a cluster client is to
// reach the proxy at: the pool's listen address when that is one IP
// address, else (a wildcard such as 0.0.0.0, or a host name) the local
// address of this client's connection, which is one the client could
// reach. ok is false when the pool listens on a unix socket.
func (c *Client) clusterAddr(s *proto.Settings) (host string, port int, ok bool) {
	if ap, err := netip.ParseAddrPort(s.Listen); err == nil && !ap.Addr().IsUnspecified() {
		return ap.Addr().Unmap().String(), int(ap.Port()), true
	}
	if s.Listen == "" {
		return "", 0, false
	}
	if c.localAddr == "" && s.Peers != nil {
		// The connection's own address is known to the proxy, which lists
		// its clients; a client looks it up once, for its first CLUSTER
		// SLOTS, rather than every client carrying it from the start.
		s.Peers(func(p proto.Peer) bool {
			if p.Client == proto.Client(c) {
				c.localAddr = p.LocalAddr
				return false
			}
			return true
		})
	}
	if ap, err := netip.ParseAddrPort(c.localAddr); err == nil {
		return ap.Addr().Unmap().String(), int(ap.Port()), true
	}
	// Not listed: the listen address as written is the best guess.
	h, p, err := net.SplitHostPort(s.Listen)
	n, perr := strconv.Atoi(p)
	return h, n, err == nil && perr == nil
}

// appendSlots appends CLUSTER SLOTS: one range, every slot, on the node
// at host:port with no replica. The node's extra networking metadata is
// an empty map (RESP2 shows it as an empty array).
func appendSlots(dst []byte, host string, port int, id string, dialect uint8) []byte {
	dst = AppendArrayHeader(dst, 1)
	dst = AppendArrayHeader(dst, 3)
	dst = AppendInt(AppendInt(dst, 0), numSlots-1)
	dst = AppendArrayHeader(dst, 4)
	dst = AppendBulkString(dst, host)
	dst = AppendInt(dst, int64(port))
	dst = AppendBulkString(dst, id)
	return appendMapHeaderIn(dst, 0, dialect)
}

// appendShards appends CLUSTER SHARDS: one shard of every slot, whose
// one node is the master at host:port.
func appendShards(dst []byte, host string, port int, id string, dialect uint8) []byte {
	dst = AppendArrayHeader(dst, 1)
	dst = appendMapHeaderIn(dst, 2, dialect)
	dst = AppendBulkString(dst, "slots")
	dst = AppendInt(AppendInt(AppendArrayHeader(dst, 2), 0), numSlots-1)
	dst = AppendBulkString(dst, "nodes")
	dst = AppendArrayHeader(dst, 1)
	dst = appendMapHeaderIn(dst, 7, dialect)
	dst = AppendBulkString(AppendBulkString(dst, "id"), id)
	dst = AppendInt(AppendBulkString(dst, "port"), int64(port))
	dst = AppendBulkString(AppendBulkString(dst, "ip"), host)
	dst = AppendBulkString(AppendBulkString(dst, "endpoint"), host)
	dst = AppendBulkString(AppendBulkString(dst, "role"), "master")
	dst = AppendInt(AppendBulkString(dst, "replication-offset"), 0)
	return AppendBulkString(AppendBulkString(dst, "health"), "online")
}

// appendMapHeaderIn appends the header of a map of n pairs as a client of
// the dialect gets it: a RESP3 map, or a RESP2 array of 2n elements.
func appendMapHeaderIn(dst []byte, n int, dialect uint8) []byte {
	if dialect == dialectRESP3 {
		return AppendMapHeader(dst, n)
	}
	return AppendArrayHeader(dst, 2*n)
}

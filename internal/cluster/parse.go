package cluster

import (
	"bytes"
	"fmt"
	"net"
	"strconv"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
)

// The parsers take one reply already framed and bounded by
// resp.ReplyParser, walk it level by level with resp.ArrayElems (the
// depth is that of the reply's shape, never the input's), and check the
// type of everything they use.

// parseShards parses a RESP2 CLUSTER SHARDS reply: an array of shards,
// each a flat array of fields, among them "slots" (a flat array of range
// bounds) and "nodes" (an array of flat field arrays: "ip", "port",
// "tls-port", "role", "health"...). Unknown fields are skipped. A node's
// address has its "tls-port" when useTLSPorts is true, else its "port".
// A node with an empty "ip" is the one asked, at host.
func parseShards(reply []byte, host string, useTLSPorts bool) (*Map, error) {
	shards, err := elems(reply, "reply")
	if err != nil {
		return nil, err
	}
	b := newBuilder()
	for i, shard := range shards {
		var ranges, nodes [][]byte
		err := fields(shard, func(name string, value []byte) (err error) {
			switch name {
			case "slots":
				ranges, err = elems(value, "slots")
			case "nodes":
				nodes, err = elems(value, "nodes")
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		if len(ranges)%2 != 0 {
			return nil, fmt.Errorf("shard %d: odd number of slot range bounds", i)
		}
		var master string
		var replicas []string
		for j, node := range nodes {
			n, err := shardNode(node, host, useTLSPorts)
			if err != nil {
				return nil, fmt.Errorf("shard %d node %d: %w", i, j, err)
			}
			if n.health != "online" {
				continue
			}
			switch n.role {
			case "master":
				if master != "" {
					return nil, fmt.Errorf("shard %d: two masters, %s and %s", i, master, n.addr)
				}
				master = n.addr
			case "replica":
				replicas = append(replicas, n.addr)
			}
		}
		if master == "" || len(ranges) == 0 {
			continue // its slots, if any, have no master that serves them
		}
		s := b.shard(master, replicas)
		for j := 0; j < len(ranges); j += 2 {
			lo, err1 := slot(ranges[j])
			hi, err2 := slot(ranges[j+1])
			if err := firstError(err1, err2); err != nil {
				return nil, fmt.Errorf("shard %d: %w", i, err)
			}
			if err := b.own(s, lo, hi); err != nil {
				return nil, fmt.Errorf("shard %d: %w", i, err)
			}
		}
	}
	return b.done(), nil
}

// shardNodeFields is what parseShards reads of a node.
type shardNodeFields struct {
	addr, role, health string
}

// shardNode reads one node of a CLUSTER SHARDS shard, at its TLS port
// when useTLSPort is true.
func shardNode(node []byte, host string, useTLSPort bool) (shardNodeFields, error) {
	var n shardNodeFields
	var ip []byte
	port, tlsPort := int64(-1), int64(-1)
	err := fields(node, func(name string, value []byte) (err error) {
		switch name {
		case "ip":
			ip, err = bulk(value, "ip")
		case "port":
			port, err = integer(value, "port")
		case "tls-port":
			tlsPort, err = integer(value, "tls-port")
		case "role":
			var b []byte
			b, err = bulk(value, "role")
			n.role = string(b)
		case "health":
			var b []byte
			b, err = bulk(value, "health")
			n.health = string(b)
		}
		return err
	})
	if err != nil {
		return n, err
	}
	if useTLSPort {
		// A cluster with tls-cluster no knows only its nodes' plaintext
		// ports, and announces no TLS port.
		if tlsPort < 0 {
			return n, fmt.Errorf("no tls-port (the cluster needs tls-cluster yes)")
		}
		port = tlsPort
	}
	if port < 0 {
		return n, fmt.Errorf("no port")
	}
	n.addr, err = address(ip, port, host)
	return n, err
}

// parseSlots parses a RESP2 CLUSTER SLOTS reply: an array of slot ranges,
// each [first, last, master, replica...] with a node as [ip, port, id,
// ...]. A node with a null or empty ip is the one asked, at host.
func parseSlots(reply []byte, host string) (*Map, error) {
	entries, err := elems(reply, "reply")
	if err != nil {
		return nil, err
	}
	b := newBuilder()
	for i, entry := range entries {
		e, err := elems(entry, "slot range")
		if err != nil {
			return nil, fmt.Errorf("range %d: %w", i, err)
		}
		if len(e) < 3 {
			return nil, fmt.Errorf("range %d: %d elements, want at least 3", i, len(e))
		}
		lo, err1 := slot(e[0])
		hi, err2 := slot(e[1])
		if err := firstError(err1, err2); err != nil {
			return nil, fmt.Errorf("range %d: %w", i, err)
		}
		addrs := make([]string, len(e)-2)
		for j, node := range e[2:] {
			if addrs[j], err = slotsNode(node, host); err != nil {
				return nil, fmt.Errorf("range %d node %d: %w", i, j, err)
			}
		}
		if err := b.own(b.shard(addrs[0], addrs[1:]), lo, hi); err != nil {
			return nil, fmt.Errorf("range %d: %w", i, err)
		}
	}
	return b.done(), nil
}

// slotsNode returns the address of one node of a CLUSTER SLOTS range.
func slotsNode(node []byte, host string) (string, error) {
	n, err := elems(node, "node")
	if err != nil {
		return "", err
	}
	if len(n) < 2 {
		return "", fmt.Errorf("%d elements, want at least 2", len(n))
	}
	ip, err := bulk(n[0], "ip")
	if err != nil {
		return "", err
	}
	port, err := integer(n[1], "port")
	if err != nil {
		return "", err
	}
	return address(ip, port, host)
}

// builder collects shards and slot owners. Its work is bounded by the
// slots, whatever the reply: every range must own slots no range owned
// before.
type builder struct {
	m        Map
	shards   map[string]int     // index in m.Shards by master
	replicas map[[2]string]bool // master and replica pairs recorded
}

func newBuilder() *builder {
	b := &builder{shards: make(map[string]int), replicas: make(map[[2]string]bool)}
	for i := range b.m.Owner {
		b.m.Owner[i] = -1
	}
	return b
}

// shard returns the index of master's shard, adding it when it is new
// (CLUSTER SLOTS names a master once per range), and records replicas.
func (b *builder) shard(master string, replicas []string) int {
	i, ok := b.shards[master]
	if !ok {
		i = len(b.m.Shards)
		b.shards[master] = i
		b.m.Shards = append(b.m.Shards, Shard{Master: master})
	}
	for _, r := range replicas {
		if !b.replicas[[2]string{master, r}] {
			b.replicas[[2]string{master, r}] = true
			b.m.Shards[i].Replicas = append(b.m.Shards[i].Replicas, r)
		}
	}
	return i
}

// own gives slots lo to hi to shard s.
func (b *builder) own(s, lo, hi int) error {
	if lo > hi {
		return fmt.Errorf("slot range %d-%d is reversed", lo, hi)
	}
	for slot := lo; slot <= hi; slot++ {
		if o := b.m.Owner[slot]; o >= 0 {
			return fmt.Errorf("slot %d listed twice (%s, %s)", slot, b.m.Shards[o].Master, b.m.Shards[s].Master)
		}
		b.m.Owner[slot] = int16(s)
	}
	return nil
}

// done fills in each shard's slot ranges from the owners and returns the
// map. A shard is added only to own slots, so there are at most Slots
// and an index fits Owner.
func (b *builder) done() *Map {
	for slot := 0; slot < Slots; {
		o := b.m.Owner[slot]
		end := slot
		for end+1 < Slots && b.m.Owner[end+1] == o {
			end++
		}
		if o >= 0 {
			b.m.Shards[o].Slots = append(b.m.Shards[o].Slots, [2]int{slot, end})
		}
		slot = end + 1
	}
	return &b.m
}

// address joins a node's ip and port; an empty or null ip means host.
func address(ip []byte, port int64, host string) (string, error) {
	if port <= 0 || port > 65535 {
		return "", fmt.Errorf("port %d out of range", port)
	}
	h := string(ip)
	switch h {
	case "":
		h = host
	case "?":
		return "", fmt.Errorf("endpoint unknown to the node")
	}
	return net.JoinHostPort(h, strconv.FormatInt(port, 10)), nil
}

// elems returns the elements of an array reply; what names it in the
// error.
func elems(reply []byte, what string) ([][]byte, error) {
	e, err := resp.ArrayElems(reply, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: want an array, got %s", what, text(reply))
	}
	return e, nil
}

// fields calls f for each field name and value of a flat array of
// name-value pairs (a RESP2 map), names being bulk strings.
func fields(reply []byte, f func(name string, value []byte) error) error {
	e, err := elems(reply, "fields")
	if err != nil {
		return err
	}
	if len(e)%2 != 0 {
		return fmt.Errorf("fields: odd number of elements")
	}
	for i := 0; i < len(e); i += 2 {
		name, err := bulk(e[i], "field name")
		if err != nil {
			return err
		}
		if err := f(string(name), e[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// bulk returns the data of a bulk string reply, nil for a null one.
func bulk(reply []byte, what string) ([]byte, error) {
	if bytes.Equal(reply, []byte("$-1\r\n")) {
		return nil, nil
	}
	if len(reply) < 4 || reply[0] != '$' {
		return nil, fmt.Errorf("%s: want a bulk string, got %s", what, text(reply))
	}
	crlf := bytes.Index(reply, []byte("\r\n"))
	return reply[crlf+2 : len(reply)-2], nil
}

// integer returns the value of an integer reply.
func integer(reply []byte, what string) (int64, error) {
	v, err := resp.ParseInt(reply)
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer, got %s", what, text(reply))
	}
	return v, nil
}

// slot returns the value of an integer reply that is a slot number.
func slot(reply []byte) (int, error) {
	v, err := integer(reply, "slot")
	if err != nil {
		return 0, err
	}
	if v < 0 || v >= Slots {
		return 0, fmt.Errorf("slot %d out of range", v)
	}
	return int(v), nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

package resp

import (
	"bytes"
	"slices"
	"strconv"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// clientList is CLIENT LIST [TYPE type] [ID id ...]: the pool's client
// connections in this process, one line each in Redis's format. What a
// proxy does not have (a db other than 0, buffers Redis measures) is 0.
func (c *Client) clientList(m *proto.Msg, args [][]byte, s *proto.Settings) proto.Action {
	var ids []int64 // nil: every client
	none := false   // TYPE master, replica or pubsub: no client is one
	for i := 0; i < len(args); i++ {
		switch {
		case bytes.EqualFold(args[i], []byte("TYPE")) && i+1 < len(args):
			i++
			switch t := string(bytes.ToLower(args[i])); t {
			case "normal":
			case "master", "replica", "slave", "pubsub":
				none = true
			default:
				return refuse(m, "ERR Unknown client type '"+string(args[i])+"'")
			}
		case bytes.EqualFold(args[i], []byte("ID")) && i+1 < len(args):
			for i++; i < len(args); i++ {
				id, ok := parseInt(args[i])
				if !ok || id <= 0 {
					return refuse(m, "ERR Invalid client ID")
				}
				ids = append(ids, id)
			}
		default:
			return refuse(m, errSyntax)
		}
	}
	var peers []proto.Peer
	if !none {
		for p := range peersOf(s) {
			if pc, ok := p.Client.(*Client); ok && (ids == nil || slices.Contains(ids, pc.id)) {
				peers = append(peers, p)
			}
		}
	}
	slices.SortFunc(peers, func(a, b proto.Peer) int {
		return int(a.Client.(*Client).id - b.Client.(*Client).id)
	})
	var list []byte
	for _, p := range peers {
		pc := p.Client.(*Client)
		list = pc.appendPeer(list, p, pc == c)
	}
	m.Local = appendText(m.Local, list, m.Dialect)
	return proto.Answer
}

// peersOf is s.Peers, or no peer when the pool gives none.
func peersOf(s *proto.Settings) func(yield func(proto.Peer) bool) {
	if s.Peers == nil {
		return func(func(proto.Peer) bool) {}
	}
	return s.Peers
}

// appendPeer appends the CLIENT LIST line of p, whose protocol state is
// c; self says c is the client asking, whose reader is running this, so
// its transaction state can be read.
func (c *Client) appendPeer(dst []byte, p proto.Peer, self bool) []byte {
	name := ""
	if n := c.name.Load(); n != nil {
		name = *n
	}
	cmd := "NULL"
	if last := c.last.Load(); last != nil {
		cmd = last.Name
		if self && last.Kind == KindClient {
			cmd = "client|" + string(bytes.ToLower(c.args[1]))
		}
	}
	resp := " resp=2\n"
	if c.resp3.Load() {
		resp = " resp=3\n"
	}
	flags, multi := "N", -1
	if self && c.tx.multi {
		flags, multi = "x", c.tx.queued
	}
	age := int64(0)
	if !p.Since.IsZero() {
		age = int64(time.Since(p.Since) / time.Second)
	}
	dst = append(dst, "id="...)
	dst = strconv.AppendInt(dst, c.id, 10)
	dst = append(dst, " addr="+p.Addr+" laddr="+p.LocalAddr+" fd="...)
	dst = strconv.AppendInt(dst, int64(p.FD), 10)
	dst = append(dst, " name="+name+" age="...)
	dst = strconv.AppendInt(dst, age, 10)
	dst = append(dst, " idle=0 flags="+flags+" db=0 sub=0 psub=0 ssub=0 multi="...)
	dst = strconv.AppendInt(dst, int64(multi), 10)
	dst = append(dst, " qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd="+
		cmd+" user=default redir=-1"...)
	return append(dst, resp...)
}

package resp

import (
	"bytes"
	"strconv"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// A Redis Cluster node answers a request for a slot it does not serve
// with where to send it: "-MOVED <slot> <host:port>" (the slot lives
// there now), "-ASK <slot> <host:port>" (the slot is being moved there:
// send it there once, after ASKING), or "-TRYAGAIN ..." and
// "-CLUSTERDOWN ..." (try again later: a multi-key request whose keys are
// in the middle of a move, a cluster that lost a master).

var wireAsking = appendCommand(nil, [][]byte{[]byte("ASKING")})

// Redirection reads a cluster's redirection in reply.
func (Protocol) Redirection(reply []byte) proto.Redirect {
	if len(reply) < 4 || reply[0] != '-' {
		return proto.Redirect{}
	}
	line := bytes.TrimSuffix(reply[1:], []byte("\r\n"))
	var kind proto.RedirectKind
	switch {
	case bytes.HasPrefix(line, []byte("MOVED ")):
		kind = proto.RedirectMoved
	case bytes.HasPrefix(line, []byte("ASK ")):
		kind = proto.RedirectAsk
	case bytes.HasPrefix(line, []byte("TRYAGAIN")), bytes.HasPrefix(line, []byte("CLUSTERDOWN")):
		return proto.Redirect{Kind: proto.RedirectRetry}
	default:
		return proto.Redirect{}
	}
	fields := bytes.Fields(line)
	if len(fields) != 3 {
		return proto.Redirect{}
	}
	slot, err := strconv.Atoi(string(fields[1]))
	if err != nil || slot < 0 || slot >= 16384 || bytes.LastIndexByte(fields[2], ':') <= 0 {
		return proto.Redirect{}
	}
	return proto.Redirect{Kind: kind, Slot: slot, Addr: string(fields[2])}
}

// Asking appends ASKING, then wire; their replies are framed as a pair.
func (Protocol) Asking(dst, wire []byte) ([]byte, uint8) {
	return append(append(dst, wireAsking...), wire...), hintPreamble
}

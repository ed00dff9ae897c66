// Package resp speaks the Redis protocol (RESP2) for the proxy: it frames
// client requests exactly as Redis 7 does, finds the end of server replies,
// encodes replies, and holds the table of commands the proxy supports with
// the way each one is routed. Protocol and Client (protocol.go, client.go)
// are the protocol as package proto defines it: what the proxy answers
// itself (PING, QUIT, AUTH, SELECT 0, refusals), what it routes by which
// key, how split commands are encoded per server and merged.
//
// Both parsers are resumable. The caller passes a buffer that starts at the
// first byte of a frame; Parse returns 0 until the whole frame is there, and
// the caller calls it again with the same frame start and more bytes
// appended (the buffer may have moved in between). The parser keeps offsets,
// never pointers, and scans only bytes it has not scanned before, so a frame
// arriving in many pieces costs time linear in its size. After a frame is
// consumed the caller calls Reset. Nothing is allocated or reserved from a
// length read off the wire: memory grows only with bytes that have arrived.
// Arguments are sub-slices of the caller's buffer, so after warm-up neither
// parsing, command lookup nor encoding allocates; the exception is a request
// of more than 1024 arguments, whose argument index the parser drops on
// Reset rather than hold for the life of the connection.
//
// Request framing copies Redis 7.0 (networking.c processMultibulkBuffer and
// processInlineBuffer, sds.c sdssplitargs), quirks included, and its errors
// carry Redis's texts so the caller can reply "-ERR " + err.Error():
//   - the byte after a header line's '\r' and the two bytes after a bulk are
//     skipped without being checked;
//   - Redis looks for line ends with strchr, which stops at a NUL byte, so a
//     NUL before a line's end hides that end: the request waits for more
//     bytes until it is too big;
//   - a multibulk count <= 0 is an empty request, skipped by the caller.
//
// Two differences, both deliberate: a request may have at most 1024*1024
// arguments, where Redis 7.0 accepts up to 2^31-1; and a line (inline
// request, "*N" or "$len") that runs past 64 KB without its end fails
// however its bytes arrive, where Redis checks only when a read leaves the
// line unfinished and so may accept a longer line that arrives in one read.
// A frame's result never depends on how it was split.
//
// Reply framing is strict (CRLF checked everywhere): replies come from the
// servers, and a reply the parser cannot frame means the connection is out
// of step and must be closed. It accepts RESP3 replies as well as RESP2
// ones (see ReplyParser), so a server connection may speak either.
package resp

import (
	"encoding/binary"
	"math"
)

// parseInt parses b as Redis's string2ll does: an optional '-', then
// decimal digits without a leading zero ("0" alone excepted), within int64.
// Anything else ("+1", "01", "-0", "", " 1") fails.
func parseInt(b []byte) (int64, bool) {
	// One and two digits first: most lengths on the wire (keys, small
	// values, element counts). A byte below '0' wraps to a large digit.
	switch len(b) {
	case 1:
		if d := b[0] - '0'; d <= 9 {
			return int64(d), true
		}
		return 0, false
	case 2:
		if d0, d1 := b[0]-'0', b[1]-'0'; d0 >= 1 && d0 <= 9 && d1 <= 9 {
			return int64(d0)*10 + int64(d1), true
		}
	}
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	// 19 digits cannot overflow a uint64, and 20 without a leading zero
	// exceed any int64.
	if len(b) == 0 || len(b) > 19 || b[0] == '0' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// sameBulk recognises a bulk ("$len\r\n", the bytes, "\r\n") with the
// same header as the last one a parser framed in full: the elements of
// an MGET reply and the keys of a multi-key request mostly have one
// length. Such a bulk is framed without reading its length, so that the
// next bulk's position does not wait for this one's digits: successive
// bulks are framed in parallel by the processor, the checks of their
// bytes only confirming a predicted branch.
type sameBulk struct {
	head uint64 // the header's bytes, little-endian, as masked by mask
	mask uint64 // 0: no header to compare with
	size int    // the whole bulk's length
	hlen int    // the header's length: where the bytes start
}

// set records the bulk buf[pos:end], whose bytes start at buf[body], when
// its header fits in 8 bytes and 8 bytes of buf follow pos.
func (s *sameBulk) set(buf []byte, pos, body, end int) {
	n := body - pos
	if n > 8 || pos+8 > len(buf) {
		s.mask = 0
		return
	}
	s.mask = ^uint64(0) >> (64 - 8*n)
	s.head = binary.LittleEndian.Uint64(buf[pos:]) & s.mask
	s.size, s.hlen = end-pos, n
}

// next returns the end of the bulk at pos when it is one like the last
// set, ended by CRLF, whole in buf; else 0.
func (s *sameBulk) next(buf []byte, pos int) int {
	end := pos + s.size
	if s.mask == 0 || end > len(buf) || pos+8 > len(buf) ||
		binary.LittleEndian.Uint64(buf[pos:])&s.mask != s.head ||
		buf[end-2] != '\r' || buf[end-1] != '\n' {
		return 0
	}
	return end
}

// Package mc speaks the memcached ASCII protocol for the proxy: it frames
// client requests as memcached 1.6 does, refuses the requests memcached
// refuses with memcached's own reply text, finds the end of server
// replies, and holds the table of supported commands. Protocol and Client
// (protocol.go, client.go) are the protocol as package proto defines it:
// multi-key retrievals split per server and their VALUE blocks merged in
// key order, quiet meta commands fenced with mn, quit and mn answered by
// the proxy.
//
// Both parsers are resumable, like those of package resp. The caller passes
// a buffer that starts at the first byte of a frame; Parse returns 0 until
// the whole frame is there, and the caller calls it again with the same
// frame start and more bytes appended (the buffer may have moved in
// between). The parsers keep offsets, never pointers, and scan only bytes
// they have not scanned before. After a frame is consumed the caller calls
// Reset. Nothing is allocated or reserved from a length read off the wire;
// keys and arguments are sub-slices of the caller's buffer, so after
// warm-up parsing does not allocate.
//
// # Requests
//
// A command line ends at "\n" (one "\r" before it is dropped) and is split
// into tokens at spaces only, as memcached's tokenize_command does. Storage
// commands (set add replace append prepend cas ms) are followed by a data
// block of the announced length and "\r\n". A request memcached refuses is
// reported as an *Error carrying memcached 1.6.18's reply and the number of
// bytes memcached consumes for it, checked against a live memcached by the
// tests:
//   - ERROR: unknown command, or a wrong number of tokens;
//   - CLIENT_ERROR bad command line format: a key over 250 bytes, a bad
//     number on a storage line, and the deliberate refusals below; the data
//     block of a storage line is not consumed (memcached reads it as the
//     next command), except after a deliberate refusal;
//   - per command texts: "CLIENT_ERROR invalid exptime argument" (touch gat
//     gats), "CLIENT_ERROR invalid numeric delta argument" (incr decr),
//     "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
//     "CLIENT_ERROR error decoding key" (meta b flag),
//     "CLIENT_ERROR options flags are too long" (mg) and "CLIENT_ERROR
//     options flags too long" (ms md ma) for 20 tokens or more;
//   - CLIENT_ERROR bad data chunk: the data block is not followed by "\r\n";
//     the announced length plus two bytes is consumed and parsing goes on
//     after it, as memcached does;
//   - more than 2048 bytes before a line's "\n" ("\r" included): memcached
//     closes the connection without a reply (Fatal, empty Reply; 1.6.18 has
//     no "line too long" reply). A line starting with "get " or "gets "
//     after at most 100 spaces may be up to 256 KB.
//
// Each refusal is a new *Error; the caller may keep it.
//
// With noreply memcached sends none of the errors of set add replace
// append prepend cas delete incr decr touch except ERROR: such an Error has
// an empty Reply. The meta commands send every error whatever their flags.
//
// The meta q flag (any flag token starting with "q") makes NoReply true, but
// memcached 1.6.18 omits only some replies under it: mg omits EN (a miss)
// and still sends VA and HD; ms and md omit HD; ma omits HD and VA (a
// success). NS, EX, NF and every error are still sent, so a proxy can count
// neither on a reply nor on its absence. The b flag makes the
// key token base64 (KeyIsBase64; DecodeKey gives the key to hash); for me,
// only a third token that is exactly "b" does.
//
// Deliberate differences from memcached 1.6.18. Each refuses input
// memcached would take, and none lets through a request memcached frames
// differently: requests are forwarded verbatim over server connections
// shared by many clients, where a framing disagreement would mix up their
// replies.
//   - A command line holding a control byte (below 0x20, or 0x7f) is refused
//     with CLIENT_ERROR bad command line format, after memcached's own
//     checks, and a storage line's data block is consumed with it.
//     Memcached takes control bytes as key bytes, and a NUL cuts its line
//     short, hiding for instance a later "noreply".
//   - Numbers are an optional sign (none for unsigned fields) and decimal
//     digits within 64 bits; memcached's strtol also skips leading
//     whitespace, accepts trailing whitespace and "-0" for unsigned fields,
//     and 1.6.18 cuts <bytes> to 32 bits (4294967297 reads as 1). A <bytes>
//     or <datalen> over 2^31-3 is CLIENT_ERROR bad command line format.
//   - A data block longer than MaxValueLen (default 1 MB, memcached's
//     default -I) is refused with "SERVER_ERROR object too large for cache",
//     memcached's reply, but as a Fatal error: memcached swallows the block
//     and keeps the connection, and a proxy would have to buffer up to 2 GB
//     to do the same. Memcached's own limit is a little lower (item header
//     included), so blocks just under MaxValueLen are forwarded and refused
//     by memcached, which swallows them itself.
//   - The 2048-byte limit holds for a line however it arrives; memcached
//     checks it only when a read ends without a line end, so it takes longer
//     lines that arrive in one piece, but a proxy cannot know how a line it
//     forwards will arrive. A get line over 256 KB is Fatal with
//     "SERVER_ERROR out of memory reading request", memcached's reply when
//     it cannot grow its read buffer (which it otherwise grows without
//     bound).
//   - A request starting with byte 0x80 (the binary protocol, which
//     memcached also speaks) is Fatal with no reply.
//   - Base64 keys must be strict standard base64 with padding; memcached's
//     decoder skips characters outside the alphabet and stops at the first
//     padding, so that "a2V5!" and "a2V=xyz" are keys to it.
//   - Among several faults in one line the reply may name another one than
//     memcached would; flag errors other than b are left to memcached.
//
// # Replies
//
// A reply is framed by the kind of request it answers. Reply framing is
// strict ("\r\n" checked everywhere, only the codes the request kind can
// get): a reply the parser cannot frame means the server connection is out
// of step and must be closed. ERROR, CLIENT_ERROR and SERVER_ERROR lines end
// a reply of any kind, also after VALUE blocks.
package mc

import (
	"encoding/base64"
	"errors"
	"math"
	"slices"
)

// binaryMagic is the first byte of a binary protocol request. Memcached
// answers that protocol too; the proxy serves the text protocol only, and
// closes a connection that speaks the other rather than wait for a line
// end that never comes.
const binaryMagic = 0x80

// Limits of memcached 1.6 (KEY_MAX_LENGTH, the 2048-byte line check in
// try_read_command_ascii, the default -I item size) and of this proxy.
const (
	maxKeyLen          = 250
	maxLine            = 2048
	maxRetrievalLine   = 256 * 1024 // for get and gets
	maxLeadingSpaces   = 100        // memcached closes a long line with more before "get "
	maxMetaTokens      = 20         // memcached's MFLAG_MAX_OPT_LENGTH, in tokens with command and key
	maxDataLen         = math.MaxInt32 - 2
	DefaultMaxValueLen = 1 << 20 // RequestParser.MaxValueLen when 0: memcached's default -I
)

// Reply texts of memcached 1.6.18.
const (
	replyError          = "ERROR"
	replyBadFormat      = "CLIENT_ERROR bad command line format"
	replyBadChunk       = "CLIENT_ERROR bad data chunk"
	replyBadExptime     = "CLIENT_ERROR invalid exptime argument"
	replyBadDelta       = "CLIENT_ERROR invalid numeric delta argument"
	replyDeleteUsage    = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
	replyBadKeyEncoding = "CLIENT_ERROR error decoding key"
	replyMgTooManyFlags = "CLIENT_ERROR options flags are too long"
	replyTooManyFlags   = "CLIENT_ERROR options flags too long"
	replyTooLarge       = "SERVER_ERROR object too large for cache"
	replyOutOfMemory    = "SERVER_ERROR out of memory reading request"
)

// Error is a request memcached refuses, with what memcached does about it.
type Error struct {
	// Reply is memcached's reply line without "\r\n", or "" when memcached
	// sends nothing (noreply, or a line too long).
	Reply string
	// Fatal means framing is lost: the caller sends Reply, if any, and
	// closes the connection.
	Fatal bool
	// Len, when !Fatal, is the length of the refused request from the frame
	// start: the line, and the data block when memcached consumes it. Parse
	// returns the error only once Len bytes have arrived; the caller skips
	// them and parses on.
	Len int

	text string // what went wrong, for Error
}

func (e *Error) Error() string { return "mc: refused: " + e.text }

// errBadBase64 is DecodeKey's error.
var errBadBase64 = errors.New("mc: key is not padded standard base64")

// DecodeKey appends to dst the base64 key of a meta request whose
// KeyIsBase64 is set, and returns dst. A key that Parse accepted decodes
// without error.
func DecodeKey(dst, key []byte) ([]byte, error) {
	n := base64.StdEncoding.DecodedLen(len(key))
	dst = slices.Grow(dst, n)
	m, err := base64.StdEncoding.Decode(dst[len(dst):len(dst)+n], key)
	if err != nil || m == 0 { // memcached's decoder fails on an empty result too
		return dst, errBadBase64
	}
	return dst[:len(dst)+m], nil
}

// validBase64 reports whether DecodeKey accepts key, without allocating.
func validBase64(key []byte) bool {
	var b [maxKeyLen]byte
	_, err := DecodeKey(b[:0], key)
	return err == nil
}

// parseUint parses an optional '+' and decimal digits within 64 bits, a
// subset of what memcached's strtoul-based parsers take.
func parseUint(b []byte) (uint64, bool) {
	if len(b) > 0 && b[0] == '+' {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseInt parses an optional sign and decimal digits within int64, a
// subset of what memcached's strtol-based parsers take.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	v, ok := parseUint(b)
	switch {
	case !ok || neg && len(b) > 0 && b[0] == '+':
		return 0, false
	case neg && v <= 1<<63:
		return -int64(v), true
	case !neg && v <= math.MaxInt64:
		return int64(v), true
	}
	return 0, false
}

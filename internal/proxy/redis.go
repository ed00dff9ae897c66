package proxy

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
)

// redisCodec frames RESP replies for a server connection. It also records
// where the elements of an MGET fragment's reply are while framing it, so
// that the merge does not parse the reply again.
type redisCodec struct {
	p       resp.ReplyParser
	started bool    // ReplyLen has seen the reply being framed
	marks   []int32 // the buffer for the next reply's element marks
}

// kindElems marks, in backend.Request.Kind, an MGET fragment: the codec
// records where the elements of its reply are (see msg.marks).
const kindElems = 1

// maxKeptMarks bounds the marks buffer a codec keeps between replies.
const maxKeptMarks = 64 << 10

func newRedisCodec() backend.Codec { return &redisCodec{} }

func (rc *redisCodec) ReplyLen(r *backend.Request, buf []byte) (int, error) {
	if !rc.started {
		rc.started = true
		if r.Kind == kindElems {
			rc.p.MarkElems(rc.marks)
		}
	}
	return rc.p.Parse(buf)
}

// Framed gives an MGET fragment the marks of its reply's elements, when
// it is an array of non-array elements (else the merge parses the reply
// itself), and takes the fragment's old marks buffer for the next reply.
func (rc *redisCodec) Framed(r *backend.Request) {
	if r.Kind != kindElems {
		return
	}
	marks, ok := rc.p.Elems()
	if ok {
		f := r.Owner.(*msg)
		marks, f.marks = f.marks[:0], marks
	}
	if cap(marks) > maxKeptMarks {
		marks = nil
	}
	rc.marks = marks
}

func (rc *redisCodec) Reset() {
	rc.p.Reset()
	rc.started = false
}

// redisHandshake is what twemproxy sends first on every new server
// connection: AUTH when redis_auth is set, SELECT when redis_db > 0.
func redisHandshake(cfg *config.Pool) [][]byte {
	var hs [][]byte
	if cfg.RedisAuth != "" {
		w := resp.AppendArrayHeader(nil, 2)
		w = resp.AppendBulkString(w, "AUTH")
		hs = append(hs, resp.AppendBulkString(w, cfg.RedisAuth))
	}
	if cfg.RedisDB > 0 {
		w := resp.AppendArrayHeader(nil, 2)
		w = resp.AppendBulkString(w, "SELECT")
		hs = append(hs, resp.AppendBulkString(w, strconv.Itoa(cfg.RedisDB)))
	}
	return hs
}

// Replies the proxy makes itself (twemproxy's strings where it has one).
const (
	errNoAuth       = "NOAUTH Authentication required"
	errNoPassword   = "ERR Client sent AUTH, but no password is set"
	errBadPassword  = "ERR invalid password"
	errInvalidArg   = "ERR Invalid argument"
	errRefused      = "ERR Connection refused"
	replyOK         = "+OK\r\n"
	replyPong       = "+PONG\r\n"
	maxNameInErrors = 64
)

// redisProto serves RESP clients.
type redisProto struct{}

func (redisProto) parse(c *client, buf []byte) (int, error) { return c.parser.Parse(buf) }

func (redisProto) appendError(out []byte, msg string) []byte {
	return resp.AppendError(out, "ERR "+msg)
}

func (redisProto) appendFramingError(out []byte, err error) []byte {
	return resp.AppendError(out, "ERR "+err.Error())
}

func (redisProto) appendMerged(out []byte, m *msg) []byte { return appendMerged(out, m) }

func (redisProto) describe(wire []byte) (cmd, key []byte) {
	var p resp.RequestParser
	if n, _ := p.Parse(wire); n == 0 {
		return nil, nil
	}
	args := p.Args(wire)
	cmd = args[0]
	if c := resp.Lookup(cmd); c != nil && c.KeyIndex > 0 && c.KeyIndex < len(args) {
		key = args[c.KeyIndex]
	}
	return cmd, key
}

func (redisProto) dispatch(c *client, frame []byte) bool {
	stop := c.dispatch(frame, c.parser.Args(frame))
	c.parser.Reset()
	return stop
}

// dispatch handles one parsed request: answers it locally or forwards it.
// It reports true when the client must not be read any more (QUIT).
func (c *client) dispatch(frame []byte, args [][]byte) bool {
	if len(args) == 0 {
		return false // an empty line or *0: Redis ignores it
	}
	m := c.newMsg()
	cmd := resp.Lookup(args[0])
	switch {
	case cmd == nil:
		c.reject(m, "ERR unsupported command '"+printable(args[0])+"'")
		return false
	case !cmd.CheckArity(len(args)):
		c.reject(m, "ERR wrong number of arguments for '"+cmd.Name+"' command")
		return false
	case !c.authed && cmd.Kind != resp.KindAuth && cmd.Kind != resp.KindPing && cmd.Kind != resp.KindQuit:
		c.reject(m, errNoAuth)
		return false
	}
	m.cmd = cmd
	switch cmd.Kind {
	case resp.KindPing:
		if len(args) == 1 {
			c.answer(m, replyPong)
		} else {
			m.local = resp.AppendBulk(m.local, args[1])
			c.answer(m, "")
		}
	case resp.KindQuit:
		m.closes = true // and no reply, as twemproxy
		c.answer(m, "")
		return true
	case resp.KindAuth:
		c.auth(m, args)
	case resp.KindSelect:
		if string(args[1]) == "0" {
			c.answer(m, replyOK)
		} else {
			c.reject(m, "ERR SELECT is not allowed in a proxy: only db 0 is served (see redis_db)")
		}
	case resp.KindAnyServer:
		c.forward(m, c.st.pool.Any(), frame, args)
	case resp.KindSingle:
		c.forwardByKey(m, args[cmd.KeyIndex], frame, args)
	case resp.KindEval:
		numkeys, err := strconv.Atoi(string(args[2]))
		switch {
		case err != nil || numkeys < 0:
			c.reject(m, "ERR value is not an integer or out of range")
		case numkeys > len(args)-3:
			c.reject(m, "ERR Number of keys can't be greater than number of args")
		case numkeys == 0:
			c.reject(m, "ERR "+cmd.Name+" with no keys cannot be routed by the proxy")
		default:
			c.forwardByKey(m, args[3], frame, args)
		}
	case resp.KindMulti:
		c.split(m, frame, args, 1)
	case resp.KindMultiKV:
		c.split(m, frame, args, 2)
	}
	return false
}

// reject queues a locally made error reply.
func (c *client) reject(m *msg, msg string) {
	m.local = resp.AppendError(m.local, msg)
	m.done.Store(true)
	c.enqueue(m)
}

// answer queues a locally made reply (appended to m.local when not empty).
func (c *client) answer(m *msg, reply string) {
	m.local = append(m.local, reply...)
	m.done.Store(true)
	c.enqueue(m)
}

func (c *client) auth(m *msg, args [][]byte) {
	want := c.st.cfg.RedisAuth
	pass := args[len(args)-1]
	userOK := len(args) == 2 || string(args[1]) == "default"
	switch {
	case want == "":
		c.reject(m, errNoPassword)
	case userOK && subtle.ConstantTimeCompare(pass, []byte(want)) == 1:
		c.authed = true
		c.answer(m, replyOK)
	default:
		c.authed = false
		c.reject(m, errBadPassword)
	}
}

// keyTooLong returns the error for a key the proxy refuses, or "".
func (c *client) keyTooLong(m *msg, key []byte) string {
	if len(key) < c.ps.proxy.opts.MbufSize {
		return ""
	}
	return "ERR key too long for '" + m.cmd.Name + "' command: " +
		strconv.Itoa(len(key)) + " bytes, the limit is " + strconv.Itoa(c.ps.proxy.opts.MbufSize-1)
}

func (c *client) forwardByKey(m *msg, key, frame []byte, args [][]byte) {
	if e := c.keyTooLong(m, key); e != "" {
		c.reject(m, e)
		return
	}
	c.forward(m, c.st.pool.Route(key), frame, args)
}

// forward sends the request as the client framed it (inline commands are
// re-encoded as RESP).
func (c *client) forward(m *msg, s *pool.Server, frame []byte, args [][]byte) {
	if s == nil {
		c.reject(m, errRefused)
		return
	}
	m.server = s
	if c.parser.Inline() {
		m.req.Wire = appendCommand(m.req.Wire[:0], args)
	} else {
		m.req.Wire = append(m.req.Wire[:0], frame...)
	}
	c.enqueue(m)
	s.Send(&m.req, c.affinity)
}

func appendCommand(dst []byte, args [][]byte) []byte {
	dst = resp.AppendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = resp.AppendBulk(dst, a)
	}
	return dst
}

// split sends a multi-key command as one fragment per server, each with
// that server's keys in request order; step is 2 for key-value commands.
func (c *client) split(m *msg, frame []byte, args [][]byte, step int) {
	limit := c.ps.proxy.opts.MbufSize
	for i := 1; i < len(args); i += step {
		if len(args[i]) >= limit {
			c.reject(m, c.keyTooLong(m, args[i]))
			return
		}
	}
	if !c.assignFrags(m, args[1:], step) {
		c.reject(m, errRefused)
		return
	}
	if len(m.frags) == 1 {
		// Every key is on one server: its reply is the client's reply.
		s := m.frags[0].server
		releaseMsg(m.frags[0])
		m.frags, m.keyFrag = m.frags[:0], m.keyFrag[:0]
		c.forward(m, s, frame, args)
		return
	}
	name := m.cmd.Name
	var kind uint8
	if name == "mget" {
		kind = kindElems
	}
	for _, f := range m.frags {
		// About the fragment's share of the frame, so that it is not regrown.
		f.req.Wire = slices.Grow(f.req.Wire[:0], len(frame)/len(m.keyFrag)*f.nkeys+64)
		f.req.Wire = resp.AppendArrayHeader(f.req.Wire, 1+f.nkeys*step)
		f.req.Wire = resp.AppendBulkString(f.req.Wire, name)
		f.req.Kind = kind
	}
	// Keys that follow each other in the request and go to one server are
	// copied at once, as the client encoded them, when that is canonical.
	verbatim, kf := c.parser.Verbatim(), m.keyFrag
	for k := 0; k < len(kf); {
		fi := kf[k]
		f := m.frags[fi]
		first := k
		for k < len(kf) && kf[k] == fi {
			k++
		}
		i, j := 1+first*step, 1+k*step
		if verbatim {
			f.req.Wire = append(f.req.Wire, c.parser.Raw(frame, i, j)...)
			continue
		}
		for ; i < j; i++ {
			f.req.Wire = resp.AppendBulk(f.req.Wire, args[i])
		}
	}
	m.pending.Store(int32(len(m.frags)))
	c.ps.pool().Stats.Fragments.Add(int64(len(m.frags)))
	c.enqueue(m)
	for _, f := range m.frags {
		f.server.Send(&f.req, c.affinity)
	}
}

// assignFrags routes the keys of split command m, every step-th of keys
// from the first, and gives it a fragment per server: m.keyFrag[k] is
// the fragment of its k-th key, and each fragment's nkeys is counted. It
// reports false, adding no fragment, when no server is live.
func (c *client) assignFrags(m *msg, keys [][]byte, step int) bool {
	pl := c.st.pool
	for len(c.fragOf) < len(pl.Servers) { // a reload may add servers
		c.fragOf = append(c.fragOf, -1)
	}
	n := (len(keys) + step - 1) / step
	kf := slices.Grow(m.keyFrag[:0], n)[:n]
	if !pl.RouteKeys(kf, keys, step) {
		m.keyFrag = kf[:0]
		return false
	}
	m.keyFrag = kf
	// kf holds each key's server; it becomes each key's fragment.
	fragOf := c.fragOf
	for k, si := range kf {
		fi := fragOf[si]
		if fi < 0 {
			fi = c.addFrag(m, pl.Servers[si])
		}
		kf[k] = uint32(fi)
	}
	for _, f := range m.frags {
		fragOf[f.server.Index()] = -1
	}
	for _, fi := range kf {
		m.frags[fi].nkeys++
	}
	return true
}

// addFrag adds to split command m a fragment for server s and returns
// its index.
func (c *client) addFrag(m *msg, s *pool.Server) int32 {
	f := c.newMsg()
	f.parent, f.server = m, s
	fi := int32(len(m.frags))
	m.frags = append(m.frags, f)
	c.fragOf[s.Index()] = fi
	return fi
}

// appendMerged builds the client's reply to a split command from its
// fragments' replies, or one error naming the first failed fragment.
func appendMerged(out []byte, m *msg) []byte {
	for _, f := range m.frags {
		if f.req.Err != nil {
			m.c.ps.pool().Stats.ForwardError.Add(1)
			return resp.AppendError(out, errInvalidArg+": "+f.server.Name()+": "+f.req.Err.Error())
		}
		if len(f.req.Reply) > 0 && f.req.Reply[0] == '-' {
			return resp.AppendError(out, errInvalidArg+": "+f.server.Name()+": "+
				string(bytes.TrimRight(f.req.Reply[1:], "\r\n")))
		}
	}
	switch m.cmd.Kind {
	case resp.KindMultiKV: // MSET
		for _, f := range m.frags {
			if string(f.req.Reply) != replyOK {
				return resp.AppendError(out, errInvalidArg+": "+f.server.Name()+": unexpected reply")
			}
		}
		return append(out, replyOK...)
	}
	if m.cmd.Name != "mget" {
		var sum int64
		for _, f := range m.frags {
			n, err := resp.ParseInt(f.req.Reply)
			if err != nil {
				return resp.AppendError(out, errInvalidArg+": "+f.server.Name()+": "+err.Error())
			}
			sum += n
		}
		return resp.AppendInt(out, sum)
	}
	size := 0
	for _, f := range m.frags {
		if len(f.marks) == 0 { // not recorded by the codec
			var err error
			f.marks, err = appendElemMarks(f.marks[:0], f)
			if err != nil {
				return resp.AppendError(out, errInvalidArg+": "+f.server.Name()+": "+err.Error())
			}
		}
		if len(f.marks)-1 != f.nkeys {
			return resp.AppendError(out, errInvalidArg+": "+f.server.Name()+": "+errWrongCount.Error())
		}
		f.nkeys = 0 // now the cursor into marks
		size += len(f.req.Reply)
	}
	out = slices.Grow(out, size+16)
	out = resp.AppendArrayHeader(out, len(m.keyFrag))
	// Keys that follow each other in the request and on one server have
	// their values next to each other in that server's reply: one copy.
	kf := m.keyFrag
	for k := 0; k < len(kf); {
		fi := kf[k]
		f := m.frags[fi]
		first := k
		for k < len(kf) && kf[k] == fi {
			k++
		}
		out = append(out, f.req.Reply[f.marks[f.nkeys]:f.marks[f.nkeys+k-first]]...)
		f.nkeys += k - first
	}
	return out
}

// appendElemMarks parses fragment f's reply, which the codec did not
// split, and appends the marks of its elements to marks.
func appendElemMarks(marks []int32, f *msg) ([]int32, error) {
	reply := f.req.Reply
	elems, err := resp.ArrayElems(reply, f.elems[:0])
	f.elems = elems
	switch {
	case err != nil:
		return marks, err
	case len(elems) != f.nkeys:
		return marks, errWrongCount
	case len(reply) > math.MaxInt32:
		return marks, errTooLarge
	}
	at := len(reply)
	for _, e := range elems {
		at -= len(e)
	}
	marks = append(marks, int32(at))
	for _, e := range elems {
		at += len(e)
		marks = append(marks, int32(at))
	}
	return marks, nil
}

var errTooLarge = errors.New("reply too large")

var errWrongCount = errors.New("reply has the wrong number of elements")

// printable quotes a client-sent name for an error reply.
func printable(b []byte) string {
	if len(b) > maxNameInErrors {
		b = b[:maxNameInErrors]
	}
	out := make([]byte, 0, len(b))
	for _, ch := range b {
		if ch < 0x20 || ch > 0x7e || ch == '\'' {
			out = append(out, '?')
		} else {
			out = append(out, ch)
		}
	}
	return string(out)
}

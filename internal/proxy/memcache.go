package proxy

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto/mc"
)

// mcCodec frames memcached replies for a server connection. A quiet meta
// request (q flag) is sent followed by "mn": its reply is whatever the
// server sent up to and including "MN\r\n", so the proxy never has to guess
// whether a quiet command answered.
type mcCodec struct {
	p   mc.ReplyParser
	off int // quiet requests: length of the replies framed so far
}

func newMCCodec() backend.Codec { return &mcCodec{} }

// kindQuiet marks a quiet meta request in backend.Request.Kind (above the
// mc kinds); the low bits keep its mc.Kind.
const kindQuiet = 0x80

func (mcc *mcCodec) ReplyLen(r *backend.Request, buf []byte) (int, error) {
	k := mc.Kind(r.Kind &^ kindQuiet)
	if r.Kind&kindQuiet == 0 {
		return mcc.p.Parse(k, buf)
	}
	for {
		rest := buf[mcc.off:]
		if len(rest) < len(replyMN) {
			return 0, nil
		}
		if string(rest[:len(replyMN)]) == replyMN {
			return mcc.off + len(replyMN), nil
		}
		n, err := mcc.p.Parse(k, rest)
		if n == 0 || err != nil {
			return 0, err
		}
		mcc.off += n
		mcc.p.Reset()
	}
}

func (mcc *mcCodec) Reset() { mcc.p.Reset(); mcc.off = 0 }

const (
	replyMN  = "MN\r\n"
	replyEnd = "END\r\n"
)

// mcProto serves memcached text protocol clients.
type mcProto struct{}

func (mcProto) parse(c *client, buf []byte) (int, error) {
	n, err := c.mcParser.Parse(buf)
	if err == nil {
		return n, nil
	}
	var refused *mc.Error
	if errors.As(err, &refused) && !refused.Fatal {
		// Answered in dispatch, in order; the request's bytes are skipped.
		c.mcRefused = refused
		return refused.Len, nil
	}
	return n, err
}

func (mcProto) appendFramingError(out []byte, err error) []byte {
	var refused *mc.Error
	if errors.As(err, &refused) {
		if refused.Reply == "" {
			return out
		}
		return append(append(out, refused.Reply...), "\r\n"...)
	}
	return appendLine(out, "CLIENT_ERROR ", err.Error())
}

func (mcProto) describe(wire []byte) (cmd, key []byte) {
	var p mc.RequestParser
	if n, _ := p.Parse(wire); n == 0 {
		return nil, nil
	}
	if keys := p.Keys(wire); len(keys) > 0 {
		key = keys[0]
	}
	return p.Arg(wire, 0), key
}

func (mcProto) appendError(out []byte, msg string) []byte {
	return appendLine(out, "SERVER_ERROR ", msg)
}

func appendLine(out []byte, prefix, msg string) []byte {
	return append(append(append(out, prefix...), msg...), "\r\n"...)
}

func (mcProto) dispatch(c *client, frame []byte) bool {
	defer c.mcParser.Reset()
	m := c.newMsg()
	if r := c.mcRefused; r != nil {
		c.mcRefused = nil
		if r.Reply == "" {
			releaseMsg(m) // memcached sends nothing (noreply)
			return false
		}
		m.local = append(append(m.local, r.Reply...), "\r\n"...)
		c.answer(m, "")
		return false
	}
	cmd := c.mcParser.Command()
	keys := c.mcParser.Keys(frame)
	m.req.Kind = uint8(cmd.Kind)
	switch cmd.Kind {
	case mc.KindQuit:
		m.closes = true
		c.answer(m, "")
		return true
	case mc.KindMetaNoop:
		c.answer(m, replyMN)
		return false
	case mc.KindVersion:
		c.mcForward(m, c.st.pool.Any(), frame)
		return false
	}
	if len(keys) == 0 { // gat with no keys
		c.answer(m, replyEnd)
		return false
	}
	if cmd.MultiKey && len(keys) > 1 {
		c.mcSplit(m, frame, keys)
		return false
	}
	key := keys[0]
	if c.mcParser.KeyIsBase64() {
		decoded, err := mc.DecodeKey(c.keyTmp[:0], key)
		if err != nil {
			c.answer(m, "CLIENT_ERROR error decoding key\r\n")
			return false
		}
		c.keyTmp, key = decoded, decoded
	}
	if c.mcParser.NoReply() {
		if cmd.Name[0] == 'm' { // meta q flag: fence with mn, see mcCodec
			m.req.Kind |= kindQuiet
			m.mcQuiet = true
		} else {
			m.req.NoReply = true
		}
	}
	c.mcForward(m, c.st.pool.Route(key), frame)
	return false
}

// mcForward sends the request as the client framed it.
func (c *client) mcForward(m *msg, s *pool.Server, frame []byte) {
	if s == nil {
		c.reject(m, "Connection refused")
		return
	}
	m.server = s
	m.req.Wire = append(m.req.Wire[:0], frame...)
	if m.mcQuiet {
		m.req.Wire = append(m.req.Wire, "mn\r\n"...)
	}
	c.enqueue(m)
	s.Send(&m.req, c.affinity)
}

// mcSplit sends a multi-key retrieval as one request per server, each with
// that server's keys in request order.
func (c *client) mcSplit(m *msg, frame []byte, keys [][]byte) {
	if !c.assignFrags(m, keys, 1) {
		c.reject(m, "Connection refused")
		return
	}
	if len(m.frags) == 1 {
		s := m.frags[0].server
		releaseMsg(m.frags[0])
		m.frags, m.keyFrag = m.frags[:0], m.keyFrag[:0]
		c.mcForward(m, s, frame)
		return
	}
	// "<cmd> [<exptime>] " then the keys.
	head := c.mcParser.Arg(frame, 0)
	exptime := []byte(nil)
	if m.req.Kind == uint8(mc.KindGat) {
		exptime = c.mcParser.Arg(frame, 1)
	}
	for _, f := range m.frags {
		f.req.Kind = m.req.Kind
		f.req.Wire = append(f.req.Wire[:0], head...)
		if exptime != nil {
			f.req.Wire = append(append(f.req.Wire, ' '), exptime...)
		}
	}
	for k, fi := range m.keyFrag {
		f := m.frags[fi]
		f.req.Wire = append(append(f.req.Wire, ' '), keys[k]...)
	}
	for _, f := range m.frags {
		f.req.Wire = append(f.req.Wire, "\r\n"...)
	}
	m.pending.Store(int32(len(m.frags)))
	c.ps.pool().Stats.Fragments.Add(int64(len(m.frags)))
	c.enqueue(m)
	for _, f := range m.frags {
		f.server.Send(&f.req, c.affinity)
	}
}

// appendMerged joins the fragments' VALUE blocks in request key order
// under one END, or gives one SERVER_ERROR for the command.
func (mcProto) appendMerged(out []byte, m *msg) []byte {
	for _, f := range m.frags {
		if f.req.Err != nil {
			m.c.ps.pool().Stats.ForwardError.Add(1)
			return appendLine(out, "SERVER_ERROR ", f.req.Err.Error())
		}
		if _, err := mc.ValuesEnd(f.req.Reply); err != nil {
			return append(out, f.req.Reply...) // the server's error line
		}
		var err error
		if f.elems, f.vkeys, err = splitValues(f.req.Reply, f.elems[:0], f.vkeys[:0]); err != nil {
			return appendLine(out, "SERVER_ERROR ", err.Error())
		}
		f.wkeys = requestKeys(f.req.Wire, f.wkeys[:0], m.req.Kind == uint8(mc.KindGat))
		f.nkeys = 0 // cursor into wkeys
		f.vcur = 0  // cursor into elems
	}
	for _, fi := range m.keyFrag {
		f := m.frags[fi]
		key := f.wkeys[f.nkeys]
		f.nkeys++
		if f.vcur < len(f.elems) && bytes.Equal(f.vkeys[f.vcur], key) {
			out = append(out, f.elems[f.vcur]...)
			f.vcur++
		}
	}
	return append(out, replyEnd...)
}

var errBadValue = errors.New("bad VALUE line from server")

// splitValues cuts a complete retrieval reply into its VALUE blocks and
// their keys.
func splitValues(reply []byte, blocks, keys [][]byte) ([][]byte, [][]byte, error) {
	for len(reply) > len(replyEnd) {
		nl := bytes.IndexByte(reply, '\n')
		if nl < 0 {
			return blocks, keys, errBadValue
		}
		// VALUE <key> <flags> <bytes> [<cas>]\r\n
		fields := bytes.Fields(reply[:nl])
		if len(fields) < 4 {
			return blocks, keys, errBadValue
		}
		n, err := strconv.Atoi(string(fields[3]))
		if err != nil || nl+1+n+2 > len(reply) {
			return blocks, keys, errBadValue
		}
		end := nl + 1 + n + 2
		blocks = append(blocks, reply[:end])
		keys = append(keys, fields[1])
		reply = reply[end:]
	}
	return blocks, keys, nil
}

// requestKeys returns the keys of a "get k1 k2\r\n" (or "gat t k1\r\n")
// line the proxy built.
func requestKeys(wire []byte, keys [][]byte, gat bool) [][]byte {
	line := bytes.TrimSuffix(wire, []byte("\r\n"))
	skip := 1
	if gat {
		skip = 2
	}
	for i := 0; len(line) > 0; i++ {
		sp := bytes.IndexByte(line, ' ')
		tok := line
		if sp >= 0 {
			tok, line = line[:sp], line[sp+1:]
		} else {
			line = nil
		}
		if i >= skip {
			keys = append(keys, tok)
		}
	}
	return keys
}

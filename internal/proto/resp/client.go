package resp

import (
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// Client is one client connection's side of the protocol: its request
// parser and whether it passed AUTH. Its reader owns it.
type Client struct {
	p      RequestParser
	parsed bool // p holds a whole request: reset before the next
	authed bool
	id     int64 // CLIENT ID
	// resp3 is set by HELLO 3: the client speaks RESP3 (dialectRESP3).
	// Other connections' CLIENT LIST read it.
	resp3 atomic.Bool
	// name (CLIENT SETNAME) and last (the last command) are read by
	// other connections' CLIENT LIST.
	name atomic.Pointer[string]
	last atomic.Pointer[Command]
	tx   tx // MULTI, WATCH
	// replies is CLIENT REPLY's state.
	replies replyMode
	// The request Decode took, for Encode.
	cmd  *Command
	args [][]byte
	// keys is the scratch of the keys a KindTogether command must have
	// on one server.
	keys [][]byte
	// localAddr is the connection's local "host:port", looked up for the
	// first CLUSTER reply that needs it (clusterAddr); "" until then.
	localAddr string
}

// Parse frames the next request.
func (c *Client) Parse(buf []byte) (int, error) {
	if c.parsed {
		c.p.Reset()
		c.parsed = false
	}
	n, err := c.p.Parse(buf)
	c.parsed = n > 0
	return n, err
}

// Session returns whether the client passed AUTH (or has none to pass),
// whether it speaks RESP3, and its name.
func (c *Client) Session() proto.Session {
	s := proto.Session{Authed: c.authed}
	if c.resp3.Load() {
		s.Dialect = dialectRESP3
	}
	if name := c.name.Load(); name != nil {
		s.Name = *name
	}
	return s
}

// Resume restores what Session returned in another process: AUTH
// passed, RESP3, the name.
func (c *Client) Resume(s proto.Session) {
	c.authed = c.authed || s.Authed
	c.resp3.Store(s.Dialect == dialectRESP3)
	c.setName([]byte(s.Name))
}

// Release drops the parser's buffers.
func (c *Client) Release() {
	c.p = RequestParser{}
	c.parsed = false
	c.cmd, c.args, c.keys = nil, nil, nil
}

// replyMode is CLIENT REPLY's state: whether replies are written.
type replyMode uint8

const (
	repliesOn   replyMode = iota
	repliesOff            // CLIENT REPLY OFF: none until CLIENT REPLY ON
	repliesSkip           // CLIENT REPLY SKIP: not the next command's
)

// Decode answers the request locally or says how it is routed.
func (c *Client) Decode(frame []byte, m *proto.Msg, s *proto.Settings) proto.Action {
	args := c.p.Args(frame)
	if len(args) == 0 {
		return proto.Skip // an empty line or *0: Redis ignores it
	}
	if c.resp3.Load() {
		m.Dialect = dialectRESP3
	}
	if c.replies != repliesOn {
		m.Silent = true
		if c.replies == repliesSkip {
			c.replies = repliesOn
		}
	}
	cmd := c.cmd // a pipeline mostly repeats its command: no lookup then
	if cmd == nil || !isWord(args[0], cmd.Name) {
		cmd = Lookup(args[0])
	}
	var reason string
	switch {
	case cmd == nil, cmd.Kind == KindCluster && !s.Cluster:
		return c.refuseQueued(m, unknown(args))
	case !cmd.CheckArity(len(args)):
		reason = "ERR wrong number of arguments for '" + cmd.Name + "' command"
	case !c.authed && cmd.Kind != KindAuth && cmd.Kind != KindHello && cmd.Kind != KindQuit && cmd.Kind != KindReset:
		reason = errNoAuth
	case slices.Contains(s.Denied, cmd.Name):
		reason = "ERR command '" + cmd.Name + "' is denied on this pool (deny_commands)"
	}
	if reason != "" {
		return c.refuseQueued(m, reason)
	}
	if cmd != c.cmd {
		c.last.Store(cmd) // an atomic store only when the command changes
	}
	c.cmd, c.args = cmd, args
	if c.tx.multi && cmd.Kind < KindTxMulti {
		return c.queue(m, cmd, args, s)
	}
	return c.decode(m, cmd, args, s)
}

// refuseQueued refuses a request; inside MULTI that aborts the
// transaction, as a command Redis refuses at queue time does.
func (c *Client) refuseQueued(m *proto.Msg, reason string) proto.Action {
	if c.tx.multi {
		c.tx.aborted = true
	}
	return refuse(m, reason)
}

// decode handles a request outside a transaction, or one of the
// commands Redis runs at once inside one (EXEC, DISCARD, MULTI, WATCH,
// QUIT, RESET).
func (c *Client) decode(m *proto.Msg, cmd *Command, args [][]byte, s *proto.Settings) proto.Action {
	switch cmd.Kind {
	case KindPing:
		switch len(args) {
		case 1:
			m.Local = append(m.Local, replyPong...)
		case 2:
			m.Local = AppendBulk(m.Local, args[1])
		default:
			return refuse(m, "ERR wrong number of arguments for 'ping' command")
		}
		return proto.Answer
	case KindQuit:
		m.Local = append(m.Local, replyOK...)
		m.Closes = true
		return proto.Answer
	case KindTxMulti, KindTxExec, KindTxDiscard, KindTxWatch, KindTxUnwatch:
		return c.transaction(m, cmd, args, s)
	case KindReset:
		return c.reset(m, s)
	case KindAuth:
		return c.auth(m, args, s.Password)
	case KindHello:
		return c.hello(m, args, s.Password)
	case KindClient:
		return c.client(m, args, s)
	case KindEcho:
		m.Local = AppendBulk(m.Local, args[1])
		return proto.Answer
	case KindSelect:
		if string(args[1]) != "0" {
			return refuse(m, "ERR SELECT is not allowed in a proxy: only db 0 is served (see redis_db)")
		}
		m.Local = append(m.Local, replyOK...)
		return proto.Answer
	case KindAnyServer:
		return proto.ForwardAny
	case KindSingle:
		return byKey(m, cmd, args[cmd.KeyIndex], s)
	case KindTogether:
		return c.together(m, cmd, args, s)
	case KindSubcmd:
		return c.subcommand(m, cmd, args, s)
	case KindBlocking:
		return refuse(m, errBlocking("'"+cmd.Name+"'"))
	case KindPubSub:
		return refuse(m, errPubSub(cmd.Name))
	case KindMulti:
		return split(m, cmd, args, 1, s)
	case KindMultiKV:
		return split(m, cmd, args, 2, s)
	case KindFanOut:
		return fanOut(m, cmd, args)
	case KindScan:
		return scan(m, args, s)
	case KindInfo:
		return info(m, args, s)
	case KindCluster:
		return c.cluster(m, args, s)
	}
	return refuse(m, "ERR unsupported command '"+cmd.Name+"'")
}

// refuse answers with the error reply "-msg".
func refuse(m *proto.Msg, msg string) proto.Action {
	m.Local = AppendError(m.Local, msg)
	return proto.Answer
}

// keyTooLong returns the error for a key the proxy refuses, or "".
func keyTooLong(cmd *Command, key []byte, s *proto.Settings) string {
	if s.KeyLimit <= 0 || len(key) < s.KeyLimit {
		return ""
	}
	return "ERR key too long for '" + cmd.Name + "' command: " +
		strconv.Itoa(len(key)) + " bytes, the limit is " + strconv.Itoa(s.KeyLimit-1)
}

func byKey(m *proto.Msg, cmd *Command, key []byte, s *proto.Settings) proto.Action {
	if e := keyTooLong(cmd, key, s); e != "" {
		return refuse(m, e)
	}
	m.Key = key
	return proto.Forward
}

// split routes a multi-key command by its keys: every argument from 1, or
// every other one for key-value commands (step 2).
func split(m *proto.Msg, cmd *Command, args [][]byte, step int, s *proto.Settings) proto.Action {
	if s.KeyLimit > 0 {
		for i := 1; i < len(args); i += step {
			if len(args[i]) >= s.KeyLimit {
				return refuse(m, keyTooLong(cmd, args[i], s))
			}
		}
	}
	switch {
	case cmd.Kind == KindMultiKV:
		m.Op = opMSet
	case cmd.Name == "mget":
		m.Op = opMGet
	default:
		m.Op = opSum
	}
	m.Keys, m.Step = args[1:], step
	return proto.Split
}

// Encode sends the request as the client framed it (an inline command
// re-encoded as RESP), or gives each fragment of a split command its keys
// (and values) in request order.
func (c *Client) Encode(m *proto.Msg, frame []byte) {
	switch m.Op {
	case opTx:
		c.encodeTx(m, frame)
		return
	case opScan, opInfo:
		m.Wire = encodeFanOut(m.Wire[:0], m, c.args)
		return
	}
	if len(m.Frags) == 0 {
		if c.p.Inline() {
			m.Wire = appendCommand(m.Wire[:0], c.args)
		} else {
			m.Wire = append(m.Wire[:0], frame...)
		}
		return
	}
	name, step := c.cmd.Name, m.Step
	var hint uint8
	if m.Op == opMGet {
		hint = hintMarks
	}
	for _, f := range m.Frags {
		// About the fragment's share of the frame, so that it is not regrown.
		f.Wire = slices.Grow(f.Wire[:0], len(frame)/len(m.KeyFrag)*f.NKeys+64)
		f.Wire = AppendArrayHeader(f.Wire, 1+f.NKeys*step)
		f.Wire = AppendBulkString(f.Wire, name)
		f.Hint = hint
	}
	// Keys that follow each other in the request and go to one server are
	// copied at once, as the client encoded them, when that is canonical.
	verbatim := c.p.Verbatim()
	for k := 0; k < len(m.KeyFrag); {
		fi, end := m.KeyRun(k)
		f := m.Frags[fi]
		i, j := 1+k*step, 1+end*step
		k = end
		if verbatim {
			f.Wire = append(f.Wire, c.p.Raw(frame, i, j)...)
			continue
		}
		for ; i < j; i++ {
			f.Wire = AppendBulk(f.Wire, c.args[i])
		}
	}
}

func appendCommand(dst []byte, args [][]byte) []byte {
	dst = AppendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

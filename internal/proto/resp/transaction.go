package resp

import (
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// Transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH) run on one server:
// the client takes a connection of its own to it (proto.PinOpen) at WATCH
// or at the first queued command, and gives it back at EXEC, DISCARD or
// UNWATCH. The proxy answers MULTI itself, then sends MULTI to the server
// just before the first queued command, so a transaction's server is the
// one of its first key. A command the server could not run in the
// transaction (no key, a key of another server, a refused command) is
// refused at queue time and EXEC answers EXECABORT, as Redis does after a
// queued command's error: no queued command ever runs outside the
// transaction, and none of an aborted one runs at all.

// tx is a client's transaction state.
type tx struct {
	multi   bool // MULTI answered; EXEC or DISCARD ends it
	aborted bool // a command was refused while queuing: EXEC aborts
	pinned  bool // the client holds a connection to server
	opened  bool // MULTI was sent on it
	server  int  // the pinned server's index
	queued  int  // commands queued, for CLIENT LIST
}

// The transactions' texts, as Redis 7 says them.
const (
	errNestedMulti = "ERR MULTI calls can not be nested"
	errExecNoMulti = "ERR EXEC without MULTI"
	errDiscardNo   = "ERR DISCARD without MULTI"
	errWatchInMult = "ERR WATCH inside MULTI is not allowed"
	errExecAbort   = "EXECABORT Transaction discarded because of previous errors."
)

// Aux bits of a request of a transaction (Op opTx), for Encode and Reply.
const (
	auxMulti   = 1 << iota // MULTI goes first: the transaction opens on the server
	auxDiscard             // DISCARD is sent instead of the request
	auxUnwatch             // UNWATCH is sent instead of the request
	auxAbort               // the client gets EXECABORT, whatever the server says
)

// hintPreamble asks the framer to frame a request's two replies (MULTI's
// and its own) as one.
const hintPreamble = 2

var (
	wireMulti     = appendCommand(nil, [][]byte{[]byte("MULTI")})
	wireDiscard   = appendCommand(nil, [][]byte{[]byte("DISCARD")})
	wireUnwatch   = appendCommand(nil, [][]byte{[]byte("UNWATCH")})
	replyExecNone = []byte("*0\r\n")
	replyAbort    = AppendError(nil, errExecAbort)
)

// InTransaction reports whether the client is inside MULTI or holds a
// server connection of its own (after WATCH).
func (c *Client) InTransaction() bool { return c.tx.multi || c.tx.pinned }

// transaction handles MULTI, EXEC, DISCARD, WATCH and UNWATCH.
func (c *Client) transaction(m *proto.Msg, cmd *Command, args [][]byte, s *proto.Settings) proto.Action {
	t := &c.tx
	switch cmd.Kind {
	case KindTxMulti:
		if t.multi {
			return refuse(m, errNestedMulti)
		}
		t.multi, t.aborted = true, false
		m.Local = append(m.Local, replyOK...)
		return proto.Answer
	case KindTxWatch:
		if t.multi {
			return refuse(m, errWatchInMult)
		}
		server, errText := c.serverOfKeys(cmd, args[1:], 1, s)
		if errText != "" {
			return refuse(m, errText)
		}
		return c.pinTo(m, server, 0)
	case KindTxUnwatch:
		if t.multi {
			return c.queue(m, cmd, args, s)
		}
		if !t.pinned {
			m.Local = append(m.Local, replyOK...)
			return proto.Answer
		}
		return c.unpin(m, 0)
	}
	// EXEC or DISCARD
	if !t.multi {
		if cmd.Kind == KindTxExec {
			return refuse(m, errExecNoMulti)
		}
		return refuse(m, errDiscardNo)
	}
	aborted := t.aborted
	t.multi, t.aborted = false, false
	switch {
	case cmd.Kind == KindTxDiscard && !t.pinned:
		m.Local = append(m.Local, replyOK...)
		return proto.Answer
	case cmd.Kind == KindTxDiscard && t.opened:
		return c.unpin(m, auxDiscard)
	case cmd.Kind == KindTxDiscard: // pinned by WATCH: DISCARD unwatches
		return c.unpin(m, auxUnwatch)
	case aborted && !t.pinned:
		m.Local = append(m.Local, replyAbort...)
		return proto.Answer
	case aborted && t.opened:
		return c.unpin(m, auxDiscard|auxAbort)
	case aborted:
		return c.unpin(m, auxUnwatch|auxAbort)
	case !t.pinned: // nothing queued
		m.Local = append(m.Local, replyExecNone...)
		return proto.Answer
	case !t.opened: // WATCH, then MULTI and EXEC alone
		return c.unpin(m, auxMulti)
	}
	return c.unpin(m, 0)
}

// queue handles a command inside MULTI: sent on the transaction's
// connection (opening it, or the transaction on it, as needed) when its
// keys are on the transaction's server, else refused, which aborts the
// transaction.
func (c *Client) queue(m *proto.Msg, cmd *Command, args [][]byte, s *proto.Settings) proto.Action {
	t := &c.tx
	var server int
	if cmd.Kind == KindTxUnwatch && t.pinned {
		server = t.server
	} else {
		var errText string
		server, errText = c.commandServer(cmd, args, s)
		if errText != "" {
			t.aborted = true
			return refuse(m, errText)
		}
	}
	if t.pinned && server != t.server {
		t.aborted = true
		return refuse(m, "ERR '"+cmd.Name+"' uses a key of another server than the transaction's first key: "+
			"a transaction runs on one server, and a hash tag puts its keys there")
	}
	t.queued++
	var aux int64
	if !t.opened {
		aux = auxMulti
		t.opened = true
	}
	return c.pinTo(m, server, aux)
}

// pinTo sends the request on the client's connection to server, taking
// one when the client has none.
func (c *Client) pinTo(m *proto.Msg, server int, aux int64) proto.Action {
	t := &c.tx
	m.Pin = proto.PinUse
	if !t.pinned {
		t.pinned, t.server = true, server
		m.Pin = proto.PinOpen
	}
	m.Op, m.Aux, m.Target = opTx, aux, server
	return proto.ForwardTo
}

// unpin sends the request (or what aux says instead) on the client's
// connection and gives the connection back: the transaction is over.
func (c *Client) unpin(m *proto.Msg, aux int64) proto.Action {
	m.Op, m.Aux, m.Target, m.Pin = opTx, aux, c.tx.server, proto.PinClose
	c.tx = tx{}
	return proto.ForwardTo
}

// commandServer returns the server of every key of a command queued in a
// transaction, or the refusal of a command without a key, whose keys are
// on several servers, or that the proxy does not serve. A command Redis
// refuses for its arguments without touching a key goes to the
// transaction's server, to fail in EXEC's reply as it does in Redis.
func (c *Client) commandServer(cmd *Command, args [][]byte, s *proto.Settings) (int, string) {
	switch cmd.Kind {
	case KindSingle:
		return c.serverOfKeys(cmd, args[cmd.KeyIndex:cmd.KeyIndex+1], 1, s)
	case KindMulti:
		return c.serverOfKeys(cmd, args[1:], 1, s)
	case KindMultiKV:
		return c.serverOfKeys(cmd, args[1:], 2, s)
	case KindTogether:
		server, errText := c.serverOfTogether(cmd, args, s)
		if server != serverAny || errText != "" {
			return server, errText
		}
	case KindSubcmd:
		key, errText := subcommandKey(cmd, args)
		switch {
		case errText != "":
			return -1, errText
		case key != nil:
			return c.serverOfKeys(cmd, args[2:3], 1, s) // the key
		}
	case KindBlocking:
		return -1, errBlocking("'" + cmd.Name + "'")
	case KindPubSub:
		return -1, errPubSub(cmd.Name)
	}
	if c.tx.pinned && (cmd.Kind == KindTogether || cmd.Kind == KindSubcmd) {
		return c.tx.server, ""
	}
	return -1, "ERR '" + cmd.Name + "' has no key: in a transaction the proxy queues only commands whose keys are on one server"
}

// serverOfKeys returns the server of keys[0], keys[step], ..., or the
// refusal of keys on several servers, of a key too long, or of a pool
// without a live server.
func (c *Client) serverOfKeys(cmd *Command, keys [][]byte, step int, s *proto.Settings) (int, string) {
	server := -1
	for i := 0; i < len(keys); i += step {
		if e := keyTooLong(cmd, keys[i], s); e != "" {
			return -1, e
		}
		at := s.Router.ServerOf(keys[i])
		switch {
		case at < 0:
			return -1, "ERR Connection refused"
		case server >= 0 && at != server:
			return -1, errApart(cmd.Name)
		}
		server = at
	}
	return server, ""
}

// errApart is the refusal of a command whose keys live on several servers.
func errApart(name string) string {
	return "ERR the keys of '" + name + "' live on different servers of the pool: " +
		"keys with the same hash tag live on one (with hash_tag \"{}\": {user1}:a and {user1}:b)"
}

// encodeTx sets the wire of a request of a transaction.
func (c *Client) encodeTx(m *proto.Msg, frame []byte) {
	m.Wire = m.Wire[:0]
	if m.Aux&auxMulti != 0 {
		m.Wire = append(m.Wire, wireMulti...)
		m.Hint = hintPreamble
	}
	switch {
	case m.Aux&auxDiscard != 0:
		m.Wire = append(m.Wire, wireDiscard...)
	case m.Aux&auxUnwatch != 0:
		m.Wire = append(m.Wire, wireUnwatch...)
	case c.p.Inline():
		m.Wire = appendCommand(m.Wire, c.args)
	default:
		m.Wire = append(m.Wire, frame...)
	}
}

// txReply is the client's reply to a request of a transaction.
func txReply(m *proto.Msg) []byte {
	if m.Aux&auxAbort != 0 {
		return replyAbort
	}
	return m.Reply[m.Preamble:] // after MULTI's +OK, if MULTI went first
}

// reset is RESET: the connection as it was when it opened, with the
// client's own server connection, if any, closed.
func (c *Client) reset(m *proto.Msg, s *proto.Settings) proto.Action {
	if c.tx.pinned {
		m.Pin = proto.PinDrop
	}
	c.tx = tx{}
	c.name.Store(nil)
	c.authed = s.Password == ""
	c.replies = repliesOn
	c.resp3.Store(false)
	m.Local = AppendSimple(m.Local, "RESET")
	return proto.Answer
}

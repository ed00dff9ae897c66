package resp

import (
	"bytes"
	"crypto/subtle"
	"sync/atomic"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// What a connection says and asks about itself is answered by the proxy,
// as Redis 7 answers it: the handshake (HELLO, AUTH, CLIENT SETNAME, ...),
// ECHO, QUIT. The texts are Redis's.
const (
	errNoAuth      = "NOAUTH Authentication required."
	errWrongPass   = "WRONGPASS invalid username-password pair or user is disabled."
	errNoPassword  = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errHelloNoAuth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
	errNoProto     = "NOPROTO unsupported protocol version"
	errBadProto    = "ERR Protocol version is not an integer or out of range"
	errBadName     = "ERR Client names cannot contain spaces, newlines or special characters."
	errSyntax      = "ERR syntax error"
	// The proxy's own: a WATCH holds a server connection of the protocol
	// the client spoke then.
	errHelloWatch = "ERR HELLO cannot change the protocol while WATCH is active in this proxy: UNWATCH first"
)

// helloVersion is the Redis version HELLO reports: the command set the
// proxy speaks is Redis 7.0's.
const helloVersion = "7.0.0"

// clientIDs numbers the client connections, for HELLO and CLIENT ID.
var clientIDs atomic.Int64

// password checks a client's password against want, in constant time.
func password(pass []byte, want string) bool {
	return subtle.ConstantTimeCompare(pass, []byte(want)) == 1
}

// auth is AUTH [user] pass: user may only be "default", the one user a
// pool with redis_auth has.
func (c *Client) auth(m *proto.Msg, args [][]byte, want string) proto.Action {
	pass := args[len(args)-1]
	withUser := len(args) == 3
	if len(args) > 3 {
		return refuse(m, errSyntax)
	}
	switch {
	case want == "" && withUser && string(args[1]) == "default":
		m.Local = append(m.Local, replyOK...) // Redis: the default user takes any password
		return proto.Answer
	case want == "" && !withUser:
		return refuse(m, errNoPassword)
	case (!withUser || string(args[1]) == "default") && want != "" && password(pass, want):
		c.authed = true
		m.Local = append(m.Local, replyOK...)
		return proto.Answer
	}
	return refuse(m, errWrongPass)
}

// hello is HELLO [protover [AUTH user pass] [SETNAME name]]: protover 3
// makes the client's later requests go on the servers' RESP3
// connections (dialectRESP3), 2 back on the RESP2 ones.
func (c *Client) hello(m *proto.Msg, args [][]byte, want string) proto.Action {
	resp3 := c.resp3.Load()
	if len(args) >= 2 {
		ver, ok := parseInt(args[1]) // Redis's string2ll: "02" is not a number
		switch {
		case !ok:
			return refuse(m, errBadProto)
		case ver != 2 && ver != 3:
			return refuse(m, errNoProto)
		}
		resp3 = ver == 3
	}
	var user, pass, name []byte
	setName := false
	for j := 2; j < len(args); j++ {
		more := len(args) - j - 1
		switch opt := args[j]; {
		case bytes.EqualFold(opt, []byte("AUTH")) && more >= 2:
			user, pass = args[j+1], args[j+2]
			j += 2
		case bytes.EqualFold(opt, []byte("SETNAME")) && more >= 1:
			name, setName = args[j+1], true
			j++
		default:
			return refuse(m, "ERR Syntax error in HELLO option '"+string(opt)+"'")
		}
	}
	if pass != nil {
		switch {
		case string(user) != "default":
			return refuse(m, errWrongPass)
		case want == "": // the default user takes any password
		case !password(pass, want):
			return refuse(m, errWrongPass)
		default:
			c.authed = true
		}
	}
	if !c.authed {
		return refuse(m, errHelloNoAuth)
	}
	if resp3 != c.resp3.Load() && c.tx.pinned {
		return refuse(m, errHelloWatch)
	}
	if setName && !c.setName(name) {
		return refuse(m, errBadName)
	}
	c.resp3.Store(resp3)
	if resp3 {
		m.Local = AppendMapHeader(m.Local, 7)
	} else {
		m.Local = AppendArrayHeader(m.Local, 14)
	}
	for _, kv := range [...][2]string{{"server", "redis"}, {"version", helloVersion}} {
		m.Local = AppendBulkString(AppendBulkString(m.Local, kv[0]), kv[1])
	}
	ver := int64(2)
	if resp3 {
		ver = 3
	}
	m.Local = AppendInt(AppendBulkString(m.Local, "proto"), ver)
	m.Local = AppendInt(AppendBulkString(m.Local, "id"), c.id)
	for _, kv := range [...][2]string{{"mode", "standalone"}, {"role", "master"}} {
		m.Local = AppendBulkString(AppendBulkString(m.Local, kv[0]), kv[1])
	}
	m.Local = AppendArrayHeader(AppendBulkString(m.Local, "modules"), 0)
	return proto.Answer
}

// setName sets the connection's name, as CLIENT SETNAME does: an empty
// name clears it; it reports false for a name Redis refuses.
func (c *Client) setName(name []byte) bool {
	for _, ch := range name {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	if len(name) == 0 {
		c.name.Store(nil)
	} else {
		n := string(name)
		c.name.Store(&n)
	}
	return true
}

// client is CLIENT <subcommand>: the connection's own state.
func (c *Client) client(m *proto.Msg, args [][]byte, s *proto.Settings) proto.Action {
	sub := string(bytes.ToLower(args[1]))
	if sub == "list" {
		return c.clientList(m, args[2:], s)
	}
	want, served := clientArgc[sub]
	switch {
	case !served && clientSubcommands[sub]:
		return refuse(m, "ERR CLIENT "+string(bytes.ToUpper(args[1]))+" is not served by the proxy")
	case !served:
		return refuse(m, "ERR unknown subcommand '"+string(args[1])+"'. Try CLIENT HELP.")
	case len(args) != want:
		return refuse(m, "ERR wrong number of arguments for 'client|"+sub+"' command")
	}
	switch sub {
	case "setname":
		if !c.setName(args[2]) {
			return refuse(m, errBadName)
		}
	case "getname":
		if name := c.name.Load(); name == nil {
			m.Local = appendNull(m.Local, m.Dialect)
		} else {
			m.Local = AppendBulkString(m.Local, *name)
		}
		return proto.Answer
	case "id":
		m.Local = AppendInt(m.Local, c.id)
		return proto.Answer
	case "info":
		self := proto.Peer{Client: c, FD: -1}
		for p := range peersOf(s) {
			if p.Client == proto.Client(c) {
				self = p
				break
			}
		}
		m.Local = appendText(m.Local, c.appendPeer(nil, self, true), m.Dialect)
		return proto.Answer
	case "setinfo":
		attr := string(bytes.ToLower(args[2]))
		if attr != "lib-name" && attr != "lib-ver" {
			return refuse(m, "ERR Unrecognized option '"+string(args[2])+"'")
		}
	case "reply":
		switch {
		case bytes.EqualFold(args[2], []byte("on")):
			c.replies, m.Silent = repliesOn, false
		case bytes.EqualFold(args[2], []byte("off")):
			c.replies, m.Silent = repliesOff, true
		case bytes.EqualFold(args[2], []byte("skip")):
			c.replies, m.Silent = repliesSkip, true
		default:
			return refuse(m, errSyntax)
		}
	case "no-evict", "no-touch":
		if !bytes.EqualFold(args[2], []byte("on")) && !bytes.EqualFold(args[2], []byte("off")) {
			return refuse(m, errSyntax)
		}
	}
	m.Local = append(m.Local, replyOK...)
	return proto.Answer
}

// clientArgc are the CLIENT subcommands the proxy serves, with their
// argument counts.
var clientArgc = map[string]int{"setname": 3, "getname": 2, "id": 2, "info": 2, "setinfo": 4, "no-evict": 3, "no-touch": 3, "reply": 3}

// clientSubcommands are Redis's CLIENT subcommands the proxy does not
// serve (yet).
var clientSubcommands = map[string]bool{
	"caching": true, "getredir": true, "help": true, "kill": true,
	"pause": true, "tracking": true, "trackinginfo": true, "unblock": true, "unpause": true,
}

// unknown returns the refusal of a command the proxy does not serve: Redis's
// own reply for a name Redis does not know either, with the first
// arguments as Redis quotes them, else one saying the proxy does not
// serve that Redis command.
func unknown(args [][]byte) string {
	name := args[0]
	if redisCommands[string(bytes.ToLower(name))] {
		return "ERR '" + string(bytes.ToLower(name)) + "' is a Redis command this proxy does not serve"
	}
	if len(name) > 128 {
		name = name[:128]
	}
	var quoted []byte
	for _, a := range args[1:] {
		if len(quoted) >= 128 {
			break
		}
		a = a[:min(len(a), 128-len(quoted))]
		quoted = append(append(append(quoted, '\''), a...), "' "...)
	}
	return "ERR unknown command '" + string(name) + "', with args beginning with: " + string(quoted)
}

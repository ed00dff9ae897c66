package resp

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// Commands of the whole keyspace go to every server of the pool
// (proto.FanOut) and their replies are merged into one, as if the pool
// were one server: DBSIZE adds, KEYS joins, RANDOMKEY picks a server's
// key, FLUSHDB, FLUSHALL and SCRIPT FLUSH say +OK once every server did,
// SCRIPT LOAD loads on every server (so that EVALSHA finds the script on
// whichever server its key is) and SCRIPT EXISTS says 1 only for a script
// every server has. A server that fails makes the reply an error naming
// it; an error every server gave alike (a syntax error) is passed on as
// Redis said it.
//
// SCAN walks the servers one after the other: the client's cursor holds
// the index of the server in its top 16 bits and that server's own cursor
// in the other 48, and when a server's scan ends the cursor names the
// next server. A full scan thus returns every key that stays in the pool
// throughout, once, and ends at 0 after the last server. A server that is
// down when the scan reaches it makes that step an error; the client may
// retry the same cursor.
//
// INFO is the proxy's own document in Redis's format, with the lowest
// redis_version of the servers (ioredis's ready check reads it, and
// loading:0) and the keyspace of the pool's database summed over the
// servers as db0, the only database clients see.

// scanServerShift is where a SCAN cursor keeps its server's index.
const scanServerShift = 48

const scanCursorMask = 1<<scanServerShift - 1

const errInvalidCursor = "ERR invalid cursor"

// fanOut routes DBSIZE, KEYS, RANDOMKEY, FLUSHDB, FLUSHALL and SCRIPT.
func fanOut(m *proto.Msg, cmd *Command, args [][]byte) proto.Action {
	switch cmd.Name {
	case "dbsize":
		m.Op = opDBSize
	case "keys":
		m.Op = opKeys
	case "randomkey":
		m.Op = opRandom
	case "flushdb", "flushall":
		m.Op = opFlush
	case "script":
		return script(m, args)
	}
	return proto.FanOut
}

// script routes SCRIPT LOAD, EXISTS and FLUSH to every server, HELP to
// any; KILL, which is for the one server running a script, is refused.
func script(m *proto.Msg, args [][]byte) proto.Action {
	sub := string(bytes.ToLower(args[1]))
	argc := len(args)
	switch sub {
	case "load":
		if argc != 3 {
			return refuse(m, "ERR wrong number of arguments for 'script|load' command")
		}
		m.Op = opSame
	case "exists":
		if argc < 3 {
			return refuse(m, "ERR wrong number of arguments for 'script|exists' command")
		}
		m.Op = opAll
	case "flush":
		if argc > 3 {
			return refuse(m, "ERR wrong number of arguments for 'script|flush' command")
		}
		m.Op = opFlush
	case "help":
		return proto.ForwardAny
	case "kill":
		return refuse(m, "ERR SCRIPT KILL is not supported by the proxy: send it to the server that runs the script")
	default:
		return refuse(m, "ERR unknown subcommand '"+string(args[1])+"'. Try SCRIPT HELP.")
	}
	return proto.FanOut
}

// scan routes SCAN to the server its cursor names. Aux keeps that
// server's cursor and the number of servers, for Encode and scanReply.
func scan(m *proto.Msg, args [][]byte, s *proto.Settings) proto.Action {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		return refuse(m, errInvalidCursor)
	}
	n := s.Router.NumServers()
	server := int(cursor >> scanServerShift)
	if server >= n {
		return refuse(m, errInvalidCursor)
	}
	m.Op, m.Target = opScan, server
	m.Aux = int64(n)<<scanServerShift | int64(cursor&scanCursorMask)
	return proto.ForwardTo
}

// encodeFanOut appends the request that goes to the servers for SCAN
// (the client's, with the server's own cursor) and INFO.
func encodeFanOut(dst []byte, m *proto.Msg, args [][]byte) []byte {
	if m.Op == opInfo {
		return append(dst, wireInfo...)
	}
	dst = AppendArrayHeader(dst, len(args))
	dst = AppendBulk(dst, args[0])
	dst = AppendBulkString(dst, strconv.FormatInt(m.Aux&scanCursorMask, 10))
	for _, a := range args[2:] {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// scanReply is the client's reply to SCAN: the server's, with a cursor
// that names the server, or the next one once the server's scan is over.
func scanReply(m *proto.Msg) []byte {
	reply := m.Reply
	cursor, rest, ok := scanCursor(reply)
	if !ok {
		return reply // an error, or not a scan reply: passed on as it is
	}
	if cursor > scanCursorMask {
		m.Local = AppendError(m.Local[:0], "ERR the server's SCAN cursor is too large for the proxy's")
		return m.Local
	}
	server, n := uint64(m.Target), uint64(m.Aux>>scanServerShift)
	switch {
	case cursor != 0:
		cursor |= server << scanServerShift
	case server+1 < n:
		cursor = (server + 1) << scanServerShift
	}
	out := append(m.Local[:0], "*2\r\n"...)
	out = AppendBulkString(out, strconv.FormatUint(cursor, 10))
	m.Local = append(out, rest...)
	return m.Local
}

// scanCursor parses a SCAN reply: the cursor, and the array of keys
// after it.
func scanCursor(reply []byte) (cursor uint64, rest []byte, ok bool) {
	n, rest, ok := replyHeader(reply, '*')
	if !ok || n != 2 {
		return 0, nil, false
	}
	size, rest, ok := replyHeader(rest, '$')
	if !ok || size <= 0 || int64(len(rest)) < size+2 {
		return 0, nil, false
	}
	cursor, err := strconv.ParseUint(string(rest[:size]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return cursor, rest[size+2:], true
}

// replyHeader parses the header line of a reply of type typ (the array
// header "*2\r\n", the bulk header "$3\r\n"): its number, and the bytes
// after the line.
func replyHeader(reply []byte, typ byte) (n int64, rest []byte, ok bool) {
	if len(reply) < 4 || reply[0] != typ {
		return 0, nil, false
	}
	line := bytes.IndexByte(reply, '\r')
	if line < 0 || line+1 >= len(reply) || reply[line+1] != '\n' {
		return 0, nil, false
	}
	n, ok = parseInt(reply[1:line])
	return n, reply[line+2:], ok
}

// mergeFanOut joins the replies of the servers to a fan-out command.
func mergeFanOut(out []byte, m *proto.Msg) []byte {
	if len(m.Frags) == 0 {
		return AppendError(out, "ERR Connection refused")
	}
	if m.Op == opInfo { // a document of what answered: a client's ready check must not fail with one server
		return mergeInfo(out, m)
	}
	if failed, ok := fanOutFailure(out, m); ok {
		return failed
	}
	switch m.Op {
	case opDBSize:
		sum, f, err := sumReplies(m)
		if err != nil {
			return appendServerError(out, f, err.Error())
		}
		return AppendInt(out, sum)
	case opKeys:
		return mergeKeys(out, m)
	case opRandom:
		return mergeRandom(out, m)
	case opFlush:
		if f := notOK(m); f != nil {
			return appendServerError(out, f, "unexpected reply")
		}
		return append(out, replyOK...)
	case opSame:
		for _, f := range m.Frags[1:] {
			if !bytes.Equal(f.Reply, m.Frags[0].Reply) {
				return appendServerError(out, f, "its reply differs from "+m.Frags[0].Server+"'s")
			}
		}
		return append(out, m.Frags[0].Reply...)
	case opAll:
		return mergeAll(out, m)
	}
	return AppendError(out, "ERR the proxy cannot merge this command's replies")
}

// fanOutFailure appends the reply to a fan-out command a server failed
// or answered with an error, and reports whether one did. An error that
// every server gave is the client's, passed on as it is.
func fanOutFailure(out []byte, m *proto.Msg) ([]byte, bool) {
	errorsAlike := true
	var failed *proto.Frag
	for _, f := range m.Frags {
		if f.Err != nil {
			return appendServerError(out, f, f.Err.Error()), true
		}
		_, isErr := errorText(f.Reply)
		if isErr && failed == nil {
			failed = f
		}
		errorsAlike = errorsAlike && isErr && bytes.Equal(f.Reply, m.Frags[0].Reply)
	}
	switch {
	case failed == nil:
		return out, false
	case errorsAlike:
		return append(out, failed.Reply...), true
	}
	text, _ := errorText(failed.Reply)
	return appendServerError(out, failed, string(text)), true
}

// appendServerError appends an error naming f's server.
func appendServerError(out []byte, f *proto.Frag, msg string) []byte {
	return AppendError(out, "ERR server "+f.Server+": "+msg)
}

// arrayBody returns the element count of an array reply and its
// elements, the bytes after its header.
func arrayBody(reply []byte) (int64, []byte, bool) {
	n, body, ok := replyHeader(reply, '*')
	return n, body, ok && n >= 0
}

// mergeKeys joins KEYS arrays.
func mergeKeys(out []byte, m *proto.Msg) []byte {
	var total int64
	for _, f := range m.Frags {
		n, _, ok := arrayBody(f.Reply)
		if !ok {
			return appendServerError(out, f, errNotArray.Error())
		}
		total += n
	}
	out = AppendArrayHeader(out, int(total))
	for _, f := range m.Frags {
		_, body, _ := arrayBody(f.Reply)
		out = append(out, body...)
	}
	return out
}

// mergeRandom picks one of the servers' keys at random, or nil when no
// server has one.
func mergeRandom(out []byte, m *proto.Msg) []byte {
	found := 0
	for _, f := range m.Frags {
		switch {
		case isNull(f.Reply):
		case len(f.Reply) < 4 || f.Reply[0] != '$':
			return appendServerError(out, f, "RANDOMKEY's reply is not a bulk string")
		default:
			found++
		}
	}
	if found == 0 {
		return appendNull(out, m.Dialect)
	}
	pick := rand.IntN(found)
	for _, f := range m.Frags {
		if !isNull(f.Reply) {
			if pick == 0 {
				return append(out, f.Reply...)
			}
			pick--
		}
	}
	return out
}

// mergeAll is SCRIPT EXISTS: an element is 1 when it is 1 on every
// server.
func mergeAll(out []byte, m *proto.Msg) []byte {
	var n int
	for i, f := range m.Frags {
		elems, err := ArrayElems(f.Reply, f.Elems[:0])
		f.Elems = elems
		switch {
		case err != nil:
			return appendServerError(out, f, err.Error())
		case i > 0 && len(elems) != n:
			return appendServerError(out, f, errWrongCount.Error())
		}
		n = len(elems)
	}
	out = AppendArrayHeader(out, n)
	for i := 0; i < n; i++ {
		all := int64(1)
		for _, f := range m.Frags {
			if string(f.Elems[i]) != ":1\r\n" {
				all = 0
			}
		}
		out = AppendInt(out, all)
	}
	return out
}

// INFO's sections, as bits of Msg.Aux; the pool's database is in the
// bits above infoDBShift.
const (
	infoServer = 1 << iota
	infoClients
	infoPersistence
	infoStats
	infoProxy
	infoKeyspace

	infoEvery   = infoKeyspace<<1 - 1
	infoDBShift = 8
)

var infoSections = map[string]int64{
	"server": infoServer, "clients": infoClients, "persistence": infoPersistence,
	"stats": infoStats, "proxy": infoProxy, "keyspace": infoKeyspace,
	"default": infoEvery, "all": infoEvery, "everything": infoEvery,
}

// wireInfo is what INFO asks the servers: their version and keyspace.
var wireInfo = appendCommand(nil, [][]byte{[]byte("INFO"), []byte("server"), []byte("keyspace")})

// info answers INFO with the proxy's document. The sections that need
// the servers (Server for the version, Keyspace) make it go to every
// server; Local then holds the rest of the document for mergeInfo.
func info(m *proto.Msg, args [][]byte, s *proto.Settings) proto.Action {
	sections := int64(infoEvery)
	if len(args) > 1 {
		sections = 0
		for _, a := range args[1:] {
			sections |= infoSections[string(bytes.ToLower(a))]
		}
	}
	var st proto.Status
	if s.Status != nil {
		s.Status.Status(&st)
	}
	doc := appendProxyInfo(nil, sections, &st, time.Now())
	if sections&(infoServer|infoKeyspace) == 0 {
		m.Local = appendText(m.Local, doc, m.Dialect)
		return proto.Answer
	}
	m.Local = append(m.Local, doc...)
	m.Op, m.Aux = opInfo, sections|int64(st.DB)<<infoDBShift
	return proto.FanOut
}

// appendProxyInfo appends what the proxy knows of the INFO sections
// asked for: all but the servers' version, which heads the Server
// section, and the Keyspace section, which ends the document.
func appendProxyInfo(doc []byte, sections int64, st *proto.Status, now time.Time) []byte {
	started := sections&infoServer != 0
	if started {
		uptime := int64(now.Sub(st.Start) / time.Second)
		doc = append(doc, "redis_mode:standalone\r\n"...)
		doc = appendInfoField(doc, "nutcracker_version", st.Version)
		doc = appendInfoInt(doc, "process_id", int64(st.PID))
		doc = appendInfoInt(doc, "uptime_in_seconds", uptime)
		doc = appendInfoInt(doc, "uptime_in_days", uptime/(24*3600))
	}
	section := func(name string) {
		if started {
			doc = append(doc, "\r\n"...)
		}
		started = true
		doc = append(append(append(doc, "# "...), name...), "\r\n"...)
	}
	if sections&infoClients != 0 {
		section("Clients")
		doc = appendInfoInt(doc, "connected_clients", st.Clients)
	}
	if sections&infoPersistence != 0 {
		section("Persistence")
		doc = append(doc, "loading:0\r\n"...)
	}
	var requests int64
	for _, s := range st.Servers {
		requests += s.Requests
	}
	if sections&infoStats != 0 {
		section("Stats")
		doc = appendInfoInt(doc, "total_connections_received", st.TotalConnections)
		doc = appendInfoInt(doc, "total_commands_processed", requests)
	}
	if sections&infoProxy != 0 {
		section("Proxy")
		doc = appendInfoField(doc, "pool", st.Pool)
		doc = appendInfoInt(doc, "servers", int64(len(st.Servers)))
		for i := range st.Servers {
			doc = append(strconv.AppendInt(append(doc, "server"...), int64(i), 10), ':')
			doc = append(st.Servers[i].AppendFields(doc), "\r\n"...)
		}
	}
	return doc
}

func appendInfoField(doc []byte, name, value string) []byte {
	return append(append(append(append(doc, name...), ':'), value...), "\r\n"...)
}

func appendInfoInt(doc []byte, name string, value int64) []byte {
	return appendInfoField(doc, name, strconv.FormatInt(value, 10))
}

// mergeInfo completes the proxy's INFO document (Local) with the lowest
// redis_version of the servers and their keyspace of the pool's
// database, summed. A server that failed or did not answer with a bulk
// string is left out of both, and named in the Proxy section as
// unanswered: INFO is how clients check a connection is ready (ioredis),
// and one server down must not fail that check for the whole pool.
func mergeInfo(out []byte, m *proto.Msg) []byte {
	sections, db := m.Aux&infoEvery, m.Aux>>infoDBShift
	dbPrefix := "db" + strconv.FormatInt(db, 10) + ":"
	var version []byte
	var keys, expires, ttlSum int64
	var unanswered []string
	for _, f := range m.Frags {
		body, ok := textBody(f.Reply)
		if f.Err != nil || !ok {
			unanswered = append(unanswered, f.Server)
			continue
		}
		for len(body) > 0 {
			var line []byte
			line, body, _ = bytes.Cut(body, []byte("\r\n"))
			if v, ok := bytes.CutPrefix(line, []byte("redis_version:")); ok {
				if version == nil || versionLess(v, version) {
					version = v
				}
			} else if ks, ok := bytes.CutPrefix(line, []byte(dbPrefix)); ok {
				k, e, ttl := keyspaceFields(ks)
				keys, expires, ttlSum = keys+k, expires+e, ttlSum+ttl*e
			}
		}
	}
	if version == nil { // no server answered: the version the proxy speaks
		version = []byte(helloVersion)
	}
	var doc []byte
	if sections&infoServer != 0 {
		doc = append(doc, "# Server\r\n"...)
		doc = appendInfoField(doc, "redis_version", string(version))
	}
	doc = append(doc, m.Local...) // its last section is Proxy's, when asked for
	if sections&infoProxy != 0 && len(unanswered) > 0 {
		doc = appendInfoField(doc, "unanswered", strings.Join(unanswered, ","))
	}
	if sections&infoKeyspace != 0 {
		if len(doc) > 0 {
			doc = append(doc, "\r\n"...)
		}
		doc = append(doc, "# Keyspace\r\n"...)
		if keys > 0 {
			avgTTL := int64(0)
			if expires > 0 {
				avgTTL = ttlSum / expires
			}
			doc = append(doc, "db0:keys="...)
			doc = strconv.AppendInt(doc, keys, 10)
			doc = append(doc, ",expires="...)
			doc = strconv.AppendInt(doc, expires, 10)
			doc = append(doc, ",avg_ttl="...)
			doc = strconv.AppendInt(doc, avgTTL, 10)
			doc = append(doc, "\r\n"...)
		}
	}
	return appendText(out, doc, m.Dialect)
}

// textBody returns the text of a document reply: a bulk string (RESP2)
// or a verbatim string (RESP3), without its format.
func textBody(reply []byte) ([]byte, bool) {
	if body, ok := blobBody(reply, '$'); ok {
		return body, true
	}
	body, ok := blobBody(reply, '=')
	if !ok || len(body) < 4 || body[3] != ':' {
		return nil, false
	}
	return body[4:], true
}

// isNull reports whether reply is a null: "$-1" (RESP2) or "_" (RESP3).
func isNull(reply []byte) bool {
	return string(reply) == "$-1\r\n" || string(reply) == "_\r\n"
}

// blobBody returns the content of a whole reply of a length-prefixed
// type ('$', '=', '!').
func blobBody(reply []byte, kind byte) ([]byte, bool) {
	n, rest, ok := replyHeader(reply, kind)
	if !ok || n < 0 || int64(len(rest)) != n+2 {
		return nil, false
	}
	return rest[:n], true
}

// keyspaceFields parses "keys=1,expires=0,avg_ttl=0"; a field it cannot
// read counts 0.
func keyspaceFields(line []byte) (keys, expires, avgTTL int64) {
	for len(line) > 0 {
		var field []byte
		field, line, _ = bytes.Cut(line, []byte(","))
		name, value, _ := bytes.Cut(field, []byte("="))
		n, _ := strconv.ParseInt(string(value), 10, 64)
		switch string(name) {
		case "keys":
			keys = n
		case "expires":
			expires = n
		case "avg_ttl":
			avgTTL = n
		}
	}
	return keys, expires, avgTTL
}

// versionLess reports whether version a ("7.0.15") is older than b,
// number by number.
func versionLess(a, b []byte) bool {
	for len(a) > 0 || len(b) > 0 {
		var x, y []byte
		x, a, _ = bytes.Cut(a, []byte("."))
		y, b, _ = bytes.Cut(b, []byte("."))
		nx, _ := strconv.Atoi(string(x))
		ny, _ := strconv.Atoi(string(y))
		if nx != ny {
			return nx < ny
		}
	}
	return false
}

package resp

import (
	"bytes"

	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// Commands whose keys must live together (SUNION, RENAME, ZUNIONSTORE,
// EVAL, XREAD, ...) run whole on the one server of all their keys, and
// are refused when their keys live on several: a command run on one
// server with keys of another would read or write the wrong data. Where
// their keys are comes from Redis 7.0's key specs (COMMAND INFO), one
// keySpec per command.

// keySpec says where the keys of a KindTogether command are.
type keySpec struct {
	shape keyShape
	// keysRange: args[first], args[first+step], ... up to args[last]; a
	// last of -1 is the last argument. keysCount: a key at first (0 for
	// none), then at count the number of keys that follow it.
	// keysSort, keysGeoStore: the key at first; options from from on.
	// keysStreams: options from from on.
	first, last, step, count, from int
	// noKeysOK: the command runs without keys (EVAL, FCALL), which the
	// proxy cannot route; for the others no key is Redis's error.
	noKeysOK bool
}

type keyShape uint8

const (
	keysRange    keyShape = iota
	keysCount             // numkeys, then the keys (ZUNION, LMPOP, EVAL, ...)
	keysSort              // SORT: the key, and STORE's destination
	keysGeoStore          // GEORADIUS: the key, and STORE's and STOREDIST's destinations
	keysStreams           // XREAD, XREADGROUP: the first half of the arguments after STREAMS
)

var (
	keysFirstTwo = keySpec{shape: keysRange, first: 1, last: 2, step: 1}
	keysAll      = keySpec{shape: keysRange, first: 1, last: -1, step: 1}
	keysNumkeys  = keySpec{shape: keysCount, count: 1}
	keysScript   = keySpec{shape: keysCount, count: 2, noKeysOK: true}
	keysStore    = keySpec{shape: keysCount, first: 1, count: 2}
)

// keySpecs are the KindTogether commands' key specs.
var keySpecs = map[string]keySpec{
	"bitop":             {shape: keysRange, first: 2, last: -1, step: 1},
	"copy":              keysFirstTwo,
	"eval":              keysScript,
	"eval_ro":           keysScript,
	"evalsha":           keysScript,
	"evalsha_ro":        keysScript,
	"fcall":             keysScript,
	"fcall_ro":          keysScript,
	"georadius":         {shape: keysGeoStore, first: 1, from: 6},
	"georadiusbymember": {shape: keysGeoStore, first: 1, from: 5},
	"geosearchstore":    keysFirstTwo,
	"lcs":               keysFirstTwo,
	"lmove":             keysFirstTwo,
	"lmpop":             keysNumkeys,
	"msetnx":            {shape: keysRange, first: 1, last: -1, step: 2},
	"pfcount":           keysAll,
	"pfmerge":           keysAll,
	"rename":            keysFirstTwo,
	"renamenx":          keysFirstTwo,
	"rpoplpush":         keysFirstTwo,
	"sdiff":             keysAll,
	"sdiffstore":        keysAll,
	"sinter":            keysAll,
	"sintercard":        keysNumkeys,
	"sinterstore":       keysAll,
	"smove":             keysFirstTwo,
	"sort":              {shape: keysSort, first: 1, from: 2},
	"sort_ro":           {shape: keysSort, first: 1, from: 2},
	"sunion":            keysAll,
	"sunionstore":       keysAll,
	"xread":             {shape: keysStreams, from: 1},
	"xreadgroup":        {shape: keysStreams, from: 1},
	"zdiff":             keysNumkeys,
	"zdiffstore":        keysStore,
	"zinter":            keysNumkeys,
	"zintercard":        keysNumkeys,
	"zinterstore":       keysStore,
	"zmpop":             keysNumkeys,
	"zrangestore":       keysFirstTwo,
	"zunion":            keysNumkeys,
	"zunionstore":       keysStore,
}

// keysFound says what keysOf found.
type keysFound uint8

const (
	keysOK        keysFound = iota // the keys, possibly none
	keysMalformed                  // arguments Redis refuses before it touches a key
	keysBlocking                   // XREAD or XREADGROUP with BLOCK
	keysPattern                    // SORT with a BY or GET pattern whose keys may live anywhere
)

// keysOf appends the keys of args, a KindTogether command spec describes,
// to keys; hashTag is the pool's hash_tag.
func keysOf(keys [][]byte, spec *keySpec, args [][]byte, hashTag string) ([][]byte, keysFound) {
	switch spec.shape {
	case keysRange:
		last := spec.last
		if last < 0 {
			last += len(args)
		}
		if (len(args)-spec.first)%spec.step != 0 { // MSETNX: a key without its value
			return keys, keysMalformed
		}
		for i := spec.first; i <= last; i += spec.step {
			keys = append(keys, args[i])
		}
	case keysCount:
		if spec.first > 0 {
			keys = append(keys, args[spec.first])
		}
		n, ok := parseInt(args[spec.count])
		switch {
		case !ok || n < 0 || n > int64(len(args)-spec.count-1):
			return keys, keysMalformed
		case n == 0 && !spec.noKeysOK:
			return keys, keysMalformed
		}
		keys = append(keys, args[spec.count+1:spec.count+1+int(n)]...)
	case keysSort:
		return sortKeys(append(keys, args[spec.first]), args, spec.from, hashTag)
	case keysGeoStore:
		keys = append(keys, args[spec.first])
		// GEORADIUS writes the last STORE's or STOREDIST's destination,
		// Redis's key specs name the first of each: all must be together.
		for i := spec.from; i < len(args)-1; i++ {
			switch {
			case isWord(args[i], "store"), isWord(args[i], "storedist"):
				keys = append(keys, args[i+1])
				i++
			case isWord(args[i], "count"):
				i++
			}
		}
	case keysStreams:
		return streamKeys(keys, args, spec.from)
	}
	return keys, keysOK
}

// sortKeys reads SORT's options as Redis does: the last STORE's
// destination is a key; a BY or GET pattern with a '*' makes keys of the
// sorted elements, which live with the pattern when its hash tag comes
// before the '*', and may live anywhere else.
func sortKeys(keys [][]byte, args [][]byte, from int, hashTag string) ([][]byte, keysFound) {
	var dest []byte
	for i := from; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case isWord(args[i], "limit") && more >= 2:
			i += 2
		case (isWord(args[i], "by") || isWord(args[i], "get")) && more >= 1:
			i++
			star := bytes.IndexByte(args[i], '*')
			switch {
			case star < 0 || string(args[i]) == "#": // no key, or the element itself
			case taggedBefore(args[i], star, hashTag):
				keys = append(keys, args[i])
			default:
				return keys, keysPattern
			}
		case isWord(args[i], "store") && more >= 1:
			i++
			dest = args[i]
		}
	}
	if dest != nil {
		keys = append(keys, dest)
	}
	return keys, keysOK
}

// taggedBefore reports whether name has a hash tag that ends before
// name[end], as package hashkit finds tags: what comes from end on does
// not change where name lives.
func taggedBefore(name []byte, end int, tag string) bool {
	return len(hashkit.TagKey(name[:end], []byte(tag))) < end
}

// streamKeys reads XREAD's and XREADGROUP's options as Redis does, up to
// STREAMS, after which the first half of the arguments are keys and the
// second half their IDs.
func streamKeys(keys [][]byte, args [][]byte, from int) ([][]byte, keysFound) {
	blocks := false
	for i := from; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case (isWord(args[i], "block") || isWord(args[i], "count")) && more >= 1:
			blocks = blocks || isWord(args[i], "block")
			i++
		case isWord(args[i], "group") && more >= 2:
			i += 2
		case isWord(args[i], "noack"):
		case isWord(args[i], "streams") && more >= 1:
			if more%2 != 0 {
				return keys, keysMalformed
			}
			if blocks {
				return keys, keysBlocking
			}
			return append(keys, args[i+1:i+1+more/2]...), keysOK
		default:
			return keys, keysMalformed
		}
	}
	return keys, keysMalformed
}

// isWord reports whether arg is the lowercase word w, in any letter case.
func isWord(arg []byte, w string) bool {
	if len(arg) != len(w) {
		return false
	}
	for i := range len(arg) {
		c := arg[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// together forwards a KindTogether command whole to the server of all its
// keys, or refuses it. Arguments Redis refuses go to any server, for
// Redis's own error.
func (c *Client) together(m *proto.Msg, cmd *Command, args [][]byte, s *proto.Settings) proto.Action {
	server, errText := c.serverOfTogether(cmd, args, s)
	switch {
	case errText != "":
		return refuse(m, errText)
	case server == serverAny:
		return proto.ForwardAny
	}
	m.Target = server
	return proto.ForwardTo
}

// serverAny is serverOfTogether's server of a command Redis refuses for
// its arguments, before it touches a key: any server says why.
const serverAny = -2

// serverOfTogether returns the server of every key of a KindTogether
// command, serverAny, or the refusal of the command.
func (c *Client) serverOfTogether(cmd *Command, args [][]byte, s *proto.Settings) (int, string) {
	spec := keySpecs[cmd.Name]
	keys, found := keysOf(c.keys[:0], &spec, args, s.HashTag)
	server, errText := serverAny, ""
	switch {
	case found == keysMalformed:
	case found == keysBlocking:
		errText = errBlocking("'" + cmd.Name + "' with BLOCK")
	case found == keysPattern && s.Router.NumServers() == 1: // every key lives there
		server, errText = c.serverOfKeys(cmd, keys[:1], 1, s)
	case found == keysPattern:
		errText = "ERR '" + cmd.Name + "' with a BY or GET pattern reads keys made from its elements, " +
			"which may live on any server: a pattern with a hash tag before its '*' keeps them on one"
	case len(keys) == 0:
		errText = "ERR " + cmd.Name + " with no keys cannot be routed by the proxy"
	default:
		server, errText = c.serverOfKeys(cmd, keys, 1, s)
	}
	clear(keys) // they alias the client's read buffer
	c.keys = keys[:0]
	return server, errText
}

// errBlocking is the refusal of a blocking command, named quoted.
func errBlocking(quoted string) string {
	return "ERR " + quoted + " blocks, which the proxy does not serve yet: " +
		"a blocking command needs a server connection of its own"
}

// errPubSub is the refusal of a pub/sub command.
func errPubSub(name string) string {
	return "ERR '" + name + "' is pub/sub, which the proxy does not serve yet: " +
		"pub/sub needs a server connection of its own"
}

// subcommands are the subcommands of the KindSubcmd commands: keyed
// ones have their key at argument 2; unserved ones are the server's own
// business. HELP, and names Redis does not know, go to any server for
// Redis's reply.
var subcommands = map[string]struct{ keyed, unserved []string }{
	"object": {keyed: []string{"encoding", "freq", "idletime", "refcount"}},
	"xinfo":  {keyed: []string{"consumers", "groups", "stream"}},
	"xgroup": {keyed: []string{"create", "createconsumer", "delconsumer", "destroy", "setid"}},
	"memory": {keyed: []string{"usage"}, unserved: []string{"doctor", "malloc-stats", "purge", "stats"}},
}

// subcommandKey returns the key of a KindSubcmd command, nil when it
// has none, or the refusal of a subcommand the proxy does not serve.
func subcommandKey(cmd *Command, args [][]byte) (key []byte, errText string) {
	sub := subcommands[cmd.Name]
	for _, name := range sub.unserved {
		if isWord(args[1], name) {
			return nil, "ERR '" + cmd.Name + " " + name + "' is a Redis command this proxy does not serve"
		}
	}
	if len(args) > 2 {
		for _, name := range sub.keyed {
			if isWord(args[1], name) {
				return args[2], ""
			}
		}
	}
	return nil, ""
}

// subcommand routes OBJECT, XINFO, XGROUP and MEMORY.
func (c *Client) subcommand(m *proto.Msg, cmd *Command, args [][]byte, s *proto.Settings) proto.Action {
	key, errText := subcommandKey(cmd, args)
	switch {
	case errText != "":
		return refuse(m, errText)
	case key == nil:
		return proto.ForwardAny
	}
	return byKey(m, cmd, key, s)
}

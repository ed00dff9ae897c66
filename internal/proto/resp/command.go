package resp

// Kind says how the proxy handles a command.
type Kind uint8

const (
	KindSingle    Kind = iota // routed by the one key at Command.KeyIndex
	KindMulti                 // MGET DEL UNLINK TOUCH EXISTS: every argument from 1 is a key; split per server, replies merged
	KindMultiKV               // MSET: key value pairs from argument 1; split per server, replies merged
	KindTogether              // SUNION, RENAME, EVAL, ...: keys that must live on one server, where keySpecs says; forwarded whole to it
	KindSubcmd                // OBJECT, XINFO, XGROUP, MEMORY: routed by the key at argument 2 of a subcommand that has one
	KindBlocking              // BLPOP, WAIT, ...: refused, they need a server connection of their own
	KindPubSub                // SUBSCRIBE, PUBLISH, ...: refused, they need a server connection of their own
	KindPing                  // answered locally
	KindQuit                  // answered +OK, then the connection closes
	KindAuth                  // handled locally
	KindSelect                // handled locally
	KindAnyServer             // COMMAND, LOLWUT: forwarded to an arbitrary server
	KindHello                 // the connection handshake, answered locally
	KindEcho                  // answered locally
	KindClient                // CLIENT SETNAME, GETNAME, ID, ...: the connection's own state, answered locally
	KindFanOut                // DBSIZE KEYS RANDOMKEY FLUSHDB FLUSHALL SCRIPT: to every server, replies merged (fanout.go)
	KindScan                  // SCAN: to the server its cursor names
	KindInfo                  // INFO: the proxy's document, with the servers' version and keyspace
	KindCluster               // CLUSTER, READONLY, READWRITE, ASKING: answered locally in a cluster pool (cluster.go), not served in others

	// The commands Redis runs at once inside MULTI, not queued: every kind
	// from KindTxMulti on.
	KindTxMulti   // MULTI: answered locally; the transaction opens on the server with its first command
	KindTxExec    // EXEC
	KindTxDiscard // DISCARD
	KindTxWatch   // WATCH: the client's own connection to its keys' server
	KindTxUnwatch // UNWATCH (queued inside MULTI, as Redis does)
	KindReset     // RESET: the connection as new
)

// Command describes a supported command.
type Command struct {
	Name  string // lowercase, e.g. "get"
	Kind  Kind
	Arity int // as Redis 7.0 reports it: >0 exact argument count with the name, <0 minimum
	// KeyIndex is the argument index of the routing key for KindSingle
	// (1) and KindSubcmd (2); of the first key for KindMulti,
	// KindMultiKV and KindTogether where it has a fixed place (the one
	// logs name); 0 for the other kinds.
	KeyIndex int
}

// CheckArity reports whether argc arguments, the name included, satisfy
// c's arity; MSET also needs key value pairs (an odd argc).
func (c *Command) CheckArity(argc int) bool {
	if c.Arity > 0 && argc != c.Arity || argc < -c.Arity {
		return false
	}
	return c.Kind != KindMultiKV || argc%2 == 1
}

// commands are those twemproxy 0.5 accepts (COMPAT.md §2.5), SELECT, the
// connection handshake (HELLO, CLIENT, ECHO), Redis 7.0's other commands
// with keys, and the blocking and pub/sub ones, refused with their reason.
// Arities are Redis 7.0's (checked against a live server by the tests).
var commands = []Command{
	// keys
	{"copy", KindTogether, -3, 1},
	{"del", KindMulti, -2, 1},
	{"dump", KindSingle, 2, 1},
	{"exists", KindMulti, -2, 1},
	{"expire", KindSingle, -3, 1},
	{"expireat", KindSingle, -3, 1},
	{"persist", KindSingle, 2, 1},
	{"pexpire", KindSingle, -3, 1},
	{"pexpireat", KindSingle, -3, 1},
	{"pttl", KindSingle, 2, 1},
	{"restore", KindSingle, -4, 1},
	{"sort", KindTogether, -2, 1},
	{"touch", KindMulti, -2, 1},
	{"ttl", KindSingle, 2, 1},
	{"type", KindSingle, 2, 1},
	{"unlink", KindMulti, -2, 1},

	// strings
	{"append", KindSingle, 3, 1},
	{"bitcount", KindSingle, -2, 1},
	{"bitfield", KindSingle, -2, 1},
	{"bitpos", KindSingle, -3, 1},
	{"decr", KindSingle, 2, 1},
	{"decrby", KindSingle, 3, 1},
	{"get", KindSingle, 2, 1},
	{"getbit", KindSingle, 3, 1},
	{"getdel", KindSingle, 2, 1},
	{"getex", KindSingle, -2, 1},
	{"getrange", KindSingle, 4, 1},
	{"getset", KindSingle, 3, 1},
	{"incr", KindSingle, 2, 1},
	{"incrby", KindSingle, 3, 1},
	{"incrbyfloat", KindSingle, 3, 1},
	{"mget", KindMulti, -2, 1},
	{"mset", KindMultiKV, -3, 1},
	{"psetex", KindSingle, 4, 1},
	{"set", KindSingle, -3, 1},
	{"setbit", KindSingle, 4, 1},
	{"setex", KindSingle, 4, 1},
	{"setnx", KindSingle, 3, 1},
	{"setrange", KindSingle, 4, 1},
	{"strlen", KindSingle, 2, 1},

	// hashes
	{"hdel", KindSingle, -3, 1},
	{"hexists", KindSingle, 3, 1},
	{"hget", KindSingle, 3, 1},
	{"hgetall", KindSingle, 2, 1},
	{"hincrby", KindSingle, 4, 1},
	{"hincrbyfloat", KindSingle, 4, 1},
	{"hkeys", KindSingle, 2, 1},
	{"hlen", KindSingle, 2, 1},
	{"hmget", KindSingle, -3, 1},
	{"hmset", KindSingle, -4, 1},
	{"hrandfield", KindSingle, -2, 1},
	{"hscan", KindSingle, -3, 1},
	{"hset", KindSingle, -4, 1},
	{"hsetnx", KindSingle, 4, 1},
	{"hstrlen", KindSingle, 3, 1},
	{"hvals", KindSingle, 2, 1},

	// lists
	{"lindex", KindSingle, 3, 1},
	{"linsert", KindSingle, 5, 1},
	{"llen", KindSingle, 2, 1},
	{"lmove", KindTogether, 5, 1},
	{"lpop", KindSingle, -2, 1},
	{"lpos", KindSingle, -3, 1},
	{"lpush", KindSingle, -3, 1},
	{"lpushx", KindSingle, -3, 1},
	{"lrange", KindSingle, 4, 1},
	{"lrem", KindSingle, 4, 1},
	{"lset", KindSingle, 4, 1},
	{"ltrim", KindSingle, 4, 1},
	{"rpop", KindSingle, -2, 1},
	{"rpoplpush", KindTogether, 3, 1},
	{"rpush", KindSingle, -3, 1},
	{"rpushx", KindSingle, -3, 1},

	// sets
	{"sadd", KindSingle, -3, 1},
	{"scard", KindSingle, 2, 1},
	{"sdiff", KindTogether, -2, 1},
	{"sdiffstore", KindTogether, -3, 1},
	{"sinter", KindTogether, -2, 1},
	{"sinterstore", KindTogether, -3, 1},
	{"sismember", KindSingle, 3, 1},
	{"smembers", KindSingle, 2, 1},
	{"smismember", KindSingle, -3, 1},
	{"smove", KindTogether, 4, 1},
	{"spop", KindSingle, -2, 1},
	{"srandmember", KindSingle, -2, 1},
	{"srem", KindSingle, -3, 1},
	{"sscan", KindSingle, -3, 1},
	{"sunion", KindTogether, -2, 1},
	{"sunionstore", KindTogether, -3, 1},

	// sorted sets
	{"zadd", KindSingle, -4, 1},
	{"zcard", KindSingle, 2, 1},
	{"zcount", KindSingle, 4, 1},
	{"zdiff", KindTogether, -3, 2},
	{"zdiffstore", KindTogether, -4, 1},
	{"zincrby", KindSingle, 4, 1},
	{"zinter", KindTogether, -3, 2},
	{"zinterstore", KindTogether, -4, 1},
	{"zlexcount", KindSingle, 4, 1},
	{"zmscore", KindSingle, -3, 1},
	{"zpopmax", KindSingle, -2, 1},
	{"zpopmin", KindSingle, -2, 1},
	{"zrandmember", KindSingle, -2, 1},
	{"zrange", KindSingle, -4, 1},
	{"zrangebylex", KindSingle, -4, 1},
	{"zrangebyscore", KindSingle, -4, 1},
	{"zrangestore", KindTogether, -5, 1},
	{"zrank", KindSingle, 3, 1},
	{"zrem", KindSingle, -3, 1},
	{"zremrangebylex", KindSingle, 4, 1},
	{"zremrangebyrank", KindSingle, 4, 1},
	{"zremrangebyscore", KindSingle, 4, 1},
	{"zrevrange", KindSingle, -4, 1},
	{"zrevrangebylex", KindSingle, -4, 1},
	{"zrevrangebyscore", KindSingle, -4, 1},
	{"zrevrank", KindSingle, 3, 1},
	{"zscan", KindSingle, -3, 1},
	{"zscore", KindSingle, 3, 1},
	{"zunion", KindTogether, -3, 2},
	{"zunionstore", KindTogether, -4, 1},

	// hyperloglog
	{"pfadd", KindSingle, -2, 1},
	{"pfcount", KindTogether, -2, 1},
	{"pfmerge", KindTogether, -2, 1},

	// geo
	{"geoadd", KindSingle, -5, 1},
	{"geodist", KindSingle, -4, 1},
	{"geohash", KindSingle, -2, 1},
	{"geopos", KindSingle, -2, 1},
	{"georadius", KindTogether, -6, 1},
	{"georadiusbymember", KindTogether, -5, 1},
	{"geosearch", KindSingle, -7, 1},
	{"geosearchstore", KindTogether, -8, 1},

	// scripting
	{"eval", KindTogether, -3, 3},
	{"evalsha", KindTogether, -3, 3},

	// Redis 7.0's other commands with keys, beyond twemproxy's list
	{"bitfield_ro", KindSingle, -2, 1},
	{"bitop", KindTogether, -4, 2},
	{"eval_ro", KindTogether, -3, 3},
	{"evalsha_ro", KindTogether, -3, 3},
	{"expiretime", KindSingle, 2, 1},
	{"fcall", KindTogether, -3, 3},
	{"fcall_ro", KindTogether, -3, 3},
	{"georadius_ro", KindSingle, -6, 1},
	{"georadiusbymember_ro", KindSingle, -5, 1},
	{"lcs", KindTogether, -3, 1},
	{"lmpop", KindTogether, -4, 2},
	{"memory", KindSubcmd, -2, 2},
	{"msetnx", KindTogether, -3, 1},
	{"object", KindSubcmd, -2, 2},
	{"pexpiretime", KindSingle, 2, 1},
	{"rename", KindTogether, 3, 1},
	{"renamenx", KindTogether, 3, 1},
	{"sintercard", KindTogether, -3, 2},
	{"sort_ro", KindTogether, -2, 1},
	{"substr", KindSingle, 4, 1},
	{"xack", KindSingle, -4, 1},
	{"xadd", KindSingle, -5, 1},
	{"xautoclaim", KindSingle, -6, 1},
	{"xclaim", KindSingle, -6, 1},
	{"xdel", KindSingle, -3, 1},
	{"xgroup", KindSubcmd, -2, 2},
	{"xinfo", KindSubcmd, -2, 2},
	{"xlen", KindSingle, 2, 1},
	{"xpending", KindSingle, -3, 1},
	{"xrange", KindSingle, -4, 1},
	{"xread", KindTogether, -4, 0},
	{"xreadgroup", KindTogether, -7, 0},
	{"xrevrange", KindSingle, -4, 1},
	{"xsetid", KindSingle, -3, 1},
	{"xtrim", KindSingle, -4, 1},
	{"zintercard", KindTogether, -3, 2},
	{"zmpop", KindTogether, -4, 2},

	// blocking and pub/sub: refused with their reason
	{"blmove", KindBlocking, 6, 0},
	{"blmpop", KindBlocking, -5, 0},
	{"blpop", KindBlocking, -3, 0},
	{"brpop", KindBlocking, -3, 0},
	{"brpoplpush", KindBlocking, 4, 0},
	{"bzmpop", KindBlocking, -5, 0},
	{"bzpopmax", KindBlocking, -3, 0},
	{"bzpopmin", KindBlocking, -3, 0},
	{"wait", KindBlocking, 3, 0},
	{"psubscribe", KindPubSub, -2, 0},
	{"publish", KindPubSub, 3, 0},
	{"pubsub", KindPubSub, -2, 0},
	{"punsubscribe", KindPubSub, -1, 0},
	{"spublish", KindPubSub, 3, 0},
	{"ssubscribe", KindPubSub, -2, 0},
	{"subscribe", KindPubSub, -2, 0},
	{"sunsubscribe", KindPubSub, -1, 0},
	{"unsubscribe", KindPubSub, -1, 0},

	// local and other
	{"auth", KindAuth, -2, 0},
	{"client", KindClient, -2, 0},
	{"echo", KindEcho, 2, 0},
	{"hello", KindHello, -1, 0},
	{"command", KindAnyServer, -1, 0},
	{"lolwut", KindAnyServer, -1, 0},
	{"ping", KindPing, -1, 0},
	{"quit", KindQuit, -1, 0},
	{"select", KindSelect, 2, 0},
	{"reset", KindReset, 1, 0},

	// every server of the pool (fanout.go)
	{"dbsize", KindFanOut, 1, 0},
	{"flushall", KindFanOut, -1, 0},
	{"flushdb", KindFanOut, -1, 0},
	{"info", KindInfo, -1, 0},
	{"keys", KindFanOut, 2, 0},
	{"lastsave", KindAnyServer, 1, 0},
	{"randomkey", KindFanOut, 1, 0},
	{"scan", KindScan, -2, 0},
	{"script", KindFanOut, -2, 0},
	{"time", KindAnyServer, 1, 0},

	// a cluster pool's view of itself (cluster.go)
	{"asking", KindCluster, 1, 0},
	{"cluster", KindCluster, -2, 0},
	{"readonly", KindCluster, 1, 0},
	{"readwrite", KindCluster, 1, 0},

	// transactions
	{"multi", KindTxMulti, 1, 0},
	{"exec", KindTxExec, 1, 0},
	{"discard", KindTxDiscard, 1, 0},
	{"watch", KindTxWatch, -2, 1},
	{"unwatch", KindTxUnwatch, 1, 0},
}

// maxNameLen bounds the names Lookup folds on the stack; the longest
// supported name, "georadiusbymember_ro", has 20 bytes.
const maxNameLen = 24

var byName = func() map[string]*Command {
	m := make(map[string]*Command, len(commands))
	for i := range commands {
		m[commands[i].Name] = &commands[i]
	}
	return m
}()

// Lookup returns the supported command called name, in any letter case, or
// nil. It does not allocate. The Command is shared: do not modify it.
func Lookup(name []byte) *Command {
	var lower [maxNameLen]byte
	if len(name) > len(lower) {
		return nil
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return byName[string(lower[:len(name)])]
}

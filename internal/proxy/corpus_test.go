package proxy

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// The corpus replays the same client sessions on a redis-server and
// through the proxy, in RESP2 and in RESP3 (the session opened by HELLO
// 3), and compares every reply: the proxy must answer as the one Redis
// its pool stands for. Each group of steps is a session of its own,
// opened by FLUSHALL, on data of one kind: strings, bitmaps, lists,
// hashes, sets, sorted sets, HyperLogLogs, geo sets, streams, keys,
// scripts, server commands and the proxy's local replies. The steps
// include missing keys, wrong types, arity errors, nulls, doubles,
// WITHSCORES pairs, maps, sets, and the booleans, big numbers and
// verbatim strings Redis 7.0 sends (those only from a script).
//
// A pool of one server must match Redis byte for byte, but where a
// reply differs by nature (TIME, INFO, CLIENT LIST: see compareBy). A
// pool of three servers must match it for the commands it splits or
// sends to every server, and for transactions on one hash tag. Requests
// written at once across protocol switches (HELLO 2, HELLO 3, RESET)
// must each be answered in the protocol of its turn, and see the writes
// before it.
//
// What the proxy refuses by design is not in the corpus (blocking and
// pub/sub commands, scripts without keys, SELECT of another database,
// cursors the proxy did not give, server-wide commands such as MEMORY
// DOCTOR): those refusals are tested elsewhere.

// compareBy says how a step's replies are compared.
type compareBy uint8

const (
	// sameBytes: equal byte for byte.
	sameBytes compareBy = iota
	// sameMasked: equal but for handshakeVaries, the connection id and
	// server version of HELLO and CLIENT ID.
	sameMasked
	// sameElements: equal with the elements of every aggregate in any
	// order. A set of strings, or the keyspace, is a hash table whose
	// order comes from a seed each redis-server draws at start, so two
	// servers list the same members in different orders; a pool of
	// several servers lists its keys server after server.
	sameElements
	// sameShape: the same RESP types, aggregate lengths and verbatim
	// formats; the contents differ by nature (the clock, the proxy's
	// INFO document and client list, idle times).
	sameShape
	// sameKeyspace: INFO's Keyspace section has the same db lines.
	sameKeyspace
	// sameScan: a SCAN from the step's cursor 0 to the end returns the
	// same set of keys.
	sameScan
)

// corpusStep is one request of a session and how its replies compare.
type corpusStep struct {
	args []string
	by   compareBy
	// other steps go on the session's second connection, which stays
	// in RESP2 whatever the first speaks (a write that breaks a WATCH).
	other bool
	// batch, when set, are requests written at once, whose replies are
	// compared one by one, masked; args is the first.
	batch [][]string
}

// Steps, by how their replies compare.
func step(args ...string) corpusStep      { return corpusStep{args: args} }
func masked(args ...string) corpusStep    { return corpusStep{args: args, by: sameMasked} }
func unordered(args ...string) corpusStep { return corpusStep{args: args, by: sameElements} }
func shape(args ...string) corpusStep     { return corpusStep{args: args, by: sameShape} }
func wholeScan(args ...string) corpusStep {
	return corpusStep{args: append([]string{"SCAN", "0"}, args...), by: sameScan}
}
func keyspace() corpusStep                { return corpusStep{args: []string{"INFO", "keyspace"}, by: sameKeyspace} }
func fromOther(args ...string) corpusStep { return corpusStep{args: args, other: true} }
func pipelined(batch ...[]string) corpusStep {
	return corpusStep{args: batch[0], by: sameMasked, batch: batch}
}

// corpusGroup is a session: its steps, after HELLO 3 in RESP3, after
// FLUSHALL in both.
type corpusGroup struct {
	name  string
	steps []corpusStep
	// resp3Only groups switch protocols: a RESP2 session has nothing to
	// switch back from.
	resp3Only bool
}

// Scripts whose replies have the RESP3 types no command of Redis 7.0
// sends: a RESP3 client gets them from a script that says setresp(3),
// a RESP2 client their RESP2 forms.
const (
	luaTrue     = "redis.setresp(3); return true"
	luaFalse    = "redis.setresp(3); return false"
	luaDouble   = "redis.setresp(3); return {double=3.25}"
	luaBigNum   = "redis.setresp(3); return {big_number='1234567890123456789012345678901234567890'}"
	luaVerbatim = "redis.setresp(3); return {verbatim_string={format='txt', string='hello'}}"
	luaMap      = "redis.setresp(3); return {map={field=1}}"
	luaSet      = "redis.setresp(3); return {set={member=true}}"
	luaHGetAll  = "redis.setresp(3); return redis.call('hgetall', KEYS[1])"
	luaGet      = "return redis.call('get', KEYS[1])"
	luaMixed    = "return {1, 'two', {3}, false, redis.status_reply('FINE')}"
	luaError    = "return redis.error_reply('MINE failed')"
	luaBadCall  = "return redis.call('nosuch')"
	luaLoad     = "return 'loaded'"
)

// luaLoadSHA is the name SCRIPT LOAD gives luaLoad.
var luaLoadSHA = fmt.Sprintf("%x", sha1.Sum([]byte(luaLoad)))

// dumpOfV is DUMP's payload of the string "v" in Redis 7.0 (RDB 10).
const dumpOfV = "\x00\x01v\n\x00\x91\b\xce\xb2\x198\x8a\xce"

// oneServerCorpus are the sessions a pool of one server must answer as
// Redis does, byte for byte, but where a step says otherwise.
var oneServerCorpus = []corpusGroup{
	{name: "strings", steps: []corpusStep{
		step("GET", "s"), step("STRLEN", "s"), step("GETRANGE", "s", "0", "-1"),
		step("SET", "s", "hello"), step("GET", "s"), step("APPEND", "s", " world"), step("APPEND", "new", "x"),
		step("STRLEN", "s"), step("GETRANGE", "s", "0", "4"), step("SUBSTR", "s", "-5", "-1"),
		step("SETRANGE", "s", "6", "W"), step("SETRANGE", "pad", "3", "x"), step("GET", "pad"), step("GET", "s"),
		step("SET", "n", "10"), step("INCR", "n"), step("INCRBY", "n", "5"), step("DECR", "n"), step("DECRBY", "n", "3"),
		step("INCR", "fresh"), step("INCRBYFLOAT", "n", "1.5"), step("INCRBYFLOAT", "n", "0.1"), step("INCRBYFLOAT", "n", "-1e3"),
		step("GET", "n"), step("INCR", "s"), step("INCRBY", "s", "x"), step("INCRBYFLOAT", "s", "1"),
		step("SET", "max", "9223372036854775807"), step("INCR", "max"),
		step("SETNX", "s", "x"), step("SETNX", "s2", "x"), step("GETSET", "s2", "y"), step("GETDEL", "s2"), step("GETDEL", "s2"),
		// A TTL counts down from when each server set it: by shape, lest a
		// slow moment between the two make it differ by one.
		step("SET", "t", "v", "EX", "100"), shape("TTL", "t"), step("GETEX", "t", "PERSIST"), step("TTL", "t"),
		step("GETEX", "t", "EX", "100"), shape("TTL", "t"), step("GETEX", "missing"),
		step("SETEX", "t2", "100", "v"), shape("TTL", "t2"), step("PSETEX", "t3", "100000", "v"), shape("PTTL", "t3"),
		step("SETEX", "t4", "0", "v"), step("SETEX", "t4", "x", "v"),
		step("SET", "o", "v", "GET"), step("SET", "o", "w", "GET"), step("SET", "o", "x", "NX"), step("SET", "o", "x", "XX", "KEEPTTL"),
		step("SET", "o", "x", "NX", "XX"), step("SET", "o", "x", "EX", "-1"),
		step("MSET", "a", "1", "b", "2"), step("MGET", "a", "missing", "b"), step("MSETNX", "a", "1", "c", "3"),
		step("MSETNX", "c", "3", "d", "4"), step("MGET", "c", "d"),
		step("SET", "l1", "ohmytext"), step("SET", "l2", "mynewtext"), step("LCS", "l1", "l2"), step("LCS", "l1", "l2", "LEN"),
		step("LCS", "l1", "l2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"),
		step("RPUSH", "list", "x"), step("GET", "list"), step("APPEND", "list", "x"), step("GETDEL", "list"),
		step("GET"), step("SET", "s"), step("GETRANGE", "s", "0"), step("MGET"), step("MSET", "a"), step("MSET", "a", "1", "b"),
	}},
	{name: "bitmaps", steps: []corpusStep{
		step("SETBIT", "b", "7", "1"), step("SETBIT", "b", "100", "1"), step("SETBIT", "b", "7", "1"),
		step("GETBIT", "b", "7"), step("GETBIT", "b", "8"), step("GETBIT", "missing", "0"),
		step("SETBIT", "b", "x", "1"), step("SETBIT", "b", "1", "2"),
		step("BITCOUNT", "b"), step("BITCOUNT", "b", "0", "0"), step("BITCOUNT", "b", "0", "99", "BIT"), step("BITCOUNT", "missing"),
		step("BITPOS", "b", "1"), step("BITPOS", "b", "0"), step("BITPOS", "b", "1", "1", "-1", "BYTE"), step("BITPOS", "missing", "1"),
		step("SET", "b2", "\xff\x0f"), step("BITOP", "AND", "dest", "b", "b2"), step("GET", "dest"),
		step("BITOP", "NOT", "dest", "b2"), step("GET", "dest"), step("BITOP", "NOT", "dest", "b", "b2"),
		step("BITFIELD", "bf", "SET", "u8", "0", "255", "GET", "u8", "0", "INCRBY", "u8", "0", "10"),
		step("BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300", "GET", "i4", "4"),
		step("BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i8", "8", "-300"), step("BITFIELD", "bf"),
		step("BITFIELD", "bf", "GET", "u99", "0"),
		step("BITFIELD_RO", "bf", "GET", "u8", "0", "GET", "i4", "4"), step("BITFIELD_RO", "bf", "SET", "u8", "0", "1"),
		step("LPUSH", "list", "x"), step("GETBIT", "list", "0"), step("BITCOUNT", "list"),
	}},
	{name: "lists", steps: []corpusStep{
		step("LRANGE", "l", "0", "-1"), step("LLEN", "l"), step("LPOP", "l"), step("LPOP", "l", "2"), step("RPOP", "l", "2"),
		step("LPUSH", "l", "a", "b", "c"), step("RPUSH", "l", "d", "e"), step("LRANGE", "l", "0", "-1"), step("LLEN", "l"),
		step("LINDEX", "l", "0"), step("LINDEX", "l", "99"), step("LINSERT", "l", "BEFORE", "a", "x"),
		step("LINSERT", "l", "AFTER", "nope", "y"), step("LINSERT", "l", "NEAR", "a", "y"),
		step("LPOS", "l", "x"), step("LPOS", "l", "nope"), step("LPOS", "l", "a", "COUNT", "0"), step("LPOS", "l", "nope", "COUNT", "2"),
		step("LSET", "l", "0", "z"), step("LSET", "l", "99", "z"), step("LSET", "missing", "0", "z"),
		step("LREM", "l", "1", "z"), step("LTRIM", "l", "0", "3"), step("LRANGE", "l", "0", "-1"),
		step("LPOP", "l"), step("RPOP", "l"), step("LPOP", "l", "1"), step("RPOP", "l", "10"), step("LPOP", "l"),
		step("LPUSHX", "l", "a"), step("RPUSHX", "l", "q"), step("LPUSH", "l", "1", "2", "3"), step("RPUSHX", "l", "q"),
		step("RPOPLPUSH", "l", "l2"), step("RPOPLPUSH", "missing", "l2"), step("LMOVE", "l", "l2", "LEFT", "RIGHT"),
		step("LMOVE", "l", "l2", "UP", "RIGHT"), step("LRANGE", "l2", "0", "-1"),
		step("LMPOP", "2", "missing", "l", "LEFT", "COUNT", "2"), step("LMPOP", "1", "missing", "LEFT"), step("LMPOP", "0", "l", "LEFT"),
		step("RPUSH", "nums", "3", "1", "2", "10"), step("SORT", "nums"), step("SORT", "nums", "DESC", "LIMIT", "0", "2"),
		step("SORT", "l2", "ALPHA"), step("SORT", "l2"), step("SORT_RO", "nums"), step("SORT", "nums", "STORE", "sorted"),
		step("LRANGE", "sorted", "0", "-1"), step("SORT", "missing"),
		step("SET", "str", "v"), step("LPUSH", "str", "a"), step("LRANGE", "str", "0", "-1"), step("LPOP"), step("LPUSH", "l"),
	}},
	{name: "hashes", steps: []corpusStep{
		step("HGETALL", "h"), step("HKEYS", "h"), step("HLEN", "h"), step("HGET", "h", "f"),
		step("HSET", "h", "f1", "v1", "f2", "v2"), step("HSETNX", "h", "f1", "x"), step("HSETNX", "h", "f3", "v3"),
		step("HGET", "h", "f1"), step("HGET", "h", "nope"), step("HMGET", "h", "f1", "nope", "f2"), step("HMGET", "missing", "f"),
		step("HMSET", "h", "f4", "4"), step("HGETALL", "h"), step("HKEYS", "h"), step("HVALS", "h"), step("HLEN", "h"),
		step("HEXISTS", "h", "f1"), step("HEXISTS", "h", "nope"), step("HSTRLEN", "h", "f1"), step("HSTRLEN", "h", "nope"),
		step("HINCRBY", "h", "f4", "3"), step("HINCRBYFLOAT", "h", "f4", "1.5"), step("HINCRBYFLOAT", "h", "f5", "0.1"),
		step("HINCRBY", "h", "f1", "1"), step("HINCRBYFLOAT", "h", "f1", "1"),
		step("HDEL", "h", "f1", "nope"), step("HGETALL", "h"),
		step("HSET", "one", "only", "v"), step("HRANDFIELD", "one"), step("HRANDFIELD", "one", "2"),
		step("HRANDFIELD", "one", "2", "WITHVALUES"), step("HRANDFIELD", "one", "-2", "WITHVALUES"),
		step("HRANDFIELD", "missing"), step("HRANDFIELD", "missing", "2"),
		step("HSCAN", "h", "0"), step("HSCAN", "h", "0", "MATCH", "f[23]", "COUNT", "10"), step("HSCAN", "missing", "0"),
		step("SET", "str", "v"), step("HGET", "str", "f"), step("HGETALL", "str"), step("HSET", "h", "f"), step("HMSET", "h", "f"),
	}},
	{name: "sets", steps: []corpusStep{
		step("SMEMBERS", "si"), step("SCARD", "si"), step("SISMEMBER", "si", "1"),
		// Members that are integers make an intset, in numeric order; others
		// a hash table, in the order of a seed of each server's own.
		step("SADD", "si", "3", "1", "2"), step("SADD", "si", "2"), step("SMEMBERS", "si"), step("SCARD", "si"),
		step("SADD", "ss", "a", "b", "c"), unordered("SMEMBERS", "ss"),
		step("SISMEMBER", "ss", "a"), step("SISMEMBER", "ss", "z"), step("SMISMEMBER", "ss", "a", "z"), step("SMISMEMBER", "missing", "a"),
		step("SREM", "ss", "c", "z"), unordered("SMEMBERS", "ss"),
		step("SADD", "one", "m"), step("SPOP", "one"), step("SPOP", "one"), step("SPOP", "missing", "2"),
		step("SADD", "one", "m"), step("SRANDMEMBER", "one"), step("SRANDMEMBER", "si", "10"), step("SRANDMEMBER", "one", "-2"),
		step("SRANDMEMBER", "missing"), step("SRANDMEMBER", "missing", "3"),
		step("SADD", "sj", "2", "3", "4"), step("SMOVE", "si", "sj", "1"), step("SMOVE", "si", "sj", "9"),
		step("SINTER", "si", "sj"), step("SUNION", "si", "sj"), step("SDIFF", "sj", "si"), unordered("SUNION", "ss", "si"),
		step("SINTER", "si", "missing"), step("SINTERSTORE", "dst", "si", "sj"), step("SUNIONSTORE", "dst", "si", "sj"),
		step("SDIFFSTORE", "dst", "sj", "si"), step("SMEMBERS", "dst"),
		step("SINTERCARD", "2", "si", "sj"), step("SINTERCARD", "2", "si", "sj", "LIMIT", "1"), step("SINTERCARD", "0", "si"),
		step("SSCAN", "si", "0"), unordered("SSCAN", "ss", "0"), step("SSCAN", "si", "0", "MATCH", "1*"),
		step("SADD", "sp", "5", "6"), step("SPOP", "sp", "5"), step("SMEMBERS", "sp"),
		step("SET", "str", "v"), step("SADD", "str", "a"), step("SMEMBERS", "str"), step("SINTER", "str", "si"), step("SADD", "s"),
	}},
	{name: "sorted sets", steps: []corpusStep{
		step("ZRANGE", "z", "0", "-1"), step("ZSCORE", "z", "a"), step("ZCARD", "z"), step("ZPOPMIN", "z"), step("ZPOPMAX", "z", "2"),
		step("ZADD", "z", "1", "a", "2.5", "b", "3", "c"), step("ZADD", "z", "INCR", "0.25", "a"), step("ZADD", "z", "NX", "INCR", "1", "a"),
		step("ZADD", "z", "XX", "CH", "4", "c"), step("ZADD", "z", "nan", "x"), step("ZADD", "z", "1"),
		step("ZSCORE", "z", "b"), step("ZSCORE", "z", "nope"), step("ZMSCORE", "z", "a", "nope", "c"), step("ZMSCORE", "missing", "a"),
		step("ZINCRBY", "z", "1.5", "c"), step("ZINCRBY", "z", "x", "c"), step("ZADD", "z", "0.1", "p", "inf", "i", "-inf", "ni"),
		step("ZSCORE", "z", "p"), step("ZSCORE", "z", "i"), step("ZSCORE", "z", "ni"),
		step("ZCARD", "z"), step("ZCOUNT", "z", "1", "3"), step("ZCOUNT", "z", "(1", "+inf"), step("ZLEXCOUNT", "z", "-", "+"),
		step("ZRANK", "z", "b"), step("ZRANK", "z", "nope"), step("ZREVRANK", "z", "b"), step("ZREVRANK", "z", "nope"),
		step("ZRANGE", "z", "0", "-1"), step("ZRANGE", "z", "0", "-1", "WITHSCORES"), step("ZRANGE", "z", "(1", "5", "BYSCORE", "WITHSCORES"),
		step("ZRANGE", "z", "5", "(1", "BYSCORE", "REV", "LIMIT", "0", "2", "WITHSCORES"), step("ZRANGE", "missing", "0", "-1", "WITHSCORES"),
		step("ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "0", "3"), step("ZREVRANGEBYSCORE", "z", "+inf", "-inf"),
		step("ZREVRANGE", "z", "0", "1", "WITHSCORES"), step("ZRANGEBYSCORE", "z", "x", "1"),
		step("ZADD", "zl", "0", "a", "0", "b", "0", "c"), step("ZRANGEBYLEX", "zl", "-", "+"), step("ZRANGEBYLEX", "zl", "[b", "+", "LIMIT", "0", "1"),
		step("ZREVRANGEBYLEX", "zl", "+", "-"), step("ZRANGEBYLEX", "zl", "b", "+"),
		step("ZRANGESTORE", "zd", "z", "0", "1"), step("ZRANGE", "zd", "0", "-1", "WITHSCORES"),
		step("ZPOPMIN", "zd"), step("ZPOPMAX", "zd", "5"), step("ZPOPMIN", "zd"), step("ZPOPMIN", "zd", "2"),
		step("ZMPOP", "2", "missing", "z", "MIN", "COUNT", "2"), step("ZMPOP", "1", "missing", "MAX"),
		step("ZADD", "zone", "1.5", "m"), step("ZRANDMEMBER", "zone"), step("ZRANDMEMBER", "zone", "1", "WITHSCORES"),
		step("ZRANDMEMBER", "zone", "-2", "WITHSCORES"), step("ZRANDMEMBER", "missing"), step("ZRANDMEMBER", "missing", "1", "WITHSCORES"),
		step("ZADD", "z2", "1", "b", "2", "x"), step("ZUNION", "2", "z", "z2", "WITHSCORES"), step("ZINTER", "2", "z", "z2", "WITHSCORES"),
		step("ZINTER", "2", "z", "z2", "AGGREGATE", "MAX"), step("ZDIFF", "2", "z", "z2", "WITHSCORES"), step("ZDIFF", "1", "missing"),
		step("ZUNIONSTORE", "zu", "2", "z", "z2", "WEIGHTS", "2", "0.5"), step("ZRANGE", "zu", "0", "-1", "WITHSCORES"),
		step("ZINTERSTORE", "zi", "2", "z", "z2"), step("ZDIFFSTORE", "zdf", "2", "z", "z2"), step("ZINTERCARD", "2", "z", "z2"),
		step("ZUNION", "3", "z", "z2"), step("ZUNIONSTORE", "zu", "0", "z"),
		step("ZSCAN", "z", "0"), step("ZSCAN", "z", "0", "MATCH", "[ab]"), step("ZSCAN", "missing", "0"),
		step("ZREM", "z", "a", "nope"), step("ZREMRANGEBYRANK", "z", "0", "0"), step("ZREMRANGEBYSCORE", "z", "-inf", "(3"),
		step("ZREMRANGEBYLEX", "zl", "[a", "[b"), step("ZRANGE", "z", "0", "-1", "WITHSCORES"), step("ZRANGE", "zl", "0", "-1"),
		step("SET", "str", "v"), step("ZADD", "str", "1", "a"), step("ZSCORE", "str", "a"), step("ZRANGE", "str", "0", "-1"),
	}},
	{name: "hyperloglog", steps: []corpusStep{
		step("PFCOUNT", "hll"), step("PFADD", "hll", "a", "b", "c"), step("PFADD", "hll", "a"), step("PFADD", "empty"),
		step("PFCOUNT", "hll"), step("PFADD", "hll2", "c", "d"), step("PFCOUNT", "hll", "hll2"),
		step("PFMERGE", "hll3", "hll", "hll2"), step("PFCOUNT", "hll3"), step("GET", "hll"), step("PFMERGE", "hll4"),
		step("SET", "str", "v"), step("PFADD", "str", "a"), step("PFCOUNT", "str"), step("LPUSH", "list", "a"), step("PFCOUNT", "list"),
	}},
	{name: "geo", steps: []corpusStep{
		step("GEOPOS", "g", "Palermo"), step("GEODIST", "g", "Palermo", "Catania"),
		step("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
		step("GEOADD", "g", "NX", "CH", "13.361389", "38.115556", "Palermo"), step("GEOADD", "g", "200", "100", "bad"),
		step("GEODIST", "g", "Palermo", "Catania"), step("GEODIST", "g", "Palermo", "Catania", "km"), step("GEODIST", "g", "Palermo", "nope"),
		step("GEOHASH", "g", "Palermo", "nope"), step("GEOPOS", "g", "Palermo", "nope"),
		step("GEORADIUS", "g", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "ASC"),
		step("GEORADIUS", "g", "15", "37", "200", "km", "WITHHASH", "COUNT", "1", "DESC"),
		step("GEORADIUSBYMEMBER", "g", "Palermo", "200", "km", "WITHDIST"),
		step("GEORADIUS_RO", "g", "15", "37", "200", "km", "ASC"), step("GEORADIUSBYMEMBER_RO", "g", "Palermo", "50", "km"),
		step("GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHDIST", "WITHHASH", "WITHCOORD"),
		step("GEOSEARCH", "g", "FROMMEMBER", "nope", "BYBOX", "400", "400", "km"), step("GEOSEARCH", "missing", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"),
		step("GEOSEARCHSTORE", "gd", "g", "FROMMEMBER", "Palermo", "BYBOX", "400", "400", "km", "ASC", "STOREDIST"),
		step("ZRANGE", "gd", "0", "-1", "WITHSCORES"), step("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "gs"),
		step("ZRANGE", "gs", "0", "-1", "WITHSCORES"), step("GEORADIUS", "g", "15", "37", "200", "parsecs"),
		step("SET", "str", "v"), step("GEOADD", "str", "1", "1", "a"), step("GEOPOS", "str", "a"),
	}},
	{name: "streams", steps: []corpusStep{
		step("XLEN", "x"), step("XRANGE", "x", "-", "+"), step("XADD", "nox", "NOMKSTREAM", "*", "f", "v"), step("EXISTS", "nox"),
		step("XADD", "x", "1-1", "f", "v"), step("XADD", "x", "1-2", "f", "v2", "g", "w"), step("XADD", "x", "1-1", "f", "v"),
		step("XADD", "x", "2-1", "f", "v3"), step("XLEN", "x"), step("XRANGE", "x", "-", "+"), step("XRANGE", "x", "1-2", "+", "COUNT", "1"),
		step("XREVRANGE", "x", "+", "-", "COUNT", "1"), step("XRANGE", "x", "9", "+"), step("XRANGE", "x", "x", "+"),
		step("XDEL", "x", "1-1", "7-7"), step("XTRIM", "x", "MAXLEN", "5"), step("XTRIM", "x", "MINID", "0"), step("XADD", "x", "3-1", "h", "v"),
		step("XSETID", "x", "5-0"), step("XSETID", "x", "1-0"),
		step("XGROUP", "CREATE", "x", "g", "0"), step("XGROUP", "CREATE", "x", "g", "0"), step("XGROUP", "CREATE", "missing", "g", "0"),
		step("XGROUP", "CREATECONSUMER", "x", "g", "c1"), step("XGROUP", "SETID", "x", "g", "0"),
		step("XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "STREAMS", "x", ">"), step("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "x", ">"),
		step("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "x", "0"), step("XREADGROUP", "GROUP", "nog", "c1", "STREAMS", "x", ">"),
		step("XREAD", "COUNT", "10", "STREAMS", "x", "0"), step("XREAD", "STREAMS", "x", "9-9"), step("XREAD", "STREAMS", "x", "missing", "0", "0"),
		step("XPENDING", "x", "g"), shape("XPENDING", "x", "g", "-", "+", "10"), step("XACK", "x", "g", "1-2"), step("XACK", "x", "g", "1-2"),
		step("XCLAIM", "x", "g", "c2", "0", "2-1", "JUSTID"), step("XAUTOCLAIM", "x", "g", "c2", "0", "0-0", "JUSTID"),
		step("XAUTOCLAIM", "x", "g", "c3", "0", "0-0", "COUNT", "1"),
		step("XINFO", "STREAM", "x"), step("XINFO", "GROUPS", "x"), shape("XINFO", "CONSUMERS", "x", "g"), step("XINFO", "STREAM", "missing"),
		step("XGROUP", "DELCONSUMER", "x", "g", "c1"), step("XGROUP", "DESTROY", "x", "g"), step("XGROUP", "DESTROY", "x", "g"),
		step("SET", "str", "v"), step("XADD", "str", "*", "f", "v"), step("XLEN", "str"), step("XADD", "x", "1-1"), step("XINFO"),
	}},
	{name: "keys", steps: []corpusStep{
		step("SET", "k", "v"), step("EXISTS", "k", "nope", "k"), step("TYPE", "k"), step("TYPE", "nope"), step("DUMP", "k"), step("DUMP", "nope"),
		step("RESTORE", "k2", "0", dumpOfV), step("RESTORE", "k2", "0", dumpOfV), step("RESTORE", "k2", "0", dumpOfV, "REPLACE"),
		step("RESTORE", "k3", "0", "garbage"), step("GET", "k2"),
		step("EXPIRE", "k", "100"), shape("TTL", "k"), step("EXPIRE", "k", "100", "NX"), step("PERSIST", "k"), step("PERSIST", "k"),
		step("PEXPIRE", "k", "100000", "GT"), step("EXPIREAT", "k", "4102444800"), step("EXPIRETIME", "k"), step("PEXPIRETIME", "k"),
		step("PEXPIREAT", "k", "4102444800123"), step("PEXPIRETIME", "k"), step("EXPIRETIME", "nope"), step("TTL", "nope"),
		step("PTTL", "nope"), step("EXPIRE", "nope", "1"), step("EXPIRE", "k", "x"),
		step("TOUCH", "k", "nope"), step("COPY", "k", "k3"), step("COPY", "k", "k3"), step("COPY", "k", "k3", "REPLACE"),
		step("RENAME", "k3", "k4"), step("RENAMENX", "k4", "k"), step("RENAMENX", "k4", "k5"), step("RENAME", "nope", "x"),
		step("OBJECT", "ENCODING", "k"), step("OBJECT", "ENCODING", "nope"), step("OBJECT", "REFCOUNT", "k"), shape("OBJECT", "IDLETIME", "k"),
		step("OBJECT", "FREQ", "k"), step("OBJECT", "HELP"), step("OBJECT", "ENCODING"), step("OBJECT"),
		step("MEMORY", "USAGE", "k"), step("MEMORY", "USAGE", "nope"), step("MEMORY", "USAGE"),
		unordered("KEYS", "*"), unordered("KEYS", "k[2-4]"), step("DBSIZE"), wholeScan(), wholeScan("MATCH", "k*", "COUNT", "1"),
		unordered("SCAN", "0", "TYPE", "string"), step("SCAN", "x"),
		step("DEL", "k", "nope", "k2"), step("UNLINK", "k4", "nope"), step("DEL", "k5"), step("RANDOMKEY"), step("DEL"), step("DBSIZE"),
		step("RANDOMKEY"), step("FLUSHDB"), step("DBSIZE"), step("KEYS", "*"),
	}},
	{name: "scripts", steps: []corpusStep{
		step("SET", "k", "v"), step("HSET", "h", "f", "v"),
		step("EVAL", "return 1", "1", "k"), step("EVAL", luaGet, "1", "k"), step("EVAL", luaGet, "1", "nope"), step("EVAL", luaMixed, "1", "k"),
		step("EVAL", luaTrue, "1", "k"), step("EVAL", luaFalse, "1", "k"), step("EVAL", "return true", "1", "k"), step("EVAL", "return false", "1", "k"),
		step("EVAL", luaDouble, "1", "k"), step("EVAL", luaBigNum, "1", "k"), step("EVAL", luaVerbatim, "1", "k"),
		step("EVAL", luaMap, "1", "k"), step("EVAL", luaSet, "1", "k"), step("EVAL", luaHGetAll, "1", "h"),
		step("EVAL", luaError, "1", "k"), step("EVAL", luaBadCall, "1", "k"), step("EVAL", "return", "x"), step("EVAL", "syntax error", "1", "k"),
		step("EVAL_RO", luaGet, "1", "k"), step("EVAL_RO", "return redis.call('set', KEYS[1], 'x')", "1", "k"),
		step("SCRIPT", "LOAD", luaLoad), step("EVALSHA", luaLoadSHA, "1", "k"), step("EVALSHA_RO", luaLoadSHA, "1", "k"),
		step("SCRIPT", "EXISTS", luaLoadSHA, "nope"), step("SCRIPT", "FLUSH"), step("SCRIPT", "EXISTS", luaLoadSHA),
		step("EVALSHA", luaLoadSHA, "1", "k"), step("EVALSHA", "nope", "1", "k"), step("SCRIPT", "FLUSH", "ASYNC"),
		step("SCRIPT", "FLUSH", "SOMEDAY"), step("SCRIPT", "BOGUS"), step("SCRIPT", "LOAD"), step("SCRIPT"),
		step("FCALL", "nosuch", "1", "k"), step("FCALL_RO", "nosuch", "1", "k"), step("EVAL"),
	}},
	{name: "server", steps: []corpusStep{
		step("COMMAND", "COUNT"), step("COMMAND", "INFO", "get", "nosuch"), step("COMMAND", "DOCS", "get"),
		step("COMMAND", "GETKEYS", "set", "a", "b"), step("COMMAND", "GETKEYS", "ping"),
		shape("LOLWUT"), shape("TIME"), shape("LASTSAVE"), shape("INFO"), shape("INFO", "server", "keyspace"),
		shape("INFO", "clients"), shape("INFO", "persistence", "stats"), step("INFO", "nosuch"),
		step("SET", "a", "1"), keyspace(), step("DBSIZE"), step("FLUSHALL", "SYNC"), keyspace(), step("FLUSHDB", "ASYNC"),
		step("TIME", "x"), step("DBSIZE", "x"), step("LASTSAVE", "x"), step("RANDOMKEY", "x"), step("KEYS"),
	}},
	{name: "local", steps: []corpusStep{
		step("PING"), step("PING", "hi"), step("PING", "a", "b"), step("ECHO", "hi"), step("ECHO", ""), step("ECHO"),
		step("SELECT", "0"), step("SELECT"), step("AUTH", "x"), step("AUTH", "default", "x"),
		step("CLIENT", "GETNAME"), step("CLIENT", "SETNAME", "n1"), step("CLIENT", "GETNAME"), step("CLIENT", "SETNAME", "a b"),
		step("CLIENT", "SETNAME", ""), step("CLIENT", "GETNAME"), masked("CLIENT", "ID"), shape("CLIENT", "INFO"), shape("CLIENT", "LIST"),
		step("CLIENT", "NO-EVICT", "on"), step("CLIENT", "BOGUS"), step("CLIENT"),
		step("FOO", "a", "b"), step("foo"), masked("HELLO"), masked("HELLO", "2", "SETNAME", "n2"), step("CLIENT", "GETNAME"),
		step("HELLO", "4"), step("HELLO", "x"), step("QUIT"),
	}},
	{name: "protocol switch", resp3Only: true, steps: []corpusStep{
		step("CLIENT", "SETNAME", "n"), step("GET", "nope"), step("CLIENT", "GETNAME"),
		masked("HELLO", "2"), step("GET", "nope"), step("HSET", "h", "f", "v"), step("HGETALL", "h"), step("CLIENT", "GETNAME"),
		masked("HELLO", "3"), step("GET", "nope"), step("HGETALL", "h"), shape("CLIENT", "INFO"),
		step("RESET"), step("GET", "nope"), step("HGETALL", "h"), step("CLIENT", "GETNAME"), shape("CLIENT", "INFO"),
		masked("HELLO", "3", "SETNAME", "m"), step("CLIENT", "GETNAME"), step("ZADD", "z", "1.5", "m"), step("ZSCORE", "z", "m"),
		fromOther("ZSCORE", "z", "m"), fromOther("HGETALL", "h"), step("HGETALL", "h"), masked("HELLO", "3", "AUTH", "default", "x"),
		// Requests written at once: each is read in the protocol the
		// one before it left.
		pipelined([]string{"HELLO", "2"}, []string{"HGETALL", "h"}, []string{"HELLO", "3"}, []string{"HGETALL", "h"},
			[]string{"ZSCORE", "z", "m"}, []string{"RESET"}, []string{"ZSCORE", "z", "m"}, []string{"HELLO", "3"}, []string{"GET", "nope"}),
		// A write, then a read in the other protocol: it sees the write.
		pipelined([]string{"SET", "k", "1"}, []string{"HELLO", "2"}, []string{"GET", "k"}, []string{"INCR", "k"},
			[]string{"HELLO", "3"}, []string{"GET", "k"}, []string{"DEL", "k"}, []string{"RESET"}, []string{"EXISTS", "k"}),
		pipelined([]string{"MULTI"}, []string{"HGETALL", "h"}, []string{"ZSCORE", "z", "m"}, []string{"EXEC"}, []string{"HELLO", "2"},
			[]string{"MULTI"}, []string{"HGETALL", "h"}, []string{"ZSCORE", "z", "m"}, []string{"EXEC"}),
	}},
}

// threeServerCorpus are the sessions a pool of three servers with the
// "{}" hash tag must answer as one redis-server with the same data does:
// the commands it splits per server or sends to every server, and
// transactions on one hash tag.
var threeServerCorpus = []corpusGroup{
	{name: "split and fan-out", steps: []corpusStep{
		step("RANDOMKEY"), step("DBSIZE"), step("KEYS", "*"), wholeScan(), keyspace(),
		step("MSET", "apple", "1", "banana", "2", "cherry", "3", "damson", "4", "elder", "5", "fig", "6"), step("MSET", "grape", "7"),
		step("MGET", "apple", "banana", "nope", "cherry", "damson", "nope2", "elder", "fig", "grape"), step("MGET", "nope"),
		step("EXISTS", "apple", "banana", "nope", "cherry", "apple"), step("TOUCH", "apple", "nope", "banana", "cherry", "damson"),
		step("DBSIZE"), unordered("KEYS", "*"), unordered("KEYS", "[a-c]*"), unordered("KEYS", "nope*"),
		wholeScan(), wholeScan("COUNT", "1"), wholeScan("MATCH", "[a-d]*"), keyspace(),
		step("DEL", "apple", "nope", "banana"), step("UNLINK", "cherry", "damson", "nope"), step("DBSIZE"), step("DEL", "elder", "fig"),
		step("RANDOMKEY"), step("MGET", "grape", "apple"), keyspace(), step("RPUSH", "list", "x"),
		step("MGET", "apple", "list", "grape", "nope"), step("EXISTS", "list", "grape"), step("DEL", "list"),
		step("SCAN", "x"), wholeScan("TYPE", "list"),
		step("MSET", "apple"), step("MSET", "apple", "1", "banana"), step("MGET"), step("DEL"), step("EXISTS"), step("TOUCH"), step("UNLINK"),
		step("SCRIPT", "LOAD", luaLoad), step("SCRIPT", "EXISTS", luaLoadSHA, "nope"), step("EVALSHA", luaLoadSHA, "1", "grape"),
		step("SCRIPT", "FLUSH"), step("SCRIPT", "EXISTS", luaLoadSHA, "nope"),
		shape("TIME"), shape("INFO"), step("FLUSHDB"), step("DBSIZE"), step("KEYS", "*"), step("RANDOMKEY"), wholeScan(), keyspace(),
		step("MSET", "apple", "1", "cherry", "3"),
		pipelined([]string{"HELLO", "3"}, []string{"MGET", "apple", "nope", "cherry"}, []string{"DEL", "nope", "cherry"},
			[]string{"RANDOMKEY"}, []string{"HELLO", "2"}, []string{"MGET", "apple", "nope", "cherry"}, []string{"DBSIZE"},
			[]string{"RANDOMKEY"}, []string{"HELLO", "3"}, []string{"MGET", "nope"}, []string{"HELLO", "2"}, []string{"MGET", "nope"}),
	}},
	{name: "transactions", steps: []corpusStep{
		step("MULTI"), step("SET", "{t}a", "1"), step("INCR", "{t}a"), step("GET", "{t}nope"), step("HSET", "{t}h", "f", "v"),
		step("HGETALL", "{t}h"), step("ZADD", "{t}z", "1.5", "m"), step("ZSCORE", "{t}z", "m"), step("ZRANGE", "{t}z", "0", "-1", "WITHSCORES"),
		step("SADD", "{t}s", "1", "2"), step("SMEMBERS", "{t}s"), step("EVAL", luaTrue, "1", "{t}a"), step("EVAL", luaDouble, "1", "{t}a"),
		step("MGET", "{t}a", "{t}nope"), step("INCR", "{t}h"), step("EXEC"),
		step("WATCH", "{t}a"), fromOther("SET", "{t}a", "2"), step("MULTI"), step("INCR", "{t}a"), step("EXEC"), step("GET", "{t}a"),
		step("WATCH", "{t}a"), step("MULTI"), step("INCR", "{t}a"), step("EXEC"),
		step("MULTI"), step("SET", "{t}a", "3"), step("DISCARD"), step("GET", "{t}a"),
		step("MULTI"), step("SET", "{t}a"), step("SET", "{t}a", "4"), step("EXEC"), step("GET", "{t}a"),
		step("MULTI"), step("NOSUCH", "{t}a"), step("EXEC"), step("MULTI"), step("EXEC"),
		step("EXEC"), step("DISCARD"), step("MULTI"), step("MULTI"), step("DISCARD"),
		step("WATCH", "{t}a"), step("UNWATCH"), step("UNWATCH"), step("WATCH"),
	}},
}

// TestCorpus replays the corpus on a redis-server and through the proxy,
// in RESP2 and RESP3, and checks that the corpus has every command the
// proxy serves.
func TestCorpus(t *testing.T) {
	ref := testutil.StartRedis(t)
	parts := []struct {
		name    string
		servers int
		groups  []corpusGroup
	}{
		{"one server", 1, oneServerCorpus},
		{"three servers", 3, threeServerCorpus},
	}
	for _, part := range parts {
		proxyAddr := startNamedPool(t, part.servers)
		for _, protocol := range []int{2, 3} {
			for _, g := range part.groups {
				if g.resp3Only && protocol != 3 {
					continue
				}
				t.Run(fmt.Sprintf("%s/RESP%d/%s", part.name, protocol, g.name), func(t *testing.T) {
					replay(t, ref.Addr, proxyAddr, protocol, g.steps)
				})
			}
		}
	}
	t.Run("every command served", func(t *testing.T) {
		used := map[string]bool{}
		for _, g := range slices.Concat(oneServerCorpus, threeServerCorpus) {
			for _, s := range g.steps {
				used[strings.ToLower(s.args[0])] = true
			}
		}
		list := testutil.Dial(t, ref.Addr).Do("COMMAND", "LIST")
		node, _ := parseReply(t, list)
		for _, name := range node.elems {
			cmd := resp.Lookup([]byte(name.data))
			// The cluster commands are served only by a cluster pool
			// (cluster_local_test.go), which no redis-server here is.
			if cmd != nil && cmd.Kind != resp.KindBlocking && cmd.Kind != resp.KindPubSub && cmd.Kind != resp.KindCluster && !used[name.data] {
				t.Errorf("%s: the proxy serves it, and the corpus has no step with it", name.data)
			}
		}
	})
}

// splitKeys are the keys of the split steps: a pool of three servers
// named s0, s1 and s2 has some of them on each (startNamedPool checks).
var splitKeys = []string{"apple", "banana", "cherry", "damson", "elder", "fig", "grape"}

// startNamedPool starts a pool of n servers named s0, s1, ... with the
// "{}" hash tag, and returns its address. Keys are placed by the names,
// whatever the servers' ports.
func startNamedPool(t *testing.T, n int) string {
	t.Helper()
	var servers []string
	for i := range n {
		servers = append(servers, fmt.Sprintf("%s:1 s%d", testutil.StartRedis(t).Addr, i))
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, poolYAML(addr, `hash_tag: "{}"`, servers...), DefaultMbufSize)
	if n > 1 {
		pl := p.poolList()[0].pool()
		on := map[int]bool{}
		for _, k := range splitKeys {
			on[pl.Route([]byte(k)).Index()] = true
		}
		if len(on) != n {
			t.Fatalf("the split keys %q are on %d of the %d servers: a split to one server tests little", splitKeys, len(on), n)
		}
	}
	return addr
}

// replay runs steps on a redis-server and through the proxy after
// FLUSHALL (and HELLO 3 first for RESP3), and fails on every step whose
// replies differ.
func replay(t *testing.T, redisAddr, proxyAddr string, protocol int, steps []corpusStep) {
	t.Helper()
	redis, proxy := newCorpusSide(t, redisAddr), newCorpusSide(t, proxyAddr)
	if protocol == 3 {
		// Without HELLO 3 answered, the whole session would differ.
		hello := masked("HELLO", "3")
		want, got := redis.run(t, hello)[0], proxy.run(t, hello)[0]
		if canonical(t, hello, got) != canonical(t, hello, want) {
			t.Fatalf("HELLO 3 opens the session: proxy %q, redis %q", got, want)
		}
	}
	flush := step("FLUSHALL")
	if want, got := redis.run(t, flush)[0], proxy.run(t, flush)[0]; got != want {
		t.Fatalf("FLUSHALL opens the session: proxy %q, redis %q", got, want)
	}
	quit := false
	for i, s := range steps {
		want, got := redis.run(t, s), proxy.run(t, s)
		for j := range want {
			if cw, cg := canonical(t, s, want[j]), canonical(t, s, got[j]); cw != cg {
				t.Errorf("step %d %s: proxy %q, redis %q", i, describeStep(s, j), clip(got[j]), clip(want[j]))
			}
		}
		quit = strings.EqualFold(s.args[0], "quit")
	}
	if quit && (!proxy.main.Closed(5*time.Second) || !redis.main.Closed(5*time.Second)) {
		t.Error("QUIT left a connection open")
	}
}

// describeStep names a step, and the request of a batch whose reply is
// request, in failure messages.
func describeStep(s corpusStep, request int) string {
	name := fmt.Sprintf("%q", s.args)
	switch {
	case s.batch != nil:
		name = fmt.Sprintf("%q, request %d of %q written at once", s.batch[request], request, s.batch)
	case s.by == sameScan:
		name += " (and on to the end of the scan)"
	case s.other:
		name += " (on the second connection)"
	}
	return name
}

// clip shortens a long reply for a failure message.
func clip(reply string) string {
	const max = 600
	if len(reply) <= max {
		return reply
	}
	return reply[:max] + fmt.Sprintf("...(%d bytes)", len(reply))
}

// corpusSide is one end of a replay: the session's connection to a
// redis-server or to the proxy, and a second one dialled when a step
// needs it.
type corpusSide struct {
	addr        string
	main, other *replyConn
}

func newCorpusSide(t *testing.T, addr string) *corpusSide {
	return &corpusSide{addr: addr, main: dialReplies(t, addr)}
}

// run sends a step and returns its reply (a batch's, one a request),
// or for sameScan the keys of a whole scan, sorted, one a line.
func (s *corpusSide) run(t *testing.T, st corpusStep) []string {
	t.Helper()
	if st.other {
		if s.other == nil {
			s.other = dialReplies(t, s.addr)
		}
		return []string{s.other.Do(t, st.args...)}
	}
	if st.batch != nil {
		var requests string
		for _, args := range st.batch {
			requests += testutil.EncodeCmd(args...)
		}
		s.main.Send(requests)
		var replies []string
		for _, args := range st.batch {
			replies = append(replies, s.main.Reply(t, args))
		}
		return replies
	}
	if st.by != sameScan {
		return []string{s.main.Do(t, st.args...)}
	}
	var keys []string
	args := slices.Clone(st.args)
	for range 1000 {
		reply := s.main.Do(t, args...)
		node, _ := parseReply(t, reply)
		if node.typ != '*' || len(node.elems) != 2 {
			return []string{reply} // an error: compared as it is
		}
		args[1] = node.elems[0].data
		for _, k := range node.elems[1].elems {
			keys = append(keys, k.data)
		}
		if args[1] == "0" {
			slices.Sort(keys)
			return []string{"keys:\n" + strings.Join(keys, "\n")}
		}
	}
	t.Fatalf("SCAN %q: no end after 1000 calls", st.args)
	return nil
}

// replyConn is a connection whose replies are framed by the proxy's own
// RESP2 and RESP3 reply parser.
type replyConn struct {
	*testutil.Client
	buf []byte // bytes read after the last reply
}

func dialReplies(t *testing.T, addr string) *replyConn {
	t.Helper()
	return &replyConn{Client: testutil.Dial(t, addr)}
}

// Do sends a command and returns its reply.
func (c *replyConn) Do(t testing.TB, args ...string) string {
	t.Helper()
	c.Cmd(args...)
	return c.Reply(t, args)
}

// Reply reads the reply, of any RESP type, to the request args.
func (c *replyConn) Reply(t testing.TB, args []string) string {
	t.Helper()
	var p resp.ReplyParser
	chunk := make([]byte, 16<<10)
	c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := p.Parse(c.buf)
		if err != nil {
			t.Fatalf("%q: reply %q: %v", args, clip(string(c.buf)), err)
		}
		if n > 0 {
			reply := string(c.buf[:n])
			c.buf = append(c.buf[:0], c.buf[n:]...)
			return reply
		}
		read, err := c.R.Read(chunk)
		if err != nil {
			t.Fatalf("%q: read reply: %v (read %q)", args, err, clip(string(c.buf)))
		}
		c.buf = append(c.buf, chunk[:read]...)
	}
}

// replyNode is a reply parsed into its parts, for the comparisons that
// look inside replies.
type replyNode struct {
	typ   byte
	line  string // the rest of the header line: a simple value or a length
	data  string // a bulk's, blob error's or verbatim string's data
	elems []replyNode
}

// parseReply parses the reply at the start of s, which the reply parser
// has framed, and returns it and the bytes after it.
func parseReply(t testing.TB, s string) (replyNode, string) {
	t.Helper()
	line, rest, ok := strings.Cut(s, "\r\n")
	if !ok || line == "" {
		t.Fatalf("malformed reply %q", clip(s))
	}
	n := replyNode{typ: line[0], line: line[1:]}
	size, err := strconv.Atoi(n.line)
	switch n.typ {
	case '$', '!', '=':
		if err != nil || size < 0 {
			return n, rest // a null bulk
		}
		n.data, rest = rest[:size], rest[size+2:]
	case '*', '~', '%', '>', '|':
		if n.typ == '%' || n.typ == '|' {
			size *= 2
		}
		for range size {
			var e replyNode
			e, rest = parseReply(t, rest)
			n.elems = append(n.elems, e)
		}
	}
	return n, rest
}

// render writes a node back as RESP, with the elements of every
// aggregate (a map's key-value pairs) sorted when sorted is set.
func (n replyNode) render(sorted bool) string {
	head := string(n.typ) + n.line + "\r\n"
	switch {
	case n.line == "-1":
		return head
	case strings.IndexByte("*~%>|", n.typ) >= 0:
		width := 1
		if n.typ == '%' || n.typ == '|' {
			width = 2
		}
		var parts []string
		for i := 0; i < len(n.elems); i += width {
			var part string
			for _, e := range n.elems[i : i+width] {
				part += e.render(sorted)
			}
			parts = append(parts, part)
		}
		if sorted {
			slices.Sort(parts)
		}
		return head + strings.Join(parts, "")
	case n.typ == '$', n.typ == '!', n.typ == '=':
		return head + n.data + "\r\n"
	}
	return head
}

// shape is a node's types, aggregate lengths and verbatim formats.
func (n replyNode) shape() string {
	switch {
	case n.typ == '=':
		return "=" + n.data[:4]
	case n.line == "-1":
		return string(n.typ) + "-1"
	case strings.IndexByte("*~%>|", n.typ) >= 0:
		var b strings.Builder
		b.WriteString(string(n.typ) + "[")
		for _, e := range n.elems {
			b.WriteString(e.shape())
		}
		return b.String() + "]"
	}
	return string(n.typ)
}

// canonical returns what of a step's reply its comparison looks at.
func canonical(t testing.TB, s corpusStep, reply string) string {
	t.Helper()
	switch s.by {
	case sameMasked:
		return handshakeVaries.ReplaceAllString(reply, "$1")
	case sameElements:
		n, _ := parseReply(t, reply)
		return n.render(true)
	case sameShape:
		n, _ := parseReply(t, reply)
		return n.shape()
	case sameKeyspace:
		n, _ := parseReply(t, reply)
		var dbs []string
		for _, line := range strings.Split(strings.TrimPrefix(n.data, "txt:"), "\r\n") {
			if strings.HasPrefix(line, "db") {
				dbs = append(dbs, line)
			}
		}
		return string(n.typ) + strings.Join(dbs, ";")
	}
	return reply
}

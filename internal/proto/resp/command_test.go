package resp

import (
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// compatCommands is COMPAT.md §2.5, the commands twemproxy 0.5 accepts.
const compatCommands = `
COPY DEL EXISTS EXPIRE EXPIREAT PEXPIRE PEXPIREAT PERSIST PTTL SORT TOUCH TTL TYPE UNLINK DUMP RESTORE
APPEND BITCOUNT BITFIELD BITPOS DECR DECRBY GET GETBIT GETDEL GETEX GETRANGE GETSET INCR INCRBY
INCRBYFLOAT MGET MSET PSETEX SET SETBIT SETEX SETNX SETRANGE STRLEN
HDEL HEXISTS HGET HGETALL HINCRBY HINCRBYFLOAT HKEYS HLEN HMGET HMSET HRANDFIELD HSET HSETNX HSCAN
HSTRLEN HVALS
LINDEX LINSERT LLEN LMOVE LPOP LPOS LPUSH LPUSHX LRANGE LREM LSET LTRIM RPOP RPOPLPUSH RPUSH RPUSHX
SADD SCARD SDIFF SDIFFSTORE SINTER SINTERSTORE SISMEMBER SMISMEMBER SMEMBERS SMOVE SPOP SRANDMEMBER
SREM SUNION SUNIONSTORE SSCAN
ZADD ZCARD ZCOUNT ZDIFF ZDIFFSTORE ZINCRBY ZINTER ZINTERSTORE ZLEXCOUNT ZMSCORE ZPOPMIN ZPOPMAX
ZRANDMEMBER ZRANGE ZRANGEBYLEX ZRANGEBYSCORE ZRANGESTORE ZRANK ZREM ZREMRANGEBYRANK ZREMRANGEBYLEX
ZREMRANGEBYSCORE ZREVRANGE ZREVRANGEBYLEX ZREVRANGEBYSCORE ZREVRANK ZUNION ZSCAN ZSCORE ZUNIONSTORE
PFADD PFCOUNT PFMERGE
GEOADD GEODIST GEOHASH GEORADIUS GEORADIUSBYMEMBER GEOPOS GEOSEARCH GEOSEARCHSTORE
EVAL EVALSHA
PING QUIT AUTH COMMAND LOLWUT`

// redis7Commands are Redis 7.0's commands with keys beyond twemproxy's
// list, and the blocking and pub/sub commands, refused with their reason.
const redis7Commands = `
BITFIELD_RO BITOP EVAL_RO EVALSHA_RO EXPIRETIME FCALL FCALL_RO GEORADIUS_RO GEORADIUSBYMEMBER_RO LCS
LMPOP MEMORY MSETNX OBJECT PEXPIRETIME RENAME RENAMENX SINTERCARD SORT_RO SUBSTR ZINTERCARD ZMPOP
XACK XADD XAUTOCLAIM XCLAIM XDEL XGROUP XINFO XLEN XPENDING XRANGE XREAD XREADGROUP XREVRANGE XSETID XTRIM
BLMOVE BLMPOP BLPOP BRPOP BRPOPLPUSH BZMPOP BZPOPMAX BZPOPMIN WAIT
PSUBSCRIBE PUBLISH PUBSUB PUNSUBSCRIBE SPUBLISH SSUBSCRIBE SUBSCRIBE SUNSUBSCRIBE UNSUBSCRIBE`

func TestCommandTable(t *testing.T) {
	// Beyond COMPAT §2.5: SELECT 0, the connection handshake, RESET,
	// transactions, the commands of every server and a cluster pool's.
	want := map[string]bool{}
	for _, name := range strings.Fields("select hello client echo reset multi exec discard watch unwatch " +
		"dbsize keys scan randomkey flushdb flushall script info time lastsave " +
		"cluster readonly readwrite asking") {
		want[name] = true
	}
	for _, name := range strings.Fields(compatCommands + redis7Commands) {
		want[strings.ToLower(name)] = true
	}
	if len(commands) != len(want) || len(byName) != len(commands) {
		t.Errorf("%d commands, %d names, want %d", len(commands), len(byName), len(want))
	}
	for _, c := range commands {
		if !want[c.Name] {
			t.Errorf("%s is not in COMPAT §2.5, Redis 7's keyed commands nor the handshake", c.Name)
		}
		if !redisCommands[c.Name] {
			t.Errorf("%s is not a Redis 7.0 command", c.Name)
		}
		if len(c.Name) > maxNameLen {
			t.Errorf("%s is longer than maxNameLen", c.Name)
		}
		if c.Arity == 0 {
			t.Errorf("%s: arity 0", c.Name)
		}
	}
	for name := range want {
		for _, spelled := range []string{name, strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:]} {
			if c := Lookup([]byte(spelled)); c == nil || c.Name != name {
				t.Errorf("Lookup(%q) = %v", spelled, c)
			}
		}
	}
}

func TestCommandKinds(t *testing.T) {
	for name, want := range map[string]Command{
		"get":         {Kind: KindSingle, KeyIndex: 1},
		"xadd":        {Kind: KindSingle, KeyIndex: 1},
		"mget":        {Kind: KindMulti, KeyIndex: 1},
		"del":         {Kind: KindMulti, KeyIndex: 1},
		"unlink":      {Kind: KindMulti, KeyIndex: 1},
		"touch":       {Kind: KindMulti, KeyIndex: 1},
		"exists":      {Kind: KindMulti, KeyIndex: 1},
		"mset":        {Kind: KindMultiKV, KeyIndex: 1},
		"msetnx":      {Kind: KindTogether, KeyIndex: 1},
		"sunion":      {Kind: KindTogether, KeyIndex: 1},
		"bitop":       {Kind: KindTogether, KeyIndex: 2},
		"zunion":      {Kind: KindTogether, KeyIndex: 2},
		"zunionstore": {Kind: KindTogether, KeyIndex: 1},
		"eval":        {Kind: KindTogether, KeyIndex: 3},
		"evalsha":     {Kind: KindTogether, KeyIndex: 3},
		"xread":       {Kind: KindTogether},
		"object":      {Kind: KindSubcmd, KeyIndex: 2},
		"blpop":       {Kind: KindBlocking},
		"subscribe":   {Kind: KindPubSub},
		"ping":        {Kind: KindPing},
		"quit":        {Kind: KindQuit},
		"auth":        {Kind: KindAuth},
		"select":      {Kind: KindSelect},
		"command":     {Kind: KindAnyServer},
		"lolwut":      {Kind: KindAnyServer},
	} {
		c := Lookup([]byte(name))
		if c == nil || c.Kind != want.Kind || c.KeyIndex != want.KeyIndex {
			t.Errorf("%s: %+v, want kind %d key index %d", name, c, want.Kind, want.KeyIndex)
		}
	}
	for _, c := range commands {
		_, hasSpec := keySpecs[c.Name]
		_, hasSubs := subcommands[c.Name]
		switch {
		case c.Kind == KindSingle && c.KeyIndex != 1:
			t.Errorf("%s: key index %d", c.Name, c.KeyIndex)
		case (c.Kind == KindTogether) != hasSpec:
			t.Errorf("%s: kind %d, key spec %v", c.Name, c.Kind, hasSpec)
		case (c.Kind == KindSubcmd) != hasSubs:
			t.Errorf("%s: kind %d, subcommands %v", c.Name, c.Kind, hasSubs)
		}
	}
}

func TestLookupUnsupported(t *testing.T) {
	for _, name := range []string{
		"", "g", "gett", "config", "move", "migrate", "monitor", "slowlog", "stralgo",
		"pfdebug", "restore-asking", "function",
		"GET\x00", "get ", "georadiusbymemberxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	} {
		if c := Lookup([]byte(name)); c != nil {
			t.Errorf("Lookup(%q) = %+v, want nil", name, c)
		}
	}
}

func TestCheckArity(t *testing.T) {
	for _, c := range []struct {
		name string
		argc int
		ok   bool
	}{
		{"get", 2, true}, {"get", 1, false}, {"get", 3, false},
		{"mget", 1, false}, {"mget", 2, true}, {"mget", 100, true},
		{"mset", 1, false}, {"mset", 2, false}, {"mset", 3, true}, {"mset", 4, false}, {"mset", 5, true},
		{"ping", 1, true}, {"ping", 2, true},
		{"eval", 2, false}, {"eval", 3, true},
		{"xreadgroup", 6, false}, {"xreadgroup", 7, true}, {"rename", 4, false},
		{"select", 2, true}, {"select", 3, false},
		{"hset", 4, true}, {"hset", 5, true}, {"hset", 3, false},
	} {
		if got := Lookup([]byte(c.name)).CheckArity(c.argc); got != c.ok {
			t.Errorf("%s.CheckArity(%d) = %v, want %v", c.name, c.argc, got, c.ok)
		}
	}
}

// TestArityMatchesRedis compares every arity with COMMAND INFO of a live
// Redis 7.
func TestArityMatchesRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	srv := testutil.StartRedis(t)
	cl := testutil.Dial(t, srv.Addr)
	for _, c := range commands {
		reply := []byte(cl.Do("COMMAND", "INFO", c.Name))
		outer, err := ArrayElems(reply, nil)
		if err != nil || len(outer) != 1 {
			t.Errorf("%s: COMMAND INFO replied %q", c.Name, testutil.Trunc(reply))
			continue
		}
		info, err := ArrayElems(outer[0], nil)
		if err != nil || len(info) < 2 {
			t.Errorf("%s: unknown to redis: %q", c.Name, testutil.Trunc(outer[0]))
			continue
		}
		arity, err := ParseInt(info[1])
		if err != nil {
			t.Errorf("%s: arity %q: %v", c.Name, info[1], err)
			continue
		}
		if int(arity) != c.Arity {
			t.Errorf("%s: arity %d, redis says %d", c.Name, c.Arity, arity)
		}
	}
}

func TestLookupNoAlloc(t *testing.T) {
	names := [][]byte{[]byte("GET"), []byte("zRemRangeByScore"), []byte("keys"), []byte("georadiusbymember")}
	if a := testing.AllocsPerRun(100, func() {
		for _, n := range names {
			Lookup(n)
		}
	}); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}

// TestCommandNamed: the check Decode makes before looking a command up
// again (isWord with the last command's name) matches the command's name
// in any letter case, and nothing else.
func TestCommandNamed(t *testing.T) {
	get := Lookup([]byte("get"))
	for _, c := range []struct {
		name string
		want bool
	}{
		{"get", true}, {"GET", true}, {"gEt", true},
		{"ge", false}, {"gets", false}, {"set", false}, {"GET\x00", false}, {"", false},
		{"g\xc5t", false}, {"G%T", false},
	} {
		if got := isWord([]byte(c.name), get.Name); got != c.want {
			t.Errorf("isWord(%q, %q) = %v, want %v", c.name, get.Name, got, c.want)
		}
	}
}

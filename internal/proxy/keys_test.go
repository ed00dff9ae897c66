package proxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// words splits a command written as words; a word in quotes ('...') may
// hold spaces.
func words(line string) []string {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '\'' {
			end := strings.IndexByte(line[1:], '\'') + 1
			out, line = append(out, line[1:end]), line[end+1:]
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		out, line = append(out, word), rest
	}
	return out
}

// TestTogetherAsRedis runs every command whose keys must live together,
// and the streams commands, with keys sharing a hash tag through a proxy
// of two servers, and compares the replies with a lone redis-server's.
func TestTogetherAsRedis(t *testing.T) {
	tp := startProxy(t, 2, `hash_tag: "{}"`)
	lone := testutil.StartRedis(t)
	steps := []string{
		// sets (of integers, whose order is theirs, not a hash table's)
		"SADD {t}s1 1 2 3", "SADD {t}s2 2 3 4",
		"SUNION {t}s1 {t}s2", "SINTER {t}s1 {t}s2", "SDIFF {t}s1 {t}s2", "SINTERCARD 2 {t}s1 {t}s2 LIMIT 1",
		"SUNIONSTORE {t}s3 {t}s1 {t}s2", "SINTERSTORE {t}s4 {t}s1 {t}s2", "SDIFFSTORE {t}s5 {t}s1 {t}s2",
		"SMOVE {t}s1 {t}s2 1", "SMEMBERS {t}s3", "SCARD {t}s4", "SMEMBERS {t}s5", "SCARD {t}s2",
		// keys and strings
		"SET {t}a 1", "RENAME {t}a {t}b", "RENAMENX {t}b {t}s1", "COPY {t}b {t}c", "GET {t}c",
		"MSETNX {t}m1 1 {t}m2 2", "MSETNX {t}m2 3 {t}m3 4", "MGET {t}m1 {t}m2 {t}m3",
		"SET {t}x foobar", "SET {t}y fobar", "BITOP OR {t}d {t}x {t}y", "GET {t}d", "LCS {t}x {t}y",
		"LCS {t}x {t}y LEN", "OBJECT ENCODING {t}s1", "OBJECT REFCOUNT {t}x", "OBJECT HELP", "EXPIRETIME {t}x",
		"SUBSTR {t}x 0 2", "BITFIELD_RO {t}x GET u8 0",
		// lists
		"RPUSH {t}l 3 1 2", "LMOVE {t}l {t}l2 LEFT RIGHT", "RPOPLPUSH {t}l {t}l2", "LMPOP 2 {t}l3 {t}l2 LEFT COUNT 2",
		"RPUSH {t}n 3 1 2", "SORT {t}n STORE {t}sorted", "LRANGE {t}sorted 0 -1", "SORT_RO {t}n DESC",
		"SORT {t}n BY nosort GET # LIMIT 0 2", "MSET {t}w_1 3 {t}w_2 2 {t}w_3 1 {t}v_1 a {t}v_2 b",
		"SORT {t}n BY {t}w_* GET # GET {t}v_*", "SORT {t}n BY w_{t}* GET {t}v_* STORE {t}byw",
		"LRANGE {t}byw 0 -1",
		// sorted sets
		"ZADD {t}z1 1 a 2 b", "ZADD {t}z2 3 b 4 c",
		"ZUNION 2 {t}z1 {t}z2 WITHSCORES", "ZINTER 2 {t}z1 {t}z2 WITHSCORES", "ZDIFF 2 {t}z1 {t}z2",
		"ZUNIONSTORE {t}z3 2 {t}z1 {t}z2 WEIGHTS 1 2", "ZINTERSTORE {t}z4 2 {t}z1 {t}z2", "ZDIFFSTORE {t}z5 2 {t}z1 {t}z2",
		"ZRANGESTORE {t}z6 {t}z3 0 1", "ZRANGE {t}z6 0 -1 WITHSCORES", "ZINTERCARD 2 {t}z1 {t}z2", "ZMPOP 2 {t}z0 {t}z1 MIN",
		// hyperloglog
		"PFADD {t}h1 a b", "PFADD {t}h2 c", "PFCOUNT {t}h1 {t}h2", "PFMERGE {t}h3 {t}h1 {t}h2", "PFCOUNT {t}h3",
		// geo
		"GEOADD {t}g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
		"GEOSEARCHSTORE {t}g2 {t}g FROMLONLAT 15 37 BYRADIUS 200 km ASC", "ZRANGE {t}g2 0 -1",
		"GEORADIUS {t}g 15 37 200 km ASC STORE {t}g3", "GEORADIUSBYMEMBER {t}g Palermo 200 km STOREDIST {t}g4",
		"ZRANGE {t}g3 0 -1", "ZRANGE {t}g4 0 -1", "GEORADIUS_RO {t}g 15 37 200 km ASC",
		// scripts
		"EVAL 'return redis.call(\"set\", KEYS[1], ARGV[1]) ' 2 {t}e1 {t}e2 v", "GET {t}e1",
		"EVAL_RO 'return redis.call(\"get\", KEYS[1])' 1 {t}e1", "EVALSHA 0123456789abcdef0123456789abcdef01234567 1 {t}e1",
		"FCALL nosuch 2 {t}e1 {t}e2", "FCALL_RO nosuch 1 {t}e1",
		// streams
		"XADD {t}x1 1-1 f v", "XADD {t}x1 2-1 f w", "XADD {t}x2 1-1 g v", "XLEN {t}x1",
		"XRANGE {t}x1 - +", "XREVRANGE {t}x1 + - COUNT 1", "XREAD COUNT 1 STREAMS {t}x1 {t}x2 0 0",
		"XGROUP CREATE {t}x1 grp 0", "XGROUP CREATECONSUMER {t}x1 grp c2",
		"XREADGROUP GROUP grp c1 COUNT 1 STREAMS {t}x1 >", "XREADGROUP GROUP grp c1 STREAMS {t}x1 {t}x2 > >",
		"XPENDING {t}x1 grp", "XCLAIM {t}x1 grp c2 0 1-1 JUSTID", "XAUTOCLAIM {t}x1 grp c3 0 0 JUSTID",
		"XACK {t}x1 grp 1-1", "XINFO STREAM {t}x1", "XDEL {t}x1 1-1", "XTRIM {t}x1 MAXLEN 0", "XSETID {t}x2 5-0",
		"XGROUP DESTROY {t}x1 grp", "XINFO GROUPS {t}x1",
		// arguments Redis refuses, with its own errors
		"ZUNION x {t}a", "ZUNION 0 {t}a", "MSETNX {t}a 1 {t}b", "XREAD STREAMS {t}x1", "XREAD FOO 1 STREAMS {t}x1 0",
		"SINTERCARD 3 {t}s1", "EVAL 'return 1' -1", "OBJECT BOGUS {t}x", "XGROUP BOGUS",
		"QUIT",
	}
	compareWithRedis(t, lone.Addr, tp.addr, steps, func(s string) ([]string, string) { return words(s), "" })
	// Every key went to one server.
	var sizes []string
	for _, b := range tp.backends {
		sizes = append(sizes, testutil.Dial(t, b.Addr).Do("DBSIZE"))
	}
	if want := testutil.Dial(t, lone.Addr).Do("DBSIZE"); !(sizes[0] == want && sizes[1] == ":0\r\n" ||
		sizes[1] == want && sizes[0] == ":0\r\n") {
		t.Errorf("DBSIZE of the backends %q, of the lone redis %q", sizes, want)
	}
}

// TestTogetherKeysApart sends commands whose keys live on two servers:
// each is refused, says why, and writes nothing on either server.
func TestTogetherKeysApart(t *testing.T) {
	tp := startProxy(t, 2, `hash_tag: "{}"`)
	a, b := keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")
	c := testutil.Dial(t, tp.addr)
	expect(t, c, ":1\r\n", "SADD", a, "x")
	expect(t, c, ":1\r\n", "SADD", b, "y")
	direct := []*testutil.Client{testutil.Dial(t, tp.backends[0].Addr), testutil.Dial(t, tp.backends[1].Addr)}
	state := func() string {
		return direct[0].Do("DBSIZE") + direct[0].Do("DUMP", a) + direct[1].Do("DBSIZE") + direct[1].Do("DUMP", b)
	}
	before := state()
	for _, line := range []string{
		"SUNION a b", "SINTER a b", "SDIFF a b", "SUNIONSTORE a b", "SINTERSTORE b a", "SDIFFSTORE a a b",
		"SINTERCARD 2 a b", "SMOVE a b x", "RENAME a b", "RENAMENX b a", "COPY a b", "LMOVE a b LEFT LEFT",
		"RPOPLPUSH a b", "LMPOP 2 a b LEFT", "ZUNION 2 a b", "ZINTER 2 a b", "ZDIFF 2 a b",
		"ZUNIONSTORE a 2 a b", "ZINTERSTORE a 1 b", "ZDIFFSTORE b 1 a", "ZRANGESTORE a b 0 -1",
		"ZINTERCARD 2 a b", "ZMPOP 2 a b MIN", "PFMERGE a b", "PFCOUNT a b", "BITOP AND a a b", "LCS a b",
		"SORT a STORE b", "SORT_RO a ALPHA", "GEOSEARCHSTORE a b FROMLONLAT 0 0 BYRADIUS 1 km",
		"GEORADIUS a 0 0 1 km STORE b", "GEORADIUSBYMEMBER a m 1 km STOREDIST b",
		"XREAD STREAMS a b 0 0", "XREADGROUP GROUP g c STREAMS a b > >", "MSETNX a 1 b 2",
		"EVAL 'return redis.call(\"del\", KEYS[1], KEYS[2])' 2 a b", "EVALSHA sha 2 b a", "EVAL_RO s 2 a b",
		"EVALSHA_RO s 2 a b", "FCALL f 2 a b", "FCALL_RO f 2 a b",
	} {
		args := words(line)
		name := strings.ToLower(args[0])
		for i := range args {
			switch args[i] {
			case "a":
				args[i] = a
			case "b":
				args[i] = b
			}
		}
		if name == "sort_ro" { // one key: served
			expect(t, c, "*1\r\n$1\r\nx\r\n", args...)
			continue
		}
		want := fmt.Sprintf("-ERR the keys of '%s' live on different servers of the pool: keys with the same "+
			"hash tag live on one (with hash_tag \"{}\": {user1}:a and {user1}:b)\r\n", name)
		expect(t, c, want, args...)
	}
	// SORT's BY and GET patterns name keys: with a hash tag before the
	// '*', they live on the tag's server; without one, anywhere.
	expect(t, c, "-ERR the keys of 'sort' live on different servers of the pool: keys with the same "+
		"hash tag live on one (with hash_tag \"{}\": {user1}:a and {user1}:b)\r\n", "SORT", a, "BY", "{"+b+"}w_*")
	expect(t, c, "-ERR 'sort' with a BY or GET pattern reads keys made from its elements, which may live on any "+
		"server: a pattern with a hash tag before its '*' keeps them on one\r\n", "SORT", a, "BY", "w_*")
	expect(t, c, "*1\r\n$1\r\nx\r\n", "SORT", a, "BY", "{"+a+"}w_*", "ALPHA")
	if after := state(); after != before {
		t.Errorf("the servers changed: %q, then %q", before, after)
	}
	// Inside a transaction too: the refusal aborts it.
	expect(t, c, "+OK\r\n", "MULTI")
	expect(t, c, "+QUEUED\r\n", "SET", a, "1")
	if r := c.Do("RENAME", a, b); !strings.HasPrefix(r, "-ERR the keys of 'rename' live on different servers") {
		t.Fatalf("RENAME of keys apart in MULTI: %q", r)
	}
	expect(t, c, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC")
	if after := state(); after != before {
		t.Errorf("the servers changed: %q, then %q", before, after)
	}
}

// TestBlockingAndPubSubRefused: blocking and pub/sub commands get an error
// that names them and says why, and the connection goes on.
func TestBlockingAndPubSubRefused(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	blocks := "blocks, which the proxy does not serve yet: a blocking command needs a server connection of its own\r\n"
	pubsub := "is pub/sub, which the proxy does not serve yet: pub/sub needs a server connection of its own\r\n"
	for _, step := range []struct{ line, want string }{
		{"BLPOP k 0", "-ERR 'blpop' " + blocks},
		{"BZPOPMIN k 0", "-ERR 'bzpopmin' " + blocks},
		{"BLMOVE k j LEFT LEFT 0", "-ERR 'blmove' " + blocks},
		{"WAIT 1 0", "-ERR 'wait' " + blocks},
		{"XREAD BLOCK 0 STREAMS k $", "-ERR 'xread' with BLOCK " + blocks},
		{"XREADGROUP GROUP g c BLOCK 10 STREAMS k >", "-ERR 'xreadgroup' with BLOCK " + blocks},
		{"SUBSCRIBE ch", "-ERR 'subscribe' " + pubsub},
		{"PSUBSCRIBE ch*", "-ERR 'psubscribe' " + pubsub},
		{"SSUBSCRIBE ch", "-ERR 'ssubscribe' " + pubsub},
		{"PUBLISH ch m", "-ERR 'publish' " + pubsub},
		{"MEMORY DOCTOR", "-ERR 'memory doctor' is a Redis command this proxy does not serve\r\n"},
		{"PING", "+PONG\r\n"},
		{"SET k v", "+OK\r\n"},
		{"GET k", "$1\r\nv\r\n"},
	} {
		expect(t, c, step.want, words(step.line)...)
	}
}

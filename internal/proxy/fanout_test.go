package proxy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// fillKeys sets n keys through the proxy, some on each of its two
// servers, and returns them.
func fillKeys(t *testing.T, tp *testProxy, c *testutil.Client, n int) []string {
	t.Helper()
	keys := []string{keyOn(t, tp.Proxy, 0, "key:a"), keyOn(t, tp.Proxy, 1, "key:b")}
	for i := len(keys); i < n; i++ {
		keys = append(keys, fmt.Sprintf("key:%d", i))
	}
	for _, k := range keys {
		expect(t, c, "+OK\r\n", "SET", k, "v")
	}
	for i, b := range tp.backends {
		if got := testutil.Dial(t, b.Addr).Do("DBSIZE"); got == ":0\r\n" {
			t.Fatalf("backend %d got none of %d keys: %q %q", i, n, got, c.Do("KEYS", "*"))
		}
	}
	return keys
}

// bulks returns the bulk strings of an array reply.
func bulks(t *testing.T, reply string) []string { return parseArray(t, reply) }

// scanAll runs a whole SCAN with args through the proxy and returns the
// keys in the order it gave them.
func scanAll(t *testing.T, c *testutil.Client, args ...string) []string {
	t.Helper()
	var keys []string
	cursor := "0"
	for steps := 0; ; steps++ {
		if steps > 1000 {
			t.Fatal("SCAN does not end")
		}
		reply := c.Do(append([]string{"SCAN", cursor}, args...)...)
		elems, err := resp.ArrayElems([]byte(reply), nil)
		if err != nil || len(elems) != 2 {
			t.Fatalf("SCAN reply %q: %v", reply, err)
		}
		cursor = bulks(t, "*1\r\n"+string(elems[0]))[0]
		keys = append(keys, bulks(t, string(elems[1]))...)
		if cursor == "0" {
			return keys
		}
	}
}

// TestFanOutCommands runs the commands of the whole keyspace on a pool of
// two servers: the replies are those of one server holding every key.
func TestFanOutCommands(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	keys := fillKeys(t, tp, c, 40)
	expect(t, c, ":40\r\n", "DBSIZE")

	got := bulks(t, c.Do("KEYS", "*"))
	slices.Sort(got)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("KEYS *: %q, want %q", got, want)
	}
	expect(t, c, "*1\r\n$5\r\nkey:7\r\n", "KEYS", "key:7")
	expect(t, c, "*1\r\n$"+strconv.Itoa(len(keys[1]))+"\r\n"+keys[1]+"\r\n", "KEYS", keys[1])

	for _, args := range [][]string{{"COUNT", "2"}, {"MATCH", "key:1*", "COUNT", "2"}, {"TYPE", "string"}, {"TYPE", "list"}} {
		got := scanAll(t, c, args...)
		var want []string
		for _, k := range keys {
			if args[0] == "MATCH" && !strings.HasPrefix(k, "key:1") || args[1] == "list" {
				continue
			}
			want = append(want, k)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("SCAN %q: %d keys %q, want %d %q", args, len(got), got, len(want), want)
		}
	}

	if r := c.Do("RANDOMKEY"); !slices.Contains(keys, strings.Join(bulks(t, "*1\r\n"+r), "")) {
		t.Errorf("RANDOMKEY: %q", r)
	}
	if r := c.Do("TIME"); len(parseArray(t, r)) != 2 {
		t.Errorf("TIME: %q", r)
	}
	if r := c.Do("LASTSAVE"); r[0] != ':' {
		t.Errorf("LASTSAVE: %q", r)
	}

	// A script loaded through the proxy runs on the server of any key.
	sha := bulks(t, "*1\r\n"+c.Do("SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"))[0]
	k0, k1 := keyOn(t, tp.Proxy, 0, "s"), keyOn(t, tp.Proxy, 1, "s")
	expect(t, c, "+OK\r\n", "SET", k0, "zero")
	expect(t, c, "+OK\r\n", "SET", k1, "one")
	expect(t, c, "$4\r\nzero\r\n", "EVALSHA", sha, "1", k0)
	expect(t, c, "$3\r\none\r\n", "EVALSHA", sha, "1", k1)
	expect(t, c, "*2\r\n:1\r\n:0\r\n", "SCRIPT", "EXISTS", sha, "0000000000000000000000000000000000000000")
	// Loaded on one server only, a script does not exist for the pool.
	direct := testutil.Dial(t, tp.backends[0].Addr)
	sha2 := bulks(t, "*1\r\n"+direct.Do("SCRIPT", "LOAD", "return 2"))[0]
	expect(t, c, "*2\r\n:1\r\n:0\r\n", "SCRIPT", "EXISTS", sha, sha2)
	expect(t, c, "+OK\r\n", "SCRIPT", "FLUSH")
	expect(t, c, "*1\r\n:0\r\n", "SCRIPT", "EXISTS", sha)

	expect(t, c, "+OK\r\n", "FLUSHALL")
	expect(t, c, ":0\r\n", "DBSIZE")
	for i, b := range tp.backends {
		if got := testutil.Dial(t, b.Addr).Do("DBSIZE"); got != ":0\r\n" {
			t.Errorf("backend %d after FLUSHALL: %s", i, got)
		}
	}
	expect(t, c, "$-1\r\n", "RANDOMKEY")
	expect(t, c, "*0\r\n", "KEYS", "*")
	if got := scanAll(t, c); len(got) != 0 {
		t.Errorf("SCAN after FLUSHALL: %q", got)
	}
	fillKeys(t, tp, c, 10)
	expect(t, c, "+OK\r\n", "FLUSHDB", "ASYNC")
	expect(t, c, ":0\r\n", "DBSIZE")
}

// TestFanOutErrorsAsRedis compares with a redis-server the replies to
// requests the proxy or all its servers refuse.
func TestFanOutErrorsAsRedis(t *testing.T) {
	tp := startProxy(t, 2, "")
	steps := [][]string{
		{"DBSIZE", "x"}, {"KEYS"}, {"SCAN"}, {"SCAN", "x"}, {"SCAN", "0", "COUNT", "0"}, {"SCAN", "0", "MATCH"},
		{"FLUSHALL", "x"}, {"FLUSHDB", "SYNC", "x"}, {"SCRIPT"}, {"SCRIPT", "LOAD"}, {"SCRIPT", "LOAD", "return +"},
		{"SCRIPT", "EXISTS"}, {"SCRIPT", "nosuch"}, {"SCRIPT", "FLUSH", "x"}, {"INFO", "nosuch"}, {"RANDOMKEY", "x"},
		{"TIME", "x"}, {"QUIT"},
	}
	compareWithRedis(t, testutil.StartRedis(t).Addr, tp.addr, steps, func(s []string) ([]string, string) { return s, "" })
}

// TestInfoForClients: INFO has what ioredis's ready check reads
// (loading:0, redis_version), the pool's state, and the keyspace summed.
func TestInfoForClients(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	fillKeys(t, tp, c, 20)
	expect(t, c, "+OK\r\n", "SET", "volatile", "v", "EX", "1000")
	reply := c.Do("INFO")
	doc := strings.Join(bulks(t, "*1\r\n"+reply), "")
	for _, want := range []string{
		`(?m)^# Server\r$`, `(?m)^redis_version:7\.[0-9.]+\r$`, `(?m)^redis_mode:standalone\r$`,
		`(?m)^loading:0\r$`, `(?m)^connected_clients:1\r$`, `(?m)^total_commands_processed:[1-9][0-9]*\r$`,
		`(?m)^pool:p\r$`, `(?m)^server1:name=127\.0\.0\.1:[0-9]+,addr=127\.0\.0\.1:[0-9]+,state=up,`,
		`(?m)^db0:keys=21,expires=1,avg_ttl=[0-9]+\r$`,
	} {
		if !regexp.MustCompile(want).MatchString(doc) {
			t.Errorf("INFO does not match %s:\n%s", want, doc)
		}
	}
	ks := strings.Join(bulks(t, "*1\r\n"+c.Do("INFO", "Keyspace")), "")
	if !strings.HasPrefix(ks, "# Keyspace\r\ndb0:keys=21,expires=1,") {
		t.Errorf("INFO Keyspace: %q", ks)
	}
	// Sections in Redis's order, whatever the order asked.
	expect(t, c, string(resp.AppendBulkString(nil, "# Clients\r\nconnected_clients:1\r\n\r\n# Persistence\r\nloading:0\r\n")),
		"INFO", "persistence", "clients")
}

// TestFanOutServerDown: a server down makes a fan-out command an error
// naming it, and SCAN an error when it reaches it; INFO answers without
// it.
func TestFanOutServerDown(t *testing.T) {
	tp := startProxy(t, 2, "timeout: 2000")
	c := testutil.Dial(t, tp.addr)
	fillKeys(t, tp, c, 20)
	dead := tp.Proxy.poolList()[0].pool().Servers[1]
	tp.backends[tp.backendIndex(dead.Config.Addr)].Kill()
	testutil.Eventually(t, 5*time.Second, func() bool {
		return c.Do("DBSIZE") == "-ERR server "+dead.Name()+": Connection refused\r\n"
	}, "DBSIZE with a server down is not an error naming it")
	// INFO still answers (a client's ready check), naming the server that
	// did not; its keyspace is the live server's.
	info := c.Do("INFO")
	for _, want := range []string{"\r\nredis_version:7.", "\r\nloading:0\r\n", "\r\nunanswered:" + dead.Name() + "\r\n", "\r\ndb0:keys="} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO with a server down has no %q:\n%s", want, info)
		}
	}
	expect(t, c, "-ERR Connection refused\r\n", "SCAN", strconv.FormatUint(1<<48, 10))
}

// TestDenyCommands: a pool refuses the commands its deny_commands lists.
func TestDenyCommands(t *testing.T) {
	tp := startProxy(t, 2, "deny_commands: [flushall, KEYS]")
	c := testutil.Dial(t, tp.addr)
	expect(t, c, "-ERR command 'flushall' is denied on this pool (deny_commands)\r\n", "FLUSHALL")
	expect(t, c, "-ERR command 'keys' is denied on this pool (deny_commands)\r\n", "keys", "*")
	expect(t, c, "+OK\r\n", "FLUSHDB")
}

// TestFanOutWithRedisCli: redis-cli's --scan, DBSIZE and INFO through the
// proxy.
func TestFanOutWithRedisCli(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	keys := fillKeys(t, tp, c, 30)
	cli := redisCLI(t, tp.addr)
	got := strings.Fields(cli("--scan"))
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("redis-cli --scan: %q, want %q", got, keys)
	}
	if got := cli("DBSIZE"); got != "30" {
		t.Errorf("redis-cli DBSIZE: %q", got)
	}
	if got := cli("INFO", "keyspace"); got != "# Keyspace\r\ndb0:keys=30,expires=0,avg_ttl=0" {
		t.Errorf("redis-cli INFO keyspace: %q", got)
	}
}

// TestScanLargeReplies: SCAN replies over backend.DirectWriteSize, which
// the writer sends from the buffer the cursor was rewritten into, reach
// the client whole, one after the other.
func TestScanLargeReplies(t *testing.T) {
	tp := startProxy(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	var keys []string
	long := strings.Repeat("k", 120) // 1500 keys: over 64 KB of keys on each server
	for i := 0; i < 1500; i++ {
		keys = append(keys, fmt.Sprintf("%s:%04d", long, i))
	}
	for i := 0; i < len(keys); i += 500 {
		args := []string{"MSET"}
		for _, k := range keys[i : i+500] {
			args = append(args, k, "v")
		}
		expect(t, c, "+OK\r\n", args...)
	}
	slices.Sort(keys)
	got := scanAll(t, c, "COUNT", "100000")
	slices.Sort(got)
	got = slices.Compact(got) // SCAN may return a key twice while a table rehashes
	if !slices.Equal(got, keys) {
		t.Fatalf("SCAN returned %d keys, want %d", len(got), len(keys))
	}
	// Pipelined: each reply, built in the request's m.Local, is written
	// whole while the next requests are recycled and built. Each is the
	// first one's cursor and keys; not its bytes, as the server's table
	// may still be rehashing after the MSETs, which changes the order of
	// a SCAN's keys, and can repeat some.
	first := c.Do("SCAN", "0", "COUNT", "100000")
	wantCursor, wantKeys := scanReply(t, first)
	for i := 0; i < 8; i++ {
		c.Cmd("SCAN", "0", "COUNT", "100000")
	}
	for i := 0; i < 8; i++ {
		got := c.Reply()
		if cursor, keys := scanReply(t, got); cursor != wantCursor || !slices.Equal(keys, wantKeys) {
			t.Fatalf("pipelined SCAN %d: %d bytes %q..., cursor %s and %d keys, want %s and %d keys", i, len(got), testutil.Trunc([]byte(got)), cursor, len(keys), wantCursor, len(wantKeys))
		}
	}
}

// scanReply returns the cursor of a SCAN reply and its keys, sorted, each
// once.
func scanReply(t *testing.T, reply string) (string, []string) {
	t.Helper()
	elems, err := resp.ArrayElems([]byte(reply), nil)
	if err != nil || len(elems) != 2 {
		t.Fatalf("SCAN reply %q: %v", testutil.Trunc([]byte(reply)), err)
	}
	keys := bulks(t, string(elems[1]))
	slices.Sort(keys)
	return bulks(t, "*1\r\n"+string(elems[0]))[0], slices.Compact(keys)
}

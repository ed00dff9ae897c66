//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// clientsSetup is the binary serving three pools: "redis" over two
// redis-servers with hash tags, "auth" over one redis-server with
// redis_auth, and "mc" over two memcacheds. Each test gets backends of
// its own, so SCAN sees only the keys it wrote.
type clientsSetup struct {
	redis, auth, mc string // the pools' listen addresses
	redisBackends   [2]*testutil.Process
	mcBackends      [2]*testutil.Process
}

const authPassword = "s3cret"

// startClientsSetup starts the backends and the binary with args (-n 0,
// or nothing for the default number of workers).
func startClientsSetup(t *testing.T, args ...string) *clientsSetup {
	t.Helper()
	s := &clientsSetup{}
	for i := range 2 {
		s.redisBackends[i] = testutil.StartRedis(t)
		s.mcBackends[i] = testutil.StartMemcached(t)
	}
	authBackend := testutil.StartRedis(t, "--requirepass", authPassword)
	listen := func() string { return fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)) }
	s.redis, s.auth, s.mc = listen(), listen(), listen()
	conf := fmt.Sprintf(`redis:
  listen: %s
  redis: true
  hash_tag: "{}"
  servers:
   - %s:1 r1
   - %s:1 r2
auth:
  listen: %s
  redis: true
  redis_auth: %s
  servers:
   - %s:1
mc:
  listen: %s
  servers:
   - %s:1 m1
   - %s:1 m2
`, s.redis, s.redisBackends[0].Addr, s.redisBackends[1].Addr,
		s.auth, authPassword, authBackend.Addr,
		s.mc, s.mcBackends[0].Addr, s.mcBackends[1].Addr)
	m := startMaster(t, conf, s.redis, args...)
	m.waitServing(t)
	return s
}

// clientModes are the process layouts every client test runs on.
var clientModes = []struct {
	name string
	args []string
}{
	{"n0", []string{"-n", "0"}},
	{"workers", nil}, // the default: one worker per cpu
}

// goRedis returns a go-redis client of the proxy at addr on default
// options but for the changes opts makes, closed when the test ends.
func goRedis(t testing.TB, addr string, opts func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr}
	if opts != nil {
		opts(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// backendKeys returns the keys a redis backend holds, read directly.
func backendKeys(t testing.TB, p *testutil.Process) map[string]bool {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	defer c.Close()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatalf("KEYS on %s: %v", p.Addr, err)
	}
	found := make(map[string]bool)
	for _, k := range keys {
		found[k] = true
	}
	return found
}

// go-redis v9 on its default options (HELLO 3: it speaks RESP3; CLIENT
// SETINFO), then the features applications lean on.
func TestGoRedis(t *testing.T) {
	for _, mode := range clientModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s := startClientsSetup(t, mode.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rdb := goRedis(t, s.redis, nil)

			if err := rdb.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			if v, err := rdb.Get(ctx, "greeting").Result(); err != nil || v != "hello" {
				t.Fatalf("GET = %q, %v", v, err)
			}
			if err := rdb.Get(ctx, "absent").Err(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET absent: %v, want redis.Nil", err)
			}

			t.Run("MSetMGet", func(t *testing.T) { goRedisMSetMGet(t, ctx, rdb, s) })
			t.Run("Pipeline", func(t *testing.T) { goRedisPipeline(t, ctx, rdb) })
			t.Run("TxPipeline", func(t *testing.T) { goRedisTxPipeline(t, ctx, rdb) })
			t.Run("Watch", func(t *testing.T) { goRedisWatch(t, ctx, rdb) })
			t.Run("ClientName", func(t *testing.T) {
				named := goRedis(t, s.redis, func(o *redis.Options) { o.ClientName = "orders-service" })
				if name, err := named.ClientGetName(ctx).Result(); err != nil || name != "orders-service" {
					t.Fatalf("CLIENT GETNAME = %q, %v", name, err)
				}
			})
			t.Run("Pool50", func(t *testing.T) { goRedisPool(t, ctx, s) })
			t.Run("Info", func(t *testing.T) {
				info, err := rdb.Info(ctx).Result()
				if err != nil {
					t.Fatalf("INFO: %v", err)
				}
				for _, want := range []string{"redis_version:7.", "loading:0"} {
					if !strings.Contains(info, want) {
						t.Errorf("INFO lacks %q:\n%s", want, info)
					}
				}
			})
			t.Run("Scan", func(t *testing.T) { goRedisScan(t, ctx, rdb) })
			t.Run("Auth", func(t *testing.T) { goRedisAuth(t, ctx, s) })
		})
	}
}

func goRedisMSetMGet(t *testing.T, ctx context.Context, rdb *redis.Client, s *clientsSetup) {
	var pairs []any
	var keys []string
	for i := range 20 {
		k := "mkey:" + strconv.Itoa(i)
		keys = append(keys, k)
		pairs = append(pairs, k, "v"+strconv.Itoa(i))
	}
	if err := rdb.MSet(ctx, pairs...).Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	vals, err := rdb.MGet(ctx, append(keys, "mkey:absent")...).Result()
	if err != nil {
		t.Fatalf("MGET: %v", err)
	}
	for i, k := range keys {
		if vals[i] != "v"+strconv.Itoa(i) {
			t.Errorf("MGET %s = %v", k, vals[i])
		}
	}
	if vals[len(keys)] != nil {
		t.Errorf("MGET of an absent key = %v, want nil", vals[len(keys)])
	}
	// The keys really were split: each server holds some of them.
	for _, b := range s.redisBackends {
		held := backendKeys(t, b)
		if !slices.ContainsFunc(keys, func(k string) bool { return held[k] }) {
			t.Errorf("server %s holds none of the MSET keys: the test does not cross servers", b.Addr)
		}
	}
}

func goRedisPipeline(t *testing.T, ctx context.Context, rdb *redis.Client) {
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 50 {
			p.Set(ctx, "pipe:"+strconv.Itoa(i), i, 0)
		}
		for i := range 50 {
			p.IncrBy(ctx, "pipe:"+strconv.Itoa(i), 1000)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if len(cmds) != 100 {
		t.Fatalf("pipeline ran %d commands, want 100", len(cmds))
	}
	for i, c := range cmds[50:] {
		if n := c.(*redis.IntCmd).Val(); n != int64(i+1000) {
			t.Errorf("INCRBY pipe:%d = %d, want %d", i, n, i+1000)
		}
	}
}

// A transaction on one hash tag: every key on one server.
func goRedisTxPipeline(t *testing.T, ctx context.Context, rdb *redis.Client) {
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{cart:7}:items", 3, 0)
		p.IncrBy(ctx, "{cart:7}:items", 2)
		p.HSet(ctx, "{cart:7}:meta", "owner", "ana")
		p.Get(ctx, "{cart:7}:items")
		return nil
	})
	if err != nil {
		t.Fatalf("TxPipelined: %v", err)
	}
	if got := cmds[3].(*redis.StringCmd).Val(); got != "5" {
		t.Errorf("GET inside the transaction = %q, want 5", got)
	}
	if owner, err := rdb.HGet(ctx, "{cart:7}:meta", "owner").Result(); err != nil || owner != "ana" {
		t.Errorf("HGET after the transaction = %q, %v", owner, err)
	}
}

// WATCH on a hash tag: a transaction commits when nobody touched the key
// and fails with TxFailedErr when another client did.
func goRedisWatch(t *testing.T, ctx context.Context, rdb *redis.Client) {
	const key = "{acct:1}:balance"
	if err := rdb.Set(ctx, key, 100, 0).Err(); err != nil {
		t.Fatal(err)
	}
	debit := func(interfere bool) error {
		return rdb.Watch(ctx, func(tx *redis.Tx) error {
			n, err := tx.Get(ctx, key).Int()
			if err != nil {
				return err
			}
			if interfere {
				if err := rdb.Set(ctx, key, 0, 0).Err(); err != nil {
					return err
				}
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, n-10, 0)
				p.Set(ctx, "{acct:1}:last", "debit", 0)
				return nil
			})
			return err
		}, key)
	}
	if err := debit(false); err != nil {
		t.Fatalf("WATCH transaction: %v", err)
	}
	if n, _ := rdb.Get(ctx, key).Int(); n != 90 {
		t.Fatalf("balance after a debit = %d, want 90", n)
	}
	if err := debit(true); !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("WATCH transaction after another client's write: %v, want %v", err, redis.TxFailedErr)
	}
	if n, _ := rdb.Get(ctx, key).Int(); n != 0 {
		t.Fatalf("balance after a failed debit = %d, want the other client's 0", n)
	}
}

// A pool of 50 connections used by 50 goroutines at once.
func goRedisPool(t *testing.T, ctx context.Context, s *clientsSetup) {
	rdb := goRedis(t, s.redis, func(o *redis.Options) { o.PoolSize = 50 })
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Go(func() {
			for i := range 20 {
				k := fmt.Sprintf("pool:%d:%d", g, i)
				if err := rdb.Set(ctx, k, k, 0).Err(); err != nil {
					errs <- fmt.Errorf("SET %s: %w", k, err)
					return
				}
				if v, err := rdb.Get(ctx, k).Result(); err != nil || v != k {
					errs <- fmt.Errorf("GET %s = %q, %v", k, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := rdb.PoolStats(); st.TotalConns < 2 || st.TotalConns > 50 {
		t.Errorf("pool has %d connections, want between 2 and 50", st.TotalConns)
	}
}

// SCAN to the end returns every key once.
func goRedisScan(t *testing.T, ctx context.Context, rdb *redis.Client) {
	want := make(map[string]bool)
	for i := range 200 {
		k := "scan:" + strconv.Itoa(i)
		want[k] = true
		if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[string]int)
	var cursor uint64
	for round := 0; ; round++ {
		if round > 1000 {
			t.Fatalf("SCAN has not ended after %d calls (cursor %d)", round, cursor)
		}
		keys, next, err := rdb.Scan(ctx, cursor, "scan:*", 25).Result()
		if err != nil {
			t.Fatalf("SCAN %d: %v", cursor, err)
		}
		for _, k := range keys {
			seen[k]++
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	for k, n := range seen {
		if n != 1 || !want[k] {
			t.Errorf("SCAN returned %q %d times", k, n)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("SCAN returned %d of the %d keys", len(seen), len(want))
	}
	// Iterator drives the same cursor.
	it := rdb.Scan(ctx, 0, "scan:1*", 0).Iterator()
	n := 0
	for it.Next(ctx) {
		n++
	}
	if err := it.Err(); err != nil || n != 111 { // scan:1, scan:10..19, scan:100..199
		t.Errorf("SCAN iterator over scan:1*: %d keys, %v; want 111", n, err)
	}
}

// A pool with redis_auth: PING before AUTH gets NOAUTH, and go-redis
// with the password (sent in HELLO 3) works.
func goRedisAuth(t *testing.T, ctx context.Context, s *clientsSetup) {
	anon := goRedis(t, s.auth, nil)
	if err := anon.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("PING before AUTH: %v, want NOAUTH", err)
	}
	c := testutil.Dial(t, s.auth)
	if got := c.Do("PING"); got != "-NOAUTH Authentication required.\r\n" {
		t.Errorf("raw PING before AUTH = %q", got)
	}
	if got := c.Do("AUTH", authPassword); got != "+OK\r\n" {
		t.Errorf("AUTH = %q", got)
	}
	if got := c.Do("PING"); got != "+PONG\r\n" {
		t.Errorf("PING after AUTH = %q", got)
	}
	authed := goRedis(t, s.auth, func(o *redis.Options) { o.Password = authPassword })
	if err := authed.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with a password: %v", err)
	}
	if v, err := authed.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET with a password = %q, %v", v, err)
	}
	wrong := goRedis(t, s.auth, func(o *redis.Options) { o.Password = "nope" })
	if err := wrong.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Errorf("PING with a wrong password: %v, want WRONGPASS", err)
	}
}

// gomemcache on its defaults: keys spread over both memcacheds, and
// flush_all empties both.
func TestGomemcache(t *testing.T) {
	for _, mode := range clientModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s := startClientsSetup(t, mode.args...)
			mc := memcache.New(s.mc)
			defer mc.Close()

			items := make(map[string]string)
			for i := range 20 {
				k := "item" + strconv.Itoa(i)
				items[k] = "value" + strconv.Itoa(i)
				if err := mc.Set(&memcache.Item{Key: k, Value: []byte(items[k]), Flags: uint32(i)}); err != nil {
					t.Fatalf("set %s: %v", k, err)
				}
			}
			it, err := mc.Get("item3")
			if err != nil || string(it.Value) != "value3" || it.Flags != 3 {
				t.Fatalf("get item3 = %+v, %v", it, err)
			}
			keys := append(slices.Sorted(maps.Keys(items)), "absent")
			got, err := mc.GetMulti(keys)
			if err != nil {
				t.Fatalf("GetMulti: %v", err)
			}
			if len(got) != len(items) {
				t.Errorf("GetMulti returned %d items, want %d", len(got), len(items))
			}
			for k, v := range items {
				if got[k] == nil || string(got[k].Value) != v {
					t.Errorf("GetMulti %s = %+v, want %q", k, got[k], v)
				}
			}
			for _, b := range s.mcBackends {
				direct := memcache.New(b.Addr)
				held, err := direct.GetMulti(keys)
				direct.Close()
				if err != nil || len(held) == 0 {
					t.Errorf("memcached %s holds none of the keys (%v): the test does not cross servers", b.Addr, err)
				}
			}

			if err := mc.Delete("item3"); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := mc.Get("item3"); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("get after delete: %v, want a miss", err)
			}
			if err := mc.Delete("item3"); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("delete again: %v, want a miss", err)
			}
			if err := mc.Set(&memcache.Item{Key: "counter", Value: []byte("41")}); err != nil {
				t.Fatal(err)
			}
			if n, err := mc.Increment("counter", 1); err != nil || n != 42 {
				t.Fatalf("incr = %d, %v", n, err)
			}
			if n, err := mc.Decrement("counter", 50); err != nil || n != 0 {
				t.Fatalf("decr below zero = %d, %v; want 0", n, err)
			}
			if _, err := mc.Increment("absent", 1); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("incr of an absent key: %v, want a miss", err)
			}

			// flush_all empties every server of the pool.
			if err := mc.FlushAll(); err != nil {
				t.Fatalf("flush_all: %v", err)
			}
			if left, err := mc.GetMulti(keys); err != nil || len(left) != 0 {
				t.Fatalf("GetMulti after flush_all: %d items, %v", len(left), err)
			}
		})
	}
}

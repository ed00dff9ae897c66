package proxy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// checkDuration is how long TestChecker runs: NUTCRACKER_CHECK_DURATION
// (a Go duration; CI sets 60s, make soak longer), else 5 seconds.
func checkDuration(t *testing.T) time.Duration {
	v := os.Getenv("NUTCRACKER_CHECK_DURATION")
	if v == "" {
		return 5 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("NUTCRACKER_CHECK_DURATION: %v", err)
	}
	return d
}

// TestChecker is the correctness checker: clients with their own keys
// pipeline random mixes of single and multi-key commands through the
// proxy and check every reply against their own model of their keys,
// while one backend after another is killed and restarted (its keys are
// then lost) or paused past the timeout, and the configuration is
// reloaded between faults. Transactions on a hash tag are pipelined
// among the other commands. A reply that belongs to another request,
// another client or another order fails the test, and so does a
// transaction that ran only in part. Half the clients speak RESP3 and
// must get RESP3's nulls, the others RESP2's.
func TestChecker(t *testing.T) {
	tp := startProxy(t, 3, "timeout: 500\nserver_connections: 2\nhash_tag: \"{}\"")
	pl := tp.Proxy.poolList()[0].pool()
	byAddr := map[string]int{}
	for i, s := range pl.Servers {
		byAddr[s.Config.Addr] = i
	}
	// epochs[i] changes whenever server i may lose data (killed) or may
	// have applied a write whose reply failed (paused past the timeout).
	epochs := make([]atomic.Int64, len(pl.Servers))
	route := func(key string) int { return pl.Route([]byte(key)).Index() }

	deadline := time.Now().Add(checkDuration(t))
	var wg sync.WaitGroup
	chaos := make(chan struct{})
	go func() {
		defer close(chaos)
		for i := 0; time.Now().Before(deadline); i++ {
			// A reload that changes the connection settings (not the
			// routing) moves every client to new server connections.
			reload(t, tp.Proxy, strings.Replace(tp.yaml, "timeout: 500", fmt.Sprintf("timeout: %d", 500+i%2), 1))
			b := tp.backends[i%len(tp.backends)]
			e := &epochs[byAddr[b.Addr]]
			e.Add(1)
			if i%2 == 0 {
				b.Kill()
				time.Sleep(100 * time.Millisecond) // down for a while
				b.Restart()
			} else {
				b.Pause()
				time.Sleep(700 * time.Millisecond) // past the 500 ms timeout
				b.Resume()
				// Requests that timed out are still in its sockets and run
				// now: writes confirmed meanwhile stay uncertain.
				time.Sleep(50 * time.Millisecond)
			}
			e.Add(1)
			time.Sleep(300 * time.Millisecond) // healthy for a while
		}
	}()
	const clients = 8
	var ops, failed atomic.Int64
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func(cl int) {
			defer wg.Done()
			ck := &checker{t: t, c: testutil.Dial(t, tp.addr), id: cl, model: map[string]entry{},
				rng: rand.New(rand.NewPCG(uint64(cl), 42)), route: route, epochs: epochs, null: "$-1\r\n"}
			if cl%2 == 1 {
				if got := ck.c.Do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") {
					t.Errorf("client %d: HELLO 3: %q", cl, got)
					return
				}
				ck.null = "_\r\n"
			}
			for time.Now().Before(deadline) && !t.Failed() {
				ck.round()
			}
			ops.Add(ck.ops)
			failed.Add(ck.failed)
		}(cl)
	}
	wg.Wait()
	<-chaos
	t.Logf("%d requests checked, %d answered with a server error", ops.Load(), failed.Load())
	if ops.Load() == 0 || failed.Load() == ops.Load() {
		t.Fatalf("checker did nothing useful: %d ops, %d failed", ops.Load(), failed.Load())
	}
}

// entry is what a client knows of one of its keys.
type entry struct {
	val   string // "" = absent
	epoch int64  // the key's server epoch when val was confirmed
	known bool
}

type checker struct {
	t      *testing.T
	c      *testutil.Client
	id     int
	model  map[string]entry
	rng    *rand.Rand
	route  func(string) int
	epochs []atomic.Int64
	seq    int
	ops    int64
	failed int64
	null   string // the nil its protocol has: RESP2's or RESP3's
}

// op is one pipelined request and how to check its reply.
type op struct {
	args   []string
	keys   []string
	epochs []int64 // of the keys' servers when sent
	check  func(reply string)
	// A transaction: args is MULTI, then come the commands of then, and
	// checkAll gets every reply.
	then     [][]string
	checkAll func(replies []string)
}

// key returns one of the client's keys; a quarter of them share the
// client's hash tag, which transactions use too.
func (ck *checker) key() string {
	if ck.rng.IntN(4) == 0 {
		return ck.taggedKey()
	}
	return fmt.Sprintf("c%d:%d", ck.id, ck.rng.IntN(40))
}

func (ck *checker) taggedKey() string { return fmt.Sprintf("{c%d}:%d", ck.id, ck.rng.IntN(10)) }

func (ck *checker) epochOf(key string) int64 { return ck.epochs[ck.route(key)].Load() }

// get returns what the model says of key: its value, and whether that is
// certain (known, and its server has not changed epoch since).
func (ck *checker) get(key string) (string, bool) {
	e := ck.model[key]
	return e.val, e.known && e.epoch == ck.epochOf(key)
}

// learn records a value confirmed by a reply, if the key's server did not
// change epoch while the request was out.
func (ck *checker) learn(key, val string, sentEpoch int64) {
	if ep := ck.epochOf(key); ep == sentEpoch {
		ck.model[key] = entry{val: val, epoch: ep, known: true}
	} else {
		ck.model[key] = entry{}
	}
}

func (ck *checker) forget(keys ...string) {
	for _, k := range keys {
		ck.model[k] = entry{}
	}
}

// isServerError reports whether reply is the proxy's error for a server
// that failed (or a sentinel group without its master, or one that failed
// over while the request was in flight).
func isServerError(reply string) bool {
	for _, prefix := range []string{"-ERR Connection ", "-ERR Invalid argument: ", "-ERR sentinel group ", "-ERR no master known "} {
		if strings.HasPrefix(reply, prefix) {
			return true
		}
	}
	return false
}

func (ck *checker) round() {
	n := 1 + ck.rng.IntN(20)
	ops := make([]*op, 0, n)
	for i := 0; i < n; i++ {
		ops = append(ops, ck.newOp())
	}
	var b strings.Builder
	for _, o := range ops {
		o.epochs = make([]int64, len(o.keys))
		for i, k := range o.keys {
			o.epochs[i] = ck.epochOf(k)
		}
		b.WriteString(testutil.EncodeCmd(o.args...))
		for _, cmd := range o.then {
			b.WriteString(testutil.EncodeCmd(cmd...))
		}
	}
	ck.c.Send(b.String())
	for _, o := range ops {
		if o.checkAll != nil {
			replies := []string{ck.c.Reply()}
			for range o.then {
				replies = append(replies, ck.c.Reply())
			}
			ck.ops++
			o.checkAll(replies)
			continue
		}
		reply := ck.c.Reply()
		ck.ops++
		if isServerError(reply) {
			ck.failed++
			ck.forget(o.keys...) // may or may not have been applied
			continue
		}
		o.check(reply)
	}
}

func (ck *checker) fail(o *op, reply, why string, args ...any) {
	ck.t.Errorf("client %d: %q got %q: %s", ck.id, o.args, reply, fmt.Sprintf(why, args...))
}

func (ck *checker) newOp() *op {
	o := &op{}
	switch ck.rng.IntN(7) {
	case 5:
		ck.transaction(o)
	case 0, 1: // SET
		k := ck.key()
		ck.seq++
		v := fmt.Sprintf("v%d.%d", ck.id, ck.seq)
		o.args, o.keys = []string{"SET", k, v}, []string{k}
		o.check = func(reply string) {
			if reply != "+OK\r\n" {
				ck.fail(o, reply, "want +OK")
			}
			ck.learn(k, v, o.epochs[0])
		}
	case 2: // GET
		k := ck.key()
		o.args, o.keys = []string{"GET", k}, []string{k}
		o.check = func(reply string) {
			got, ok := parseBulk(reply, ck.null)
			if !ok {
				ck.fail(o, reply, "not a bulk reply")
				return
			}
			if want, certain := ck.get(k); certain && got != want {
				ck.fail(o, reply, "want %q", want)
			}
			ck.learn(k, got, o.epochs[0])
		}
	case 3: // MSET
		o.args = []string{"MSET"}
		vals := map[string]string{}
		for i := 0; i < 2+ck.rng.IntN(4); i++ {
			k := ck.key()
			ck.seq++
			v := fmt.Sprintf("m%d.%d", ck.id, ck.seq)
			o.args = append(o.args, k, v)
			o.keys = append(o.keys, k)
			vals[k] = v // the last value of a repeated key wins
		}
		o.check = func(reply string) {
			if reply != "+OK\r\n" {
				ck.fail(o, reply, "want +OK")
			}
			for i, k := range o.keys {
				ck.learn(k, vals[k], o.epochs[i])
			}
		}
	case 4: // MGET
		o.args = []string{"MGET"}
		for i := 0; i < 2+ck.rng.IntN(6); i++ {
			k := ck.key()
			o.args = append(o.args, k)
			o.keys = append(o.keys, k)
		}
		o.check = func(reply string) {
			got, ok := parseBulkArray(reply, ck.null)
			if !ok || len(got) != len(o.keys) {
				ck.fail(o, reply, "want an array of %d bulks", len(o.keys))
				return
			}
			for i, k := range o.keys {
				if want, certain := ck.get(k); certain && got[i] != want {
					ck.fail(o, reply, "element %d (%s): want %q", i, k, want)
				}
			}
			for i, k := range o.keys {
				ck.learn(k, got[i], o.epochs[i])
			}
		}
	default: // DEL
		o.args = []string{"DEL"}
		for i := 0; i < 1+ck.rng.IntN(3); i++ {
			k := ck.key()
			o.args = append(o.args, k)
			o.keys = append(o.keys, k)
		}
		o.check = func(reply string) {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(reply, ":"), "\r\n"))
			if err != nil || reply[0] != ':' {
				ck.fail(o, reply, "want an integer")
				return
			}
			// The count is exact when every key is certain.
			want, exact, seen := 0, true, map[string]bool{}
			for _, k := range o.keys {
				v, certain := ck.get(k)
				exact = exact && certain
				if v != "" && !seen[k] {
					want++
				}
				seen[k] = true
			}
			if exact && n != want {
				ck.fail(o, reply, "want :%d", want)
			}
			for i, k := range o.keys {
				ck.learn(k, "", o.epochs[i])
			}
		}
	}
	return o
}

// transaction makes o MULTI, SET k v, GET k, EXEC on a key of the
// client's hash tag: EXEC's reply is all of it or an error, the GET
// inside sees the SET, and the commands around it (on the same keys)
// see it in order.
func (ck *checker) transaction(o *op) {
	k := ck.taggedKey()
	ck.seq++
	v := fmt.Sprintf("t%d.%d", ck.id, ck.seq)
	o.args, o.keys = []string{"MULTI"}, []string{k}
	o.then = [][]string{{"SET", k, v}, {"GET", k}, {"EXEC"}}
	o.checkAll = func(replies []string) {
		if replies[0] != "+OK\r\n" {
			ck.fail(o, replies[0], "MULTI: want +OK")
		}
		queued := true
		for _, r := range replies[1:3] {
			switch {
			case r == "+QUEUED\r\n":
			case isServerError(r):
				queued = false
			default:
				ck.fail(o, r, "a queued command: want +QUEUED or a server error")
			}
		}
		exec := replies[3]
		want := fmt.Sprintf("*2\r\n+OK\r\n$%d\r\n%s\r\n", len(v), v)
		switch {
		case exec == want && queued:
			ck.learn(k, v, o.epochs[0])
		case exec[0] == '-' && (isServerError(exec) || strings.HasPrefix(exec, "-EXECABORT ")):
			ck.failed++
			ck.forget(k) // it may have run, whole
		default:
			ck.fail(o, exec, "EXEC: want %q or an error (queued: %v)", want, queued)
		}
	}
}

// parseBulk decodes "$n\r\n...\r\n" ("" for null, the nil of the
// client's protocol).
func parseBulk(reply, null string) (string, bool) {
	if reply == null {
		return "", true
	}
	var n int
	if _, err := fmt.Sscanf(reply, "$%d\r\n", &n); err != nil {
		return "", false
	}
	head := strings.Index(reply, "\r\n") + 2
	if len(reply) != head+n+2 {
		return "", false
	}
	return reply[head : head+n], true
}

// parseBulkArray decodes an array of bulks and nulls.
func parseBulkArray(reply, null string) ([]string, bool) {
	var n int
	if _, err := fmt.Sscanf(reply, "*%d\r\n", &n); err != nil {
		return nil, false
	}
	rest := reply[strings.Index(reply, "\r\n")+2:]
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		if strings.HasPrefix(rest, null) {
			out, rest = append(out, ""), rest[len(null):]
			continue
		}
		var l int
		if _, err := fmt.Sscanf(rest, "$%d\r\n", &l); err != nil {
			return nil, false
		}
		head := strings.Index(rest, "\r\n") + 2
		if len(rest) < head+l+2 {
			return nil, false
		}
		out, rest = append(out, rest[head:head+l]), rest[head+l+2:]
	}
	return out, rest == ""
}

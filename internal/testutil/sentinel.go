package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sentinel timings the test sentinels run with: a master silent for
// SentinelDownAfter is subjectively down, and a failover that has not
// completed within SentinelFailoverTimeout is given up.
const (
	SentinelDownAfter       = 1000 * time.Millisecond
	SentinelFailoverTimeout = 5000 * time.Millisecond
)

// SentinelMaster is a master a test sentinel monitors: its sentinel name,
// its address and the quorum that agrees it is down.
type SentinelMaster struct {
	Name   string
	Addr   string // "127.0.0.1:port"
	Quorum int
}

// StartSentinel starts a redis-sentinel on a free port, monitoring masters
// with down-after-milliseconds SentinelDownAfter and failover-timeout
// SentinelFailoverTimeout. Extra lines are appended to its configuration
// file (which the sentinel rewrites as it learns: it lives in the
// process's directory, so Restart keeps what was learned).
func StartSentinel(t testing.TB, masters []SentinelMaster, extra ...string) *Process {
	t.Helper()
	port := FreePort(t)
	p := &Process{Kind: "sentinel", Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: t.TempDir(), t: t}
	lines := []string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"protected-mode no",
		"dir " + p.Dir,
		"sentinel resolve-hostnames no",
		"sentinel announce-hostnames no",
	}
	for _, m := range masters {
		host, mport, ok := strings.Cut(m.Addr, ":")
		if !ok {
			t.Fatalf("sentinel master %s: address %q is not host:port", m.Name, m.Addr)
		}
		lines = append(lines,
			fmt.Sprintf("sentinel monitor %s %s %s %d", m.Name, host, mport, m.Quorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", m.Name, SentinelDownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", m.Name, SentinelFailoverTimeout.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", m.Name))
	}
	lines = append(lines, extra...)
	conf := filepath.Join(p.Dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("write sentinel config: %v", err)
	}
	p.args = []string{"redis-sentinel", conf}
	p.launch()
	t.Cleanup(p.Kill)
	return p
}

// StartSentinels starts n sentinels monitoring masters and returns once
// each knows every master with the other sentinels and its replicas
// replicas (see WaitSentinels).
func StartSentinels(t testing.TB, n int, masters []SentinelMaster, replicas int) []*Process {
	t.Helper()
	var sentinels []*Process
	for range n {
		sentinels = append(sentinels, StartSentinel(t, masters))
	}
	for _, m := range masters {
		WaitSentinels(t, sentinels, m.Name, replicas)
	}
	return sentinels
}

// Addrs returns the addresses of ps, joined by ", " (a YAML flow list's
// items).
func Addrs(ps []*Process) string {
	addrs := make([]string, len(ps))
	for i, p := range ps {
		addrs[i] = p.Addr
	}
	return strings.Join(addrs, ", ")
}

// StartReplica starts a redis-server replicating master, and returns once
// the replica's link to it is up. Extra arguments are as StartRedis's.
func StartReplica(t testing.TB, master *Process, extra ...string) *Process {
	t.Helper()
	host, port, _ := strings.Cut(master.Addr, ":")
	r := StartRedis(t, append([]string{"--replicaof", host, port}, extra...)...)
	c := Dial(t, r.Addr)
	Eventually(t, StartTimeout, func() bool {
		return infoField(c.Do("INFO", "replication"), "master_link_status") == "up"
	}, "replica %s of %s: link not up", r.Addr, master.Addr)
	c.Conn.Close()
	return r
}

// WaitSentinels returns once every sentinel knows master name with all
// the other sentinels and replicas replicas: from then on they can agree
// that it is down and fail it over.
func WaitSentinels(t testing.TB, sentinels []*Process, name string, replicas int) {
	t.Helper()
	for _, s := range sentinels {
		c := Dial(t, s.Addr)
		Eventually(t, 3*StartTimeout, func() bool {
			f := SentinelFields(c.Do("SENTINEL", "MASTER", name))
			return f["num-other-sentinels"] == strconv.Itoa(len(sentinels)-1) &&
				f["num-slaves"] == strconv.Itoa(replicas)
		}, "sentinel %s does not know the %d other sentinels and %d replicas of %s", s.Addr, len(sentinels)-1, replicas, name)
		c.Conn.Close()
	}
}

// SentinelFields returns the field-value pairs of a raw RESP2 reply that
// is a flat array of bulk strings, such as SENTINEL MASTER's.
func SentinelFields(raw string) map[string]string {
	fields := make(map[string]string)
	var bulks []string
	for rest := raw; rest != ""; {
		line, after, ok := strings.Cut(rest, "\r\n")
		if !ok {
			break
		}
		rest = after
		if strings.HasPrefix(line, "$") {
			n, err := strconv.Atoi(line[1:])
			if err != nil || n < 0 || n+2 > len(rest) {
				break
			}
			bulks = append(bulks, rest[:n])
			rest = rest[n+2:]
		}
	}
	for i := 0; i+1 < len(bulks); i += 2 {
		fields[bulks[i]] = bulks[i+1]
	}
	return fields
}

// infoField returns the value of field in a raw INFO reply, or "".
func infoField(raw, field string) string {
	for _, line := range strings.Split(raw, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// WaitSettled returns once every sentinel names master as group's master
// and could not fail it over again on its own: it sees the master up,
// runs no failover of it, and counts no other sentinel's vote that it is
// down. A test brings a failed master back only then. Right after a
// switch, redis-sentinel 7.0 may mark the new master down: its link
// there connects up to a second (its ping period) after the switch, and
// the down-after clock, SentinelDownAfter here, runs from the switch.
// And it still counts the other sentinels' votes that the old master was
// down, kept for five seconds: with its own, a quorum. It then fails the
// new master over to the only replica it has, the old master back (a run
// of TestSentinelFailover promoted it before its first sync, empty).
func WaitSettled(t testing.TB, sentinels []*Process, group string, master *Process) {
	t.Helper()
	host, port, _ := strings.Cut(master.Addr, ":")
	for _, s := range sentinels {
		c := Dial(t, s.Addr)
		var state, peers string
		Eventually(t, 30*time.Second, func() bool {
			f := SentinelFields(c.Do("SENTINEL", "MASTER", group))
			state = fmt.Sprintf("%s:%s flags %s", f["ip"], f["port"], f["flags"])
			peers = c.Do("SENTINEL", "SENTINELS", group)
			return f["ip"] == host && f["port"] == port && f["flags"] == "master" &&
				!strings.Contains(peers, "master_down")
		}, "sentinel %s has not settled on %s as %s's master: it has %s, and of the other sentinels:\n%s",
			s.Addr, master.Addr, group, Lazy(func() string { return state }), Lazy(func() string { return peers }))
		c.Conn.Close()
	}
}

// SentinelEvents returns the events a sentinel logged (its lines of
// warning level: +sdown, +odown, +switch-master, votes, ...), for a
// failure to show what the sentinels did.
func SentinelEvents(p *Process) string {
	log, err := os.ReadFile(filepath.Join(p.Dir, "server.log"))
	if err != nil {
		return err.Error()
	}
	var events []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, " # ") {
			events = append(events, line)
		}
	}
	return strings.Join(events, "\n")
}

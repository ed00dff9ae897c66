package proxy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestMemcacheFlushAll: flush_all empties every server, and says OK once
// they all did, or which one failed.
func TestMemcacheFlushAll(t *testing.T) {
	tp := startMC(t, 2, "")
	c := testutil.Dial(t, tp.addr)
	keys := []string{keyOn(t, tp.Proxy, 0, "a"), keyOn(t, tp.Proxy, 1, "b")}
	set := func() {
		for _, k := range keys {
			exchange(t, c, "set "+k+" 0 0 1\r\nv\r\n", "STORED")
		}
	}
	gone := func() { // asked of the servers themselves
		t.Helper()
		for _, b := range tp.backends {
			direct := testutil.Dial(t, b.Addr)
			for _, k := range keys {
				exchange(t, direct, "get "+k+"\r\n", "END")
			}
		}
	}
	set()
	exchange(t, c, "flush_all\r\n", "OK")
	gone()
	set()
	exchange(t, c, "flush_all 0 noreply\r\nmn\r\n", "MN")
	gone()
	exchange(t, c, "flush_all x\r\nflush_all 0 0 0\r\n", "CLIENT_ERROR invalid exptime argument", "ERROR")

	// A real client's FlushAll.
	set()
	if err := memcache.New(tp.addr).FlushAll(); err != nil {
		t.Fatalf("gomemcache FlushAll: %v", err)
	}
	gone()

	dead := tp.Proxy.poolList()[0].pool().Servers[0]
	tp.backends[tp.backendIndex(dead.Config.Addr)].Kill()
	exchange(t, c, "flush_all\r\n", "SERVER_ERROR server "+dead.Name()+": Connection refused")
}

// statLine is one line of memcached's stats, as python-memcached's
// get_stats reads it: "STAT", a name, and the rest of the line.
var statLine = regexp.MustCompile(`^STAT ([^ \r\n]+) ([^\r\n]*)\r\n$`)

// TestMemcacheStats: stats is the proxy's own document in memcached's
// form; stats with a group is refused; deny_commands refuses commands.
func TestMemcacheStats(t *testing.T) {
	tp := startMC(t, 2, "deny_commands: [flush_all]")
	c := testutil.Dial(t, tp.addr)
	c.Send("stats\r\n")
	stats := map[string]string{}
	for {
		line := c.Line()
		if line == "END\r\n" {
			break
		}
		m := statLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("stats line %q", line)
		}
		stats[m[1]] = m[2]
	}
	for name, want := range map[string]string{
		"pid": `^[0-9]+$`, "uptime": `^[0-9]+$`, "time": `^[0-9]{10}$`, "curr_connections": `^1$`,
		"total_connections": `^[0-9]+$`, "pool": `^p$`, "servers": `^2$`,
		"server1": `^name=127\.0\.0\.1:[0-9]+,addr=127\.0\.0\.1:[0-9]+,state=up,connections=[0-9]+,requests=[0-9]+,errors=0$`,
	} {
		if !regexp.MustCompile(want).MatchString(stats[name]) {
			t.Errorf("STAT %s %q does not match %s", name, stats[name], want)
		}
	}
	if _, ok := stats["version"]; !ok {
		t.Error("no STAT version")
	}
	c.Send("stats items\r\n")
	if got := c.Line(); !strings.HasPrefix(got, "CLIENT_ERROR the proxy answers only plain \"stats\"") {
		t.Errorf("stats items: %q", got)
	}
	exchange(t, c, "flush_all\r\n", "SERVER_ERROR command 'flush_all' is denied on this pool (deny_commands)")
}

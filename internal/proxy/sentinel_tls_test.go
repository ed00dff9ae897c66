package proxy

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestSentinelTLS runs a sentinel pool with server_tls in front of a
// group whose master and replica speak TLS only, watched by sentinels
// asked in plaintext: the master they name is confirmed over TLS and
// serves; once it is killed, writes go to the replica they promote, which
// the watcher's next ask confirms with ROLE over TLS too.
func TestSentinelTLS(t *testing.T) {
	t.Parallel()
	files := testutil.NewTLSFiles(t, "sentinel TLS CA")
	master := testutil.StartRedisTLSOnly(t, files)
	replica := testutil.StartReplicaTLSOnly(t, files, master)
	st := &sentinelSetup{t: t, down: map[*testutil.Process]bool{}}
	st.sentinels = testutil.StartSentinelsTLS(t, files, 3, []testutil.SentinelMaster{{Name: "g", Addr: master.Addr, Quorum: 2}}, 1)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	runProxy(t, fmt.Sprintf(`p:
  listen: %s
  timeout: 400
  sentinel_heartbeat: 100
  server_tls: true
  server_tls_ca_cert_file: %s
  groups: [g]
  sentinels: [%s]
`, addr, files.CA, testutil.Addrs(st.sentinels)), DefaultMbufSize)

	c := testutil.Dial(t, addr)
	if got := c.Do("SET", "k", "over TLS"); got != "+OK\r\n" {
		t.Fatalf("SET through the proxy: %q", got)
	}
	if got := c.Do("GET", "k"); got != "$8\r\nover TLS\r\n" {
		t.Fatalf("GET through the proxy: %q", got)
	}
	if got := testutil.DialTLS(t, master.Addr, files.ClientConfig(t)).Do("GET", "k"); got != "$8\r\nover TLS\r\n" {
		t.Fatalf("GET on the master: %q, want the value set through the proxy", got)
	}

	// On a connection of its own each time: the sentinels close the
	// promoted replica's clients.
	onReplica := func(args ...string) string {
		c := testutil.DialTLS(t, replica.Addr, files.ClientConfig(t))
		defer c.Conn.Close()
		return c.Do(args...)
	}
	roleCalls := func() int {
		info := onReplica("INFO", "commandstats")
		_, rest, _ := strings.Cut(info, "cmdstat_role:calls=")
		n, _ := strconv.Atoi(rest[:strings.IndexAny(rest+",", ",")])
		return n
	}
	writer := startWriter(t, addr, "w")
	announced := st.switches()
	since := writer.mark()
	master.Kill()
	var switched time.Time
	testutil.Eventually(t, 30*time.Second, func() bool {
		switched = announced("g", "")
		return !switched.IsZero()
	}, "no sentinel announced a switch of g")
	ok := writer.firstOKAfter(t, since, switched)
	t.Logf("writes acknowledged again %v after the first +switch-master", ok.Sub(switched))

	// The switch was taken as announced; the asks that follow it confirm
	// the new master with ROLE, over TLS, or the group would lose it.
	asked := roleCalls()
	testutil.Eventually(t, 5*time.Second, func() bool { return roleCalls() > asked },
		"the new master %s is not asked ROLE again", replica.Addr)
	writer.close()
	if got := c.Do("SET", "k", "after the failover"); got != "+OK\r\n" {
		t.Fatalf("SET through the proxy once the new master was confirmed: %q", got)
	}
	if got := onReplica("GET", "k"); got != "$18\r\nafter the failover\r\n" {
		t.Errorf("GET on the new master: %q, want the value set through the proxy", got)
	}
	if len(writer.errs) > 0 {
		t.Logf("writes failed during the failover: %d, the last %s", len(writer.errs), writer.errs[len(writer.errs)-1])
	}
}

package proxy

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

func readStats(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStatsPortMatchesTwemproxy runs the configuration Debian's nutcracker
// 0.5.0 ran to record ../stats/testdata/twemproxy-0.5.0.json and reads the
// stats port the way monitoring tools do.
func TestStatsPortMatchesTwemproxy(t *testing.T) {
	yaml, err := os.ReadFile("../stats/testdata/twemproxy-0.5.0.yml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../stats/testdata/twemproxy-0.5.0.json")
	if err != nil {
		t.Fatal(err)
	}
	beta := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := strings.NewReplacer("127.0.0.1:7410", beta,
		"127.0.0.1:7411", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))).Replace(string(yaml))
	p := runProxy(t, conf, DefaultMbufSize)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go stats.Serve(ln, p.Stats, p.Health)
	t.Cleanup(func() { ln.Close() })

	first := readStats(t, ln.Addr().String())
	if testutil.StatsShape(first) != testutil.StatsShape(string(want)) {
		t.Fatalf("stats document differs from twemproxy's:\ngot  %s\nwant %s", first, want)
	}
	// The servers of the recorded config are not running: a request fails
	// and the counters say so, and keep saying so on the next read.
	c := testutil.Dial(t, beta)
	k := keyOn(t, p, 0, "k") // server s1 (127.0.0.1:7401)
	if got := c.Do("GET", k); got != "-ERR Connection refused\r\n" {
		t.Fatalf("GET with the server down: %q", got)
	}
	for range 2 {
		doc := readStats(t, ln.Addr().String())
		for _, want := range []string{`"client_connections":1, "server_ejects":0, "forward_error":1, `,
			`"s1": {"server_eof":0, "server_err":1, `} {
			if !strings.Contains(doc, want) {
				t.Fatalf("stats lack %s:\n%s", want, doc)
			}
		}
	}
}

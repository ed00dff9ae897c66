package pool

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// completions counts the requests completed, with and without an error.
type completions struct {
	wg         sync.WaitGroup
	ok, failed atomic.Int64
}

func (c *completions) Complete(r *proto.Request) {
	if r.Err != nil {
		c.failed.Add(1)
	} else {
		c.ok.Add(1)
	}
	c.wg.Done()
}

// TestDeadServerDoesNotFloodTheLog kills the only redis of a pool without auto_eject and sends
// it requests by the thousand: the log gets its first failure, then one line with a count per
// period, and one line when it answers again after a restart.
func TestDeadServerDoesNotFloodTheLog(t *testing.T) {
	redis := testutil.StartRedis(t)
	logFile := filepath.Join(t.TempDir(), "nc.log")
	if err := logging.Init(logging.Notice, logFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logging.Init(logging.DefaultLevel, "") })
	period := logging.RecurringPeriod
	logging.RecurringPeriod = 100 * time.Millisecond
	t.Cleanup(func() { logging.RecurringPeriod = period })

	cfg, err := config.Parse("test.yml", []byte("p:\n  listen: 127.0.0.1:1\n  redis: true\n  timeout: 1000\n"+
		"  servers:\n   - "+redis.Addr+":1\n"))
	if err != nil {
		t.Fatal(err)
	}
	server := newTestPool(t, cfg.Pools[0]).Servers[0]
	own := &completions{}
	ping := func(n int) {
		own.wg.Add(n)
		for range n {
			server.Send(&proto.Request{Wire: []byte("PING\r\n"), Owner: own}, 0, 0)
		}
		own.wg.Wait()
	}
	readLog := func() []string {
		data, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	}

	ping(10)
	if own.ok.Load() != 10 {
		t.Fatalf("%d of 10 requests answered by a live redis", own.ok.Load())
	}
	redis.Kill()
	testutil.Eventually(t, 10*time.Second, func() bool {
		ping(200)
		return len(readLog()) == 3
	}, "no count lines while the server is dead")
	failed := own.failed.Load()
	if own.ok.Load() != 10 || failed%200 != 0 {
		t.Fatalf("%d requests answered and %d failed by a dead redis, want 10 answered (before) and the rest failed",
			own.ok.Load(), failed)
	}

	redis.Restart()
	ping(1)
	if own.ok.Load() != 11 {
		t.Fatalf("the request after the restart failed")
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return len(readLog()) == 4 }, "no recovery line")
	ping(100)

	subject := regexp.QuoteMeta("server " + redis.Addr + " of pool p")
	// The connection that breaks when redis is killed fails first; the dials after it are refused.
	first := regexp.MustCompile(subject + ` failed: (Connection reset by peer|Connection refused)$`)
	more := regexp.MustCompile(subject + ` failed (\d+) more times in \S+ \(last: Connection refused\)$`)
	recovered := regexp.MustCompile(subject + ` recovered after (\d+) failures in \S+$`)
	lines := readLog()
	if len(lines) != 4 || !first.MatchString(lines[0]) || !recovered.MatchString(lines[3]) {
		t.Fatalf("want the first failure, 2 count lines and the recovery; the log has\n%s", strings.Join(lines, "\n"))
	}
	logged := 1
	for _, line := range lines[1:3] {
		m := more.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a count line: %q", line)
		}
		n, _ := strconv.Atoi(m[1])
		if n < 2 {
			t.Errorf("a count line for %d failure: the failures of a %v period go on one line", n, logging.RecurringPeriod)
		}
		logged += n
	}
	total, _ := strconv.Atoi(recovered.FindStringSubmatch(lines[3])[1])
	if total < logged || int64(total) > failed {
		t.Errorf("the recovery counts %d failures; the lines before it %d, and %d requests failed", total, logged, failed)
	}
	t.Logf("%d requests failed; the log says:\n%s", failed, strings.Join(lines, "\n"))
}

package main

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// failoverWriters are clients that write through the proxy while a
// master fails over, each on its own connection, as fast as they are
// answered: each notes when its writes work again after they failed, and
// any failure of a write that must not fail.
type failoverWriters struct {
	mu        sync.Mutex
	recovered []time.Time // per connection: when a write worked again after a failure
	failing   []bool
	mustNot   []string // failed writes that must not have
	stop      chan struct{}
	wg        sync.WaitGroup
}

// startWriters starts a writer on each of conns: write n of connection i
// sets key(i, n); a failed write whose key mustWork(i, n) fails the test.
func startWriters(t *testing.T, conns []net.Conn, key func(i, n int) string, mustWork func(i, n int) bool) *failoverWriters {
	w := &failoverWriters{recovered: make([]time.Time, len(conns)), failing: make([]bool, len(conns)), stop: make(chan struct{})}
	for i, conn := range conns {
		w.wg.Go(func() {
			r := bufio.NewReader(conn)
			for n := 0; ; n++ {
				select {
				case <-w.stop:
					return
				default:
				}
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Write([]byte(testutil.EncodeCmd("SET", key(i, n), fmt.Sprint(n)))); err != nil {
					return
				}
				reply, err := testutil.ReadReply(r)
				if err != nil {
					return
				}
				w.note(i, reply == "+OK\r\n", mustWork(i, n), reply)
			}
		})
	}
	t.Cleanup(w.close)
	return w
}

// close stops the writers and waits for them, once.
func (w *failoverWriters) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

func (w *failoverWriters) note(i int, ok, mustWork bool, reply string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !ok && mustWork:
		w.mustNot = append(w.mustNot, reply)
	case !ok:
		w.failing[i] = true
	case w.failing[i]:
		w.failing[i], w.recovered[i] = false, time.Now()
	}
}

// reset forgets the recoveries seen so far, before a failover.
func (w *failoverWriters) reset() {
	w.mu.Lock()
	clear(w.recovered)
	w.mu.Unlock()
}

// worstRecovery waits until every writer has failed and worked again,
// and returns the latest recovery's time after at (below 0: the proxy
// knew before the test did).
func (w *failoverWriters) worstRecovery(t *testing.T, at time.Time) time.Duration {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, r := range w.recovered {
			if w.failing[i] || r.IsZero() {
				return false
			}
		}
		return true
	}, "a worker's clients never wrote again after the failover")
	w.mu.Lock()
	defer w.mu.Unlock()
	worst := w.recovered[0].Sub(at)
	for _, r := range w.recovered[1:] {
		worst = max(worst, r.Sub(at))
	}
	return worst
}

// failures returns the failed writes that must not have failed.
func (w *failoverWriters) failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mustNot
}

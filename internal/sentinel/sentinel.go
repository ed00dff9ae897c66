// Package sentinel follows the masters of Redis Sentinel groups for a pool
// that names groups instead of servers (twemproxy-163's `groups:`,
// `sentinels:` and `sentinel_heartbeat`).
//
// Discover asks once, for startup and reload checks. A Watcher follows the
// masters until Close, on one sentinel at a time, tried in the order given:
//
//   - it asks the sentinel where every group's master is (SENTINEL
//     get-master-addr-by-name, pipelined), and confirms each answer by
//     asking the master itself (over TLS when the masters speak it, the
//     sentinels being asked in plaintext): only a ROLE reply of "master"
//     confirms it.
//     A group whose master is not confirmed has none ("") until a later
//     ask, at the next heartbeat, confirms one;
//   - on a second connection to the same sentinel it subscribes to
//     +switch-master, and repoints a group the moment a switch is announced,
//     without a ROLE round trip: the sentinels have just promoted it;
//   - every heartbeat it PINGs the subscription; a sentinel that does not
//     answer in time (dead, paused, cut off) is dropped for the next one,
//     and every group is asked again there, which catches a switch
//     announced while no one was listening;
//   - every few heartbeats, and at once on Reask, it asks every group
//     again anyway: pub/sub loses messages silently.
//
// An ask started before a switch was announced does not undo the switch:
// its answer for that group is dropped.
//
// Threading: a Watcher has one goroutine that owns the masters and calls
// Options.Master, and while it follows a sentinel two helpers, one reading
// the subscription and one asking; the helpers report to it over channels,
// so a slow ask (a master that does not answer ROLE) never delays a switch.
// Close ends them all and waits for them. Every read and write has a
// deadline and every reply is framed and bounded before it is looked at.
package sentinel

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
)

// Defaults for Options left zero. DefaultHeartbeat is twemproxy-163's
// sentinel_heartbeat default.
const (
	DefaultHeartbeat = time.Second
	DefaultTimeout   = time.Second
)

// reaskBeats is how many heartbeats pass between two asks of every group
// when nothing else asks for one.
const reaskBeats = 5

// Options configures Discover and a Watcher: plain values, so that this
// package does not depend on the configuration's.
type Options struct {
	Sentinels []string      // "host:port", in the order tried
	Groups    []string      // sentinel master names
	Heartbeat time.Duration // sentinel_heartbeat; 0: DefaultHeartbeat
	// Timeout bounds a dial and a reply, a sentinel's or a master's; a
	// heartbeat PING is answered within Timeout, or before the next
	// heartbeat if that comes sooner. 0: DefaultTimeout.
	Timeout        time.Duration
	Password       string // AUTH to the sentinels; "" none
	MasterPassword string // AUTH to the masters before ROLE; "" none
	// MasterTLS, when not nil, is the TLS that ROLE is asked of the
	// masters over (the pool's server_tls); an empty ServerName verifies
	// the master's host. The sentinels are always asked in plaintext.
	MasterTLS *tls.Config
	// Master is called when a group's master is learned or changes: addr
	// "host:port", or "" when the group has no confirmed master any more;
	// from names the sentinel ("host:port") that said so. Calls come from
	// the Watcher's one goroutine, never two at once, and only when a
	// group's address changes from the one in Known (none when absent).
	// It must not block for long (it delays the next switch) and must not
	// call Close.
	Master func(group, addr, from string)
	// Known are the masters the caller starts with, by group, such as
	// Discover's: a Watcher reports only changes from them.
	Known map[string]string
}

func (o Options) withDefaults() Options {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Master == nil {
		o.Master = func(group, addr, from string) {}
	}
	return o
}

// answer is what one sentinel says of one group.
type answer struct {
	group string
	addr  string // the master the sentinel names; "" when it knows none
	known bool   // the sentinel monitors the group
	err   error  // why addr is not confirmed as a master; nil when it is
}

// UnknownGroupError is Discover's error when the sentinel that answers does
// not monitor some of the groups: a configuration to refuse, whereas no
// sentinel answering may be a passing outage.
type UnknownGroupError struct {
	Sentinel string
	Groups   []string
}

func (e *UnknownGroupError) Error() string {
	if len(e.Groups) == 1 {
		return fmt.Sprintf("sentinel %s does not know group %s", e.Sentinel, e.Groups[0])
	}
	return fmt.Sprintf("sentinel %s does not know groups %s", e.Sentinel, strings.Join(e.Groups, ", "))
}

// Discover asks the sentinels in order, once, for every group's master,
// confirms each with ROLE, and returns them by group, "" for a group whose
// master is not confirmed (logged). The first sentinel that answers
// decides: a group it does not monitor is an *UnknownGroupError naming the
// group and the sentinel; when no sentinel answers, the error names them
// all.
func Discover(ctx context.Context, opts Options) (map[string]string, error) {
	opts = opts.withDefaults()
	var failures []string
	for _, addr := range opts.Sentinels {
		answers, err := askSentinel(ctx, opts, addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			failures = append(failures, err.Error())
			continue
		}
		unknown := &UnknownGroupError{Sentinel: addr}
		for _, a := range answers {
			if !a.known {
				unknown.Groups = append(unknown.Groups, a.group)
			}
		}
		if len(unknown.Groups) > 0 {
			return nil, unknown
		}
		confirm(ctx, opts, answers)
		masters := make(map[string]string, len(answers))
		for _, a := range answers {
			if a.err != nil {
				logging.Warnf("sentinel: group %s: master %s named by sentinel %s is not confirmed: %v", a.group, a.addr, addr, a.err)
				a.addr = ""
			}
			masters[a.group] = a.addr
		}
		return masters, nil
	}
	if len(failures) == 0 {
		return nil, errors.New("no sentinel to ask")
	}
	return nil, fmt.Errorf("no sentinel answers: %s", strings.Join(failures, "; "))
}

// askSentinel connects to the sentinel at addr and asks it for every group.
func askSentinel(ctx context.Context, opts Options, addr string) ([]answer, error) {
	c, err := dialSentinel(ctx, opts, addr)
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: %w", addr, err)
	}
	defer c.close()
	answers, err := ask(c, opts.Groups)
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: %w", addr, err)
	}
	return answers, nil
}

// dialSentinel connects to a sentinel and authenticates when a password
// is set.
func dialSentinel(ctx context.Context, opts Options, addr string) (*conn, error) {
	c, err := dial(ctx, addr, opts.Timeout, nil)
	if err != nil {
		return nil, err
	}
	if opts.Password != "" {
		if err := c.auth(opts.Password); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// ask sends SENTINEL get-master-addr-by-name for every group in one write
// and reads the answers.
func ask(c *conn, groups []string) ([]answer, error) {
	for _, g := range groups {
		c.command("SENTINEL", "get-master-addr-by-name", g)
	}
	if err := c.send(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.timeout)
	answers := make([]answer, len(groups))
	for i, g := range groups {
		r, err := c.reply(deadline)
		if err != nil {
			return nil, err
		}
		answers[i].group = g
		switch {
		case bytes.Equal(r, []byte("*-1\r\n")) || bytes.Equal(r, []byte("$-1\r\n")):
			// A group the sentinel does not monitor.
		case r[0] == '-':
			return nil, fmt.Errorf("SENTINEL get-master-addr-by-name %s: %s", g, text(r))
		default:
			f, ok := elems(r)
			if !ok || len(f) != 2 || len(f[0]) == 0 || len(f[1]) == 0 {
				return nil, fmt.Errorf("SENTINEL get-master-addr-by-name %s: %w %s", g, errUnexpected, text(r))
			}
			answers[i].addr, answers[i].known = net.JoinHostPort(string(f[0]), string(f[1])), true
		}
	}
	return answers, nil
}

// confirm asks every named master its ROLE, all at once, and sets the err
// of each answer whose master is not confirmed.
func confirm(ctx context.Context, opts Options, answers []answer) {
	var wg sync.WaitGroup
	for i := range answers {
		a := &answers[i]
		if !a.known {
			a.err = errors.New("the sentinel does not know the group")
			continue
		}
		wg.Go(func() { a.err = confirmMaster(ctx, opts, a.addr) })
	}
	wg.Wait()
}

// confirmMaster reports why the server at addr is not a master, or nil.
func confirmMaster(ctx context.Context, opts Options, addr string) error {
	c, err := dial(ctx, addr, opts.Timeout, opts.MasterTLS)
	if err != nil {
		return err
	}
	defer c.close()
	if opts.MasterPassword != "" {
		c.command("AUTH", opts.MasterPassword)
	}
	c.command("ROLE")
	if err := c.send(); err != nil {
		return err
	}
	deadline := time.Now().Add(opts.Timeout)
	authFailed := ""
	if opts.MasterPassword != "" {
		// A refused AUTH shows in ROLE's reply; its reason goes with it.
		r, err := c.reply(deadline)
		if err != nil {
			return err
		}
		if r[0] == '-' {
			authFailed = " (AUTH: " + text(r) + ")"
		}
	}
	r, err := c.reply(deadline)
	if err != nil {
		return err
	}
	if r[0] == '-' {
		return notMasterError{fmt.Errorf("ROLE: %s%s", text(r), authFailed)}
	}
	spans, err := resp.ArrayElems(r, nil)
	if err != nil || len(spans) == 0 {
		return notMasterError{fmt.Errorf("ROLE: %w %s", errUnexpected, text(r))}
	}
	role, ok := bulk(spans[0])
	if !ok {
		return notMasterError{fmt.Errorf("ROLE: %w %s", errUnexpected, text(r))}
	}
	if string(role) != "master" {
		return notMasterError{fmt.Errorf("ROLE says %.32q", role)}
	}
	return nil
}

// notMasterError is confirmMaster's error when the server answered, and
// not as a master would: a verdict, where a failure to reach the server in
// time (a stall, a loaded machine) is not one.
type notMasterError struct{ error }

func (e notMasterError) Unwrap() error { return e.error }

// Watcher follows the masters of the groups until Close.
type Watcher struct {
	opts   Options
	cancel context.CancelFunc
	done   chan struct{}
	reask  chan struct{} // a token: ask every group now

	// Owned by the run goroutine.
	masters    map[string]string
	asked      uint64            // asks started, through every sentinel: an ask's number
	switchedAt map[string]uint64 // by group: the number of the last ask started before its last switch
	confirmLog map[string]*logging.Recurring
	failLog    []logging.Recurring // by sentinel
	following  string              // the last sentinel that answered, "" before the first
}

// Start runs a Watcher until Close. It returns at once: the masters are
// reported to opts.Master as they are learned.
func Start(opts Options) *Watcher {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{
		opts:       opts,
		cancel:     cancel,
		done:       make(chan struct{}),
		reask:      make(chan struct{}, 1),
		masters:    make(map[string]string, len(opts.Groups)),
		switchedAt: make(map[string]uint64, len(opts.Groups)),
		confirmLog: make(map[string]*logging.Recurring, len(opts.Groups)),
		failLog:    make([]logging.Recurring, len(opts.Sentinels)),
	}
	for _, g := range opts.Groups {
		w.confirmLog[g] = new(logging.Recurring)
		w.masters[g] = opts.Known[g]
	}
	go w.run(ctx)
	return w
}

// Reask makes the watcher ask every group's master again now: the proxy
// saw a master refuse a write (-READONLY), so it may have been demoted.
func (w *Watcher) Reask() {
	select {
	case w.reask <- struct{}{}:
	default: // one is already due
	}
}

// Close stops the watcher and waits for its goroutines. Master is not
// called once Close has returned.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
}

// run follows the sentinels one after the other, round robin, until ctx
// ends. After a whole round of sentinels failed it waits a heartbeat.
// While no sentinel answers, the groups keep the masters last known.
func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	n := len(w.opts.Sentinels)
	failed := 0 // sentinels failed in a row
	for i := 0; n > 0; i = (i + 1) % n {
		addr := w.opts.Sentinels[i]
		answered, err := w.follow(ctx, i)
		if ctx.Err() != nil {
			return
		}
		if answered {
			failed = 0
		}
		w.failLog[i].Fail(logging.Warn, "sentinel: following sentinel "+addr, err)
		if failed++; failed < n {
			continue
		}
		failed = 0
		t := time.NewTimer(w.opts.Heartbeat)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	<-ctx.Done()
}

// switchEvent is a +switch-master for one of our groups, or the error
// that ended the subscription.
type switchEvent struct {
	group, addr string
	err         error
}

// askResult is the outcome of one ask of every group.
type askResult struct {
	seq     uint64
	answers []answer
	err     error
}

// follow subscribes to the sentinel Sentinels[i] and follows the masters
// through it until it fails or ctx ends, and returns why. answered reports
// whether the sentinel answered an ask: a sentinel that fails before is
// counted as failed in the round, so that a round of them is paced.
func (w *Watcher) follow(ctx context.Context, i int) (answered bool, err error) {
	addr := w.opts.Sentinels[i]
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // closes the connections, which ends the helpers
		wg.Wait()
	}()
	// Subscribe first, so that no switch falls between the first ask and
	// the subscription.
	sub, err := w.subscribe(ctx, addr)
	if err != nil {
		return false, err
	}
	query, err := dialSentinel(ctx, w.opts, addr)
	if err != nil {
		return false, err
	}
	events := make(chan switchEvent)
	asks := make(chan uint64, 1)
	results := make(chan askResult)
	wg.Go(func() { w.listen(ctx, sub, events) })
	wg.Go(func() { w.asker(ctx, query, asks, results) })

	var (
		asking      bool // an ask is under way
		again       bool // and another is wanted after it
		unconfirmed bool // the last ask left a group without a master
		beats       int  // heartbeats since the last ask started
	)
	askNow := func() {
		if asking {
			again = true
			return
		}
		w.asked++
		asks <- w.asked // the asker is idle: its buffer is free
		asking, again, beats = true, false, 0
	}
	askNow()
	heartbeat := time.NewTicker(w.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return answered, ctx.Err()
		case ev := <-events:
			if ev.err != nil {
				return answered, ev.err
			}
			w.switchedAt[ev.group] = w.asked
			w.confirmLog[ev.group].Recover(logging.Notice, "sentinel: confirming the master of group "+ev.group)
			w.setMaster(ev.group, ev.addr, "announced by sentinel "+addr, addr)
		case res := <-results:
			asking = false
			if res.err != nil {
				return answered, res.err
			}
			if !answered {
				answered = true
				w.answered(i)
			}
			unconfirmed = w.apply(res, addr)
			if again {
				askNow()
			}
		case <-heartbeat.C:
			if beats++; beats >= reaskBeats || unconfirmed {
				askNow()
			}
		case <-w.reask:
			askNow()
		}
	}
}

// answered logs that the masters are followed through Sentinels[i] now.
func (w *Watcher) answered(i int) {
	addr := w.opts.Sentinels[i]
	w.failLog[i].Recover(logging.Notice, "sentinel: following sentinel "+addr)
	switch w.following {
	case addr:
	case "":
		logging.Noticef("sentinel: following sentinel %s", addr)
	default:
		logging.Noticef("sentinel: following sentinel %s instead of %s", addr, w.following)
	}
	w.following = addr
}

// apply takes the answers of an ask made through the sentinel from, and
// reports whether a group was left without a confirmed master.
func (w *Watcher) apply(res askResult, from string) (unconfirmed bool) {
	for _, a := range res.answers {
		if res.seq <= w.switchedAt[a.group] {
			continue // asked before a switch: the switch is newer
		}
		subject := "sentinel: confirming the master of group " + a.group
		if a.err != nil {
			unconfirmed = true
			var verdict notMasterError
			if a.known && a.addr != "" && a.addr == w.masters[a.group] && !errors.As(a.err, &verdict) {
				// The master in use, named again, did not answer ROLE: it is
				// kept (its requests fail by themselves if it is gone)
				// until it answers as something else or the sentinels
				// switch; dropping it failed every request of the group
				// for a stall of one ROLE round trip.
				w.confirmLog[a.group].Fail(logging.Warn, subject, fmt.Errorf("%s named by sentinel %s, kept: %w", a.addr, from, a.err))
				continue
			}
			if a.known {
				w.confirmLog[a.group].Fail(logging.Warn, subject, fmt.Errorf("%s named by sentinel %s: %w", a.addr, from, a.err))
			} else {
				w.confirmLog[a.group].Fail(logging.Warn, subject, fmt.Errorf("sentinel %s does not know the group", from))
			}
			w.setMaster(a.group, "", "not confirmed through sentinel "+from, from)
			continue
		}
		w.confirmLog[a.group].Recover(logging.Notice, subject)
		w.setMaster(a.group, a.addr, "confirmed through sentinel "+from, from)
	}
	return unconfirmed
}

// setMaster records and reports a group's master, if it changed.
func (w *Watcher) setMaster(group, addr, why, from string) {
	old := w.masters[group]
	if old == addr {
		return
	}
	w.masters[group] = addr
	logging.Noticef("sentinel: group %s master %s -> %s (%s)", group, orNone(old), orNone(addr), why)
	w.opts.Master(group, addr, from)
}

func orNone(addr string) string {
	if addr == "" {
		return "none"
	}
	return addr
}

// asker asks every group, and confirms the answers, each time it is told
// to, and sends back the result; an error ends it.
func (w *Watcher) asker(ctx context.Context, c *conn, asks <-chan uint64, results chan<- askResult) {
	for {
		var res askResult
		select {
		case <-ctx.Done():
			return
		case res.seq = <-asks:
		}
		res.answers, res.err = ask(c, w.opts.Groups)
		if res.err == nil {
			confirm(ctx, w.opts, res.answers)
		} else {
			res.err = fmt.Errorf("asking the masters: %w", res.err)
		}
		select {
		case <-ctx.Done():
			return
		case results <- res:
		}
		if res.err != nil {
			return
		}
	}
}

// The channels a watcher subscribes to. Only +switch-master moves a
// master; a master objectively down, or back, is logged.
var patterns = []string{"+switch-master", "+odown", "-odown"}

// subscribe connects to the sentinel at addr and subscribes to patterns.
func (w *Watcher) subscribe(ctx context.Context, addr string) (*conn, error) {
	c, err := dialSentinel(ctx, w.opts, addr)
	if err != nil {
		return nil, err
	}
	c.command(append([]string{"PSUBSCRIBE"}, patterns...)...)
	if err := c.send(); err != nil {
		c.close()
		return nil, fmt.Errorf("PSUBSCRIBE: %w", err)
	}
	deadline := time.Now().Add(w.opts.Timeout)
	for range patterns {
		r, err := c.reply(deadline)
		if err == nil && !isPush(r, "psubscribe") {
			err = fmt.Errorf("%w %s", errUnexpected, text(r))
		}
		if err != nil {
			c.close()
			return nil, fmt.Errorf("PSUBSCRIBE: %w", err)
		}
	}
	return c, nil
}

// listen reads the subscription: it sends a switch of one of our groups
// to events, logs the others, and PINGs every heartbeat. The first error,
// an unanswered PING among them, is sent to events and ends it.
func (w *Watcher) listen(ctx context.Context, c *conn, events chan<- switchEvent) {
	pongWait := min(w.opts.Heartbeat, w.opts.Timeout)
	nextPing := time.Now().Add(w.opts.Heartbeat)
	var pongBy time.Time // when the PING sent must be answered; zero when none is due
	err := func() error {
		for {
			deadline := nextPing
			if !pongBy.IsZero() {
				deadline = pongBy
			}
			r, err := c.reply(deadline)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if !pongBy.IsZero() {
					return fmt.Errorf("no reply to PING within %v", pongWait)
				}
				now := time.Now()
				c.command("PING")
				if err := c.send(); err != nil {
					return fmt.Errorf("PING: %w", err)
				}
				pongBy, nextPing = now.Add(pongWait), now.Add(w.opts.Heartbeat)
				continue
			}
			if err != nil {
				return fmt.Errorf("subscription: %w", err)
			}
			f, ok := elems(r)
			switch {
			case isPush(r, "pong"):
				pongBy = time.Time{}
			case ok && len(f) == 4 && string(f[0]) == "pmessage":
				if ev, ok := w.event(c.addr, string(f[2]), string(f[3])); ok {
					select {
					case events <- ev:
					case <-ctx.Done():
						return nil
					}
				}
			default:
				return fmt.Errorf("subscription: %w %s", errUnexpected, text(r))
			}
		}
	}()
	if ctx.Err() != nil {
		return // the connection was closed to end us
	}
	select {
	case events <- switchEvent{err: err}:
	case <-ctx.Done():
	}
}

// event reads a message the sentinel at from published on channel: a
// switch of one of our groups is returned, anything else about one of them
// is logged.
func (w *Watcher) event(from, channel, payload string) (switchEvent, bool) {
	f := strings.Fields(payload)
	switch channel {
	case "+switch-master":
		// <group> <old ip> <old port> <new ip> <new port>
		if len(f) == 5 && w.ours(f[0]) {
			return switchEvent{group: f[0], addr: net.JoinHostPort(f[3], f[4])}, true
		}
	case "+odown", "-odown":
		// master <group> <ip> <port> [#quorum n/m]
		if len(f) >= 4 && f[0] == "master" && w.ours(f[1]) {
			state := "objectively down"
			if channel == "-odown" {
				state = "no longer objectively down"
			}
			logging.Noticef("sentinel: group %s master %s is %s (sentinel %s)", f[1], net.JoinHostPort(f[2], f[3]), state, from)
		}
	}
	return switchEvent{}, false
}

// isPush reports whether reply is an array whose first element is the
// bulk string kind, as the replies of a subscribed connection are.
func isPush(reply []byte, kind string) bool {
	spans, err := resp.ArrayElems(reply, nil)
	if err != nil || len(spans) == 0 {
		return false
	}
	b, ok := bulk(spans[0])
	return ok && string(b) == kind
}

func (w *Watcher) ours(group string) bool {
	for _, g := range w.opts.Groups {
		if g == group {
			return true
		}
	}
	return false
}

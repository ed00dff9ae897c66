//go:build linux

// Command nutcracker is a drop-in replacement for twemproxy (nutcracker):
// it reads the same YAML file, takes the same flags and places keys on the
// same servers. This file turns flags into a running proxy; the work is in
// the internal packages.
//
// Texts a user or a script sees (-h, -V, -D, -t, the flag errors, the
// signal lines in the log) are twemproxy 0.5's, which writes all of them to
// stderr.
package main

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	flag "github.com/spf13/pflag"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/daemon"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proxy"
	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/supervisor"
	"github.com/nutcracker-go/nutcracker/internal/worker"
)

// defaultConfFile is -c's default. A packaged build sets it at link time
// (make deb: -ldflags "-X main.defaultConfFile=/etc/nutcracker/nutcracker.yml",
// the path Debian's twemproxy package compiles in); a plain build keeps
// twemproxy's relative default.
var defaultConfFile = "conf/nutcracker.yml"

// Defaults and limits, as twemproxy's nc.c and nc_mbuf.h.
const (
	defaultStatsPort     = 22222
	defaultStatsAddr     = "0.0.0.0"
	defaultStatsInterval = 30000 // msec
	mbufMin              = 512
	mbufMax              = 16777216
)

// options are the parsed command line.
type options struct {
	help, version, testConf, daemonize, describe bool

	verbosity     int
	output        string // log file, "" = stderr
	confFile      string
	statsPort     int
	statsAddr     string
	statsInterval int // msec
	pidFile       string
	mbufSize      int
	workers       int    // bilitw -n: worker processes; 0 = one process, no master
	coreMask      uint64 // bilitw -M: 0 = no pinning
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the whole program but the exit; it returns the exit code.
func run(args []string, stderr io.Writer) int {
	opts, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "nutcracker: %v\n", err)
		usage(stderr)
		return 1
	}
	if opts.help || opts.version || opts.describe {
		fmt.Fprintf(stderr, "This is nutcracker-%s\n\n", version)
		if opts.help {
			usage(stderr)
		}
		if opts.describe {
			stats.Describe(stderr)
		}
		return 0
	}
	if opts.testConf {
		return testConf(opts.confFile, stderr)
	}
	if worker.Number() > 0 {
		if err := logging.Init(opts.verbosity, opts.output); err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return 1
		}
		return worker.Run(worker.Options{MbufSize: opts.mbufSize, Version: version})
	}
	upgraded := supervisor.Upgraded()
	if opts.workers > 0 && !upgraded && os.Args[0] != supervisor.MasterName {
		renameMaster() // returns only when it cannot
	}

	// As twemproxy: open the log before daemonizing, so that a bad -o is
	// reported on the terminal.
	if err := logging.Init(opts.verbosity, opts.output); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	if opts.daemonize && !upgraded {
		parent, err := daemon.Daemonize()
		if err != nil {
			fmt.Fprintf(stderr, "nutcracker: %v\n", err)
			return 1
		}
		if parent {
			return 0
		}
	}
	return serve(opts, upgraded)
}

// renameMaster executes the program again with argv[0] "nutcracker
// master", the name ps shows (Go cannot rewrite its own argv in place).
// Nothing is open yet, and the pid stays.
func renameMaster() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	syscall.Exec(exe, append([]string{supervisor.MasterName}, os.Args[1:]...), os.Environ())
}

// testConf is -t: load and check the configuration, bind nothing.
func testConf(file string, stderr io.Writer) int {
	cfg, err := config.Load(file)
	if err != nil {
		fmt.Fprintf(stderr, "nutcracker: %v\n", err)
		fmt.Fprintf(stderr, "nutcracker: configuration file '%s' syntax is invalid\n", file)
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "nutcracker: warning: %s\n", w)
	}
	fmt.Fprintf(stderr, "nutcracker: configuration file '%s' syntax is ok\n", file)
	return 0
}

// serve runs the proxy, or its master and workers, until SIGTERM or
// SIGINT and returns the exit code.
func serve(opts *options, upgraded bool) int {
	// Caught from the start, acted on once the proxy runs.
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGTERM,
		syscall.SIGINT, syscall.SIGSEGV, syscall.SIGUSR1, syscall.SIGUSR2)
	signal.Ignore(syscall.SIGPIPE)

	logging.Logf(logging.Emerg, "nutcracker-%s built for %s %s started on pid %d",
		version, runtime.GOOS, runtime.GOARCH, os.Getpid())
	logging.Logf(logging.Emerg, "run, rabbit run")
	var code int
	if opts.workers > 0 {
		code = runMaster(opts, signals, upgraded)
	} else {
		code = runProxy(opts, signals)
	}
	logging.Logf(logging.Emerg, "done, rabbit done")
	return code
}

// loadConfig loads and checks the configuration file and logs its
// warnings.
func loadConfig(file string) (*config.Config, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		logging.Warnf("%s", w)
	}
	return cfg, nil
}

// runProxy loads the configuration, opens the listeners, writes the pid
// file and serves until a signal ends it; it returns the exit code.
func runProxy(opts *options, signals <-chan os.Signal) int {
	if opts.coreMask != 0 {
		if err := supervisor.PinProcess(opts.coreMask); err != nil {
			logging.Logf(logging.Emerg, "%v", err)
			return 1
		}
	}
	cfg, err := loadConfig(opts.confFile)
	if err != nil {
		logging.Logf(logging.Emerg, "%v", err)
		return 1
	}
	p, err := proxy.New(cfg, proxy.Options{MbufSize: opts.mbufSize, Version: version})
	if err != nil {
		logging.Logf(logging.Emerg, "%v", err)
		return 1
	}
	statsAddr := net.JoinHostPort(opts.statsAddr, strconv.Itoa(opts.statsPort))
	statsLn, err := net.Listen("tcp", statsAddr)
	if err != nil {
		logging.Logf(logging.Emerg, "stats: listen on %s: %v", statsAddr, err)
		p.Close()
		return 1
	}
	reloads := stats.NewReloads()
	port := stats.StartPort(statsLn, p.Stats, p.Health, reloads)
	// Written once the listeners are open, so a pid file names a process
	// that serves.
	if opts.pidFile != "" {
		if err := daemon.WritePIDFile(opts.pidFile); err != nil {
			logging.Logf(logging.Emerg, "%v", err)
			p.Close()
			return 1
		}
	}
	p.Serve()
	var dumper *stats.Dumper
	if g := cfg.Global; g.Present && g.StatsDuration > 0 {
		dumper = stats.StartDumper(g.StatsDuration, g.StatsFile, p.Stats)
	}
	for _, pc := range cfg.Pools {
		logging.Noticef("pool %s listening on %s", pc.Name, pc.Listen.Addr)
	}
	logging.Noticef("stats on %s", statsAddr)
	notifySystemd(sdnotify.SdNotifyReady)
	releaseStartupPages()
	grace := cfg.Global.Grace() // how long a graceful stop may take
	reload := func() {
		next, err := loadConfig(opts.confFile)
		if err != nil {
			logging.Errorf("reload refused, the running configuration stays: %v", err)
			reloads.Count(stats.ReloadRefused)
			return
		}
		if err := p.Reload(next); err != nil {
			logging.Errorf("reload: %v", err)
			reloads.Count(stats.ReloadPartial)
		} else {
			reloads.Count(stats.ReloadOK)
		}
		grace = next.Global.Grace()
	}
	code := handleSignals(signals, signalHooks{reload: reload})
	notifySystemd(sdnotify.SdNotifyStopping)
	// As with workers: every reply owed is sent, each client is closed at
	// a request boundary.
	p.Drain(grace)
	dumper.Stop()
	statsLn.Close()
	port.Wait()
	if err := p.Close(); err != nil {
		logging.Errorf("close: %v", err)
	}
	if opts.pidFile != "" {
		daemon.RemovePIDFile(opts.pidFile)
	}
	return code
}

// runMaster runs the master process and its workers until a signal ends
// them; it returns the exit code.
func runMaster(opts *options, signals <-chan os.Signal, upgraded bool) int {
	cfg, err := loadConfig(opts.confFile)
	if err != nil {
		logging.Logf(logging.Emerg, "%v", err)
		return 1
	}
	statsAddr := net.JoinHostPort(opts.statsAddr, strconv.Itoa(opts.statsPort))
	m, err := supervisor.Start(supervisor.Options{
		Config:    cfg,
		Workers:   opts.workers,
		CoreMask:  opts.coreMask,
		MbufSize:  opts.mbufSize,
		Version:   version,
		StatsAddr: statsAddr,
		Args:      os.Args[1:],
	})
	if err != nil {
		logging.Logf(logging.Emerg, "%v", err)
		return 1
	}
	if opts.pidFile != "" && !upgraded { // an upgraded master keeps its pid
		if err := daemon.WritePIDFile(opts.pidFile); err != nil {
			logging.Logf(logging.Emerg, "%v", err)
			m.Shutdown()
			return 1
		}
	}
	for _, pc := range cfg.Pools {
		logging.Noticef("pool %s listening on %s", pc.Name, pc.Listen.Addr)
	}
	logging.Noticef("stats on %s, %d workers", statsAddr, opts.workers)
	notifySystemd(sdnotify.SdNotifyReady)
	releaseStartupPages()
	code := handleSignals(signals, signalHooks{
		reload:  m.Reload,
		reopen:  m.Reopen,
		level:   m.Level,
		upgrade: m.Upgrade,
	})
	notifySystemd(sdnotify.SdNotifyStopping)
	m.Shutdown()
	if opts.pidFile != "" {
		daemon.RemovePIDFile(opts.pidFile)
	}
	return code
}

// releaseStartupPages gives back the pages of the binary that start-up
// alone used; a failure costs only memory, so it is a warning.
func releaseStartupPages() {
	if err := daemon.ReleaseStartupPages(); err != nil {
		logging.Warnf("%v", err)
	}
}

// signalHooks are what signals do beyond this process's log; nil ones do
// nothing.
type signalHooks struct {
	reload  func()          // SIGHUP, after the log is reopened
	reopen  func()          // SIGHUP and SIGUSR1: the workers' logs
	level   func(delta int) // SIGTTIN (+1), SIGTTOU (-1): the workers' levels
	upgrade func()          // SIGUSR2: binary upgrade
}

// handleSignals acts on signals as twemproxy's nc_signal.c does, logging
// each one with twemproxy's text at every level, until one ends the
// process; it returns the exit code. A signal that arrives while another
// is acted on waits in the channel: a SIGHUP during a reload is queued.
func handleSignals(signals <-chan os.Signal, hooks signalHooks) int {
	for sig := range signals {
		s := sig.(syscall.Signal)
		prefix := fmt.Sprintf("signal %d (%s) received", int(s), signalName(s))
		switch s {
		case syscall.SIGHUP, syscall.SIGUSR1:
			// SIGUSR1 only reopens the log, for rotation scripts.
			err := logging.Reopen() // first, so that a new file gets the line
			if s == syscall.SIGHUP {
				logging.Logf(logging.Emerg, "%s, reopening log file and reloading the configuration", prefix)
			} else {
				logging.Logf(logging.Emerg, "%s, reopening log file", prefix)
			}
			if err != nil {
				logging.Logf(logging.Emerg, "%v", err)
			}
			if hooks.reopen != nil {
				hooks.reopen()
			}
			if s == syscall.SIGHUP && hooks.reload != nil {
				hooks.reload()
			}
		case syscall.SIGTTIN:
			logging.Logf(logging.Emerg, "%s, up logging level", prefix)
			logging.LevelUp()
			if hooks.level != nil {
				hooks.level(1)
			}
		case syscall.SIGTTOU:
			logging.Logf(logging.Emerg, "%s, down logging level", prefix)
			logging.LevelDown()
			if hooks.level != nil {
				hooks.level(-1)
			}
		case syscall.SIGUSR2:
			if hooks.upgrade == nil {
				logging.Logf(logging.Emerg, "%s, ignored: a binary upgrade needs workers (-n 1 or more)", prefix)
				continue
			}
			logging.Logf(logging.Emerg, "%s, upgrading the binary", prefix)
			hooks.upgrade()
		case syscall.SIGTERM, syscall.SIGINT:
			logging.Logf(logging.Emerg, "%s, exiting", prefix)
			return 0
		case syscall.SIGSEGV:
			logging.Logf(logging.Emerg, "%s, core dumping", prefix)
			dieOf(s)
		default:
			logging.Logf(logging.Emerg, "%s", prefix)
		}
	}
	return 0
}

// signalName is the C name of a signal caught by handleSignals.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGTTIN:
		return "SIGTTIN"
	case syscall.SIGTTOU:
		return "SIGTTOU"
	}
	return "signal " + strconv.Itoa(int(s))
}

// dieOf ends the process by sig with the default action, as twemproxy's
// handler re-raises SIGSEGV (and so dumps core where core dumps are on).
// The Go runtime keeps its own SIGSEGV handler installed, so the default
// action is restored with a raw rt_sigaction before the signal is sent to
// this thread.
func dieOf(sig syscall.Signal) {
	signal.Reset(sig)
	var act [4]uint64 // struct sigaction, all zero: SIG_DFL, no flags, empty mask
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	runtime.LockOSThread()
	syscall.Tgkill(syscall.Getpid(), syscall.Gettid(), sig)
	time.Sleep(time.Second) // the signal is delivered before this returns
	os.Exit(128 + int(sig))
}

// parseFlags reads twemproxy's flags plus bilitw's -n and -M. Numbers are
// taken as strings and checked here, for twemproxy's error texts.
func parseFlags(args []string) (*options, error) {
	o := &options{}
	var verbosity, statsPort, statsInterval, mbufSize, workers, coreMask string
	fs := flag.NewFlagSet("nutcracker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.BoolVarP(&o.help, "help", "h", false, "")
	fs.BoolVarP(&o.help, "help-short", "?", false, "") // -?, in twemproxy's usage line
	fs.MarkHidden("help-short")
	fs.BoolVarP(&o.version, "version", "V", false, "")
	fs.BoolVarP(&o.testConf, "test-conf", "t", false, "")
	fs.BoolVarP(&o.daemonize, "daemonize", "d", false, "")
	fs.BoolVarP(&o.describe, "describe-stats", "D", false, "")
	fs.StringVarP(&verbosity, "verbose", "v", strconv.Itoa(logging.DefaultLevel), "")
	fs.StringVarP(&o.output, "output", "o", "", "")
	fs.StringVarP(&o.confFile, "conf-file", "c", defaultConfFile, "")
	fs.StringVarP(&statsPort, "stats-port", "s", strconv.Itoa(defaultStatsPort), "")
	fs.StringVarP(&o.statsAddr, "stats-addr", "a", defaultStatsAddr, "")
	fs.StringVarP(&statsInterval, "stats-interval", "i", strconv.Itoa(defaultStatsInterval), "")
	fs.StringVarP(&o.pidFile, "pid-file", "p", "", "")
	fs.StringVarP(&mbufSize, "mbuf-size", "m", strconv.Itoa(proxy.DefaultMbufSize), "")
	fs.StringVarP(&workers, "worker-num", "n", strconv.Itoa(runtime.NumCPU()), "")
	fs.StringVarP(&coreMask, "core-mask", "M", "0", "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument '%s'", fs.Arg(0))
	}

	var ok bool
	// twemproxy takes any -v >= 0 and clamps it to 11 (log_init).
	if o.verbosity, ok = atoi(verbosity); !ok {
		return nil, errors.New("option -v requires a number")
	}
	o.verbosity = min(o.verbosity, logging.PVerb)
	if o.statsPort, ok = atoi(statsPort); !ok {
		return nil, errors.New("option -s requires a number")
	}
	if o.statsPort < 1 || o.statsPort > 65535 {
		return nil, fmt.Errorf("option -s value %d is not a valid port", o.statsPort)
	}
	// twemproxy also takes 0, which would make stats busy-loop.
	if o.statsInterval, ok = atoi(statsInterval); !ok || o.statsInterval == 0 {
		return nil, errors.New("option -i requires a non-zero number")
	}
	if o.mbufSize, ok = atoi(mbufSize); !ok || o.mbufSize == 0 {
		return nil, errors.New("option -m requires a non-zero number")
	}
	if o.mbufSize < mbufMin || o.mbufSize > mbufMax {
		return nil, fmt.Errorf("mbuf chunk size must be between %d and %d bytes", mbufMin, mbufMax)
	}
	if o.workers, ok = atoi(workers); !ok {
		return nil, errors.New("option -n requires a number")
	}
	if o.coreMask, ok = parseMask(coreMask); !ok {
		return nil, errors.New("option -M requires a core mask, decimal or 0x hex")
	}
	if n := bits.OnesCount64(o.coreMask); o.coreMask != 0 && n < max(o.workers, 1) {
		return nil, fmt.Errorf("core mask %s has %d cores, fewer than the %d workers", coreMask, n, o.workers)
	}
	return o, nil
}

// atoi is twemproxy's nc_atoi: decimal digits only, no sign.
func atoi(s string) (int, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// parseMask reads a core mask: decimal as bilitw (so "012" is twelve), or
// hexadecimal after 0x.
func parseMask(s string) (uint64, bool) {
	base := 10
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s, base = s[2:], 16
	} else if strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	m, err := strconv.ParseUint(s, base, 64)
	return m, err == nil
}

// usage is twemproxy's help text, with our defaults and bilitw's flags.
func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage: nutcracker [-?hVdDt] [-v verbosity level] [-o output file]
                  [-c conf file] [-s stats port] [-a stats addr]
                  [-i stats interval] [-p pid file] [-m mbuf size]
                  [-n worker num] [-M core mask]

Options:
  -h, --help             : this help
  -V, --version          : show version and exit
  -t, --test-conf        : test configuration for syntax errors and exit
  -d, --daemonize        : run as a daemon
  -D, --describe-stats   : print stats description and exit
  -v, --verbose=N        : set logging level (default: %d, min: %d, max: %d)
  -o, --output=S         : set logging file (default: stderr)
  -c, --conf-file=S      : set configuration file (default: %s)
  -s, --stats-port=N     : set stats monitoring port (default: %d)
  -a, --stats-addr=S     : set stats monitoring ip (default: %s)
  -i, --stats-interval=N : set stats aggregation interval in msec (default: %d msec)
  -p, --pid-file=S       : set pid file (default: off)
  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: %d bytes)
  -n, --worker-num=N     : set number of worker processes (default: %d, the number of cpus; 0: one process, no master)
  -M, --core-mask=MASK   : pin workers to the cpus set in MASK, decimal or 0x hex (default: off)

`, logging.DefaultLevel, logging.Emerg, logging.PVerb, defaultConfFile, defaultStatsPort, defaultStatsAddr,
		defaultStatsInterval, proxy.DefaultMbufSize, runtime.NumCPU())
}

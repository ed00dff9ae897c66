// Command nutcracker is a drop-in replacement for twemproxy (nutcracker):
// it reads the same YAML file, takes the same flags and places keys on the
// same servers. This file turns flags into a running proxy; the work is in
// the internal packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	flag "github.com/spf13/pflag"

	"nutcracker/internal/config"
	"nutcracker/internal/daemon"
	"nutcracker/internal/logging"
	"nutcracker/internal/proxy"
	"nutcracker/internal/stats"
)

// version is this implementation's version, not twemproxy's.
const version = "0.1.0"

// Limits on -m, as twemproxy's NC_MBUF_MIN_SIZE and NC_MBUF_MAX_SIZE.
const (
	mbufMin = 512
	mbufMax = 16777216
)

// options are the parsed command line.
type options struct {
	help, version, testConf, daemonize, describe bool

	verbosity     int
	output        string
	confFile      string
	statsPort     int
	statsAddr     string
	statsInterval int
	pidFile       string
	mbufSize      int
	workers       int
	coreMask      string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	opts, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "nutcracker: %v\n", err)
		usage(stderr)
		return 1
	}
	switch {
	case opts.help:
		fmt.Fprintf(stderr, "This is nutcracker-%s\n\n", version)
		usage(stderr)
		return 0
	case opts.version:
		fmt.Fprintf(stderr, "This is nutcracker-%s\n", version)
		return 0
	case opts.describe:
		fmt.Fprintf(stderr, "This is nutcracker-%s\n\n", version)
		stats.Describe(stderr)
		return 0
	}
	cfg, err := config.Load(opts.confFile)
	if opts.testConf {
		if err != nil {
			fmt.Fprintf(stderr, "nutcracker: configuration file '%s' syntax is invalid\n%v\n", opts.confFile, err)
			return 1
		}
		fmt.Fprintf(stderr, "nutcracker: configuration file '%s' syntax is ok\n", opts.confFile)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "nutcracker: %v\n", err)
		return 1
	}
	if opts.daemonize && !daemon.IsChild() {
		if err := daemon.Detach(opts.absoluteArgs()); err != nil {
			fmt.Fprintf(stderr, "nutcracker: %v\n", err)
			return 1
		}
		return 0
	}
	return serve(opts, cfg, stderr)
}

// serve runs the proxy until SIGTERM or SIGINT.
func serve(opts *options, cfg *config.Config, stderr io.Writer) int {
	if err := logging.Init(opts.verbosity, opts.output); err != nil {
		fmt.Fprintf(stderr, "nutcracker: %v\n", err)
		return 1
	}
	logging.Noticef("nutcracker-%s built for %s %s/%s started on pid %d",
		version, runtime.Version(), runtime.GOOS, runtime.GOARCH, os.Getpid())

	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU,
		syscall.SIGTERM, syscall.SIGINT, syscall.SIGSEGV, syscall.SIGUSR1, syscall.SIGUSR2)
	signal.Ignore(syscall.SIGPIPE)

	p, err := proxy.New(cfg, proxy.Options{MbufSize: opts.mbufSize})
	if err != nil {
		logging.Errorf("%v", err)
		return 1
	}
	if opts.pidFile != "" {
		if err := daemon.WritePIDFile(opts.pidFile); err != nil {
			logging.Errorf("%v", err)
			p.Close()
			return 1
		}
		defer daemon.RemovePIDFile(opts.pidFile)
	}
	p.Serve()
	for _, pc := range cfg.Pools {
		logging.Noticef("pool %s listening on %s", pc.Name, pc.Listen.Addr)
	}
	code := handleSignals(signals)
	p.Close()
	logging.Noticef("nutcracker-%s on pid %d stopped", version, os.Getpid())
	return code
}

// handleSignals acts on signals as twemproxy's nc_signal.c does, until one
// ends the process; it returns the exit code.
func handleSignals(signals <-chan os.Signal) int {
	for sig := range signals {
		s := sig.(syscall.Signal)
		name := signalNames[s]
		switch s {
		case syscall.SIGHUP:
			err := logging.Reopen() // first, so the new file gets the line
			logging.Logf(logging.Emerg, "signal %d (%s) received, reopening log file", s, name)
			if err != nil {
				logging.Errorf("%v", err)
			}
		case syscall.SIGTTIN:
			logging.Logf(logging.Emerg, "signal %d (%s) received, up logging level", s, name)
			logging.LevelUp()
		case syscall.SIGTTOU:
			logging.Logf(logging.Emerg, "signal %d (%s) received, down logging level", s, name)
			logging.LevelDown()
		case syscall.SIGTERM, syscall.SIGINT:
			logging.Logf(logging.Emerg, "signal %d (%s) received, exiting", s, name)
			return 0
		case syscall.SIGSEGV:
			logging.Logf(logging.Emerg, "signal %d (%s) received, exiting", s, name)
			return 128 + int(s)
		default:
			logging.Logf(logging.Emerg, "signal %d (%s) received", s, name)
		}
	}
	return 0
}

// signalNames are the names logged for the signals handled.
var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP:  "SIGHUP",
	syscall.SIGINT:  "SIGINT",
	syscall.SIGTERM: "SIGTERM",
	syscall.SIGTTIN: "SIGTTIN",
	syscall.SIGTTOU: "SIGTTOU",
	syscall.SIGSEGV: "SIGSEGV",
	syscall.SIGUSR1: "SIGUSR1",
	syscall.SIGUSR2: "SIGUSR2",
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("nutcracker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolVarP(&o.help, "help", "h", false, "")
	fs.BoolVarP(&o.version, "version", "V", false, "")
	fs.BoolVarP(&o.testConf, "test-conf", "t", false, "")
	fs.BoolVarP(&o.daemonize, "daemonize", "d", false, "")
	fs.BoolVarP(&o.describe, "describe-stats", "D", false, "")
	fs.IntVarP(&o.verbosity, "verbose", "v", logging.DefaultLevel, "")
	fs.StringVarP(&o.output, "output", "o", "", "")
	fs.StringVarP(&o.confFile, "conf-file", "c", "conf/nutcracker.yml", "")
	fs.IntVarP(&o.statsPort, "stats-port", "s", 22222, "")
	fs.StringVarP(&o.statsAddr, "stats-addr", "a", "0.0.0.0", "")
	fs.IntVarP(&o.statsInterval, "stats-interval", "i", 30000, "")
	fs.StringVarP(&o.pidFile, "pid-file", "p", "", "")
	fs.IntVarP(&o.mbufSize, "mbuf-size", "m", proxy.DefaultMbufSize, "")
	fs.IntVarP(&o.workers, "worker-num", "n", runtime.NumCPU(), "")
	fs.StringVarP(&o.coreMask, "core-mask", "M", "", "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.verbosity < logging.Emerg || o.verbosity > logging.PVerb:
		return nil, fmt.Errorf("option -v requires a number from %d to %d", logging.Emerg, logging.PVerb)
	case o.statsPort < 1 || o.statsPort > 65535:
		return nil, errors.New("option -s requires a valid port")
	case o.statsInterval <= 0:
		return nil, errors.New("option -i requires a positive number of milliseconds")
	case o.mbufSize < mbufMin || o.mbufSize > mbufMax:
		return nil, fmt.Errorf("mbuf chunk size must be between %d and %d bytes", mbufMin, mbufMax)
	case o.workers < 0:
		return nil, errors.New("option -n requires a number of workers, 0 or more")
	}
	if o.coreMask != "" {
		mask, err := strconv.ParseUint(o.coreMask, 0, 64)
		if err != nil || mask == 0 {
			return nil, fmt.Errorf("option -M requires a core mask, decimal or 0x hex, got %q", o.coreMask)
		}
		if n := bits.OnesCount64(mask); n < o.workers {
			return nil, fmt.Errorf("core mask %s has %d cores, fewer than the %d workers", o.coreMask, n, o.workers)
		}
	}
	return o, nil
}

// absoluteArgs rebuilds the command line for the daemon child, whose
// working directory is "/", with every path made absolute.
func (o *options) absoluteArgs() []string {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	args := []string{"-d",
		"-v", strconv.Itoa(o.verbosity),
		"-c", abs(o.confFile),
		"-s", strconv.Itoa(o.statsPort),
		"-a", o.statsAddr,
		"-i", strconv.Itoa(o.statsInterval),
		"-m", strconv.Itoa(o.mbufSize),
		"-n", strconv.Itoa(o.workers),
	}
	if o.output != "" {
		args = append(args, "-o", abs(o.output))
	}
	if o.pidFile != "" {
		args = append(args, "-p", abs(o.pidFile))
	}
	if o.coreMask != "" {
		args = append(args, "-M", o.coreMask)
	}
	return args
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage: nutcracker [-hVdDt] [-v verbosity level] [-o output file]
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
  -c, --conf-file=S      : set configuration file (default: conf/nutcracker.yml)
  -s, --stats-port=N     : set stats monitoring port (default: 22222)
  -a, --stats-addr=S     : set stats monitoring ip (default: 0.0.0.0)
  -i, --stats-interval=N : set stats aggregation interval in msec (default: 30000 msec)
  -p, --pid-file=S       : set pid file (default: off)
  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: %d bytes)
  -n, --worker-num=N     : set number of worker processes (default: number of CPUs)
  -M, --core-mask=MASK   : pin workers to the cores set in MASK, decimal or 0x hex (default: off)
`, logging.DefaultLevel, logging.Emerg, logging.PVerb, proxy.DefaultMbufSize)
}

// Package logging is twemproxy's process-wide logger (nc_log.c): twelve
// levels from LOG_EMERG (0) to LOG_PVERB (11), one destination (a file
// opened for appending, or stderr), the level raised and lowered at run
// time (SIGTTIN, SIGTTOU) and the file reopened for rotation (SIGHUP).
//
// A line reads "[2006-01-02 15:04:05.000] file.go:123 message", in local
// time, and goes out in one write(2), so lines from concurrent goroutines
// never interleave. Callers on a hot path check Enabled before building the
// arguments: a message below the level costs one atomic load, and the
// caller's file and line are looked up only for lines actually written.
//
// As in twemproxy, Errorf is written from level Alert up (twemproxy's
// log_error tests LOG_ALERT), and Logf(Emerg, ...) is always written, like
// twemproxy's loga: use it for lines that must appear at every level.
package logging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Levels, as twemproxy's nc_log.h.
const (
	Emerg  = 0  // system in unusable
	Alert  = 1  // action must be taken immediately
	Crit   = 2  // critical conditions
	Err    = 3  // error conditions
	Warn   = 4  // warning conditions
	Notice = 5  // normal but significant condition (default)
	Info   = 6  // informational
	Debug  = 7  // debug messages
	Verb   = 8  // verbose messages
	VVerb  = 9  // verbose messages on crack
	VVVerb = 10 // verbose messages on ganga
	PVerb  = 11 // periodic verbose messages on crack
)

// DefaultLevel is twemproxy's default verbosity (-v 5).
const DefaultLevel = Notice

var (
	level atomic.Int32
	out   atomic.Pointer[os.File] // where lines go; swapped by Init and Reopen

	mu   sync.Mutex // serializes Init and Reopen
	path string     // the log file, "" for stderr; guarded by mu

	prefix atomic.Pointer[string] // put before every message; SetPrefix

	bufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}
)

func init() {
	level.Store(DefaultLevel)
	out.Store(os.Stderr)
}

// Init sets the level (clamped to Emerg..PVerb, as twemproxy does) and the
// destination: file opened for appending and created if missing, or stderr
// when file is "". On error the previous destination stays.
func Init(lvl int, file string) error {
	mu.Lock()
	defer mu.Unlock()
	level.Store(int32(clamp(lvl)))
	if file == "" {
		swapLocked(os.Stderr)
		path = ""
		return nil
	}
	f, err := open(file)
	if err != nil {
		return fmt.Errorf("opening log file '%s' failed: %w", file, err)
	}
	swapLocked(f)
	path = file
	return nil
}

// SetPrefix puts p before every message, such as "worker 2: " in a
// worker process that shares the master's log file.
func SetPrefix(p string) { prefix.Store(&p) }

// Reopen opens the log file again, creating it if it was removed or renamed
// away (log rotation). Lines keep going to the old file until the new one
// is open, and stay there if opening fails. With stderr it does nothing.
func Reopen() error {
	mu.Lock()
	defer mu.Unlock()
	if path == "" {
		return nil
	}
	f, err := open(path)
	if err != nil {
		return fmt.Errorf("reopening log file '%s' failed, ignored: %w", path, err)
	}
	swapLocked(f)
	return nil
}

func open(file string) (*os.File, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0644)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err // the caller names the file
		}
		return nil, err
	}
	return f, nil
}

// swapLocked makes f the destination and closes the previous file. A write
// racing with the close fails with os.ErrClosed and is retried on f.
func swapLocked(f *os.File) {
	if old := out.Swap(f); old != os.Stderr && old != f {
		old.Close()
	}
}

// Level returns the current level.
func Level() int { return int(level.Load()) }

// Enabled reports whether messages at lvl are written.
func Enabled(lvl int) bool { return int32(lvl) <= level.Load() }

// LevelUp raises the level by one and logs the new level, as twemproxy's
// log_level_up; at PVerb it does nothing.
func LevelUp() {
	for {
		l := level.Load()
		if l >= PVerb {
			return
		}
		if level.CompareAndSwap(l, l+1) {
			output(2, "up log level to "+strconv.Itoa(int(l+1)))
			return
		}
	}
}

// LevelDown lowers the level by one and logs the new level, as twemproxy's
// log_level_down; at Emerg it does nothing.
func LevelDown() {
	for {
		l := level.Load()
		if l <= Emerg {
			return
		}
		if level.CompareAndSwap(l, l-1) {
			output(2, "down log level to "+strconv.Itoa(int(l-1)))
			return
		}
	}
}

func clamp(lvl int) int { return max(Emerg, min(PVerb, lvl)) }

// Logf writes a message at lvl; Logf(Emerg, ...) is always written.
func Logf(lvl int, format string, args ...any) {
	if Enabled(lvl) {
		output(2, fmt.Sprintf(format, args...))
	}
}

// Errorf logs an error; written from level Alert up, as twemproxy's log_error.
func Errorf(format string, args ...any) {
	if Enabled(Alert) {
		output(2, fmt.Sprintf(format, args...))
	}
}

// Warnf logs at Warn.
func Warnf(format string, args ...any) {
	if Enabled(Warn) {
		output(2, fmt.Sprintf(format, args...))
	}
}

// Noticef logs at Notice.
func Noticef(format string, args ...any) {
	if Enabled(Notice) {
		output(2, fmt.Sprintf(format, args...))
	}
}

// Infof logs at Info.
func Infof(format string, args ...any) {
	if Enabled(Info) {
		output(2, fmt.Sprintf(format, args...))
	}
}

// Debugf logs at Debug.
func Debugf(format string, args ...any) {
	if Enabled(Debug) {
		output(2, fmt.Sprintf(format, args...))
	}
}

// Verbf logs at Verb.
func Verbf(format string, args ...any) {
	if Enabled(Verb) {
		output(2, fmt.Sprintf(format, args...))
	}
}

// output writes msg as one line, naming the caller skip frames up.
func output(skip int, msg string) {
	now := time.Now()
	bp := bufs.Get().(*[]byte)
	b := append((*bp)[:0], '[')
	b = now.AppendFormat(b, "2006-01-02 15:04:05.000")
	b = append(b, "] "...)
	b = append(b, callSite(skip)...)
	b = append(b, ' ')
	if p := prefix.Load(); p != nil {
		b = append(b, *p...)
	}
	b = append(b, msg...)
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		b = append(b, '\n')
	}
	// os.File writes a regular file in one write(2) and serializes writers
	// of the same file; a file closed by a concurrent Reopen is retried on
	// its successor, as long as there is a newer one.
	for {
		f := out.Load()
		if _, err := f.Write(b); !errors.Is(err, os.ErrClosed) || out.Load() == f {
			break
		}
	}
	if cap(b) <= 64<<10 {
		*bp = b
		bufs.Put(bp)
	}
}

// callSites caches callSite's answers by program counter: runtime.Caller
// allocates some 250 bytes a call, and a proxy logs a line per connection.
var callSites struct {
	sync.RWMutex
	byPC map[uintptr]string
}

// callSite is what runtime.Caller(skip) would say in callSite's caller,
// as "file.go:line", or "?:0".
func callSite(skip int) string {
	var pcs [1]uintptr
	if runtime.Callers(skip+2, pcs[:]) == 0 {
		return "?:0"
	}
	pc := pcs[0]
	callSites.RLock()
	site, ok := callSites.byPC[pc]
	callSites.RUnlock()
	if ok {
		return site
	}
	frame, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	site = "?:0"
	if frame.File != "" {
		site = filepath.Base(frame.File) + ":" + strconv.Itoa(frame.Line)
	}
	callSites.Lock()
	if callSites.byPC == nil {
		callSites.byPC = make(map[uintptr]string)
	}
	callSites.byPC[pc] = site
	callSites.Unlock()
	return site
}

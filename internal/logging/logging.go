// Package logging is twemproxy's process-wide logger (nc_log.c): twelve
// levels from LOG_EMERG (0) to LOG_PVERB (11), a file or stderr, the level
// raised and lowered at run time (SIGTTIN, SIGTTOU) and the file reopened
// for rotation.
//
// Callers on a hot path check Enabled before building a message; a line
// below the level costs one atomic load.
package logging

import (
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
	Emerg  = 0 // system in unusable
	Alert  = 1 // action must be taken immediately
	Crit   = 2 // critical conditions
	Err    = 3 // error conditions
	Warn   = 4 // warning conditions
	Notice = 5 // normal but significant condition (default)
	Info   = 6 // informational
	Debug  = 7 // debug messages
	Verb   = 8 // verbose messages
	VVerb  = 9 // verbose messages on crack
	VVVerb = 10
	PVerb  = 11 // periodic verbose messages on crack
)

// DefaultLevel is twemproxy's default verbosity.
const DefaultLevel = Notice

var (
	level atomic.Int32

	mu   sync.Mutex
	out  *os.File = os.Stderr
	path string
	line []byte
)

func init() { level.Store(DefaultLevel) }

// Init sets the level and opens path for appending ("" = stderr).
func Init(lvl int, file string) error {
	level.Store(int32(clamp(lvl)))
	mu.Lock()
	defer mu.Unlock()
	path = file
	return reopenLocked()
}

// Reopen reopens the log file, creating it again if it was removed or
// rotated away. With stderr it does nothing.
func Reopen() error {
	mu.Lock()
	defer mu.Unlock()
	return reopenLocked()
}

func reopenLocked() error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0644)
	if err != nil {
		return fmt.Errorf("open log file %s: %w", path, err)
	}
	if out != os.Stderr {
		out.Close()
	}
	out = f
	return nil
}

// Level returns the current level.
func Level() int { return int(level.Load()) }

// Enabled reports whether messages at lvl are written.
func Enabled(lvl int) bool { return int32(lvl) <= level.Load() }

// LevelUp raises the level by one (up to PVerb) and logs the new level.
func LevelUp() { setLevel(Level() + 1) }

// LevelDown lowers the level by one (down to Emerg) and logs the new level.
func LevelDown() { setLevel(Level() - 1) }

func setLevel(lvl int) {
	level.Store(int32(clamp(lvl)))
	output(Emerg, 3, "set log level to "+strconv.Itoa(Level()))
}

func clamp(lvl int) int { return max(Emerg, min(PVerb, lvl)) }

// Logf writes a message at lvl.
func Logf(lvl int, format string, args ...any) {
	if Enabled(lvl) {
		output(lvl, 3, fmt.Sprintf(format, args...))
	}
}

// Errorf logs at Err.
func Errorf(format string, args ...any) {
	if Enabled(Err) {
		output(Err, 3, fmt.Sprintf(format, args...))
	}
}

// Warnf logs at Warn.
func Warnf(format string, args ...any) {
	if Enabled(Warn) {
		output(Warn, 3, fmt.Sprintf(format, args...))
	}
}

// Noticef logs at Notice.
func Noticef(format string, args ...any) {
	if Enabled(Notice) {
		output(Notice, 3, fmt.Sprintf(format, args...))
	}
}

// Infof logs at Info.
func Infof(format string, args ...any) {
	if Enabled(Info) {
		output(Info, 3, fmt.Sprintf(format, args...))
	}
}

// Debugf logs at Debug.
func Debugf(format string, args ...any) {
	if Enabled(Debug) {
		output(Debug, 3, fmt.Sprintf(format, args...))
	}
}

// output writes one line in twemproxy's format,
// "[2006-01-02 15:04:05.000] file.go:123 message", with one write(2).
func output(_ int, depth int, msg string) {
	_, file, lineNo, ok := runtime.Caller(depth - 1)
	if !ok {
		file, lineNo = "?", 0
	}
	now := time.Now()
	mu.Lock()
	defer mu.Unlock()
	line = append(line[:0], '[')
	line = now.AppendFormat(line, "2006-01-02 15:04:05.000")
	line = append(line, "] "...)
	line = append(line, filepath.Base(file)...)
	line = append(line, ':')
	line = strconv.AppendInt(line, int64(lineNo), 10)
	line = append(line, ' ')
	line = append(line, msg...)
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		line = append(line, '\n')
	}
	out.Write(line)
}

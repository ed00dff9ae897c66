package stats

import (
	"os"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// Dumper writes the stats document to the log and appends it to a file
// at a fixed interval, as bilitw does with stats_duration and stats_file
// (without resetting the counters, which bilitw's dumps do). One process
// dumps: the master with its workers' summed document, or the single
// process of -n 0; never a worker, whose counters are only its share.
type Dumper struct {
	stop chan struct{}
	done chan struct{}
}

// StartDumper dumps view's document every interval to the log and to
// file until Stop. view is called once per dump, on the dumper's own
// goroutine, and may take time (a master asks its workers).
func StartDumper(interval time.Duration, file string, view func() *Process) *Dumper {
	d := &Dumper{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-d.stop:
				return
			case now := <-tick.C:
				dump(view().AppendJSON(nil, now), file)
			}
		}
	}()
	return d
}

// Stop ends the dumps; a dump in progress finishes first. A nil Dumper
// (none started) stops at once.
func (d *Dumper) Stop() {
	if d == nil {
		return
	}
	close(d.stop)
	<-d.done
}

func dump(doc []byte, file string) {
	logging.Noticef("stats: %s", doc[:len(doc)-1])
	if err := appendFile(file, doc); err != nil {
		logging.Warnf("stats_file: %v", err)
	}
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

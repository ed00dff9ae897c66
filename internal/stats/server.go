package stats

import (
	"errors"
	"net"
	"time"
)

// writeTimeout bounds how long a stats client may take to read the document.
const writeTimeout = 5 * time.Second

// Serve answers every connection accepted on ln with the stats document
// and closes it, as twemproxy's stats port does, until ln is closed.
func Serve(ln net.Listener, p *Process) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer conn.Close()
			conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			conn.Write(p.AppendJSON(nil, time.Now()))
		}()
	}
}

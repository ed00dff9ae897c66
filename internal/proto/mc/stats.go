package mc

import (
	"bytes"
	"strconv"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// A pool of memcached servers answers "stats" with the proxy's own
// document in memcached's form (STAT <name> <value> lines, then END):
// the process's pid, uptime, time and version, its connections, and the
// pool's servers with their state. "stats <group>" (items, slabs, ...) is
// about one server's memory, which the proxy cannot merge: it is refused.
// flush_all goes to every server, and is OK once every server said OK.

const errStatsArgs = "CLIENT_ERROR the proxy answers only plain \"stats\", with its own STAT lines; ask a server itself for \"stats <group>\""

// stats answers the stats command.
func (c *Client) stats(m *proto.Msg, s *proto.Settings) proto.Action {
	if c.p.NArgs() > 1 {
		m.Local = append(append(m.Local, errStatsArgs...), "\r\n"...)
		return proto.Answer
	}
	var st proto.Status
	if s.Status != nil {
		s.Status.Status(&st)
	}
	m.Local = appendStats(m.Local, &st, time.Now())
	return proto.Answer
}

// appendStats appends the proxy's STAT lines and END.
func appendStats(out []byte, st *proto.Status, now time.Time) []byte {
	stat := func(name string, value int64) {
		out = strconv.AppendInt(append(append(out, "STAT "...), name+" "...), value, 10)
		out = append(out, "\r\n"...)
	}
	stat("pid", int64(st.PID))
	stat("uptime", int64(now.Sub(st.Start)/time.Second))
	stat("time", now.Unix())
	out = append(append(append(out, "STAT version "...), st.Version...), "\r\n"...)
	stat("curr_connections", st.Clients)
	stat("total_connections", st.TotalConnections)
	out = append(append(append(out, "STAT pool "...), st.Pool...), "\r\n"...)
	stat("servers", int64(len(st.Servers)))
	for i := range st.Servers {
		out = append(strconv.AppendInt(append(out, "STAT server"...), int64(i), 10), ' ')
		out = append(st.Servers[i].AppendFields(out), "\r\n"...)
	}
	return append(out, replyEnd...)
}

// encodeFlushAll appends flush_all with the client's delay, if any, and
// without noreply.
func (c *Client) encodeFlushAll(dst, frame []byte) []byte {
	dst = append(dst, "flush_all"...)
	if delay := c.p.Arg(frame, 1); delay != nil && string(delay) != "noreply" {
		dst = append(append(dst, ' '), delay...)
	}
	return append(dst, "\r\n"...)
}

// mergeFlushAll is OK when every server said OK, else an error naming
// the first server that did not.
func mergeFlushAll(out []byte, m *proto.Msg) []byte {
	for _, f := range m.Frags {
		switch {
		case f.Err != nil:
			return appendLine(out, "SERVER_ERROR ", "server "+f.Server+": "+f.Err.Error())
		case string(f.Reply) != "OK\r\n":
			return appendLine(out, "SERVER_ERROR ", "server "+f.Server+": "+string(bytes.TrimRight(f.Reply, "\r\n")))
		}
	}
	if len(m.Frags) == 0 {
		return appendLine(out, "SERVER_ERROR ", "Connection refused")
	}
	return append(out, "OK\r\n"...)
}

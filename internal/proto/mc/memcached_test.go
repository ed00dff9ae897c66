package mc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

func startMemcached(t *testing.T) *testutil.Process {
	t.Helper()
	return testutil.StartMemcached(t)
}

// readUntil reads from cl until what it read ends with suffix, and returns
// it without the suffix.
func readUntil(t *testing.T, cl *testutil.Client, suffix string) string {
	t.Helper()
	cl.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	for !bytes.HasSuffix(out, []byte(suffix)) {
		c, err := cl.R.ReadByte()
		if err != nil {
			t.Fatalf("read after %q: %v", testutil.Trunc(out), err)
		}
		out = append(out, c)
	}
	return string(out[:len(out)-len(suffix)])
}

// sentinel follows every request sent to memcached: its reply MN marks the
// end of the request's reply, and shows that memcached consumed exactly the
// bytes sent before it.
const sentinel = "mn\r\n"

// TestRequestsAgainstMemcached sends every table case memcached should
// treat as the parser does to a live memcached, followed by mn: memcached
// must answer a frame with one reply of its kind (none under noreply), and
// refused bytes with the Error's reply, and close where the Error is Fatal.
func TestRequestsAgainstMemcached(t *testing.T) {
	srv := startMemcached(t)
	for _, c := range reqCases {
		w := c.want()
		if c.notMemcached != "" || w.n == 0 && w.err.Reply == "" && !w.err.Fatal && w.err.Len == 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			cl := testutil.Dial(t, srv.Addr)
			switch {
			case w.err.Fatal:
				cl.Send(c.in)
				if !cl.Closed(5 * time.Second) {
					t.Fatal("memcached did not close the connection without a reply")
				}
			case w.n == 0:
				cl.Send(c.in + sentinel)
				if got, want := readUntil(t, cl, "MN\r\n"), w.err.Reply; got != want+"\r\n" && (want != "" || got != "") {
					t.Fatalf("memcached replied %q, want %q", got, want)
				}
			case w.cmd == "quit":
				cl.Send(c.in + sentinel)
				if !cl.Closed(5 * time.Second) {
					t.Fatal("memcached did not close the connection")
				}
			default:
				var p RequestParser
				p.Parse([]byte(c.in))
				k := p.Command().Kind
				cl.Send(c.in + sentinel)
				suffix := "MN\r\n"
				if k == KindMetaNoop {
					suffix += suffix
				}
				got := readUntil(t, cl, suffix)
				if got == "" && c.noreply {
					return
				}
				var rp ReplyParser
				if n, err := rp.Parse(k, []byte(got)); n != len(got) || err != nil {
					t.Fatalf("memcached replied %q: Parse = (%d, %v)", got, n, err)
				}
				if c.noreply && k < KindMetaGet {
					t.Fatalf("memcached replied %q to noreply", got)
				}
			}
		})
	}
}

// TestTooLargeAgainstMemcached checks the reply text of a value over 1 MB,
// which memcached sends after swallowing the value; the parser refuses it
// as soon as the line is in.
func TestTooLargeAgainstMemcached(t *testing.T) {
	srv := startMemcached(t)
	cl := testutil.Dial(t, srv.Addr)
	for _, line := range []string{"set k 0 0 1048577\r\n", "ms k 1048577 T0\r\n"} {
		var p RequestParser
		_, err := p.Parse([]byte(line))
		var e *Error
		if !errors.As(err, &e) || !e.Fatal {
			t.Fatalf("%q: %v", line, err)
		}
		cl.Send(line + strings.Repeat("x", 1048577) + "\r\n" + sentinel)
		if got := readUntil(t, cl, "MN\r\n"); got != e.Reply+"\r\n" {
			t.Fatalf("%q: memcached replied %q, Error.Reply %q", line, got, e.Reply)
		}
	}
}

// TestRepliesFromMemcached frames replies captured from a live memcached
// for every kind of request.
func TestRepliesFromMemcached(t *testing.T) {
	srv := startMemcached(t)
	cl := testutil.Dial(t, srv.Addr)
	big := strings.Repeat("v", 100000)
	for _, req := range []string{
		"set a 5 0 3\r\nabc\r\n",
		"add a 0 0 1\r\nx\r\n",
		"set b 0 0 0\r\n\r\n",
		"set crlf 0 0 9\r\nEND\r\nEN\r\n\r\n",
		"set big 0 0 100000\r\n" + big + "\r\n",
		"set n 0 0 2\r\n10\r\n",
		"append a 0 0 1\r\nd\r\n",
		"prepend nope 0 0 1\r\nd\r\n",
		"get a\r\n",
		"get nope\r\n",
		"get a b nope crlf big a\r\n",
		"gets a b\r\n",
		"gat 100 a nope\r\n",
		"gats 0 a b\r\n",
		"gat 0\r\n",
		"cas a 0 0 1 1\r\nx\r\n",
		"cas nope 0 0 1 1\r\nx\r\n",
		"incr n 5\r\n",
		"decr n 100\r\n",
		"incr nope 1\r\n",
		"incr a 1\r\n",
		"touch a 100\r\n",
		"touch nope 100\r\n",
		"delete b\r\n",
		"delete b\r\n",
		"version\r\n",
		"mg a v f c k s t O1\r\n",
		"mg a\r\n",
		"mg a k q\r\n",
		"mg nope v\r\n",
		"mg big v\r\n",
		"mg a Z\r\n",
		"ms m 3 T0 F5 c k O123\r\nabc\r\n",
		"ms m 1 ME\r\nx\r\n",
		"ms m 1 C1\r\nx\r\n",
		"ms nope 1 MR\r\nx\r\n",
		"ms a2V5 1 b\r\ny\r\n",
		"mg a2V5 b v k\r\n",
		"md m\r\n",
		"md m q C1\r\n",
		"md m\r\n",
		"ma n\r\n",
		"ma n v t c\r\n",
		"ma nope\r\n",
		"ma new N0 J5 v\r\n",
		"ma new MD D100 v\r\n",
		"mn\r\n",
		"me a\r\n",
		"me nope\r\n",
		"me a2V5 b\r\n",
	} {
		var p RequestParser
		if n, err := p.Parse([]byte(req)); n != len(req) || err != nil {
			t.Fatalf("%q: Parse = (%d, %v)", testutil.Trunc([]byte(req)), n, err)
		}
		k := p.Command().Kind
		cl.Send(req + sentinel)
		suffix := "MN\r\n"
		if k == KindMetaNoop {
			suffix += suffix
		}
		reply := []byte(readUntil(t, cl, suffix))
		if n, err := parseReplyAllWays(t, k, reply, len(reply)/2); n != len(reply) || err != nil {
			t.Errorf("%q: reply %q: Parse = (%d, %v)", testutil.Trunc([]byte(req)), testutil.Trunc(reply), n, err)
		}
		if k == KindRetrieval || k == KindGat {
			n, err := ValuesEnd(reply)
			isError := !bytes.HasSuffix(reply, []byte("END\r\n"))
			if isError != (err != nil) || err == nil && n != len(reply)-5 {
				t.Errorf("%q: ValuesEnd(%q) = (%d, %v)", testutil.Trunc([]byte(req)), testutil.Trunc(reply), n, err)
			}
		}
	}
}

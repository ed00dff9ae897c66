package resp

import (
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// TestPushRefused: a push the proxy did not ask for puts the server
// connection out of step (it fails), however the reply is framed.
func TestPushRefused(t *testing.T) {
	push := ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
	for _, hint := range []uint8{0, hintMarks, hintPreamble} {
		fr := Protocol{}.NewFramer()
		if n, err := fr.Frame(&proto.Request{Hint: hint}, []byte(push+"$1\r\na\r\n")); err != errPush {
			t.Errorf("hint %d: Frame = %d, %v; want %v", hint, n, err, errPush)
		}
	}
}

// TestMergeRESP3: the merges of a RESP3 client's fan-out commands read
// RESP3 replies (nulls "_", verbatim strings, blob errors) and answer in
// RESP3.
func TestMergeRESP3(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		replies []string
		want    string
	}{
		{[]string{"RANDOMKEY"}, []string{"_\r\n", "_\r\n"}, "_\r\n"},
		{[]string{"RANDOMKEY"}, []string{"_\r\n", "$1\r\nk\r\n"}, "$1\r\nk\r\n"},
		{[]string{"DBSIZE"}, []string{":2\r\n", "!9\r\nERR oops!\r\n"}, "-ERR server s2: ERR oops!\r\n"},
		{[]string{"FLUSHDB"}, []string{"!5\r\nERR x\r\n", "!5\r\nERR x\r\n"}, "!5\r\nERR x\r\n"},
	} {
		if got := fanOutMergeIn(t, dialectRESP3, tc.args, tc.replies...); got != tc.want {
			t.Errorf("%q %q: merged %q, want %q", tc.args, tc.replies, got, tc.want)
		}
	}
	// INFO: the servers send verbatim strings; the pool's database is 2
	// (fixedStatus).
	verbatim := func(s string) string { return string(appendText(nil, []byte(s), dialectRESP3)) }
	got := fanOutMergeIn(t, dialectRESP3, []string{"INFO"},
		verbatim("# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\ndb2:keys=3,expires=0,avg_ttl=0\r\n"),
		verbatim("# Server\r\nredis_version:7.0.9\r\n\r\n# Keyspace\r\ndb2:keys=4,expires=0,avg_ttl=0\r\n"))
	head, doc, _ := strings.Cut(got, "\r\n")
	if !strings.HasPrefix(head, "=") || !strings.HasPrefix(doc, "txt:# Server\r\nredis_version:7.0.9\r\n") ||
		!strings.HasSuffix(doc, "# Keyspace\r\ndb0:keys=7,expires=0,avg_ttl=0\r\n\r\n") || strings.Contains(doc, "unanswered") {
		t.Errorf("INFO in RESP3: %q", got)
	}
	if body, ok := blobBody([]byte(got), '='); !ok || len(body) != len(doc)-2 {
		t.Errorf("INFO in RESP3: a bad verbatim string: %q", got)
	}
}

package sentinel_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/sentinel"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestMasterTLS has a plaintext sentinel name a master that speaks TLS
// only and wants clients' certificates: ROLE confirms it over TLS with a
// configuration that trusts it and presents a certificate, and any other
// configuration leaves the group unconfirmed, saying why.
func TestMasterTLS(t *testing.T) {
	t.Parallel()
	files := testutil.NewTLSFiles(t, "masters CA")
	master := testutil.StartRedisTLSOnly(t, files, "--tls-auth-clients", "yes")
	s := testutil.StartSentinelsTLS(t, files, 1, []testutil.SentinelMaster{{Name: "g", Addr: master.Addr, Quorum: 1}}, 0)[0]

	trusted := files.ClientConfig(t)
	named := func(name string) *tls.Config {
		cfg := trusted.Clone()
		cfg.ServerName = name
		return cfg
	}
	otherCA := trusted.Clone()
	otherCA.RootCAs = x509.NewCertPool()
	pem, err := os.ReadFile(testutil.NewTLSFiles(t, "another CA").CA)
	if err != nil {
		t.Fatal(err)
	}
	otherCA.RootCAs.AppendCertsFromPEM(pem)
	noCert := trusted.Clone()
	noCert.Certificates = nil

	handshake := "TLS handshake with " + master.Addr + ": "
	for _, tc := range []struct {
		name    string
		tls     *tls.Config
		timeout time.Duration
		pause   bool
		want    string // in the log line saying why the master is not confirmed; "": confirmed
	}{
		{name: "trusted, its host verified", tls: trusted},
		{name: "trusted, the name given verified", tls: named("localhost")},
		{name: "plaintext", tls: nil, want: "is not confirmed: "},
		{name: "another name", tls: named("redis.example"), want: handshake + "tls: failed to verify certificate: x509: certificate is valid for localhost, not redis.example"},
		{name: "another CA", tls: otherCA, want: handshake + "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		// Under TLS 1.3 the master refuses the certificate after the
		// handshake: ROLE's write or read fails, how depends on timing.
		{name: "no client certificate", tls: noCert, want: "is not confirmed: "},
		{name: "handshake unanswered", tls: trusted, timeout: 300 * time.Millisecond, pause: true, want: handshake + "not done within the 300ms timeout"},
	} {
		notConfirmed := "master " + master.Addr + " named by sentinel " + s.Addr + " is not confirmed: "
		before := len(logLines(t, notConfirmed))
		if tc.pause {
			master.Pause()
		}
		start := time.Now()
		masters, err := sentinel.Discover(context.Background(), sentinel.Options{
			Sentinels: []string{s.Addr}, Groups: []string{"g"}, MasterTLS: tc.tls, Timeout: tc.timeout})
		took := time.Since(start)
		if tc.pause {
			master.Resume()
		}
		if err != nil {
			t.Fatalf("%s: Discover: %v", tc.name, err)
		}
		lines := logLines(t, notConfirmed)
		if tc.want == "" {
			if masters["g"] != master.Addr || len(lines) != before {
				t.Errorf("%s: Discover = %v, want g at %s; logged %q", tc.name, masters, master.Addr, lines[before:])
			}
			continue
		}
		if masters["g"] != "" || len(lines) != before+1 || !strings.Contains(lines[before], tc.want) {
			t.Errorf("%s: Discover = %v, logging %q; want no master for g, and one line saying %q", tc.name, masters, lines[before:], tc.want)
		} else {
			t.Logf("%s: %s", tc.name, lines[before])
		}
		if tc.timeout > 0 && took > tc.timeout+time.Second {
			t.Errorf("%s: Discover took %v with a timeout of %v", tc.name, took, tc.timeout)
		}
	}

	rec := &recorder{}
	w := sentinel.Start(sentinel.Options{Sentinels: []string{s.Addr}, Groups: []string{"g"}, MasterTLS: trusted, Master: rec.master})
	defer w.Close()
	rec.wait(t, 5*time.Second, "g", master.Addr)
}

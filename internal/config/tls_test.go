package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestServerTLSConfig: server_tls reads its files when the configuration
// is read; a file that cannot be read, holds no certificate or does not
// match its key refuses the configuration, naming file, line and key;
// the digest changes with the files' contents, and only then.
func TestServerTLSConfig(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	parse := func(extra ...string) (*Pool, error) {
		cfg, err := Parse("test.yml", []byte(alpha(extra...)))
		if err != nil {
			return nil, err
		}
		return cfg.Pools[0], nil
	}
	p, err := parse("  server_tls: true", "  server_tls_ca_cert_file: "+f.CA, "  server_tls_cert_file: "+f.Cert, "  server_tls_key_file: "+f.Key)
	if err != nil {
		t.Fatal(err)
	}
	st := p.ServerTLS
	if st.Config == nil || st.Config.RootCAs == nil || len(st.Config.Certificates) != 1 || st.Config.MinVersion == 0 || st.Digest == "" {
		t.Fatalf("server TLS %+v", st)
	}
	if again, _ := parse("  server_tls: true", "  server_tls_ca_cert_file: "+f.CA, "  server_tls_cert_file: "+f.Cert, "  server_tls_key_file: "+f.Key); again.ServerTLS.Digest != st.Digest {
		t.Error("the same files gave another digest")
	}
	other := testutil.NewTLSFiles(t, "another CA")
	if p, _ := parse("  server_tls: true", "  server_tls_ca_cert_file: "+other.CA); p.ServerTLS.Digest == st.Digest {
		t.Error("other files gave the same digest")
	}
	if p, _ := parse("  server_tls: true"); p.ServerTLS.Config == nil || p.ServerTLS.Config.RootCAs != nil {
		t.Error("server_tls alone: want the system's roots")
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"  server_tls_ca_cert_file: " + f.CA}, `test.yml:5: pool "alpha": key "server_tls_ca_cert_file": only valid with server_tls: true`},
		{[]string{"  server_tls: true", "  server_tls_ca_cert_file: /nope.pem"}, `test.yml:6: pool "alpha": key "server_tls_ca_cert_file": open /nope.pem: no such file or directory`},
		{[]string{"  server_tls: true", "  server_tls_ca_cert_file: " + garbage}, `key "server_tls_ca_cert_file": ` + garbage + `: no PEM certificate in it`},
		{[]string{"  server_tls: true", "  server_tls_cert_file: " + f.Cert}, `key "server_tls_key_file": missing: a client certificate needs both`},
		{[]string{"  server_tls: true", "  server_tls_cert_file: " + f.Cert, "  server_tls_key_file: " + other.Key}, `key "server_tls_key_file": ` + f.Cert + " and " + other.Key + ": tls: private key does not match public key"},
		{[]string{"  server_tls: maybe"}, `key "server_tls"`},
	} {
		_, err := parse(tc.extra...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.extra, err, tc.want)
		}
	}
}

// TestClientTLSConfig: the tls_* keys make the pool's listener speak TLS,
// with client certificates required by default once a CA is given, and
// each mistake is refused with its file, line and key.
func TestClientTLSConfig(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	other := testutil.NewTLSFiles(t, "another CA")
	parse := func(extra ...string) (*Pool, error) {
		cfg, err := Parse("test.yml", []byte(alpha(extra...)))
		if err != nil {
			return nil, err
		}
		return cfg.Pools[0], nil
	}
	cert, key := "  tls_cert_file: "+f.Cert, "  tls_key_file: "+f.Key
	for _, tc := range []struct {
		extra []string
		auth  tls.ClientAuthType
		cas   bool
	}{
		{[]string{cert, key}, tls.NoClientCert, false},
		{[]string{cert, key, "  tls_ca_cert_file: " + f.CA}, tls.RequireAndVerifyClientCert, true},
		{[]string{cert, key, "  tls_ca_cert_file: " + f.CA, "  tls_auth_clients: yes"}, tls.RequireAndVerifyClientCert, true},
		{[]string{cert, key, "  tls_ca_cert_file: " + f.CA, "  tls_auth_clients: optional"}, tls.VerifyClientCertIfGiven, true},
		{[]string{cert, key, "  tls_ca_cert_file: " + f.CA, "  tls_auth_clients: no"}, tls.NoClientCert, true},
	} {
		p, err := parse(tc.extra...)
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		c := p.ClientTLS.Config
		if c == nil || len(c.Certificates) != 1 || c.MinVersion != tls.VersionTLS12 || c.ClientAuth != tc.auth || (c.ClientCAs != nil) != tc.cas {
			t.Errorf("%q: listener TLS %+v", tc.extra, c)
		}
	}
	if p, _ := parse(); p.ClientTLS.Config != nil {
		t.Error("no tls_* key: want a plaintext listener")
	}
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{cert}, `test.yml:1: pool "alpha": key "tls_key_file": missing`},
		{[]string{key}, `test.yml:1: pool "alpha": key "tls_cert_file": missing`},
		{[]string{"  tls_ca_cert_file: " + f.CA}, `test.yml:5: pool "alpha": key "tls_ca_cert_file": only valid with tls_cert_file and tls_key_file`},
		{[]string{cert, key, "  tls_auth_clients: yes"}, `test.yml:7: pool "alpha": key "tls_auth_clients": yes needs tls_ca_cert_file`},
		{[]string{cert, key, "  tls_auth_clients: sometimes"}, `key "tls_auth_clients": invalid value "sometimes": want one of yes, no, optional`},
		{[]string{cert, "  tls_key_file: " + other.Key}, `test.yml:6: pool "alpha": key "tls_key_file": ` + f.Cert + " and " + other.Key + ": tls: private key does not match public key"},
		{[]string{"  tls_cert_file: /nope.pem", key}, `test.yml:5: pool "alpha": key "tls_cert_file": open /nope.pem: no such file or directory`},
		{[]string{cert, key, "  tls_ca_cert_file: " + f.Key}, `key "tls_ca_cert_file": ` + f.Key + `: no PEM certificate in it`},
	} {
		_, err := parse(tc.extra...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.extra, err, tc.want)
		}
	}
	unix := "alpha:\n  listen: /tmp/alpha.sock\n  servers:\n   - 127.0.0.1:6379:1\n" + cert + "\n" + key + "\n"
	if _, err := Parse("test.yml", []byte(unix)); err == nil || !strings.Contains(err.Error(), "must listen on TCP") {
		t.Errorf("TLS on a unix socket: %v", err)
	}
}

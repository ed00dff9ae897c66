package testutil

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TLSFiles are the PEM files of a test certificate authority and of a
// certificate it signed.
type TLSFiles struct {
	CA, Cert, Key string // paths
}

// NewTLSFiles makes, in a temporary directory, a certificate authority
// named caName and a certificate it signed for 127.0.0.1 and localhost
// (good for a server and for a client), and returns their files.
func NewTLSFiles(t testing.TB, caName string) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: caName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	writePEM(t, f.CA, "CERTIFICATE", caDER)
	writePEM(t, f.Cert, "CERTIFICATE", leafDER)
	writePEM(t, f.Key, "EC PRIVATE KEY", keyDER)
	return f
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// StartRedisTLS starts a redis-server that also listens with TLS, with
// the certificate of f (clients' certificates are not asked for), and
// returns it and its TLS address; its plain port serves the tests' own
// checks.
func StartRedisTLS(t testing.TB, f TLSFiles, extra ...string) (*Process, string) {
	t.Helper()
	port := FreePort(t)
	args := append([]string{"--tls-port", strconv.Itoa(port), "--tls-cert-file", f.Cert, "--tls-key-file", f.Key,
		"--tls-ca-cert-file", f.CA, "--tls-auth-clients", "no"}, extra...)
	return StartRedis(t, args...), "127.0.0.1:" + strconv.Itoa(port)
}

// StartMemcachedTLS starts a memcached -Z with the certificate of f, and
// returns it and its TLS address; its plain port (notls) serves the
// tests' own checks.
func StartMemcachedTLS(t testing.TB, f TLSFiles) (*Process, string) {
	t.Helper()
	plain, tlsPort := FreePort(t), FreePort(t)
	p := &Process{Kind: "memcached", Port: plain, Addr: "127.0.0.1:" + strconv.Itoa(plain), Dir: t.TempDir(), t: t}
	p.args = []string{"memcached", "-p", strconv.Itoa(tlsPort), "-l", "notls:" + p.Addr + ",127.0.0.1", "-U", "0", "-m", "64",
		"-Z", "-o", "ssl_chain_cert=" + f.Cert + ",ssl_key=" + f.Key}
	if os.Geteuid() == 0 {
		p.args = append(p.args, "-u", "root") // memcached refuses root without it
	}
	p.launch()
	t.Cleanup(p.Kill)
	return p, "127.0.0.1:" + strconv.Itoa(tlsPort)
}

// ClientConfig returns a TLS client configuration that trusts f's CA and
// presents f's certificate when asked for one.
func (f TLSFiles) ClientConfig(t testing.TB) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: x509.NewCertPool()}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

// DialTLS connects to addr with TLS configured by cfg, its handshake done
// (a refused client certificate may show only at the first read).
func DialTLS(t testing.TB, addr string, cfg *tls.Config) *Client {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s with TLS: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{t: t, Conn: c, R: bufio.NewReaderSize(c, 64<<10)}
}

// TLSPing dials addr with cfg and sends PING: the error of the handshake
// or of the reply (under TLS 1.3 a refused client certificate shows
// only there).
func TLSPing(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(EncodeCmd("PING"))); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "+PONG\r\n" {
		err = fmt.Errorf("PING: %q", line)
	}
	return err
}

// CopyFile writes the contents of from to to (a certificate rotated).
func CopyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsOnlyRedis returns a redis-server, not yet launched, that listens
// with TLS only (--port 0) on a free port with the certificate of f, asks
// clients for none, and replicates over TLS; it is dialled with
// f.ClientConfig. Callers add their arguments and launch it.
func tlsOnlyRedis(t testing.TB, f TLSFiles) *Process {
	port := FreePort(t)
	p := &Process{Kind: "redis", Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: t.TempDir(), t: t, tls: f.ClientConfig(t)}
	p.args = slices.Concat([]string{"redis-server", "--port", "0", "--tls-port", strconv.Itoa(port)}, redisArgs(p.Dir),
		[]string{"--tls-cert-file", f.Cert, "--tls-key-file", f.Key, "--tls-ca-cert-file", f.CA,
			"--tls-auth-clients", "no", "--tls-replication", "yes"})
	return p
}

package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mlab test redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestRedissTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	srv := startRedis(t, "--port", "0", "--tls-port", "{port}", "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-auth-clients", "no", "--requirepass", "tls-pw-1")
	url := "rediss://:tls-pw-1@" + srv.Addr() + "/0"
	trusted := func(c *tls.Config) { c.RootCAs = pool }

	b, err := OpenRedis(url, RedisOptions{TLS: trusted, Prefix: "mlabtest:tls:"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	serveRelay(t, b, Options{})
	reg, err := NewWaiter(b, WaiterOptions{}).Register(t.Context(), "", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if st := post(t, reg.URL, `{"tls":true}`); st != 200 {
		t.Fatal(st)
	}
	if ev := recv(t, reg.Events, 5*time.Second); string(ev.Body) != `{"tls":true}` {
		t.Fatalf("%s", ev.Body)
	}
	res := Check(t.Context(), url, CheckOptions{Redis: RedisOptions{TLS: trusted, Prefix: "mlabtest:tls:"}, Timeout: 3 * time.Second})
	for _, r := range res {
		if !r.OK {
			t.Fatalf("check over TLS: %+v", res)
		}
	}

	// Without the CA the server's certificate is refused, and said so.
	untrusted, _ := OpenRedis(url, RedisOptions{})
	defer untrusted.Close()
	err = untrusted.Ping(t.Context())
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "tls-pw-1") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

package ingest

import (
	"context"
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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/shelflake/shelflake/schema"
)

// TestIngestReadsEveryCodecKcatWrites: records produced by librdkafka
// (kcat) with each compression codec, with and without keys and headers,
// are all ingested once.
func TestIngestReadsEveryCodecKcatWrites(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not installed (make test installs it): %v", err)
	}
	ctx := context.Background()
	c := startCluster(t, 3)
	addr := c.ListenAddrs()[0]
	s := newSynth(3)
	day := schema.NewDate(2025, 6, 1)
	var ds dataset
	ds.txns = map[string]bool{}
	n := int64(0)
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, keyed := range []bool{true, false} {
			var in strings.Builder
			for range 40 {
				key, doc, tot := s.pos(n, day)
				ds.valid.add(tot)
				n++
				if keyed {
					in.WriteString(string(key) + "|")
				}
				in.Write(doc)
				in.WriteByte('\n')
			}
			args := []string{"-b", addr, "-P", "-t", schema.TopicPOS, "-z", codec, "-H", "producer=kcat"}
			if keyed {
				args = append(args, "-K", "|")
			}
			cmd := exec.CommandContext(ctx, kcat, args...)
			cmd.Stdin = strings.NewReader(in.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat -z %s: %v\n%s", codec, err, out)
			}
		}
	}
	l, _ := openLocalLake(t)
	_, stop := runIngester(t, Options{
		Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "kcat",
		FlushInterval: 200 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t),
	})
	waitUntil(t, 60*time.Second, 100*time.Millisecond, "ingest", func() bool { return caughtUp(t, ctx, l, addr, "kcat") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := readLake(t, ctx, l)
	if st.lines != ds.valid.Lines || int64(len(st.txns)) != ds.valid.Docs || st.quantity != ds.valid.Quantity ||
		st.lineTotal != ds.valid.LineTotal || st.rejects != 0 {
		t.Errorf("lake holds %d lines of %d transactions (qty %d, total %s, %d rejects); want %d of %d (qty %d, total %s, 0)",
			st.lines, len(st.txns), st.quantity, st.lineTotal, st.rejects,
			ds.valid.Lines, ds.valid.Docs, ds.valid.Quantity, ds.valid.LineTotal)
	}
}

// TestIngestOverTLSWithSCRAM runs the command against a broker that only
// speaks TLS and authenticates with SCRAM-SHA-512.
func TestIngestOverTLSWithSCRAM(t *testing.T) {
	binary(t)
	dir := t.TempDir()
	serverTLS, caFile := testCertificates(t, dir)
	const user, pass = "ingest", "not-a-real-secret"
	c := startCluster(t, 2,
		kfake.TLS(serverTLS),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", user, pass),
	)
	addr := c.ListenAddrs()[0]
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(pem)
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ds := produceWorkload(t, prod, 9, 0, 500, 2, 25)

	l, lakeDir := openLocalLake(t)
	e := ingestEnv{brokers: addr, lakeURI: lakeDir, group: "secure",
		env:  []string{"SHELFLAKE_SASL_PASSWORD=" + pass},
		args: []string{"--flush-interval", "200ms", "--session-timeout", "1s", "--rebalance-timeout", "3s"}}
	p := startIngest(t, e, "ingest-secure", "--tls-ca", caFile, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", user)
	waitUntil(t, 60*time.Second, 200*time.Millisecond, "ingest over TLS and SCRAM", func() bool {
		if p.exited() {
			t.Fatalf("ingester exited: %v", p.err)
		}
		return caughtUp(t, context.Background(), l, addr, "secure", prod)
	})
	if err := p.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, readLake(t, context.Background(), l), ds)
}

// testCertificates makes a CA and a server certificate for 127.0.0.1, and
// returns the server's TLS config and the CA's PEM file.
func testCertificates(t testing.TB, dir string) (*tls.Config, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shelflake test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}, caFile
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shelflake/shelflake/queries/pgwire"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeHashPassword(t *testing.T) {
	out, _, err := sqlCLI(t, "s3cret pass\n", "serve", "--hash-password")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "SCRAM-SHA-256$4096:") || strings.Contains(out, "s3cret") {
		t.Fatalf("secret %q", out)
	}
	cfg := fmt.Sprintf(`{"roles": {"r": {"tables": ["*"]}}, "users": {"u": {"role": "r", "scram": %q}}}`, secret)
	if _, err := pgwire.ParseConfig([]byte(cfg)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sqlCLI(t, "", "serve", "--hash-password"); err == nil {
		t.Error("an empty password was hashed")
	}
}

func TestServeRefusesBadSetup(t *testing.T) {
	lakeDir, _ := sqlLake(t)
	bad := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(bad, []byte(`{"roles": {}, "users": {"u": {"role": "r", "scram": "plain"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--lake", lakeDir}, "--users is required"},
		{[]string{"serve", "--lake", lakeDir, "--users", bad}, `user u: role "r"`},
		{[]string{"serve", "--lake", lakeDir, "--users", bad + ".missing"}, "users file"},
		{[]string{"serve", "--lake", filepath.Join(t.TempDir(), "nolake"), "--users", bad}, "user u"},
	} {
		_, _, err := sqlCLI(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestServeCommand runs shelflake serve on a lake with a generated
// certificate and queries it as a BI tool would.
func TestServeCommand(t *testing.T) {
	lakeDir, _ := sqlLake(t)
	secret, err := pgwire.HashPassword("pw-ana")
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users.json")
	cfg := fmt.Sprintf(`{"roles": {"analyst": {"tables": ["pos_lines"], "hide_columns": {"pos_lines": ["customer_id"]}}}, "users": {"ana": {"role": "analyst", "scram": %q}}}`, secret)
	if err := os.WriteFile(users, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	root := newRootCmd(io.Discard, &stderr)
	root.SetArgs([]string{"serve", "--lake", lakeDir, "--users", users, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addrRE := regexp.MustCompile(`serving the lake over the Postgres protocol" addr=(\S+)`)
	httpRE := regexp.MustCompile(`serving metrics" addr=(\S+)`)
	var addr, httpAddr string
	deadline := time.Now().Add(2 * time.Minute)
	for addr == "" || httpAddr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		if m := httpRE.FindStringSubmatch(stderr.String()); m != nil {
			httpAddr = m[1]
		}
	}
	if !strings.Contains(stderr.String(), "SELF-SIGNED") {
		t.Errorf("no warning about the self-signed certificate:\n%s", stderr.String())
	}
	host, port, _ := strings.Cut(addr, ":")
	conn := func(pw string) (*pgx.Conn, error) {
		return pgx.Connect(t.Context(), fmt.Sprintf("host=%s port=%s user=ana password=%s dbname=lake sslmode=require connect_timeout=30", host, port, pw))
	}
	c, err := conn("pw-ana")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.QueryRow(t.Context(), "SELECT count(*) FROM pos_lines").Scan(&n); err != nil || n != 7 {
		t.Errorf("count = %d, %v; want 7", n, err)
	}
	c.Close(t.Context())
	if _, err := conn("wrong-pw-xyz"); err == nil {
		t.Error("a wrong password logged in")
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`shelflake_serve_queries_total{role="analyst"} 1`, `shelflake_serve_logins_total{result="failed"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if resp, err := http.Get("http://" + httpAddr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if logs := stderr.String(); strings.Contains(logs, "pw-ana") || strings.Contains(logs, "wrong-pw-xyz") || strings.Contains(logs, secret) {
		t.Errorf("a password or secret is in the logs:\n%s", logs)
	}
}

// TestBenchServe runs bench serve small: every runnable saved query goes
// through both paths without error.
func TestBenchServe(t *testing.T) {
	lakeDir, _ := sqlLake(t)
	out, _, err := sqlCLI(t, "", "bench", "serve", "--lake", lakeDir, "--sessions", "2", "--runs", "1", "--json",
		"--threads", "1", "--duckdb-memory", "1GB")
	if err != nil {
		t.Fatal(err)
	}
	var res benchServeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Queries) == 0 || res.InProcessP50 <= 0 || res.ServeP50 <= 0 || res.RatioP50 <= 0 ||
		res.Threads != 1 || res.MemoryLimit != "1GB" || res.MaxRSS <= 0 {
		t.Errorf("result %+v", res)
	}
}

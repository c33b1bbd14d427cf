package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sys/unix"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// sqlLake writes a local lake with pos_lines in two commits (3 rows of
// 2026-03-02, then 4 of 2026-03-03) and returns its directory and the
// time between the commits.
func sqlLake(t *testing.T) (string, time.Time) {
	t.Helper()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "lake")
	var mu sync.Mutex
	now := time.Date(2026, time.March, 4, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l, err := lake.Open(ctx, dir, lake.Options{Delta: delta.Options{Now: clock}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tb := schema.TablePOSLines()
	for i, n := range []int{3, 4} {
		d := schema.NewDate(2026, time.March, 2+i)
		rows := make([]schema.PosLineRow, n)
		for j := range rows {
			at := d.Time().Add(10 * time.Hour)
			rows[j] = schema.PosLineRow{TransactionID: fmt.Sprintf("T%d-%d", i, j), LineNo: 1, StoreID: "S0001", RegisterID: "R01",
				TxnType: "sale", BusinessDate: d, EventTime: at, Currency: "USD", TxnTotal: 25_000, SKU: fmt.Sprintf("SKU%06d", j),
				Quantity: int64(j + 1), UnitPrice: 25_000, LineTotal: 25_000, IngestedAt: at}
		}
		adds, err := lake.WriteFiles(ctx, l, tb, d, rows, lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dt, err := l.Table(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(time.Hour)
		mu.Unlock()
		if _, err := dt.Commit(ctx, snap, delta.Txn{Adds: adds}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, time.Date(2026, time.March, 4, 9, 30, 0, 0, time.UTC)
}

// sqlCLI runs shelflake with args and stdin, and returns stdout, stderr
// and the error.
func sqlCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"--log-level", "warn"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), errb.String(), err
}

func TestSQLCommand(t *testing.T) {
	dir, between := sqlLake(t)
	script := filepath.Join(t.TempDir(), "q.sql")
	if err := os.WriteFile(script, []byte("-- two statements and a command\nCREATE TEMP TABLE x AS\n  SELECT sum(quantity) AS units FROM pos_lines;\n.format csv\nSELECT * FROM x;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"a statement", "", []string{"-c", "SELECT count(*) AS n FROM pos_lines"}, []string{" n\n---\n 7\n(1 row)\n"}},
		{"statements as CSV", "", []string{"--format", "csv", "-c", "SELECT 1 AS a; SELECT dt, count(*) AS n FROM pos_lines GROUP BY dt ORDER BY dt"},
			[]string{"a\n1\n\ndt,n\n2026-03-02,3\n2026-03-03,4\n"}},
		{"a script file", "", []string{"-f", script}, []string{"units\n16\n"}},
		{"a script on stdin", "SELECT count(*) AS n\nFROM pos_lines;\n.tables\n", nil, []string{" 7\n", " pos_lines "}},
		{"a saved query with params as JSON", "", []string{"--query", "top_movers", "--param", "limit=2", "--param", "days=1", "--format", "json"},
			[]string{`{"sku":"SKU000003","description":null,"category":null,"units_sold":4,`, `{"sku":"SKU000002",`}},
		{"the list of saved queries", "", []string{"--list"}, []string{"sell_through: ", "--param days=int (1..3660), default 28", "replenishment_review: "}},
		{"a version of the past", "", []string{"--version", "1", "-c", "SELECT count(*) AS n FROM pos_lines"}, []string{" 3\n"}},
		{"one table's version", "", []string{"--version", "pos_lines=2", "-c", "SELECT version FROM _tables WHERE table_name = 'pos_lines'"}, []string{" 2\n"}},
		{"as of a time", "", []string{"--as-of", between.Format(time.RFC3339), "-c", "SELECT count(*) AS n, max(dt) AS d FROM pos_lines"}, []string{" 3 | 2026-03-02\n"}},
		{"a dt range", "", []string{"--from", "2026-03-03", "-c", "SELECT count(*) AS n FROM pos_lines"}, []string{" 4\n"}},
		{"DuckDB settings", "", []string{"--duckdb-memory", "1GB", "--threads", "1", "--format", "csv", "-c", "SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t"},
			[]string{"m,t\n953.6 MiB,1\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"sql", "--lake", dir, "--history", ""}, c.args...)
			out, errOut, err := sqlCLI(t, c.stdin, args...)
			if err != nil {
				t.Fatalf("%v\nstderr: %s", err, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestSQLWritesFiles(t *testing.T) {
	dir, _ := sqlLake(t)
	outDir := t.TempDir()
	t.Run("parquet from a statement", func(t *testing.T) {
		path := filepath.Join(outDir, "q.parquet")
		out, _, err := sqlCLI(t, "", "sql", "--lake", dir, "--format", "parquet", "--out", path, "-c",
			"SET VARIABLE k = 2; SELECT transaction_id, quantity * getvariable('k') AS q FROM pos_lines")
		if err != nil || out != "" {
			t.Fatalf("%v; stdout %q", err, out)
		}
		if n := parquetRows(t, path); n != 7 {
			t.Errorf("%d rows in the parquet file, want 7", n)
		}
	})
	t.Run("parquet from a saved query", func(t *testing.T) {
		path := filepath.Join(outDir, "cover.parquet")
		if _, _, err := sqlCLI(t, "", "sql", "--lake", dir, "--format", "parquet", "-o", path, "--query", "rejects_by_reason"); err != nil {
			t.Fatal(err)
		}
		if n := parquetRows(t, path); n != 0 {
			t.Errorf("%d rows, want none (no rejects)", n)
		}
	})
	t.Run("parquet to a redirected stdout", func(t *testing.T) {
		out, _, err := sqlCLI(t, "", "sql", "--lake", dir, "--format", "parquet", "-c", "SELECT 1 AS a")
		if err != nil || !strings.HasPrefix(out, "PAR1") || !strings.HasSuffix(out, "PAR1") {
			t.Errorf("%v; stdout %q", err, out)
		}
	})
	t.Run("csv to a file", func(t *testing.T) {
		path := filepath.Join(outDir, "n.csv")
		out, _, err := sqlCLI(t, "", "sql", "--lake", dir, "--format", "csv", "--out", path, "-c", "SELECT count(*) AS n FROM pos_lines")
		if err != nil || out != "" {
			t.Fatalf("%v; stdout %q", err, out)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != "n\n7\n" {
			t.Errorf("file %q, %v", b, err)
		}
		entries, _ := os.ReadDir(outDir)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left", e.Name())
			}
		}
	})
	t.Run("a failed query leaves no file", func(t *testing.T) {
		path := filepath.Join(outDir, "bad.csv")
		_, _, err := sqlCLI(t, "", "sql", "--lake", dir, "--format", "csv", "--out", path, "-c", "SELECT nope FROM pos_lines")
		if err == nil || !strings.Contains(err.Error(), `Referenced column "nope" not found`) {
			t.Errorf("error %v, want DuckDB's", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s exists: %v", path, err)
		}
	})
}

func parquetRows(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return pf.NumRows()
}

func TestSQLRefusesBadFlags(t *testing.T) {
	dir, _ := sqlLake(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sql", "-c", "SELECT 1"}, "--lake is required"},
		{[]string{"sql", "--lake", dir, "-c", "SELECT 1", "-f", "x.sql"}, "go alone"},
		{[]string{"sql", "--lake", dir, "--param", "days=1"}, "--param goes with --query"},
		{[]string{"sql", "--lake", dir, "--format", "xml", "-c", "SELECT 1"}, `format "xml"`},
		{[]string{"sql", "--lake", dir, "--format", "parquet"}, "needs -c, -f or --query"},
		{[]string{"sql", "--lake", dir, "--version", "x", "-c", "SELECT 1"}, `--version "x"`},
		{[]string{"sql", "--lake", dir, "--as-of", "yesterday", "-c", "SELECT 1"}, `--as-of "yesterday"`},
		{[]string{"sql", "--lake", dir, "--query", "nope"}, `no saved query "nope"`},
		{[]string{"sql", "--lake", dir, "--query", "top_movers", "--param", "days=zero"}, `param days: "zero" is not an integer`},
		{[]string{"sql", "--lake", dir, "--query", "replenishment_review"}, "replenishment_suggestions, which the lake does not have yet"},
		{[]string{"sql", "--lake", dir, "--version", "pos_lines=9", "-c", "SELECT 1"}, "pos_lines"},
	} {
		_, _, err := sqlCLI(t, "", append(c.args, "--history", "")...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

func TestSQLNeverShowsCredentials(t *testing.T) {
	const (
		querySecret    = "QuerySecret987"
		endpointPass   = "EndpointPw654"
		envKeyID       = "AKIDSECRET1234"
		envSecret      = "EnvSecretKey321"
		envToken       = "SessionTok000"
		saslPassword   = "SaslPw5555"
		secretsPattern = "QuerySecret987|EndpointPw654|AKIDSECRET1234|EnvSecretKey321|SessionTok000|SaslPw5555"
	)
	// An S3 endpoint that refuses every request and echoes what it got,
	// credentials included, in its error message (as a misbehaving proxy
	// might).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		var msg bytes.Buffer
		_ = xml.EscapeText(&msg, []byte(fmt.Sprintf("denied %s auth=%s token=%s basic=%s",
			r.URL.String(), r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token"), r.URL.User)))
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>%s</Message><RequestId>r1</RequestId></Error>`, msg.String())
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", envKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", envSecret)
	t.Setenv("AWS_SESSION_TOKEN", envToken)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("SHELFLAKE_SASL_PASSWORD", saslPassword)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct {
		name, uri string
	}{
		{"a secret in a query parameter", "s3://bucket/lake?endpoint=" + srv.URL + "&secret_key=" + querySecret},
		{"a password in the endpoint", "s3://bucket/lake?endpoint=http://user:" + endpointPass + "@" + host + "&path_style=true"},
		{"secrets in the environment, echoed by the server", "s3://bucket/lake?endpoint=" + srv.URL + "&path_style=true"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			root := newRootCmd(&out, &errb)
			root.SetArgs([]string{"--log-level", "debug", "sql", "--lake", c.uri, "--history", "", "-c", "SELECT count(*) FROM pos_lines"})
			err := root.ExecuteContext(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			for name, text := range map[string]string{"error": err.Error(), "stdout": out.String(), "stderr": errb.String()} {
				for _, s := range strings.Split(secretsPattern, "|") {
					if strings.Contains(text, s) {
						t.Errorf("%s shows %s: %s", name, s, text)
					}
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

// openPTY returns a pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 200}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// screen collects what the terminal shows.
type screen struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // a token after each write
}

func newScreen() *screen { return &screen{changed: make(chan struct{}, 1)} }

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.buf.Write(p)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want after its first from bytes,
// or fails the test after a generous deadline.
func (s *screen) waitFor(t *testing.T, want string, from int) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !strings.Contains(s.String()[from:], want) {
		select {
		case <-s.changed:
		case <-deadline.C:
			t.Fatalf("the terminal never showed %q after byte %d:\n%s", want, from, s.String())
		}
	}
}

func TestSQLInteractivePromptOnATerminal(t *testing.T) {
	dir, _ := sqlLake(t)
	history := filepath.Join(t.TempDir(), "history")
	master, slave := openPTY(t)
	defer master.Close()
	scr := newScreen()
	go io.Copy(scr, master)

	done := make(chan error, 1)
	go func() {
		root := newRootCmd(slave, slave)
		root.SetIn(slave)
		root.SetArgs([]string{"--log-level", "warn", "sql", "--lake", dir, "--history", history})
		done <- root.ExecuteContext(context.Background())
	}()
	type step struct{ keys, want string }
	for _, st := range []step{
		{"", "sql> "},
		{"SELECT 40\r", "  -> "},                              // a statement over two lines
		{"+ 2 AS answer;\r", "42"},                            //
		{".tables\r", "pos_lines "},                           // dot commands
		{".schema pos_lines\r", "CREATE VIEW pos_lines ("},    //
		{"\x1b[A\r", "CREATE VIEW pos_lines ("},               // up arrow recalls .schema
		{"SELECT 'abd\x7fc' AS typed;\r", "abc"},              // backspace edits the line
		{"SELECT 'never' AS x,\x03", "sql> "},                 // Ctrl-C drops the statement
		{"SELECT count(*) AS n FROM pos_lines;\r", "(1 row)"}, // and the prompt carries on
		{"SELECT * FROM pos_l\t", "pos_lines "},               // Tab completes a table name
		{"\x15SELECT * FROM p\t\t", "promotions"},             // a second Tab lists the candidates
		{"\x15SELECT count(*) FROM range(1000000000000) a, range(1000) b;\r", ""},
	} {
		from := len(scr.String())
		if _, err := master.WriteString(st.keys); err != nil {
			t.Fatal(err)
		}
		scr.waitFor(t, st.want, from)
	}
	// Ctrl-C cancels the running query with one line, and the prompt returns.
	time.Sleep(300 * time.Millisecond)
	from := len(scr.String())
	if _, err := master.WriteString("\x03"); err != nil {
		t.Fatal(err)
	}
	scr.waitFor(t, "sql> ", from)
	if out := scr.String()[from:]; strings.Count(out, "\n") > 1 {
		t.Errorf("Ctrl-C during a query printed more than one line:\n%q", out)
	}
	if _, err := master.WriteString("\x15\x04"); err != nil { // Ctrl-U clears the line, Ctrl-D leaves
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the prompt did not end on Ctrl-D:\n%s", scr.String())
	}
	slave.Close()
	got := scr.String()
	if strings.Contains(got, " x\r\n") || strings.Contains(got, " never\r\n") {
		t.Errorf("the dropped statement ran:\n%s", got)
	}
	if !strings.HasSuffix(got, "\r\n") {
		t.Errorf("Ctrl-D left the cursor on the prompt line: %q", got[max(0, len(got)-40):])
	}
	h, err := os.ReadFile(history)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SELECT 40\n+ 2 AS answer;\n", ".schema pos_lines\n", "SELECT 'abc' AS typed;\n"} {
		if !strings.Contains(string(h), want) {
			t.Errorf("history lacks %q:\n%s", want, h)
		}
	}
}

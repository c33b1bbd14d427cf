package pgwire

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRolesAndRefusals tries to read what a role may not, and to write or
// reach outside, by every route we know; each must be refused with a
// Postgres error and change nothing.
func TestRolesAndRefusals(t *testing.T) {
	ts := startServer(t)
	ana := ts.connect(t, "ana")
	bob := ts.connect(t, "bob")
	lakeFile := ""
	_ = filepath.WalkDir(filepath.Join(ts.lakeDir, "pos_lines"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			lakeFile = p
		}
		return nil
	})
	if lakeFile == "" {
		t.Fatal("no parquet file in the test lake")
	}
	q := func(s string) string { return strings.ReplaceAll(s, "FILE", lakeFile) }
	for _, tc := range []struct {
		name string
		conn *pgx.Conn
		sql  string
		code string // "" : must succeed
	}{
		{"analyst reads allowed columns", ana, "SELECT transaction_id, quantity FROM pos_lines", ""},
		{"analyst reads the lake's versions", ana, "SELECT * FROM _tables", ""},
		{"hidden column", ana, "SELECT customer_id FROM pos_lines", "42703"},
		{"hidden column by star", ana, "SELECT * FROM pos_lines WHERE customer_id IS NOT NULL", "42703"},
		{"hidden column by COLUMNS", ana, "SELECT COLUMNS('customer.*') FROM pos_lines", "42601|42703|42P18"},
		{"full view by schema", ana, "SELECT customer_id FROM main.pos_lines", "42501"},
		{"full view by catalog", ana, "SELECT customer_id FROM memory.main.pos_lines", "42501"},
		{"other role's schema", ana, "SELECT customer_id FROM role_all.pos_lines", "42501"},
		{"CTE named like a hidden table", bob, "WITH pos_lines AS (SELECT 1) SELECT * FROM pos_lines", "42501"},
		{"table of another role", bob, "SELECT count(*) FROM pos_lines", "42501"},
		{"table of another role in a subquery", bob, "SELECT * FROM item_locations WHERE sku IN (SELECT sku FROM pos_lines)", "42501"},
		{"read_parquet", ana, q("SELECT customer_id FROM read_parquet('FILE')"), "42501"},
		{"parquet_scan", ana, q("SELECT * FROM parquet_scan('FILE')"), "42501"},
		{"replacement scan of a file", ana, q("SELECT customer_id FROM 'FILE'"), "42501"},
		{"read_csv", ana, "SELECT * FROM read_csv('/etc/passwd')", "42501"},
		{"read_text", ana, "SELECT * FROM read_text('/etc/passwd')", "42501"},
		{"glob", ana, "SELECT * FROM glob('/*')", "42501"},
		{"query_table", ana, "SELECT * FROM query_table('main.pos_lines')", "42501"},
		{"query", ana, "SELECT * FROM query('SELECT customer_id FROM main.pos_lines')", "42501"},
		{"duckdb_views", ana, "SELECT sql FROM duckdb_views()", "42501"},
		{"duckdb_settings", ana, "SELECT * FROM duckdb_settings()", "42501"},
		{"getenv", ana, "SELECT getenv('HOME')", "42501"},
		{"current_setting", ana, "SELECT current_setting('temp_directory')", "42501"},
		{"pg_settings", ana, "SELECT * FROM pg_settings", "42501"},
		{"pg_catalog.pg_settings", ana, "SELECT * FROM pg_catalog.pg_settings", "42501"},
		{"system catalog's duckdb views", ana, "SELECT * FROM system.main.duckdb_columns", "42501"},
		{"duckdb view unqualified", ana, "SELECT * FROM duckdb_columns", "42P01"},
		{"function in another role's schema", ana, "SELECT role_all.version()", "42501"},
		{"row constructor", ana, "SELECT ROW(1, 'a') = ROW(1, 'a') AS same", ""},
		{"insert", ana, "INSERT INTO pos_lines SELECT * FROM pos_lines", "25006"},
		{"create table", ana, "CREATE TABLE x AS SELECT 1", "25006"},
		{"create view", ana, "CREATE VIEW pos_lines AS SELECT 1", "25006"},
		{"drop view", ana, "DROP VIEW pos_lines", "25006"},
		{"copy to a file", ana, "COPY (SELECT * FROM pos_lines) TO '/tmp/x.csv'", "25006"},
		{"copy from", ana, "COPY pos_lines FROM '/etc/passwd'", "25006"},
		{"attach", ana, "ATTACH '/tmp/x.db' AS x", "25006"},
		{"install", ana, "INSTALL httpfs", "25006"},
		{"load", ana, "LOAD httpfs", "25006"},
		{"pragma", ana, "PRAGMA database_list", "25006"},
		{"call", ana, "CALL duckdb_settings()", "25006"},
		{"export", ana, "EXPORT DATABASE '/tmp/x'", "25006"},
		{"duckdb setting", ana, "SET enable_external_access = true", "42501"},
		{"duckdb setting by RESET", ana, "RESET lock_configuration", "42501"},
		{"set global", ana, "SET GLOBAL threads = 1", "42501"},
		{"describe", ana, "DESCRIBE main.pos_lines", "42501|25006"},
		{"summarize", ana, "SUMMARIZE main.pos_lines", "42501|25006"},
		{"use", ana, "USE main", "25006"},
		{"two statements in one Parse", ana, "SELECT 1; DROP VIEW pos_lines", "42601|25006"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeDescribeExec} {
				if tc.name == "two statements in one Parse" && mode == pgx.QueryExecModeSimpleProtocol {
					continue // several statements in a Query message are allowed; the second is refused below
				}
				rows, err := tc.conn.Query(t.Context(), tc.sql, mode)
				if err == nil {
					for rows.Next() {
					}
					rows.Close()
					err = rows.Err()
				}
				got := pgCode(err)
				if tc.code == "" && err != nil || tc.code != "" && !strings.Contains("|"+tc.code+"|", "|"+got+"|") {
					t.Errorf("%s (%v): code %q (%v), want %q", tc.sql, mode, got, err, tc.code)
				}
			}
		})
	}
	// Nothing changed.
	admin := ts.connect(t, "admin")
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pos_lines").Scan(&n); err != nil || n != 3 {
		t.Errorf("pos_lines has %d rows (%v), want 3", n, err)
	}
	for _, p := range []string{"/tmp/x.csv", "/tmp/x.db", "/tmp/x"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
}

// TestConcurrentLogins opens many sessions at once.
func TestConcurrentLogins(t *testing.T) {
	ts := tlsServer(t)
	const n = 32
	errs := make(chan error, n)
	for range n {
		go func() {
			c, err := pgx.Connect(t.Context(), ts.connString("ana", "require"))
			if err == nil {
				var one int
				err = c.QueryRow(t.Context(), "SELECT 1").Scan(&one)
				c.Close(context.Background())
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestLoginFailures(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ts := startServer(t, func(o *Options) { o.Now = clock; o.LoginFailures = 3 })
	ctx := t.Context()
	try := func(user, password string) error {
		cfg, err := pgx.ParseConfig(ts.connString(user, "disable"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = password
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			c.Close(ctx)
		}
		return err
	}
	if err := try("ana", "wrong"); pgCode(err) != "28P01" {
		t.Fatalf("wrong password: %v, want 28P01", err)
	}
	if err := try("nobody", testPassword); pgCode(err) != "28P01" {
		t.Fatalf("unknown user: %v, want 28P01", err)
	}
	if err := try("ana", testPassword); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := try("bob", "wrong"); pgCode(err) != "28P01" {
		t.Fatalf("wrong password: %v, want 28P01", err)
	}
	// Three failures from this address: even the right password is refused
	// until the window has passed.
	if err := try("ana", testPassword); pgCode(err) != "28000" {
		t.Fatalf("after 3 failures: %v, want 28000", err)
	}
	now = now.Add(2 * time.Minute)
	if err := try("ana", testPassword); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestTLS(t *testing.T) {
	cfg, fp, err := SelfSignedTLS([]string{"127.0.0.1"}, tls.VersionTLS13)
	if err != nil || len(fp) != 64 {
		t.Fatal(err, fp)
	}
	ts := startServer(t, func(o *Options) { o.TLS = cfg; o.RequireTLS = true })
	ctx := t.Context()
	connect := func(sslmode string, maxVersion uint16) (*pgx.Conn, error) {
		c, err := pgx.ParseConfig(ts.connString("ana", sslmode))
		if err != nil {
			t.Fatal(err)
		}
		if c.TLSConfig != nil {
			c.TLSConfig.MaxVersion = maxVersion
		}
		return pgx.ConnectConfig(ctx, c)
	}
	c, err := connect("require", 0)
	if err != nil {
		t.Fatal(err)
	}
	var on bool
	if err := c.QueryRow(ctx, "SELECT true").Scan(&on); err != nil || !on {
		t.Fatal(err)
	}
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Errorf("connection is %T, want TLS", c.PgConn().Conn())
	}
	c.Close(ctx)
	if _, err := connect("disable", 0); pgCode(err) != "28000" {
		t.Errorf("no TLS: %v, want 28000", err)
	}
	if _, err := connect("require", tls.VersionTLS12); err == nil || pgCode(err) != "" {
		t.Errorf("TLS 1.2 client: %v, want a handshake failure", err)
	}
	var pe *pgconn.PgError
	_ = pe
}

func TestTimeTravel(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "admin")
	ctx := t.Context()
	count := func() int {
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pos_lines").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("latest: %d rows, want 3", n)
	}
	for _, tc := range []struct {
		set  string
		rows int
	}{
		{"SET shelflake.version = 1", 2},
		{"SET shelflake.as_of = '" + commitClock.Add(90*time.Minute).Format(time.RFC3339) + "'", 2},
		{"SET shelflake.as_of = '" + commitClock.Add(3*time.Hour).Format(time.RFC3339) + "'", 3},
		{"RESET shelflake.as_of", 3},
		{"SET shelflake.version TO 0", 0},
		{"SET shelflake.version = default", 3},
	} {
		if _, err := c.Exec(ctx, tc.set); err != nil {
			t.Fatalf("%s: %v", tc.set, err)
		}
		if n := count(); n != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.set, n, tc.rows)
		}
	}
	if _, err := c.Exec(ctx, "SET shelflake.version = 99"); pgCode(err) != "22023" {
		t.Errorf("missing version: %v, want 22023", err)
	}
	var v string
	if err := c.QueryRow(ctx, "SHOW shelflake.version", pgx.QueryExecModeSimpleProtocol).Scan(&v); err != nil || v != "" {
		t.Errorf("SHOW shelflake.version = %q, %v", v, err)
	}
	// Two sessions reading the same version share one snapshot.
	c2 := ts.connect(t, "ana")
	for _, conn := range []*pgx.Conn{c, c2} {
		if _, err := conn.Exec(ctx, "SET shelflake.version = 1"); err != nil {
			t.Fatal(err)
		}
	}
	ts.srv.travelMu.Lock()
	open := len(ts.srv.travel)
	ts.srv.travelMu.Unlock()
	if open != 1 {
		t.Errorf("%d time-travel snapshots open, want 1 shared", open)
	}
	var n2 int
	if err := c2.QueryRow(ctx, "SELECT count(*) FROM pos_lines").Scan(&n2); err != nil || n2 != 2 {
		t.Errorf("second session at version 1: %d rows (%v), want 2", n2, err)
	}
	_ = context.Background
}

package pgwire

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The test lake: pos_lines in two commits (version 1: two lines on
// 2026-05-04, version 2: one line on 2026-05-05, committed an hour later)
// and item_locations in one.
var (
	day1        = schema.NewDate(2026, time.May, 4)
	day2        = schema.NewDate(2026, time.May, 5)
	commitClock = time.Date(2026, time.June, 1, 8, 0, 0, 0, time.UTC)
)

func posLine(txn string, line int32, d schema.Date, customer string, qty int64, cents int64) schema.PosLineRow {
	at := d.Time().Add(10 * time.Hour)
	return schema.PosLineRow{TransactionID: txn, LineNo: line, StoreID: "S0001", RegisterID: "R1", TxnType: "SALE",
		BusinessDate: d, EventTime: at, Currency: "EUR", CustomerID: customer, TxnTotal: schema.MoneyFromMinor(cents * qty),
		SKU: "SKU-1", Quantity: qty, UnitPrice: schema.MoneyFromMinor(cents), LineTotal: schema.MoneyFromMinor(cents * qty),
		IngestedAt: at.Add(time.Minute)}
}

// buildLake writes the test lake into dir.
func buildLake(ctx context.Context, dir string) error {
	tick := 0
	clock := func() time.Time { return commitClock.Add(time.Duration(tick) * time.Hour) }
	l, err := lake.Open(ctx, dir, lake.Options{Delta: delta.Options{Now: clock}})
	if err != nil {
		return err
	}
	defer l.Close()
	commit := func(t *schema.Table, adds []delta.Add) error {
		dt, err := l.Table(ctx, t)
		if err != nil {
			return err
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return err
		}
		_, err = dt.Commit(ctx, snap, delta.Txn{Adds: adds})
		return err
	}
	pos := schema.TablePOSLines()
	if _, err := l.Table(ctx, pos); err != nil {
		return err
	}
	if _, err := l.Table(ctx, schema.TableItemLocations()); err != nil {
		return err
	}
	tick = 1
	a, err := lake.WriteFiles(ctx, l, pos, day1, []schema.PosLineRow{
		posLine("T1", 1, day1, "LOY-1", 2, 1250), posLine("T2", 1, day1, "", 1, 399)}, lake.WriteOptions{})
	if err != nil {
		return err
	}
	if err := commit(pos, a); err != nil {
		return err
	}
	items := []schema.ItemLocationRow{{SKU: "SKU-1", LocationID: "S0001"}}
	for i := range items {
		items[i].BusinessDate = day1
	}
	if a, err = lake.WriteFiles(ctx, l, schema.TableItemLocations(), day1, items, lake.WriteOptions{}); err != nil {
		return err
	}
	if err := commit(schema.TableItemLocations(), a); err != nil {
		return err
	}
	tick = 2
	if a, err = lake.WriteFiles(ctx, l, pos, day2, []schema.PosLineRow{posLine("T3", 1, day2, "LOY-2", 3, 100)}, lake.WriteOptions{}); err != nil {
		return err
	}
	return commit(pos, a)
}

const testConfig = `{
  "roles": {
    "all":     {"tables": ["*"]},
    "analyst": {"tables": ["pos_lines", "item_locations"], "hide_columns": {"pos_lines": ["customer_id"]}},
    "buyer":   {"tables": ["item_locations"]}
  },
  "users": {
    "admin": {"role": "all",     "scram": "%s"},
    "ana":   {"role": "analyst", "scram": "%s"},
    "bob":   {"role": "buyer",   "scram": "%s"}
  }
}`

const testPassword = "correct horse battery staple"

// testServer is a running server over a fresh test lake.
type testServer struct {
	addr    string
	lakeDir string
	srv     *Server
	reg     *prometheus.Registry
}

type serverOpt func(*Options)

func startServer(t *testing.T, opts ...serverOpt) *testServer {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	if err := buildLake(ctx, lakeDir); err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, lakeDir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	secret, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(fmt.Appendf(nil, testConfig, secret, secret, secret))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{Lake: l, Config: cfg, TempDir: tmp, AllowedDirs: []string{lakeDir}, Registerer: reg, Refresh: time.Hour}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return &testServer{addr: ln.Addr().String(), lakeDir: lakeDir, srv: srv, reg: reg}
}

// connString is a libpq connection string for user.
func (ts *testServer) connString(user, sslmode string) string {
	host, port, _ := net.SplitHostPort(ts.addr)
	return fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=lake sslmode=%s connect_timeout=30", host, port, user, testPassword, sslmode)
}

func (ts *testServer) connect(t *testing.T, user string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, ts.connString(user, "disable"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

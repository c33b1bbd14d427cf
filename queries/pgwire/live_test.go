package pgwire

import (
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// TestLiveLake commits a new version while sessions are open: after a
// refresh, new statements read it, while an open transaction keeps reading
// the snapshot it began with until COMMIT.
func TestLiveLake(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	inTx := ts.connect(t, "admin")
	other := ts.connect(t, "admin")
	if _, err := inTx.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := inTx.QueryRow(ctx, "SELECT count(*) FROM pos_lines").Scan(&n); err != nil || n != 3 {
		t.Fatalf("before: %d rows, %v", n, err)
	}
	// A fourth line, committed as ingest would.
	l, err := lake.Open(ctx, ts.lakeDir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	day3 := schema.NewDate(2026, time.May, 6)
	adds, err := lake.WriteFiles(ctx, l, schema.TablePOSLines(), day3, []schema.PosLineRow{posLine("T4", 1, day3, "", 1, 100)}, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dt, err := l.Table(ctx, schema.TablePOSLines())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Adds: adds}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := ts.srv.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.QueryRow(ctx, "SELECT count(*) FROM pos_lines").Scan(&n); err != nil || n != 4 {
		t.Errorf("new statement after the refresh: %d rows (%v), want 4", n, err)
	}
	if err := inTx.QueryRow(ctx, "SELECT count(*) FROM pos_lines").Scan(&n); err != nil || n != 3 {
		t.Errorf("in the transaction begun before: %d rows (%v), want 3", n, err)
	}
	if _, err := inTx.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := inTx.QueryRow(ctx, "SELECT count(*) FROM pos_lines").Scan(&n); err != nil || n != 4 {
		t.Errorf("after COMMIT: %d rows (%v), want 4", n, err)
	}
	var v int64
	if err := other.QueryRow(ctx, "SELECT version FROM _tables WHERE table_name = 'pos_lines'").Scan(&v); err != nil || v != 3 {
		t.Errorf("_tables says version %d (%v), want 3", v, err)
	}
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// TestFilesWithAndWithoutDTReadAlike: data files written before the
// partition column was materialised (no dt column, no field ids) and after
// (dt in the file as well as the path) read the same through shelflake sql,
// compaction (which reads rows back into Go) and the unified tables built
// with DuckDB.
func TestFilesWithAndWithoutDTReadAlike(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tb := schema.TablePOSLines()
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	day := schema.NewDate(2026, 3, 1)
	rows := func(from, n int) []schema.PosLineRow {
		var out []schema.PosLineRow
		for i := from; i < from+n; i++ {
			at := day.Time().Add(time.Duration(i) * time.Minute)
			out = append(out, schema.PosLineRow{TransactionID: fmt.Sprintf("T%04d", i), LineNo: 1, StoreID: "S0001", RegisterID: "R01",
				TxnType: "sale", BusinessDate: day, EventTime: at, Currency: "USD", SKU: fmt.Sprintf("SKU%02d", i%3),
				Quantity: int64(i%4 + 1), UnitPrice: 10000, LineTotal: 10000, IngestedAt: at})
		}
		return out
	}
	var adds []delta.Add
	// Old-style files: the row type's columns only.
	for f := range 6 {
		rel := fmt.Sprintf("dt=%s/part-old-%d.parquet", day, f)
		path := filepath.Join(dir, tb.Name, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := parquet.WriteFile(path, rows(f*10, 10)); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(path)
		a, err := delta.NewAdd(rel, map[string]string{"dt": day.String()}, st.Size(), st.ModTime(), &delta.Stats{NumRecords: 10})
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, a)
	}
	// New files: dt materialised.
	for f := range 6 {
		a, err := lake.WriteFiles(ctx, l, tb, day, rows(60+f*10, 10), lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, a...)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds}); err != nil {
		t.Fatal(err)
	}
	const query = `SELECT dt, count(*), sum(quantity), count(DISTINCT transaction_id) FROM pos_lines GROUP BY dt`
	want := "dt,count_star(),sum(quantity),count(DISTINCT transaction_id)\n2026-03-01,120,300,120\n"
	check := func(stage string) {
		t.Helper()
		out, err := runCLI(t, ctx, "sql", "--lake", dir, "--format", "csv", "-c", query)
		if err != nil {
			t.Fatalf("%s: sql: %v", stage, err)
		}
		if out != want {
			t.Errorf("%s: sql printed\n%s\nwant\n%s", stage, out, want)
		}
	}
	check("mixed files")
	out, err := runCLI(t, ctx, "compact", "--lake", dir, "--unified", "--temp-dir", t.TempDir())
	if err != nil {
		t.Fatalf("compact: %v\n%s", err, out)
	}
	check("compacted")
	out, err = runCLI(t, ctx, "sql", "--lake", dir, "--format", "csv", "-c", "SELECT sum(units_sold) FROM sales_daily")
	if err != nil || !strings.Contains(out, "\n300") {
		t.Errorf("sales_daily built from the mixed files: %v\n%s", err, out)
	}
}

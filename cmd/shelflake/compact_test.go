package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/compact"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// appendPOS commits n POS sale lines of day as files of perFile lines.
func appendPOS(t *testing.T, dir string, day schema.Date, n, perFile int) {
	t.Helper()
	ctx := context.Background()
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
	var adds []delta.Add
	for f := 0; f*perFile < n; f++ {
		var rows []schema.PosLineRow
		for i := f * perFile; i < min(n, (f+1)*perFile); i++ {
			rows = append(rows, schema.PosLineRow{
				TransactionID: fmt.Sprintf("T%05d", i), LineNo: 1, StoreID: "S0001", TxnType: "sale",
				BusinessDate: day, EventTime: day.Time().Add(time.Duration(i) * time.Second), Currency: "USD",
				SKU: fmt.Sprintf("SKU%03d", i%5), Quantity: 1, UnitPrice: 10000, LineTotal: 10000,
			})
		}
		a, err := lake.WriteFiles(ctx, l, tb, day, rows, lake.WriteOptions{})
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
}

func TestCompactAndVacuumCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day := schema.NewDate(2026, 3, 1)
	appendPOS(t, dir, day, 120, 10)

	out, err := runCLI(t, ctx, "compact", "--lake", dir, "--unified", "--json", "--temp-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var rep compact.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("compact --json: %v\n%s", err, out)
	}
	if len(rep.Tasks) != 1 || rep.FilesBefore != 12 || rep.FilesAfter != 1 || rep.RowsOut != 120 {
		t.Errorf("report %+v", rep)
	}
	if rep.Unified == nil {
		t.Fatal("no unified report")
	}
	built := map[string]bool{}
	for _, u := range rep.Unified.Tables {
		built[u.Table] = !u.UpToDate
	}
	if !built["sales_daily"] {
		t.Errorf("sales_daily not built: %+v", rep.Unified.Tables)
	}

	// A second pass, as text: nothing left to do.
	out, err = runCLI(t, ctx, "compact", "--lake", dir, "--tables", "pos_lines", "--unified")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "0 partitions compacted") || !strings.Contains(out, "sales_daily") || !strings.Contains(out, "up to date") {
		t.Errorf("second pass printed:\n%s", out)
	}
	if _, err := runCLI(t, ctx, "compact", "--lake", dir, "--tables", "sales_daily"); err == nil {
		t.Error("compacting a unified table was accepted")
	}

	out, err = runCLI(t, ctx, "vacuum", "--lake", dir, "--retention", "168h", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var vac []compact.VacuumTableReport
	if err := json.Unmarshal([]byte(out), &vac); err != nil {
		t.Fatalf("vacuum --json: %v\n%s", err, out)
	}
	tables := map[string]bool{}
	for _, v := range vac {
		tables[v.Table] = true
		if len(v.Deleted) != 0 {
			t.Errorf("%s: deleted %v within the retention", v.Table, v.Deleted)
		}
	}
	if !tables["pos_lines"] || !tables["sales_daily"] || tables["rejects"] {
		t.Errorf("vacuumed %v: want the tables the lake has", tables)
	}
	if _, err := runCLI(t, ctx, "vacuum", "--lake", dir, "--retention", "1m"); err == nil {
		t.Error("a one-minute retention was accepted without --allow-short-retention")
	}
}

package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// faultLake writes a faulted world's records, decoded as ingest decodes
// them, into a new lake's raw tables, one commit per table.
func faultLake(t *testing.T) (string, *world.World) {
	t.Helper()
	dir, w, appendLast := splitFaultLake(t, 0)
	appendLast()
	return dir, w
}

// splitFaultLake writes a faulted world of 60 days starting at start (the
// default when 0) into a new lake, one commit per table of the rows dated
// before its last day; appendLast commits the last day's rows.
func splitFaultLake(t *testing.T, start schema.Date) (dir string, w *world.World, appendLast func()) {
	t.Helper()
	ctx := t.Context()
	w, err := world.New(world.Config{Seed: 3, Stores: 2, SKUs: 30, Days: 60, Start: start, Faults: world.DefaultFaults()})
	if err != nil {
		t.Fatal(err)
	}
	sink := &world.MemSink{}
	if _, err := w.Generate(ctx, world.GenerateOptions{Sink: sink, TruthDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	var rs schema.Rows
	var dec schema.Decoder
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range sink.Records {
		if err := rs.Append(&dec, r.Topic, r.Value, schema.Source{Offset: int64(i), IngestedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(t.TempDir(), "lake")
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	commit := func(tab *schema.Table, adds []delta.Add) {
		if len(adds) == 0 {
			return
		}
		dt, err := l.Table(ctx, tab)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE"}); err != nil {
			t.Fatal(err)
		}
	}
	last := w.Date(w.Days() - 1)
	write := func(keep func(schema.Date) bool) {
		commit(schema.TablePOSLines(), writeByDay(t, l, schema.TablePOSLines(), rs.POS, keep))
		commit(schema.TableInventorySnapshots(), writeByDay(t, l, schema.TableInventorySnapshots(), rs.Inventory, keep))
		commit(schema.TablePurchaseOrderLines(), writeByDay(t, l, schema.TablePurchaseOrderLines(), rs.PO, keep))
		commit(schema.TableItemLocations(), writeByDay(t, l, schema.TableItemLocations(), rs.Items, keep))
	}
	write(func(d schema.Date) bool { return d < last })
	appendLast = func() {
		t.Helper()
		l2, err := lake.Open(ctx, dir, lake.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		l = l2
		write(func(d schema.Date) bool { return d >= last })
	}
	return dir, w, appendLast
}

// writeByDay writes rows whose partition date keep accepts, one file set
// per day.
func writeByDay[T any, P interface {
	*T
	PartitionDate() schema.Date
}](t *testing.T, l *lake.Lake, tab *schema.Table, rows []T, keep func(schema.Date) bool) []delta.Add {
	t.Helper()
	byDay := map[schema.Date][]T{}
	for i := range rows {
		d := P(&rows[i]).PartitionDate()
		if keep(d) {
			byDay[d] = append(byDay[d], rows[i])
		}
	}
	var adds []delta.Add
	for d, rs := range byDay {
		a, err := lake.WriteFiles(t.Context(), l, tab, d, rs, lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, a...)
	}
	return adds
}

func TestReconcileCommand(t *testing.T) {
	dir, w := faultLake(t)
	asOf := w.Date(w.Days()).String()
	var queues [2][]schema.StockExceptionRow
	for i := range queues {
		out, err := runCLI(t, t.Context(), "reconcile", "--lake", dir, "--as-of", asOf, "--json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &queues[i]); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	if len(queues[0]) == 0 || len(queues[0]) != len(queues[1]) {
		t.Fatalf("queues of %d then %d exceptions", len(queues[0]), len(queues[1]))
	}
	for i := range queues[0] {
		if queues[0][i].ExceptionID != queues[1][i].ExceptionID || queues[0][i].State != queues[1][i].State {
			t.Fatalf("rerun changed exception %d: %+v then %+v", i, queues[0][i], queues[1][i])
		}
	}
	var id string
	for _, r := range queues[0] {
		if r.State == schema.ExceptionOpen {
			id = r.ExceptionID
			break
		}
	}
	out, err := runCLI(t, t.Context(), "reconcile", "--lake", dir, "--as-of", asOf, "--ack", id)
	if err != nil || !strings.Contains(out, "1 exceptions acknowledged") {
		t.Fatalf("ack %s: %v %s", id, err, out)
	}
	out, err = runCLI(t, t.Context(), "reconcile", "--lake", dir, "--as-of", asOf, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var after []schema.StockExceptionRow
	if err := json.Unmarshal([]byte(out), &after); err != nil {
		t.Fatal(err)
	}
	for _, r := range after {
		if r.ExceptionID == id && r.State != schema.ExceptionAcknowledged {
			t.Errorf("a rerun made acknowledged %s %s", id, r.State)
		}
	}
	out, err = runCLI(t, t.Context(), "reconcile", "--lake", dir, "--as-of", asOf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"open exceptions", "record accuracy", "CYCLE COUNT"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// The saved queries read the queue the run wrote.
	unresolved, losses := 0, 0
	for _, r := range after {
		if r.State != schema.ExceptionResolved {
			unresolved++
		}
		if r.Reason == schema.ReasonUnexplainedLoss {
			losses++
		}
	}
	for _, c := range []struct {
		query string
		want  func(n int) bool
	}{
		{"open_exceptions", func(n int) bool { return n == unresolved }},
		{"count_list", func(n int) bool { return n > 0 && n <= unresolved }},
		{"shrink_by_category", func(n int) bool { return (n > 0) == (losses > 0) }},
	} {
		out, err := runCLI(t, t.Context(), "sql", "--lake", dir, "--query", c.query, "--format", "jsonl")
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		n := strings.Count(out, "\n")
		if !c.want(n) {
			t.Errorf("%s: %d rows (%d unresolved exceptions, %d losses):\n%s", c.query, n, unresolved, losses, out)
		}
	}
	if _, err := runCLI(t, t.Context(), "reconcile", "--lake", dir, "--as-of", "2026-13-01"); err == nil || !strings.Contains(err.Error(), "--as-of") {
		t.Errorf("bad --as-of: %v", err)
	}
}

package compact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// readTable reads every row of a table's latest snapshot, with each file's
// rows and partition.
func readTable[T any](t testing.TB, l *lake.Lake, tb *schema.Table) (rows []T, perFile map[string][]T, snap *delta.Snapshot) {
	t.Helper()
	ctx := context.Background()
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	snap, err = dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perFile = map[string][]T{}
	for _, f := range snap.Files() {
		rs := readFile[T](t, l, f)
		// Unified rows carry their dt in a DT field that is not in the file.
		if d, err := schema.ParseDate(f.PartitionValues["dt"]); err == nil {
			for i := range rs {
				if v := reflect.ValueOf(&rs[i]).Elem().FieldByName("DT"); v.IsValid() && v.CanSet() {
					v.Set(reflect.ValueOf(d))
				}
			}
		}
		perFile[f.Key] = rs
		rows = append(rows, rs...)
	}
	return rows, perFile, snap
}

// readFile reads a data file's rows, asking for exactly the rows it holds.
func readFile[T any](t testing.TB, l *lake.Lake, f delta.File) []T {
	t.Helper()
	rr, err := lake.OpenRows[T](context.Background(), l, f.Key, f.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	rows := make([]T, rr.NumRows())
	if n, err := rr.Read(rows); n != len(rows) || (err != nil && !errors.Is(err, io.EOF)) {
		t.Fatalf("read %s: %d of %d rows: %v", f.Key, n, len(rows), err)
	}
	return rows
}

// filesPerDT counts a snapshot's live files per dt.
func filesPerDT(snap *delta.Snapshot) map[string]int {
	out := map[string]int{}
	for _, f := range snap.Files() {
		out[f.PartitionValues["dt"]]++
	}
	return out
}

// everyPartitionCompacts plans every partition with two files or more.
var everyPartitionCompacts = PlanOptions{MinFiles: 2}

func newCompactor(t testing.TB, l *lake.Lake, o Options) *Compactor {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.TempDir == "" {
		o.TempDir = t.TempDir()
	}
	c, err := New(l, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkSortedAndUnique checks that each file's rows are in compaction
// order with no natural key twice in the table.
func checkSortedAndUnique[T any](t *testing.T, k rowKind[T], perFile map[string][]T) {
	t.Helper()
	var all []T
	for key, rows := range perFile {
		if !slices.IsSortedFunc(rows, func(a, b T) int { return k.compare(&a, &b) }) {
			t.Errorf("%s: rows not sorted by the sort key", key)
		}
		all = append(all, rows...)
	}
	slices.SortFunc(all, func(a, b T) int { return k.compare(&a, &b) })
	for i := 1; i < len(all); i++ {
		if k.sameKey(&all[i-1], &all[i]) {
			t.Errorf("natural key twice: %+v", all[i])
			return
		}
	}
}

func TestCompactionLeavesPartitionsSortedDeduplicatedAndComplete(t *testing.T) {
	ctx := context.Background()
	l, st, _ := loadSmall(t, smallWorld, 20*time.Minute, 4)
	if st.Resent == 0 {
		t.Fatal("the load resent no POS lines")
	}
	posBefore, _, posSnap := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	invBefore, _, _ := readTable[schema.InventoryRow](t, l, schema.TableInventorySnapshots())
	poBefore, _, _ := readTable[schema.POLineRow](t, l, schema.TablePurchaseOrderLines())
	itemsBefore, _, _ := readTable[schema.ItemLocationRow](t, l, schema.TableItemLocations())
	promosBefore, _, _ := readTable[schema.PromotionRow](t, l, schema.TablePromotions())
	before := filesPerDT(posSnap)
	// The load wrote every valid promotion the world sent.
	if c := st.Summary.Topics[schema.TopicPromotion]; int64(len(promosBefore)) != c.Valid || st.Rows[schema.TableNamePromotions] != c.Valid {
		t.Errorf("promotions holds %d rows (load counted %d), the world sent %d valid", len(promosBefore), st.Rows[schema.TableNamePromotions], c.Valid)
	}

	// What compaction must keep: one row per natural key (the resends go).
	want := map[string]string{}
	for _, r := range posBefore {
		want[fmt.Sprintf("%s/%d", r.TransactionID, r.LineNo)] = fmt.Sprint(r.StoreID, r.SKU, r.Quantity, r.LineTotal, r.EventTime.UnixMicro())
	}
	if int64(len(posBefore))-int64(len(want)) != st.Resent {
		t.Fatalf("%d lines, %d distinct, but %d resent", len(posBefore), len(want), st.Resent)
	}

	c := newCompactor(t, l, Options{Plan: everyPartitionCompacts})
	rep, err := c.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Conflicts != 0 || len(rep.Tasks) == 0 {
		t.Fatalf("report %+v", rep)
	}
	var dups int64
	for _, tr := range rep.Tasks {
		dups += tr.RowsIn - tr.RowsOut
		if tr.OutputFiles != 1 || tr.InputFiles < 2 {
			t.Errorf("%s dt=%s: %d files → %d", tr.Table, tr.DT, tr.InputFiles, tr.OutputFiles)
		}
	}
	if dups != st.Resent {
		t.Errorf("compaction dropped %d duplicates, %d were resent", dups, st.Resent)
	}

	posAfter, posFiles, posSnap := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	if len(posAfter) != len(want) {
		t.Fatalf("%d POS lines after, want %d", len(posAfter), len(want))
	}
	for _, r := range posAfter {
		k := fmt.Sprintf("%s/%d", r.TransactionID, r.LineNo)
		if got := fmt.Sprint(r.StoreID, r.SKU, r.Quantity, r.LineTotal, r.EventTime.UnixMicro()); want[k] != got {
			t.Fatalf("line %s: %s, want %s", k, got, want[k])
		}
	}
	checkSortedAndUnique(t, posKind, posFiles)
	for dt, n := range filesPerDT(posSnap) {
		if n != 1 {
			t.Errorf("dt=%s has %d files after compaction (had %d)", dt, n, before[dt])
		}
	}
	dropped := map[string]bool{}
	for _, tr := range rep.Tasks {
		if tr.Table == schema.TableNamePOSLines {
			dropped[tr.DT.String()] = tr.RowsIn != tr.RowsOut
		}
	}
	for _, f := range posSnap.Files() {
		if want := dropped[f.PartitionValues["dt"]]; f.DataChange != want {
			t.Errorf("%s: compaction output added with dataChange=%v, want %v (rows dropped)", f.RelPath, f.DataChange, want)
		}
	}

	// ERP tables: same rows (their loads hold no duplicates), sorted.
	invAfter, invFiles, _ := readTable[schema.InventoryRow](t, l, schema.TableInventorySnapshots())
	checkSortedAndUnique(t, inventoryKind, invFiles)
	poAfter, poFiles, _ := readTable[schema.POLineRow](t, l, schema.TablePurchaseOrderLines())
	checkSortedAndUnique(t, poLineKind, poFiles)
	itemsAfter, itemFiles, _ := readTable[schema.ItemLocationRow](t, l, schema.TableItemLocations())
	checkSortedAndUnique(t, itemLocationKind, itemFiles)
	promosAfter, promoFiles, _ := readTable[schema.PromotionRow](t, l, schema.TablePromotions())
	checkSortedAndUnique(t, promotionKind, promoFiles)
	for _, c := range []struct {
		table         string
		before, after int
	}{
		{"inventory_snapshots", len(invBefore), len(invAfter)},
		{"purchase_order_lines", len(poBefore), len(poAfter)},
		{"item_locations", len(itemsBefore), len(itemsAfter)},
		{"promotions", len(promosBefore), len(promosAfter)},
	} {
		if c.before != c.after {
			t.Errorf("%s: %d rows before, %d after", c.table, c.before, c.after)
		}
	}

	// A second pass finds nothing to do and commits nothing.
	v := posSnap.Version()
	rep, err = c.Compact(ctx)
	if err != nil || len(rep.Tasks) != 0 {
		t.Fatalf("second pass: %+v, %v", rep, err)
	}
	_, _, again := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	if again.Version() != v {
		t.Errorf("second pass moved pos_lines from version %d to %d", v, again.Version())
	}
}

// writePOSFiles appends rows of one dt as files of perFile rows, one commit.
func writePOSFiles(t testing.TB, l *lake.Lake, day schema.Date, rows []schema.PosLineRow, perFile int) {
	t.Helper()
	writeFiles(t, l, schema.TablePOSLines(), day, rows, perFile)
}

// writeFiles appends rows of one dt of table tb as files of perFile rows,
// one commit.
func writeFiles[T any](t testing.TB, l *lake.Lake, tb *schema.Table, day schema.Date, rows []T, perFile int) {
	t.Helper()
	ctx := context.Background()
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	var adds []delta.Add
	for chunk := range slices.Chunk(rows, perFile) {
		a, err := lake.WriteFiles(ctx, l, tb, day, chunk, lake.WriteOptions{FastCompression: true})
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

func TestCompactionOfAPartitionLargerThanTheMemoryBudgetSpillsAndMerges(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, t.TempDir())
	day := schema.NewDate(2026, 3, 1)
	rows := posRows(2, 12000, 9, day)
	var est int64
	for i := range rows {
		est += posKind.size(&rows[i])
	}
	const budget = 1 << 20
	if est < 3*budget {
		t.Fatalf("the partition holds %d bytes of rows, not well over the %d budget", est, budget)
	}
	writePOSFiles(t, l, day, rows, 500)

	tmp := t.TempDir()
	c := newCompactor(t, l, Options{Plan: everyPartitionCompacts, MemoryBytes: budget, Concurrency: 1, TempDir: tmp})
	rep, err := c.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tasks) != 1 || rep.Tasks[0].SpilledRuns < 2 {
		t.Fatalf("report %+v: want one partition sorted in spilled runs", rep)
	}
	got, _, snap := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	want := wantSorted(rows)
	if len(got) != len(want) || snap.NumFiles() != 1 {
		t.Fatalf("%d rows in %d files, want %d rows in 1", len(got), snap.NumFiles(), len(want))
	}
	for i := range got {
		if g := posString(got[i]); g != want[i] {
			t.Fatalf("row %d:\n got %s\nwant %s", i, g, want[i])
		}
	}
	if rep.Tasks[0].RowsIn-rep.Tasks[0].RowsOut != int64(len(rows)-len(want)) {
		t.Errorf("report counts %d duplicates, want %d", rep.Tasks[0].RowsIn-rep.Tasks[0].RowsOut, len(rows)-len(want))
	}
}

func TestCompactionBesideConcurrentAppendsKeepsEveryRowExactlyOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLake(t, dir)
	tb := schema.TablePOSLines()
	days := []schema.Date{schema.NewDate(2026, 3, 1), schema.NewDate(2026, 3, 2)}
	const (
		appenders = 3
		batches   = 25
		perBatch  = 20
	)
	// Appenders commit like ingest: their own lake handle, small files.
	var (
		wg   sync.WaitGroup
		done atomic.Int32
	)
	errc := make(chan error, appenders+1)
	for a := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			al, err := lake.Open(ctx, dir, lake.Options{})
			if err != nil {
				errc <- err
				return
			}
			defer al.Close()
			dt, err := al.Table(ctx, tb)
			if err != nil {
				errc <- err
				return
			}
			for b := range batches {
				day := days[b%len(days)]
				rows := make([]schema.PosLineRow, perBatch)
				for i := range rows {
					rows[i] = schema.PosLineRow{
						TransactionID: fmt.Sprintf("A%d-B%03d", a, b), LineNo: int32(i + 1),
						StoreID: fmt.Sprintf("S%d", i%4), SKU: fmt.Sprintf("SKU%d", i%7), TxnType: "sale",
						BusinessDate: day, EventTime: day.Time().Add(time.Duration(b*perBatch+i) * time.Second),
						Quantity: 1, IngestedAt: time.Now().UTC(),
					}
				}
				adds, err := lake.WriteFiles(ctx, al, tb, day, rows, lake.WriteOptions{FastCompression: true})
				if err != nil {
					errc <- err
					return
				}
				snap, err := dt.Snapshot(ctx)
				if err != nil {
					errc <- err
					return
				}
				if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "STREAMING UPDATE"}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	// The compactor runs passes until the appenders are done.
	c := newCompactor(t, l, Options{Plan: PlanOptions{MinFiles: 3}})
	var passes, rewrites int
	for done.Load() < appenders {
		rep, err := c.Compact(ctx)
		if err != nil {
			t.Fatal(err)
		}
		passes++
		rewrites += len(rep.Tasks)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if _, err := c.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d passes rewrote %d partitions beside %d appends", passes, rewrites, appenders*batches)
	if rewrites == 0 {
		t.Fatal("no compaction happened while appending")
	}

	rows, _, snap := readTable[schema.PosLineRow](t, l, tb)
	seen := map[string]int{}
	for _, r := range rows {
		seen[fmt.Sprintf("%s/%d", r.TransactionID, r.LineNo)]++
	}
	if len(rows) != appenders*batches*perBatch || len(seen) != len(rows) {
		t.Fatalf("%d rows, %d distinct; want %d each", len(rows), len(seen), appenders*batches*perBatch)
	}
	if n, ok := snap.NumRecords(); !ok || n != int64(len(rows)) {
		t.Errorf("stats count %d records (%v), files hold %d", n, ok, len(rows))
	}
}

// passInsidePass runs a compaction pass A over la in which, before A's
// first commit, a second compactor B runs a whole pass over lb (the same
// lake opened again), and returns both reports.
func passInsidePass(t *testing.T, la, lb *lake.Lake) (aRep, bRep Report) {
	t.Helper()
	b := newCompactor(t, lb, Options{Plan: everyPartitionCompacts})
	a := newCompactor(t, la, Options{Plan: everyPartitionCompacts})
	var once sync.Once
	a.beforeCommit = func(Task) {
		once.Do(func() {
			var err error
			if bRep, err = b.Compact(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	aRep, err := a.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return aRep, bRep
}

func TestTwoCompactorsRacingOnOnePartitionRetryAndKeepRowsOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLake(t, dir)
	day := schema.NewDate(2026, 3, 1)
	rows := posRows(3, 2000, 0, day)
	writePOSFiles(t, l, day, rows, 100)

	// B runs its whole pass in the middle of A's: after A planned and
	// wrote, before A commits. A's commit then conflicts and A re-plans.
	other := openLake(t, dir)
	aRep, bRep := passInsidePass(t, l, other)
	if len(bRep.Tasks) != 1 || aRep.Conflicts != 1 || len(aRep.Tasks) != 0 {
		t.Fatalf("A: %d rewrites, %d conflicts; B: %d rewrites. Want A to lose and find nothing left",
			len(aRep.Tasks), aRep.Conflicts, len(bRep.Tasks))
	}
	got, _, snap := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	if len(got) != len(rows) || snap.NumFiles() != 1 {
		t.Fatalf("%d rows in %d files, want %d in 1", len(got), snap.NumFiles(), len(rows))
	}
	// A's rewritten files were deleted, not left as orphans.
	var data int
	if err := l.Bucket().List(ctx, "pos_lines/dt=2026-03-01/", func(objstore.Attributes) error {
		data++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := 20 + 1; data != want {
		t.Errorf("%d data files under the partition, want %d (20 removed inputs + 1 output)", data, want)
	}

	// And when both really run at once, rows still end up once.
	more := posRows(4, 2000, 0, day.AddDays(1))
	writePOSFiles(t, l, day.AddDays(1), more, 50)
	var wg sync.WaitGroup
	reps := make([]Report, 2)
	for i, c := range []*Compactor{newCompactor(t, l, Options{Plan: everyPartitionCompacts}), newCompactor(t, other, Options{Plan: everyPartitionCompacts})} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Compact(ctx)
			if err != nil {
				t.Error(err)
			}
			reps[i] = r
		}()
	}
	wg.Wait()
	got, _, snap = readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	if len(got) != len(rows)+len(more) || snap.NumFiles() != 2 {
		t.Fatalf("%d rows in %d files, want %d in 2", len(got), snap.NumFiles(), len(rows)+len(more))
	}
	if n := len(reps[0].Tasks) + len(reps[1].Tasks); n != 1 {
		t.Errorf("%d rewrites committed for one partition (conflicts %d, %d)", n, reps[0].Conflicts, reps[1].Conflicts)
	}
}

// TestCompactionMarksDataChangeWhenItDropsRows: the commit's removes and
// adds carry dataChange=true when de-duplication dropped rows, false for a
// rewrite of the same rows (the Delta protocol's meaning of the flag).
func TestCompactionMarksDataChangeWhenItDropsRows(t *testing.T) {
	for _, c := range []struct {
		name     string
		dupEvery int
		want     bool
	}{
		{"same rows", 0, false},
		{"duplicates dropped", 10, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			l := openLake(t, t.TempDir())
			day := schema.NewDate(2026, 3, 1)
			rows := posRows(3, 300, c.dupEvery, day)
			writePOSFiles(t, l, day, rows, 100)
			inputs := (len(rows) + 99) / 100
			rep, err := newCompactor(t, l, Options{Plan: everyPartitionCompacts}).Compact(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Tasks) != 1 || (rep.Tasks[0].RowsIn != rep.Tasks[0].RowsOut) != c.want {
				t.Fatalf("report %+v", rep.Tasks)
			}
			dt, err := l.ExistingTable(ctx, schema.TablePOSLines())
			if err != nil {
				t.Fatal(err)
			}
			rc, err := dt.Bucket().Get(ctx, fmt.Sprintf("%s_delta_log/%020d.json", dt.Prefix(), rep.Tasks[0].Version))
			if err != nil {
				t.Fatal(err)
			}
			acts, err := delta.DecodeActions(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			var adds, removes int
			for _, a := range acts {
				switch {
				case a.Add != nil:
					adds++
					if a.Add.DataChange != c.want {
						t.Errorf("add %s: dataChange %v, want %v", a.Add.Path, a.Add.DataChange, c.want)
					}
				case a.Remove != nil:
					removes++
					if a.Remove.DataChange != c.want {
						t.Errorf("remove %s: dataChange %v, want %v", a.Remove.Path, a.Remove.DataChange, c.want)
					}
				}
			}
			if adds != 1 || removes != inputs {
				t.Errorf("commit has %d adds and %d removes, want 1 and %d", adds, removes, inputs)
			}
		})
	}
}

package reconcile

import (
	"cmp"
	"context"
	"encoding/csv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// partitioned is a lake row with a dt.
type partitioned interface{ PartitionDate() schema.Date }

// writeRows appends rows to t, one file per dt, in one commit.
func writeRows[T any, P interface {
	*T
	partitioned
}](t *testing.T, ctx context.Context, l *lake.Lake, tab *schema.Table, rows []T) {
	t.Helper()
	byDay := map[schema.Date][]T{}
	for i := range rows {
		d := P(&rows[i]).PartitionDate()
		byDay[d] = append(byDay[d], rows[i])
	}
	var adds []delta.Add
	for _, d := range slices.Sorted(maps.Keys(byDay)) {
		a, err := lake.WriteFiles(ctx, l, tab, d, byDay[d], lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, a...)
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

// generate runs a world with cfg into a new lake's raw tables (as ingest
// would write them, decoded with the strict decoder) and returns the lake,
// the world and its truth directory.
func generate(t *testing.T, cfg world.Config) (*lake.Lake, *world.World, string) {
	t.Helper()
	ctx := t.Context()
	w, err := world.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	truth := t.TempDir()
	sink := &world.MemSink{}
	if _, err := w.Generate(ctx, world.GenerateOptions{Sink: sink, TruthDir: truth}); err != nil {
		t.Fatal(err)
	}
	var rs schema.Rows
	var dec schema.Decoder
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range sink.Records {
		if err := rs.Append(&dec, r.Topic, r.Value, schema.Source{Offset: int64(i), IngestedAt: at}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	l, err := lake.Open(ctx, t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	writeRows(t, ctx, l, schema.TablePOSLines(), rs.POS)
	writeRows(t, ctx, l, schema.TableInventorySnapshots(), rs.Inventory)
	writeRows(t, ctx, l, schema.TablePurchaseOrderLines(), rs.PO)
	writeRows(t, ctx, l, schema.TableItemLocations(), rs.Items)
	return l, w, truth
}

type key struct {
	loc, sku string
	d        schema.Date
}

// score is one reason's confusion counts.
type score struct{ tp, fp, fn, truth, found int }

func (s score) precision() float64 {
	if s.tp+s.fp == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fp)
}

// found counts the injected faults a finding matched.
func (s *score) tp2() { s.found++ }

func (s score) recall() float64 {
	if s.truth == 0 {
		return 1
	}
	return float64(s.found) / float64(s.truth)
}

// truthSet is the generator's fault truth indexed for scoring.
type truthSet struct {
	byKind map[string]map[key]world.FaultEvent
	sold   map[key]int64
	w      *world.World
}

func readTruth(t *testing.T, w *world.World, dir string) *truthSet {
	t.Helper()
	evs, err := world.ReadFaults(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := &truthSet{byKind: map[string]map[key]world.FaultEvent{}, sold: map[key]int64{}, w: w}
	for _, e := range evs {
		if ts.byKind[e.Kind] == nil {
			ts.byKind[e.Kind] = map[key]world.FaultEvent{}
		}
		ts.byKind[e.Kind][key{e.Location, e.SKU, e.Date}] = e
	}
	f, err := os.Open(filepath.Join(dir, world.TruthDemand))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:] {
		d, err := schema.ParseDate(r[0])
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(r[4], 10, 64)
		ts.sold[key{r[1], r[2], d}] = n
	}
	return ts
}

// countLoss is what the count at k found missing from the shelf: the
// record minus the count, less the units the record was overstated by
// since the previous count (those the shelf never had).
func (ts *truthSet) countLoss(k key) int64 {
	e := ts.byKind[world.FaultCount][k]
	loss := e.Units
	for d := k.d - 1; ; d-- {
		if o, ok := ts.byKind[world.FaultOverstated][key{k.loc, k.sku, d}]; ok {
			loss -= o.Units
		}
		if _, ok := ts.byKind[world.FaultCount][key{k.loc, k.sku, d}]; ok || d < k.d-400 {
			return loss
		}
	}
}

// countWithin says a count came within days days after k's day.
func (ts *truthSet) countWithin(k key, days int) bool {
	for d := k.d + 1; d <= k.d+schema.Date(days); d++ {
		if _, ok := ts.byKind[world.FaultCount][key{k.loc, k.sku, d}]; ok {
			return true
		}
	}
	return false
}

func (ts *truthSet) phantomAt(k key) bool {
	e, ok := ts.byKind[world.FaultState][k]
	return ok && e.Shelf == 0 && e.Record > 0
}

// miss is a scored finding or truth event, for failure messages.
type miss struct {
	k    key
	what string
}

// evaluate scores the run's findings against the generator's fault truth:
// a finding is a true positive when the truth holds its fault at its
// series and day; recall counts the injected faults a finding matches
// (phantom stock: within 7 days of onset, on items selling ≥ 1/day, that
// stayed phantom 7 days).
func evaluate(ts *truthSet, rep *Report, from, last schema.Date, staleDays int) (map[string]score, []miss) {
	sc := map[string]score{}
	var misses []miss
	found := map[string]map[key]bool{}
	mark := func(r string, k key) {
		if found[r] == nil {
			found[r] = map[key]bool{}
		}
		found[r][k] = true
	}
	for series, fs := range rep.Findings {
		loc, sku, _ := strings.Cut(series, "/")
		for _, f := range fs {
			onset, seen := from.AddDays(f.Onset), from.AddDays(f.Seen)
			ok := false
			switch f.Reason {
			case schema.ReasonPhantomStock:
				ok = ts.phantomAt(key{loc, sku, seen})
				for d := seen; d >= seen-7; d-- {
					mark(f.Reason, key{loc, sku, d})
				}
			case schema.ReasonReceiptMismatch:
				_, ok = ts.byKind[world.FaultReceiptError][key{loc, sku, onset}]
				mark(f.Reason, key{loc, sku, onset})
			case schema.ReasonOverstatedAfterCount:
				_, ok = ts.byKind[world.FaultOverstated][key{loc, sku, onset}]
				mark(f.Reason, key{loc, sku, onset})
			case schema.ReasonTiming:
				_, ok = ts.byKind[world.FaultLatePOS][key{loc, sku, onset}]
				mark(f.Reason, key{loc, sku, onset})
			case schema.ReasonStaleSnapshot:
				for d := onset; d >= onset-schema.Date(staleDays) && !ok; d-- {
					if _, ok = ts.byKind[world.FaultStale][key{loc, sku, d}]; ok {
						mark(f.Reason, key{loc, sku, d})
					}
				}
			case schema.ReasonUnexplainedLoss:
				_, isCount := ts.byKind[world.FaultCount][key{loc, sku, onset}]
				ok = isCount && ts.countLoss(key{loc, sku, onset}) > 0
				mark(f.Reason, key{loc, sku, onset})
			default:
				continue
			}
			s := sc[f.Reason]
			if ok {
				s.tp++
			} else {
				s.fp++
				misses = append(misses, miss{key{loc, sku, onset}, "false " + f.Reason + ": " + f.Evidence})
			}
			sc[f.Reason] = s
		}
	}
	recall := func(reason string, k key) {
		s := sc[reason]
		s.truth++
		if found[reason][k] {
			s.tp2()
		} else {
			s.fn++
			misses = append(misses, miss{k, "missed " + reason})
		}
		sc[reason] = s
	}
	for k := range ts.byKind[world.FaultReceiptError] {
		if k.d <= last-2 {
			recall(schema.ReasonReceiptMismatch, k)
		}
	}
	// An overstated record is seen on its second snapshot; the next count
	// settles it.
	for k := range ts.byKind[world.FaultOverstated] {
		if k.d <= last-2 && !ts.countWithin(k, 2) {
			recall(schema.ReasonOverstatedAfterCount, k)
		}
	}
	for k := range ts.byKind[world.FaultLatePOS] {
		if k.d <= last-1 {
			recall(schema.ReasonTiming, k)
		}
	}
	for k := range ts.byKind[world.FaultCount] {
		if ts.countLoss(k) > 0 {
			recall(schema.ReasonUnexplainedLoss, k)
		}
	}
	for k, e := range ts.byKind[world.FaultStale] {
		selling := 0
		for d := k.d; d < k.d+schema.Date(e.Units); d++ {
			if ts.sold[key{k.loc, k.sku, d}] > 0 {
				selling++
			}
		}
		if k.d+schema.Date(e.Units) <= last && selling >= 3 {
			recall(schema.ReasonStaleSnapshot, k)
		}
	}
	for k := range ts.byKind[world.FaultPhantom] {
		var sold int64
		for d := k.d - 28; d < k.d; d++ {
			sold += ts.sold[key{k.loc, k.sku, d}]
		}
		stayed := k.d+7 <= last
		for d := k.d; d <= k.d+7 && stayed; d++ {
			stayed = ts.phantomAt(key{k.loc, k.sku, d})
		}
		// Selling ≥ 1/day on ≥ 60% of days: a lumpy item that sells on
		// few days gives no evidence in a week (its zero runs are
		// common), and is scored apart (see TestGroundTruth's log).
		sellingDays := 0
		for d := k.d - 28; d < k.d; d++ {
			if ts.sold[key{k.loc, k.sku, d}] > 0 {
				sellingDays++
			}
		}
		if sold >= 28 && stayed && k.d-28 >= from && sellingDays < 17 {
			s := sc["phantom_stock (lumpy)"]
			s.truth++
			if found[schema.ReasonPhantomStock][k] {
				s.found++
			}
			sc["phantom_stock (lumpy)"] = s
		}
		if sold >= 28 && stayed && k.d-28 >= from && sellingDays >= 17 {
			recall(schema.ReasonPhantomStock, k)
		}
	}
	return sc, misses
}

// testFaults injects phantom stock more often than DefaultFaults, so that
// enough phantoms on items selling ≥ 1/day outlive the 7-day window.
func testFaults() *world.Faults {
	f := world.DefaultFaults()
	f.PhantomRate = 0.006
	return f
}

// TestGroundTruth runs a world with injected faults through the lake and
// scores every reason against the generator's truth: precision ≥ 0.9 and
// recall ≥ 0.8 each, phantom stock on items selling ≥ 1/day found within
// 7 days of onset.
func TestGroundTruth(t *testing.T) {
	cfg := world.Config{Seed: 7, Stores: 8, SKUs: 60, Days: 100, Faults: testFaults()}
	l, w, truth := generate(t, cfg)
	asOf := w.Date(w.Days())
	rep, err := Run(t.Context(), l, Options{AsOf: asOf, WindowDays: w.Days()})
	if err != nil {
		t.Fatal(err)
	}
	from := asOf - schema.Date(w.Days())
	sc, misses := evaluate(readTruth(t, w, truth), rep, from, asOf-1, cfg.Faults.StaleDays)
	reasons := []string{schema.ReasonTiming, schema.ReasonReceiptMismatch, schema.ReasonOverstatedAfterCount, schema.ReasonUnexplainedLoss,
		schema.ReasonStaleSnapshot, schema.ReasonPhantomStock}
	lumpy := sc["phantom_stock (lumpy)"]
	t.Logf("phantom stock on lumpy items (≥ 1/day, sold on < 60%% of days): injected %d recall %.3f", lumpy.truth, lumpy.recall())
	for _, r := range reasons {
		s := sc[r]
		t.Logf("%-18s flagged %4d precision %.3f | injected %4d recall %.3f", r, s.tp+s.fp, s.precision(), s.truth, s.recall())
		if s.truth < 10 {
			t.Errorf("%s: only %d injected faults to score: make the world bigger", r, s.truth)
		}
		if s.precision() < 0.9 || s.recall() < 0.8 {
			t.Errorf("%s: precision %.3f recall %.3f, want ≥ 0.9 and ≥ 0.8", r, s.precision(), s.recall())
		}
	}
	if show := os.Getenv("RECONCILE_SHOW"); show != "" {
		for _, m := range misses {
			if strings.Contains(m.what, show) {
				t.Logf("%s %s %s: %s", m.k.loc, m.k.sku, m.k.d, m.what)
			}
		}
	}
}

// TestQueueReruns runs the queue over consecutive days: a rerun of a day
// writes the same rows, a store-SKU never has two unresolved exceptions,
// a problem that stays keeps its id and first-seen date, an acknowledged
// one stays acknowledged, and what is no longer seen is resolved once.
func TestQueueReruns(t *testing.T) {
	cfg := world.Config{Seed: 11, Stores: 3, SKUs: 40, Days: 70, Faults: testFaults()}
	l, w, _ := generate(t, cfg)
	ctx := t.Context()
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	run := func(asOf schema.Date) *Report {
		t.Helper()
		rep, err := Run(ctx, l, Options{AsOf: asOf, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	end := w.Date(w.Days())
	var prev *Report
	acked := ""
	for asOf := end - 6; asOf <= end; asOf++ {
		rep := run(asOf)
		again := run(asOf)
		if !slices.EqualFunc(rep.Queue, again.Queue, rowsEqual) {
			t.Fatalf("%s: a rerun wrote another queue (%d rows, then %d)", asOf, len(rep.Queue), len(again.Queue))
		}
		stored := readStored(t, l, asOf)
		if !slices.EqualFunc(stored, again.Queue, rowsEqual) {
			t.Fatalf("%s: the lake holds %d rows, the run wrote %d", asOf, len(stored), len(again.Queue))
		}
		open := map[string]string{}
		for _, r := range rep.Queue {
			k := r.LocationID + "/" + r.SKU
			if r.State == schema.ExceptionResolved {
				continue
			}
			if id, dup := open[k]; dup {
				t.Fatalf("%s: %s has two unresolved exceptions %s and %s", asOf, k, id, r.ExceptionID)
			}
			open[k] = r.ExceptionID
		}
		if len(open) == 0 {
			t.Fatalf("%s: an empty queue in a world with faults", asOf)
		}
		if prev != nil {
			carried := 0
			for _, p := range prev.Queue {
				if p.State == schema.ExceptionResolved {
					continue
				}
				cur, ok := find(rep.Queue, p.ExceptionID)
				if !ok {
					t.Fatalf("%s: exception %s of the previous day neither carried nor resolved", asOf, p.ExceptionID)
				}
				if cur.State != schema.ExceptionResolved {
					carried++
					if cur.FirstSeen != p.FirstSeen || cur.AgeDays != int32(asOf-cur.FirstSeen) {
						t.Errorf("%s: %s first seen %s age %d, was first seen %s", asOf, p.ExceptionID, cur.FirstSeen, cur.AgeDays, p.FirstSeen)
					}
				}
				if p.ExceptionID == acked && cur.State == schema.ExceptionOpen {
					t.Errorf("%s: acknowledged %s came back open", asOf, acked)
				}
			}
			if carried == 0 {
				t.Errorf("%s: no exception carried over from the day before", asOf)
			}
		}
		if acked == "" {
			for _, r := range rep.Queue {
				if r.Reason == schema.ReasonPhantomStock || r.Reason == schema.ReasonUnexplainedLoss {
					acked = r.ExceptionID
					break
				}
			}
			if n, err := Acknowledge(ctx, l, asOf, []string{acked}); err != nil || n != 1 {
				t.Fatalf("acknowledge %s: %d, %v", acked, n, err)
			}
			rep.Queue = readStored(t, l, asOf)
			if r, _ := find(rep.Queue, acked); r.State != schema.ExceptionAcknowledged {
				t.Fatalf("acknowledged %s is %s", acked, r.State)
			}
		}
		prev = rep
	}
	if _, err := Acknowledge(ctx, l, end, []string{"EX-nosuchthing"}); err == nil || !strings.Contains(err.Error(), "EX-nosuchthing") {
		t.Errorf("acknowledging an unknown id: %v", err)
	}
}

func rowsEqual(a, b schema.StockExceptionRow) bool {
	pa, pb := a.Probability, b.Probability
	a.Probability, b.Probability = nil, nil
	a.RunAt, b.RunAt = a.RunAt.UTC(), b.RunAt.UTC()
	return a == b && (pa == nil) == (pb == nil) && (pa == nil || *pa == *pb)
}

func find(q []schema.StockExceptionRow, id string) (schema.StockExceptionRow, bool) {
	for _, r := range q {
		if r.ExceptionID == id {
			return r, true
		}
	}
	return schema.StockExceptionRow{}, false
}

// readStored reads the asOf partition of stock_exceptions back.
func readStored(t *testing.T, l *lake.Lake, asOf schema.Date) []schema.StockExceptionRow {
	t.Helper()
	dt, err := l.Table(t.Context(), schema.TableStockExceptions())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []schema.StockExceptionRow
	for _, f := range snap.FilesWhere(func(pv map[string]string) bool { return pv["dt"] == asOf.String() }) {
		rows, err := lake.ReadRows[schema.StockExceptionRow](t.Context(), l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			r.DT = asOf
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b schema.StockExceptionRow) int {
		return cmp.Or(cmp.Compare(a.LocationID, b.LocationID), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.ExceptionID, b.ExceptionID))
	})
	return out
}

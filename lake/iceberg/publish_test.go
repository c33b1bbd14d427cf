package iceberg

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
)

const testSchema = `{"type":"struct","fields":[` +
	`{"name":"sku","type":"string","nullable":false,"metadata":{}},` +
	`{"name":"qty","type":"long","nullable":false,"metadata":{}},` +
	`{"name":"price","type":"decimal(18,4)","nullable":true,"metadata":{}},` +
	`{"name":"at","type":"timestamp","nullable":false,"metadata":{}},` +
	`{"name":"dt","type":"date","nullable":false,"metadata":{}}]}`

func testAdd(t *testing.T, name, dt string, rows int64) delta.Add {
	t.Helper()
	st := &delta.Stats{
		NumRecords: rows,
		MinValues:  map[string]any{"sku": "A", "qty": json.Number("1"), "price": json.Number("-1.5000"), "at": "2026-03-01T09:15:30.123Z"},
		MaxValues:  map[string]any{"sku": "Z", "qty": json.Number("9"), "price": json.Number("12.3400"), "at": "2026-03-01T10:00:00.000Z"},
		NullCount:  map[string]any{"sku": json.Number("0"), "qty": json.Number("0"), "price": json.Number("2"), "at": json.Number("0")},
	}
	a, err := delta.NewAdd("dt="+dt+"/"+name+".parquet", map[string]string{"dt": dt}, 1000+rows, time.Now(), st)
	if err != nil {
		t.Fatal(err)
	}
	a.DataChange = true
	return a
}

// liveFiles returns the data files an Iceberg snapshot lists.
func liveFiles(t *testing.T, b objstore.Bucket, m *Metadata, s Snapshot) []string {
	t.Helper()
	ms, err := snapshotManifests(context.Background(), b, m, "sales/", s, map[string]*manifestState{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range ms {
		for _, e := range mf.entries {
			if e.Status != statusDeleted {
				if e.SequenceNumber == nil || e.FileSequenceNumber == nil || e.SnapshotID == nil {
					t.Errorf("entry %s without explicit sequence numbers / snapshot id", e.DataFile.FilePath)
				}
				out = append(out, strings.TrimPrefix(e.DataFile.FilePath, m.Location+"/"))
			}
		}
	}
	slices.Sort(out)
	return out
}

func deltaFiles(t *testing.T, tab *delta.Table, v int64) []string {
	t.Helper()
	s, err := tab.SnapshotAt(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range s.Files() {
		out = append(out, f.RelPath)
	}
	slices.Sort(out)
	return out
}

// TestSnapshotsFollowDelta: after appends, a compaction and a delete, with
// a publisher that lost its memory (a new process) in between and one that
// missed commits, every Iceberg snapshot lists exactly the Delta version's
// files, and the metadata passes the spec's checks.
func TestSnapshotsFollowDelta(t *testing.T) {
	ctx := context.Background()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	newPub := func() *Publisher {
		p, err := NewPublisher(Options{Root: "file:///lake", MaxManifests: 3, Always: true, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil)),
			SortColumns: func(string) []string { return []string{"sku", "at"} }})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub := newPub()
	tab, err := delta.NewTable(b, "sales/", delta.Options{AfterCommit: pub.AfterCommit})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tab.CreateTable(ctx, delta.NewMetadata(testSchema, []string{"dt"}, nil, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	commit := func(tb *delta.Table, txn delta.Txn) {
		t.Helper()
		res, err := tb.Commit(ctx, snap, txn)
		if err != nil {
			t.Fatal(err)
		}
		snap = res.Snapshot
	}
	// Version 0 had no publisher run: the first commit bootstraps.
	var all []delta.Add
	for i := range 6 {
		a := testAdd(t, fmt.Sprintf("f%d", i), fmt.Sprintf("2026-03-0%d", 1+i%2), int64(10+i))
		all = append(all, a)
		commit(tab, delta.Txn{Isolation: delta.Append, Adds: []delta.Add{a}})
	}
	// A process without the hook commits (the publisher misses it).
	bare, _ := delta.NewTable(b, "sales/", delta.Options{})
	commit(bare, delta.Txn{Isolation: delta.Append, Adds: []delta.Add{testAdd(t, "g", "2026-03-02", 5)}})
	// A new process compacts dt=2026-03-01 (f0, f2, f4 into c).
	pub = newPub()
	tab2, _ := delta.NewTable(b, "sales/", delta.Options{AfterCommit: pub.AfterCommit})
	c := testAdd(t, "c", "2026-03-01", 10+12+14)
	c.DataChange = false
	rm := []delta.Remove{}
	for _, i := range []int{0, 2, 4} {
		rm = append(rm, delta.RemoveOf(all[i], time.Now(), false))
	}
	commit(tab2, delta.Txn{Isolation: delta.Rewrite, Adds: []delta.Add{c}, Removes: rm, Operation: "OPTIMIZE"})
	commit(tab2, delta.Txn{Isolation: delta.Rewrite, Removes: []delta.Remove{delta.RemoveOf(all[1], time.Now(), true)}, Operation: "DELETE"})

	if got := testutil.ToFloat64(pub.metrics.version.WithLabelValues("sales")); got != float64(snap.Version()) {
		t.Errorf("published version metric %v, want %d", got, snap.Version())
	}
	if got := testutil.ToFloat64(pub.metrics.published.WithLabelValues("sales", "error")); got != 0 {
		t.Errorf("%v failed publications", got)
	}
	latest, found, err := LatestVersion(ctx, b, "sales/")
	if err != nil || !found || latest != snap.Version() {
		t.Fatalf("latest iceberg version %d (found %v, %v), want delta version %d", latest, found, err, snap.Version())
	}
	m, err := ReadMetadata(ctx, b, "sales/", latest)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.TableUUID != snap.Metadata().ID {
		t.Errorf("table-uuid %s, want the delta id %s", m.TableUUID, snap.Metadata().ID)
	}
	wantOps := map[int64]string{1: "append", 7: "append", 8: "replace", 9: "delete"}
	for _, s := range m.Snapshots {
		dv, err := s.DeltaVersion()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := liveFiles(t, b, m, s), deltaFiles(t, tab, dv); !slices.Equal(got, want) {
			t.Errorf("snapshot of delta version %d lists %v, delta has %v", dv, got, want)
		}
		if op, ok := wantOps[dv]; ok && s.Summary["operation"] != op {
			t.Errorf("delta version %d: operation %s, want %s", dv, s.Summary["operation"], op)
		}
	}
	if len(m.Snapshots) != int(snap.Version()) {
		t.Errorf("%d snapshots, want one per delta version 1..%d", len(m.Snapshots), snap.Version())
	}
	// Every metadata version parses and validates.
	for v := int64(1); v <= latest; v++ { // the first commit bootstrapped at version 1
		mv, err := ReadMetadata(ctx, b, "sales/", v)
		if err != nil {
			t.Fatal(err)
		}
		if err := mv.Validate(); err != nil {
			t.Errorf("v%d: %v", v, err)
		}
	}
	// Incremental: the carried manifests were merged, never more than
	// MaxManifests per snapshot.
	cur, _ := m.current()
	ms, err := snapshotManifests(ctx, b, m, "sales/", cur, map[string]*manifestState{})
	if err != nil || len(ms) > 3 {
		t.Errorf("current snapshot lists %d manifests (MaxManifests 3): %v", len(ms), err)
	}
	keep, err := ReferencedFiles(ctx, b, "sales/")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 2} {
		if rel := "dt=" + all[i].PartitionValues["dt"] + "/f" + fmt.Sprint(i) + ".parquet"; !keep[rel] {
			t.Errorf("%s (listed by a retained snapshot) not referenced", rel)
		}
	}
}

// tWriter turns log lines into test errors: a publication must not fail.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Error(strings.TrimSpace(string(p)))
	return len(p), nil
}

package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shelflake/shelflake/lake/objstore"
)

func TestCreateTableWritesVersionZero(t *testing.T) {
	b := newLocalBucket(t)
	tbl := newTable(t, b, Options{})
	s := createTable(t, tbl)
	if s.Version() != 0 || s.NumFiles() != 0 {
		t.Fatalf("version %d with %d files", s.Version(), s.NumFiles())
	}
	raw, err := tbl.readAll(t.Context(), "sales/_delta_log/00000000000000000000.json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"commitInfo":`) ||
		lines[1] != `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}` || !strings.HasPrefix(lines[2], `{"metaData":`) {
		t.Errorf("version 0:\n%s", raw)
	}
	if !strings.Contains(lines[0], `"engineInfo":"shelflake"`) || !strings.Contains(lines[0], `"operation":"CREATE TABLE"`) {
		t.Errorf("commitInfo %s", lines[0])
	}
	loaded, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(loaded.st, s.st); d != "" {
		t.Errorf("loaded snapshot differs from the created one: %s", d)
	}
	if got := loaded.PartitionColumns(); !slices.Equal(got, []string{"dt"}) {
		t.Errorf("partition columns %v", got)
	}
	if _, err := tbl.CreateTable(t.Context(), NewMetadata(testSchema, nil, nil, time.Now())); !errors.Is(err, ErrTableExists) {
		t.Errorf("second create: got %v, want ErrTableExists", err)
	}
	other := newTable(t, b, Options{})
	other.prefix, other.logPrefix = "empty/", "empty/_delta_log/"
	if _, err := other.Snapshot(t.Context()); !errors.Is(err, ErrTableNotFound) {
		t.Errorf("snapshot of a missing table: got %v, want ErrTableNotFound", err)
	}
}

func TestCommitAppendsAndPrunesByPartition(t *testing.T) {
	tbl := newTable(t, newLocalBucket(t), Options{})
	s := createTable(t, tbl)
	days := []string{"2024-05-01", "2024-05-02", "2024-05-03"}
	for i, d := range days {
		res := mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, fmt.Sprintf("f%d", i), d, int64(10*(i+1)))}, Operation: "STREAMING UPDATE"})
		if res.Version != int64(i+1) || res.Attempts != 1 {
			t.Fatalf("commit %d: version %d after %d attempts", i, res.Version, res.Attempts)
		}
		s = res.Snapshot
	}
	loaded, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(loaded.st, s.st); d != "" {
		t.Fatalf("loaded snapshot differs from the commit result: %s", d)
	}
	if n, ok := loaded.NumRecords(); !ok || n != 60 {
		t.Errorf("NumRecords = %d, %v", n, ok)
	}
	if got := relPaths(loaded.FilesInRange("dt", "2024-05-02", "2024-05-03")); !slices.Equal(got, []string{"dt=2024-05-02/f1.parquet", "dt=2024-05-03/f2.parquet"}) {
		t.Errorf("FilesInRange = %v", got)
	}
	if got := relPaths(loaded.FilesInRange("dt", "", "2024-05-01")); !slices.Equal(got, []string{"dt=2024-05-01/f0.parquet"}) {
		t.Errorf("FilesInRange open start = %v", got)
	}
	f := loaded.Files()[0]
	if f.Key != "sales/dt=2024-05-01/f0.parquet" {
		t.Errorf("key %q", f.Key)
	}
	ci := loaded.CommitInfo()
	if ci.Operation() != "STREAMING UPDATE" || ci.String("engineInfo") != EngineInfo || ci.TxnID() == "" {
		t.Errorf("commitInfo %v", ci)
	}
	if rv, _ := ci.Int64("readVersion"); rv != 2 {
		t.Errorf("readVersion %d", rv)
	}
	if m, _ := ci["operationMetrics"].(map[string]any); m["numOutputRows"] != "30" || m["numFiles"] != "1" {
		t.Errorf("operationMetrics %v", ci["operationMetrics"])
	}
	if same, err := tbl.Update(t.Context(), loaded); err != nil || same != loaded {
		t.Errorf("Update with nothing new: %v, %v", same, err)
	}
}

func TestCommitRetriesPastConcurrentWinners(t *testing.T) {
	b := newLocalBucket(t)
	tbl := newTable(t, b, Options{})
	base := createTable(t, tbl)
	// Three writers plan on version 0; they commit one after the other.
	r1 := mustCommit(t, tbl, base, Txn{Adds: []Add{testAdd(t, "a", "2024-01-01", 1)}})
	r2 := mustCommit(t, tbl, base, Txn{Adds: []Add{testAdd(t, "b", "2024-01-01", 1)}})
	r3 := mustCommit(t, tbl, base, Txn{Adds: []Add{testAdd(t, "c", "2024-01-02", 1)}})
	if r1.Version != 1 || r2.Version != 2 || r3.Version != 3 {
		t.Fatalf("versions %d %d %d", r1.Version, r2.Version, r3.Version)
	}
	if r2.Attempts != 2 || r3.Attempts != 2 {
		t.Errorf("attempts %d %d, want 2 (one lost race, then the free version)", r2.Attempts, r3.Attempts)
	}
	loaded, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(loaded.st, r3.Snapshot.st); d != "" {
		t.Errorf("result snapshot of a retried commit differs from the log: %s", d)
	}
	if !r3.Snapshot.Timestamp().After(r2.Snapshot.Timestamp()) || !r2.Snapshot.Timestamp().After(r1.Snapshot.Timestamp()) {
		t.Errorf("timestamps not increasing: %v %v %v", r1.Snapshot.Timestamp(), r2.Snapshot.Timestamp(), r3.Snapshot.Timestamp())
	}
}

func TestRewriteConflictsWithAConcurrentRemoval(t *testing.T) {
	tbl := newTable(t, newLocalBucket(t), Options{})
	s := createTable(t, tbl)
	a, b := testAdd(t, "a", "2024-01-01", 5), testAdd(t, "b", "2024-01-01", 5)
	s = mustCommit(t, tbl, s, Txn{Adds: []Add{a, b}}).Snapshot
	now := time.Now()
	// Compactor 1 merges a+b; compactor 2, planned on the same version,
	// merges b alone; an ingest append lands in between.
	c1 := Txn{Isolation: Rewrite, Removes: []Remove{RemoveOf(a, now, false), RemoveOf(b, now, false)}, Adds: []Add{testAdd(t, "ab", "2024-01-01", 10)}, Operation: "OPTIMIZE"}
	c2 := Txn{Isolation: Rewrite, Removes: []Remove{RemoveOf(b, now, false)}, Adds: []Add{testAdd(t, "b2", "2024-01-01", 5)}, Operation: "OPTIMIZE"}
	mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "new", "2024-01-01", 1)}})
	r1 := mustCommit(t, tbl, s, c1)
	if r1.Version != 3 {
		t.Errorf("compaction landed at %d, want 3 (after the append)", r1.Version)
	}
	_, err := tbl.Commit(t.Context(), s, c2)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second compaction: got %v, want ErrConflict", err)
	}
	latest, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := relPaths(latest.Files()); !slices.Equal(got, []string{"dt=2024-01-01/ab.parquet", "dt=2024-01-01/new.parquet"}) {
		t.Errorf("files %v", got)
	}
	// Re-planned on the latest snapshot, a rewrite of b is stale at once.
	if _, err := tbl.Commit(t.Context(), latest, c2); !errors.Is(err, ErrConflict) {
		t.Errorf("stale plan: got %v, want ErrConflict", err)
	}
}

func TestMetadataChangeConflictsWithConcurrentAppends(t *testing.T) {
	tbl := newTable(t, newLocalBucket(t), Options{})
	s := createTable(t, tbl)
	md := s.Metadata()
	md.Configuration = map[string]string{"shelflake.note": "x"}
	mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "a", "2024-01-01", 1)}})
	if _, err := tbl.Commit(t.Context(), s, Txn{Metadata: &md}); !errors.Is(err, ErrConflict) {
		t.Fatalf("metadata change after a concurrent append: got %v", err)
	}
	s, _ = tbl.Snapshot(t.Context())
	r := mustCommit(t, tbl, s, Txn{Metadata: &md})
	if _, err := tbl.Commit(t.Context(), s, Txn{Adds: []Add{testAdd(t, "b", "2024-01-01", 1)}}); !errors.Is(err, ErrConflict) {
		t.Errorf("append planned before a metadata change: got %v", err)
	}
	if r.Snapshot.Metadata().Configuration["shelflake.note"] != "x" {
		t.Errorf("metadata %v", r.Snapshot.Metadata())
	}
}

func TestTwoWritersClaimingTheSameOffsetsExactlyOneWins(t *testing.T) {
	for round := range 5 {
		tbl := newTable(t, newLocalBucket(t), Options{})
		s := createTable(t, tbl)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w := range 2 {
			wg.Go(func() {
				_, errs[w] = tbl.Commit(context.Background(), s, Txn{
					Adds:   []Add{testAdd(t, fmt.Sprintf("w%d", w), "2024-01-01", 100)},
					Fences: []FenceRange{{AppID: "g/pos/0", From: 0, To: 100, First: true}},
				})
			})
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			var fe *FenceError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &fe) && errors.Is(err, ErrFenced):
				if !fe.Present || fe.Current != 100 {
					t.Errorf("round %d: fence error %+v", round, fe)
				}
			default:
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1 (%v)", round, wins, errs)
		}
		latest, err := tbl.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := latest.TxnVersion("g/pos/0"); latest.NumFiles() != 1 || !ok || v != 100 {
			t.Errorf("round %d: %d files, txn %d %v", round, latest.NumFiles(), v, ok)
		}
	}
}

func TestZombieWriterWithStaleRangesIsRefused(t *testing.T) {
	tbl := newTable(t, newLocalBucket(t), Options{})
	s := createTable(t, tbl)
	const app = "ingest/erp.orders/3"
	r := mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "o1", "2024-01-01", 10)}, Fences: []FenceRange{{AppID: app, From: 500, To: 510, First: true}}})
	zombieBase := r.Snapshot // the zombie stops here (e.g. a GC pause, then its partition is revoked)
	// The new owner continues from the table's txn version.
	next, _ := r.Snapshot.TxnVersion(app)
	r = mustCommit(t, tbl, r.Snapshot, Txn{Adds: []Add{testAdd(t, "o2", "2024-01-01", 10)}, Fences: []FenceRange{{AppID: app, From: next, To: 520}}})
	r = mustCommit(t, tbl, r.Snapshot, Txn{Adds: []Add{testAdd(t, "o3", "2024-01-01", 5)}, Fences: []FenceRange{{AppID: app, From: 520, To: 525}}})

	// The zombie wakes up and commits the batch it had read: [510, 520).
	_, err := tbl.Commit(t.Context(), zombieBase, Txn{Adds: []Add{testAdd(t, "z", "2024-01-01", 10)}, Fences: []FenceRange{{AppID: app, From: 510, To: 520}}})
	var fe *FenceError
	if !errors.As(err, &fe) || fe.Current != 520 || fe.Version != 2 {
		t.Fatalf("zombie: got %v, want a FenceError naming version 2 with txn 520", err)
	}
	// Even with a fresh snapshot, a replay of an old range is refused.
	latest, _ := tbl.Snapshot(t.Context())
	if _, err := tbl.Commit(t.Context(), latest, Txn{Adds: []Add{testAdd(t, "z2", "2024-01-01", 10)}, Fences: []FenceRange{{AppID: app, From: 510, To: 520}}}); !errors.Is(err, ErrFenced) {
		t.Errorf("replay: got %v, want ErrFenced", err)
	}
	// Other partitions are unaffected.
	mustCommit(t, tbl, zombieBase, Txn{Adds: []Add{testAdd(t, "p4", "2024-01-01", 1)}, Fences: []FenceRange{{AppID: "ingest/erp.orders/4", From: 0, To: 1, First: true}}})
	final, _ := tbl.Snapshot(t.Context())
	if v, _ := final.TxnVersion(app); v != 525 || final.NumFiles() != 4 {
		t.Errorf("txn %d, %d files", v, final.NumFiles())
	}
	if txns := final.Txns(); len(txns) != 2 {
		t.Errorf("txns %v", txns)
	}
}

func TestLostPutResponseIsRecognisedAsOurCommit(t *testing.T) {
	cases := []struct {
		name    string
		failErr error
	}{
		{"the store retried an applied put and reports the key exists", objstore.ErrExists},
		{"the put was applied but its response was a 500", errInjected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fb := &faultyBucket{Bucket: newLocalBucket(t), failErr: c.failErr}
			tbl := newTable(t, fb, Options{})
			s := createTable(t, tbl)
			s = mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "a", "2024-01-01", 1)}}).Snapshot
			fb.applyThenFail.Store(1)
			res, err := tbl.Commit(t.Context(), s, Txn{Adds: []Add{testAdd(t, "b", "2024-01-01", 1)}, Fences: []FenceRange{{AppID: "g/t/0", From: 0, To: 1, First: true}}})
			if err != nil {
				t.Fatalf("commit whose put response was lost: %v", err)
			}
			if res.Version != 2 {
				t.Errorf("version %d, want 2", res.Version)
			}
			latest, err := tbl.Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if latest.Version() != 2 || latest.NumFiles() != 2 || latest.CommitInfo().TxnID() != res.TxnID {
				t.Errorf("latest version %d with %d files, txnId %q (ours %q)", latest.Version(), latest.NumFiles(), latest.CommitInfo().TxnID(), res.TxnID)
			}
			if d := equalStates(latest.st, res.Snapshot.st); d != "" {
				t.Errorf("result snapshot differs: %s", d)
			}
		})
	}
	t.Run("a put that failed without being applied returns the error and writes nothing", func(t *testing.T) {
		fb := &faultyBucket{Bucket: newLocalBucket(t)}
		tbl := newTable(t, fb, Options{})
		s := createTable(t, tbl)
		fb.failBefore.Store(1)
		_, err := tbl.Commit(t.Context(), s, Txn{Adds: []Add{testAdd(t, "a", "2024-01-01", 1)}})
		if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "commit version 1") {
			t.Fatalf("got %v, want the injected error naming version 1", err)
		}
		latest, _ := tbl.Snapshot(t.Context())
		if latest.Version() != 0 {
			t.Errorf("version %d after a failed commit", latest.Version())
		}
		// The caller retries with the same plan: it succeeds once.
		if r := mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "a", "2024-01-01", 1)}}); r.Version != 1 {
			t.Errorf("retry version %d", r.Version)
		}
	})
}

func TestCommitGivesUpAfterMaxAttempts(t *testing.T) {
	b := newLocalBucket(t)
	tbl := newTable(t, b, Options{MaxCommitAttempts: 1})
	s := createTable(t, tbl)
	mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "a", "2024-01-01", 1)}})
	_, err := tbl.Commit(t.Context(), s, Txn{Adds: []Add{testAdd(t, "b", "2024-01-01", 1)}})
	if !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("got %v, want ErrTooManyAttempts", err)
	}
}

// commitMixed makes n commits with appends, fences, removes and tags from s.
func commitMixed(t testing.TB, tbl *Table, s *Snapshot, n int) *Snapshot {
	t.Helper()
	for i := range n {
		day := fmt.Sprintf("2024-01-%02d", 1+i%5)
		a := testAdd(t, fmt.Sprintf("f%03d", i), day, int64(i+1))
		a.Tags = map[string]string{"shelflake.batch": fmt.Sprint(i)}
		txn := Txn{Adds: []Add{a}}
		app := fmt.Sprintf("g/t/%d", i%3)
		if v, ok := s.TxnVersion(app); ok {
			txn.Fences = []FenceRange{{AppID: app, From: v, To: v + 10}}
		} else {
			txn.Fences = []FenceRange{{AppID: app, From: 0, To: 10, First: true}}
		}
		if i%4 == 3 { // every fourth commit compacts the oldest live file away
			old := s.Files()[0]
			txn = Txn{Isolation: Rewrite, Adds: txn.Adds, Fences: txn.Fences, Removes: []Remove{RemoveOf(old.Add, time.Now(), true)}}
		}
		s = mustCommit(t, tbl, s, txn).Snapshot
	}
	return s
}

func TestCheckpointRoundTrip(t *testing.T) {
	b := newLocalBucket(t)
	tbl := newTable(t, b, Options{CheckpointInterval: 10})
	s := commitMixed(t, tbl, createTable(t, tbl), 25)
	for _, v := range []int64{10, 20} {
		if _, err := b.Stat(t.Context(), fmt.Sprintf("sales/_delta_log/%020d.checkpoint.parquet", v)); err != nil {
			t.Fatalf("checkpoint %d: %v", v, err)
		}
	}
	raw, err := tbl.readAll(t.Context(), tbl.lastCheckpointKey())
	if err != nil {
		t.Fatal(err)
	}
	if ref, err := parseLastCheckpoint(raw); err != nil || ref.version != 20 {
		t.Fatalf("_last_checkpoint %s: %+v %v", raw, ref, err)
	}
	jsonOnly := replayJSON(t, tbl, 25)
	loaded, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(loaded.st, jsonOnly); d != "" {
		t.Errorf("snapshot through checkpoint 20 differs from JSON replay: %s", d)
	}
	if d := equalStates(loaded.st, s.st); d != "" {
		t.Errorf("snapshot differs from the last commit result: %s", d)
	}
	// The checkpoint alone equals the JSON replay at its version.
	cp, err := tbl.readCheckpoint(t.Context(), checkpointRef{version: 20})
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(cp, replayJSON(t, tbl, 20)); d != "" {
		t.Errorf("checkpoint 20 differs from JSON replay: %s", d)
	}
	// Time travel to a version before the last checkpoint uses checkpoint 10.
	s15, err := tbl.SnapshotAt(t.Context(), 15)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(s15.st, replayJSON(t, tbl, 15)); d != "" {
		t.Errorf("version 15: %s", d)
	}
	// A corrupt _last_checkpoint changes nothing but the path taken.
	if err := b.Put(t.Context(), tbl.lastCheckpointKey(), strings.NewReader("{garbage")); err != nil {
		t.Fatal(err)
	}
	again, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(again.st, jsonOnly); d != "" {
		t.Errorf("with a corrupt _last_checkpoint: %s", d)
	}
	// Commits continue and rewrite _last_checkpoint at the next checkpoint.
	commitMixed(t, tbl, again, 5)
	raw, _ = tbl.readAll(t.Context(), tbl.lastCheckpointKey())
	if ref, err := parseLastCheckpoint(raw); err != nil || ref.version != 30 {
		t.Errorf("_last_checkpoint after version 30: %s", raw)
	}
}

func TestCheckpointOnlyLogReconstructsTheTable(t *testing.T) {
	// Metadata cleanup may delete commits older than a checkpoint.
	b := newLocalBucket(t)
	tbl := newTable(t, b, Options{CheckpointInterval: 10})
	commitMixed(t, tbl, createTable(t, tbl), 12)
	want := replayJSON(t, tbl, 12)
	for v := range int64(10) {
		if err := b.Delete(t.Context(), tbl.commitKey(v)); err != nil {
			t.Fatal(err)
		}
	}
	for _, hint := range []bool{true, false} {
		if !hint {
			if err := b.Delete(t.Context(), tbl.lastCheckpointKey()); err != nil {
				t.Fatal(err)
			}
		}
		s, err := tbl.Snapshot(t.Context())
		if err != nil {
			t.Fatalf("hint %v: %v", hint, err)
		}
		if d := equalStates(s.st, want); d != "" {
			t.Errorf("hint %v: %s", hint, d)
		}
	}
	if _, err := tbl.SnapshotAt(t.Context(), 5); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("version 5 after cleanup: got %v, want ErrVersionNotFound", err)
	}
	if _, err := tbl.CreateTable(t.Context(), NewMetadata(testSchema, nil, nil, time.Now())); !errors.Is(err, ErrTableExists) {
		t.Errorf("create over a cleaned-up log: got %v, want ErrTableExists", err)
	}
}

// TestCheckpointFollowsSparkSchema checks every column of our checkpoint
// against the checkpoint Spark wrote for the golden "checkpoint" table: same
// path, same physical type, same logical type. Spark reads checkpoints by
// column name, so a matching subset is what it needs.
func TestCheckpointFollowsSparkSchema(t *testing.T) {
	spark := goldenTable(t, "checkpoint")
	raw, err := spark.readAll(t.Context(), "checkpoint/_delta_log/00000000000000000010.checkpoint.parquet")
	if err != nil {
		t.Fatal(err)
	}
	sparkFile, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	tbl := newTable(t, newLocalBucket(t), Options{})
	s := commitMixed(t, tbl, createTable(t, tbl), 4)
	ours, _, err := EncodeCheckpoint(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	ourFile, err := parquet.OpenFile(bytes.NewReader(ours), int64(len(ours)))
	if err != nil {
		t.Fatal(err)
	}
	sparkCols := map[string]parquet.Node{}
	for _, path := range sparkFile.Schema().Columns() {
		leaf, _ := sparkFile.Schema().Lookup(path...)
		sparkCols[strings.Join(path, ".")] = leaf.Node
	}
	n := 0
	for _, path := range ourFile.Schema().Columns() {
		name := strings.Join(path, ".")
		leaf, _ := ourFile.Schema().Lookup(path...)
		sn, ok := sparkCols[name]
		if !ok {
			t.Errorf("column %s is not in Spark's checkpoint schema", name)
			continue
		}
		if leaf.Node.Type().Kind() != sn.Type().Kind() || fmt.Sprint(leaf.Node.Type().LogicalType()) != fmt.Sprint(sn.Type().LogicalType()) {
			t.Errorf("column %s: ours %v, Spark's %v", name, leaf.Node.Type(), sn.Type())
		}
		n++
	}
	if n < 30 {
		t.Errorf("only %d columns compared", n)
	}
	var tops []string
	for _, f := range ourFile.Schema().Fields() {
		if f.Leaf() || !f.Optional() {
			t.Errorf("top-level %s: not an optional group", f.Name())
		}
		tops = append(tops, f.Name())
	}
	if !slices.Equal(tops, []string{"txn", "add", "remove", "metaData", "protocol"}) {
		t.Errorf("top-level columns %v", tops)
	}
}

func TestUpdateAppliesNewCommits(t *testing.T) {
	b := newLocalBucket(t)
	tbl := newTable(t, b, Options{})
	s := createTable(t, tbl)
	reader, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	commitMixed(t, tbl, s, 6)
	up, err := tbl.Update(t.Context(), reader)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalStates(up.st, replayJSON(t, tbl, 6)); d != "" {
		t.Errorf("updated snapshot: %s", d)
	}
	if reader.Version() != 0 || reader.NumFiles() != 0 {
		t.Errorf("the old snapshot changed: version %d, %d files", reader.Version(), reader.NumFiles())
	}
}

func TestTimeTravel(t *testing.T) {
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	tbl := newTable(t, newLocalBucket(t), Options{Now: clock.Now, CheckpointInterval: 3})
	s := createTable(t, tbl) // version 0 at t0
	for i := 1; i <= 7; i++ {
		clock.Set(t0.Add(time.Duration(i) * time.Minute))
		s = mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, fmt.Sprintf("f%d", i), "2024-03-01", 1)}}).Snapshot
	}
	for v := int64(0); v <= 7; v++ {
		sv, err := tbl.SnapshotAt(t.Context(), v)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if sv.Version() != v || int64(sv.NumFiles()) != v {
			t.Errorf("version %d: got version %d with %d files", v, sv.Version(), sv.NumFiles())
		}
		if want := t0.Add(time.Duration(v) * time.Minute); !sv.Timestamp().Equal(want) {
			t.Errorf("version %d: timestamp %v, want %v", v, sv.Timestamp(), want)
		}
	}
	cases := []struct {
		name string
		at   time.Time
		want int64 // -1: ErrVersionNotFound
	}{
		{"a time between two commits gives the earlier one", t0.Add(150 * time.Second), 2},
		{"the exact commit time gives that commit", t0.Add(4 * time.Minute), 4},
		{"a time after the last commit gives the latest", t0.Add(time.Hour), 7},
		{"the creation time gives version 0", t0, 0},
		{"a time before the table existed is not found", t0.Add(-time.Second), -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sv, err := tbl.SnapshotAsOf(t.Context(), c.at)
			if c.want < 0 {
				if !errors.Is(err, ErrVersionNotFound) {
					t.Errorf("got %v, want ErrVersionNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sv.Version() != c.want {
				t.Errorf("version %d, want %d", sv.Version(), c.want)
			}
		})
	}
	if _, err := tbl.SnapshotAt(t.Context(), 8); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("version 8: got %v", err)
	}
	vr, err := tbl.Versions(t.Context())
	if want := (VersionRange{Oldest: 0, Latest: 7, OldestTime: t0, LatestTime: t0.Add(7 * time.Minute)}); err != nil || vr != want {
		t.Errorf("Versions = %+v, %v; want %+v", vr, err, want)
	}
	if got, want := vr.String(), "0..7, 2024-03-01T12:00:00Z..2024-03-01T12:07:00Z"; got != want {
		t.Errorf("VersionRange.String() = %q, want %q", got, want)
	}
	if _, err := newTable(t, newLocalBucket(t), Options{}).Versions(t.Context()); !errors.Is(err, ErrTableNotFound) {
		t.Errorf("Versions of a missing table: %v", err)
	}
	// A clock that goes backwards still yields increasing commit timestamps.
	clock.Set(t0)
	r := mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "late", "2024-03-01", 1)}})
	if want := t0.Add(7*time.Minute + time.Millisecond); !r.Snapshot.Timestamp().Equal(want) {
		t.Errorf("timestamp after a clock jump back: %v, want %v", r.Snapshot.Timestamp(), want)
	}
}

func TestMetricsCountCommitOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	tbl := newTable(t, newLocalBucket(t), Options{Metrics: m, CheckpointInterval: 2})
	s := createTable(t, tbl)
	app := KafkaAppID("shelflake", "pos.sales", 0)
	if app != "shelflake/pos.sales/0" {
		t.Errorf("KafkaAppID = %q", app)
	}
	s = mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "a", "2024-01-01", 1)}, Fences: []FenceRange{{AppID: app, From: 0, To: 1, First: true}}}).Snapshot
	mustCommit(t, tbl, s, Txn{Adds: []Add{testAdd(t, "b", "2024-01-01", 1)}, Fences: []FenceRange{{AppID: app, From: 1, To: 2}}})
	if _, err := tbl.Commit(t.Context(), s, Txn{Adds: []Add{testAdd(t, "c", "2024-01-01", 1)}, Fences: []FenceRange{{AppID: app, From: 1, To: 2}}}); !errors.Is(err, ErrFenced) {
		t.Fatalf("got %v", err)
	}
	for _, c := range []struct {
		result string
		want   float64
	}{{"ok", 2}, {"fenced", 1}, {"conflict", 0}} {
		if got := counterValue(t, m.commits.WithLabelValues("sales", c.result)); got != c.want {
			t.Errorf("commits{result=%s} = %v, want %v", c.result, got, c.want)
		}
	}
	if got := counterValue(t, m.attempts.WithLabelValues("sales")); got != 3 {
		t.Errorf("attempts = %v, want 3 (1 + 1 + 1 lost race)", got)
	}
	if got := counterValue(t, m.checkpoints.WithLabelValues("sales", "ok")); got != 1 {
		t.Errorf("checkpoints = %v, want 1 (version 2)", got)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

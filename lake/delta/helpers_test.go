package delta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake/objstore"
)

const testSchema = `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"dt","type":"date","nullable":true,"metadata":{}}]}`

// fakeClock is an injected clock for commit timestamps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newLocalBucket(t testing.TB) *objstore.Local {
	t.Helper()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTable(t testing.TB, b objstore.Bucket, opts Options) *Table {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	tbl, err := NewTable(b, "sales", opts)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// createTable creates the test table (partitioned by dt).
func createTable(t testing.TB, tbl *Table) *Snapshot {
	t.Helper()
	md := NewMetadata(testSchema, []string{"dt"}, nil, time.Now())
	s, err := tbl.CreateTable(context.Background(), md)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testAdd builds an add for a (not uploaded) data file.
func testAdd(t testing.TB, name, dt string, rows int64) Add {
	t.Helper()
	a, err := NewAdd("dt="+dt+"/"+name+".parquet", map[string]string{"dt": dt}, 100+rows, time.Now(), &Stats{
		NumRecords: rows,
		MinValues:  map[string]any{"id": 0},
		MaxValues:  map[string]any{"id": rows - 1},
		NullCount:  map[string]any{"id": 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// uploadAdd uploads a small object for a and returns a.
func uploadAdd(t testing.TB, tbl *Table, a Add) Add {
	t.Helper()
	rel, err := a.DecodedPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := tbl.Bucket().Put(context.Background(), tbl.DataKey(rel), stringsReader(int(a.Size))); err != nil {
		t.Fatal(err)
	}
	return a
}

func mustCommit(t testing.TB, tbl *Table, base *Snapshot, txn Txn) CommitResult {
	t.Helper()
	res, err := tbl.Commit(context.Background(), base, txn)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// faultyBucket wraps a bucket and injects faults into PutIfAbsent of commit
// files: it can apply a write and then report a failure, as an S3 request
// whose response was lost does.
type faultyBucket struct {
	objstore.Bucket
	// applyThenFail: the next N commit puts are applied, then fail with this
	// error (ErrExists simulates the SDK's retry of an applied PUT, any other
	// error a lost response).
	applyThenFail atomic.Int32
	failErr       error
	// failBefore: the next N commit puts fail without being applied.
	failBefore atomic.Int32
	puts       atomic.Int32
}

var errInjected = errors.New("injected: 500 InternalError")

func (f *faultyBucket) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if !strings.HasSuffix(key, ".json") || !strings.Contains(key, "_delta_log/") {
		return f.Bucket.PutIfAbsent(ctx, key, data)
	}
	f.puts.Add(1)
	if f.failBefore.Load() > 0 {
		f.failBefore.Add(-1)
		return fmt.Errorf("put %s: %w", key, errInjected)
	}
	if f.applyThenFail.Load() > 0 {
		f.applyThenFail.Add(-1)
		if err := f.Bucket.PutIfAbsent(ctx, key, data); err != nil {
			return err
		}
		return fmt.Errorf("put %s: %w", key, f.failErr)
	}
	return f.Bucket.PutIfAbsent(ctx, key, data)
}

// replayJSON rebuilds the state at version v from JSON commits only.
func replayJSON(t testing.TB, tbl *Table, v int64) *state {
	t.Helper()
	commits, err := tbl.readCommits(context.Background(), 0, v)
	if err != nil {
		t.Fatal(err)
	}
	st := newState()
	for i, acts := range commits {
		if err := st.apply(acts); err != nil {
			t.Fatal(err)
		}
		st.version = int64(i)
	}
	return st
}

// equalStates compares two states: version, protocol, metadata, live files
// (every field), tombstone paths and txns. It returns a description of the
// first difference.
func equalStates(a, b *state) string {
	if a.version != b.version {
		return fmt.Sprintf("version %d vs %d", a.version, b.version)
	}
	if fmt.Sprint(*a.protocol) != fmt.Sprint(*b.protocol) {
		return fmt.Sprintf("protocol %+v vs %+v", *a.protocol, *b.protocol)
	}
	if ma, mb := metadataString(a.metadata), metadataString(b.metadata); ma != mb {
		return fmt.Sprintf("metadata %s vs %s", ma, mb)
	}
	fa, fb := a.sortedFiles(), b.sortedFiles()
	if len(fa) != len(fb) {
		return fmt.Sprintf("%d vs %d files", len(fa), len(fb))
	}
	for i := range fa {
		if sa, sb := addString(fa[i].add), addString(fb[i].add); sa != sb {
			return fmt.Sprintf("file %d: %s vs %s", i, sa, sb)
		}
	}
	if len(a.tombstones) != len(b.tombstones) {
		return fmt.Sprintf("%d vs %d tombstones", len(a.tombstones), len(b.tombstones))
	}
	for k := range a.tombstones {
		if _, ok := b.tombstones[k]; !ok {
			return fmt.Sprintf("tombstone %s missing", k.path)
		}
	}
	if len(a.txns) != len(b.txns) {
		return fmt.Sprintf("%d vs %d txns", len(a.txns), len(b.txns))
	}
	for k, v := range a.txns {
		if b.txns[k].Version != v.Version {
			return fmt.Sprintf("txn %s: %d vs %d", k, v.Version, b.txns[k].Version)
		}
	}
	return ""
}

func metadataString(m *Metadata) string {
	ct := int64(-1)
	if m.CreatedTime != nil {
		ct = *m.CreatedTime
	}
	return fmt.Sprintf("%s|%s|%s|%v|%v|%v|%v|%d", m.ID, m.Name, m.Format.Provider, m.Format.Options, m.SchemaString, m.PartitionColumns, m.Configuration, ct)
}

func addString(a *Add) string {
	return fmt.Sprintf("%s|%v|%d|%d|%v|%s|%v", a.Path, a.PartitionValues, a.Size, a.ModificationTime, a.DataChange, a.Stats, a.Tags)
}

func stringsReader(n int) *strings.Reader { return strings.NewReader(strings.Repeat("x", n)) }

package delta

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

// TestFencedIngestThroughS3FaultsCommitsEveryOffsetOnce runs writers that
// each own a source partition and commit offset ranges through a proxy that
// answers 500 and 503 SlowDown, resets connections (before and after the
// server applied the request) and delays. A writer whose Commit fails does
// what ingest does: reload, and if the table's txn version shows the commit
// landed, move on, else retry the same range. Afterwards every version
// loads, every live file exists, and each partition's ranges tile [0, n).
func TestFencedIngestThroughS3FaultsCommitsEveryOffsetOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("versitygw in -short mode")
	}
	const (
		writers = 3
		n       = 60
	)
	srv := objtest.StartVersity(t)
	proxy := objtest.NewFaultProxy(t, srv.Endpoint, objtest.FaultConfig{
		Seed: 7, InternalError: 0.06, SlowDown: 0.06, Reset: 0.04, After: 0.5, Delay: 0.05, MaxDelay: 20 * time.Millisecond,
	})
	// One attempt per request: every fault reaches the Delta log code.
	faulty := srv.NewBucket(t, srv.Bucket, func(o *objstore.S3Options) { o.Endpoint = proxy.URL; o.MaxAttempts = 1 })
	direct := srv.NewBucket(t, srv.Bucket)

	createTable(t, newTable(t, direct, Options{}))
	var g errgroup.Group
	errorsSeen := make([]int, writers)
	for w := range writers {
		g.Go(func() error {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			tbl, err := NewTable(faulty, "sales", Options{Logger: testLogger(t), CheckpointInterval: 5})
			if err != nil {
				return err
			}
			app := appID(w)
			var s *Snapshot
			for iter := 0; iter < 500; iter++ {
				if s == nil {
					if s, err = tbl.Snapshot(ctx); err != nil {
						errorsSeen[w]++
						s = nil
						continue
					}
				}
				cur, ok := s.TxnVersion(app)
				if cur >= n {
					return nil
				}
				f := FenceRange{AppID: app, From: cur, To: min(n, cur+int64(1+rng.IntN(8))), First: !ok}
				a := testAdd(t, fmt.Sprintf("w%d-%d", w, iter), "2024-06-01", f.To-f.From)
				a.Tags = map[string]string{"from": strconv.FormatInt(f.From, 10), "to": strconv.FormatInt(f.To, 10)}
				if err := uploadTo(ctx, tbl, a); err != nil {
					errorsSeen[w]++
					continue // an orphan at worst; the next iteration writes a new file
				}
				res, err := tbl.Commit(ctx, s, Txn{Adds: []Add{a}, Fences: []FenceRange{f}})
				switch {
				case err == nil:
					s = res.Snapshot
				case errors.Is(err, ErrFenced), errors.Is(err, ErrConflict):
					return fmt.Errorf("writer %d: %w (no one else writes this partition)", w, err)
				default:
					errorsSeen[w]++
					s = nil // reload: the commit may or may not have landed
				}
			}
			return fmt.Errorf("writer %d did not finish", w)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	proxy.SetEnabled(false)

	tbl := newTable(t, direct, Options{})
	final, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type span struct{ from, to int64 }
	byApp := map[int][]span{}
	for _, f := range final.Files() {
		if _, err := direct.Stat(t.Context(), f.Key); err != nil {
			t.Errorf("live file %s: %v", f.Key, err)
		}
		var w int
		fmt.Sscanf(f.RelPath, "dt=2024-06-01/w%d-", &w)
		from, _ := strconv.ParseInt(f.Tags["from"], 10, 64)
		to, _ := strconv.ParseInt(f.Tags["to"], 10, 64)
		byApp[w] = append(byApp[w], span{from, to})
	}
	for w := range writers {
		spans := byApp[w]
		sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
		next := int64(0)
		for _, sp := range spans {
			if sp.from != next {
				t.Fatalf("writer %d: range [%d,%d) after offset %d", w, sp.from, sp.to, next)
			}
			next = sp.to
		}
		if v, _ := final.TxnVersion(appID(w)); next != n || v != n {
			t.Errorf("writer %d: committed up to %d, txn %d; want %d", w, next, v, n)
		}
	}
	for v := int64(0); v <= final.Version(); v++ {
		if _, err := tbl.SnapshotAt(t.Context(), v); err != nil {
			t.Errorf("version %d does not load: %v", v, err)
		}
	}
	if d := equalStates(final.st, replayJSON(t, tbl, final.Version())); d != "" {
		t.Errorf("snapshot differs from JSON replay: %s", d)
	}
	c := proxy.Counts()
	t.Logf("%d versions; faults injected: %+v; writer errors: %v", final.Version(), c, errorsSeen)
	if c.Total() == 0 {
		t.Error("the proxy injected no faults")
	}
}

func uploadTo(ctx context.Context, tbl *Table, a Add) error {
	rel, err := a.DecodedPath()
	if err != nil {
		return err
	}
	return tbl.Bucket().Put(ctx, tbl.DataKey(rel), stringsReader(int(a.Size)))
}

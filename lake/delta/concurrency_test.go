package delta

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func TestConcurrentAppendsLocal(t *testing.T) {
	testConcurrentAppends(t, newLocalBucket(t))
}

func TestConcurrentAppendsS3(t *testing.T) {
	if testing.Short() {
		t.Skip("versitygw in -short mode")
	}
	srv := objtest.StartVersity(t)
	testConcurrentAppends(t, srv.NewBucket(t, srv.Bucket))
}

// testConcurrentAppends: 8 writers (each with its own Table, as separate
// processes would be) append 50 files each to one table.
func testConcurrentAppends(t *testing.T, b objstore.Bucket) {
	const writers, perWriter = 8, 50
	create := newTable(t, b, Options{})
	createTable(t, create)
	var g errgroup.Group
	var mu sync.Mutex
	versions := map[int64]string{}
	attempts := 0
	for w := range writers {
		g.Go(func() error {
			tbl, err := NewTable(b, "sales", Options{Logger: testLogger(t), MaxCommitAttempts: 1000})
			if err != nil {
				return err
			}
			s, err := tbl.Snapshot(context.Background())
			if err != nil {
				return err
			}
			for i := range perWriter {
				name := fmt.Sprintf("w%d-%02d", w, i)
				res, err := tbl.Commit(context.Background(), s, Txn{Adds: []Add{testAdd(t, name, "2024-06-01", 1)}})
				if err != nil {
					return fmt.Errorf("writer %d commit %d: %w", w, i, err)
				}
				if res.CheckpointErr != nil {
					return fmt.Errorf("writer %d checkpoint at %d: %w", w, res.Version, res.CheckpointErr)
				}
				mu.Lock()
				if prev, dup := versions[res.Version]; dup {
					mu.Unlock()
					return fmt.Errorf("version %d committed twice: %s and %s", res.Version, prev, name)
				}
				versions[res.Version] = name
				attempts += res.Attempts
				mu.Unlock()
				s = res.Snapshot
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	const total = writers * perWriter
	for v := int64(1); v <= total; v++ {
		if _, ok := versions[v]; !ok {
			t.Errorf("version %d missing: versions are not contiguous", v)
		}
	}
	l, err := create.listLog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.commits) != total+1 || l.latest() != total {
		t.Errorf("log holds %d commits up to %d, want %d up to %d", len(l.commits), l.latest(), total+1, total)
	}
	s, err := create.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != total || s.NumFiles() != total {
		t.Errorf("latest version %d with %d live files, want %d and %d", s.Version(), s.NumFiles(), total, total)
	}
	if d := equalStates(s.st, replayJSON(t, create, total)); d != "" {
		t.Errorf("snapshot via checkpoints differs from JSON replay: %s", d)
	}
	t.Logf("%d commits took %d put-if-absent attempts (%.2f per commit)", total, attempts, float64(attempts)/total)
}

// TestFencingPropertyEveryOffsetCommittedExactlyOnce: writers with stale
// views, replays and overlapping guesses race to commit offset ranges of a
// few partitions; whatever the interleaving, the committed ranges of each
// partition tile [0, N) exactly.
func TestFencingPropertyEveryOffsetCommittedExactlyOnce(t *testing.T) {
	const (
		partitions = 3
		writers    = 4
		n          = 120 // offsets per partition
	)
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run("seed "+strconv.FormatUint(seed, 10), func(t *testing.T) {
			b := newLocalBucket(t)
			create := newTable(t, b, Options{})
			createTable(t, create)
			var g errgroup.Group
			var fenced, won sync.Map
			for w := range writers {
				g.Go(func() error {
					rng := rand.New(rand.NewPCG(seed, uint64(w)))
					tbl, err := NewTable(b, "sales", Options{Logger: testLogger(t), MaxCommitAttempts: 1000, CheckpointInterval: 7})
					if err != nil {
						return err
					}
					s, err := tbl.Snapshot(context.Background())
					if err != nil {
						return err
					}
					for iter := 0; iter < 3000; iter++ {
						if rng.IntN(3) > 0 { // sometimes keep a stale view, like a zombie
							if s, err = tbl.Update(context.Background(), s); err != nil {
								return err
							}
						}
						done := true
						for p := range partitions {
							if v, _ := s.TxnVersion(appID(p)); v < n {
								done = false
							}
						}
						if done {
							return nil
						}
						p := rng.IntN(partitions)
						cur, ok := s.TxnVersion(appID(p))
						if cur >= n {
							continue
						}
						// The source's offsets start at 0: a first range starts there.
						f := FenceRange{AppID: appID(p), From: cur, First: !ok}
						switch rng.IntN(6) {
						case 0: // a replay of an older range
							if ok {
								f.From = max(0, cur-int64(1+rng.IntN(10)))
							}
						case 1: // a guess past the table's position
							if ok {
								f.From = cur + int64(1+rng.IntN(3))
							}
						case 2: // a wrong belief about the partition being new
							f.First = !f.First
						}
						f.To = min(n, f.From+int64(1+rng.IntN(12)))
						if f.To <= f.From {
							continue
						}
						a := testAdd(t, fmt.Sprintf("p%d-w%d-%d", p, w, iter), "2024-06-01", f.To-f.From)
						a.Tags = map[string]string{"p": strconv.Itoa(p), "from": strconv.FormatInt(f.From, 10), "to": strconv.FormatInt(f.To, 10)}
						res, err := tbl.Commit(context.Background(), s, Txn{Adds: []Add{a}, Fences: []FenceRange{f}})
						switch {
						case err == nil:
							won.Store(res.Version, true)
							s = res.Snapshot
						case errors.Is(err, ErrFenced):
							fenced.Store(fmt.Sprint(w, iter), true)
						default:
							return fmt.Errorf("writer %d: %w", w, err)
						}
					}
					return fmt.Errorf("writer %d did not finish", w)
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatal(err)
			}
			final, err := create.Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			type rng struct{ from, to int64 }
			byP := map[string][]rng{}
			for _, f := range final.Files() {
				from, _ := strconv.ParseInt(f.Tags["from"], 10, 64)
				to, _ := strconv.ParseInt(f.Tags["to"], 10, 64)
				byP[f.Tags["p"]] = append(byP[f.Tags["p"]], rng{from, to})
			}
			for p := range partitions {
				rs := byP[strconv.Itoa(p)]
				sort.Slice(rs, func(i, j int) bool { return rs[i].from < rs[j].from })
				next := int64(0)
				for _, r := range rs {
					if r.from != next {
						t.Fatalf("partition %d: range [%d,%d) after offset %d: offsets %s", p, r.from, r.to, next,
							map[bool]string{true: "committed twice", false: "skipped"}[r.from < next])
					}
					next = r.to
				}
				if next != n {
					t.Errorf("partition %d committed up to %d, want %d", p, next, n)
				}
				if v, _ := final.TxnVersion(appID(p)); v != n {
					t.Errorf("partition %d txn version %d", p, v)
				}
			}
			nf, nw := 0, 0
			fenced.Range(func(any, any) bool { nf++; return true })
			won.Range(func(any, any) bool { nw++; return true })
			if nf == 0 {
				t.Errorf("no commit was fenced: the interleaving did not exercise fencing")
			}
			t.Logf("%d commits won, %d fenced", nw, nf)
		})
	}
}

func appID(p int) string { return "shelflake/pos.sales/" + strconv.Itoa(p) }

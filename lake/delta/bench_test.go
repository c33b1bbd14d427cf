package delta

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
)

func quietOptions(o Options) Options {
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return o
}

// BenchmarkCommitAppend measures one blind-append commit (one add with
// stats and a fence) on the local store, without contention.
func BenchmarkCommitAppend(b *testing.B) {
	for _, iv := range []int64{-1, 10} {
		b.Run(fmt.Sprintf("checkpointInterval=%d", iv), func(b *testing.B) {
			tbl, err := NewTable(newLocalBucket(b), "sales", quietOptions(Options{CheckpointInterval: iv}))
			if err != nil {
				b.Fatal(err)
			}
			s := createTable(b, tbl)
			adds := make([]Add, b.N)
			for i := range adds {
				adds[i] = testAdd(b, fmt.Sprintf("f%07d", i), "2024-01-01", 100)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				txn := Txn{Adds: []Add{adds[i]}, Fences: []FenceRange{{AppID: "g/t/0", From: int64(i), To: int64(i + 1), First: i == 0}}}
				res, err := tbl.Commit(ctx, s, txn)
				if err != nil {
					b.Fatal(err)
				}
				s = res.Snapshot
			}
		})
	}
}

// BenchmarkSnapshotLoad measures loading the latest snapshot of a table of
// n commits (one file each) on the local store, with a checkpoint every 10
// commits (so load = checkpoint + 5 commits) and without checkpoints (load =
// replay of every commit).
func BenchmarkSnapshotLoad(b *testing.B) {
	for _, n := range []int{105, 1005} {
		for _, iv := range []int64{10, -1} {
			b.Run(fmt.Sprintf("commits=%d/checkpointInterval=%d", n, iv), func(b *testing.B) {
				tbl, err := NewTable(newLocalBucket(b), "sales", quietOptions(Options{CheckpointInterval: iv}))
				if err != nil {
					b.Fatal(err)
				}
				s := createTable(b, tbl)
				ctx := context.Background()
				for i := 1; i < n; i++ {
					res, err := tbl.Commit(ctx, s, Txn{Adds: []Add{testAdd(b, fmt.Sprintf("f%07d", i), "2024-01-01", 100)}})
					if err != nil {
						b.Fatal(err)
					}
					s = res.Snapshot
				}
				b.ResetTimer()
				for range b.N {
					got, err := tbl.Snapshot(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if got.NumFiles() != n-1 {
						b.Fatalf("%d files", got.NumFiles())
					}
				}
			})
		}
	}
}

package compact

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/iceberg"
	"github.com/shelflake/shelflake/schema"
)

// TestVacuumKeepsWhatIcebergSnapshotsList: past the Delta retention, vacuum
// still keeps the files a retained Iceberg snapshot lists and never touches
// metadata/; once the snapshot listing them expires, they go.
func TestVacuumKeepsWhatIcebergSnapshotsList(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	publishing := func(maxSnapshots int) *lake.Lake {
		pub, err := iceberg.NewPublisher(iceberg.Options{Root: "file://" + dir, Always: true, MaxSnapshots: maxSnapshots, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := lake.Open(ctx, dir, lake.Options{Delta: delta.Options{AfterCommit: pub.AfterCommit}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	l := publishing(100)
	day := schema.NewDate(2026, 3, 1)
	writePOSFiles(t, l, day, posRows(7, 300, 0, day), 50) // 6 files, Iceberg snapshot 1
	c := newCompactor(t, l, Options{Plan: everyPartitionCompacts})
	if rep, err := c.Compact(ctx); err != nil || len(rep.Tasks) != 1 {
		t.Fatalf("compact: %+v %v", rep, err)
	}
	partition := filepath.Join(dir, "pos_lines", "dt=2026-03-01")
	count := func(d string) int {
		es, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	meta := count(filepath.Join(dir, "pos_lines", "metadata"))
	later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	vac := func() []VacuumTableReport {
		t.Helper()
		reps, err := Vacuum(ctx, l, VacuumOptions{Retention: 168 * time.Hour, Now: later, Tables: []*schema.Table{schema.TablePOSLines()}})
		if err != nil {
			t.Fatal(err)
		}
		return reps
	}
	if reps := vac(); len(reps[0].Deleted) != 0 || count(partition) != 7 {
		t.Fatalf("vacuum deleted %v: files an Iceberg snapshot still lists", reps[0].Deleted)
	}
	if n := count(filepath.Join(dir, "pos_lines", "metadata")); n != meta {
		t.Fatalf("metadata/ holds %d files after vacuum, had %d", n, meta)
	}
	// A publisher keeping one snapshot: the next commit expires the
	// snapshots listing the compacted files.
	l = publishing(1)
	writePOSFiles(t, l, day, posRows(8, 10, 0, day), 10)
	if reps := vac(); len(reps[0].Deleted) != 6 || count(partition) != 2 {
		t.Fatalf("vacuum after the Iceberg snapshots expired deleted %v, %d files left", reps[0].Deleted, count(partition))
	}
}

package compact

import (
	"context"
	"fmt"
	"testing"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// A long run of small daily partitions is compacted in a few commits, not
// one per day, and every row stays once.
func TestSmallPartitionsCommitTogether(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, t.TempDir())
	const days = 300
	want := writeDays(t, l, schema.NewDate(2021, 1, 1), days, 6, 3)
	_, _, before := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	rep, err := newCompactor(t, l, Options{Plan: everyPartitionCompacts}).Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[int64]int{}
	for _, tr := range rep.Tasks {
		versions[tr.Version]++
	}
	got, _, snap := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	if len(rep.Tasks) != days || len(versions) != 2 || snap.Version() != before.Version()+2 {
		t.Fatalf("%d partitions compacted in %d commits (table version %d → %d), want %d in 2 (bundles of at most %d)",
			len(rep.Tasks), len(versions), before.Version(), snap.Version(), days, bundleTasks)
	}
	if len(got) != want || snap.NumFiles() != days {
		t.Fatalf("%d rows in %d files, want %d in %d", len(got), snap.NumFiles(), want, days)
	}
}

// When another compactor commits first, the bundle's commit conflicts: its
// output is deleted and each partition is re-planned alone (and here finds
// nothing left to do).
func TestABundleThatConflictsFallsBackToOneByOne(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLake(t, dir)
	day := schema.NewDate(2026, 3, 1)
	const days = 5
	want := writeDays(t, l, day, days, 20, 5)
	aRep, bRep := passInsidePass(t, l, openLake(t, dir))
	if len(bRep.Tasks) != days || len(aRep.Tasks) != 0 || aRep.Conflicts < 1 {
		t.Fatalf("A: %d rewrites, %d conflicts; B: %d rewrites. Want A's bundle to lose and find nothing left",
			len(aRep.Tasks), aRep.Conflicts, len(bRep.Tasks))
	}
	got, _, snap := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	if len(got) != want || snap.NumFiles() != days {
		t.Fatalf("%d rows in %d files, want %d in %d", len(got), snap.NumFiles(), want, days)
	}
	// A's rewritten files were deleted, not left as orphans.
	for d := range days {
		var data int
		prefix := fmt.Sprintf("pos_lines/dt=%s/", day.AddDays(d))
		if err := l.Bucket().List(ctx, prefix, func(objstore.Attributes) error {
			data++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := 4 + 1; data != want {
			t.Errorf("%s: %d data files, want %d (4 removed inputs + B's output)", prefix, data, want)
		}
	}
}

func TestBundle(t *testing.T) {
	pos, inv := schema.TablePOSLines(), schema.TableInventorySnapshots()
	task := func(tb *schema.Table, bytes int64) plannedTask {
		return plannedTask{t: tb, task: Task{Table: tb.Name, InputBytes: bytes}}
	}
	var many, full []plannedTask
	for range bundleTasks + 3 {
		many = append(many, task(pos, 10))
	}
	for range bundleBytes/bundleTaskBytes + 1 {
		full = append(full, task(pos, bundleTaskBytes))
	}
	for _, tc := range []struct {
		name string
		work []plannedTask
		want []int // tasks per unit
	}{
		{"empty", nil, nil},
		{"one", []plannedTask{task(pos, 10)}, []int{1}},
		{"a large task alone, between bundles", []plannedTask{task(pos, 10), task(pos, 10), task(pos, bundleTaskBytes+1), task(pos, 10)}, []int{2, 1, 1}},
		{"tables apart", []plannedTask{task(pos, 10), task(inv, 10), task(inv, 10)}, []int{1, 2}},
		{"at most bundleTasks", many, []int{bundleTasks, 3}},
		{"at most bundleBytes", full, []int{bundleBytes / bundleTaskBytes, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for _, u := range bundle(tc.work) {
				got = append(got, len(u))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("units %v, want %v", got, tc.want)
			}
		})
	}
}

// writeDays writes rows POS lines a day in files files a day, for days days
// from first, and returns how many lines it wrote.
func writeDays(t *testing.T, l *lake.Lake, first schema.Date, days, rows, files int) int {
	t.Helper()
	var n int
	for d := range days {
		day := first.AddDays(d)
		rs := posRows(uint64(d), rows, 0, day)
		writePOSFiles(t, l, day, rs, files)
		n += len(rs)
	}
	return n
}

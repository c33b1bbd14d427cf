package delta

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake/objstore"
)

func TestVacuum(t *testing.T) {
	// Commit timestamps come from the injected clock, hours after the
	// objects' real LastModified (≈ start): the hours model time passing.
	start := time.Now()
	clock := newFakeClock(start)
	b := newLocalBucket(t)
	tbl := newTable(t, b, Options{Now: clock.Now})
	s := createTable(t, tbl) // version 0 at start

	at := func(h float64) time.Time { return start.Add(time.Duration(h * float64(time.Hour))) }
	a := uploadAdd(t, tbl, testAdd(t, "a", "2024-01-01", 3))
	clock.Set(at(1))
	s = mustCommit(t, tbl, s, Txn{Adds: []Add{a}}).Snapshot // v1 at +1h
	bAdd := uploadAdd(t, tbl, testAdd(t, "b", "2024-01-02", 3))
	clock.Set(at(2))
	s = mustCommit(t, tbl, s, Txn{Adds: []Add{bAdd}}).Snapshot // v2 at +2h
	c := uploadAdd(t, tbl, testAdd(t, "c", "2024-01-01", 3))
	clock.Set(at(3))
	s = mustCommit(t, tbl, s, Txn{Isolation: Rewrite, Adds: []Add{c}, Removes: []Remove{RemoveOf(a, at(3), false)}}).Snapshot // v3 at +3h
	uploadAdd(t, tbl, testAdd(t, "orphan", "2024-01-01", 3))                                                                  // uploaded, never committed
	// Files vacuum must never touch.
	for _, k := range []string{"sales/_delta_log/00000000000000000099.crc", "sales/_change_data/x.parquet", "sales/dt=2024-01-01/.hidden"} {
		if err := b.Put(t.Context(), k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	keyA, keyB, keyC, keyO := tbl.DataKey("dt=2024-01-01/a.parquet"), tbl.DataKey("dt=2024-01-02/b.parquet"), tbl.DataKey("dt=2024-01-01/c.parquet"), tbl.DataKey("dt=2024-01-01/orphan.parquet")

	exists := func(key string) bool {
		_, err := b.Stat(t.Context(), key)
		if err != nil && !errors.Is(err, objstore.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}

	t.Run("nothing is deleted while every file is younger than the retention", func(t *testing.T) {
		rep, err := tbl.Vacuum(t.Context(), time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Deleted) != 0 || rep.Kept != 1 || rep.ProtectedFrom != 0 {
			t.Errorf("report %+v; want none deleted, the young orphan kept, every version protected", rep)
		}
	})

	t.Run("an old orphan goes, a file removed inside the window stays for time travel", func(t *testing.T) {
		// now +3.5h, retention 1h: cutoff +2.5h falls on version 2, which still has a.
		rep, err := tbl.Vacuum(t.Context(), time.Hour, at(3.5))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Deleted, []string{keyO}) || rep.ProtectedFrom != 2 || rep.Version != 3 {
			t.Errorf("report %+v; want only the orphan deleted, protected from version 2", rep)
		}
		if !exists(keyA) || exists(keyO) {
			t.Errorf("a exists %v (want true), orphan exists %v (want false)", exists(keyA), exists(keyO))
		}
		old, err := tbl.SnapshotAsOf(t.Context(), at(2.5))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range old.Files() {
			if !exists(f.Key) {
				t.Errorf("time travel to +2.5h: file %s is gone", f.Key)
			}
		}
	})

	t.Run("a removed file past the retention goes, live files never", func(t *testing.T) {
		rep, err := tbl.Vacuum(t.Context(), time.Hour, at(5))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Deleted, []string{keyA}) || rep.DeletedBytes != a.Size {
			t.Errorf("report %+v; want a (%d bytes) deleted", rep, a.Size)
		}
		for _, k := range []string{keyB, keyC, "sales/_delta_log/00000000000000000099.crc", "sales/_change_data/x.parquet", "sales/dt=2024-01-01/.hidden"} {
			if !exists(k) {
				t.Errorf("%s was deleted", k)
			}
		}
		latest, err := tbl.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range latest.Files() {
			if !exists(f.Key) {
				t.Errorf("live file %s deleted", f.Key)
			}
		}
	})

	t.Run("a zero retention keeps the live files", func(t *testing.T) {
		rep, err := tbl.Vacuum(t.Context(), 0, at(100))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Deleted) != 0 || !exists(keyB) || !exists(keyC) {
			t.Errorf("report %+v", rep)
		}
	})

	if _, err := tbl.Vacuum(t.Context(), -time.Hour, at(5)); err == nil {
		t.Error("negative retention accepted")
	}
}

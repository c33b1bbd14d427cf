package compact

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// posRows makes n POS lines in random order, every dupEvery-th one sent
// again later (same line, new offset and ingest time), for sorting tests.
func posRows(seed uint64, n, dupEvery int, day schema.Date) []schema.PosLineRow {
	r := rand.New(rand.NewPCG(seed, 1))
	base := day.Time().Add(8 * time.Hour)
	var rows []schema.PosLineRow
	for i := range n {
		store := fmt.Sprintf("S%03d", r.IntN(5))
		at := base.Add(time.Duration(r.IntN(12*3600)) * time.Second)
		row := schema.PosLineRow{
			TransactionID: fmt.Sprintf("%s-%08d", store, i/3),
			LineNo:        int32(i%3 + 1),
			StoreID:       store,
			RegisterID:    "R01",
			TxnType:       "sale",
			BusinessDate:  day,
			EventTime:     at,
			Currency:      "USD",
			TxnTotal:      schema.Money(1000 * int64(i%7+1)),
			SKU:           fmt.Sprintf("SKU%06d", r.IntN(40)),
			Quantity:      int64(1 + r.IntN(3)),
			UnitPrice:     schema.Money(2500),
			LineTotal:     schema.Money(2500),
			SrcOffset:     int64(i),
			IngestedAt:    at.Add(time.Second),
		}
		rows = append(rows, row)
		if dupEvery > 0 && i%dupEvery == 0 {
			dup := row
			dup.SrcOffset = int64(n + i)
			dup.IngestedAt = row.IngestedAt.Add(time.Minute)
			rows = append(rows, dup)
		}
	}
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// posString renders a row canonically (times as UTC microseconds).
func posString(r schema.PosLineRow) string {
	return fmt.Sprintf("%s/%d %s %s %s %s %d@%d %s %d %d %v %v %v %v %s %d/%d %d",
		r.TransactionID, r.LineNo, r.StoreID, r.RegisterID, r.TxnType, r.BusinessDate, r.EventTime.UnixMicro(),
		r.EventUTCOffsetMin, r.Currency, r.TxnTotal, r.Quantity, r.UnitPrice, r.Discount, r.Tax, r.LineTotal,
		r.SKU, r.SrcPartition, r.SrcOffset, r.IngestedAt.UnixMicro())
}

// wantSorted is the reference: the newest copy of each natural key, in
// compaction order.
func wantSorted(rows []schema.PosLineRow) []string {
	newest := map[string]schema.PosLineRow{}
	for _, r := range rows {
		k := fmt.Sprintf("%s/%d", r.TransactionID, r.LineNo)
		if cur, ok := newest[k]; !ok || r.IngestedAt.After(cur.IngestedAt) {
			newest[k] = r
		}
	}
	var keep []schema.PosLineRow
	for _, r := range newest {
		keep = append(keep, r)
	}
	slices.SortFunc(keep, func(a, b schema.PosLineRow) int { return posKind.compare(&a, &b) })
	out := make([]string, len(keep))
	for i, r := range keep {
		out[i] = posString(r)
	}
	return out
}

func drain[T any](t *testing.T, it rowIter[T]) []T {
	t.Helper()
	var out []T
	buf := make([]T, 100)
	for {
		n, err := it.next(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSorterOrdersAndDeduplicatesWhateverTheMemoryBudget(t *testing.T) {
	day := schema.NewDate(2026, 3, 1)
	rows := posRows(1, 3000, 7, day)
	want := wantSorted(rows)
	for _, tc := range []struct {
		name     string
		memBytes int64
		fanIn    int
		spilled  bool
	}{
		{"Everything fits in memory: no run is spilled", 1 << 30, 16, false},
		{"A budget of a few hundred rows spills runs merged in one pass", 200 << 10, 64, true},
		{"More runs than the fan-in are merged in several passes", 50 << 10, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			s := newSorter(posKind, sortConfig{memBytes: tc.memBytes, tempDir: tmp, schema: schema.TablePOSLines().Schema, fanIn: tc.fanIn})
			for chunk := range slices.Chunk(rows, 333) {
				if err := s.add(chunk); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.spilled > 0; got != tc.spilled {
				t.Errorf("spilled %d runs, want spilling %v", s.spilled, tc.spilled)
			}
			it, err := s.finish()
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, it)
			if m, ok := it.(*mergeIter[schema.PosLineRow]); ok {
				if err := m.close(); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d rows out, want %d (of %d in)", len(got), len(want), len(rows))
			}
			for i := range got {
				if g := posString(got[i]); g != want[i] {
					t.Fatalf("row %d:\n got %s\nwant %s", i, g, want[i])
				}
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("run files left behind: %v", left)
			}
		})
	}
}

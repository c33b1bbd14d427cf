package compact

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// TestCompactionOfPromotionsKeepsTheNewestOfEachPublishedState: promotions
// files of one dt, chain-wide (location_id null) and per store, with every
// fourth state delivered twice (a resend: same natural key, later offset
// and ingest time), compact into one file sorted by (sku, promotion_id,
// location_id, updated_at) holding each published state once, the
// resend's copy, with chain-wide locations still null.
func TestCompactionOfPromotionsKeepsTheNewestOfEachPublishedState(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, t.TempDir())
	tb := schema.TablePromotions()
	day := schema.NewDate(2026, 1, 26)
	zone := time.FixedZone("", 3600)
	ingested := time.Date(2026, 1, 26, 6, 0, 0, 0, time.UTC)
	var rows []schema.PromotionRow
	want := map[string]schema.PromotionRow{} // natural key → the copy compaction keeps
	key := func(r schema.PromotionRow) string {
		return fmt.Sprint(r.PromotionID, "/", r.SKU, "/", r.LocationID, "/", r.UpdatedAt.UnixMicro())
	}
	for n := range 60 {
		p := schema.Promotion{
			SchemaVersion: 1,
			PromotionID:   fmt.Sprintf("PR-%03d", n%20),
			SKU:           fmt.Sprintf("SKU-%03d", n%7),
			StartDate:     day.AddDays(35 + n%5),
			EndDate:       day.AddDays(41 + n%5),
			DiscountPct:   10 + n%30,
			Status:        schema.PromotionPlanned,
			// Three states of each promotion, published during the day.
			UpdatedAt: day.In(zone).Add(6*time.Hour + time.Duration(n/20)*time.Hour),
		}
		if n%3 == 0 {
			p.LocationID = fmt.Sprintf("S%03d", n%4)
		}
		src := schema.Source{Offset: int64(n), IngestedAt: ingested.Add(time.Duration(n) * time.Second)}
		r := p.AppendRows(nil, src)[0]
		rows = append(rows, r)
		want[key(r)] = r
		if n%4 == 0 {
			again := r
			again.SrcOffset += 1000
			again.IngestedAt = again.IngestedAt.Add(time.Minute)
			rows = append(rows, again)
			want[key(r)] = again
		}
	}
	// Four files in two commits, as ingest's flushes would make them.
	for batch := range slices.Chunk(rows, (len(rows)+1)/2) {
		writeFiles(t, l, tb, day, batch, (len(batch)+1)/2)
	}

	c := newCompactor(t, l, Options{Plan: everyPartitionCompacts, Tables: []*schema.Table{tb}})
	rep, err := c.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tasks) != 1 || rep.Tasks[0].InputFiles != 4 || rep.Tasks[0].OutputFiles != 1 ||
		rep.Tasks[0].RowsIn-rep.Tasks[0].RowsOut != int64(len(rows)-len(want)) {
		t.Fatalf("report %+v: want one task, 4 files into 1, dropping %d resends", rep.Tasks, len(rows)-len(want))
	}
	got, perFile, snap := readTable[schema.PromotionRow](t, l, tb)
	checkSortedAndUnique(t, promotionKind, perFile)
	if len(got) != len(want) {
		t.Fatalf("%d rows after compaction, want %d", len(got), len(want))
	}
	var chainWide int64
	for _, r := range got {
		w, ok := want[key(r)]
		if !ok || r.SrcOffset != w.SrcOffset || !r.IngestedAt.Equal(w.IngestedAt) || r.DiscountPct != w.DiscountPct ||
			r.StartDate != w.StartDate || r.EndDate != w.EndDate || r.Status != w.Status || r.UpdatedAtUTCOffsetMin != 60 {
			t.Errorf("row %+v, want %+v", r, w)
		}
		if r.LocationID == "" {
			chainWide++
		}
	}
	files := snap.Files()
	if len(files) != 1 {
		t.Fatalf("%d files after compaction, want 1", len(files))
	}
	st, err := files[0].ParseStats()
	if err != nil || st == nil {
		t.Fatalf("stats %v, %v", st, err)
	}
	if n, _ := st.NullCount["location_id"].(json.Number); n.String() != fmt.Sprint(chainWide) || chainWide == 0 {
		t.Errorf("null location_ids %v in the compacted file's stats, %d chain-wide rows", st.NullCount["location_id"], chainWide)
	}
}

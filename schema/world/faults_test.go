package world

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

// With faults on, the truth agrees with what was published and with the
// shelf: every kind of fault happens, only at stores; a count snapshot
// publishes the shelf; a state line's shelf is demand.csv's on hand; the
// closing snapshot publishes the record (or, while stale, an older value).
func TestFaultsTruthMatchesWhatWasPublished(t *testing.T) {
	w, err := New(Config{Seed: 5, Stores: 3, SKUs: 30, Days: 70, Faults: DefaultFaults()})
	if err != nil {
		t.Fatal(err)
	}
	truth := t.TempDir()
	sink := &MemSink{}
	if _, err := w.Generate(t.Context(), GenerateOptions{Sink: sink, TruthDir: truth}); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadFaults(truth)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		loc, sku string
		d        schema.Date
	}
	shelf := map[key]int64{}
	f, err := os.Open(filepath.Join(truth, TruthDemand))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[1:] {
		d, _ := schema.ParseDate(r[0])
		n, _ := strconv.ParseInt(r[8], 10, 64)
		shelf[key{r[1], r[2], d}] = n
	}
	counts, closing := map[key]int64{}, map[key]int64{}
	for _, r := range sink.Records {
		if r.Topic != schema.TopicInventory {
			continue
		}
		inv, err := schema.DecodeInventory(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		k := key{inv.LocationID, inv.SKU, schema.DateOf(inv.AsOf)}
		switch {
		case strings.HasPrefix(inv.SnapshotID, CountSnapshotPrefix):
			counts[k] = inv.OnHand
		case inv.Kind == schema.SnapshotFull:
			closing[k] = inv.OnHand
		}
	}
	kinds := map[string]int{}
	stale := map[key]bool{}
	for _, e := range evs {
		kinds[e.Kind]++
		k := key{e.Location, e.SKU, e.Date}
		if !strings.HasPrefix(e.Location, "S") {
			t.Fatalf("a fault at %s, not a store: %+v", e.Location, e)
		}
		switch e.Kind {
		case FaultCount:
			if c, ok := counts[k]; !ok || c != e.Shelf || e.Units != e.Record-e.Shelf {
				t.Errorf("count %+v: published %d (%v)", e, c, ok)
			}
		case FaultState:
			if shelf[k] != e.Shelf {
				t.Errorf("state %+v: demand.csv on hand %d", e, shelf[k])
			}
			if closing[k] != e.Record && !stale[k] {
				t.Errorf("state %+v: closing snapshot %d", e, closing[k])
			}
		case FaultStale:
			for d := range int(e.Units) {
				stale[key{e.Location, e.SKU, e.Date.AddDays(d)}] = true
			}
		}
	}
	for _, k := range []string{FaultShrink, FaultPhantom, FaultReceiptError, FaultLatePOS, FaultStale, FaultCount, FaultState, FaultOverstated} {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in the truth", k)
		}
	}
	if len(counts) != kinds[FaultCount] {
		t.Errorf("%d count snapshot rows, %d count truth lines", len(counts), kinds[FaultCount])
	}
}

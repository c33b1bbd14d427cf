package world

import (
	"context"
	"math"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

func TestHardWorldKeepsTheEntitiesAndChangesDemand(t *testing.T) {
	cfg := Config{Seed: 3, Stores: 6, SKUs: 80, Days: 150}
	easy, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Hard = true
	hard, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var easyUnits, hardUnits int64
	differ := 0
	for loc := range hard.NumStores() {
		for d := range cfg.Days {
			if easy.Open(loc, d) != hard.Open(loc, d) {
				t.Fatalf("location %d day %d: open %v in the hard world, %v in the classic one", loc, d, hard.Open(loc, d), easy.Open(loc, d))
			}
		}
		for sku := range hard.Items() {
			if easy.Params(loc, sku, 0) != hard.Params(loc, sku, 0) {
				t.Fatalf("series %d/%d: parameters differ", loc, sku)
			}
			a, b := easy.Demand(loc, sku, nil), hard.Demand(loc, sku, nil)
			for d := range a {
				easyUnits += a[d]
				hardUnits += b[d]
				if a[d] != b[d] {
					differ++
				}
			}
		}
	}
	if differ == 0 {
		t.Fatal("the hard world's demand equals the classic world's")
	}
	// The additive component and the holidays add some demand; the scale
	// stays the same.
	if r := float64(hardUnits) / float64(easyUnits); r < 0.9 || r > 1.5 {
		t.Errorf("hard world demand %d units, classic %d: ratio %.2f, want 0.9-1.5", hardUnits, easyUnits, r)
	}
}

func TestHardPromotionsChangeAfterPublicationAndDifferPerStore(t *testing.T) {
	w, err := New(Config{Seed: 5, Stores: 8, SKUs: 300, Days: 200, Hard: true})
	if err != nil {
		t.Fatal(err)
	}
	var cancelled, moved, silent, storeOnly int
	for sku, it := range w.Items() {
		for i := range it.Promotions {
			p := &it.Promotions[i]
			if p.StoreID != "" {
				storeOnly++
				other := (p.store) % w.NumStores() // another store (store is index+1)
				if p.Applies(other) || !p.Applies(p.store-1) {
					t.Fatalf("%s at %s applies to location %d", p.ID, p.StoreID, other)
				}
			}
			c := p.Change
			if c == nil {
				continue
			}
			if c.Cancelled {
				cancelled++
			} else {
				moved++
			}
			loc := max(p.store-1, 0)
			if c.Published < 0 {
				silent++
				c.Published = math.MaxInt32 // never: the feed keeps the plan
			}
			cases := []struct {
				name  string
				asOf  int
				start int
				gone  bool
			}{
				{"before the change is published the feed has the plan", min(c.Published, p.Start), p.Start, false},
				{"after it, the feed has the change", c.Published + 1, c.Start, c.Cancelled},
			}
			for _, tc := range cases {
				if tc.asOf <= p.PublishDay() || tc.asOf > w.Days()+PromotionNoticeDays {
					continue
				}
				got := w.PublishedPromotions(loc, sku, tc.asOf, nil)
				var found *Promotion
				for j := range got {
					if got[j].ID == p.ID {
						found = &got[j]
					}
				}
				switch {
				case tc.gone && found != nil:
					t.Errorf("%s: %s: still published as of day %d", p.ID, tc.name, tc.asOf)
				case !tc.gone && (found == nil || found.Start != tc.start):
					t.Errorf("%s: %s: as of day %d got %+v, want start %d", p.ID, tc.name, tc.asOf, found, tc.start)
				}
			}
			if c.Published == math.MaxInt32 {
				c.Published = -1
			}
			// Demand follows what ran, not the plan.
			s, e, ran := p.Ran()
			for d := p.Start; d < p.End && d < w.Days(); d++ {
				if got := w.PromotionAt(loc, sku, d); got == p && (!ran || d < s || d >= e) {
					t.Errorf("%s runs on day %d, planned but not run", p.ID, d)
				}
			}
		}
	}
	t.Logf("cancelled %d, moved %d (%d never published), store-specific %d", cancelled, moved, silent, storeOnly)
	if cancelled == 0 || moved == 0 || silent == 0 || storeOnly == 0 {
		t.Fatalf("cancelled %d, moved %d, silent %d, store-specific %d: want each > 0", cancelled, moved, silent, storeOnly)
	}
}

func TestPromotionResponseSaturates(t *testing.T) {
	cases := []struct {
		lo, hi float64 // discount steps compared
		want   string
	}{
		{5, 10, "small"},
		{15, 20, "steep"},
		{40, 50, "small"},
	}
	for _, c := range cases {
		step := promoCurve(c.hi) - promoCurve(c.lo)
		if step <= 0 {
			t.Fatalf("lift falls from %.0f%% to %.0f%%", c.lo, c.hi)
		}
		if (c.want == "steep") != (step > 0.5) {
			t.Errorf("lift step %.0f%%→%.0f%% = %.2f, want %s", c.lo, c.hi, step, c.want)
		}
	}
	if l := promoCurve(0); math.Abs(l-1) > 1e-9 {
		t.Errorf("lift at no discount %.3f, want 1", l)
	}
}

func TestHardWorldPublishesChangesAndStorePromotions(t *testing.T) {
	w, err := New(Config{Seed: 9, Stores: 4, SKUs: 200, Days: 120, Hard: true})
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if _, err := w.Generate(context.Background(), GenerateOptions{Sink: sink, TruthDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	var d schema.Decoder
	var cancelled, store int
	for _, r := range sink.recs {
		if r.Topic != schema.TopicPromotion {
			continue
		}
		p, err := d.Promotion(r.Value)
		if err != nil {
			continue // a malformed record
		}
		if p.Status == schema.PromotionCancelled {
			cancelled++
		}
		if p.LocationID != "" {
			store++
		}
	}
	if cancelled == 0 || store == 0 {
		t.Errorf("published %d cancellations and %d store promotions: want both", cancelled, store)
	}
}

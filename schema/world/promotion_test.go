package world

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

func TestTopicNamesAreTheInputStreamsInOrder(t *testing.T) {
	if !slices.Equal(topicNames[:], schema.Topics) {
		t.Errorf("generator topics %v, schema.Topics %v", topicNames, schema.Topics)
	}
}

// recordTime returns the time field a decoded record is published at.
func recordTime(v any) time.Time {
	switch x := v.(type) {
	case schema.POSTransaction:
		return x.EventTime
	case schema.InventoryRecord:
		return x.AsOf
	case schema.PurchaseOrderLine:
		return x.UpdatedAt
	case schema.ItemLocation:
		return x.UpdatedAt
	case schema.Promotion:
		return x.UpdatedAt
	}
	return time.Time{}
}

func TestEveryPromotionIsPublishedOnceAheadOfItsStart(t *testing.T) {
	liveStart := time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		cfg     Config
		badRate float64
		live    bool
	}{
		{"a backfill publishes each promotion once at 06:00 at headquarters", Config{Seed: 7, Stores: 3, SKUs: 60, Days: 90}, 0, false},
		{"a backfill with many malformed records still publishes each promotion once", Config{Seed: 8, Stores: 2, SKUs: 80, Days: 70}, 0.4, false},
		{"a world starting in summer time publishes in the summer offset", Config{Seed: 11, Stores: 1, SKUs: 50, Days: 60, Start: schema.NewDate(2026, time.June, 1)}, 0.02, false},
		{"live mode stamps promotions with the clock and keeps their notice", Config{Seed: 5, Stores: 1, SKUs: 40, Days: 45}, 0.05, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			opts := GenerateOptions{Sink: &memSink{}, TruthDir: t.TempDir(), BadRate: c.badRate}
			var mu sync.Mutex
			now := liveStart
			if c.live {
				opts.Rate = 1e9
				opts.Now = func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					now = now.Add(time.Millisecond)
					return now
				}
			}
			sum, err := w.Generate(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			recs := opts.Sink.(*memSink).recs
			liveEnd := now

			type promoKey struct{ id, sku string }
			want := map[promoKey]*Promotion{}
			skuIndex := map[string]int{}
			publishedOnDay0, publishedLater := 0, 0
			for i := range w.Items() {
				it := &w.Items()[i]
				skuIndex[it.ID] = i
				for j := range it.Promotions {
					p := &it.Promotions[j]
					want[promoKey{p.ID, it.ID}] = p
					if p.PublishDay() == 0 {
						publishedOnDay0++
					} else {
						publishedLater++
					}
				}
			}
			if publishedOnDay0 == 0 || publishedLater == 0 {
				t.Fatalf("test world publishes %d promotions on day 0 and %d later: want both", publishedOnDay0, publishedLater)
			}

			hq := &w.Locations()[0]
			seen := map[promoKey]int{}
			var valid, malformed int64
			prevDay, prevSKU, prevStart := 0, -1, 0
			for i, r := range recs {
				if r.Topic != schema.TopicPromotion {
					continue
				}
				p, err := schema.DecodePromotion(r.Value)
				if err != nil {
					// A malformed variant follows the valid record it was made
					// from, under the same key.
					malformed++
					if i == 0 || recs[i-1].Topic != schema.TopicPromotion || string(recs[i-1].Key) != string(r.Key) {
						t.Fatalf("malformed promotion %s does not follow its valid record", r.Value)
					}
					continue
				}
				valid++
				k := promoKey{p.PromotionID, p.SKU}
				wp, ok := want[k]
				if !ok {
					t.Fatalf("promotion %s is not in the world", r.Value)
				}
				seen[k]++
				if string(r.Key) != p.SKU || p.LocationID != "" || p.Status != schema.PromotionPlanned || int64(p.DiscountPct) != wp.DiscountPct {
					t.Fatalf("record keyed %s: %s; world promotion %+v", r.Key, r.Value, *wp)
				}
				published := schema.DateOf(p.UpdatedAt)
				if c.live {
					if p.UpdatedAt.Before(liveStart) || p.UpdatedAt.After(liveEnd) {
						t.Fatalf("%s stamped %s, the clock ran %s..%s", r.Value, p.UpdatedAt, liveStart, liveEnd)
					}
					if _, off := p.UpdatedAt.Zone(); off != offsetAt(p.UpdatedAt, hq.TZ) {
						t.Fatalf("%s: offset %d, headquarters (%s) %d", r.Value, off, hq.Zone, offsetAt(p.UpdatedAt, hq.TZ))
					}
					// The notice and the length survive the shift to the clock.
					if int(p.StartDate-published) != wp.Start-wp.PublishDay() || int(p.EndDate-p.StartDate) != wp.End-1-wp.Start {
						t.Fatalf("%s published on %s: world promotion %+v published on day %d", r.Value, published, *wp, wp.PublishDay())
					}
				} else {
					if p.StartDate != w.Date(wp.Start) || p.EndDate != w.Date(wp.End-1) {
						t.Fatalf("%s: world promotion %+v runs %s..%s", r.Value, *wp, w.Date(wp.Start), w.Date(wp.End-1))
					}
					at := localTime(hq, w.Date(wp.PublishDay()), 6*3600)
					if !p.UpdatedAt.Equal(at) || !strings.Contains(string(r.Value), `"updated_at":"`+at.Format(time.RFC3339)+`"`) {
						t.Fatalf("%s: want updated_at %s", r.Value, at.Format(time.RFC3339))
					}
					day := int(published - w.Date(0))
					if day != wp.PublishDay() || !(day == 0 || day <= wp.Start-PromotionNoticeDays) {
						t.Fatalf("%s published on day %d, starts on day %d", r.Value, day, wp.Start)
					}
					// Placed among the other streams by world time.
					if prev, next := neighbour(recs, i, -1), neighbour(recs, i, 1); prev.After(p.UpdatedAt) || next.Before(p.UpdatedAt) {
						t.Fatalf("%s between records at %s and %s", r.Value, prev, next)
					}
				}
				// Ordered by publish day, then SKU, then start.
				day, sku := wp.PublishDay(), skuIndex[p.SKU]
				if day < prevDay || day == prevDay && (sku < prevSKU || sku == prevSKU && wp.Start <= prevStart) {
					t.Fatalf("%s after a record of day %d, sku index %d, start day %d", r.Value, prevDay, prevSKU, prevStart)
				}
				prevDay, prevSKU, prevStart = day, sku, wp.Start
			}
			for k := range want {
				if seen[k] != 1 {
					t.Errorf("promotion %s of %s published %d times", k.id, k.sku, seen[k])
				}
			}
			if got := sum.Topics[schema.TopicPromotion]; got.Valid != valid || got.Malformed != malformed {
				t.Errorf("summary counts %+v, stream has %d valid and %d malformed", got, valid, malformed)
			}
			if c.badRate >= 0.4 && malformed == 0 {
				t.Errorf("no malformed promotion at bad rate %v", c.badRate)
			}
		})
	}
}

func offsetAt(t time.Time, loc *time.Location) int {
	_, off := t.In(loc).Zone()
	return off
}

// neighbour returns the time of the nearest valid record of another topic
// than erp.promotions before (dir −1) or after (dir 1) recs[i], or the zero
// time (before) or far future (after) if there is none.
func neighbour(recs []Record, i, dir int) time.Time {
	var d schema.Decoder
	for j := i + dir; j >= 0 && j < len(recs); j += dir {
		if recs[j].Topic == schema.TopicPromotion {
			continue
		}
		if v, _, err := decode(&d, recs[j].Topic, recs[j].Value); err == nil {
			return recordTime(v)
		}
	}
	if dir < 0 {
		return time.Time{}
	}
	return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
}

func TestMalformedPromotionsAreRejectedForTheirReason(t *testing.T) {
	valid := appendPromotion(nil, &schema.Promotion{
		SchemaVersion: schema.CurrentVersion, PromotionID: "PR-000042-03", SKU: "SKU000042",
		StartDate: schema.NewDate(2026, 3, 2), EndDate: schema.NewDate(2026, 3, 8), DiscountPct: 25,
		Status: schema.PromotionPlanned, UpdatedAt: time.Date(2026, 1, 26, 6, 0, 0, 0, time.FixedZone("", -5*3600)),
	})
	if _, err := schema.DecodePromotion(valid); err != nil {
		t.Fatalf("the valid promotion is rejected: %v", err)
	}
	cases := []struct {
		kind    badKind
		name    string
		reason  string
		variant []string // substrings of the reasons, each drawn at least once
	}{
		{badBrokenJSON, "broken_json", schema.ReasonMalformedJSON, nil},
		{badMissingField, "missing_field", schema.ReasonMissingField, requiredFields[topicPromo]},
		{badWrongType, "wrong_type", schema.ReasonWrongType, []string{"discount_pct", "start_date", "status", "updated_at"}},
		{badNegativePrice, "out_of_range", schema.ReasonInvalidValue, []string{"discount_pct 0 ", "discount_pct 100 ", "discount_pct -20 ", "discount_pct 150 ", "end_date"}},
		{badUnknownVersion, "unknown_schema_version", schema.ReasonUnknownVersion, nil},
		{badUnknownField, "unknown_field", schema.ReasonUnknownField, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("a promotion malformed as %s is rejected as %s", c.name, c.reason), func(t *testing.T) {
			if got := c.kind.name(topicPromo); got != c.name {
				t.Fatalf("kind named %s", got)
			}
			drawn := map[string]bool{}
			for seed := range uint64(200) {
				bad, why, err := malform(topicPromo, valid, c.kind, seed*0x9e3779b97f4a7c15)
				if err != nil {
					t.Fatal(err)
				}
				_, err = schema.DecodePromotion(bad)
				if err == nil {
					t.Fatalf("decoder accepted %s (%s)", bad, why)
				}
				if got := schema.ReasonOf(err); got != c.reason {
					t.Fatalf("%s (%s) rejected as %s: %v", bad, why, got, err)
				}
				for _, v := range c.variant {
					if strings.Contains(why, v) {
						drawn[v] = true
					}
				}
			}
			for _, v := range c.variant {
				if !drawn[v] {
					t.Errorf("no malformed record says %q", v)
				}
			}
		})
	}
}

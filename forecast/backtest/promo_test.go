package backtest

import (
	"math"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/schema"
)

func TestKnownPromotionsAreThoseAnOriginHadSeen(t *testing.T) {
	d0 := schema.NewDate(2026, time.March, 2)
	at := func(d schema.Date) time.Time { return d.Time().Add(6 * time.Hour) }
	row := func(id, loc string, pub schema.Date, start, end int, status schema.PromotionStatus) promoRow {
		return promoRow{PromotionID: id, SKU: "A", LocationID: loc, StartDate: d0 + schema.Date(start), EndDate: d0 + schema.Date(end),
			DiscountPct: 20, Status: string(status), UpdatedAt: at(pub), dt: pub}
	}
	feed := promoFeed{"A": {
		row("P1", "", d0, 40, 44, schema.PromotionPlanned),
		row("P1", "", d0+30, 46, 50, schema.PromotionPlanned), // moved, published on day 30
		row("P2", "", d0+1, 60, 63, schema.PromotionPlanned),
		row("P2", "", d0+20, 60, 63, schema.PromotionCancelled),
		row("P3", "S002", d0+2, 10, 12, schema.PromotionPlanned),
	}}
	cases := []struct {
		name string
		asOf int
		want []knownPromo
	}{
		{"before anything is published nothing is known", 0, nil},
		{"the plans as first published", 5, []knownPromo{
			{"S002", promo.Window{First: int(d0) + 10, Last: int(d0) + 12, DiscountPct: 20}},
			{"", promo.Window{First: int(d0) + 40, Last: int(d0) + 44, DiscountPct: 20}},
			{"", promo.Window{First: int(d0) + 60, Last: int(d0) + 63, DiscountPct: 20}}}},
		{"a cancellation published the day before removes it", 21, []knownPromo{
			{"S002", promo.Window{First: int(d0) + 10, Last: int(d0) + 12, DiscountPct: 20}},
			{"", promo.Window{First: int(d0) + 40, Last: int(d0) + 44, DiscountPct: 20}}}},
		{"a move published on the origin itself is not known yet", 30, []knownPromo{
			{"S002", promo.Window{First: int(d0) + 10, Last: int(d0) + 12, DiscountPct: 20}},
			{"", promo.Window{First: int(d0) + 40, Last: int(d0) + 44, DiscountPct: 20}}}},
		{"the day after, the moved dates are", 31, []knownPromo{
			{"S002", promo.Window{First: int(d0) + 10, Last: int(d0) + 12, DiscountPct: 20}},
			{"", promo.Window{First: int(d0) + 46, Last: int(d0) + 50, DiscountPct: 20}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := feed.known(d0 + schema.Date(c.asOf))["A"]
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%d: got %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestPromotionResponseFromThePanel(t *testing.T) {
	// Two stores sell 4 units a day of A, 8 during its 20%-off promotions
	// (elasticity 5) and 2 on the three days after.
	start := schema.NewDate(2026, time.January, 1)
	p := &panel{start: start, days: 200, index: map[seriesKey]int{}}
	var known []knownPromo
	for k := range 4 {
		first := 40 + 35*k
		known = append(known, knownPromo{w: promo.Window{First: int(start) + first, Last: int(start) + first + 4, DiscountPct: 20}})
	}
	for _, st := range []string{"S1", "S2"} {
		i := p.series(seriesKey{st, "A"})
		for d := range p.days {
			p.demand[i][d] = 4
			for _, q := range known {
				switch f := int(start) + d; {
				case f >= q.w.First && f <= q.w.Last:
					p.demand[i][d] = 8
				case f > q.w.Last && f <= q.w.Last+promo.DipDays:
					p.demand[i][d] = 2
				}
			}
		}
	}
	p.dept = []string{"Grocery", "Grocery"}
	m := promoResponse(p, map[string][]knownPromo{"A": known}, start, start+200)
	e := m.Pooled()
	if e.Observations != 4 || math.Abs(e.Elasticity-5) > 1e-6 || math.Abs(e.Dip-0.5) > 1e-6 {
		t.Errorf("response %+v: want 4 observations, elasticity 5, dip 0.5", e)
	}
}

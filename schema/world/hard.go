package world

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// The hard world (Config.Hard) keeps the classic world's stores, items,
// suppliers, closures and parameters, and changes how demand is made, so
// that a forecaster is not judged on the very forms the generator uses:
//
//   - Promotion lift is a saturating (logistic) function of the discount —
//     little below 10%, steep around 18%, flat above 30% — times an
//     elasticity per store, per department and per item; the dip after a
//     promotion lasts 1–6 days at 60–95% of normal demand, per promotion.
//   - After publication, 8% of the promotions are cancelled and 12% moved
//     by 2–10 days (a few change length too). Half the changes reach the
//     ERP's feed 1–7 days before the earlier of the old and new start; the
//     others never do: the feed keeps saying what the stores did not do.
//   - Besides the chain-wide ones, items run store-specific promotions
//     (published with the store's location_id).
//   - Moving holidays (Easter, Ascension, Whit Monday, Corpus Christi, bank
//     holidays, Father's Day, Independence Day, San Juan, …) pull demand
//     into the days before them and depress the day itself and the one
//     after; none of this is in the closure calendar.
//   - A quarter of the series shift level (×0.6–1.6) on a day of their own
//     and change trend from then on; each store has its own weekday
//     profile; fast and slow movers have an additive component that
//     follows no weekday, season or promotion; and daily demand is
//     gamma-Poisson (negative binomial) with a per-series shape.
type hardWorld struct {
	// storeElast[loc] scales promotion response at a store; wk[loc] is the
	// store's weekday tilt (Sunday first, mean 1).
	storeElast []float64
	wk         [][7]float64
	// deptElast scales promotion response per department.
	deptElast map[string]float64
	// itemElast[sku] scales promotion response per item.
	itemElast []float64
	// hol[country][day] is the moving-holiday multiplier of stores.
	hol [][]float32
	// wd0 is the weekday of day 0.
	wd0 int
}

// hardSeries is the hard world's part of a seriesInfo.
type hardSeries struct {
	events   []promoEvent
	wk       *[7]float64
	hol      []float32
	wd0      int
	shiftDay int
	shift    float64
	trend2   float64
	add      float64 // additive units a day on open days
	shape    float64 // gamma shape of the daily rate; 0: none
}

// promoEvent is a promotion as it ran at one store.
type promoEvent struct {
	start, end, dipEnd int
	lift, dip          float64
}

// Construction streams of the hard world (after the classic ones).
const (
	streamHardStore uint64 = 0x51_0000_0100 + iota
	streamHardItem
	streamHardDept
)

// purposeHard draws a series' hard-world attributes.
const purposeHard uint64 = 0x4a52

// promoCurve is the chain's typical lift at a discount of pct percent: a
// logistic step from about 1.0 to 3.6 centred on 18%.
func promoCurve(pct float64) float64 {
	const top, mid, width = 2.6, 18.0, 4.0
	f := func(x float64) float64 { return top / (1 + math.Exp(-(x-mid)/width)) }
	return 1 + f(pct) - f(0)
}

func (w *World) buildHard() {
	h := &hardWorld{deptElast: map[string]float64{}, wd0: int(w.cfg.Start.Weekday())}
	w.hard = h
	for i := range w.locs {
		r := pcg(w.cfg.Seed, streamHardStore, uint64(i))
		h.storeElast = append(h.storeElast, math.Exp(0.35*r.NormFloat64()))
		var wk [7]float64
		var sum float64
		for d := range wk {
			wk[d] = math.Exp(0.12 * r.NormFloat64())
			sum += wk[d]
		}
		for d := range wk {
			wk[d] *= 7 / sum
		}
		h.wk = append(h.wk, wk)
	}
	for i, c := range categories {
		if _, ok := h.deptElast[c.dept]; !ok {
			r := pcg(w.cfg.Seed, streamHardDept, uint64(i))
			h.deptElast[c.dept] = 0.5 + 1.1*r.Float64()
		}
	}
	for ci := range countries {
		row := make([]float32, w.cfg.Days)
		for d := range row {
			row[d] = float32(movingHoliday(ci, w.Date(d)))
		}
		h.hol = append(h.hol, row)
	}
	for sku := range w.items {
		w.hardPromotions(sku)
	}
}

// hardPromotions redraws the discounts of item sku's chain-wide
// promotions, decides their changes after publication and adds
// store-specific promotions.
func (w *World) hardPromotions(sku int) {
	it := &w.items[sku]
	h := w.hard
	r := pcg(w.cfg.Seed, streamHardItem, uint64(sku))
	h.itemElast = append(h.itemElast, math.Exp(0.2*r.NormFloat64()))
	discounts := []int64{5, 10, 15, 20, 25, 30, 40, 50}
	ps := it.Promotions
	for i := range ps {
		ps[i].DiscountPct = discounts[r.IntN(len(discounts))]
	}
	// Store-specific promotions: some items run a few at single stores.
	if w.cfg.Stores > 1 && it.Profile != Intermittent && r.Float64() < 0.35 {
		n := 1 + r.IntN(3)
		for k := range n {
			st := r.IntN(w.cfg.Stores)
			start := 3 + r.IntN(max(w.cfg.Days+PromotionNoticeDays-10, 1))
			ps = append(ps, Promotion{
				ID:    fmt.Sprintf("PR-%s-%s-%02d", it.ID[3:], w.locs[st].ID, k+1),
				Start: start, End: start + 3 + r.IntN(5), DiscountPct: discounts[r.IntN(len(discounts))],
				StoreID: w.locs[st].ID, store: st + 1,
			})
		}
		slices.SortStableFunc(ps, func(a, b Promotion) int { return a.Start - b.Start })
	}
	for i := range ps {
		p := &ps[i]
		p.Lift = promoCurve(float64(p.DiscountPct))
		p.dipDays = 1 + r.IntN(6)
		p.dipDepth = 0.6 + 0.35*r.Float64()
		u := r.Float64()
		// A promotion published on day 0 is already under way or about to
		// be: only those with time between publication and start change.
		if p.Start-p.PublishDay() < 8 || u >= 0.2 {
			continue
		}
		c := &PromotionChange{Cancelled: u < 0.08, Start: p.Start, End: p.End, Published: -1}
		if !c.Cancelled {
			shift := 2 + r.IntN(9)
			if r.IntN(2) == 0 {
				shift = -shift
			}
			c.Start = max(p.Start+shift, p.PublishDay()+1)
			c.End = c.Start + max(p.End-p.Start+r.IntN(3)-1, 1)
		}
		if r.IntN(2) == 0 {
			c.Published = max(min(p.Start, c.Start)-1-r.IntN(7), p.PublishDay()+1)
		}
		p.Change = c
	}
	it.Promotions = ps
}

// movingHoliday is the hard world's demand multiplier of date at stores in
// country ci: moving holidays pull demand into the days before them and
// depress the day itself and the day after.
func movingHoliday(ci int, date schema.Date) float64 {
	y := date.Time().Year()
	e := easter(y)
	// around applies a pre-holiday ramp before holiday h (strength s).
	m := 1.0
	around := func(h schema.Date, s float64) {
		switch int(date - h) {
		case -3:
			m *= 1 + 0.3*s
		case -2:
			m *= 1 + 0.5*s
		case -1:
			m *= 1 + 0.8*s
		case 0:
			m *= 1 - 0.4*s
		case 1:
			m *= 1 - 0.2*s
		}
	}
	around(e, 0.6) // Easter, everywhere
	switch countries[ci].code {
	case "US":
		around(nthWeekday(y, time.May, time.Monday, -1), 0.4)      // Memorial Day
		around(nthWeekday(y, time.June, time.Sunday, 3), 0.3)      // Father's Day
		around(schema.NewDate(y, time.July, 4), 0.6)               // Independence Day
		around(nthWeekday(y, time.September, time.Monday, 1), 0.4) // Labor Day
	case "GB":
		around(nthWeekday(y, time.May, time.Monday, 1), 0.4)
		around(nthWeekday(y, time.May, time.Monday, -1), 0.4)
		around(nthWeekday(y, time.August, time.Monday, -1), 0.5)
		around(nthWeekday(y, time.June, time.Sunday, 3), 0.3)
	case "DE":
		around(e+39, 0.5) // Ascension
		around(e+50, 0.5) // Whit Monday
		around(e+60, 0.4) // Corpus Christi
	case "FR":
		around(e+39, 0.5)
		around(e+50, 0.4)
		around(schema.NewDate(y, time.July, 14), 0.5)
		around(schema.NewDate(y, time.August, 15), 0.4)
	case "ES":
		around(e+60, 0.3)
		around(schema.NewDate(y, time.June, 24), 0.5) // San Juan
		around(schema.NewDate(y, time.August, 15), 0.4)
	}
	return max(m, 0.2)
}

// hardSeriesInfo fills si's hard-world part for (loc, sku).
func (w *World) hardSeriesInfo(si *seriesInfo) {
	h := w.hard
	hs := &si.hs
	ev := hs.events[:0]
	*hs = hardSeries{shiftDay: -1, shift: 1, wd0: h.wd0}
	l := &w.locs[si.loc]
	it := &w.items[si.sku]
	if l.Kind == KindStore {
		hs.wk = &h.wk[si.loc]
		hs.hol = h.hol[l.country]
	}
	r := streamAt(si.key, -1, purposeHard)
	elast := h.storeElast[si.loc] * h.deptElast[it.Department] * h.itemElast[si.sku]
	if l.Kind == KindDC {
		elast *= 0.5 // e-commerce responds less to shelf promotions
	}
	for i := range it.Promotions {
		p := &it.Promotions[i]
		if !p.Applies(si.loc) {
			continue
		}
		s, e, ok := p.Ran()
		if !ok {
			continue
		}
		ev = append(ev, promoEvent{start: s, end: e, dipEnd: e + p.dipDays,
			lift: max(1+(p.Lift-1)*elast, 1), dip: p.dipDepth})
	}
	slices.SortFunc(ev, func(a, b promoEvent) int { return a.start - b.start })
	hs.events = ev
	if w.cfg.Days > 40 && r.Float64() < 0.25 {
		hs.shiftDay = 30 + r.IntN(w.cfg.Days-40)
		hs.shift = min(max(math.Exp(0.3*r.Norm()), 0.6), 1.6)
		hs.trend2 = min(max(0.3*r.Norm(), -0.6), 0.6)
	}
	switch si.profile {
	case Fast:
		hs.add = si.base * (0.05 + 0.2*r.Float64())
		hs.shape = 1.5 + 4.5*r.Float64()
	case Slow:
		hs.add = si.base * (0.05 + 0.2*r.Float64())
		hs.shape = 2 + 8*r.Float64()
	}
	si.noise = 0 // the gamma mixing replaces the log-normal noise
}

// hardRate is the hard world's expected-demand multiplier of day, given the
// calendar multiplier m > 0.
func (si *seriesInfo) hardRate(day int, m float64) float64 {
	hs := &si.hs
	if hs.wk != nil {
		m *= hs.wk[(hs.wd0+day)%7] * float64(hs.hol[day])
	}
	t := si.trend * float64(day) / 365
	if hs.shiftDay >= 0 && day >= hs.shiftDay {
		m *= hs.shift
		t += hs.trend2 * float64(day-hs.shiftDay) / 365
	}
	m *= max(0.2, 1+t)
	for i := range hs.events {
		e := &hs.events[i]
		if day < e.start {
			break
		}
		if day < e.end {
			return m * e.lift
		}
		if day < e.dipEnd && (i+1 == len(hs.events) || hs.events[i+1].start > day) {
			return m * e.dip
		}
	}
	return m
}

// hardDemand draws the hard world's demand of day with rate multiplier m > 0.
func (si *seriesInfo) hardDemand(m float64, r *stream) int64 {
	if si.profile == Intermittent {
		if r.Float64() >= min(si.base*m, 0.95) {
			return 0
		}
		return 1 + r.poisson(si.lump-1)
	}
	lam := si.base * m
	if si.hs.shape > 0 {
		lam *= r.gamma(si.hs.shape) / si.hs.shape
	}
	return r.poisson(lam + si.hs.add)
}

// gamma draws a Gamma(k, 1) value, k ≥ 1 (Marsaglia and Tsang).
func (r *stream) gamma(k float64) float64 {
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for range 64 {
		x := r.Norm()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
	return k
}

// PromotionRecord is one state of a promotion the ERP publishes on
// erp.promotions: on day Day, that promotion P runs on days [Start, End)
// (at StoreID's store, or chain-wide), or is cancelled.
type PromotionRecord struct {
	Day        int
	P          *Promotion
	Start, End int
	Cancelled  bool
}

// PromotionFeed returns the records the ERP publishes for sku's promotions
// within the world's days, by day: each promotion on its publish day, and
// its change, if any, on the day that is published.
func (w *World) PromotionFeed(sku int) []PromotionRecord {
	ps := w.items[sku].Promotions
	var out []PromotionRecord
	for i := range ps {
		p := &ps[i]
		out = append(out, PromotionRecord{Day: p.PublishDay(), P: p, Start: p.Start, End: p.End})
		if c := p.Change; c != nil && c.Published >= 0 && c.Published < w.cfg.Days {
			out = append(out, PromotionRecord{Day: c.Published, P: p, Start: c.Start, End: c.End, Cancelled: c.Cancelled})
		}
	}
	slices.SortStableFunc(out, func(a, b PromotionRecord) int { return a.Day - b.Day })
	return out
}

// PublishedPromotions appends to dst the promotions of sku at location loc
// as the ERP had published them before day asOf (published on an earlier
// day): with their published change applied, those published as cancelled
// left out. What the stores did without telling the feed is not there.
func (w *World) PublishedPromotions(loc, sku, asOf int, dst []Promotion) []Promotion {
	ps := w.items[sku].Promotions
	for i := range ps {
		p := ps[i]
		if !p.Applies(loc) || p.PublishDay() >= asOf {
			continue
		}
		if c := p.Change; c != nil && c.Published >= 0 && c.Published < asOf {
			if c.Cancelled {
				continue
			}
			p.Start, p.End = c.Start, c.End
		}
		dst = append(dst, p)
	}
	return dst
}

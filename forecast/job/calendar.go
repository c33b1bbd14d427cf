package job

import (
	"time"

	"github.com/shelflake/shelflake/forecast/engine"
	"github.com/shelflake/shelflake/schema"
)

// A location's trading calendar, learned from its own sales: a day on which
// none of its series sold is a day it did not trade, and such a day is
// closed (missing to the models, not zero demand) when it is
//
//   - on a closed weekday: one with no trade over the last 13 weeks while
//     the location traded on at least calRecentTrades other days then (a
//     location trading less often looks back over its whole history, and
//     needs calSparseTrades trading days): a shop shut on Saturdays;
//   - or a holiday closure: an open weekday the location did not trade on
//     although it traded on at least calRegular of its open weekdays over
//     its history and calLocal of them in the four weeks either side (a
//     location selling a few days a week has no holidays to learn: its
//     quiet days are quiet, not closed).
//
// A location with too few trading days to learn its weekdays takes the
// closed weekdays every location of the training bucket (the first whole
// locations, see the package doc) that learned them shares (a chain shut
// on Sundays), where it never traded on them: the same in every bucket and
// every shard.
//
// A forecast day is closed on a closed weekday, and on the date one year
// after a holiday closure or a closed weekday inside one (Christmas), unless two years of history show the
// date traded the year before that (a one-off closure).
const (
	calRecentDays   = 91
	calRecentTrades = 30
	calSparseTrades = 40
	calRegular      = 0.85
	calLocal        = 0.6
	calRegularDays  = 28
)

// calendar is one location's trading calendar.
type calendar struct {
	// closed marks the history days [H, A) the location was closed on,
	// indexed from H; ahead the closed forecast days from A.
	closed, ahead []bool
	// weekdays are the closed weekdays (by time.Weekday); learned says
	// whether the location had enough trading days to learn them.
	weekdays [7]bool
	learned  bool
	holidays int
}

// learnCalendar learns the calendar of a location that traded on the days
// traded (indexed from hist) and is forecast for days days from hist +
// len(traded).
// A location that cannot learn its weekdays takes those of shared, when
// not nil.
func learnCalendar(traded []bool, hist schema.Date, days int, shared *[7]bool) *calendar {
	n := len(traded)
	c := &calendar{closed: make([]bool, n), ahead: make([]bool, days)}
	first := 0
	for first < n && !traded[first] {
		first++
	}
	if first == n {
		return c
	}
	wd := func(i int) time.Weekday { return (hist + schema.Date(i)).Weekday() }
	// Closed weekdays.
	lo := max(first, n-calRecentDays)
	if trades(traded[lo:]) < calRecentTrades {
		lo = first
		if trades(traded[lo:]) < calSparseTrades {
			lo = n
		}
	}
	if lo < n {
		var seen, sold [7]int
		for i := lo; i < n; i++ {
			seen[wd(i)]++
			if traded[i] {
				sold[wd(i)]++
			}
		}
		for d := range 7 {
			c.weekdays[d] = seen[d] >= 4 && sold[d] == 0
		}
		c.learned = true
	} else if shared != nil {
		var sold [7]int
		for i := first; i < n; i++ {
			if traded[i] {
				sold[wd(i)]++
			}
		}
		for d := range 7 {
			c.weekdays[d] = shared[d] && sold[d] == 0
		}
	}
	for i := first; i < n; i++ {
		if !traded[i] && c.weekdays[wd(i)] {
			c.closed[i] = true
		}
	}
	// Holiday closures: prefix counts of open-weekday days and trades.
	open := make([]int, n+1)
	sold := make([]int, n+1)
	for i := range n {
		open[i+1], sold[i+1] = open[i], sold[i]
		if i >= first && !c.weekdays[wd(i)] {
			open[i+1]++
			if traded[i] {
				sold[i+1]++
			}
		}
	}
	holiday := make([]bool, n)
	regular := open[n] >= 28 && float64(sold[n]) >= calRegular*float64(open[n])
	for i := first; regular && i < n; i++ {
		if traded[i] || c.weekdays[wd(i)] {
			continue
		}
		a, b := max(i-calRegularDays, first), min(i+calRegularDays+1, n)
		days := open[b] - open[a] - 1
		trades := sold[b] - sold[a]
		if days >= 10 && float64(trades) >= calLocal*float64(days) {
			holiday[i], c.closed[i] = true, true
			c.holidays++
		}
	}
	// The forecast days.
	asOf := hist + schema.Date(n)
	for h := range days {
		d := asOf + schema.Date(h)
		if c.weekdays[d.Weekday()] {
			c.ahead[h] = true
			continue
		}
		y1 := int(schema.DateOf(d.Time().AddDate(-1, 0, 0)) - hist)
		y2 := int(schema.DateOf(d.Time().AddDate(-2, 0, 0)) - hist)
		// A closed weekday inside last year's closure counts as part of it.
		closure := func(i int) bool {
			return i >= first && i < n && (holiday[i] || c.weekdays[wd(i)] && i > 0 && i+1 < n && holiday[i-1] && holiday[i+1])
		}
		if closure(y1) && !(y2 >= first && y2 < n && traded[y2]) {
			c.ahead[h] = true
		}
	}
	return c
}

func trades(traded []bool) int {
	n := 0
	for _, t := range traded {
		if t {
			n++
		}
	}
	return n
}

// calendars learns the trading calendar of every location in batches (whole
// locations) from the days any of its series sold, and marks each series'
// closed history days (Batch.Closed) and closed forecast days
// (Batch.ClosedAhead). The calendars are added to sum.
func (r *runner) calendars(batches []*engine.Batch, sum *calSummary) {
	n := int(r.o.AsOf - r.histStart)
	traded := map[string][]bool{}
	for _, b := range batches {
		for i, id := range b.Keys {
			a := &r.attrs[id]
			tr := traded[a.loc]
			if tr == nil {
				tr = make([]bool, n)
				traded[a.loc] = tr
			}
			off := int(a.start - r.histStart)
			for t := b.Offsets[i]; t < b.Offsets[i+1]; t++ {
				if b.Values[t] > 0 {
					tr[off+int(t-b.Offsets[i])] = true
				}
			}
		}
	}
	cals := map[string]*calendar{}
	var shared [7]bool
	learned := 0
	for loc, tr := range traded {
		c := learnCalendar(tr, r.histStart, r.o.Model.ForecastDays, nil)
		cals[loc] = c
		if c.learned {
			if learned == 0 {
				shared = c.weekdays
			}
			for d := range shared {
				shared[d] = shared[d] && c.weekdays[d]
			}
			learned++
		}
	}
	if r.sharedCal == nil {
		// The first calendars of a run are the training bucket's.
		r.sharedCal = &sharedCalendar{Weekdays: shared, Learned: learned > 0}
	}
	shared, learned = r.sharedCal.Weekdays, 0
	if r.sharedCal.Learned {
		learned = 1
	}
	for loc, c := range cals {
		if !c.learned && learned > 0 {
			c = learnCalendar(traded[loc], r.histStart, r.o.Model.ForecastDays, &shared)
			cals[loc] = c
		}
		sum.add(c)
	}
	for _, b := range batches {
		b.Closed = make([]bool, len(b.Values))
		b.ClosedAhead = make([][]bool, b.Len())
		for i, id := range b.Keys {
			a := &r.attrs[id]
			c := cals[a.loc]
			off := int(a.start - r.histStart)
			lo, hi := int(b.Offsets[i]), int(b.Offsets[i+1])
			copy(b.Closed[lo:hi], c.closed[off:off+hi-lo])
			b.ClosedAhead[i] = c.ahead
		}
	}
}

// calSummary sums the calendars of a run, for forecast_runs.parameters.
type calSummary struct {
	Locations          int            `json:"locations"`
	ClosedWeekdays     map[string]int `json:"closed_weekdays"`
	HolidayClosures    int            `json:"holiday_closures"`
	ClosedForecastDays int            `json:"closed_forecast_days"`
}

func (s *calSummary) add(c *calendar) {
	s.Locations++
	if s.ClosedWeekdays == nil {
		s.ClosedWeekdays = map[string]int{}
	}
	for d, closed := range c.weekdays {
		if closed {
			s.ClosedWeekdays[time.Weekday(d).String()]++
		}
	}
	s.HolidayClosures += c.holidays
	for _, a := range c.ahead {
		if a {
			s.ClosedForecastDays++
		}
	}
}

// The yearly ramp: where a location's history covers last year's coming
// rampDays days and the rampDays before them (364 days back, same
// weekdays), the ratio of their total demand over the location's series is
// last year's seasonal change over the horizon (a pre-Christmas ramp). The
// series' forecasts are multiplied by it, shrunk halfway towards 1 and
// bounded to [rampMin, rampMax]: one year is one observation. Without such
// history (or with under rampMinUnits units in either window) the ramp is
// 1.
const (
	rampDays     = 28
	rampShrink   = 0.5
	rampMin      = 0.67
	rampMax      = 1.5
	rampMinUnits = 100
)

// ramps sets every series' yearly ramp (seriesAttr.ramp) from the daily
// demand of its location's series in batches (whole locations).
func (r *runner) ramps(batches []*engine.Batch) {
	n := int(r.o.AsOf - r.histStart)
	from := n - 364 - rampDays // last year's preceding window, then its coming one
	type sums struct {
		before, after float64
		covered       bool
	}
	locs := map[string]*sums{}
	for _, b := range batches {
		for i, id := range b.Keys {
			a := &r.attrs[id]
			s := locs[a.loc]
			if s == nil {
				s = &sums{}
				locs[a.loc] = s
			}
			off := int(a.start - r.histStart)
			if from < 0 || off > from {
				continue
			}
			s.covered = true
			for d := from; d < from+2*rampDays; d++ {
				t := int(b.Offsets[i]) + d - off
				if (b.Censored != nil && b.Censored[t]) || (b.Promo != nil && b.Promo[t]) {
					continue
				}
				if d < from+rampDays {
					s.before += float64(b.Values[t])
				} else {
					s.after += float64(b.Values[t])
				}
			}
		}
	}
	for _, b := range batches {
		for _, id := range b.Keys {
			a := &r.attrs[id]
			a.ramp = 1
			if s := locs[a.loc]; s.covered && s.before >= rampMinUnits && s.after >= rampMinUnits {
				a.ramp = min(max(1+rampShrink*(s.after/s.before-1), rampMin), rampMax)
			}
		}
	}
}

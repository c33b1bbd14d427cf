package backtest

import (
	"fmt"
	"time"

	"github.com/shelflake/shelflake/forecast/model"
	"github.com/shelflake/shelflake/schema"
)

// Method names, in the order of Result.Methods: Ours first, then the
// baselines.
const (
	Ours        = "ours"
	Naive       = "naive"
	SNaive      = "snaive"
	MA7         = "ma7"
	MA28        = "ma28"
	SES         = "ses"
	CrostonSBA  = "croston_sba"
	TSB         = "tsb"
	HoltWinters = "hw_mul"
	Combination = "comb"
)

// Methods lists every scored method: Ours and the baselines.
var Methods = []string{Ours, Naive, SNaive, MA7, MA28, SES, CrostonSBA, TSB, HoltWinters, Combination}

// Baselines describes each baseline, for reports.
var Baselines = map[string]string{
	Naive:       "last trading day's demand",
	SNaive:      "demand of the same weekday one week earlier (the latest earlier week the location traded that weekday)",
	MA7:         "mean demand over the trading days of the last 7 days",
	MA28:        "mean demand over the trading days of the last 28 days",
	SES:         "simple exponential smoothing (forecast/model SES, fitted per series)",
	CrostonSBA:  "Croston with the Syntetos-Boylan correction (forecast/model)",
	TSB:         "Teunter-Syntetos-Babai (forecast/model)",
	HoltWinters: "Holt-Winters, multiplicative weekly season (forecast/model hw_mul)",
	Combination: "mean of ses, ma28 and croston_sba",
}

// modelKinds are the baselines computed by forecast/model, by method index.
var modelKinds = map[int]model.Kind{5: model.SES, 6: model.CrostonSBA, 7: model.TSB, 8: model.HoltWintersMul}

const (
	// calendarWeeks is how many weeks back a weekday's trading is judged.
	calendarWeeks = 8
	// minWeekdays is the fewest occurrences of a weekday in those weeks
	// (within the location's life) for it to be judged closed.
	minWeekdays = 4
)

// calendar is one location's trading calendar at an origin: which history
// days and which forecast days it does not trade on.
type calendar struct {
	// histClosed[d] for the days of the history window (day 0 =
	// window start): a closed weekday or a holiday (see locationCalendar),
	// or before the location's first sale.
	histClosed []bool
	// fcClosed[h] for the forecast days.
	fcClosed []bool
}

// locationCalendar derives the calendar of a location from its observed
// trading days open (panel days) for the history [hs, asOf) and the
// horizon days from asOf. A day without any sale at the location is not
// closed by itself (a location with a few orders a week has many days
// without one, and they are days of zero demand); it is closed when
//
//   - its weekday is closed: the location sold nothing on any of its (at
//     least minWeekdays) occurrences in the last calendarWeeks weeks
//     before the origin (for history days: in the window's weeks around
//     the day);
//   - or it is a holiday: the location sold nothing that day but did on
//     the same weekday both a week before and a week after (for a
//     forecast day: the same calendar date a year earlier was a holiday).
func locationCalendar(p *panel, open []bool, hs, asOf schema.Date, horizon int) calendar {
	at := func(d schema.Date) (bool, bool) { // open, known
		if d >= asOf {
			return false, false
		}
		i := p.day(d)
		if i < 0 || i >= len(open) {
			return false, false
		}
		return open[i], true
	}
	first := schema.Date(-1)
	for i, o := range open {
		if d := p.start + schema.Date(i); o && d < asOf {
			first = d
			break
		}
	}
	c := calendar{histClosed: make([]bool, int(asOf-hs)), fcClosed: make([]bool, horizon)}
	if first < 0 {
		for d := range c.histClosed {
			c.histClosed[d] = true
		}
		return c
	}
	// closedWeekday reports whether weekday wd had no sale in the
	// calendarWeeks weeks ending at end (exclusive), from the first sale.
	closedWeekday := func(wd time.Weekday, end schema.Date) bool {
		seen := 0
		for d := end - 7*calendarWeeks; d < end; d++ {
			if d.Weekday() != wd || d < first {
				continue
			}
			o, ok := at(d)
			if !ok {
				continue
			}
			if o {
				return false
			}
			seen++
		}
		return seen >= minWeekdays
	}
	holiday := func(d schema.Date) bool {
		o, ok := at(d)
		if !ok || o || d < first {
			return false
		}
		before, _ := at(d - 7)
		after, _ := at(d + 7)
		return before && after
	}
	for d := hs; d < asOf; d++ {
		if o, _ := at(d); o {
			continue
		}
		// The weeks around d, within the history.
		end := min(d+7*calendarWeeks/2, asOf)
		c.histClosed[d-hs] = d < first || closedWeekday(d.Weekday(), end) || holiday(d)
	}
	var closedWD [7]bool
	for wd := range 7 {
		closedWD[wd] = closedWeekday(time.Weekday(wd), asOf)
	}
	for h := range horizon {
		f := asOf + schema.Date(h)
		c.fcClosed[h] = closedWD[f.Weekday()] || holiday(schema.DateOf(f.Time().AddDate(-1, 0, 0)))
	}
	return c
}

// baseliner computes the baselines of one series; one per goroutine.
type baseliner struct {
	horizon int
	fits    map[int]*model.Scratch
	res     model.Result
	vals    []float32
	mask    []bool
}

func newBaseliner(horizon int) (*baseliner, error) {
	b := &baseliner{horizon: horizon, fits: map[int]*model.Scratch{}}
	for m, k := range modelKinds {
		s, err := model.NewScratch(model.Options{Candidates: []model.Kind{k}, ForecastDays: horizon})
		if err != nil {
			return nil, fmt.Errorf("baseline %s: %w", k, err)
		}
		b.fits[m] = s
	}
	return b, nil
}

// forecast writes the forecasts of every baseline (out[m] for method index
// m ≥ 1 of Methods; each of length horizon) of the series whose history is
// y (the history window's days, oldest first) under calendar c. A series
// starts at its first positive day; before that, and on closed days, there
// is no observation. Closed forecast days get 0, and every baseline's level
// applies to trading days only.
func (b *baseliner) forecast(y []float64, c calendar, out [][]float64) error {
	for m := 1; m < len(out); m++ {
		clear(out[m])
	}
	start := 0
	for start < len(y) && y[start] <= 0 {
		start++
	}
	if start == len(y) {
		return nil // no demand yet: every baseline says 0
	}
	hist, closed := y[start:], c.histClosed[start:]
	n := len(hist)
	// mean is the mean of the trading days among the last k days.
	mean := func(k int) float64 {
		var s float64
		var cnt int
		for t := max(n-k, 0); t < n; t++ {
			if !closed[t] {
				s += hist[t]
				cnt++
			}
		}
		if cnt == 0 {
			return 0
		}
		return s / float64(cnt)
	}
	last := 0.0
	for t := n - 1; t >= 0; t-- {
		if !closed[t] {
			last = hist[t]
			break
		}
	}
	ma7, ma28 := mean(7), mean(28)
	for h := range b.horizon {
		out[1][h], out[3][h], out[4][h] = last, ma7, ma28
		out[2][h] = last // seasonal naive falls back to naive
		for t := n + h - 7; t >= 0; t -= 7 {
			if t < n && !closed[t] {
				out[2][h] = hist[t]
				break
			}
		}
	}
	if cap(b.vals) < n {
		b.vals, b.mask = make([]float32, n), make([]bool, n)
	}
	b.vals, b.mask = b.vals[:n], b.mask[:n]
	for t := range n {
		b.vals[t], b.mask[t] = float32(hist[t]), closed[t]
	}
	// Closed days go in as missing (the Promo mask: no error, no update).
	in := model.Series{Values: b.vals, Promo: b.mask}
	for m, s := range b.fits {
		if err := s.Fit(in, &b.res); err != nil {
			return fmt.Errorf("baseline %s: %w", Methods[m], err)
		}
		copy(out[m], b.res.Forecast[:b.horizon])
	}
	for h := range b.horizon {
		out[9][h] = (out[5][h] + out[4][h] + out[6][h]) / 3
	}
	for m := 1; m < len(out); m++ {
		for h, shut := range c.fcClosed {
			if shut {
				out[m][h] = 0
			}
		}
	}
	return nil
}

package backtest

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

// week repeats a 7-day pattern n times.
func week(n int, pattern ...float64) []float64 {
	var out []float64
	for range n {
		out = append(out, pattern...)
	}
	return out
}

func closedWhereZero(y []float64) []bool {
	out := make([]bool, len(y))
	for i, v := range y {
		out[i] = v == 0
	}
	return out
}

func TestBaselines(t *testing.T) {
	const h = 7
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		y    []float64
		cal  calendar
		// want per method index (NaN: not checked); tol for the fitted ones.
		want map[string][]float64
		tol  float64
	}{{
		// Shut on the 7th day of each week: the level is 10 per trading
		// day, not 10·6/7, and the shut forecast day is 0 for everyone.
		name: "closed day each week",
		y:    week(8, 10, 10, 10, 10, 10, 10, 0),
		cal:  calendar{histClosed: closedWhereZero(week(8, 10, 10, 10, 10, 10, 10, 0)), fcClosed: []bool{false, false, false, false, false, false, true}},
		want: map[string][]float64{
			Naive: {10, 10, 10, 10, 10, 10, 0}, SNaive: {10, 10, 10, 10, 10, 10, 0},
			MA7: {10, 10, 10, 10, 10, 10, 0}, MA28: {10, 10, 10, 10, 10, 10, 0},
			SES: {10, 10, 10, 10, 10, 10, 0}, Combination: {10, 10, 10, 10, 10, 10, 0},
			HoltWinters: {10, 10, 10, 10, 10, 10, 0},
		},
		tol: 0.05,
	}, {
		// Without the calendar the same history is a weekly pattern with
		// a zero day: the moving averages see 60/7 per day.
		name: "no calendar",
		y:    week(8, 10, 10, 10, 10, 10, 10, 0),
		cal:  calendar{histClosed: make([]bool, 56), fcClosed: make([]bool, 7)},
		want: map[string][]float64{
			Naive: {0, 0, 0, 0, 0, 0, 0}, SNaive: {10, 10, 10, 10, 10, 10, 0},
			MA7: {60. / 7, 60. / 7, 60. / 7, 60. / 7, 60. / 7, 60. / 7, 60. / 7},
		},
	}, {
		// Intermittent demand starting mid-window: the moving averages
		// count from the first sale; seasonal naive repeats last week.
		name: "intermittent from its first sale",
		y:    append(make([]float64, 20), 3, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0),
		cal:  calendar{histClosed: make([]bool, 34), fcClosed: make([]bool, 7)},
		want: map[string][]float64{
			Naive: {0, 0, 0, 0, 0, 0, 0}, SNaive: {3, 0, 0, 0, 0, 0, 0},
			MA7:        {3. / 7, 3. / 7, 3. / 7, 3. / 7, 3. / 7, 3. / 7, 3. / 7},
			MA28:       {6. / 14, 6. / 14, 6. / 14, 6. / 14, 6. / 14, 6. / 14, 6. / 14},
			CrostonSBA: {nan}, TSB: {nan},
		},
	}, {
		// Last week's Monday was a holiday: seasonal naive takes the
		// Monday before.
		name: "seasonal naive skips a shut day",
		y:    []float64{5, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1},
		cal:  calendar{histClosed: []bool{false, false, false, false, false, false, false, true, false, false, false, false, false, false}, fcClosed: make([]bool, 7)},
		want: map[string][]float64{SNaive: {5, 1, 1, 1, 1, 1, 1}, MA7: {1, 1, 1, 1, 1, 1, 1}},
	}, {
		name: "no demand",
		y:    make([]float64, 30),
		cal:  calendar{histClosed: make([]bool, 30), fcClosed: make([]bool, 7)},
		want: map[string][]float64{Naive: make([]float64, 7), SES: make([]float64, 7), Combination: make([]float64, 7)},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := newBaseliner(h)
			if err != nil {
				t.Fatal(err)
			}
			out := make([][]float64, len(Methods))
			for m := range out {
				out[m] = make([]float64, h)
			}
			if err := b.forecast(tc.y, tc.cal, out); err != nil {
				t.Fatal(err)
			}
			for m, name := range Methods {
				want, ok := tc.want[name]
				for d, v := range out[m] {
					if m > 0 && (v < 0 || math.IsNaN(v)) {
						t.Errorf("%s[%d] = %v", name, d, v)
					}
					if m > 0 && tc.cal.fcClosed[d] && v != 0 {
						t.Errorf("%s forecasts %v on a closed day", name, v)
					}
				}
				if !ok || math.IsNaN(want[0]) {
					continue
				}
				for d := range want {
					if math.Abs(out[m][d]-want[d]) > tc.tol+1e-9 {
						t.Errorf("%s = %v, want %v", name, out[m], want)
						break
					}
				}
			}
			// Intermittent methods forecast a small positive rate.
			if _, ok := tc.want[CrostonSBA]; ok {
				for _, m := range []int{6, 7} {
					if v := out[m][0]; !(v > 0.1 && v < 1) {
						t.Errorf("%s = %v on an intermittent series of mean 3/7", Methods[m], v)
					}
				}
			}
		})
	}
}

// sporadic returns n days with a sale every third day.
func sporadic(n int) []bool {
	o := make([]bool, n)
	for d := range o {
		o[d] = d%3 == 0
	}
	return o
}

func TestLocationCalendar(t *testing.T) {
	// 450 days from a Monday; shut on Sundays, and on 2025-12-25.
	start := schema.NewDate(2024, 12, 2)
	p := &panel{start: start, days: 450}
	xmas := schema.NewDate(2025, 12, 25)
	open := make([]bool, p.days)
	for d := range open {
		day := start + schema.Date(d)
		open[d] = day.Weekday() != 0 && day != xmas
	}
	for _, tc := range []struct {
		name       string
		open       []bool
		asOf       schema.Date
		wantClosed []schema.Date
	}{
		{"sundays", open, schema.NewDate(2025, 6, 2), []schema.Date{schema.NewDate(2025, 6, 8), schema.NewDate(2025, 6, 15)}},
		// Nothing known of the last weeks: only the holiday a year earlier.
		{"the holiday a year on", open[:400], schema.NewDate(2026, 12, 21), []schema.Date{schema.NewDate(2026, 12, 25)}},
		{"never traded", make([]bool, p.days), schema.NewDate(2025, 6, 2), nil},
		// A location with an order every third day is open every day: its
		// days without one are days of zero demand, not closed days.
		{"sporadic orders", sporadic(p.days), schema.NewDate(2025, 6, 2), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := locationCalendar(p, tc.open, tc.asOf-56, tc.asOf, 14)
			var got []schema.Date
			for h, shut := range c.fcClosed {
				if shut {
					got = append(got, tc.asOf+schema.Date(h))
				}
			}
			if len(got) != len(tc.wantClosed) {
				t.Fatalf("closed %v, want %v", got, tc.wantClosed)
			}
			for i := range got {
				if got[i] != tc.wantClosed[i] {
					t.Errorf("closed %v, want %v", got, tc.wantClosed)
				}
			}
			for d, shut := range c.histClosed {
				day := tc.asOf - 56 + schema.Date(d)
				i := p.day(day)
				known := i < len(tc.open)
				traded := false
				for _, o := range tc.open {
					traded = traded || o
				}
				// Sundays and Christmas where the data shows them; every
				// day of a location that never traded.
				want := !traded || known && tc.name != "sporadic orders" && (day.Weekday() == 0 || day == xmas)
				if shut != want {
					t.Errorf("history day %s (%s): closed %v, want %v", day, day.Weekday(), shut, want)
				}
			}
		})
	}
	// Christmas one year on: the 2026 panel holds 2025-12-25 shut amid
	// trading days; so the forecast of 2026-12-25 (a Friday) is shut too.
	p2 := &panel{start: start, days: 800}
	open2 := make([]bool, p2.days)
	for d := range open2 {
		day := start + schema.Date(d)
		open2[d] = day.Weekday() != 0 && day != xmas
	}
	asOf := schema.NewDate(2026, 12, 21)
	c := locationCalendar(p2, open2[:asOf-start], asOf-56, asOf, 7)
	for h, shut := range c.fcClosed {
		day := asOf + schema.Date(h)
		want := day.Weekday() == 0 || day == schema.NewDate(2026, 12, 25)
		if shut != want {
			t.Errorf("%s (%s): closed %v, want %v", day, day.Weekday(), shut, want)
		}
	}
}

func TestScoresScaleFromFirstSaleAndAggregate(t *testing.T) {
	p := &panel{keys: []seriesKey{{"s1", "a"}, {"s1", "b"}}, dept: []string{"d", "d"}, cat: []string{"", ""}}
	sc := newOriginScorer(p, 7)
	fc := func(v float64) [][]float64 {
		out := make([][]float64, len(Methods))
		for m := range out {
			out[m] = []float64{v, v, v, v, v, v, v}
		}
		out[0] = []float64{2, 2, 2, 2, 2, 2, 2} // ours: exact for a
		return out
	}
	// a: zeros before its first sale do not enter the scale: changes 2,−2,2,…
	// over the days from the sale on (scale 4), not the leading zeros.
	histA := append(make([]float64, 7), week(7, 2, 4)...)
	histB := week(3, 1, 1, 1, 1, 1, 1, 1)
	sc.add(0, histA, []float64{2, 2, 2, 2, 2, 2, 2}, fc(4), 10, nil)
	sc.add(1, histB, []float64{1, 1, 1, 1, 1, 1, 1}, fc(1), 30, nil)
	levels := sc.result()
	for _, tc := range []struct {
		level, method string
		want          float64
	}{
		// a: naive's error 2/day over scale 4 → 1; b: exact → 0; weights 10, 30.
		{LevelStoreSKU, Naive, (10*1 + 30*0) / 40.},
		// ours: exact for a; for b error 1/day, scale of b = mean of b² = 1 (no change).
		{LevelStoreSKU, Ours, (10*0 + 30*1) / 40.},
		// store total: history 1,1,…,3,5,3,5,… actual 3/day; naive 5, ours 4.
		{LevelStore, Naive, 2 / math.Sqrt(scaleOf(append(week(1, 1, 1, 1, 1, 1, 1, 1), week(7, 3, 5)...)))},
		{LevelTotal, Ours, 1 / math.Sqrt(scaleOf(append(week(1, 1, 1, 1, 1, 1, 1, 1), week(7, 3, 5)...)))},
		// SKU weekly: a's one week of actuals is 14, naive says 28; its
		// history weeks 0, 20, 22 → scale (22−20)² from the first sale.
		{LevelSKUWeekly, Naive, (10*14/2. + 30*0) / 40},
	} {
		ls, ok := levelOf(levels, tc.level)
		if !ok {
			t.Fatalf("no level %s", tc.level)
		}
		if got := float64(ls.WRMSSE[tc.method]); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s %s = %v, want %v", tc.level, tc.method, got, tc.want)
		}
	}
	if _, ok := levelOf(levels, LevelCategory); ok {
		t.Error("a category level without categories")
	}
	if _, ok := levelOf(levels, LevelDepartment); !ok {
		t.Error("no department level")
	}
}

func TestBiasInStockLeavesOutStockoutDays(t *testing.T) {
	p := &panel{keys: []seriesKey{{"s1", "a"}, {"s1", "b"}}, dept: []string{"", ""}, cat: []string{"", ""}}
	hist := []float64{3, 3, 3, 3, 3, 3, 3}
	fc := func(v float64) [][]float64 {
		out := make([][]float64, len(Methods))
		for m := range out {
			out[m] = []float64{v, v, v, v}
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		out           [][]bool
		units, actual float64
	}{
		// Without stockouts every day counts: 4·3 + 4·2 forecast, 7 + 8 sold.
		{"no stockouts", [][]bool{nil, nil}, 20, 15},
		// a stocked out on its last two days (sold 1, 0 of the 3 it would
		// have): those days leave forecast and actual alike.
		{"stockout days left out", [][]bool{{false, false, true, true}, nil}, 6 + 8, 6 + 8},
		{"every day out", [][]bool{{true, true, true, true}, {true, true, true, true}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newOriginScorer(p, 4)
			sc.add(0, hist, []float64{3, 3, 1, 0}, fc(3), 10, tc.out[0])
			sc.add(1, hist, []float64{2, 2, 2, 2}, fc(2), 10, tc.out[1])
			for m := range Methods {
				if sc.inStockUnits[m] != tc.units {
					t.Errorf("%s: in-stock units %v, want %v", Methods[m], sc.inStockUnits[m], tc.units)
				}
			}
			if sc.inStockActual != tc.actual {
				t.Errorf("in-stock actual %v, want %v", sc.inStockActual, tc.actual)
			}
			if sc.actual != 15 {
				t.Errorf("actual %v, want every day's 15", sc.actual)
			}
		})
	}
}

func scaleOf(y []float64) float64 {
	var s float64
	for i := 1; i < len(y); i++ {
		s += (y[i] - y[i-1]) * (y[i] - y[i-1])
	}
	return s / float64(len(y)-1)
}

func TestWeeklyOrigins(t *testing.T) {
	last := schema.NewDate(2026, 3, 31)
	for _, tc := range []struct {
		n, h int
		want []schema.Date
	}{
		{1, 28, []schema.Date{last - 27}},
		{3, 28, []schema.Date{last - 41, last - 34, last - 27}},
		{2, 7, []schema.Date{last - 13, last - 6}},
		{0, 28, []schema.Date{}},
	} {
		got := WeeklyOrigins(last, tc.n, tc.h)
		if len(got) != len(tc.want) {
			t.Fatalf("WeeklyOrigins(%d, %d) = %v, want %v", tc.n, tc.h, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] || got[i]+schema.Date(tc.h) > last+1 {
				t.Errorf("WeeklyOrigins(%d, %d) = %v, want %v", tc.n, tc.h, got, tc.want)
			}
		}
	}
}

func TestScoreJSON(t *testing.T) {
	for _, tc := range []struct {
		in   Score
		want string
	}{{1.5, "1.5"}, {Score(math.NaN()), "null"}, {Score(math.Inf(1)), "null"}, {0, "0"}} {
		b, err := json.Marshal(tc.in)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, b, err, tc.want)
		}
		var back Score
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if tc.want != "null" && back != tc.in || tc.want == "null" && !math.IsNaN(float64(back)) {
			t.Errorf("round trip of %v: %v", tc.in, back)
		}
	}
}

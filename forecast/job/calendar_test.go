package job

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

func TestLearnCalendar(t *testing.T) {
	hist := schema.NewDate(2024, 11, 1)
	day := func(y int, m time.Month, d int) int { return int(schema.NewDate(y, m, d) - hist) }
	xmas := func(i int) bool { // shut 24 Dec .. 2 Jan
		d := (hist + schema.Date(i)).Time()
		return (d.Month() == 12 && d.Day() >= 24) || (d.Month() == 1 && d.Day() <= 2)
	}
	saturday := func(i int) bool { return (hist + schema.Date(i)).Weekday() == time.Saturday }
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name      string
		days      int // history length
		traded    func(i int) bool
		weekdays  []time.Weekday
		closed    []int                    // history days that must be closed
		open      []int                    // history days without trade that must not be
		aheadDays func(d schema.Date) bool // forecast days closed besides closed weekdays
		shared    *[7]bool                 // the closed weekdays of the other locations
	}{
		{"shut on Saturdays", 150, func(i int) bool { return !saturday(i) }, []time.Weekday{time.Saturday}, nil, nil, nil, nil},
		{"shut on Saturdays and over Christmas", 200, func(i int) bool { return !saturday(i) && !xmas(i) },
			[]time.Weekday{time.Saturday}, []int{day(2024, 12, 24), day(2024, 12, 27), day(2025, 1, 2)}, nil, nil, nil},
		{"a Christmas closure a year ago recurs", 400, func(i int) bool { return !saturday(i) && !xmas(i) },
			[]time.Weekday{time.Saturday}, nil, nil, func(d schema.Date) bool { return xmas(int(d - hist)) }, nil},
		{"a location trading on random days learns nothing", 300, func(int) bool { return r.Float64() < 0.3 }, nil, nil, nil, nil, nil},
		{"no trade on Saturdays long ago, trade lately", 200, func(i int) bool { return i > 150 || !saturday(i) }, nil, nil, nil, nil, nil},
		{"a sparse location takes the shared closed weekday", 200, func(i int) bool { return i%9 == 0 && !saturday(i) },
			[]time.Weekday{time.Saturday}, nil, nil, nil, &[7]bool{time.Saturday: true}},
		{"a sparse location trading on the shared closed weekday keeps it open", 200, func(i int) bool { return i%9 == 0 },
			nil, nil, nil, nil, &[7]bool{time.Saturday: true}},
		{"a location that learns its weekdays ignores the shared ones", 150, func(i int) bool { return !saturday(i) },
			[]time.Weekday{time.Saturday}, nil, nil, nil, &[7]bool{time.Sunday: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			traded := make([]bool, c.days)
			for i := range traded {
				traded[i] = c.traded(i)
			}
			const fd = 84
			cal := learnCalendar(traded, hist, fd, c.shared)
			var got []time.Weekday
			for d, closed := range cal.weekdays {
				if closed {
					got = append(got, time.Weekday(d))
				}
			}
			if !slices.Equal(got, c.weekdays) {
				t.Errorf("closed weekdays %v; want %v", got, c.weekdays)
			}
			for i, tr := range traded {
				if tr && cal.closed[i] {
					t.Fatalf("day %d traded but closed", i)
				}
			}
			for _, i := range c.closed {
				if !cal.closed[i] {
					t.Errorf("%s: not closed", hist+schema.Date(i))
				}
			}
			asOf := hist + schema.Date(c.days)
			for h, closed := range cal.ahead {
				want := slices.Contains(c.weekdays, (asOf+schema.Date(h)).Weekday()) || c.aheadDays != nil && c.aheadDays(asOf+schema.Date(h))
				if closed != want {
					t.Errorf("forecast day %s closed %v; want %v", asOf+schema.Date(h), closed, want)
				}
			}
		})
	}
}

// A store shut on Saturdays gets a zero forecast on Saturdays and its
// level on the other days, and the run records the closed weekday.
func TestForecastKeepsTheTradingCalendar(t *testing.T) {
	asOf := schema.NewDate(2026, 3, 2)
	var rows []schema.SalesDailyRow
	for d := asOf - 150; d < asOf; d++ {
		if d.Weekday() == time.Saturday {
			continue
		}
		rows = append(rows, schema.SalesDailyRow{DT: d, StoreID: "S1", SKU: "A", Currency: "EUR", UnitsSold: 6,
			GrossSales: 60000, NetSales: 60000, Transactions: 1})
	}
	l := salesLake(t, rows)
	rep, err := Run(t.Context(), l, Options{AsOf: asOf, NoPromotions: true})
	if err != nil {
		t.Fatal(err)
	}
	fcs, _ := readTable[schema.ForecastRow](t, l, schema.TableForecasts())
	if len(fcs) != 28 {
		t.Fatalf("%d forecast rows", len(fcs))
	}
	for _, f := range fcs {
		sat := f.Date.Weekday() == time.Saturday
		if sat && f.Forecast != 0 || !sat && (f.Forecast < 5 || f.Forecast > 7) {
			t.Errorf("%s (%s): forecast %.3f", f.Date, f.Date.Weekday(), f.Forecast)
		}
	}
	if !strings.Contains(rep.Run.Parameters, `"closed_weekdays":{"Saturday":1}`) {
		t.Errorf("parameters %s", rep.Run.Parameters)
	}
}

// Last year's ratio of the coming 28 days to the 28 before them lifts the
// forecast, shrunk halfway to 1; without a year of history nothing does.
func TestYearlyRamp(t *testing.T) {
	asOf := schema.NewDate(2026, 11, 16)
	for _, c := range []struct {
		name     string
		days     int
		lo, hi   float64 // bounds of the daily forecast
		rampRuns int64
	}{
		{"last year doubled over the coming weeks", 420, 13.5, 16.5, 1},
		{"less than a year of history", 300, 9, 11, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rows []schema.SalesDailyRow
			for d := asOf - schema.Date(c.days); d < asOf; d++ {
				u := int64(10)
				if d >= asOf-364 && d < asOf-364+28 {
					u = 20
				}
				rows = append(rows, schema.SalesDailyRow{DT: d, StoreID: "S1", SKU: "A", Currency: "EUR", UnitsSold: u,
					GrossSales: schema.Money(u * 10000), NetSales: schema.Money(u * 10000), Transactions: 1})
			}
			l := salesLake(t, rows)
			rep, err := Run(t.Context(), l, Options{AsOf: asOf, NoPromotions: true})
			if err != nil {
				t.Fatal(err)
			}
			fcs, _ := readTable[schema.ForecastRow](t, l, schema.TableForecasts())
			var sum float64
			for _, f := range fcs {
				sum += f.Forecast
			}
			if m := sum / float64(len(fcs)); m < c.lo || m > c.hi {
				t.Errorf("mean daily forecast %.2f; want %v..%v", m, c.lo, c.hi)
			}
			if want := `"yearly_ramp_series":` + strconv.FormatInt(c.rampRuns, 10); !strings.Contains(rep.Run.Parameters, want) {
				t.Errorf("parameters lack %s: %s", want, rep.Run.Parameters)
			}
		})
	}
}

package report

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"integers get thousands separators", fmtInt(int64(1234567)), "1,234,567"},
		{"small integers stay as they are", fmtInt(7), "7"},
		{"negative integers keep their sign", fmtInt(int64(-12345)), "-12,345"},
		{"money is rounded to the cent with its currency", fmtMoney(schema.Money(12_345_6789), "USD"), "12,345.68 USD"},
		{"negative money", fmtMoney(schema.Money(-5_000), "EUR"), "-0.50 EUR"},
		{"quantities are whole when whole", fmtQty(12), "12"},
		{"fractional quantities get one decimal", fmtQty(43.75), "43.8"},
		{"lags under a minute are seconds", fmtLag(42 * time.Second), "42 s"},
		{"lags under two days are hours and minutes", fmtLag(26*time.Hour + 5*time.Minute), "26 h 5 min"},
		{"long lags are days and hours", fmtLag(100*24*time.Hour + 3*time.Hour), "100 d 3 h"},
		{"a clock ahead reads in the future", fmtLag(-time.Minute), "in the future"},
		{"unknown times are a dash", fmtTime(time.Time{}), "—"},
		{"times are UTC to the minute", fmtTime(time.Date(2026, 3, 1, 9, 30, 59, 0, time.FixedZone("CET", 3600))), "2026-03-01 08:30 UTC"},
		{"plural adds an s", plural(int64(3), "line"), "3 lines"},
		{"singular stays", plural(1, "line"), "1 line"},
		{"long errors are shortened", shorten(strings.Repeat("é", 10), 5), "éééé…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {math.NaN(), 1}, {0.4, 1}, {1, 1}, {1.1, 1.2}, {7, 8}, {9, 10}, {10, 10}, {11, 12}, {107, 120}, {130, 150}, {2100, 2500},
	} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// A chart draws what its series hold: a bar per day with sales, a mark per
// stockout day, a forecast point per day forecast, an on-hand bar per day
// with stock known, and the levels, the as-of and need-by lines.
func TestChartGeometry(t *testing.T) {
	asOf := schema.NewDate(2026, 3, 10)
	run := &Run{AsOf: asOf, HistoryDays: 7, HorizonDays: 5}
	ln := &Line{
		SKU: "SKU1", SuggestedQty: 12, InventoryPosition: 3, OnHand: 3, ReorderPoint: 8, OrderUpTo: 15,
		NeedBy: asOf.AddDays(2),
		Series: Series{
			Start: asOf.AddDays(-7), History: 7, Horizon: 5,
			Sold:        []int64{2, 0, 5, 1, 0, 3, 4},
			OnHand:      []int64{9, 7, 2, 0, 0, 4, 3},
			OnHandKnown: []bool{true, true, true, true, true, false, true},
			OnOrder:     []int64{0, 0, 6, 6, 6, 0, 0},
			Forecast:    []float64{2, 2.5, math.NaN(), 3, 1},
		},
	}
	c := newChart(run, ln)
	count := func(path string) int { return strings.Count(path, "M") }
	for _, tc := range []struct {
		what      string
		got, want int
	}{
		{"sales bars (days with sales)", count(c.SoldPath), 5},
		{"stockout marks (on hand known and zero)", count(c.StockoutPath), 2},
		{"forecast runs (a gap splits it)", count(c.ForecastPath), 2},
		{"forecast points", count(c.ForecastPath) + strings.Count(c.ForecastPath, "L"), 4},
		{"on-hand bars (known, not zero)", count(c.OnHandPath), 4},
		{"on-order bars", count(c.OnOrderPath), 3},
		{"weekly ticks", len(c.XTicks), 2},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.what, tc.got, tc.want)
		}
	}
	if c.ROP == nil || c.OrderUpTo == nil || c.NeedBy == nil || c.Position == nil {
		t.Fatalf("levels %v %v, need by %v, position %v", c.ROP, c.OrderUpTo, c.NeedBy, c.Position)
	}
	// Stock axis: up to a round 15 (order-up-to, position + suggestion).
	if c.Stock.Ticks[1].Label != "15" || c.Demand.Ticks[1].Label != "5" {
		t.Errorf("axes up to %s (stock) and %s (demand), want 15 and 5", c.Stock.Ticks[1].Label, c.Demand.Ticks[1].Label)
	}
	if !(c.OrderUpTo.Y < c.ROP.Y && c.Position.Y2 < c.Position.Y) {
		t.Errorf("levels upside down: order-up-to at %v, reorder point at %v; position %v → %v", c.OrderUpTo.Y, c.ROP.Y, c.Position.Y, c.Position.Y2)
	}
	if !(c.AsOf.X < c.NeedBy.X && c.NeedBy.X < c.PlotR) || c.XTicks[1].Label != "03-10" || c.XTicks[1].At != c.AsOf.X {
		t.Errorf("as of at %v, need by at %v, ticks %v", c.AsOf.X, c.NeedBy.X, c.XTicks)
	}
	if !strings.Contains(c.Title, "15 units sold in the 7 days before 2026-03-10") || !strings.Contains(c.Title, "8.5 forecast over the next 4 days") {
		t.Errorf("title %q", c.Title)
	}
}

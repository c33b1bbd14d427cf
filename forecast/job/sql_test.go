package job

import (
	"slices"
	"testing"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// salesLake writes rows (by their DT) into sales_daily of a new lake.
func salesLake(t *testing.T, rows []schema.SalesDailyRow) *lake.Lake {
	t.Helper()
	l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	slices.SortFunc(rows, func(a, b schema.SalesDailyRow) int { return int(a.DT - b.DT) })
	tbl := schema.TableSalesDaily()
	var adds []delta.Add
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].DT == rows[i].DT {
			j++
		}
		a, err := lake.WriteFiles(t.Context(), l, tbl, rows[i].DT, rows[i:j], lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, a...)
		i = j
	}
	if err := commitAppend(t.Context(), l, tbl, adds, "test"); err != nil {
		t.Fatal(err)
	}
	return l
}

// The demand a series is fitted on: units sold net of returns, and a
// history that starts at the window when the item sold before it.
func TestDemandHistory(t *testing.T) {
	asOf := schema.NewDate(2026, 3, 2)
	row := func(d schema.Date, sku string, sold, returned int64) schema.SalesDailyRow {
		return schema.SalesDailyRow{DT: d, StoreID: "S1", SKU: sku, Currency: "EUR", UnitsSold: sold, UnitsReturned: returned,
			GrossSales: schema.Money(sold * 10000), NetSales: schema.Money((sold - returned) * 10000), Transactions: 1}
	}
	// FAST sells 5 a day for 120 days; one day a 1000-unit order was
	// cancelled the same day.
	var rows []schema.SalesDailyRow
	for d := asOf - 120; d < asOf; d++ {
		if d == asOf-20 {
			rows = append(rows, row(d, "FAST", 1005, 1000))
			continue
		}
		rows = append(rows, row(d, "FAST", 5, 0))
	}
	// OLD sold 3 a day 500 days before the as-of date, then once 30 days
	// ago.
	for d := asOf - 500; d < asOf-480; d++ {
		rows = append(rows, row(d, "OLD", 3, 0))
	}
	rows = append(rows, row(asOf-30, "OLD", 1, 0))
	for _, c := range []struct {
		name        string
		historyDays int
		sku         string
		days        int32   // the series' history length
		maxDaily    float64 // the largest daily forecast allowed
	}{
		{"a same-day cancellation is no demand", 0, "FAST", 120, 6},
		{"an old item's history starts at its first sale", 0, "OLD", 500, 1},
		{"an old item's history starts at a shorter window", 364, "OLD", 364, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := salesLake(t, slices.Clone(rows))
			if _, err := Run(t.Context(), l, Options{AsOf: asOf, HistoryDays: c.historyDays, NoPromotions: true}); err != nil {
				t.Fatal(err)
			}
			sugg, _ := readTable[schema.ReplenishmentSuggestionRow](t, l, schema.TableReplenishmentSuggestions())
			i := slices.IndexFunc(sugg, func(r schema.ReplenishmentSuggestionRow) bool { return r.SKU == c.sku })
			if i < 0 {
				t.Fatalf("%s not forecast", c.sku)
			}
			if got := sugg[i].HistoryDays; got != c.days {
				t.Errorf("history of %d days; want %d", got, c.days)
			}
			if sugg[i].ModelStatus == "short_history" && c.days > 100 {
				t.Errorf("a %d-day history treated as short", c.days)
			}
			fcs, _ := readTable[schema.ForecastRow](t, l, schema.TableForecasts())
			for _, f := range fcs {
				if f.SKU == c.sku && f.Forecast > c.maxDaily {
					t.Errorf("forecast %.2f on %s; want at most %v", f.Forecast, f.Date, c.maxDaily)
				}
			}
		})
	}
}

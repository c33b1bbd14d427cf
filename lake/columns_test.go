package lake

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/schema"
)

// TestColumnPlanMatchesDeconstruct checks, for every table of the lake, that
// the column plan writes exactly the values (kind, bytes, definition level,
// column) that parquet-go's Schema.Deconstruct makes of the same rows, with
// every field zero on some rows (optional columns null) and random on
// others; and that pos_lines, the hot table, has a plan at all.
func TestColumnPlanMatchesDeconstruct(t *testing.T) {
	dt := schema.NewDate(2026, 1, 5)
	tests := []struct {
		table *schema.Table
		check func(t *testing.T, sch *parquet.Schema) bool
	}{
		{schema.TablePOSLines(), checkPlan[schema.PosLineRow]},
		{schema.TableInventorySnapshots(), checkPlan[schema.InventoryRow]},
		{schema.TablePurchaseOrderLines(), checkPlan[schema.POLineRow]},
		{schema.TableItemLocations(), checkPlan[schema.ItemLocationRow]},
		{schema.TableRejects(), checkPlan[schema.RejectRow]},
		{schema.TableSalesDaily(), checkPlan[schema.SalesDailyRow]},
		{schema.TableInventoryDaily(), checkPlan[schema.InventoryDailyRow]},
		{schema.TablePOOpen(), checkPlan[schema.POOpenRow]},
		{schema.TableLeadTimes(), checkPlan[schema.LeadTimeRow]},
		{schema.TableStockouts(), checkPlan[schema.StockoutRow]},
		{schema.TablePromotions(), checkPlan[schema.PromotionRow]},
		{schema.TableStockExceptions(), checkPlan[schema.StockExceptionRow]},
		{schema.TableForecasts(), checkPlan[schema.ForecastRow]},
		{schema.TableForecastRuns(), checkPlan[schema.ForecastRunRow]},
		{schema.TableReplenishmentSuggestions(), checkPlan[schema.ReplenishmentSuggestionRow]},
		{schema.TableSuggestionOutcomes(), checkPlan[schema.SuggestionOutcomeRow]},
		{schema.TableERPWritebackLog(), checkPlan[schema.ERPWritebackLogRow]},
	}
	for _, tc := range tests {
		t.Run(tc.table.Name, func(t *testing.T) {
			planned := tc.check(t, fileSchema(tc.table, dt))
			if tc.table.Name == schema.TableNamePOSLines && !planned {
				t.Fatal("pos_lines has no column plan: ingest would take the Deconstruct path")
			}
		})
	}
}

// checkPlan compares the plan of T (if it has one) with Deconstruct on
// random rows, and reports whether T has a plan.
func checkPlan[T any](t *testing.T, sch *parquet.Schema) bool {
	t.Helper()
	p := newColumnPlan[T](sch)
	if p == nil {
		t.Logf("%s: no column plan (Deconstruct path)", sch.Name())
		return false
	}
	r := rand.New(rand.NewPCG(7, 7))
	rows := make([]T, 300)
	for i := range rows {
		if i%10 != 0 { // every tenth row all zero
			fillRandom(r, reflect.ValueOf(&rows[i]).Elem())
		}
	}
	for c := range sch.Columns() {
		got := planValues(p, c, rows)
		for i := range rows {
			want := sch.Deconstruct(nil, &rows[i])[c]
			g := got[i]
			if g.Kind() != want.Kind() || g.IsNull() != want.IsNull() ||
				g.DefinitionLevel() != want.DefinitionLevel() || g.RepetitionLevel() != want.RepetitionLevel() ||
				g.Column() != want.Column() || (!want.IsNull() && !parquet.Equal(g, want)) {
				t.Fatalf("column %v row %d: plan %#v (def %d, col %d), Deconstruct %#v (def %d, col %d)",
					sch.Columns()[c], i, g, g.DefinitionLevel(), g.Column(), want, want.DefinitionLevel(), want.Column())
			}
		}
	}
	return true
}

// fillRandom sets each top-level field of v to a random value, zero one
// time in four.
func fillRandom(r *rand.Rand, v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() || r.IntN(4) == 0 {
			continue
		}
		switch {
		case f.Type() == reflect.TypeOf(time.Time{}):
			loc := time.FixedZone("x", 60*(r.IntN(1500)-720))
			f.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9)-1e9, r.Int64N(1e9)).In(loc)))
		case f.Kind() == reflect.String:
			b := make([]byte, r.IntN(12))
			for k := range b {
				b[k] = byte('a' + r.IntN(26))
			}
			f.SetString(string(b))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.CanInt():
			f.SetInt(r.Int64N(1<<31) - 1<<30)
		case f.CanUint():
			f.SetUint(r.Uint64N(1 << 16))
		case f.CanFloat():
			f.SetFloat(r.NormFloat64() * 1000)
		}
	}
}

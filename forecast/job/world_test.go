package job

import (
	"testing"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// posKey is a store-SKU-day.
type posKey struct {
	store, sku string
	day        schema.Date
}

// TestDailyPOSLinesMarkWhatTheRenderedTransactionsMark: the scale world's
// pos_lines (one line per store-SKU-day, written with the chunks) carry the
// units of sales_daily and mark the same promoted store-SKU-days as the
// generator's rendered transactions.
func TestDailyPOSLinesMarkWhatTheRenderedTransactionsMark(t *testing.T) {
	w := testWorld(t)
	var lines [2][]schema.PosLineRow
	var sales []schema.SalesDailyRow
	for i, o := range []WorldOptions{{POSLines: true, StateDays: 30}, {DailyPOSLines: true, StateDays: 30, ChunkSeries: 50, Workers: 3}} {
		l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		sum, err := WriteWorld(t.Context(), l, w, o)
		if err != nil {
			t.Fatal(err)
		}
		lines[i], _ = readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
		if int64(len(lines[i])) != sum.Rows[schema.TableNamePOSLines] || len(lines[i]) == 0 {
			t.Fatalf("%+v: %d pos_lines rows read, %d written", o, len(lines[i]), sum.Rows[schema.TableNamePOSLines])
		}
		if i == 1 {
			sales = readSales(t, l)
			if sum.Files[schema.TableNamePOSLines] <= w.Days() {
				t.Errorf("%d pos_lines files for %d days in several chunks", sum.Files[schema.TableNamePOSLines], w.Days())
			}
		}
	}
	promoted := func(rows []schema.PosLineRow) map[posKey]bool {
		out := map[posKey]bool{}
		for _, r := range rows {
			if r.TxnType == string(schema.TxnSale) && r.PromotionID != "" {
				out[posKey{r.StoreID, r.SKU, r.BusinessDate}] = true
			}
		}
		return out
	}
	rendered, daily := promoted(lines[0]), promoted(lines[1])
	if len(rendered) == 0 {
		t.Fatal("the world has no promoted sales: the comparison proves nothing")
	}
	for k := range rendered {
		if !daily[k] {
			t.Errorf("%v: promoted in the rendered transactions, not in the daily lines", k)
		}
	}
	for k := range daily {
		if !rendered[k] {
			t.Errorf("%v: promoted in the daily lines, not in the rendered transactions", k)
		}
	}
	type units struct{ sold, returned int64 }
	got := map[posKey]units{}
	for _, r := range lines[1] {
		u := got[posKey{r.StoreID, r.SKU, r.BusinessDate}]
		if r.TxnType == string(schema.TxnSale) {
			u.sold += r.Quantity
		} else {
			u.returned -= r.Quantity
		}
		got[posKey{r.StoreID, r.SKU, r.BusinessDate}] = u
	}
	for _, s := range sales {
		k := posKey{s.StoreID, s.SKU, s.DT}
		if got[k] != (units{s.UnitsSold, s.UnitsReturned}) {
			t.Errorf("%v: pos_lines hold %+v, sales_daily %d sold and %d returned", k, got[k], s.UnitsSold, s.UnitsReturned)
		}
		delete(got, k)
	}
	if len(got) > 0 {
		t.Errorf("%d store-SKU-days in pos_lines without sales", len(got))
	}
}

// readSales reads sales_daily with each row's dt from its file's partition.
func readSales(t testing.TB, l *lake.Lake) []schema.SalesDailyRow {
	t.Helper()
	dt, err := l.Table(t.Context(), schema.TableSalesDaily())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []schema.SalesDailyRow
	for _, f := range snap.Files() {
		day, err := schema.ParseDate(f.PartitionValues["dt"])
		if err != nil {
			t.Fatal(err)
		}
		rows, err := lake.ReadRows[schema.SalesDailyRow](t.Context(), l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			rows[i].DT = day
		}
		out = append(out, rows...)
	}
	return out
}

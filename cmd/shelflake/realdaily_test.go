package main

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/ingest/importer"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/laketest"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/sharedtest"
	"github.com/shelflake/shelflake/schema/world"
)

// dailyTotalsMapping reads the export dailyTotals writes: a row per day,
// store and item, net units, no invoices, no prices.
const dailyTotalsMapping = `{"sku": "item", "quantity": "units", "time": "date", "store": "country",
  "default_unit_price": "1", "time_layout": "2006-01-02", "time_zone": "Europe/London",
  "currency": "GBP", "register": "export", "merchandise": "."}`

// dailyTotals turns the real UCI export into the other common shape of a
// retail export, daily totals per store and item (the stores but the
// largest, to keep it small): its sales and its returns of each day as two
// rows, ordered by store, day and item. It returns the file and the units
// sold and returned in it.
func dailyTotals(t *testing.T) (path string, sold, returned int64) {
	t.Helper()
	f, err := os.Open(sharedtest.OnlineRetail(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := importer.Preset("online-retail")
	if err != nil {
		t.Fatal(err)
	}
	var sink world.MemSink
	if _, err := importer.Import(t.Context(), gz, m, &sink, importer.Options{}); err != nil {
		t.Fatal(err)
	}
	type key struct {
		store, sku string
		date       schema.Date
		ret        bool
	}
	units := map[key]int64{}
	for _, r := range sink.Records {
		tx, err := schema.DecodePOS(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if tx.StoreID == "united-kingdom" {
			continue
		}
		for _, l := range tx.Lines {
			units[key{tx.StoreID, l.SKU, tx.BusinessDate, tx.Type == schema.TxnReturn}] += l.Quantity
		}
	}
	keys := slices.Collect(func(yield func(key) bool) {
		for k := range units {
			if !yield(k) {
				return
			}
		}
	})
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.store, b.store), cmp.Compare(a.date, b.date), cmp.Compare(a.sku, b.sku),
			cmp.Compare(fmt.Sprint(a.ret), fmt.Sprint(b.ret)))
	})
	path = filepath.Join(t.TempDir(), "daily.csv")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	fmt.Fprintln(w, "date,country,item,units")
	for _, k := range keys {
		q := units[k]
		fmt.Fprintf(w, "%s,%s,%s,%d\n", k.date, k.store, k.sku, q)
		if q > 0 {
			sold += q
		} else {
			returned -= q
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path, sold, returned
}

// TestDailyTotalsExportGoesThroughTheProduct feeds an export of daily
// totals (no invoices, no prices) through the product's own path (import
// with a mapping file → broker → ingest → compaction): every unit lands in
// sales_daily, the weekly job plans from it without ordering on unknown
// stock, and the real-data bench runs on it with --mapping.
func TestDailyTotalsExportGoesThroughTheProduct(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the 541,909-row export")
	}
	ctx := context.Background()
	a := &app{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
	csvPath, sold, returned := dailyTotals(t)
	mapPath := filepath.Join(t.TempDir(), "daily.json")
	if err := os.WriteFile(mapPath, []byte(dailyTotalsMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := loadMapping(importOpts{mapping: mapPath})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := loadExport(ctx, a, csvPath, m, dir); err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, dir, lake.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var gotSold, gotReturned int64
	stores := map[string]bool{}
	for _, r := range laketest.Rows[schema.SalesDailyRow](t, ctx, l, schema.TableSalesDaily()) {
		gotSold += r.UnitsSold
		gotReturned += r.UnitsReturned
		stores[r.StoreID] = true
	}
	if gotSold != sold || gotReturned != returned || sold == 0 || returned == 0 {
		t.Fatalf("sales_daily: %d sold, %d returned; the export has %d and %d", gotSold, gotReturned, sold, returned)
	}
	if len(stores) < 20 || stores["united-kingdom"] {
		t.Fatalf("stores %v", stores)
	}
	rep, err := job.Run(ctx, l, job.Options{AsOf: schema.NewDate(2011, 11, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rows := laketest.Rows[schema.ReplenishmentSuggestionRow](t, ctx, l, schema.TableReplenishmentSuggestions())
	if len(rep.Documents) != 0 || len(rows) < 100 {
		t.Fatalf("%d documents, %d suggestion lines: want lines and no purchase without stock", len(rep.Documents), len(rows))
	}
	for _, r := range rows {
		if r.SuggestedQty != 0 || !strings.Contains(r.Reasons, "no_stock_position") {
			t.Fatalf("line %s/%s: qty %d, reasons %q", r.LocationID, r.SKU, r.SuggestedQty, r.Reasons)
		}
	}
	res, err := benchRealLake(ctx, a, csvPath, importOpts{mapping: mapPath}, 2, 28, false, job.BenchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Origins) != 2 || len(res.Mean) == 0 || res.Mean[0].Series < 100 {
		t.Fatalf("bench: %d origins, levels %+v", len(res.Origins), res.Mean)
	}
	if w := float64(res.Mean[0].WRMSSE["ours"]); !(w > 0 && w < 2) {
		t.Errorf("bench: our %s WRMSSE %v", res.Mean[0].Level, w)
	}
}

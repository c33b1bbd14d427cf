package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/ingest/importer"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/laketest"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/sharedtest"
)

// TestRealExportWithoutStockFeedOrdersNothing runs the real UCI Online
// Retail export through the product's own path (import → embedded broker
// → ingest → compaction → the weekly forecast job) and checks what a
// planner gets from sales alone: forecasts and recommended stock levels
// for every store-SKU, and no purchase, since the export has no inventory
// feed (unknown stock is not zero stock).
func TestRealExportWithoutStockFeedOrdersNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the 541,909-row export")
	}
	ctx := context.Background()
	a := &app{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
	m, err := importer.Preset("online-retail")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := loadExport(ctx, a, sharedtest.OnlineRetail(t), m, dir); err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, dir, lake.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := job.Run(ctx, l, job.Options{AsOf: schema.NewDate(2011, 11, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Documents) != 0 {
		t.Errorf("%d suggested purchase orders from a lake without stock positions", len(rep.Documents))
	}
	rows := laketest.Rows[schema.ReplenishmentSuggestionRow](t, ctx, l, schema.TableReplenishmentSuggestions())
	if len(rows) < 1000 {
		t.Fatalf("%d suggestion lines, want one per store-SKU with sales (thousands)", len(rows))
	}
	for _, r := range rows {
		if r.SuggestedQty != 0 || !strings.Contains(r.Reasons, "no_stock_position") {
			t.Fatalf("line %s/%s: qty %d, reasons %q; want no order, no_stock_position", r.LocationID, r.SKU, r.SuggestedQty, r.Reasons)
		}
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// reportLake writes a local lake as ingest and the forecast would leave it:
// every raw table (pos_lines with rows and ingest's commitInfo watermarks
// for consumer group "g1", rejects with 3 + 1 rows of two reasons, the
// others empty) and, with suggestions, a forecast run as of 2026-03-04
// with two POs (3 lines for supplier SUP1, 1 for SUP2).
func reportLake(t *testing.T, suggestions bool) (dir string, eventTime time.Time) {
	t.Helper()
	ctx := t.Context()
	dir = filepath.Join(t.TempDir(), "lake")
	var mu sync.Mutex
	now := time.Date(2026, time.March, 4, 8, 0, 0, 0, time.UTC)
	l, err := lake.Open(ctx, dir, lake.Options{Delta: delta.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	commit := func(tb *schema.Table, adds []delta.Add, txn delta.Txn) {
		t.Helper()
		dt, err := l.Table(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		txn.Adds = adds
		if _, err := dt.Commit(ctx, snap, txn); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range schema.Tables() {
		if _, err := l.Table(ctx, tb); err != nil {
			t.Fatal(err)
		}
	}
	day := schema.NewDate(2026, time.March, 3)
	eventTime = day.Time().Add(19 * time.Hour)
	var pos []schema.PosLineRow
	for j := range 4 {
		pos = append(pos, schema.PosLineRow{TransactionID: fmt.Sprintf("T%d", j), LineNo: 1, StoreID: "S0001", RegisterID: "R01",
			TxnType: "sale", BusinessDate: day, EventTime: eventTime.Add(-time.Duration(j) * time.Hour), Currency: "USD",
			TxnTotal: 25_000, SKU: fmt.Sprintf("SKU%06d", j), Quantity: 1, UnitPrice: 25_000, LineTotal: 25_000,
			SrcOffset: int64(j), IngestedAt: eventTime.Add(time.Minute)})
	}
	adds, err := lake.WriteFiles(ctx, l, schema.TablePOSLines(), day, pos, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	commit(schema.TablePOSLines(), adds, delta.Txn{
		Fences: []delta.FenceRange{{AppID: delta.KafkaAppID("g1", schema.TopicPOS, 0), To: 4, First: true}},
		Info: map[string]any{"shelflake.ingest": map[string]any{"group": "g1", "trigger": "interval", "watermarks": []any{
			map[string]any{"topic": schema.TopicPOS, "partition": 0, "from": 0, "offset": 4, "eventTime": eventTime.Format(time.RFC3339Nano)},
		}}},
	})
	var rejects []schema.RejectRow
	for i, reason := range []string{"malformed_json", "malformed_json", "missing_field", "malformed_json"} {
		at := day.Time().Add(time.Duration(i) * time.Hour)
		rejects = append(rejects, schema.RejectRow{Topic: schema.TopicPOS, Offset: int64(10 + i), Value: []byte("{"),
			Error: "unexpected end of JSON input", Reason: reason, ReceivedAt: at, BusinessDate: day})
	}
	if adds, err = lake.WriteFiles(ctx, l, schema.TableRejects(), day, rejects, lake.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	commit(schema.TableRejects(), adds, delta.Txn{})
	if !suggestions {
		return dir, eventTime
	}
	asOf := day.AddDays(1)
	var sugg []schema.ReplenishmentSuggestionRow
	var fc []schema.ForecastRow
	for i, sup := range []string{"SUP1", "SUP1", "SUP1", "SUP2"} {
		sku := fmt.Sprintf("SKU%06d", i)
		sugg = append(sugg, schema.ReplenishmentSuggestionRow{DT: asOf, RunID: "r1", LocationID: "S0001", SKU: sku, SupplierID: sup,
			Currency: "USD", DocumentKey: "DOC-" + sup, NeedByDate: asOf.AddDays(3 + i), SuggestedQty: int64(6 * (i + 1)),
			UnitCost: 12_500, ExtendedCost: schema.Money(12_500).Mul(int64(6 * (i + 1))), DailyForecast: 1.5,
			ReorderPoint: 8, OrderUpTo: 20, OnHand: 2, InventoryPosition: 2, LeadTimeDays: 3, Model: "ses", Reasons: "below_rop"})
		for h := range 7 {
			fc = append(fc, schema.ForecastRow{DT: asOf, RunID: "r1", LocationID: "S0001", SKU: sku, Date: asOf.AddDays(h),
				Horizon: int32(h + 1), Forecast: 1.5, Model: "ses"})
		}
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if adds, err = lake.WriteFiles(ctx, l, schema.TableReplenishmentSuggestions(), asOf, sugg, lake.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	commit(schema.TableReplenishmentSuggestions(), adds, delta.Txn{})
	if adds, err = lake.WriteFiles(ctx, l, schema.TableForecasts(), asOf, fc, lake.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	commit(schema.TableForecasts(), adds, delta.Txn{})
	return dir, eventTime
}

// reportCLI runs shelflake with args and returns stdout, stderr and the
// error.
func reportCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), errb.String(), err
}

func TestReportCommand(t *testing.T) {
	withRun, eventTime := reportLake(t, true)
	withoutRun, _ := reportLake(t, false)
	outDir := t.TempDir()

	t.Run("a report of a lake with a forecast run, capped at one PO", func(t *testing.T) {
		path := filepath.Join(outDir, "report.html")
		_, logs, err := reportCLI(t, "report", "--lake", withRun, "--out", path, "--max-pos", "1", "--max-lines", "2", "--group", "g1")
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		// DOC-SUP1 (need by 2026-03-07) is more urgent than DOC-SUP2: it is
		// shown, with its two most valuable lines of three charted.
		for _, want := range []string{
			`data-document="DOC-SUP1"`, "1 more suggested PO (1 line, 24 units)", "1 more line of this PO is not charted",
			`data-sku="SKU000002"`, `data-sku="SKU000001"`,
			`data-reason="malformed_json" data-count="3"`, `data-reason="missing_field" data-count="1"`,
			fmtReportTime(eventTime), "over 1 partition",
			"sales_daily is not in the lake yet",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if n := strings.Count(page, "<svg"); n != 2 {
			t.Errorf("%d charts, want 2", n)
		}
		if strings.Contains(page, `data-document="DOC-SUP2"`) || strings.Contains(page, `data-sku="SKU000000"`) {
			t.Error("the PO or line left out is charted")
		}
		if !strings.Contains(logs, "report written") || !strings.Contains(logs, "pos_left_out=1") {
			t.Errorf("logs: %s", logs)
		}
		if left, _ := filepath.Glob(filepath.Join(outDir, ".report.html.tmp-*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})

	t.Run("a report of a lake without a forecast run, to stdout", func(t *testing.T) {
		out, logs, err := reportCLI(t, "report", "--lake", withoutRun, "--out", "-", "--group", "g1")
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		for _, want := range []string{"<!DOCTYPE html>", "No forecast run yet", fmtReportTime(eventTime), "</html>"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}
		if strings.Contains(out, "<svg") {
			t.Error("charts without a forecast run")
		}
	})

	t.Run("watermarks of another consumer group are not shown", func(t *testing.T) {
		out, logs, err := reportCLI(t, "report", "--lake", withoutRun, "--out", "-", "--group", "other")
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		if !strings.Contains(out, "No ingest watermarks were read") {
			t.Error("page shows watermarks of group g1")
		}
	})

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a report needs a lake", []string{"report", "--out", "-"}, "--lake is required"},
		{"a report needs --out", []string{"report", "--lake", withoutRun}, "--out is required"},
		{"a report charts at least one PO", []string{"report", "--lake", withoutRun, "--out", "-", "--max-pos", "0"}, "want ≥ 1"},
		{"a bad --from is refused", []string{"report", "--lake", withoutRun, "--out", "-", "--from", "March"}, "--from"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SHELFLAKE_LAKE", "")
			_, _, err := reportCLI(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// fmtReportTime is how the page shows an instant.
func fmtReportTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

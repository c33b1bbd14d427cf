package job

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// A phantom-stock exception in stock_exceptions censors its days and puts
// the reconciled on hand in the stock position of its store-SKU only, whose
// suggestion says "reconciled"; NoReconciliation ignores it.
func TestReconciliationFeedback(t *testing.T) {
	ctx := t.Context()
	w := testWorld(t)
	asOf := w.Date(w.Days())
	run := func(no bool) map[string]schema.ReplenishmentSuggestionRow {
		t.Helper()
		l := worldLake(t, w)
		row := phantomException(asOf, "EX-1", w.Locations()[1].ID, w.Items()[3].ID)
		// A resolved exception changes nothing.
		other := row
		other.ExceptionID, other.SKU, other.State = "EX-2", w.Items()[4].ID, schema.ExceptionResolved
		appendExceptions(t, l, asOf, row, other)
		if _, err := Run(ctx, l, Options{AsOf: asOf, NoReconciliation: no, NoGlobal: true}); err != nil {
			t.Fatal(err)
		}
		rows, _ := readTable[schema.ReplenishmentSuggestionRow](t, l, schema.TableReplenishmentSuggestions())
		out := map[string]schema.ReplenishmentSuggestionRow{}
		for _, r := range rows {
			out[r.LocationID+"/"+r.SKU] = r
		}
		return out
	}
	with, without := run(false), run(true)
	key := w.Locations()[1].ID + "/" + w.Items()[3].ID
	a, b := with[key], without[key]
	if a.OnHand != 0 || b.OnHand == 0 {
		t.Errorf("on hand with feedback %d, without %d: want the reconciled 0 and the record", a.OnHand, b.OnHand)
	}
	if a.CensoredDays < b.CensoredDays+5 {
		t.Errorf("censored days with feedback %d, without %d: want the phantom days censored", a.CensoredDays, b.CensoredDays)
	}
	if !hasReason(a.Reasons, "reconciled") || hasReason(b.Reasons, "reconciled") {
		t.Errorf("reasons with %q, without %q", a.Reasons, b.Reasons)
	}
	changed := 0
	for k, r := range with {
		if k == key {
			continue
		}
		if hasReason(r.Reasons, "reconciled") || r.OnHand != without[k].OnHand || r.CensoredDays != without[k].CensoredDays {
			changed++
		}
	}
	if changed != 0 {
		t.Errorf("%d other store-SKUs changed", changed)
	}
}

// phantomException is an open phantom-stock exception of loc/sku on asOf,
// ten days old.
func phantomException(asOf schema.Date, id, loc, sku string) schema.StockExceptionRow {
	return schema.StockExceptionRow{DT: asOf, ExceptionID: id, LocationID: loc, SKU: sku,
		Reason: schema.ReasonPhantomStock, State: schema.ExceptionOpen, Evidence: "no sale for 10 days",
		RecordOnHand: 40, ExpectedOnHand: 0, VarianceUnits: 40, FirstSeen: asOf - 10, LastSeen: asOf - 1,
		AgeDays: 10, Currency: "USD", RunAt: time.Unix(0, 0).UTC()}
}

// appendExceptions commits rows to the lake's stock_exceptions in one
// commit, as a reconcile run would.
func appendExceptions(t *testing.T, l *lake.Lake, asOf schema.Date, rows ...schema.StockExceptionRow) {
	t.Helper()
	ctx := t.Context()
	tab := schema.TableStockExceptions()
	adds, err := lake.WriteFiles(ctx, l, tab, asOf, rows, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dt, err := l.Table(ctx, tab)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil && !errors.Is(err, delta.ErrTableNotFound) {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE"}); err != nil {
		t.Fatal(err)
	}
}

func hasReason(list, code string) bool { return slices.Contains(strings.Split(list, ","), code) }

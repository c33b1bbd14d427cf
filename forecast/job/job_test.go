package job

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(shardChildEnv); spec != "" {
		os.Exit(runShardChild(spec))
	}
	goleak.VerifyTestMain(m)
}

// testWorld is small: 3 stores and a DC × 40 SKUs × 150 days.
func testWorld(t testing.TB) *world.World {
	t.Helper()
	w, err := world.New(world.Config{Seed: 7, Stores: 3, SKUs: 40, Days: 150})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// worldLake writes w into a new lake.
func worldLake(t testing.TB, w *world.World) *lake.Lake {
	t.Helper()
	l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := WriteWorld(t.Context(), l, w, WorldOptions{POSLines: true, StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	return l
}

// readTable reads every row of a table's latest snapshot.
func readTable[T any](t testing.TB, l *lake.Lake, tbl *schema.Table) ([]T, int64) {
	t.Helper()
	dt, err := l.Table(t.Context(), tbl)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, f := range snap.Files() {
		rows, err := lake.ReadRows[T](t.Context(), l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
	return out, snap.Version()
}

// truth is a series' state at the end of the world's last day, and its
// last 28 days, from the world's own simulation.
type truth struct {
	onHand, onOrder   int64
	sold28, inStock28 int64
	inStockDays28     int64
}

func worldTruth(w *world.World) map[[2]string]truth {
	out := map[[2]string]truth{}
	sim := w.NewSim()
	for loc := range w.Locations() {
		for sku := range w.Items() {
			var tr truth
			sim.Reset(loc, sku, nil)
			for r := sim.Step(); r != nil; r = sim.Step() {
				if r.Day >= w.Days()-28 {
					tr.sold28 += r.Sold
					if r.OnHand > 0 {
						tr.inStock28 += r.Sold
						tr.inStockDays28++
					}
				}
				tr.onHand, tr.onOrder = r.OnHand, r.OnOrder
			}
			out[[2]string{w.Locations()[loc].ID, w.Items()[sku].ID}] = tr
		}
	}
	return out
}

func TestForecastRunSuggestsSaneOrdersFromTheWorld(t *testing.T) {
	ctx := t.Context()
	w := testWorld(t)
	l := worldLake(t, w)
	asOf := w.Date(w.Days())
	rep, err := Run(ctx, l, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run %s: %d series, models %s, %d lines in %d documents, timings %v",
		rep.Run.RunID, rep.Run.Series, rep.Run.ModelsChosen, rep.Run.Lines, rep.Run.Documents, rep.Timings)
	if want := int64(w.NumStores() * len(w.Items())); rep.Run.Series != want {
		t.Errorf("%d series, want every store-SKU: %d", rep.Run.Series, want)
	}
	rows, _ := readTable[schema.ReplenishmentSuggestionRow](t, l, schema.TableReplenishmentSuggestions())
	if int64(len(rows)) != rep.Run.Series {
		t.Fatalf("%d suggestion rows for %d series", len(rows), rep.Run.Series)
	}
	tr := worldTruth(w)
	var ordered, censored, promoted, observedLead int
	for _, r := range rows {
		key := r.LocationID + "/" + r.SKU
		if r.InventoryPosition != r.OnHand+r.OnOrder-r.Allocated {
			t.Errorf("%s: IP %d ≠ %d + %d − %d", key, r.InventoryPosition, r.OnHand, r.OnOrder, r.Allocated)
		}
		below := float64(r.InventoryPosition) <= r.ReorderPoint
		if below != (r.SuggestedQty > 0) {
			t.Errorf("%s: IP %d, ROP %.2f, qty %d", key, r.InventoryPosition, r.ReorderPoint, r.SuggestedQty)
		}
		if r.SuggestedQty > 0 {
			ordered++
			if r.SuggestedQty < r.MOQ || r.SuggestedQty%r.CasePack != 0 {
				t.Errorf("%s: qty %d with MOQ %d, case pack %d", key, r.SuggestedQty, r.MOQ, r.CasePack)
			}
			if float64(r.InventoryPosition+r.SuggestedQty) < r.OrderUpTo-1e-9 {
				t.Errorf("%s: IP %d + qty %d short of the order-up-to level %.2f", key, r.InventoryPosition, r.SuggestedQty, r.OrderUpTo)
			}
			if !strings.Contains(r.Reasons, "below_rop") || r.DocumentKey != writeback.DocumentKey(asOf, r.LocationID, r.SupplierID) {
				t.Errorf("%s: reasons %q, document %q", key, r.Reasons, r.DocumentKey)
			}
		} else if r.DocumentKey != "" {
			t.Errorf("%s: no quantity but document %s", key, r.DocumentKey)
		}
		if r.ExtendedCost != r.UnitCost.Mul(r.SuggestedQty) {
			t.Errorf("%s: extended cost %s ≠ %d × %s", key, r.ExtendedCost, r.SuggestedQty, r.UnitCost)
		}
		if r.NeedByDate < asOf+schema.Date(math.Ceil(r.LeadTimeDays)) || r.NeedByDate > asOf+schema.Date(math.Ceil(r.ProtectionDays)) {
			t.Errorf("%s: need by %s outside the lead time %.1f .. protection %.1f days", key, r.NeedByDate, r.LeadTimeDays, r.ProtectionDays)
		}
		// The stock position and the velocity are the world's.
		want := tr[[2]string{r.LocationID, r.SKU}]
		if r.OnHand != want.onHand || r.OnOrder != want.onOrder {
			t.Errorf("%s: on hand %d, on order %d; the world has %d, %d", key, r.OnHand, r.OnOrder, want.onHand, want.onOrder)
		}
		if want.inStockDays28 > 0 {
			if v := float64(want.inStock28) / float64(want.inStockDays28); math.Abs(v-r.Velocity28) > 1e-9 {
				t.Errorf("%s: velocity 28 %.4f, the world's in-stock rate is %.4f", key, r.Velocity28, v)
			}
		}
		if st := r.SellThrough28; st == nil || (want.sold28+want.onHand > 0 && math.Abs(*st-float64(want.sold28)/float64(want.sold28+want.onHand)) > 1e-9) {
			t.Errorf("%s: sell-through %v", key, st)
		}
		if r.CensoredDays > 0 {
			censored++
		}
		if r.PromoDays > 0 {
			promoted++
		}
		if r.LeadTimeSource == "observed_location" {
			observedLead++
		}
		if r.Defaulted != "" || strings.Contains(r.Reasons, "defaults_used") {
			t.Errorf("%s: defaults used (%q) though every item-location is known", key, r.Defaulted)
		}
	}
	if ordered == 0 || ordered == len(rows) || censored == 0 || promoted == 0 || observedLead < len(rows)/2 {
		t.Errorf("%d of %d series order, %d have stockout days, %d promotion days, %d observed lead times",
			ordered, len(rows), censored, promoted, observedLead)
	}
	// Documents: one per location and supplier ordering, totals exact.
	pairs := map[string]bool{}
	for _, r := range rows {
		if r.SuggestedQty > 0 {
			pairs[r.DocumentKey] = true
		}
	}
	if len(rep.Documents) != len(pairs) || rep.Run.Documents != int64(len(pairs)) {
		t.Errorf("%d documents for %d ordering location-suppliers", len(rep.Documents), len(pairs))
	}
	var lines int
	for _, d := range rep.Documents {
		if err := d.Validate(); err != nil {
			t.Error(err)
		}
		var qty int64
		var cost schema.Money
		for _, ln := range d.Lines {
			qty += ln.Qty
			cost += ln.ExtendedCost
		}
		if qty != d.TotalQty || cost != d.TotalCost {
			t.Errorf("document %s: totals %d, %s; lines %d, %s", d.ExternalRef, d.TotalQty, d.TotalCost, qty, cost)
		}
		lines += len(d.Lines)
	}
	if lines != ordered || int64(lines) != rep.Run.Lines {
		t.Errorf("%d document lines, %d ordering series", lines, ordered)
	}
	stored, err := writeback.LoadDocuments(ctx, l.Bucket(), asOf, rep.Run.RunID)
	if err != nil || len(stored) != len(rep.Documents) {
		t.Errorf("outbox holds %d documents (%v)", len(stored), err)
	}
	// Forecasts: every series, every day of the horizon.
	fc, _ := readTable[schema.ForecastRow](t, l, schema.TableForecasts())
	if len(fc) != len(rows)*28 {
		t.Errorf("%d forecast rows for %d series", len(fc), len(rows))
	}
	for _, f := range fc {
		if f.Horizon < 1 || f.Horizon > 28 || f.Date != asOf+schema.Date(f.Horizon-1) || !(f.Forecast >= 0) {
			t.Errorf("forecast row %+v", f)
			break
		}
	}
	if rep.Run.WeightedBacktestRMSSE == nil || *rep.Run.WeightedBacktestRMSSE <= 0 || *rep.Run.WeightedBacktestRMSSE > 2 {
		t.Errorf("weighted backtest RMSSE %v", rep.Run.WeightedBacktestRMSSE)
	}
}

func TestForecastRerunChangesAndSendsNothing(t *testing.T) {
	ctx := t.Context()
	w := testWorld(t)
	l := worldLake(t, w)
	asOf := w.Date(w.Days())
	first, err := Run(ctx, l, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	erp := erptest.New(erptest.Options{})
	defer erp.Close()
	deliver := func() writeback.Report {
		t.Helper()
		ch, err := writeback.NewHTTPChannel(writeback.HTTPOptions{URL: erp.URL, TokenURL: erp.TokenURL,
			ClientID: erp.ClientID, ClientSecret: erp.ClientSecret})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Run(ctx, l, Options{AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
		if err != nil {
			t.Fatal(err)
		}
		wr, err := d.Deliver(ctx, rep.Documents)
		if err != nil {
			t.Fatal(err)
		}
		return wr
	}
	versions := func() map[string]int64 {
		out := map[string]int64{}
		for _, tbl := range schema.ForecastTables()[:3] {
			dt, err := l.Table(ctx, tbl)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := dt.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out[tbl.Name] = snap.Version()
		}
		return out
	}
	before := versions()
	wr := deliver()
	if wr.Accepted != len(first.Documents) || len(erp.Accepted()) != len(first.Documents) {
		t.Fatalf("first write-back %+v; the ERP holds %d of %d", wr, len(erp.Accepted()), len(first.Documents))
	}
	if v := erp.Violations(); len(v) > 0 {
		t.Errorf("contract violations: %v", v)
	}
	again, err := Run(ctx, l, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.Run.RunID != first.Run.RunID || len(again.Documents) != len(first.Documents) {
		t.Errorf("rerun: existing %v, run %s (first %s), %d documents", again.Existing, again.Run.RunID, first.Run.RunID, len(again.Documents))
	}
	reqs := erp.Requests()
	wr = deliver()
	if after := versions(); !mapsEqual(before, after) {
		t.Errorf("rerun moved the tables from %v to %v", before, after)
	}
	if erp.Requests() != reqs || wr.AlreadyAccepted != len(first.Documents) || wr.Accepted != 0 {
		t.Errorf("rerun sent %d requests: %+v", erp.Requests()-reqs, wr)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestForecastOfTheSameInputsIsTheSameByteForByte(t *testing.T) {
	ctx := t.Context()
	w := testWorld(t)
	asOf := w.Date(w.Days())
	var docs [2][]*writeback.Document
	var ids [2]string
	for i := range 2 {
		l := worldLake(t, w)
		rep, err := Run(ctx, l, Options{AsOf: asOf, Workers: 1 + i, BatchSeries: 16 + 50*i, BucketSeries: 40 + 80*i})
		if err != nil {
			t.Fatal(err)
		}
		docs[i], ids[i] = rep.Documents, rep.Run.RunID
	}
	// Two lakes: two run ids (their tables' ids differ); nothing else may.
	if ids[0] == ids[1] || len(docs[0]) != len(docs[1]) {
		t.Fatalf("runs %s and %s, %d and %d documents", ids[0], ids[1], len(docs[0]), len(docs[1]))
	}
	for i := range docs[0] {
		docs[1][i].RunID = docs[0][i].RunID
		a, _ := docs[0][i].Marshal()
		b, _ := docs[1][i].Marshal()
		if !bytes.Equal(a, b) {
			t.Errorf("document %d differs:\n%s\n%s", i, a, b)
		}
	}
}

func TestForecastReplacesWhatAnIncompleteAttemptLeft(t *testing.T) {
	ctx := t.Context()
	w := testWorld(t)
	l := worldLake(t, w)
	asOf := w.Date(w.Days())
	// An attempt that died after committing its suggestions: one stray row
	// under the run's fence.
	tbl := schema.TableReplenishmentSuggestions()
	dt, err := l.Table(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	adds, err := lake.WriteFiles(ctx, l, tbl, asOf, []schema.ReplenishmentSuggestionRow{{DT: asOf, RunID: "dead", LocationID: "S0001", SKU: "ghost"}}, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Adds: adds, Fences: []delta.FenceRange{{AppID: AppID(asOf), To: 1, First: true}}}); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, l, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := readTable[schema.ReplenishmentSuggestionRow](t, l, tbl)
	if int64(len(rows)) != rep.Run.Series || slices.ContainsFunc(rows, func(r schema.ReplenishmentSuggestionRow) bool { return r.RunID != rep.Run.RunID }) {
		t.Errorf("%d rows for %d series, or rows of another run", len(rows), rep.Run.Series)
	}
	snap, err = dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := snap.TxnVersion(AppID(asOf)); v != 2 {
		t.Errorf("fence generation %d, want 2", v)
	}
}

func TestForecastFlagsWhatItHadToDefault(t *testing.T) {
	ctx := t.Context()
	w := testWorld(t)
	l := worldLake(t, w)
	asOf := w.Date(w.Days())
	// A SKU sold for a week at one store, unknown to the ERP.
	tbl := schema.TableSalesDaily()
	var adds []delta.Add
	for d := asOf - 7; d < asOf; d++ {
		a, err := lake.WriteFiles(ctx, l, tbl, d, []schema.SalesDailyRow{{DT: d, StoreID: "S0002", SKU: "SKU999999",
			Currency: w.Locations()[1].Currency, UnitsSold: 3, GrossSales: 30000, NetSales: 30000, Transactions: 2}}, lake.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, a...)
	}
	if err := commitAppend(ctx, l, tbl, adds, "test"); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, l, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := readTable[schema.ReplenishmentSuggestionRow](t, l, schema.TableReplenishmentSuggestions())
	i := slices.IndexFunc(rows, func(r schema.ReplenishmentSuggestionRow) bool { return r.SKU == "SKU999999" })
	if i < 0 {
		t.Fatal("the unknown SKU was not forecast")
	}
	r := rows[i]
	t.Logf("unknown SKU: qty %d, reasons %q, defaulted %q, model %s (%s), lead time %.1f from %s",
		r.SuggestedQty, r.Reasons, r.Defaulted, r.Model, r.ModelStatus, r.LeadTimeDays, r.LeadTimeSource)
	for _, want := range []string{"lead_time", "review_period", "case_pack", "service_level", "unit_cost", "supplier", "inventory"} {
		if !slices.Contains(strings.Split(r.Defaulted, ","), want) {
			t.Errorf("defaulted %q lacks %s", r.Defaulted, want)
		}
	}
	// Without a stock position the line recommends a level and orders
	// nothing: unknown stock is not zero stock.
	if !strings.Contains(r.Reasons, "defaults_used") || !strings.Contains(r.Reasons, "new_item") ||
		!strings.Contains(r.Reasons, "no_stock_position") || strings.Contains(r.Reasons, "below_rop") || r.LeadTimeSource != "default" ||
		r.HistoryDays != 7 || r.SuggestedQty != 0 || !(r.OrderUpTo > 0) || r.WeeksOfCover != nil || r.DocumentKey != "" {
		t.Errorf("row %+v", r)
	}
	var params struct {
		Without    map[string]int64 `json:"lines_without"`
		NotOrdered map[string]int64 `json:"lines_not_ordering"`
	}
	if err := json.Unmarshal([]byte(rep.Run.Parameters), &params); err != nil {
		t.Fatal(err)
	}
	if params.Without["stock_position"] != 1 || params.Without["item_location"] != 1 || params.Without["supplier"] != 1 ||
		params.NotOrdered["no_stock_position"] != 1 {
		t.Errorf("run parameters record %+v", params)
	}
	if rep.Run.DefaultsUsed != 1 {
		t.Errorf("%d lines with defaults", rep.Run.DefaultsUsed)
	}
	for _, d := range rep.Documents {
		for _, ln := range d.Lines {
			if ln.SKU == "SKU999999" {
				t.Error("a line without a supplier is in a document")
			}
		}
	}
}

func TestForecastRefusesALakeWithoutSales(t *testing.T) {
	l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Run(context.Background(), l, Options{AsOf: schema.NewDate(2026, 3, 2)})
	if err == nil || !strings.Contains(err.Error(), "sales_daily") {
		t.Errorf("err = %v", err)
	}
}

// The promotions the ERP published by the as-of date lift the forecast and
// the order on their days, with the promo_uplift reason; a series with no
// promotion reaching its protection window is not lifted.
func TestKnownPromotionsLiftForecastAndOrders(t *testing.T) {
	ctx := t.Context()
	w := testWorld(t)
	l := worldLake(t, w)
	// The as-of day with the most items on promotion in the week after.
	day, best := 0, -1
	for d := 100; d < w.Days()-7; d++ {
		n := 0
		for i := range w.Items() {
			for j := range 7 {
				if w.Promotion(i, d+j) != nil {
					n++
					break
				}
			}
		}
		if n > best {
			day, best = d, n
		}
	}
	asOf := w.Date(day)
	rep, err := Run(ctx, l, Options{AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	// The response measured on past promotions: the world lifts demand by
	// 1 + discount × U(3, 8), an elasticity of 5.5 on average (measured on
	// stores that did not stock out, so somewhat less).
	var params struct {
		Response map[string]struct {
			Elasticity, Dip float64
			Observations    int
		} `json:"promotion_response"`
	}
	if err := json.Unmarshal([]byte(rep.Run.Parameters), &params); err != nil {
		t.Fatal(err)
	}
	if all := params.Response["*"]; all.Observations < 10 || all.Elasticity < 3.5 || all.Elasticity > 7 || all.Dip < 0.7 || all.Dip > 1 {
		t.Errorf("promotion response %+v from %d promotions: want an elasticity near 5.5 and a dip near 0.85", all, all.Observations)
	}
	rows, _ := readTable[schema.ReplenishmentSuggestionRow](t, l, schema.TableReplenishmentSuggestions())
	fcs, _ := readTable[schema.ForecastRow](t, l, schema.TableForecasts())
	forecast := map[[2]string]map[schema.Date]float64{}
	for _, f := range fcs {
		k := [2]string{f.LocationID, f.SKU}
		if forecast[k] == nil {
			forecast[k] = map[schema.Date]float64{}
		}
		forecast[k][f.Date] = f.Forecast
	}
	skuIndex := map[string]int{}
	for i, it := range w.Items() {
		skuIndex[it.ID] = i
	}
	var lifted, flat int
	for _, r := range rows {
		it := w.Items()[skuIndex[r.SKU]]
		var inWindow, nearby bool
		var first *world.Promotion
		for i := range it.Promotions {
			p := &it.Promotions[i]
			if p.PublishDay() >= day {
				continue // not published by the as-of date: unknown
			}
			if p.Start < day+int(math.Ceil(r.ProtectionDays)) && p.End > day {
				inWindow = true
				if first == nil {
					first = p
				}
			}
			if p.End+3 > day-1 && p.Start < day+int(math.Ceil(r.ProtectionDays))+1 {
				nearby = true
			}
		}
		key := r.LocationID + "/" + r.SKU
		switch {
		case inWindow:
			lifted++
			if !(r.PromoUplift > 1) || !strings.Contains(r.Reasons, "promo_uplift") {
				t.Errorf("%s: a promotion runs in the window, uplift %.3f, reasons %q", key, r.PromoUplift, r.Reasons)
			}
			// Its first promotion day is forecast above the day before
			// (when both are in the horizon and the day before is plain).
			fc := forecast[[2]string{r.LocationID, r.SKU}]
			d0 := w.Date(first.Start)
			if prev, ok := fc[d0-1]; ok && first.Start-1 >= day && prev > 0 && w.Promotion(skuIndex[r.SKU], first.Start-1) == nil {
				if fc[d0] <= prev {
					t.Errorf("%s: forecast %.3f on the promotion's first day %s, %.3f the day before", key, fc[d0], d0, prev)
				}
			}
		case !nearby:
			flat++
			if r.PromoUplift != 1 || strings.Contains(r.Reasons, "promo_uplift") {
				t.Errorf("%s: no promotion near the window, uplift %.3f, reasons %q", key, r.PromoUplift, r.Reasons)
			}
		}
	}
	if lifted == 0 || flat == 0 {
		t.Errorf("%d series with a promotion in the window, %d with none near: the world should have both", lifted, flat)
	}
	t.Logf("%d series lifted, %d plain", lifted, flat)
}

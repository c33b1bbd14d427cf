package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/compact"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if fixtureDir != "" {
			os.RemoveAll(fixtureDir)
		}
		os.Exit(code)
	}))
}

// The shared fixture: a generated world (3 stores, 12 SKUs, 42 days, 2%
// malformed records) decoded into the raw tables as ingest would write them
// (committed at clockRaw), the unified tables built by compaction (at
// clockUnified), and a forecast run written the way the forecast job
// writes its tables (at clockForecast): replenishment_suggestions,
// forecasts and forecast_runs, as of the day after the world's last day.
const (
	fixtureDays    = 42
	fixtureHorizon = 28
)

var (
	clockRaw      = time.Date(2026, time.June, 1, 8, 0, 0, 0, time.UTC)
	clockUnified  = clockRaw.Add(time.Hour)
	clockForecast = clockRaw.Add(2 * time.Hour)
	// evilReason and evilError make one reject whose text is markup and a
	// URL: the page must show it as text.
	evilReason = `bad<script>alert("reason")</script>`
	evilError  = `value "<img src=https://example.com/x.png onerror=alert(1)>" see http://example.com/help`
)

type fixture struct {
	lakeDir string
	first   schema.Date
	last    schema.Date
	asOf    schema.Date
	pos     []schema.PosLineRow
	inv     []schema.InventoryRow
	po      []schema.POLineRow
	items   []schema.ItemLocationRow
	promos  []schema.PromotionRow
	rejects []schema.RejectRow
	sugg    []schema.ReplenishmentSuggestionRow
	fc      []schema.ForecastRow
}

var (
	fixtureOnce sync.Once
	theFixture  *fixture
	fixtureErr  error
	fixtureDir  string
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "report-test-")
		if fixtureErr == nil {
			theFixture, fixtureErr = buildFixture(context.Background(), fixtureDir)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return theFixture
}

func buildFixture(ctx context.Context, dir string) (*fixture, error) {
	w, err := world.New(world.Config{Seed: 11, Stores: 3, SKUs: 12, Days: fixtureDays})
	if err != nil {
		return nil, err
	}
	sink := &world.MemSink{}
	if _, err := w.Generate(ctx, world.GenerateOptions{Sink: sink, TruthDir: filepath.Join(dir, "truth"), BadRate: 0.02, Workers: 2}); err != nil {
		return nil, err
	}
	f := &fixture{lakeDir: filepath.Join(dir, "lake"), first: w.Date(0), last: w.Date(fixtureDays - 1)}
	f.asOf = f.last.AddDays(1)
	if err := f.decode(sink.Records); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	now := clockRaw
	setClock := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l, err := lake.Open(ctx, f.lakeDir, lake.Options{Delta: delta.Options{Now: clock}})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := firstErr(
		writeTable(ctx, l, schema.TablePOSLines(), f.pos),
		writeTable(ctx, l, schema.TableInventorySnapshots(), f.inv),
		writeTable(ctx, l, schema.TablePurchaseOrderLines(), f.po),
		writeTable(ctx, l, schema.TableItemLocations(), f.items),
		writeTable(ctx, l, schema.TablePromotions(), f.promos),
		writeTable(ctx, l, schema.TableRejects(), f.rejects),
	); err != nil {
		return nil, err
	}
	setClock(clockUnified)
	b, err := compact.NewBuilder(l, compact.UnifiedOptions{TempDir: dir, DuckDBThreads: 2, Now: clock})
	if err != nil {
		return nil, err
	}
	if _, err := b.Build(ctx); err != nil {
		return nil, err
	}
	setClock(clockForecast)
	f.forecastRun()
	run := []schema.ForecastRunRow{{DT: f.asOf, RunID: "run-test", AsOf: f.asOf, HistoryStart: f.first,
		StartedAt: clockForecast.Add(-time.Minute), FinishedAt: clockForecast, Series: int64(len(f.sugg)),
		ModelsChosen: "{}", TotalCost: "{}", Timings: "{}", Parameters: "{}"}}
	if err := firstErr(
		writeTable(ctx, l, schema.TableReplenishmentSuggestions(), f.sugg),
		writeTable(ctx, l, schema.TableForecasts(), f.fc),
		writeTable(ctx, l, schema.TableForecastRuns(), run),
	); err != nil {
		return nil, err
	}
	return f, nil
}

// firstErr returns the first error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// decode turns the records into lake rows as ingest would: valid records
// into their table's rows, malformed ones into rejects (received through
// the world's days, UTC), plus one reject whose text is markup.
func (f *fixture) decode(recs []world.Record) error {
	var d schema.Decoder
	var rows schema.Rows
	offsets := map[string]int64{}
	for _, r := range recs {
		off := offsets[r.Topic]
		offsets[r.Topic]++
		src := schema.Source{Partition: 0, Offset: off, IngestedAt: clockRaw.Add(-time.Hour).Add(time.Duration(off) * time.Millisecond)}
		err := rows.Append(&d, r.Topic, r.Value, src)
		if err != nil && !errors.As(err, new(*schema.DecodeError)) {
			return err
		}
		if err != nil {
			f.rejects = append(f.rejects, schema.RejectRow{
				Topic: r.Topic, Partition: 0, Offset: off, Key: r.Key, Value: r.Value,
				Error: err.Error(), Reason: schema.ReasonOf(err),
			})
		}
	}
	f.pos, f.inv, f.po, f.items, f.promos = rows.POS, rows.Inventory, rows.PO, rows.Items, rows.Promos
	f.rejects = append(f.rejects, schema.RejectRow{Topic: schema.TopicInventory, Offset: offsets[schema.TopicInventory],
		Value: []byte("{}"), Error: evilError, Reason: evilReason})
	span := time.Duration(fixtureDays) * 24 * time.Hour
	for i := range f.rejects {
		at := f.first.Time().Add(span * time.Duration(i) / time.Duration(len(f.rejects))).Truncate(time.Second)
		f.rejects[i].ReceivedAt, f.rejects[i].BusinessDate = at, schema.DateOf(at)
	}
	if len(f.pos) == 0 || len(f.inv) == 0 || len(f.po) == 0 || len(f.items) == 0 || len(f.promos) == 0 || len(f.rejects) < 3 {
		return fmt.Errorf("world too small: %d pos lines, %d inventory, %d po, %d items, %d promotions, %d rejects",
			len(f.pos), len(f.inv), len(f.po), len(f.items), len(f.promos), len(f.rejects))
	}
	return nil
}

// forecastRun makes a forecast run's rows as of f.asOf, with simple
// stand-in arithmetic: per store-SKU the mean daily sales of the last 28
// days as the forecast, on hand from the latest snapshot row, an
// order-up-to policy over lead time plus review period. One store-SKU with
// a quantity has no supplier (no document).
func (f *fixture) forecastRun() {
	type key struct{ loc, sku string }
	sold := map[key]int64{}
	for _, r := range f.pos {
		if r.TxnType == "sale" && r.BusinessDate >= f.asOf.AddDays(-28) {
			sold[key{r.StoreID, r.SKU}] += r.Quantity
		}
	}
	onHand := map[key]schema.InventoryRow{}
	for _, r := range f.inv {
		k := key{r.LocationID, r.SKU}
		if cur, ok := onHand[k]; !ok || r.AsOf.After(cur.AsOf) {
			onHand[k] = r
		}
	}
	items := map[key]schema.ItemLocationRow{}
	for _, r := range f.items {
		k := key{r.LocationID, r.SKU}
		if cur, ok := items[k]; !ok || r.UpdatedAt.After(cur.UpdatedAt) {
			items[k] = r
		}
	}
	stores := map[string]bool{}
	for _, r := range f.pos {
		stores[r.StoreID] = true
	}
	keys := make([]key, 0, len(items))
	for k := range items {
		if stores[k.loc] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.loc, b.loc), cmp.Compare(a.sku, b.sku)) })
	for _, k := range keys {
		il := items[k]
		daily := float64(sold[k]) / 28
		lead := float64(max(il.LeadTimeDays, 1))
		p := lead + float64(max(il.ReviewPeriodDays, 1))
		safety := 1.65 * math.Sqrt(daily*p)
		rop, out := daily*lead+safety, daily*p+safety
		oh := onHand[k].OnHand
		qty := int64(0)
		if need := out - float64(oh); need > 0 && float64(oh) < rop {
			pack := int64(max(il.CasePack, 1))
			qty = (int64(math.Ceil(need)) + pack - 1) / pack * pack
		}
		row := schema.ReplenishmentSuggestionRow{
			DT: f.asOf, RunID: "run-test", LocationID: k.loc, SKU: k.sku, SupplierID: il.SupplierID,
			Currency: il.Currency, NeedByDate: f.asOf.AddDays(int(lead)), SuggestedQty: qty,
			UnitCost: il.UnitCost, ExtendedCost: il.UnitCost.Mul(qty), Reasons: "below_rop",
			Model: "ses", ModelStatus: "selected", HistoryDays: fixtureDays,
			Velocity28: daily, ForecastWindow: daily * p, DailyForecast: daily, SigmaDay: math.Sqrt(daily),
			SafetyStock: safety, ReorderPoint: rop, OrderUpTo: out,
			OnHand: oh, Allocated: onHand[k].Allocated, InventoryPosition: oh - onHand[k].Allocated,
			LeadTimeDays: lead, LeadTimeSource: "item_location", ReviewPeriodDays: max(il.ReviewPeriodDays, 1),
			ProtectionDays: p, CasePack: int64(max(il.CasePack, 1)), MOQ: int64(il.MOQ), ServiceLevel: 0.95, Z: 1.65,
		}
		row.InventoryPosition = oh - row.Allocated
		if qty > 0 {
			row.DocumentKey = fmt.Sprintf("SUG-%s-%s-%s", f.asOf, k.loc, il.SupplierID)
			if daily > 0 {
				w := float64(oh) / (7 * daily)
				a := float64(row.InventoryPosition+qty) / (7 * daily)
				row.WeeksOfCover, row.WeeksOfCoverAfter = &w, &a
			}
		} else {
			row.Reasons = ""
		}
		f.sugg = append(f.sugg, row)
		for h := range fixtureHorizon {
			day := f.asOf.AddDays(h)
			v := daily * (1 + 0.25*math.Sin(float64(day.Weekday())))
			f.fc = append(f.fc, schema.ForecastRow{DT: f.asOf, RunID: "run-test", LocationID: k.loc, SKU: k.sku,
				Date: day, Horizon: int32(h + 1), Forecast: v, Model: "ses"})
		}
	}
	// The last line with a quantity of a PO with more lines has no supplier.
	lines := map[string]int{}
	for _, r := range f.sugg {
		lines[r.DocumentKey]++
	}
	for i := len(f.sugg) - 1; i >= 0; i-- {
		if r := &f.sugg[i]; r.SuggestedQty > 0 && lines[r.DocumentKey] > 1 {
			r.SupplierID, r.DocumentKey = "", ""
			break
		}
	}
}

// dated is a row type with its dt.
type dated interface{ PartitionDate() schema.Date }

// writeTable commits all rows of t in one commit, one file per dt.
func writeTable[T any, PT interface {
	*T
	dated
}](ctx context.Context, l *lake.Lake, t *schema.Table, rows []T) error {
	byDay := map[schema.Date][]T{}
	for i := range rows {
		d := PT(&rows[i]).PartitionDate()
		byDay[d] = append(byDay[d], rows[i])
	}
	days := make([]schema.Date, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	var adds []delta.Add
	for _, d := range days {
		a, err := lake.WriteFiles(ctx, l, t, d, byDay[d], lake.WriteOptions{})
		if err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		adds = append(adds, a...)
	}
	dt, err := l.Table(ctx, t)
	if err != nil {
		return err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return err
	}
	_, err = dt.Commit(ctx, snap, delta.Txn{Adds: adds})
	return err
}

// openSession opens a session over the fixture lake, closed at the end of
// the test.
func openSession(t testing.TB, f *fixture, opts queries.Options) *queries.Session {
	t.Helper()
	l, err := lake.Open(t.Context(), f.lakeDir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := queries.Open(t.Context(), l, opts)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		l.Close()
	})
	return s
}

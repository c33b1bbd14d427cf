package job

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// Progress is told of work done (series, for WriteWorld and Run).
type Progress interface{ Add(n int64) }

// WorldOptions configure WriteWorld.
type WorldOptions struct {
	// StateDays writes inventory_daily and po_open for the last StateDays
	// days of the world only (0: every day). The forecast reads the last
	// InventoryLookbackDays of inventory and the last day of open POs.
	StateDays int
	// POSLines also writes pos_lines, every line of the POS transactions
	// the generator renders (their promotion_id marks promotion days too).
	// It renders every record (streamed to files every posFlushRows
	// lines): meant for small worlds.
	POSLines bool
	// DailyPOSLines writes pos_lines from the per-series simulation
	// instead, with the chunks (the scale world's way): per store-SKU and
	// day with sales one sale line of the day's units at the day's price,
	// less the running promotion's discount, with its promotion_id; per
	// day with returns one return line. A day's transactions collapse into
	// one line each way, the columns the forecast reads (store, SKU, day,
	// type, promotion) are exact. Memory stays the chunk's; files are one
	// per day and chunk, written in parallel with the other tables.
	DailyPOSLines bool
	// ChunkSeries bounds the series simulated at once; each chunk's rows go
	// to one file per table and day. Memory is about 10 bytes per series
	// and day of a chunk. Default 131072.
	ChunkSeries int
	// RowGroupRows, when > 0, closes the location-keyed tables' Parquet row
	// groups every RowGroupRows rows (lake.WriteOptions): with rows sorted
	// by location, small row groups hold few locations each, so a shard's
	// location filter skips the others by their statistics.
	RowGroupRows int64
	// Workers simulate series in parallel. Default GOMAXPROCS.
	Workers int
	// Progress, when set, is told of each series simulated.
	Progress Progress
}

// WorldSummary describes what WriteWorld wrote.
type WorldSummary struct {
	Series   int
	Rows     map[string]int64
	Files    map[string]int
	Duration time.Duration
}

// WriteWorld writes a generated world straight into a lake, as compaction's
// unified build would have derived it from the streamed records, without
// Kafka, ingest or the raw tables in between (the scale benchmark's way in;
// tests use it too, since forecast may not import ingest or lake/compact):
// sales_daily, stockouts, inventory_daily, po_open and lead_times from the
// world's per-series simulation under its ERP policy (the same numbers its
// generator publishes), and the raw item_locations (the parameters in force
// from day 0 and after each update) and promotions (the calendar as the
// generator publishes it on erp.promotions). With POSLines it also writes
// pos_lines.
//
// Amounts of sales_daily are computed per day rather than summed from
// rendered lines (a promotion's discount is rounded once per day instead of
// per line), and transactions counts the units sold: neither matters to the
// forecast. Rows are written sorted by their table's sort key, one file per
// table, day and chunk of locations; one commit per table and chunk.
func WriteWorld(ctx context.Context, l *lake.Lake, w *world.World, o WorldOptions) (WorldSummary, error) {
	start := time.Now()
	if o.ChunkSeries <= 0 {
		o.ChunkSeries = 131072
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.StateDays <= 0 || o.StateDays > w.Days() {
		o.StateDays = w.Days()
	}
	sum := WorldSummary{Rows: map[string]int64{}, Files: map[string]int{}}
	ww := &worldWriter{l: l, w: w, o: o, sum: &sum}
	ww.order()
	for _, chunk := range ww.chunks() {
		if err := ww.chunk(ctx, chunk); err != nil {
			return sum, err
		}
	}
	if err := ww.promotions(ctx); err != nil {
		return sum, err
	}
	if o.POSLines && !o.DailyPOSLines {
		if err := ww.posLines(ctx); err != nil {
			return sum, err
		}
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

type worldWriter struct {
	l    *lake.Lake
	w    *world.World
	o    WorldOptions
	sum  *WorldSummary
	mu   sync.Mutex
	locs []int // location indices by location ID
	skus []int // SKU indices by SKU ID
}

func (ww *worldWriter) order() {
	locs := ww.w.Locations()
	for i := range locs {
		ww.locs = append(ww.locs, i)
	}
	slices.SortFunc(ww.locs, func(a, b int) int { return cmp.Compare(locs[a].ID, locs[b].ID) })
	items := ww.w.Items()
	for i := range items {
		ww.skus = append(ww.skus, i)
	}
	slices.SortFunc(ww.skus, func(a, b int) int { return cmp.Compare(items[a].ID, items[b].ID) })
}

// chunks splits the ordered locations into runs of at most ChunkSeries
// series (at least one location each).
func (ww *worldWriter) chunks() [][]int {
	per := max(ww.o.ChunkSeries/len(ww.skus), 1)
	var out [][]int
	for i := 0; i < len(ww.locs); i += per {
		out = append(out, ww.locs[i:min(i+per, len(ww.locs))])
	}
	return out
}

// chunkData holds a chunk's simulated days, series-major: series s of the
// chunk (location-major, then SKU) on day d is at s*days+d; state columns
// hold the last StateDays days.
type chunkData struct {
	locs               []int
	days, state        int
	sold, returned     []int32
	stockout           []bool
	onHand, onOrder    []int32 // state days
	poQty, poNext      []int32 // state days; poNext is a day index
	poLines            []int16 // state days
	lead               [][]schema.LeadTimeRow
	nSeries, firstDays int
}

func (ww *worldWriter) chunk(ctx context.Context, locs []int) error {
	w := ww.w
	days, state := w.Days(), ww.o.StateDays
	n := len(locs) * len(ww.skus)
	c := &chunkData{locs: locs, days: days, state: state, nSeries: n, firstDays: days - state,
		sold: make([]int32, n*days), returned: make([]int32, n*days), stockout: make([]bool, n*days),
		onHand: make([]int32, n*state), onOrder: make([]int32, n*state),
		poQty: make([]int32, n*state), poNext: make([]int32, n*state), poLines: make([]int16, n*state),
		lead: make([][]schema.LeadTimeRow, ww.o.Workers)}
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for wk := range ww.o.Workers {
		g.Go(func() error {
			sim := w.NewSim()
			var open []openLine
			for {
				s := int(next.Add(1) - 1)
				if s >= n {
					return nil
				}
				if s%256 == 0 && gctx.Err() != nil {
					return gctx.Err()
				}
				if err := ww.simulate(c, sim, s, wk, &open); err != nil {
					return err
				}
				if ww.o.Progress != nil {
					ww.o.Progress.Add(1)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	ww.sum.Series += n
	return ww.writeChunk(ctx, c)
}

type openLine struct {
	orderDay, expected int
	qty, received      int64
}

// simulate runs series s of chunk c under the world's ERP policy.
func (ww *worldWriter) simulate(c *chunkData, sim *world.Sim, s, worker int, open *[]openLine) error {
	w := ww.w
	loc, sku := c.locs[s/len(ww.skus)], ww.skus[s%len(ww.skus)]
	l := &w.Locations()[loc]
	it := &w.Items()[sku]
	sup := &w.Suppliers()[it.Supplier]
	*open = (*open)[:0]
	sim.Reset(loc, sku, nil)
	base := s * c.days
	for r := sim.Step(); r != nil; r = sim.Step() {
		d := r.Day
		if r.Sold > 1<<31-1 || r.OnHand > 1<<31-1 || r.OnOrder > 1<<31-1 {
			return fmt.Errorf("series %s/%s day %d: quantities beyond int32", l.ID, it.ID, d)
		}
		c.sold[base+d] = int32(r.Sold)
		c.returned[base+d] = int32(r.Returned)
		c.stockout[base+d] = r.OnHand <= 0
		for _, e := range r.Events {
			switch e.Status {
			case schema.POOpen:
				*open = append(*open, openLine{orderDay: e.OrderDay, expected: e.ExpectedDay, qty: e.QtyOrdered})
			case schema.POPartiallyReceived, schema.POReceived, schema.POCancelled:
				i := slices.IndexFunc(*open, func(o openLine) bool { return o.orderDay == e.OrderDay })
				if i < 0 {
					return fmt.Errorf("series %s/%s day %d: event of unknown order of day %d", l.ID, it.ID, d, e.OrderDay)
				}
				(*open)[i].received = e.QtyReceived
				if e.Status == schema.POPartiallyReceived {
					continue
				}
				*open = slices.Delete(*open, i, i+1)
				if e.Status != schema.POReceived {
					continue
				}
				date := w.Date(d)
				c.lead[worker] = append(c.lead[worker], schema.LeadTimeRow{
					DT: date, SupplierID: sup.ID, LocationID: l.ID, SKU: it.ID,
					POID: "PO-" + l.ID + "-" + sup.ID + "-" + ymd(w.Date(e.OrderDay)), LineNo: int32(w.LineNo(sku)),
					OrderDate: w.Date(e.OrderDay), ExpectedDate: w.Date(e.ExpectedDay), ReceivedDate: date,
					LeadTimeDays: int32(d - e.OrderDay), QtyOrdered: e.QtyOrdered, QtyReceived: e.QtyReceived,
				})
			}
		}
		if d < c.firstDays {
			continue
		}
		i := s*c.state + d - c.firstDays
		c.onHand[i], c.onOrder[i] = int32(r.OnHand), int32(r.OnOrder)
		var qty int64
		nextExp := -1
		for _, o := range *open {
			qty += max(o.qty-o.received, 0)
			if nextExp < 0 || o.expected < nextExp {
				nextExp = o.expected
			}
		}
		c.poQty[i], c.poNext[i], c.poLines[i] = int32(qty), int32(nextExp), int16(min(len(*open), 1<<15-1))
	}
	return nil
}

func ymd(d schema.Date) string {
	y, m, dd := d.Time().Date()
	return fmt.Sprintf("%04d%02d%02d", y, m, dd)
}

// writeChunk writes a chunk's rows, one file per table and day, and commits
// each table once.
func (ww *worldWriter) writeChunk(ctx context.Context, c *chunkData) error {
	w := ww.w
	type tableAdds struct {
		mu   sync.Mutex
		adds []delta.Add
		rows int64
	}
	tables := map[string]*tableAdds{}
	for _, t := range []string{schema.TableNameSalesDaily, schema.TableNameStockouts, schema.TableNameInventoryDaily,
		schema.TableNamePOOpen, schema.TableNameLeadTimes, schema.TableNameItemLocations, schema.TableNamePOSLines} {
		tables[t] = &tableAdds{}
	}
	record := func(table string, adds []delta.Add, rows int) {
		ta := tables[table]
		ta.mu.Lock()
		ta.adds = append(ta.adds, adds...)
		ta.rows += int64(rows)
		ta.mu.Unlock()
	}
	// Lead times by received day, in sort key order.
	var lead []schema.LeadTimeRow
	for _, ls := range c.lead {
		lead = append(lead, ls...)
	}
	slices.SortFunc(lead, func(a, b schema.LeadTimeRow) int {
		return cmp.Or(cmp.Compare(a.DT, b.DT), cmp.Compare(a.SupplierID, b.SupplierID), cmp.Compare(a.LocationID, b.LocationID),
			cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.POID, b.POID), cmp.Compare(a.LineNo, b.LineNo))
	})
	leadByDay := map[schema.Date][]schema.LeadTimeRow{}
	for i := 0; i < len(lead); {
		j := i
		for j < len(lead) && lead[j].DT == lead[i].DT {
			j++
		}
		leadByDay[lead[i].DT] = lead[i:j]
		i = j
	}
	prices := make([]schema.Money, c.nSeries)
	for s := range prices {
		prices[s] = w.UnitPrice(c.locs[s/len(ww.skus)], ww.skus[s%len(ww.skus)])
	}
	opts := lake.WriteOptions{RowGroupRows: ww.o.RowGroupRows}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(ww.o.Workers)
	for d := range c.days {
		g.Go(func() error {
			date := w.Date(d)
			var sales []schema.SalesDailyRow
			var outs []schema.StockoutRow
			var inv []schema.InventoryDailyRow
			var po []schema.POOpenRow
			var pos []schema.PosLineRow
			for s := range c.nSeries {
				loc, sku := c.locs[s/len(ww.skus)], ww.skus[s%len(ww.skus)]
				l := &w.Locations()[loc]
				it := &w.Items()[sku]
				i := s*c.days + d
				if sold, ret := int64(c.sold[i]), int64(c.returned[i]); l.Kind == world.KindStore && (sold > 0 || ret > 0) {
					price := prices[s]
					gross := price.Mul(sold)
					var disc schema.Money
					if p := w.PromotionAt(loc, sku, d); p != nil {
						disc = schema.MoneyFromMinor((2*gross.Cents()*p.DiscountPct + 100) / 200)
					}
					returns := price.Mul(ret)
					sales = append(sales, schema.SalesDailyRow{DT: date, StoreID: l.ID, SKU: it.ID, Currency: l.Currency,
						UnitsSold: sold, UnitsReturned: ret, GrossSales: gross, Discounts: disc, Returns: returns,
						NetSales: gross - disc - returns, Transactions: sold})
					if ww.o.DailyPOSLines {
						pos = ww.dailyPOSLines(pos, l, it, sku, d, sold, ret, price, gross, disc, returns)
					}
				}
				if c.stockout[i] {
					outs = append(outs, schema.StockoutRow{DT: date, LocationID: l.ID, SKU: it.ID})
				}
				if d < c.firstDays {
					continue
				}
				j := s*c.state + d - c.firstDays
				onHand := int64(c.onHand[j])
				var alloc int64
				if l.Kind == world.KindDC {
					alloc = min(onHand, int64(c.sold[i])/2)
				}
				inv = append(inv, schema.InventoryDailyRow{DT: date, LocationID: l.ID, SKU: it.ID, OnHand: onHand,
					Allocated: alloc, InTransit: int64(c.onOrder[j]), AsOf: localTime(l, date, 22*3600).UTC()})
				if c.poLines[j] > 0 {
					po = append(po, schema.POOpenRow{DT: date, LocationID: l.ID, SKU: it.ID, SupplierID: w.Suppliers()[it.Supplier].ID,
						QtyOpen: int64(c.poQty[j]), NextExpectedDate: w.Date(int(c.poNext[j])), OpenLines: int64(c.poLines[j])})
				}
			}
			for _, f := range []func() error{
				func() error { return writeDay(gctx, ww.l, schema.TableSalesDaily(), date, sales, opts, record) },
				func() error { return writeDay(gctx, ww.l, schema.TableStockouts(), date, outs, opts, record) },
				func() error { return writeDay(gctx, ww.l, schema.TableInventoryDaily(), date, inv, opts, record) },
				func() error { return writeDay(gctx, ww.l, schema.TablePOOpen(), date, po, opts, record) },
				func() error {
					return writeDay(gctx, ww.l, schema.TableLeadTimes(), date, leadByDay[date], opts, record)
				},
				func() error { return writeDay(gctx, ww.l, schema.TablePOSLines(), date, pos, opts, record) },
			} {
				if err := f(); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Item locations: the parameters from day 0, and each update.
	byDay := map[schema.Date][]schema.ItemLocationRow{}
	for s := range c.nSeries {
		loc, sku := c.locs[s/len(ww.skus)], ww.skus[s%len(ww.skus)]
		for _, day := range []int{0, w.ParamsUpdateDay(loc, sku)} {
			if day < 0 {
				continue
			}
			p := w.Params(loc, sku, day)
			l := &w.Locations()[loc]
			it := &w.Items()[sku]
			at := localTime(l, w.Date(day), 5*3600)
			il := schema.ItemLocation{SchemaVersion: schema.CurrentVersion, SKU: it.ID, LocationID: l.ID,
				Description: it.Description, Category: it.Category, Department: it.Department,
				SupplierID: p.SupplierID, LeadTimeDays: p.LeadTimeDays, ReviewPeriodDays: p.ReviewPeriodDays,
				CasePack: p.CasePack, MOQ: p.MOQ, UnitCost: p.UnitCost, UnitPrice: p.UnitPrice,
				Currency: p.Currency, ServiceLevel: p.ServiceLevel, Active: p.Active, UpdatedAt: at}
			date := schema.DateOf(at)
			byDay[date] = il.AppendRows(byDay[date], schema.Source{Partition: 0, Offset: int64(s), IngestedAt: at.UTC()})
		}
	}
	for date, rows := range byDay {
		slices.SortFunc(rows, func(a, b schema.ItemLocationRow) int {
			return cmp.Or(cmp.Compare(a.LocationID, b.LocationID), cmp.Compare(a.SKU, b.SKU), a.UpdatedAt.Compare(b.UpdatedAt))
		})
		if err := writeDay(ctx, ww.l, schema.TableItemLocations(), date, rows, opts, record); err != nil {
			return err
		}
	}
	for name, ta := range tables {
		if len(ta.adds) == 0 {
			continue
		}
		t, _ := schema.LookupTable(name)
		if err := commitAppend(ctx, ww.l, t, ta.adds, "shelflake.world"); err != nil {
			return err
		}
		ww.mu.Lock()
		ww.sum.Rows[name] += ta.rows
		ww.sum.Files[name] += len(ta.adds)
		ww.mu.Unlock()
	}
	return nil
}

// localTime is sec seconds after local midnight of date at l.
func localTime(l *world.Location, date schema.Date, sec int) time.Time {
	y, m, d := date.Time().Date()
	return time.Date(y, m, d, 0, 0, sec, 0, l.TZ)
}

// writeDay writes rows (possibly none) of one day of t and records the adds.
func writeDay[T any](ctx context.Context, l *lake.Lake, t *schema.Table, date schema.Date, rows []T, o lake.WriteOptions,
	record func(string, []delta.Add, int)) error {
	if len(rows) == 0 {
		return nil
	}
	adds, err := lake.WriteFiles(ctx, l, t, date, rows, o)
	if err != nil {
		return err
	}
	record(t.Name, adds, len(rows))
	return nil
}

// promotions writes the promotion calendar the ERP publishes on
// erp.promotions (world.PromotionFeed): one row per published state of an
// item promotion (chain-wide or one store's; a hard world's changes after
// publication are further states), stamped 06:00 on its publish day at the
// first location (the generator's headquarters), partitioned by that date.
func (ww *worldWriter) promotions(ctx context.Context) error {
	w := ww.w
	hq := w.Locations()[0].TZ
	byDay := map[schema.Date][]schema.PromotionRow{}
	for _, sku := range ww.skus {
		it := &w.Items()[sku]
		for _, rec := range w.PromotionFeed(sku) {
			p := rec.P
			y, m, d := w.Date(rec.Day).Time().Date()
			at := time.Date(y, m, d, 6, 0, 0, 0, hq)
			status := schema.PromotionPlanned
			if rec.Cancelled {
				status = schema.PromotionCancelled
			}
			ev := schema.Promotion{SchemaVersion: schema.CurrentVersion, PromotionID: p.ID, SKU: it.ID, LocationID: p.StoreID,
				StartDate: w.Date(rec.Start), EndDate: w.Date(rec.End - 1), DiscountPct: int(p.DiscountPct),
				Status: status, UpdatedAt: at}
			day := schema.DateOf(at)
			byDay[day] = ev.AppendRows(byDay[day], schema.Source{Offset: -1, IngestedAt: at})
		}
	}
	var adds []delta.Add
	rows := 0
	for _, day := range slices.Sorted(maps.Keys(byDay)) {
		rs := byDay[day]
		slices.SortStableFunc(rs, func(a, b schema.PromotionRow) int {
			return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.PromotionID, b.PromotionID))
		})
		err := writeDay(ctx, ww.l, schema.TablePromotions(), day, rs, lake.WriteOptions{}, func(_ string, a []delta.Add, n int) {
			adds = append(adds, a...)
			rows += n
		})
		if err != nil {
			return err
		}
	}
	if len(adds) == 0 {
		return nil
	}
	if err := commitAppend(ctx, ww.l, schema.TablePromotions(), adds, "shelflake.world"); err != nil {
		return err
	}
	ww.sum.Rows[schema.TableNamePromotions] += int64(rows)
	ww.sum.Files[schema.TableNamePromotions] += len(adds)
	return nil
}

// commitAppend commits adds to t (creating it if needed).
func commitAppend(ctx context.Context, l *lake.Lake, t *schema.Table, adds []delta.Add, infoKey string) error {
	dt, err := l.Table(ctx, t)
	if err != nil {
		return err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return err
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE",
		Info: map[string]any{infoKey: map[string]any{"files": len(adds)}}}); err != nil {
		return fmt.Errorf("commit %s: %w", t.Name, err)
	}
	return nil
}

// dailyPOSLines appends series (l, it)'s lines of day d (see
// WorldOptions.DailyPOSLines), in pos_lines' sort order: sale, then return.
func (ww *worldWriter) dailyPOSLines(dst []schema.PosLineRow, l *world.Location, it *world.Item, sku, d int,
	sold, ret int64, price, gross, disc, returns schema.Money) []schema.PosLineRow {
	date := ww.w.Date(d)
	at := localTime(l, date, 12*3600)
	_, off := at.Zone()
	line := schema.PosLineRow{StoreID: l.ID, RegisterID: l.ID + "-R01", BusinessDate: date, EventTime: at.UTC(),
		EventUTCOffsetMin: int32(off / 60), Currency: l.Currency, SKU: it.ID, UnitPrice: price, IngestedAt: at.UTC(),
		SrcOffset: -1}
	if sold > 0 {
		sl := line
		sl.TransactionID, sl.LineNo, sl.TxnType = "D-"+l.ID+"-"+it.ID+"-"+ymd(date), 1, string(schema.TxnSale)
		sl.Quantity, sl.Discount, sl.LineTotal, sl.TxnTotal = sold, disc, gross-disc, gross-disc
		if p := ww.w.Promotion(sku, d); p != nil {
			sl.PromotionID = p.ID
		}
		dst = append(dst, sl)
	}
	if ret > 0 {
		rl := line
		rl.TransactionID, rl.LineNo, rl.TxnType = "R-"+l.ID+"-"+it.ID+"-"+ymd(date), 1, string(schema.TxnReturn)
		rl.Quantity, rl.LineTotal, rl.TxnTotal = -ret, -returns, -returns
		dst = append(dst, rl)
	}
	return dst
}

// posFlushRows is how many rendered POS lines the world buffers before it
// writes them out (one file per day buffered).
const posFlushRows = 1 << 20

// posLines renders the world's POS transactions and writes them to
// pos_lines as they come, in files of at most posFlushRows lines a flush
// (days written in parallel), committed once at the end.
func (ww *worldWriter) posLines(ctx context.Context) error {
	truth, err := os.MkdirTemp("", "shelflake-world-truth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(truth)
	sink := &posSink{l: ww.l, workers: ww.o.Workers, rows: map[schema.Date][]schema.PosLineRow{}}
	if _, err := ww.w.Generate(ctx, world.GenerateOptions{Sink: sink, TruthDir: truth, Workers: ww.o.Workers}); err != nil {
		return fmt.Errorf("render pos transactions: %w", err)
	}
	if sink.err != nil {
		return sink.err
	}
	if err := sink.flush(ctx); err != nil {
		return err
	}
	t := schema.TablePOSLines()
	if len(sink.adds) == 0 {
		return nil
	}
	if err := commitAppend(ctx, ww.l, t, sink.adds, "shelflake.world"); err != nil {
		return err
	}
	ww.sum.Rows[t.Name] += sink.written
	ww.sum.Files[t.Name] += len(sink.adds)
	return nil
}

// posSink decodes the generator's POS records into pos_lines rows and
// writes them out every posFlushRows rows.
type posSink struct {
	l        *lake.Lake
	workers  int
	rows     map[schema.Date][]schema.PosLineRow
	buffered int
	offset   int64
	adds     []delta.Add
	written  int64
	err      error
}

func (s *posSink) Write(ctx context.Context, recs []world.Record) error {
	for _, r := range recs {
		if r.Topic != schema.TopicPOS {
			continue
		}
		tx, err := schema.DecodePOS(r.Value)
		if err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("decode generated pos record: %w", err))
			continue
		}
		s.offset++
		n := len(s.rows[tx.BusinessDate])
		s.rows[tx.BusinessDate] = tx.AppendRows(s.rows[tx.BusinessDate], schema.Source{Offset: s.offset, IngestedAt: tx.EventTime.UTC()})
		s.buffered += len(s.rows[tx.BusinessDate]) - n
	}
	if s.buffered >= posFlushRows {
		return s.flush(ctx)
	}
	return nil
}

func (s *posSink) Flush(context.Context) error { return nil }

// flush writes the buffered rows, one file per day, days in parallel.
func (s *posSink) flush(ctx context.Context) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.workers, 1))
	t := schema.TablePOSLines()
	for date, rs := range s.rows {
		g.Go(func() error {
			slices.SortStableFunc(rs, func(a, b schema.PosLineRow) int {
				return cmp.Or(cmp.Compare(a.StoreID, b.StoreID), cmp.Compare(a.SKU, b.SKU), a.EventTime.Compare(b.EventTime))
			})
			return writeDay(gctx, s.l, t, date, rs, lake.WriteOptions{}, func(_ string, a []delta.Add, n int) {
				mu.Lock()
				s.adds = append(s.adds, a...)
				s.written += int64(n)
				mu.Unlock()
			})
		})
	}
	err := g.Wait()
	clear(s.rows)
	s.buffered = 0
	return err
}

package backtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// seriesKey names one store-SKU series.
type seriesKey struct{ store, sku string }

// panel is the daily net demand and net sales of every store-SKU with a
// sales_daily row over the days [start, start+days), and each store's
// observed trading days.
type panel struct {
	start schema.Date
	days  int
	keys  []seriesKey
	index map[seriesKey]int
	// demand[i][d] is series i's net demand on day start+d (see the package
	// doc), revenue[i][d] its net sales in the store's currency.
	demand  [][]float32
	revenue [][]float32
	// open[store][d]: the store had a sales_daily row with units on day d.
	open map[string][]bool
	// dept and cat are each series' department and category from the
	// latest item_locations state ("" when unknown).
	dept, cat []string
	// stockout[i][d]: series i has a stockouts row on day start+d (nil
	// for a series without any, and for a lake without the table).
	stockout map[int][]bool
}

func (p *panel) day(d schema.Date) int { return int(d - p.start) }

// series returns the index of k, adding it when new.
func (p *panel) series(k seriesKey) int {
	if i, ok := p.index[k]; ok {
		return i
	}
	i := len(p.keys)
	p.index[k] = i
	p.keys = append(p.keys, k)
	p.demand = append(p.demand, make([]float32, p.days))
	p.revenue = append(p.revenue, make([]float32, p.days))
	return i
}

// salesRow is the part of schema.SalesDailyRow the backtest reads.
type salesRow struct {
	StoreID       string       `parquet:"store_id"`
	SKU           string       `parquet:"sku"`
	UnitsSold     int64        `parquet:"units_sold"`
	UnitsReturned int64        `parquet:"units_returned"`
	NetSales      schema.Money `parquet:"net_sales,decimal(4:18)"`
}

// snapshot returns the latest snapshot of t, or ok false when the lake has
// no such table.
func snapshot(ctx context.Context, l *lake.Lake, t *schema.Table) (*delta.Snapshot, bool, error) {
	dt, err := l.ExistingTable(ctx, t)
	if errors.Is(err, delta.ErrTableNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("%s snapshot: %w", t.Name, err)
	}
	return snap, true, nil
}

// LastSalesDate returns the latest business date (dt) of sales_daily in l.
func LastSalesDate(ctx context.Context, l *lake.Lake) (schema.Date, error) {
	snap, ok, err := snapshot(ctx, l, schema.TableSalesDaily())
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errors.New("the lake has no sales_daily table: build the unified tables first")
	}
	var last string
	for _, f := range snap.Files() {
		last = max(last, f.PartitionValues[schema.PartitionColumn])
	}
	if last == "" {
		return 0, errors.New("sales_daily is empty")
	}
	d, err := schema.ParseDate(last)
	if err != nil {
		return 0, fmt.Errorf("sales_daily partition %q: %w", last, err)
	}
	return d, nil
}

// loadPanel reads sales_daily over [from, to].
func loadPanel(ctx context.Context, l *lake.Lake, from, to schema.Date) (*panel, error) {
	t := schema.TableSalesDaily()
	snap, ok, err := snapshot(ctx, l, t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("the lake has no sales_daily table: build the unified tables first")
	}
	p := &panel{start: from, days: int(to-from) + 1, index: map[seriesKey]int{}, open: map[string][]bool{}}
	buf := make([]salesRow, 4096)
	for _, f := range snap.FilesInRange(t.PartitionColumn, from.String(), to.String()) {
		dt, err := schema.ParseDate(f.PartitionValues[t.PartitionColumn])
		if err != nil {
			return nil, fmt.Errorf("sales_daily file %s: %w", f.Path, err)
		}
		d := p.day(dt)
		if err := readAll(ctx, l, f, buf, func(r *salesRow) {
			if r.UnitsSold == 0 && r.UnitsReturned == 0 {
				return
			}
			op := p.open[r.StoreID]
			if op == nil {
				op = make([]bool, p.days)
				p.open[r.StoreID] = op
			}
			op[d] = true
			i := p.series(seriesKey{r.StoreID, r.SKU})
			p.demand[i][d] += float32(r.UnitsSold - r.UnitsReturned)
			p.revenue[i][d] += float32(float64(r.NetSales) / 1e4)
		}); err != nil {
			return nil, fmt.Errorf("sales_daily: %w", err)
		}
	}
	// Net demand is floored per day, after the day's rows are summed.
	for _, y := range p.demand {
		for d, v := range y {
			y[d] = max(v, 0)
		}
	}
	return p, nil
}

// readAll streams the rows of file f into fn.
func readAll[T any](ctx context.Context, l *lake.Lake, f delta.File, buf []T, fn func(*T)) error {
	rr, err := lake.OpenRows[T](ctx, l, f.Key, f.Size)
	if err != nil {
		return err
	}
	defer rr.Close()
	for {
		n, err := rr.Read(buf)
		for i := range buf[:n] {
			fn(&buf[i])
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// itemLocRow is the part of schema.ItemLocationRow the backtest reads.
type itemLocRow struct {
	SKU          string    `parquet:"sku"`
	LocationID   string    `parquet:"location_id"`
	Category     string    `parquet:"category"`
	Department   string    `parquet:"department"`
	UpdatedAt    time.Time `parquet:"updated_at,timestamp(microsecond)"`
	IngestedAt   time.Time `parquet:"ingested_at,timestamp(microsecond)"`
	SrcPartition int32     `parquet:"src_partition"`
	SrcOffset    int64     `parquet:"src_offset"`
}

// stockoutRow is the part of schema.StockoutRow the backtest reads.
type stockoutRow struct {
	LocationID string `parquet:"location_id"`
	SKU        string `parquet:"sku"`
}

// loadStockouts marks the panel's series-days with a stockouts row (a day
// that ended with nothing on hand, so demand may have gone unmet); a lake
// without the stockouts table marks none.
func (p *panel) loadStockouts(ctx context.Context, l *lake.Lake) error {
	p.stockout = map[int][]bool{}
	t := schema.TableStockouts()
	snap, ok, err := snapshot(ctx, l, t)
	if err != nil || !ok {
		return err
	}
	to := p.start + schema.Date(p.days) - 1
	buf := make([]stockoutRow, 4096)
	for _, f := range snap.FilesInRange(t.PartitionColumn, p.start.String(), to.String()) {
		dt, err := schema.ParseDate(f.PartitionValues[t.PartitionColumn])
		if err != nil {
			return fmt.Errorf("stockouts file %s: %w", f.Path, err)
		}
		d := p.day(dt)
		if d < 0 || d >= p.days {
			continue
		}
		if err := readAll(ctx, l, f, buf, func(r *stockoutRow) {
			i, ok := p.index[seriesKey{r.LocationID, r.SKU}]
			if !ok {
				return
			}
			so := p.stockout[i]
			if so == nil {
				so = make([]bool, p.days)
				p.stockout[i] = so
			}
			so[d] = true
		}); err != nil {
			return fmt.Errorf("stockouts: %w", err)
		}
	}
	return nil
}

// loadHierarchy sets each series' department and category from the latest
// item_locations state (as the forecast job picks it); a lake without
// item_locations leaves them empty.
func (p *panel) loadHierarchy(ctx context.Context, l *lake.Lake) error {
	p.dept, p.cat = make([]string, len(p.keys)), make([]string, len(p.keys))
	snap, ok, err := snapshot(ctx, l, schema.TableItemLocations())
	if err != nil || !ok {
		return err
	}
	latest := map[seriesKey]itemLocRow{}
	newer := func(a, b *itemLocRow) bool {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), a.IngestedAt.Compare(b.IngestedAt),
			cmp.Compare(a.SrcPartition, b.SrcPartition), cmp.Compare(a.SrcOffset, b.SrcOffset)) > 0
	}
	buf := make([]itemLocRow, 4096)
	for _, f := range snap.Files() {
		if err := readAll(ctx, l, f, buf, func(r *itemLocRow) {
			k := seriesKey{r.LocationID, r.SKU}
			if _, ok := p.index[k]; !ok {
				return
			}
			if cur, ok := latest[k]; !ok || newer(r, &cur) {
				latest[k] = *r
			}
		}); err != nil {
			return fmt.Errorf("item_locations: %w", err)
		}
	}
	for k, r := range latest {
		i := p.index[k]
		p.dept[i], p.cat[i] = r.Department, r.Category
	}
	return nil
}

// runForecasts is what the forecast job stored for one as-of date.
type runForecasts struct {
	run schema.ForecastRunRow
	// fc maps a series index of the panel to its daily forecasts from the
	// as-of date on (horizon days).
	fc map[int][]float64
}

// forecastRow is the part of schema.ForecastRow the backtest reads.
type forecastRow struct {
	RunID      string  `parquet:"run_id"`
	LocationID string  `parquet:"location_id"`
	SKU        string  `parquet:"sku"`
	Horizon    int32   `parquet:"horizon"`
	Forecast   float64 `parquet:"forecast"`
}

// loadRun reads the completed run of asOf from forecast_runs and its
// forecasts of horizons 1..horizon.
func (p *panel) loadRun(ctx context.Context, l *lake.Lake, asOf schema.Date, horizon int) (*runForecasts, error) {
	d := asOf.String()
	inPart := func(pv map[string]string) bool { return pv[schema.PartitionColumn] == d }
	snap, ok, err := snapshot(ctx, l, schema.TableForecastRuns())
	if err != nil {
		return nil, err
	}
	out := &runForecasts{fc: map[int][]float64{}}
	found := false
	if ok {
		for _, f := range snap.FilesWhere(inPart) {
			if err := readAll(ctx, l, f, make([]schema.ForecastRunRow, 16), func(r *schema.ForecastRunRow) {
				if r.AsOf == asOf {
					out.run, found = *r, true
					out.run.DT = asOf
				}
			}); err != nil {
				return nil, fmt.Errorf("forecast_runs: %w", err)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("forecast_runs has no run of %s: the forecast job did not complete it", d)
	}
	snap, ok, err = snapshot(ctx, l, schema.TableForecasts())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the lake has no forecasts table, yet a run of %s completed", d)
	}
	maxH := 0
	buf := make([]forecastRow, 4096)
	for _, f := range snap.FilesWhere(inPart) {
		if err := readAll(ctx, l, f, buf, func(r *forecastRow) {
			if r.RunID != out.run.RunID || r.Horizon < 1 || int(r.Horizon) > horizon {
				return
			}
			maxH = max(maxH, int(r.Horizon))
			// A series forecast without any sale in the panel's days
			// joins it with zero demand: its forecast is all error.
			i := p.series(seriesKey{r.LocationID, r.SKU})
			fc := out.fc[i]
			if fc == nil {
				fc = make([]float64, horizon)
				out.fc[i] = fc
			}
			fc[r.Horizon-1] = r.Forecast
		}); err != nil {
			return nil, fmt.Errorf("forecasts: %w", err)
		}
	}
	if maxH < horizon && len(out.fc) > 0 {
		return nil, fmt.Errorf("run %s forecasts %d days, fewer than the %d-day horizon", out.run.RunID, maxH, horizon)
	}
	return out, nil
}

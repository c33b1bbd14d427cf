package job

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shelflake/shelflake/forecast/engine"
	"github.com/shelflake/shelflake/forecast/model"
	"github.com/shelflake/shelflake/forecast/replenish"
	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

type arrowReader = array.RecordReader

// bucket is a run of whole locations' series, [lo, hi] by series id.
type bucket struct {
	lo, hi     int
	loc0, loc1 string
}

// buckets splits the series (ordered by location) into buckets of whole
// locations of about BucketSeries series.
func (r *runner) buckets() []bucket {
	var out []bucket
	for lo := 0; lo < len(r.attrs); {
		hi := lo
		for hi+1 < len(r.attrs) && (hi+1-lo < r.o.BucketSeries || r.attrs[hi+1].loc == r.attrs[hi].loc) {
			hi++
		}
		out = append(out, bucket{lo: lo, hi: hi, loc0: r.attrs[lo].loc, loc1: r.attrs[hi].loc})
		lo = hi + 1
	}
	return out
}

// trainingBucket is the first whole locations' series, about globalSeries
// of them: the global model's training series.
func (r *runner) trainingBucket() bucket {
	hi := 0
	for hi+1 < len(r.attrs) && (hi+1 < globalSeries || r.attrs[hi+1].loc == r.attrs[hi].loc) {
		hi++
	}
	return bucket{lo: 0, hi: hi, loc0: r.attrs[0].loc, loc1: r.attrs[hi].loc}
}

// chanSource is an engine.Source fed by the DuckDB producer.
type chanSource struct{ ch <-chan sourceItem }

type sourceItem struct {
	b   *engine.Batch
	err error
}

func (s *chanSource) Next(ctx context.Context) (*engine.Batch, error) {
	select {
	case it, ok := <-s.ch:
		if !ok {
			return nil, io.EOF
		}
		return it.b, it.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// produce runs the bucket queries one after the other on their own DuckDB
// connection and sends their batches, annotated, to ch (closed at the end).
// A bucket's batches are read whole before they are sent, for the pooled
// weekly profiles of its stores' departments; the next bucket is read (and
// forecast by the global model) while the last one's batches are sent.
func (r *runner) produce(ctx context.Context, db *sql.DB, ch chan<- sourceItem) error {
	defer close(ch)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ready := make(chan []*engine.Batch)
	sent := make(chan error, 1)
	go func() {
		sent <- func() error {
			for batches := range ready {
				for _, batch := range batches {
					select {
					case ch <- sourceItem{b: batch}:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			return nil
		}()
	}()
	err = withArrow(conn, func(query func(context.Context, string) (arrowReader, error)) error {
		defer close(ready)
		return r.readBuckets(ctx, query, ready)
	})
	if serr := <-sent; serr != nil && err == nil {
		err = serr
	}
	return err
}

// readBuckets reads the buckets in order, annotates their batches and
// hands each bucket's batches to ready.
func (r *runner) readBuckets(ctx context.Context, query func(context.Context, string) (arrowReader, error), ready chan<- []*engine.Batch) error {
	bs := r.buckets()
	var first []*engine.Batch
	if r.trained == nil {
		// The global model trains on the series of the first whole
		// locations, about globalSeries of them, whatever the buckets;
		// their calendars give the closed weekdays shared with locations
		// too young to learn their own (a shard has both from the plan).
		tb := r.trainingBucket()
		batches, err := r.readBucket(ctx, query, tb)
		if err != nil {
			return err
		}
		r.calendars(batches, &calSummary{})
		if r.global != nil {
			r.seasons(batches)
			if err := r.trainGlobal(r.global, batches); err != nil {
				return err
			}
		}
		if tb == bs[0] {
			first = batches
		}
	}
	for k, b := range bs {
		batches := first
		if k > 0 || batches == nil {
			var err error
			if batches, err = r.readBucket(ctx, query, b); err != nil {
				return err
			}
		}
		r.calendars(batches, &r.calSummary)
		r.ramps(batches)
		r.seasons(batches)
		if err := r.predictGlobal(ctx, r.global, batches); err != nil {
			return err
		}
		select {
		case ready <- batches:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// readBucket reads the daily series of bucket b.
func (r *runner) readBucket(ctx context.Context, query func(context.Context, string) (arrowReader, error), b bucket) ([]*engine.Batch, error) {
	q := fill(bucketSQL, map[string]string{"A": sqlInt(int(r.o.AsOf)), "H": sqlInt(int(r.histStart)), "LO": sqlInt(b.lo), "HI": sqlInt(b.hi),
		"LOC0": sqlString(b.loc0), "LOC1": sqlString(b.loc1)})
	rr, err := query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("daily series of %s..%s: %w", b.loc0, b.loc1, err)
	}
	src, err := engine.NewRecordSource(rr, engine.RecordOptions{BatchSeries: r.o.BatchSeries})
	rr.Release()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	next := int64(b.lo)
	var out []*engine.Batch
	for {
		batch, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = r.annotate(batch, &next)
		}
		if err != nil {
			return nil, fmt.Errorf("daily series of %s..%s: %w", b.loc0, b.loc1, err)
		}
		out = append(out, batch)
	}
	if next != int64(b.hi)+1 {
		return nil, fmt.Errorf("daily series of %s..%s: %d series, want %d", b.loc0, b.loc1, next-int64(b.lo), b.hi-b.lo+1)
	}
	return out, nil
}

// seasons sets every series' prior weekly profile (model.Series.Season):
// the mean demand per weekday of its store and department over the days
// neither censored, promoted nor closed, aligned to the series' first day; neutral
// when the department sold nothing. The batches hold whole stores.
func (r *runner) seasons(batches []*engine.Batch) {
	type key struct{ loc, dept string }
	type acc struct{ su, n [7]float64 }
	accs := map[key]*acc{}
	for _, b := range batches {
		for i, id := range b.Keys {
			a := &r.attrs[id]
			k := key{a.loc, a.dept}
			ac := accs[k]
			if ac == nil {
				ac = &acc{}
				accs[k] = ac
			}
			lo, hi := int(b.Offsets[i]), int(b.Offsets[i+1])
			wd := int(a.start % 7)
			for t := lo; t < hi; t++ {
				if (b.Censored == nil || !b.Censored[t]) && (b.Promo == nil || !b.Promo[t]) && (b.Closed == nil || !b.Closed[t]) {
					ac.su[wd] += float64(b.Values[t])
					ac.n[wd]++
				}
				if wd++; wd == 7 {
					wd = 0
				}
			}
		}
	}
	for _, b := range batches {
		b.Season = make([]float32, 0, 7*b.Len())
		for _, id := range b.Keys {
			a := &r.attrs[id]
			ac := accs[key{a.loc, a.dept}]
			var prof [7]float32
			var total float32
			for wd := range 7 {
				if ac.n[wd] > 0 {
					prof[wd] = float32(ac.su[wd] / ac.n[wd])
					total += prof[wd]
				}
			}
			for j := range 7 {
				if total > 0 {
					b.Season = append(b.Season, prof[(int(a.start)+j)%7])
				} else {
					b.Season = append(b.Season, 1)
				}
			}
		}
	}
}

// annotate checks a batch against the series table (every series, in
// order, ending the day before the as-of date), records its first day,
// length, censored and promotion days, and sets its protection window.
func (r *runner) annotate(b *engine.Batch, next *int64) error {
	b.Protection = make([]int32, b.Len())
	var scratch []float32
	for i, id := range b.Keys {
		if id != *next {
			return fmt.Errorf("daily series: series %d where %d was due", id, *next)
		}
		*next++
		a := &r.attrs[id]
		lo, hi := b.Offsets[i], b.Offsets[i+1]
		if hi-lo < 1 || int(hi-lo) > r.o.HistoryDays {
			return fmt.Errorf("series %s/%s: %d days, want 1..%d", a.loc, a.sku, hi-lo, r.o.HistoryDays)
		}
		a.days, a.start = hi-lo, r.o.AsOf-schema.Date(hi-lo)
		a.censoredDays, a.promoDays = count(b.Censored, lo, hi), count(b.Promo, lo, hi)
		a.saleDays, a.sinceSale = 0, hi-lo
		for t := lo; t < hi; t++ {
			if b.Values[t] > 0 {
				a.saleDays++
				a.sinceSale = hi - 1 - t
			}
		}
		a.outlierScale = capOutliers(b.Values[lo:hi], r.o.OutlierCap, &scratch)
		lt := r.leadTime(a)
		b.Protection[i] = int32(math.Ceil(lt.mean)) + int32(r.review(a))
	}
	return nil
}

func count(flags []bool, lo, hi int32) int32 {
	if flags == nil {
		return 0
	}
	var n int32
	for _, f := range flags[lo:hi] {
		if f {
			n++
		}
	}
	return n
}

// leadTime is the lead time a series plans with.
type leadTime struct {
	mean, sd float64
	source   string
	missing  replenish.Params
}

// leadTime picks the observed lead time of the series' supplier at its
// location, else at every location (each with enough receipts), else the
// item-location's nominal one (spread defaulted), else the default.
func (r *runner) leadTime(a *seriesAttr) leadTime {
	minN := int64(r.o.MinLeadTimeObservations)
	for _, obs := range []struct {
		o      leadObs
		source string
	}{{a.ltLoc, "observed_location"}, {a.ltSup, "observed_supplier"}} {
		if obs.o.n >= minN {
			n := float64(obs.o.n)
			m := float64(obs.o.s) / n
			v := (float64(obs.o.ss) - n*m*m) / (n - 1)
			return leadTime{mean: m, sd: math.Sqrt(max(v, 0)), source: obs.source}
		}
	}
	if a.hasParams && a.leadDays > 0 {
		return leadTime{mean: float64(a.leadDays), source: "item_location", missing: replenish.ParamLeadTimeSD}
	}
	d := r.o.Replenish.Defaults
	l := d.LeadTimeDays
	if l == 0 {
		l = 7
	}
	return leadTime{mean: l, source: "default", missing: replenish.ParamLeadTime | replenish.ParamLeadTimeSD}
}

// review is the series' review period in days (the default when missing).
func (r *runner) review(a *seriesAttr) int {
	if a.hasParams && a.review >= 1 {
		return int(a.review)
	}
	if d := r.o.Replenish.Defaults.ReviewPeriodDays; d > 0 {
		return d
	}
	return 7
}

// docLine is an order line on its way into a document.
type docLine struct {
	loc, sup, cur string
	line          writeback.Line
}

// fitOutput is what fitting and planning produced, before the commits.
type fitOutput struct {
	summary                      engine.Summary
	suggestionAdds, forecastAdds []delta.Add
	lines                        []docLine
	chosen                       map[string]int
	orderLines, defaulted        int64
	// Lines by what they lacked or why they order nothing.
	noStock, noParams, noSupplier int64
	defaultLeadTime, dead, zero   int64
	ramped                        int64
	capped                        int64
	// global counts the series whose forecast combines the global model's.
	global                   int64
	weightedRMSSE, weightSum float64
	abort                    func(context.Context)
}

// processed is one engine batch turned into rows.
type processed struct {
	forecasts   []schema.ForecastRow
	suggestions []schema.ReplenishmentSuggestionRow
	lines       []docLine
	series      int
}

// fit forecasts every series and plans its line, streaming the rows into
// the output tables' writers in series order.
func (r *runner) fit(ctx context.Context, db *sql.DB) (*fitOutput, error) {
	wo := lake.WriteOptions{TempDir: r.o.TempDir, SortedBy: []string{"location_id", "sku"}}
	fw, err := lake.NewTableWriter[schema.ForecastRow](r.l, schema.TableForecasts(), r.o.AsOf, wo)
	if err != nil {
		return nil, err
	}
	sw, err := lake.NewTableWriter[schema.ReplenishmentSuggestionRow](r.l, schema.TableReplenishmentSuggestions(), r.o.AsOf, wo)
	if err != nil {
		return nil, err
	}
	out := &fitOutput{chosen: map[string]int{}}
	out.abort = func(ctx context.Context) {
		_ = fw.Abort(ctx)
		_ = sw.Abort(ctx)
	}
	r.global = r.newGlobal()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan sourceItem, 2)
	perr := make(chan error, 1)
	go func() { perr <- r.produce(pctx, db, ch) }()

	pending := map[int]*processed{}
	nextSeq := 0
	fc := make([]float64, 0, r.o.Model.ForecastDays)
	up := make([]float64, r.o.Model.ForecastDays)
	flush := func() error {
		for {
			p, ok := pending[nextSeq]
			if !ok {
				return nil
			}
			delete(pending, nextSeq)
			nextSeq++
			if err := fw.Write(ctx, p.forecasts); err != nil {
				return err
			}
			if err := sw.Write(ctx, p.suggestions); err != nil {
				return err
			}
			out.lines = append(out.lines, p.lines...)
			if r.o.Progress != nil {
				r.o.Progress.Add(int64(p.series))
			}
		}
	}
	sink := func(o *engine.Output) error {
		p := &processed{series: o.Len()}
		for i := range o.Len() {
			fc = fc[:0]
			for _, v := range o.Forecast[i*o.Days : (i+1)*o.Days] {
				fc = append(fc, float64(v))
			}
			if err := r.plan(o, i, fc, up, p, out); err != nil {
				return err
			}
		}
		pending[o.Seq] = p
		return flush()
	}
	eo := engine.Options{Model: r.o.Model, Workers: r.o.Workers}
	sum, err := engine.Fit(ctx, &chanSource{ch: ch}, eo, sink)
	cancel()
	if perr := <-perr; perr != nil && !errors.Is(perr, context.Canceled) {
		err = errors.Join(perr, err)
	}
	if err == nil && len(pending) > 0 {
		err = fmt.Errorf("forecast: %d batches never flushed", len(pending))
	}
	if err == nil && sum.Series != len(r.attrs) {
		err = fmt.Errorf("forecast: %d series fitted of %d", sum.Series, len(r.attrs))
	}
	if err != nil {
		out.abort(context.WithoutCancel(ctx))
		return nil, err
	}
	out.summary = sum
	if out.forecastAdds, err = fw.Close(ctx); err == nil {
		out.suggestionAdds, err = sw.Close(ctx)
	}
	if err != nil {
		out.abort(context.WithoutCancel(ctx))
		return nil, err
	}
	return out, nil
}

// plan computes series i of o's replenishment line and rows from its
// baseline forecast fc (lifted in place by the known promotions, using up,
// of fc's length, as scratch).
func (r *runner) plan(o *engine.Output, i int, fc, up []float64, p *processed, out *fitOutput) error {
	id := o.Keys[i]
	a := &r.attrs[id]
	status := o.Status[i]
	name := o.Model[i].String()
	if o.Model[i] == model.Ensemble {
		name = o.Members[i].String()
	}
	if status != model.Selected {
		name = status.String()
	}
	out.chosen[name]++
	if g := r.global.take(id); g != nil && a.saleDays > 0 {
		// The combined forecast: the global model's share w of its daily
		// forecast (0 on closed days, as the series' own); a series that
		// never sold keeps its own.
		w := r.o.GlobalWeight
		for h := range min(len(fc), len(g)) {
			fc[h] = (1-w)*fc[h] + w*float64(g[h])
		}
		out.global++
	}
	if a.outlierScale > 1 {
		for h := range fc {
			fc[h] *= a.outlierScale
		}
		out.capped++
	}
	if a.ramp > 0 && a.ramp != 1 {
		for h := range fc {
			fc[h] *= a.ramp
		}
		out.ramped++
	}
	lt := r.leadTime(a)
	R := r.review(a)
	sigma := o.Sigma[i]
	if !(sigma >= 0) || math.IsInf(sigma, 0) {
		sigma = 0
	}
	if a.outlierScale > 1 {
		sigma *= a.outlierScale
	}
	in := replenish.Input{
		Forecast: fc, SigmaDay: sigma,
		LeadTimeDays: lt.mean, LeadTimeSD: lt.sd, ReviewPeriodDays: R,
		CasePack: int64(a.casePack), MOQ: int64(a.moq), ServiceLevel: a.serviceLevel, UnitCost: a.unitCost,
		Missing: lt.missing,
		OnHand:  max(a.onHand, 0), OnOrder: max(a.onOrder, 0), Allocated: max(a.allocated, 0),
		NewItem:         status != model.Selected,
		NoStockPosition: !a.hasInv,
		Dead:            a.dead(),
	}
	if r.uplift(up[:len(fc)], a) {
		in.Uplift = up[:len(fc)]
	}
	if !a.hasParams {
		in.Missing |= replenish.ParamReviewPeriod | replenish.ParamCasePack | replenish.ParamMOQ |
			replenish.ParamServiceLevel | replenish.ParamUnitCost
	}
	if sw := o.SigmaWindow[i] * max(a.outlierScale, 1); r.o.WindowSigma && sw > 0 && !math.IsInf(sw, 0) {
		in.SigmaWindow = max(sw, math.Sqrt(lt.mean+float64(R))*sigma)
	}
	ln, err := r.planner.Plan(&in)
	if err != nil {
		return fmt.Errorf("series %s/%s: %w", a.loc, a.sku, err)
	}
	if in.Uplift != nil {
		// From here on the forecast is what the planner planned with.
		for h, u := range in.Uplift {
			fc[h] *= u
		}
	}
	defaulted := ln.Defaulted.Strings()
	if a.sup == "" {
		defaulted = append(defaulted, "supplier")
	}
	if !a.hasInv {
		defaulted = append(defaulted, "inventory")
	}
	if len(defaulted) > 0 {
		out.defaulted++
	}
	out.count(a, &ln, lt)
	need := r.o.AsOf + schema.Date(needByDays(fc, &ln))
	var vel [3]float64
	var st [3]*float64
	for k, w := range windows {
		span := min(w, int64(a.days))
		if in := span - a.cens[k]; in > 0 {
			vel[k] = float64(a.ins[k]) / float64(in)
		} else if span > 0 {
			vel[k] = float64(a.sold[k]) / float64(span)
		}
		if d := a.sold[k] + max(a.onHand, 0); d > 0 {
			st[k] = finite(float64(a.sold[k]) / float64(d))
		}
	}
	var wos *float64
	if vel[1] > 0 {
		wos = finite(float64(max(a.onHand, 0)) / (7 * vel[1]))
	}
	rmsse := finite(o.RMSSE[i])
	if rmsse != nil && a.revenue28 > 0 {
		w := float64(a.revenue28) / 1e4
		out.weightedRMSSE += w * *rmsse
		out.weightSum += w
	}
	row := schema.ReplenishmentSuggestionRow{
		DT: r.o.AsOf, RunID: r.runID, LocationID: a.loc, SKU: a.sku, SupplierID: a.sup, Currency: a.cur,
		NeedByDate: need, SuggestedQty: ln.Qty, UnitCost: ln.UnitCost, ExtendedCost: ln.ExtendedCost,
		Reasons: r.withReconciled(a.loc, a.sku, ln.Reasons.String()), Defaulted: strings.Join(defaulted, ","),
		Model: name, ModelStatus: status.String(), BacktestRMSSE: rmsse,
		HistoryDays: a.days, CensoredDays: a.censoredDays, PromoDays: a.promoDays,
		Velocity7: vel[0], Velocity28: vel[1], Velocity91: vel[2],
		SellThrough7: st[0], SellThrough28: st[1], SellThrough91: st[2], WeeksOfSupply: wos,
		ForecastWindow: ln.ForecastWindow, DailyForecast: ln.DailyForecast, SigmaDay: ln.SigmaDay, SigmaWindow: ln.SigmaWindow,
		SafetyStock: ln.SafetyStock, ReorderPoint: ln.ReorderPoint, OrderUpTo: ln.OrderUpTo,
		OnHand: ln.OnHand, OnOrder: ln.OnOrder, Allocated: ln.Allocated, InventoryPosition: ln.InventoryPosition,
		WeeksOfCover: finite(ln.WeeksOfCover), WeeksOfCoverAfter: finite(ln.WeeksOfCoverAfter),
		LeadTimeDays: ln.LeadTimeDays, LeadTimeSD: ln.LeadTimeSD, LeadTimeSource: lt.source,
		ReviewPeriodDays: int32(ln.ReviewPeriodDays), ProtectionDays: ln.ProtectionDays,
		CasePack: ln.CasePack, MOQ: ln.MOQ, ServiceLevel: ln.ServiceLevel, Z: ln.Z, PromoUplift: ln.PromoUplift,
	}
	if ln.Qty > 0 {
		out.orderLines++
		if a.sup != "" {
			row.DocumentKey = writeback.DocumentKey(r.o.AsOf, a.loc, a.sup)
			p.lines = append(p.lines, docLine{loc: a.loc, sup: a.sup, cur: a.cur, line: writeback.Line{
				SKU: a.sku, Qty: ln.Qty, CasePack: ln.CasePack, MOQ: ln.MOQ, UnitCost: ln.UnitCost,
				ExtendedCost: ln.ExtendedCost, NeedByDate: need, Reasons: r.withReconciledList(a.loc, a.sku, ln.Reasons.Strings()),
				Explanation: writeback.Explanation{
					Model: name, BacktestRMSSE: round3p(rmsse),
					Velocity7: writeback.Round3(vel[0]), Velocity28: writeback.Round3(vel[1]), Velocity91: writeback.Round3(vel[2]),
					SellThrough28: round3p(st[1]), ForecastWindow: writeback.Round3(ln.ForecastWindow),
					SigmaWindow: writeback.Round3(ln.SigmaWindow), SafetyStock: writeback.Round3(ln.SafetyStock),
					ReorderPoint: writeback.Round3(ln.ReorderPoint), OrderUpTo: writeback.Round3(ln.OrderUpTo),
					OnHand: ln.OnHand, OnOrder: ln.OnOrder, Allocated: ln.Allocated, InventoryPosition: ln.InventoryPosition,
					WeeksOfCover: round3p(finite(ln.WeeksOfCover)), LeadTimeDays: writeback.Round3(ln.LeadTimeDays),
					LeadTimeSD: writeback.Round3(ln.LeadTimeSD), ReviewPeriodDays: ln.ReviewPeriodDays,
					ServiceLevel: ln.ServiceLevel, Defaulted: nonNil(defaulted),
				},
			}})
		}
	}
	p.suggestions = append(p.suggestions, row)
	for h := range r.o.Horizon {
		p.forecasts = append(p.forecasts, schema.ForecastRow{DT: r.o.AsOf, RunID: r.runID, LocationID: a.loc, SKU: a.sku,
			Date: r.o.AsOf + schema.Date(h), Horizon: int32(h + 1), Forecast: fc[h], Model: name})
	}
	return nil
}

// count tallies what a line lacked and why it orders nothing.
func (out *fitOutput) count(a *seriesAttr, ln *replenish.Line, lt leadTime) {
	inc := func(n *int64, b bool) {
		if b {
			*n++
		}
	}
	inc(&out.noStock, ln.Reasons&replenish.NoStockPosition != 0)
	inc(&out.dead, ln.Reasons&replenish.DeadItem != 0)
	inc(&out.zero, ln.Reasons&replenish.ZeroForecast != 0)
	inc(&out.noParams, !a.hasParams)
	inc(&out.noSupplier, a.sup == "")
	inc(&out.defaultLeadTime, lt.source == "default")
}

func round3p(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := writeback.Round3(*p)
	return &v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// needByDays is how many days from the as-of date an order may take to
// arrive: the days the inventory position, less safety stock, covers at the
// forecast, but no fewer than the lead time (an order cannot come sooner)
// and no more than the protection window.
func needByDays(fc []float64, ln *replenish.Line) int {
	lo := int(math.Ceil(ln.LeadTimeDays))
	hi := int(math.Ceil(ln.ProtectionDays))
	avail := float64(ln.InventoryPosition) - ln.SafetyStock
	var tail float64
	k := min(len(fc), 7)
	for _, v := range fc[len(fc)-k:] {
		tail += v
	}
	tail /= float64(max(k, 1))
	h := 0
	for cum := 0.0; h < hi; h++ {
		f := tail
		if h < len(fc) {
			f = fc[h]
		}
		cum += f
		if cum > avail {
			break
		}
	}
	return min(max(h, lo), hi)
}

// Package backtest scores the shipped forecast job (forecast/job's Run, as
// the weekly run executes it) at rolling origins against simple baselines,
// at several levels of aggregation, on a lake that holds the unified tables.
//
// # Contract
//
// Run takes a lake holding sales_daily (and, optionally, item_locations),
// a list of as-of origins and a horizon H (default 28 days). For each
// origin it
//
//  1. calls Options.Job for the origin, which must leave the job's completed
//     run of that as-of date in forecast_runs and its forecasts (horizons
//     1..H at least) in forecasts — job.Run does so, and a rerun of an
//     as-of date returns the stored run, so a backtest can be repeated;
//  2. reads that run's daily store-SKU forecasts back from the forecasts
//     table, and the net demand of every store-SKU from sales_daily for
//     the H days from the origin (the actuals) and the HistoryDays before
//     it (the history);
//  3. computes the baselines from the same history and the location's
//     observed trading calendar (see Baselines and below);
//  4. scores ours and every baseline by RMSSE and WRMSSE (package metric)
//     at each level: store_sku (daily, the bottom), sku_weekly (each SKU
//     summed over its stores, in 7-day buckets), store (daily total),
//     department and category (daily, when item_locations names them),
//     total (daily), and all_levels (the mean of the levels' WRMSSE).
//
// Run writes nothing itself, but Options.Job does: the job's runs of past
// as-of dates, their forecasts and their suggestion documents land in the
// lake like any run's (see the cmd's --in-place note). Run a backtest on a
// copy of a production lake.
//
// # Definitions
//
// Net demand of a store-SKU on a day is units_sold − units_returned of its
// sales_daily rows, floored at 0 per day (a day of net returns is no
// negative demand). Stockout days are taken at face value: the actuals are
// what sold, for every method alike. The forecast job itself fits on
// units_sold; returns are rare enough that the difference is noise, and
// scoring against what the shop kept is what matters.
//
// The scale of a series' RMSSE is the mean squared one-step naive change of
// its history (the aggregate's history at an aggregate level; week to week
// at sku_weekly), counted from its first day with demand
// (metric.NaiveScale). Its weight is its net sales over the last 28 days of
// history (the aggregate's: its members' sum), in the store's currency —
// M5's revenue weight, currencies taken at par.
//
// The scored series of an origin are every store-SKU with net demand in the
// history window or the horizon, plus every store-SKU the job forecast; a
// series the job did not forecast counts as a forecast of 0 for ours.
//
// # Trading calendar
//
// A location trades on a day when it has a sales_daily row with units that
// day. Baselines see history days on which the location did not trade as
// missing (not as zero demand), and forecast 0 for a forecast day on which,
// by its observed calendar, it does not trade: a weekday it did not trade
// on in any of its occurrences (at least 4) in the last 8 weeks, or the
// same calendar date one year earlier when it was shut that day but traded
// on the same weekday a week before or after. Their level thus applies to trading days only;
// ours is scored as the job wrote it. Knowing that the shop is shut earns
// ours nothing.
//
// # Promotions
//
// The baselines are also given the published promotions the job is
// given (see promo.go): known promotion days are missing from their
// history, and their forecasts are multiplied by the promotion response
// the job's method estimates from the same history (package
// forecast/promo). Knowing the promotion feed earns ours nothing either;
// Options.NoPromotionLift withholds it from them.
package backtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/forecast/metric"
	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// JobFunc runs the forecast job of asOf over l with at least horizon days
// forecast, leaving its completed run in forecast_runs and forecasts (a
// run already there for asOf is reused as is). The caller passes job.Run
// wrapped; the backtest does not import the job, so that the job's
// benchmark can call the backtest.
type JobFunc func(ctx context.Context, l *lake.Lake, asOf schema.Date, horizon int) error

// OracleFunc forecasts len(dst) days of (store, sku) from day from.
type OracleFunc func(store, sku string, from schema.Date, dst []float64) bool

// Options configure Run.
type Options struct {
	// Origins are the as-of dates scored (at least one). Each origin's
	// horizon must lie within sales_daily.
	Origins []schema.Date
	// Horizon is the number of days scored from each origin (default 28).
	Horizon int
	// HistoryDays is the history window the baselines and the scales see
	// (default 364, the job's default history).
	HistoryDays int
	// Job runs the shipped forecast job (required).
	Job JobFunc
	// Workers compute baselines in parallel (default GOMAXPROCS).
	Workers int
	// NoPromotionLift withholds the published promotions from the
	// baselines (no history mask, no lift; see promo.go).
	NoPromotionLift bool
	// Oracle, when set, is scored beside the methods at the store-SKU
	// level (OriginResult.OracleWRMSSE): it fills dst with a forecast of
	// (store, sku) from day from on and reports whether it has one (a
	// generated world's expected demand: how good any forecast could be).
	Oracle OracleFunc
	// Logger receives progress. Default: discard.
	Logger *slog.Logger
}

// Result is a backtest's outcome.
type Result struct {
	Horizon     int `json:"horizon"`
	HistoryDays int `json:"history_days"`
	// Methods lists ours and the baselines, in column order; Baselines
	// describes each baseline.
	Methods   []string          `json:"methods"`
	Baselines map[string]string `json:"baselines"`
	// NetDemand defines the actuals.
	NetDemand string `json:"net_demand"`
	// Origins are the per-origin scores, oldest first.
	Origins []OriginResult `json:"origins"`
	// Mean is each level's mean over the origins; MeanInStock the same of
	// OriginResult.LevelsInStock (absent without stockouts).
	Mean        []LevelScore `json:"mean"`
	MeanInStock []LevelScore `json:"mean_in_stock,omitempty"`
	// MeanBias is each method's mean over the origins of forecast units ÷
	// actual units; MeanBiasInStock the same over the days without a
	// stockout (OriginResult.BiasInStock).
	MeanBias        map[string]Score `json:"mean_bias"`
	MeanBiasInStock map[string]Score `json:"mean_bias_in_stock"`
	// MeanOracleWRMSSE is the mean over the origins of OracleWRMSSE
	// (absent without Options.Oracle).
	MeanOracleWRMSSE *Score `json:"mean_oracle_wrmsse,omitempty"`
	// MeanJobBacktestRMSSE is the mean over the origins of the run's own
	// recorded weighted backtest RMSSE (what model selection saw), to set
	// beside the realised store_sku WRMSSE of ours.
	MeanJobBacktestRMSSE Score `json:"mean_job_backtest_rmsse"`
	// JobSeconds is the time spent in the forecast job, ScoreSeconds in
	// reading and scoring.
	JobSeconds   float64 `json:"job_seconds"`
	ScoreSeconds float64 `json:"score_seconds"`
}

// OriginResult is one origin's scores.
type OriginResult struct {
	AsOf  schema.Date `json:"as_of"`
	RunID string      `json:"run_id"`
	// Series counts the scored store-SKU series, Forecast those the job
	// forecast.
	Series   int `json:"series"`
	Forecast int `json:"forecast_series"`
	// ActualUnits is the net demand over the horizon; Units each method's
	// forecast units; Bias their ratio (above 1: over-forecast).
	ActualUnits float64          `json:"actual_units"`
	Units       map[string]Score `json:"forecast_units"`
	Bias        map[string]Score `json:"bias"`
	// BiasInStock is Bias over the store-SKU days without a stockouts row
	// (on a stockout day what sold is less than the demand a forecast
	// aims at, so Bias runs above 1 by the lost sales): equal to Bias in a
	// lake without stockouts.
	BiasInStock map[string]Score `json:"bias_in_stock"`
	// JobBacktestRMSSE and JobMeanBacktestRMSSE are the run's own recorded
	// backtest RMSSE (forecast_runs: weighted, and mean over series);
	// NaN when the run recorded none.
	JobBacktestRMSSE     Score `json:"job_weighted_backtest_rmsse"`
	JobMeanBacktestRMSSE Score `json:"job_mean_backtest_rmsse"`
	// Levels are the scores per level, store_sku first, all_levels last.
	Levels []LevelScore `json:"levels"`
	// LevelsInStock are Levels with every method's forecast and the
	// actual set to 0 on the store-SKU days with a stockouts row: the
	// accuracy on the days demand was seen whole, which does not charge a
	// demand forecast for the sales a stockout cut short (absent in a lake
	// without stockouts).
	LevelsInStock []LevelScore `json:"levels_in_stock,omitempty"`
	// OracleWRMSSE is Options.Oracle's WRMSSE at the store-SKU level, over
	// the series it forecast (absent without one).
	OracleWRMSSE *Score `json:"oracle_wrmsse,omitempty"`
}

// Level returns the origin's scores at level name.
func (o *OriginResult) Level(name string) (LevelScore, bool) {
	return levelOf(o.Levels, name)
}

// Level returns the mean scores at level name.
func (r *Result) Level(name string) (LevelScore, bool) {
	return levelOf(r.Mean, name)
}

func levelOf(ls []LevelScore, name string) (LevelScore, bool) {
	for _, l := range ls {
		if l.Level == name {
			return l, true
		}
	}
	return LevelScore{}, false
}

// Score is a float that encodes as JSON null when it is NaN or infinite
// (a score without data, a ratio to zero).
type Score float64

// MarshalJSON encodes s, or null.
func (s Score) MarshalJSON() ([]byte, error) {
	f := float64(s)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// UnmarshalJSON decodes a number, or null as NaN.
func (s *Score) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = Score(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("score %s: %w", b, err)
	}
	*s = Score(f)
	return nil
}

// NetDemandDefinition is Result.NetDemand.
const NetDemandDefinition = "sales_daily units_sold − units_returned per store, SKU and business date, floored at 0 per day; stockout days at face value"

// WeeklyOrigins returns the n latest weekly as-of dates whose horizon ends
// by the last sales date: the latest is lastSales+1−horizon, each earlier
// one 7 days before the next; oldest first.
func WeeklyOrigins(lastSales schema.Date, n, horizon int) []schema.Date {
	out := make([]schema.Date, 0, max(n, 0))
	for k := range max(n, 0) {
		out = append(out, lastSales+1-schema.Date(horizon)-schema.Date(7*k))
	}
	slices.Reverse(out)
	return out
}

func (o Options) withDefaults() Options {
	if o.Horizon <= 0 {
		o.Horizon = 28
	}
	if o.HistoryDays <= 0 {
		o.HistoryDays = 364
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Run runs the backtest (see the package doc).
func Run(ctx context.Context, l *lake.Lake, opts Options) (*Result, error) {
	o := opts.withDefaults()
	if len(o.Origins) == 0 {
		return nil, errors.New("backtest: no origins")
	}
	if o.Job == nil {
		return nil, errors.New("backtest: no forecast job to run")
	}
	origins := slices.Clone(o.Origins)
	slices.Sort(origins)
	origins = slices.Compact(origins)
	last, err := LastSalesDate(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	if end := origins[len(origins)-1] + schema.Date(o.Horizon) - 1; end > last {
		return nil, fmt.Errorf("backtest: origin %s's %d-day horizon ends %s, after the last sales date %s",
			origins[len(origins)-1], o.Horizon, end, last)
	}
	res := &Result{Horizon: o.Horizon, HistoryDays: o.HistoryDays, Methods: Methods, Baselines: Baselines,
		NetDemand: NetDemandDefinition, MeanBias: map[string]Score{}, MeanBiasInStock: map[string]Score{}}
	t0 := time.Now()
	for _, asOf := range origins {
		o.Logger.Info("backtest: forecast job", "as_of", asOf.String())
		if err := o.Job(ctx, l, asOf, o.Horizon); err != nil {
			return nil, fmt.Errorf("backtest: forecast job of %s: %w", asOf, err)
		}
	}
	res.JobSeconds = time.Since(t0).Seconds()
	t0 = time.Now()
	// A year before the first history day too: the calendar looks up the
	// same date one year earlier.
	from := origins[0] - schema.Date(o.HistoryDays)
	p, err := loadPanel(ctx, l, min(from, origins[0]-366-7), origins[len(origins)-1]+schema.Date(o.Horizon)-1)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	runs := make([]*runForecasts, len(origins))
	for k, asOf := range origins {
		if runs[k], err = p.loadRun(ctx, l, asOf, o.Horizon); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
	}
	if err := p.loadHierarchy(ctx, l); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	if err := p.loadStockouts(ctx, l); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	var feed promoFeed
	if !o.NoPromotionLift {
		if feed, err = loadPromotions(ctx, l); err != nil {
			return nil, fmt.Errorf("backtest: promotions: %w", err)
		}
	}
	for k, asOf := range origins {
		or, err := scoreOrigin(ctx, p, runs[k], asOf, o, feed)
		if err != nil {
			return nil, fmt.Errorf("backtest: origin %s: %w", asOf, err)
		}
		o.Logger.Info("backtest: scored", "as_of", asOf.String(), "series", or.Series)
		res.Origins = append(res.Origins, *or)
	}
	res.Mean = meanLevels(res.Origins, func(o *OriginResult) []LevelScore { return o.Levels })
	if res.MeanInStock = meanLevels(res.Origins, func(o *OriginResult) []LevelScore { return o.LevelsInStock }); len(res.MeanInStock) == 0 {
		res.MeanInStock = nil
	}
	for _, m := range Methods {
		res.MeanBias[m] = meanFinite(res.Origins, func(o OriginResult) Score { return o.Bias[m] })
		res.MeanBiasInStock[m] = meanFinite(res.Origins, func(o OriginResult) Score { return o.BiasInStock[m] })
	}
	res.MeanJobBacktestRMSSE = meanFinite(res.Origins, func(o OriginResult) Score { return o.JobBacktestRMSSE })
	if o.Oracle != nil {
		m := meanFinite(res.Origins, func(o OriginResult) Score {
			if o.OracleWRMSSE == nil {
				return Score(math.NaN())
			}
			return *o.OracleWRMSSE
		})
		res.MeanOracleWRMSSE = &m
	}
	res.ScoreSeconds = time.Since(t0).Seconds()
	return res, nil
}

// meanFinite is the mean of f over xs, leaving out NaN and infinite
// values (NaN if none is left).
func meanFinite[T any](xs []T, f func(T) Score) Score {
	var sum float64
	n := 0
	for _, x := range xs {
		if v := float64(f(x)); !math.IsNaN(v) && !math.IsInf(v, 0) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return Score(math.NaN())
	}
	return Score(sum / float64(n))
}

// chunkSeries is the number of series whose baselines are computed at once.
const chunkSeries = 1024

// scoreOrigin scores one origin.
func scoreOrigin(ctx context.Context, p *panel, run *runForecasts, asOf schema.Date, o Options, feed promoFeed) (*OriginResult, error) {
	h, hd := o.Horizon, o.HistoryDays
	hs := asOf - schema.Date(hd)
	a, e := p.day(hs), p.day(asOf)
	known := feed.known(asOf)
	response := promoResponse(p, known, hs, asOf)
	var universe []int
	for i, y := range p.demand {
		_, forecast := run.fc[i]
		if forecast || slices.ContainsFunc(y[a:e+h], func(v float32) bool { return v > 0 }) {
			universe = append(universe, i)
		}
	}
	cals := map[string]calendar{}
	for _, i := range universe {
		st := p.keys[i].store
		if _, ok := cals[st]; !ok {
			cals[st] = locationCalendar(p, p.open[st], hs, asOf, h)
		}
	}
	nm := len(Methods)
	type slot struct {
		hist, act []float64
		fc        [][]float64
	}
	slots := make([]slot, min(chunkSeries, len(universe)))
	for j := range slots {
		s := &slots[j]
		s.hist, s.act, s.fc = make([]float64, hd), make([]float64, h), make([][]float64, nm)
		for m := range s.fc {
			s.fc[m] = make([]float64, h)
		}
	}
	// Per worker: the series' promotions, calendar and multipliers.
	type scratch struct {
		ws   []promo.Window
		cal  calendar
		mult []float64
	}
	scr := make([]scratch, o.Workers)
	for w := range scr {
		scr[w] = scratch{cal: calendar{histClosed: make([]bool, hd), fcClosed: make([]bool, h)}, mult: make([]float64, h)}
	}
	bls := make([]*baseliner, o.Workers)
	for w := range bls {
		var err error
		if bls[w], err = newBaseliner(h); err != nil {
			return nil, err
		}
	}
	sc := newOriginScorer(p, h)
	// The in-stock scorer and its masked copies of a series' actuals and
	// forecasts.
	var inStock *originScorer
	var mact []float64
	var mfc [][]float64
	if len(p.stockout) > 0 {
		inStock = newOriginScorer(p, h)
		mact, mfc = make([]float64, h), make([][]float64, nm)
		for m := range mfc {
			mfc[m] = make([]float64, h)
		}
	}
	var oracle metric.WRMSSE
	ofc := make([]float64, h)
	for c := 0; c < len(universe); c += chunkSeries {
		chunk := universe[c:min(c+chunkSeries, len(universe))]
		g, gctx := errgroup.WithContext(ctx)
		for w := range o.Workers {
			g.Go(func() error {
				for j := w; j < len(chunk); j += o.Workers {
					if gctx.Err() != nil {
						return gctx.Err()
					}
					i, s := chunk[j], &slots[j]
					y := p.demand[i]
					for t := range hd {
						s.hist[t] = float64(y[a+t])
					}
					for t := range h {
						s.act[t] = float64(y[e+t])
					}
					if fc, ok := run.fc[i]; ok {
						copy(s.fc[0], fc)
					} else {
						clear(s.fc[0])
					}
					cal := cals[p.keys[i].store]
					x := &scr[w]
					x.ws = seriesPromos(known, p.keys[i].store, p.keys[i].sku, x.ws)
					if len(x.ws) > 0 {
						// Known promotion days and their dips are
						// missing from the baselines' history.
						copy(x.cal.histClosed, cal.histClosed)
						copy(x.cal.fcClosed, cal.fcClosed)
						for _, pw := range x.ws {
							for d := max(pw.First, int(hs)); d <= pw.Last+promo.DipDays && d < int(asOf); d++ {
								x.cal.histClosed[d-int(hs)] = true
							}
						}
						cal = x.cal
					}
					if err := bls[w].forecast(s.hist, cal, s.fc); err != nil {
						return fmt.Errorf("%s/%s: %w", p.keys[i].store, p.keys[i].sku, err)
					}
					dept := ""
					if p.dept != nil {
						dept = p.dept[i]
					}
					if len(x.ws) > 0 {
						response.Multipliers(x.mult, dept, int(asOf), x.ws)
						for m := 1; m < nm; m++ {
							for t, u := range x.mult {
								s.fc[m][t] *= u
							}
						}
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		for j, i := range chunk {
			var w float64
			for _, v := range p.revenue[i][e-28 : e] {
				w += float64(v)
			}
			var out []bool
			if so := p.stockout[i]; so != nil {
				out = so[e : e+h]
			}
			sc.add(i, slots[j].hist, slots[j].act, slots[j].fc, w, out)
			if inStock != nil {
				act, fc := slots[j].act, slots[j].fc
				if slices.Contains(out, true) {
					for t, so := range out {
						mact[t] = act[t]
						if so {
							mact[t] = 0
						}
						for m := range mfc {
							mfc[m][t] = fc[m][t]
							if so {
								mfc[m][t] = 0
							}
						}
					}
					act, fc = mact, mfc
				}
				inStock.add(i, slots[j].hist, act, fc, w, nil)
			}
			if o.Oracle != nil && o.Oracle(p.keys[i].store, p.keys[i].sku, asOf, ofc) {
				oracle.Add(max(w, 0), metric.RMSSE(slots[j].act, ofc, metric.NaiveScale(slots[j].hist, nil)))
			}
		}
	}
	or := &OriginResult{AsOf: asOf, RunID: run.run.RunID, Series: sc.scored, Forecast: len(run.fc),
		ActualUnits: sc.actual, Units: map[string]Score{}, Bias: map[string]Score{}, BiasInStock: map[string]Score{},
		JobBacktestRMSSE: optScore(run.run.WeightedBacktestRMSSE), JobMeanBacktestRMSSE: optScore(run.run.MeanBacktestRMSSE),
		Levels: sc.result()}
	if inStock != nil {
		or.LevelsInStock = inStock.result()
	}
	if o.Oracle != nil {
		v := Score(oracle.Value())
		or.OracleWRMSSE = &v
	}
	for m, name := range Methods {
		or.Units[name] = Score(sc.units[m])
		or.Bias[name] = Score(sc.units[m] / sc.actual)
		or.BiasInStock[name] = Score(sc.inStockUnits[m] / sc.inStockActual)
	}
	return or, nil
}

func optScore(v *float64) Score {
	if v == nil {
		return Score(math.NaN())
	}
	return Score(*v)
}

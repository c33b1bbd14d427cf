// Package job is the weekly forecast run, `shelflake forecast --as-of DATE`:
// from the unified tables to demand forecasts, replenishment suggestions and
// suggested purchase order documents.
//
// # What a run does
//
//  1. If forecast_runs already holds the run of the as-of date (its Delta
//     txn appId "forecast/<as-of>"), nothing is computed or written: Run
//     returns that run and its documents (the write-back then sends only
//     what was not accepted yet).
//  2. DuckDB views over the input tables' live files as of the as-of date:
//     sales_daily and stockouts over the history window (business dates
//     before the as-of date), inventory_daily and po_open over the last
//     InventoryLookbackDays (the stock position is the latest state before
//     the as-of date; open POs those of the last day before it), lead_times
//     over LeadTimeLookbackDays, the latest item_locations state known
//     before the as-of date, pos_lines (sales with a promotion_id) and the
//     promotions the ERP published before the as-of date. Data of the
//     as-of date or later is never read, so a recomputation of the same
//     as-of date gives the same result.
//  3. The series table (DuckDB): one row per store-SKU, with velocities
//     (units per in-stock day over 7, 28 and 91 days), sell-through, the
//     stock position, item-location parameters and observed lead times per
//     supplier-location and supplier (as exact integer sums). Then the
//     promotion calendar (promo.go): the known promotions' latest states,
//     the response to past promotions measured per promotion and pooled
//     per department (forecast/promo), and the promotions ahead.
//  4. The daily series, one DuckDB query per bucket of whole stores, come
//     out through DuckDB's Arrow interface in the list layout of
//     engine.RecordSource — demand, stockout days (censored), promotion
//     days — and, per bucket, get each location's trading calendar
//     (calendar.go: closed days), its yearly ramp, and the store-department
//     weekly profile; they are fitted by engine.Fit on every core while
//     DuckDB computes the next bucket. Before the first bucket, the global
//     model (global.go) is trained on the series of the first whole
//     locations (about 20,000 series, read by one more such query), and
//     each bucket's series get its forecast as the bucket passes.
//  5. Each fitted series' baseline forecast is averaged with the global
//     model's, multiplied by its location's ramp, lifted by the promotions
//     ahead, and gets its replenishment line
//     (forecast/replenish);
//     forecasts and lines stream, in series order, into the forecasts and
//     replenishment_suggestions tables; lines with a quantity are grouped
//     into one suggested purchase order document per location and
//     supplier (forecast/writeback), stored in the lake's outbox.
//  6. Commits: replenishment_suggestions and forecasts replace their as-of
//     partition (fenced by txn "forecast/<as-of>", a generation per
//     attempt), then forecast_runs gets the run row with a first-time fence
//     on the same appId: the run is complete, and immutable.
//
// # Sharded runs
//
// One run can be split over machines: `--train`, then `--shard i/N` for
// every i (a Kubernetes Indexed Job), then `--merge` (deploy/k8s):
//
//   - Train (the first step) reads every input once at their latest
//     versions, builds the series table, measures the past promotions'
//     response (pooled over every location), learns the training bucket's
//     calendars (the closed weekdays a location too young to learn its
//     own borrows) and trains the global model exactly as an unsharded run
//     does, on the first whole locations. It stores the Plan (input
//     versions, run id, those figures) and the model (forecast/gbm's binary
//     form) under PlanKey. The first plan of a date stays: a rerun, or a
//     concurrent train, returns it.
//   - Shard i/N (Run with Options.Shard) computes the plan's locations
//     of Plan.ShardLocations: a contiguous range of the plan's sorted
//     locations, about 1/N of the series. Every location-keyed input view
//     (sales, stockouts, inventory, open POs, item-locations, POS lines)
//     holds only their rows: a BETWEEN on the range's first and last
//     location, which DuckDB pushes into the Parquet scan and prunes row
//     groups with (the unified tables are sorted by dt, then location,
//     in row groups of compact.UnifiedRowGroupRows), and the IN list of
//     the locations for exactness, applied before any join. So a shard
//     reads about 1/N of the location-keyed row groups, and every file's
//     footer (measured in the README). Lead times (pooled per supplier)
//     and promotions (chain-wide) are read whole. A shard reads the plan's
//     input versions, loads its model and figures, and otherwise runs steps
//     2 to 5 over its locations: every per-location quantity (calendar,
//     ramp, store-department profile, store trend) needs all of a
//     location's series, so a location is never split. Its rows are
//     appended to the as-of partitions of replenishment_suggestions and
//     forecasts once per table (txn appId ShardAppID = run and shard, files
//     tagged with both): a shard killed anywhere and run again recomputes
//     and commits only what is missing, the same rows. Its documents go to
//     the run's outbox; its figures to the lake for the merge.
//   - Merge checks that every shard of N committed to both tables, removes
//     from the partitions what no shard of this run and N added (an earlier
//     attempt's), sums the shards' figures and commits the run row to
//     forecast_runs with the same first-time fence as an unsharded run:
//     from then on the run is complete and the write-back sends its
//     documents once (the rerun rules of step 1 hold).
//
// So a sharded run's suggestions, forecasts and documents are byte for
// byte those of the unsharded run over the same lake (the same run id;
// shard_test.go). The run's figures in forecast_runs are the sums, the
// mean backtest RMSSE weighted by the shards' selected series. An
// unsharded run does not read a plan; it trains as before.
//
// # What the forecast is, and why
//
// Demand is units sold less units returned, per store-SKU and day, floored
// at zero: an order cancelled the same day was never demand. A series
// starts at its first sale in the two-year window, or at the window's start
// when it sold before: a long-lived item's long quiet spell is history, not
// the short history of a new item.
//
// A shop that does not trade on a day sells nothing and says nothing about
// demand. Each location's trading calendar is learned from its own sales
// (calendar.go): closed weekdays, holiday closures, the same dates a year
// later. Closed days are missing to the models (levels are per trading
// day), and closed forecast days are exactly zero, so the level is spread
// over the days the shop trades.
//
// Per series, forecast/model backtests its candidate methods at rolling
// origins and keeps the best (a challenger must beat the default by 10%;
// seasonal naive is not a candidate for intermittent series, whose last
// week is mostly zeros). A weighted combination of the best candidates is
// available (model.Options.Combine) but measured no better on real data
// (the UCI Online Retail set: a tie at SKU level, worse at store and total
// level), so it is not the default.
//
// A global model pooled across series complements the per-series one: a
// Poisson gradient-boosted tree model (forecast/gbm, log link) of the
// demand on day h after an origin, given the series' recent levels over
// trading days (last 7, 28 and 91, as ratios to the 91-day level, which is
// also the log offset), its level on the target weekday, trend, days since
// the last sale, share of zero days and mean non-zero size, its location's
// 28-day trend, its age, the store-department weekday profile, the target
// weekday and h. It is trained in each run, from the same history only
// (origins every 7 days ending 28 to 77 days before the as-of date, target
// days that trade and are neither censored nor promoted; at most 300,000
// rows from the first ~20,000 series, so its cost is bounded at any
// scale). Per-series methods see one sparse series each; the pooled model
// learns the shapes thousands of them share: how a burst of sales decays,
// how an intermittent item's next weeks relate to its last ones, how a
// weekday profile carries over. The final forecast is the plain average of
// the two (Options.GlobalWeight; Options.NoGlobal leaves the global model
// out): on the UCI Online Retail set it lowered WRMSSE at every level
// (store-SKU 0.853 → 0.847, SKU-weekly 1.196 → 1.151, store 0.789 →
// 0.760, total 0.658 → 0.632) and the over-forecast (bias 1.045 → 1.023).
// Closed days stay exactly zero and promotion lifts apply to the average;
// a series that never sold keeps its own forecast. forecast_runs.parameters
// records the training series, rows, trees and seconds (global_model_run).
//
// Before any model sees a series, days above Options.OutlierCap (6) × the
// median of its sale days are cut to that (one-off bulk orders), and its
// forecast and error scale are multiplied back by its history's total over
// the capped total: the level keeps every unit sold, the shape and the model
// choice come from the ordinary days (capOutliers). On the UCI set:
// store-SKU 0.847 → 0.832, SKU-weekly 1.151 → 1.116, store 0.760 → 0.752,
// total 0.632 → 0.633.
//
// Where a location's history covers last
// year's coming four weeks, their ratio to the four weeks before them,
// shrunk halfway to 1, multiplies its forecasts (a pre-Christmas ramp the
// weekly models cannot see).
//
// Replenishment plans from the stock position; without one (no inventory
// feed) a line is a forecast and a recommended stock level, never a
// purchase: unknown stock is not zero stock. A zero forecast never orders,
// and a dead item (no demand for 56 days and four times its usual interval)
// gets no safety stock and no order. Each such line says why in its
// reasons, and forecast_runs.parameters records the missing input tables,
// how many lines lacked what, the calendars and the ramps, with one warning
// logged per run.
package job

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"

	"github.com/shelflake/shelflake/forecast/engine"
	"github.com/shelflake/shelflake/forecast/model"
	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/forecast/replenish"
	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// Options configure a run. Zero fields take their defaults.
type Options struct {
	// AsOf is the run's date (required): history is every business date
	// before it; the first forecast day is AsOf itself.
	AsOf schema.Date
	// HistoryDays is the length of the history window. Default 728: two
	// years, so that a yearly season can be seen and a slow item's long
	// quiet spell stays history. A series starts at its first sale in the
	// window, or at the window's start when it sold before.
	HistoryDays int
	// Horizon is the number of days forecast and written to forecasts.
	// Default 28.
	Horizon int
	// Model configures the forecaster; its ForecastDays is raised to
	// Horizon.
	Model model.Options
	// Replenish configures the planner.
	Replenish replenish.Options
	// WindowSigma uses the backtest's direct estimate of the error spread
	// over each series' protection window (model.WindowSigma), when larger,
	// in place of √P·σd.
	WindowSigma bool
	// InventoryLookbackDays is how far back the stock position is looked
	// for. Default 28.
	InventoryLookbackDays int
	// LeadTimeLookbackDays is the window of observed receipts. Default 365.
	LeadTimeLookbackDays int
	// MinLeadTimeObservations is the fewest receipts behind an observed
	// lead time (per supplier-location, else per supplier). Default 3.
	MinLeadTimeObservations int
	// NoPromotions ignores pos_lines and promotions: no promotion mask and
	// no lift for promotions ahead.
	NoPromotions bool
	// NoGlobal leaves out the global model: the forecast is the series'
	// own (see the package doc).
	NoGlobal bool
	// NoReconciliation ignores stock_exceptions (see reconciled.go).
	NoReconciliation bool
	// GlobalWeight is the global model's share of the combined forecast,
	// in (0, 1]. Default 0.5.
	GlobalWeight float64
	// OutlierCap: a day's sales above OutlierCap × the median of the
	// series' sale days are cut to that before any model sees the history
	// (one-off bulk orders), and the forecast and its error scale are
	// multiplied back by the history's total over its capped total, so the
	// forecast level keeps every unit sold (see capOutliers). Default 6;
	// negative: histories as they are.
	OutlierCap float64
	// Workers is the number of forecasting goroutines. Default GOMAXPROCS.
	Workers int
	// BatchSeries is the number of series per engine batch. Default 512.
	BatchSeries int
	// BucketSeries is roughly the number of series per DuckDB query (whole
	// stores). Default 32768.
	BucketSeries int
	// DuckDBMemory is DuckDB's memory_limit. Default "2GB".
	DuckDBMemory string
	// DuckDBThreads is DuckDB's thread count. Default GOMAXPROCS.
	DuckDBThreads int
	// TempDir is DuckDB's spill directory and the writers' temp dir.
	// Default os.TempDir().
	TempDir string
	// Logger receives the run's logs. Default: discard.
	Logger *slog.Logger
	// Metrics, when set, records the run's outcome.
	Metrics *Metrics
	// Progress, when set, is told of each series forecast (and of their
	// number first, if it has a SetTotal(int64) method).
	Progress Progress
	// Now is the clock of the run's timestamps. Default time.Now.
	Now func() time.Time
	// Shard, when Count > 0, makes Run compute one shard of a trained run
	// (see Train, Merge and the package doc).
	Shard Shard
}

func (o Options) withDefaults() Options {
	if o.HistoryDays == 0 {
		o.HistoryDays = 728
	}
	if o.Horizon == 0 {
		o.Horizon = 28
	}
	if o.InventoryLookbackDays == 0 {
		o.InventoryLookbackDays = 28
	}
	if o.LeadTimeLookbackDays == 0 {
		o.LeadTimeLookbackDays = 365
	}
	if o.MinLeadTimeObservations == 0 {
		o.MinLeadTimeObservations = 3
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.GlobalWeight == 0 {
		o.GlobalWeight = globalWeight
	}
	if o.OutlierCap == 0 {
		o.OutlierCap = outlierCap
	}
	if o.BatchSeries <= 0 {
		o.BatchSeries = 512
	}
	if o.BucketSeries <= 0 {
		o.BucketSeries = 32768
	}
	if o.DuckDBMemory == "" {
		o.DuckDBMemory = "2GB"
	}
	if o.DuckDBThreads <= 0 {
		o.DuckDBThreads = runtime.GOMAXPROCS(0)
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Model.ForecastDays = max(o.Model.ForecastDays, o.Horizon)
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.AsOf <= 0 {
		errs = append(errs, errors.New("as-of date: required"))
	}
	if o.HistoryDays < 14 || o.HistoryDays > 3660 {
		errs = append(errs, fmt.Errorf("history days %d: want 14..3660", o.HistoryDays))
	}
	if o.Horizon < 1 || o.Horizon > 366 {
		errs = append(errs, fmt.Errorf("horizon %d: want 1..366", o.Horizon))
	}
	if o.InventoryLookbackDays < 1 || o.LeadTimeLookbackDays < 1 || o.MinLeadTimeObservations < 2 {
		errs = append(errs, errors.New("lookbacks must be ≥ 1 day and lead time observations ≥ 2"))
	}
	if math.IsNaN(o.OutlierCap) || math.IsInf(o.OutlierCap, 0) || o.OutlierCap > 0 && o.OutlierCap < 1 {
		errs = append(errs, fmt.Errorf("outlier cap %g: want ≥ 1 (times the median sale day), or negative for none", o.OutlierCap))
	}
	if !(o.GlobalWeight > 0 && o.GlobalWeight <= 1) {
		errs = append(errs, fmt.Errorf("global weight %g: want (0, 1]", o.GlobalWeight))
	}
	if strings.ContainsAny(o.DuckDBMemory, "'\\") {
		errs = append(errs, fmt.Errorf("duckdb memory %q: want a size like 2GB", o.DuckDBMemory))
	}
	if o.Shard.Count < 0 || o.Shard.Count > maxShards || o.Shard.Count > 0 && (o.Shard.Index < 0 || o.Shard.Index >= o.Shard.Count) {
		errs = append(errs, fmt.Errorf("shard %d/%d: want i/N with 0 ≤ i < N ≤ %d", o.Shard.Index, o.Shard.Count, maxShards))
	}
	if err := o.Model.WithDefaults().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("model: %w", err))
	}
	return errors.Join(errs...)
}

// AppID is the Delta txn appId that marks the run of asOf in the output
// tables.
func AppID(asOf schema.Date) string { return "forecast/" + asOf.String() }

// Report describes a run.
type Report struct {
	// Run is the forecast_runs row: the run made now, or the one found.
	Run schema.ForecastRunRow
	// Existing: the as-of date's run was complete already; nothing was
	// computed or written.
	Existing bool
	// Documents are the run's suggested purchase orders.
	Documents []*writeback.Document
	// Summary is the engine's (zero for an existing run).
	Summary engine.Summary
	// Timings are seconds per stage.
	Timings map[string]float64
	// Versions are the table versions the run committed.
	Versions map[string]int64
}

// runner is one run's state.
type runner struct {
	l         *lake.Lake
	o         Options
	log       *slog.Logger
	histStart schema.Date
	runID     string
	planner   *replenish.Planner
	attrs     []seriesAttr
	// promos is the pooled promotion response; future the known
	// promotions reaching into the horizon, by SKU.
	promos *promo.Model
	future map[string][]futurePromo
	// calSummary sums the locations' trading calendars.
	calSummary calSummary
	// global is the global model (nil with Options.NoGlobal).
	global *global
	// reconciled are the store-SKUs whose inputs the reconciliation
	// changed (see reconciled.go).
	reconciled map[string]bool
	// trained is the plan a shard (or the merge) computes with: nil
	// in an unsharded run or the --train step.
	trained *Plan
	// sharedCal is the closed weekdays a location too young to learn its
	// own takes: those of the training bucket's locations (see
	// calendars); set by the first calendars call, or from the plan.
	sharedCal *sharedCalendar
	// promoObs are the past promotions measured, in order, for the plan.
	promoObs []promo.Observation
}

// Run runs the forecast of opts.AsOf over l (see the package doc).
func Run(ctx context.Context, l *lake.Lake, opts Options) (rep *Report, err error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("forecast options: %w", err)
	}
	defer func() {
		if o.Metrics != nil {
			o.Metrics.observe(err, o.Now())
		}
	}()
	planner, err := replenish.NewPlanner(o.Replenish)
	if err != nil {
		return nil, err
	}
	r := &runner{l: l, o: o, log: o.Logger.With("as_of", o.AsOf.String()), histStart: o.AsOf - schema.Date(o.HistoryDays), planner: planner}
	if prev, ok, err := FindRun(ctx, l, o.AsOf); err != nil {
		return nil, err
	} else if ok {
		docs, err := writeback.LoadDocuments(ctx, l.Bucket(), prev.AsOf, prev.RunID)
		if err != nil {
			return nil, err
		}
		r.log.Info("forecast run exists: nothing to compute", "run", prev.RunID, "documents", len(docs))
		return &Report{Run: prev, Existing: true, Documents: docs, Timings: map[string]float64{}}, nil
	}
	if o.Shard.Count > 0 {
		return r.runShard(ctx)
	}
	return r.run(ctx)
}

// FindRun returns the completed run of asOf from forecast_runs, if any.
func FindRun(ctx context.Context, l *lake.Lake, asOf schema.Date) (schema.ForecastRunRow, bool, error) {
	t := schema.TableForecastRuns()
	dt, err := l.Table(ctx, t)
	if err != nil {
		return schema.ForecastRunRow{}, false, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return schema.ForecastRunRow{}, false, fmt.Errorf("forecast runs: %w", err)
	}
	if _, ok := snap.TxnVersion(AppID(asOf)); !ok {
		return schema.ForecastRunRow{}, false, nil
	}
	d := asOf.String()
	for _, f := range snap.FilesWhere(func(pv map[string]string) bool { return pv[t.PartitionColumn] == d }) {
		rows, err := lake.ReadRows[schema.ForecastRunRow](ctx, l, f.Key)
		if err != nil {
			return schema.ForecastRunRow{}, false, fmt.Errorf("forecast runs: %w", err)
		}
		for _, row := range rows {
			if row.AsOf == asOf {
				row.DT = asOf
				return row, true, nil
			}
		}
	}
	return schema.ForecastRunRow{}, false, fmt.Errorf("forecast runs: txn %s present but no row for %s", AppID(asOf), asOf)
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	c, err := r.compute(ctx)
	if err != nil {
		return nil, err
	}
	out, docs, timings := c.out, c.docs, c.timings
	t0 := time.Now()
	committed := map[string]int64{}
	for _, t := range []struct {
		table *schema.Table
		adds  []delta.Add
	}{{schema.TableReplenishmentSuggestions(), out.suggestionAdds}, {schema.TableForecasts(), out.forecastAdds}} {
		v, err := r.replacePartition(ctx, t.table, t.adds)
		if err != nil {
			return nil, err
		}
		committed[t.table.Name] = v
	}
	timings["commit"] = time.Since(t0).Seconds()
	row := r.runRow(out, docs, c.versions, timings, c.started)
	v, err := r.commitRun(ctx, row)
	if err != nil {
		return nil, err
	}
	committed[schema.TableNameForecastRuns] = v
	r.log.Info("forecast run complete", "series", out.summary.Series, "lines", row.Lines, "documents", row.Documents,
		"seconds", row.FinishedAt.Sub(c.started).Seconds())
	return &Report{Run: row, Documents: docs, Summary: out.summary, Timings: timings, Versions: committed}, nil
}

// computed is what a run (or a shard) computed before its commits: its
// rows' files, written but not committed, and its documents, stored in the
// outbox.
type computed struct {
	out      *fitOutput
	docs     []*writeback.Document
	versions map[string]int64
	timings  map[string]float64
	started  time.Time
	// bytesRead is what the process read from files meanwhile (Linux
	// rchar; 0 elsewhere).
	bytesRead int64
}

// openRun opens DuckDB with a view per input table, applies the
// reconciliation feedback and sets the run id from the inputs read (their
// versions and ids, returned); done releases it all.
func (r *runner) openRun(ctx context.Context) (db *sql.DB, versions map[string]int64, ids map[string]string, done func(), err error) {
	if db, err = r.openDuckDB(ctx); err != nil {
		return nil, nil, nil, nil, err
	}
	versions, ids, release, err := r.openInputs(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, nil, nil, err
	}
	done = func() {
		release()
		db.Close()
	}
	if r.reconciled, err = r.applyReconciliation(ctx, db, versions, ids); err != nil {
		done()
		return nil, nil, nil, nil, err
	}
	r.runID = runID(r.o, versions, ids)
	return db, versions, ids, done, nil
}

// compute runs steps 2 to 5 of the package doc over the runner's inputs
// (a shard's locations only, with Options.Shard).
func (r *runner) compute(ctx context.Context) (*computed, error) {
	o := r.o
	started := o.Now()
	read0 := readBytes()
	timings := map[string]float64{}
	stage := func(name string, since time.Time) { timings[name] = time.Since(since).Seconds() }
	t0 := time.Now()
	db, versions, _, closeRun, err := r.openRun(ctx)
	if err != nil {
		return nil, err
	}
	defer closeRun()
	if r.trained != nil && r.trained.RunID != r.runID {
		return nil, fmt.Errorf("shard %s computes run %s but the trained run is %s: give the shard the options of the --train step", o.Shard, r.runID, r.trained.RunID)
	}
	r.log = r.log.With("run", r.runID)
	stage("inputs", t0)
	t0 = time.Now()
	if err := r.seriesTable(ctx, db); err != nil {
		return nil, err
	}
	stage("series", t0)
	t0 = time.Now()
	if err := r.promotions(ctx, db); err != nil {
		return nil, err
	}
	stage("promotions", t0)
	if p, ok := o.Progress.(interface{ SetTotal(int64) }); ok {
		p.SetTotal(int64(len(r.attrs)))
	}
	r.log.Info("forecasting", "series", len(r.attrs), "history_start", r.histStart.String())
	t0 = time.Now()
	out, err := r.fit(ctx, db)
	if err != nil {
		return nil, err
	}
	stage("fit", t0)
	if g := r.global; g != nil {
		r.log.Info("global model", "used", g.info.Used, "reason", g.info.Reason, "train_rows", g.info.TrainRows,
			"train_seconds", g.info.TrainSeconds, "predict_seconds", g.info.PredictSeconds, "series", out.global)
	}
	r.warnDefaults(out, versions)
	t0 = time.Now()
	docs, err := r.documents(out.lines)
	if err != nil {
		out.abort(ctx)
		return nil, err
	}
	if err := writeback.PutDocuments(ctx, r.l.Bucket(), o.AsOf, r.runID, docs); err != nil {
		out.abort(ctx)
		return nil, err
	}
	stage("documents", t0)
	return &computed{out: out, docs: docs, versions: versions, timings: timings, started: started, bytesRead: readBytes() - read0}, nil
}

// openDuckDB opens the run's in-process DuckDB.
func (r *runner) openDuckDB(ctx context.Context) (*sql.DB, error) {
	o := r.o
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db.SetMaxOpenConns(2)
	for _, s := range []string{
		"SET memory_limit = '" + o.DuckDBMemory + "'",
		"SET threads = " + sqlInt(o.DuckDBThreads),
		"SET temp_directory = " + sqlString(o.TempDir),
		"SET preserve_insertion_order = false",
		"SET parquet_metadata_cache = true",
		// The inputs are local files (the lake's own or the file
		// cache's copies), already in the OS page cache when read
		// twice: DuckDB's own cache of their blocks only adds memory.
		"SET enable_external_file_cache = false",
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("duckdb %s: %w", s, err)
		}
	}
	return db, nil
}

// seriesTable builds the series table and reads it into r.attrs.
func (r *runner) seriesTable(ctx context.Context, db *sql.DB) error {
	if err := r.leadTimeSuppliers(ctx, db); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, fill(seriesSQL, map[string]string{"A": sqlInt(int(r.o.AsOf))})); err != nil {
		return fmt.Errorf("series table: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	err = withArrow(conn, func(query func(context.Context, string) (arrowReader, error)) error {
		var err error
		r.attrs, err = readAttrs(ctx, query)
		return err
	})
	conn.Close()
	if err != nil {
		return err
	}
	if len(r.attrs) == 0 && r.o.Shard.Count == 0 {
		return errNoSeries
	}
	return nil
}

// runID is the run's id: a hash of the as-of date, the options that change
// results and the input tables (ids and versions), so that the same
// computation over the same lake has the same id.
func runID(o Options, versions map[string]int64, ids map[string]string) string {
	b, _ := json.Marshal(struct {
		AsOf     string
		Params   map[string]any
		Versions map[string]int64
		IDs      map[string]string
	}{o.AsOf.String(), parameters(o), versions, ids})
	h := sha256.Sum256(b)
	return o.AsOf.String() + "-" + hex.EncodeToString(h[:6])
}

// parameters are the options recorded with a run.
func parameters(o Options) map[string]any {
	mo := o.Model.WithDefaults()
	cands := make([]string, len(mo.Candidates))
	for i, k := range mo.Candidates {
		cands[i] = k.String()
	}
	d := o.Replenish.Defaults
	return map[string]any{
		"history_days": o.HistoryDays, "horizon": o.Horizon, "window_sigma": o.WindowSigma,
		"inventory_lookback_days": o.InventoryLookbackDays, "lead_time_lookback_days": o.LeadTimeLookbackDays,
		"min_lead_time_observations": o.MinLeadTimeObservations, "promotions": !o.NoPromotions,
		"global_model": !o.NoGlobal, "global_weight": o.GlobalWeight, "outlier_cap": o.OutlierCap,
		"model": map[string]any{"candidates": cands, "backtest_horizon": mo.Horizon, "origins": mo.Origins,
			"min_train": mo.MinTrain, "ensemble_size": mo.EnsembleSize, "default": mo.Default.String(),
			"intermittent_default": mo.IntermittentDefault.String(), "margin": mo.Margin, "no_refit": mo.NoRefit},
		"replenish": map[string]any{"target": o.Replenish.Target, "cycle_days": o.Replenish.CycleDays,
			"default_lead_time_days": d.LeadTimeDays, "default_lead_time_cv": d.LeadTimeCV,
			"default_review_period_days": d.ReviewPeriodDays, "default_case_pack": d.CasePack,
			"default_moq": d.MOQ, "default_service_level": d.ServiceLevel},
	}
}

// replacePartition commits adds as the as-of partition of t, removing what
// an earlier, incomplete attempt left there, fenced by the run's appId (one
// generation per attempt: two attempts never both commit on one base).
func (r *runner) replacePartition(ctx context.Context, t *schema.Table, adds []delta.Add) (int64, error) {
	dt, err := r.l.Table(ctx, t)
	if err != nil {
		return 0, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	d := r.o.AsOf.String()
	var removes []delta.Remove
	now := r.o.Now()
	for _, f := range snap.FilesWhere(func(pv map[string]string) bool { return pv[t.PartitionColumn] == d }) {
		removes = append(removes, delta.RemoveOf(f.Add, now, true))
	}
	fence := delta.FenceRange{AppID: AppID(r.o.AsOf), From: 0, To: 1, First: true}
	if cur, ok := snap.TxnVersion(fence.AppID); ok {
		fence = delta.FenceRange{AppID: fence.AppID, From: cur, To: cur + 1}
	}
	txn := delta.Txn{Isolation: delta.Append, Adds: adds, Fences: []delta.FenceRange{fence}, Operation: "WRITE",
		Info: map[string]any{"shelflake.forecast": map[string]any{"run_id": r.runID, "as_of": d}}}
	if len(removes) > 0 {
		txn.Isolation, txn.Removes = delta.Rewrite, removes
		r.log.Warn("replacing the partition of an incomplete earlier attempt", "table", t.Name, "files", len(removes))
	}
	res, err := dt.Commit(ctx, snap, txn)
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", t.Name, err)
	}
	return res.Version, nil
}

// ErrConcurrentRun is returned when another run of the same as-of date
// completed first.
var ErrConcurrentRun = errors.New("another run of this as-of date completed first")

// commitRun appends the run row to forecast_runs with a first-time fence:
// the run of an as-of date completes once.
func (r *runner) commitRun(ctx context.Context, row schema.ForecastRunRow) (int64, error) {
	t := schema.TableForecastRuns()
	dt, err := r.l.Table(ctx, t)
	if err != nil {
		return 0, err
	}
	adds, err := lake.WriteFiles(ctx, r.l, t, row.DT, []schema.ForecastRunRow{row}, lake.WriteOptions{})
	if err != nil {
		return 0, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	res, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE",
		Fences: []delta.FenceRange{{AppID: AppID(r.o.AsOf), From: 0, To: 1, First: true}},
		Info:   map[string]any{"shelflake.forecast": map[string]any{"run_id": r.runID, "as_of": r.o.AsOf.String()}}})
	if errors.Is(err, delta.ErrFenced) {
		return 0, fmt.Errorf("forecast run %s: %w", r.runID, ErrConcurrentRun)
	}
	if err != nil {
		return 0, fmt.Errorf("commit forecast run: %w", err)
	}
	return res.Version, nil
}

// runRow builds the forecast_runs row.
func (r *runner) runRow(out *fitOutput, docs []*writeback.Document, versions map[string]int64, timings map[string]float64, started time.Time) schema.ForecastRunRow {
	s := out.summary
	chosen := map[string]int{}
	for k, n := range out.chosen {
		chosen[k] = n
	}
	cost := map[string]string{}
	totals := map[string]schema.Money{}
	var units int64
	for _, d := range docs {
		totals[d.Currency] += d.TotalCost
		units += d.TotalQty
	}
	for c, m := range totals {
		cost[c] = m.String()
	}
	params := parameters(r.o)
	params["input_versions"] = versions
	params["history_start"] = r.histStart.String()
	params["promotion_response"] = r.promoResponse()
	params["promotions_ahead"] = r.promotionsAhead()
	params["missing_inputs"] = r.missingInputs(versions)
	params["trading_calendar"] = r.calSummary
	params["yearly_ramp_series"] = out.ramped
	params["outlier_capped_series"] = out.capped
	if r.global != nil {
		params["global_model_run"] = r.global.info
		params["global_model_series"] = out.global
	}
	params["lines_without"] = map[string]int64{"stock_position": out.noStock, "item_location": out.noParams,
		"supplier": out.noSupplier, "observed_or_nominal_lead_time": out.defaultLeadTime}
	params["lines_not_ordering"] = map[string]int64{"no_stock_position": out.noStock, "dead_item": out.dead,
		"zero_forecast": out.zero}
	mustJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return "{}"
		}
		return string(b)
	}
	row := schema.ForecastRunRow{
		DT: r.o.AsOf, RunID: r.runID, AsOf: r.o.AsOf, HistoryStart: r.histStart,
		StartedAt: started.UTC(), FinishedAt: r.o.Now().UTC(),
		Series: int64(s.Series), Selected: int64(s.ByStatus[model.Selected]),
		ShortHistory: int64(s.ByStatus[model.ShortHistory]), NoDemand: int64(s.ByStatus[model.NoDemand]),
		ModelsChosen: mustJSON(chosen), Fits: s.Fits,
		Lines: out.orderLines, Documents: int64(len(docs)), TotalUnits: units, DefaultsUsed: out.defaulted,
		TotalCost: mustJSON(cost), Timings: mustJSON(timings), Parameters: mustJSON(params),
	}
	if s.MeanRMSSE > 0 {
		v := s.MeanRMSSE
		row.MeanBacktestRMSSE = &v
	}
	if out.weightSum > 0 {
		v := out.weightedRMSSE / out.weightSum
		row.WeightedBacktestRMSSE = &v
	}
	return row
}

// missingInputs lists the input tables the run found missing or empty
// (read as empty, version -1), in a fixed order.
func (r *runner) missingInputs(versions map[string]int64) []string {
	out := []string{}
	for _, t := range []string{schema.TableNameInventoryDaily, schema.TableNamePOOpen, schema.TableNameLeadTimes,
		schema.TableNameItemLocations, schema.TableNameStockouts, schema.TableNamePOSLines, schema.TableNamePromotions} {
		if v, ok := versions[t]; ok && v < 0 {
			out = append(out, t)
		}
	}
	return out
}

// warnDefaults logs, once per run, what the lines had to do without.
func (r *runner) warnDefaults(out *fitOutput, versions map[string]int64) {
	if out.noStock == 0 && out.noParams == 0 && out.noSupplier == 0 && out.defaultLeadTime == 0 {
		return
	}
	d := r.o.Replenish.Defaults
	r.log.Warn("forecast run planned with missing inputs: lines without a stock position order nothing; defaults were used for missing parameters",
		"missing_tables", strings.Join(r.missingInputs(versions), ","), "series", len(r.attrs),
		"without_stock_position", out.noStock, "without_item_location", out.noParams, "without_supplier", out.noSupplier,
		"default_lead_time", out.defaultLeadTime, "default_lead_time_days", cmp.Or(d.LeadTimeDays, 7),
		"default_review_period_days", cmp.Or(d.ReviewPeriodDays, 7), "default_service_level", cmp.Or(d.ServiceLevel, 0.95))
}

// documents groups the order lines into one document per location and
// supplier, lines by SKU.
func (r *runner) documents(lines []docLine) ([]*writeback.Document, error) {
	slices.SortFunc(lines, func(a, b docLine) int {
		return cmp.Or(strings.Compare(a.loc, b.loc), strings.Compare(a.sup, b.sup), strings.Compare(a.line.SKU, b.line.SKU))
	})
	var docs []*writeback.Document
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && lines[j].loc == lines[i].loc && lines[j].sup == lines[i].sup {
			j++
		}
		d := &writeback.Document{AsOf: r.o.AsOf, RunID: r.runID, LocationID: lines[i].loc, SupplierID: lines[i].sup, Currency: lines[i].cur}
		for _, l := range lines[i:j] {
			if l.cur != d.Currency {
				return nil, fmt.Errorf("document %s/%s: lines in %s and %s", d.LocationID, d.SupplierID, d.Currency, l.cur)
			}
			d.Lines = append(d.Lines, l.line)
		}
		if err := d.Finalize(); err != nil {
			return nil, err
		}
		docs = append(docs, d)
		i = j
	}
	return docs, nil
}

// finite returns a pointer to x, or nil when x is NaN or infinite.
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

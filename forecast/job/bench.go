package job

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/shelflake/shelflake/forecast/backtest"
	"github.com/shelflake/shelflake/forecast/evaluate"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// BenchOptions configure Bench. Zero fields take their defaults.
type BenchOptions struct {
	// Seed, Stores, SKUs and Days make the scale world (defaults 1, 1000,
	// 1000, 365: a million store-SKU series with a year of history).
	Seed               uint64
	Stores, SKUs, Days int
	// EvalStores, EvalSKUs and EvalDays make the world accuracy and
	// replenishment are judged on (defaults 20, 200, 200: 4,000 series; with
	// 1,000 the replenishment comparison moves by several points from one
	// seed to the next). With the same
	// seed its stores and SKUs are the scale world's first ones (a world's
	// entities do not depend on how many there are). 200 days from the
	// default start put the backtest's 28-day horizons in June and July,
	// with no holiday in them that a forecaster without a holiday calendar
	// cannot see coming.
	EvalStores, EvalSKUs, EvalDays int
	// ReplayDays is the number of final days replayed per policy (default
	// 56).
	ReplayDays int
	// EvalOrigins is the number of weekly as-of origins the accuracy
	// backtest runs the job at (default 3), the latest 28 days before the
	// evaluation world's end.
	EvalOrigins int
	// Dir holds the scale lake (default: a temporary directory, removed
	// after).
	Dir string
	// SkipScale and SkipEval leave out a part.
	SkipScale, SkipEval bool
	// NoGlobal runs the job without its global model (Options.NoGlobal);
	// GlobalWeight is its share (Options.GlobalWeight); OutlierCap is
	// Options.OutlierCap.
	NoGlobal     bool
	GlobalWeight float64
	OutlierCap   float64
	// Worlds are the evaluation worlds, by name: "hard" (world.Config.Hard)
	// and "classic". The first one's figures are BenchResult's own, the
	// others' in Others. Default: hard, then classic. The scale world is
	// always the classic one (it measures time and memory).
	Worlds []string
	// CurveLevels are the service levels of the fill-rate-vs-inventory
	// curve (default evaluate.DefaultCurveLevels); NoCurve leaves it out.
	CurveLevels []float64
	NoCurve     bool
	// Shards, when > 0, runs the scale run sharded: Train, then each shard
	// of Shards one after the other (each measured on its own), then
	// Merge.
	Shards int
	// RowGroupRows is the scale world's row group size
	// (WorldOptions.RowGroupRows; 0: the lake's default).
	RowGroupRows int64
	// Logger receives progress. Default: discard.
	Logger *slog.Logger
}

func (o BenchOptions) withDefaults() BenchOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	def(&o.Stores, 1000)
	def(&o.SKUs, 1000)
	def(&o.Days, 365)
	def(&o.EvalStores, 20)
	def(&o.EvalSKUs, 200)
	def(&o.EvalDays, 200)
	def(&o.ReplayDays, 56)
	def(&o.EvalOrigins, 3)
	if len(o.Worlds) == 0 {
		o.Worlds = []string{WorldHard, WorldClassic}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Evaluation worlds of the bench.
const (
	WorldHard    = "hard"
	WorldClassic = "classic"
)

// worldConfig returns the world config of name.
func worldConfig(name string, seed uint64, stores, skus, days int) (world.Config, error) {
	cfg := world.Config{Seed: seed, Stores: stores, SKUs: skus, Days: days}
	switch name {
	case WorldHard:
		cfg.Hard = true
	case WorldClassic:
	default:
		return cfg, fmt.Errorf("world %q: want %s or %s", name, WorldHard, WorldClassic)
	}
	return cfg, nil
}

// EvalResult is the accuracy and replenishment figures of one evaluation
// world.
type EvalResult struct {
	// World names it: hard or classic.
	World string `json:"world"`
	// WRMSSE of the shipped job (Run) and of each simple method, at the
	// store-SKU daily level, mean over EvalOrigins weekly origins of the
	// evaluation world's lake, against net sales (forecast/backtest; keys
	// are backtest.Methods). The simple methods are given each location's
	// trading calendar and the published promotions' lift.
	WRMSSE map[string]float64 `json:"wrmsse"`
	// ImprovementVsBest and ImprovementVsSNaive are 1 − ours/theirs.
	ImprovementVsBest   float64 `json:"improvement_vs_best_simple"`
	BestSimple          string  `json:"best_simple"`
	ImprovementVsSNaive float64 `json:"improvement_vs_snaive"`
	// OracleWRMSSE is the store-SKU WRMSSE of the world's expected demand
	// (world.ExpectedDemand: what a forecaster knowing the generator would
	// say), scored the same way; OracleVsBest is 1 − oracle/best simple:
	// the most any forecast could improve on the best simple method.
	OracleWRMSSE float64 `json:"oracle_wrmsse"`
	OracleVsBest float64 `json:"oracle_improvement_vs_best_simple"`
	// WRMSSENoLift, BestSimpleNoLift and ImprovementVsBestNoLift score the
	// simple methods without the published promotions (no history mask,
	// no lift: backtest.Options.NoPromotionLift), as they were scored
	// before being given them.
	WRMSSENoLift            map[string]float64 `json:"wrmsse_without_promotion_lift,omitempty"`
	BestSimpleNoLift        string             `json:"best_simple_without_promotion_lift,omitempty"`
	ImprovementVsBestNoLift float64            `json:"improvement_vs_best_simple_without_promotion_lift,omitempty"`
	// Backtest is the whole backtest: every level, every origin, bias and
	// the job's own recorded backtest RMSSE.
	Backtest *backtest.Result `json:"backtest,omitempty"`
	// FillRate and AvgInventory of the replay: ours, the naive policy, and
	// the naive policy scaled to our fill rate (naive_matched).
	FillRate     map[string]float64 `json:"fill_rate"`
	AvgInventory map[string]float64 `json:"avg_inventory"`
	LostUnits    map[string]int64   `json:"lost_units"`
	DaysOfCover  map[string]float64 `json:"days_of_cover"`
	// ServiceLevel is the demand-weighted service level asked for.
	ServiceLevel float64 `json:"service_level"`
	// InventoryReduction is 1 − ours/naive_matched average inventory.
	InventoryReduction float64 `json:"inventory_reduction_at_equal_fill_rate"`
	// Curve is the fill-rate-vs-inventory curve: our policy asking each
	// of CurveLevels of every series, with the naive policy's inventory at
	// the same fill rate, and the naive policy at several scales.
	Curve      *evaluate.Curve `json:"service_curve,omitempty"`
	EvalSeries int             `json:"eval_series"`
	EvalDays   int             `json:"eval_days"`
}

// BenchResult is what `shelflake bench forecast --json` prints.
type BenchResult struct {
	// Series is the number of store-SKU series the scale run forecast.
	Series int `json:"series"`
	// EvalResult is the first evaluation world's figures (the hard one by
	// default); Others the other worlds'.
	EvalResult
	Others []EvalResult `json:"other_worlds,omitempty"`
	// Seconds is the scale run from lake to suggestions (job.Run), Stages
	// its stages; WorldSeconds writing the world's tables (not included).
	Seconds      float64            `json:"seconds"`
	Stages       map[string]float64 `json:"stages"`
	WorldSeconds float64            `json:"world_write_seconds"`
	// PeakRSSBytes is the process's peak resident memory during the run
	// (the high-water mark is reset after the world is written, where the
	// kernel allows).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// CPUSeconds of the run; FitsPerCPUSecond candidate model fits per
	// CPU-second; SeriesPerSecond wall-clock throughput.
	CPUSeconds       float64 `json:"cpu_seconds"`
	Fits             int64   `json:"fits"`
	FitsPerCPUSecond float64 `json:"fits_per_cpu_second"`
	SeriesPerSecond  float64 `json:"series_per_second"`
	Cores            int     `json:"cores"`
	Days             int     `json:"days"`
	Lines            int64   `json:"order_lines"`
	Documents        int64   `json:"documents"`
	// WorldInput says how the scale world reached the lake.
	WorldInput string `json:"world_input"`
	// BytesRead is what the scale run read from files (Linux rchar: the
	// DuckDB scans of the lake's Parquet files, page cache or not).
	BytesRead int64 `json:"bytes_read"`
	// TrainSeconds and ShardRuns, with BenchOptions.Shards: the train
	// step, and each shard (Seconds is then train + shards + merge, one
	// after the other on this machine).
	TrainSeconds float64       `json:"train_seconds,omitempty"`
	ShardRuns    []ShardFigure `json:"shards,omitempty"`
}

// ShardFigure is one shard's measurement in a sharded scale run.
type ShardFigure struct {
	Shard      string  `json:"shard"`
	Series     int64   `json:"series"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	BytesRead  int64   `json:"bytes_read"`
}

// Bench measures the forecast on generated worlds: for each of o.Worlds
// (the hard world, then the classic one, by default) accuracy on the
// evaluation world's lake (forecast/backtest: the shipped Run at weekly
// origins against simple baselines), replenishment on the same world
// (forecast/evaluate's Replay and its fill-rate-vs-inventory curve); then
// the scale run on the classic world — written straight into the unified
// tables by WriteWorld (the generator's model, not Kafka and ingest), and
// job.Run from those tables to suggestions, timed, with its peak memory.
func Bench(ctx context.Context, o BenchOptions) (*BenchResult, error) {
	o = o.withDefaults()
	res := &BenchResult{Stages: map[string]float64{}, Cores: runtime.GOMAXPROCS(0), Days: o.Days}
	if !o.SkipEval {
		for i, name := range o.Worlds {
			ev, err := benchEval(ctx, o, name)
			if err != nil {
				return nil, fmt.Errorf("%s world: %w", name, err)
			}
			if i == 0 {
				res.EvalResult = *ev
			} else {
				res.Others = append(res.Others, *ev)
			}
		}
	}
	if !o.SkipScale {
		if err := benchScale(ctx, o, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func benchEval(ctx context.Context, o BenchOptions, name string) (*EvalResult, error) {
	res := &EvalResult{World: name, WRMSSE: map[string]float64{}, FillRate: map[string]float64{}, AvgInventory: map[string]float64{},
		LostUnits: map[string]int64{}, DaysOfCover: map[string]float64{}}
	cfg, err := worldConfig(name, o.Seed, o.EvalStores, o.EvalSKUs, o.EvalDays)
	if err != nil {
		return nil, err
	}
	w, err := world.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := benchAccuracy(ctx, o, w, res); err != nil {
		return nil, fmt.Errorf("accuracy: %w", err)
	}
	o.Logger.Info("bench: replay", "world", name, "days", o.ReplayDays)
	ro := evaluate.ReplayOptions{Days: o.ReplayDays}
	rep, err := evaluate.Replay(ctx, w, ro)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	for name, s := range map[string]world.Stats{"ours": rep.Ours, "naive": rep.Naive, "naive_matched": rep.NaiveMatched} {
		res.FillRate[name] = s.FillRate()
		res.AvgInventory[name] = s.AvgInventory()
		res.LostUnits[name] = s.Lost
		res.DaysOfCover[name] = s.DaysOfCover()
	}
	res.ServiceLevel = rep.ServiceLevel
	res.InventoryReduction = rep.InventoryReduction()
	if !o.NoCurve {
		res.Curve, err = evaluate.ReplayCurve(ctx, w, ro, o.CurveLevels, func(sl float64) {
			o.Logger.Info("bench: replay curve", "world", name, "service_level", sl)
		})
		if err != nil {
			return nil, fmt.Errorf("replay curve: %w", err)
		}
	}
	return res, nil
}

// benchAccuracy writes the evaluation world into a temporary lake and
// backtests Run on it at o.EvalOrigins weekly origins.
func benchAccuracy(ctx context.Context, o BenchOptions, w *world.World, res *EvalResult) error {
	dir, err := os.MkdirTemp("", "shelflake-bench-accuracy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := lake.Open(ctx, dir, lake.Options{Logger: o.Logger})
	if err != nil {
		return err
	}
	defer l.Close()
	o.Logger.Info("bench: accuracy", "series", o.EvalStores*o.EvalSKUs, "days", o.EvalDays, "origins", o.EvalOrigins)
	if _, err := WriteWorld(ctx, l, w, WorldOptions{}); err != nil {
		return fmt.Errorf("write world: %w", err)
	}
	last, err := backtest.LastSalesDate(ctx, l)
	if err != nil {
		return err
	}
	locs, skus := map[string]int{}, map[string]int{}
	for i, x := range w.Locations() {
		locs[x.ID] = i
	}
	for i, x := range w.Items() {
		skus[x.ID] = i
	}
	oracle := func(store, sku string, from schema.Date, dst []float64) bool {
		loc, ok1 := locs[store]
		it, ok2 := skus[sku]
		d0 := int(from - w.Date(0))
		if !ok1 || !ok2 || d0 < 0 || d0+len(dst) > w.Days() {
			return false
		}
		for h := range dst {
			dst[h] = w.ExpectedDemand(loc, it, d0+h)
		}
		return true
	}
	run := func(noLift bool) (*backtest.Result, backtest.LevelScore, error) {
		bt, err := backtest.Run(ctx, l, backtest.Options{
			Origins: backtest.WeeklyOrigins(last, o.EvalOrigins, 28), Horizon: 28, Logger: o.Logger, NoPromotionLift: noLift, Oracle: oracle,
			Job: func(ctx context.Context, l *lake.Lake, asOf schema.Date, horizon int) error {
				_, err := Run(ctx, l, Options{AsOf: asOf, Horizon: horizon, Logger: o.Logger, TempDir: dir, NoGlobal: o.NoGlobal, GlobalWeight: o.GlobalWeight, OutlierCap: o.OutlierCap})
				return err
			},
		})
		if err != nil {
			return nil, backtest.LevelScore{}, err
		}
		bottom, ok := bt.Level(backtest.LevelStoreSKU)
		if !ok {
			return nil, backtest.LevelScore{}, errors.New("backtest without a store_sku level")
		}
		return bt, bottom, nil
	}
	bt, bottom, err := run(false)
	if err != nil {
		return err
	}
	for m, v := range bottom.WRMSSE {
		res.WRMSSE[m] = float64(v)
	}
	res.BestSimple = bottom.BestSimple
	res.ImprovementVsBest = 1 - float64(bottom.VsBestSimple)
	res.ImprovementVsSNaive = 1 - float64(bottom.VsSNaive)
	if bt.MeanOracleWRMSSE != nil {
		res.OracleWRMSSE = float64(*bt.MeanOracleWRMSSE)
		res.OracleVsBest = 1 - res.OracleWRMSSE/res.WRMSSE[res.BestSimple]
	}
	// The same job runs (stored), the baselines without the promotions.
	_, plain, err := run(true)
	if err != nil {
		return err
	}
	res.WRMSSENoLift = map[string]float64{}
	for m, v := range plain.WRMSSE {
		res.WRMSSENoLift[m] = float64(v)
	}
	res.BestSimpleNoLift = plain.BestSimple
	res.ImprovementVsBestNoLift = 1 - float64(plain.VsBestSimple)
	res.EvalSeries, res.EvalDays = bt.Origins[len(bt.Origins)-1].Forecast, o.EvalDays
	res.Backtest = bt
	return nil
}

func benchScale(ctx context.Context, o BenchOptions, res *BenchResult) error {
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "shelflake-bench-forecast-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	w, err := world.New(world.Config{Seed: o.Seed, Stores: o.Stores, SKUs: o.SKUs, Days: o.Days})
	if err != nil {
		return err
	}
	l, err := lake.Open(ctx, dir, lake.Options{Logger: o.Logger})
	if err != nil {
		return err
	}
	defer l.Close()
	o.Logger.Info("bench: writing the world's tables", "series", o.Stores*o.SKUs, "days", o.Days)
	ws, err := WriteWorld(ctx, l, w, WorldOptions{StateDays: 28, ChunkSeries: 65536, DailyPOSLines: true, RowGroupRows: o.RowGroupRows})
	if err != nil {
		return fmt.Errorf("write world: %w", err)
	}
	res.WorldSeconds = ws.Duration.Seconds()
	res.WorldInput = "unified tables, item_locations and promotions written by the world generator's per-series model (job.WriteWorld), not streamed through Kafka and ingest; inventory_daily and po_open for the last 28 days; pos_lines one line per store-SKU-day with sales (and per day with returns), with the promotion id"
	// Start the measurement from a clean slate: what the world writer held
	// goes back to the OS, and the high-water mark restarts.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	cpu0 := cpuTime()
	read0 := readBytes()
	start := time.Now()
	jo := Options{AsOf: w.Date(w.Days()), Logger: o.Logger, TempDir: dir, NoGlobal: o.NoGlobal, GlobalWeight: o.GlobalWeight, OutlierCap: o.OutlierCap}
	var rep *Report
	if o.Shards > 0 {
		rep, err = benchShards(ctx, l, jo, o.Shards, res)
	} else {
		rep, err = Run(ctx, l, jo)
	}
	if err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	res.BytesRead = readBytes() - read0
	res.CPUSeconds = (cpuTime() - cpu0).Seconds()
	res.PeakRSSBytes = peakRSS()
	res.Series = int(rep.Run.Series)
	res.Fits = rep.Run.Fits
	res.FitsPerCPUSecond = float64(rep.Run.Fits) / max(res.CPUSeconds, 1e-9)
	res.SeriesPerSecond = float64(rep.Run.Series) / max(res.Seconds, 1e-9)
	res.Lines, res.Documents = rep.Run.Lines, rep.Run.Documents
	for k, v := range rep.Timings {
		res.Stages[k] = v
	}
	return nil
}

// benchShards runs the sharded flow, measuring the train step and each
// shard.
func benchShards(ctx context.Context, l *lake.Lake, jo Options, n int, res *BenchResult) (*Report, error) {
	t0 := time.Now()
	if _, err := Train(ctx, l, jo); err != nil {
		return nil, err
	}
	res.TrainSeconds = time.Since(t0).Seconds()
	for i := range n {
		so := jo
		so.Shard = Shard{Index: i, Count: n}
		cpu0, read0, t0 := cpuTime(), readBytes(), time.Now()
		rep, err := Run(ctx, l, so)
		if err != nil {
			return nil, err
		}
		res.ShardRuns = append(res.ShardRuns, ShardFigure{Shard: so.Shard.String(), Series: rep.Run.Series,
			Seconds: time.Since(t0).Seconds(), CPUSeconds: (cpuTime() - cpu0).Seconds(), BytesRead: readBytes() - read0})
	}
	return Merge(ctx, l, jo, n)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's high-water mark of resident memory
// (Linux ≥ 4.0; elsewhere nothing happens and the peak covers the process).
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the peak resident memory: VmHWM from /proc/self/status,
// else getrusage's maxrss.
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := bytes.CutPrefix([]byte(line), []byte("VmHWM:")); ok {
				f := bytes.Fields(rest)
				if len(f) >= 1 {
					if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
						return kb << 10
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10
}

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
	// GlobalWeight is its share (Options.GlobalWeight).
	NoGlobal     bool
	GlobalWeight float64
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// BenchResult is what `shelflake bench forecast --json` prints.
type BenchResult struct {
	// Series is the number of store-SKU series the scale run forecast.
	Series int `json:"series"`
	// WRMSSE of the shipped job (Run) and of each simple method, at the
	// store-SKU daily level, mean over EvalOrigins weekly origins of the
	// evaluation world's lake, against net sales (forecast/backtest; keys
	// are backtest.Methods). The simple methods are given each location's
	// trading calendar.
	WRMSSE map[string]float64 `json:"wrmsse"`
	// ImprovementVsBest and ImprovementVsSNaive are 1 − ours/theirs.
	ImprovementVsBest   float64 `json:"improvement_vs_best_simple"`
	BestSimple          string  `json:"best_simple"`
	ImprovementVsSNaive float64 `json:"improvement_vs_snaive"`
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
	EvalSeries         int     `json:"eval_series"`
	EvalDays           int     `json:"eval_days"`
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

// Bench measures the forecast on generated worlds: accuracy on the
// evaluation world's lake (forecast/backtest: the shipped Run at weekly
// origins against simple baselines), replenishment on the same world
// (forecast/evaluate's Replay), then the scale run — the scale world written straight into the
// unified tables by WriteWorld (the generator's model, not Kafka and
// ingest), and job.Run from those tables to suggestions, timed, with its
// peak memory.
func Bench(ctx context.Context, o BenchOptions) (*BenchResult, error) {
	o = o.withDefaults()
	res := &BenchResult{WRMSSE: map[string]float64{}, FillRate: map[string]float64{}, AvgInventory: map[string]float64{},
		LostUnits: map[string]int64{}, DaysOfCover: map[string]float64{}, Stages: map[string]float64{},
		Cores: runtime.GOMAXPROCS(0), Days: o.Days}
	if !o.SkipEval {
		if err := benchEval(ctx, o, res); err != nil {
			return nil, err
		}
	}
	if !o.SkipScale {
		if err := benchScale(ctx, o, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func benchEval(ctx context.Context, o BenchOptions, res *BenchResult) error {
	w, err := world.New(world.Config{Seed: o.Seed, Stores: o.EvalStores, SKUs: o.EvalSKUs, Days: o.EvalDays})
	if err != nil {
		return err
	}
	if err := benchAccuracy(ctx, o, w, res); err != nil {
		return fmt.Errorf("accuracy: %w", err)
	}
	o.Logger.Info("bench: replay", "days", o.ReplayDays)
	rep, err := evaluate.Replay(ctx, w, evaluate.ReplayOptions{Days: o.ReplayDays})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	for name, s := range map[string]world.Stats{"ours": rep.Ours, "naive": rep.Naive, "naive_matched": rep.NaiveMatched} {
		res.FillRate[name] = s.FillRate()
		res.AvgInventory[name] = s.AvgInventory()
		res.LostUnits[name] = s.Lost
		res.DaysOfCover[name] = s.DaysOfCover()
	}
	res.ServiceLevel = rep.ServiceLevel
	res.InventoryReduction = rep.InventoryReduction()
	return nil
}

// benchAccuracy writes the evaluation world into a temporary lake and
// backtests Run on it at o.EvalOrigins weekly origins.
func benchAccuracy(ctx context.Context, o BenchOptions, w *world.World, res *BenchResult) error {
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
	bt, err := backtest.Run(ctx, l, backtest.Options{
		Origins: backtest.WeeklyOrigins(last, o.EvalOrigins, 28), Horizon: 28, Logger: o.Logger,
		Job: func(ctx context.Context, l *lake.Lake, asOf schema.Date, horizon int) error {
			_, err := Run(ctx, l, Options{AsOf: asOf, Horizon: horizon, Logger: o.Logger, TempDir: dir, NoGlobal: o.NoGlobal, GlobalWeight: o.GlobalWeight})
			return err
		},
	})
	if err != nil {
		return err
	}
	bottom, ok := bt.Level(backtest.LevelStoreSKU)
	if !ok {
		return errors.New("backtest without a store_sku level")
	}
	for m, v := range bottom.WRMSSE {
		res.WRMSSE[m] = float64(v)
	}
	res.BestSimple = bottom.BestSimple
	res.ImprovementVsBest = 1 - float64(bottom.VsBestSimple)
	res.ImprovementVsSNaive = 1 - float64(bottom.VsSNaive)
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
	jo := Options{AsOf: w.Date(w.Days()), Logger: o.Logger, TempDir: dir, NoGlobal: o.NoGlobal, GlobalWeight: o.GlobalWeight}
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

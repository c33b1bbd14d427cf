package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/forecast/backtest"
	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/compact"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// newBenchCmd groups the benchmarks that report figures as ratios against a
// baseline measured in the same run.
func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure shelflake against baselines in the same run (ingest, query, forecast)",
	}
	cmd.AddCommand(newBenchIngestCmd(a), newBenchQueryCmd(a), newBenchForecastCmd(a), newBenchServeCmd(a))
	return cmd
}

func newBenchIngestCmd(a *app) *cobra.Command {
	var (
		cfg     ingest.BenchConfig
		asJSON  bool
		dir     string
		maxBuf  byteSize = ingest.DefaultMaxBufferBytes
		freshFl time.Duration
		iceberg bool
		bf      ingest.BackfillConfig
		bfOnly  bool
		peer    string
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "POS JSON from the embedded broker into a local lake, exactly once, vs a consume-only baseline",
		Long: `bench ingest loads synthetic POS transactions into an embedded broker, consumes
them once without decoding (the baseline), then ingests them into a fresh local
lake with exactly-once commits, and finally measures end-to-end freshness at a
steady event rate. Figures: MB/s per core (MB per CPU-second), lines/s, the
ratio to the consume-only rate, peak RSS, freshness p50/p99.

Its backfill phase (--backfill-years 0 skips it; --backfill-only runs it
alone) loads years of daily history (--backfill-pairs store-SKUs, a POS
transaction each per day and an inventory snapshot every third day) into a
fresh broker, ingests it into a fresh lake and runs "shelflake compact
--unified" over that lake as a child process. Figures: drain and first-commit
seconds, the longest time without a commit, files before and after
compaction, compaction's peak RSS.

--peer PATH (or auto: bin/benthos-peer of the checkout, built from tools/peer
if missing) runs a peer after the throughput phase on the same records from
the same broker: Benthos v4.27.0, kafka_franz -> mapping -> parquet_encode ->
file output, a Parquet file per batch, at least once. It reports the peer's MB
per CPU-second (its process's rusage) and shelflake's ratio to it, and fails
unless the peer's files hold exactly the records it consumed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, cleanup, err := benchDir(dir)
			if err != nil {
				return err
			}
			defer cleanup()
			cfg.Dir = d
			cfg.MaxBufferBytes = int64(maxBuf)
			cfg.FreshnessDuration = freshFl
			cfg.Logger = a.log
			if iceberg {
				cfg.LakeOptions = func(dir string) (lake.Options, error) {
					pub, err := icebergPublisher(dir, a.log, true, true)
					if err != nil {
						return lake.Options{}, err
					}
					return lake.Options{Delta: delta.Options{AfterCommit: pub.AfterCommit}}, nil
				}
			}
			var out struct {
				*ingest.BenchResult
				Peer     *peerFigures     `json:"peer,omitempty"`
				Backfill *backfillFigures `json:"backfill,omitempty"`
			}
			if peer != "" {
				bin, err := resolvePeer(cmd.Context(), peer, a.log)
				if err != nil {
					return fmt.Errorf("bench ingest: %w", err)
				}
				cfg.AfterIngest = func(ctx context.Context, broker string, records, nbytes int64) error {
					fig, err := runPeer(ctx, bin, broker, d, records, nbytes, a.log)
					out.Peer = fig
					return err
				}
			}
			if !bfOnly {
				res, err := ingest.RunBench(cmd.Context(), cfg)
				if err != nil {
					return fmt.Errorf("bench ingest: %w", err)
				}
				out.BenchResult = &res
				if out.Peer != nil {
					out.Peer.Ratio = res.MBPerSPerCore / out.Peer.MBPerCPUSecond
				}
			}
			if bf.Years > 0 {
				fig, err := benchBackfill(cmd.Context(), a, bf, d)
				if err != nil {
					return fmt.Errorf("bench ingest: backfill: %w", err)
				}
				out.Backfill = fig
			}
			if asJSON {
				return writeJSON(a.stdout, out)
			}
			if res := out.BenchResult; res != nil {
				printBenchIngest(a, res)
			}
			if p := out.Peer; p != nil {
				fmt.Fprintf(a.stdout, "peer (Benthos)      %.1f MB per CPU-second (%.1f CPU-s, %.1fs), %d rows in %d Parquet files; shelflake/peer %.2fx per CPU-second\n",
					p.MBPerCPUSecond, p.CPUSeconds, p.Seconds, p.Rows, p.Files, p.Ratio)
			}
			if b := out.Backfill; b != nil {
				fmt.Fprintf(a.stdout, "backfill            %d records, %d store-SKUs x %d dates\n", b.Records, b.Pairs, b.Dates)
				fmt.Fprintf(a.stdout, "  drained %.1fs, first commit %.1fs, all committed %.1fs, %d commits, longest without one %.1fs\n",
					b.DrainSeconds, b.FirstCommitSeconds, b.CommittedSeconds, b.Commits, b.MaxCommitGapSeconds)
				fmt.Fprintf(a.stdout, "  files %v, after compact --unified %v\n", b.Files, b.FilesAfterCompaction)
				fmt.Fprintf(a.stdout, "  compact --unified %.1fs, %.1f CPU-s, peak RSS %d MiB\n", b.CompactSeconds, b.CompactCPUSeconds, b.CompactPeakRSSBytes>>20)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&bf.Years, "backfill-years", 5, "years of daily history of the backfill phase (0 skips it)")
	f.IntVar(&bf.Pairs, "backfill-pairs", 10, "store-SKUs of the backfill phase")
	f.BoolVar(&bfOnly, "backfill-only", false, "run only the backfill phase")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&dir, "dir", "", "where the benchmark's lakes go (default: a temporary directory, removed after)")
	f.IntVar(&cfg.Transactions, "transactions", 200_000, "POS transactions in the throughput phase")
	f.IntVar(&cfg.Dates, "dates", 7, "business dates they span")
	f.Int32Var(&cfg.Partitions, "partitions", 8, "partitions of the POS topic")
	f.Var(&maxBuf, "max-buffer-bytes", "ingest memory budget")
	f.DurationVar(&cfg.FlushInterval, "flush-interval", ingest.DefaultFlushInterval, "ingest freshness bound")
	f.IntVar(&cfg.FreshnessRate, "freshness-rate", 10_000, "events per second of the freshness phase (negative skips it)")
	f.DurationVar(&freshFl, "freshness-duration", 20*time.Second, "how long the freshness phase lasts")
	f.StringVar(&peer, "peer", "", "also run the peer (Benthos) on the same records: its binary, or auto")
	f.BoolVar(&iceberg, "iceberg", false, "publish Iceberg metadata after every commit (to measure its cost)")
	return cmd
}

func printBenchIngest(a *app, res *ingest.BenchResult) {
	fmt.Fprintf(a.stdout, "transactions        %d (%d lines, %.1f MB of JSON)\n", res.Transactions, res.Lines, float64(res.Bytes)/1e6)
	fmt.Fprintf(a.stdout, "consume only        %.1f MB/s (%.1f MB per CPU-second)\n", res.ConsumeOnlyMBPerS, res.ConsumeOnlyMBPerSPerCore)
	fmt.Fprintf(a.stdout, "ingest, exactly once %.1f MB/s, %.1f MB per CPU-second, %.0f lines/s\n", res.MBPerS, res.MBPerSPerCore, res.LinesPerS)
	fmt.Fprintf(a.stdout, "ratio to consume-only %.2f\n", res.RatioToConsumeOnly)
	fmt.Fprintf(a.stdout, "peak RSS            %d MiB\n", res.PeakRSSBytes>>20)
	if res.FreshnessEvents > 0 {
		fmt.Fprintf(a.stdout, "freshness at %d/s   p50 %.2fs  p99 %.2fs  max %.2fs\n", res.FreshnessRate, res.FreshnessP50S, res.FreshnessP99S, res.FreshnessMaxS)
	}
}

func newBenchQueryCmd(a *app) *cobra.Command {
	var (
		o      compact.BenchOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "query",
		Short: "An analyst query on raw small files vs on the compacted tables, in one run",
		Long: `bench query writes a generated world into a local lake as ingest does (many
small files), runs a 30-day sell-through by store and category in DuckDB, compacts
the lake, runs the same query again, and reports both times, the speedup, the file
counts and the compaction throughput per core (MB of input per CPU-second).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Logger = a.log
			res, err := compact.BenchQuery(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("bench query: %w", err)
			}
			if asJSON {
				return writeJSON(a.stdout, res)
			}
			fmt.Fprintf(a.stdout, "files               %d -> %d\n", res.FilesBefore, res.FilesAfter)
			fmt.Fprintf(a.stdout, "query on raw files  %.3fs\n", res.RawSeconds)
			fmt.Fprintf(a.stdout, "query on compacted  %.3fs\n", res.CompactedSeconds)
			fmt.Fprintf(a.stdout, "speedup             %.1fx\n", res.Speedup)
			fmt.Fprintf(a.stdout, "compaction          %.1f MB per CPU-second (%.1f MB in %.2fs, %.2f CPU-s)\n", res.CompactMBPerCPUSecond, res.CompactMB, res.CompactSeconds, res.CompactCPUSeconds)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&o.Dir, "dir", "", "where the benchmark's lake goes (default: a temporary directory, removed after)")
	f.Uint64Var(&o.Seed, "seed", 1, "world seed")
	f.IntVar(&o.Stores, "stores", 10, "stores")
	f.IntVar(&o.SKUs, "skus", 100, "SKUs")
	f.IntVar(&o.Days, "days", 30, "days")
	f.IntVar(&o.Runs, "runs", 3, "runs of each query (the fastest counts)")
	return cmd
}

func newBenchForecastCmd(a *app) *cobra.Command {
	var (
		o       job.BenchOptions
		asJSON  bool
		realDir string
		origins int
		horizon int
		inPlace bool
		preset  string
		mapping string
	)
	cmd := &cobra.Command{
		Use:   "forecast",
		Short: "Forecast accuracy and replenishment against simple baselines, and the job's scale",
		Long: `bench forecast judges the shipped forecast job (shelflake forecast) on a
generated world:

  accuracy       the job run at --eval-origins weekly as-of dates of the world's
                 lake and scored on the next 28 days of net sales (package
                 forecast/backtest): WRMSSE at store-SKU, SKU-weekly, store,
                 department, category and total level, ours vs naive, seasonal
                 naive, MA(7), MA(28), SES, Croston-SBA, TSB, Holt-Winters and a
                 mean of SES, MA(28) and Croston-SBA, all given the locations'
                 trading calendars (--eval-stores x --eval-skus x --eval-days);
  replenishment  the world's last days replayed with our suggestions as the
                 ordering policy vs a naive one: fill rate and average inventory,
                 and the fill-rate-vs-inventory curve: ours asking each of
                 --curve-levels of every series, each point with the naive
                 policy's inventory at the same fill rate;
  scale          lake to suggestions for --stores x --skus series with --days of
                 history (default 1,000,000 x 365), time per stage and peak memory.
                 The scale world is written straight into the unified tables by
                 the generator's model, not streamed through Kafka.

Accuracy and replenishment run on each --world: "hard" (default first) makes
demand depart from the forms the forecast shares with the generator (see
schema/world's Config.Hard); "classic" is the world the demo and the tests use.
The scale run always uses the classic world.

With --real LAKEDIR it backtests the job on an existing lake holding the
unified tables instead (with --real FILE, a POS export, e.g. the UCI Online
Retail CSV: it is first streamed through import, an embedded broker, ingest
and compaction into a temporary lake, its columns read with --preset and/or
--mapping as shelflake import reads them): at the last --origins weekly as-of dates whose
--horizon days end by the last sales date, printed as markdown tables (or
--json). The job's runs of those past dates write forecasts, suggestions and
suggested purchase orders into the lake, where "writeback retry" would send
them: so the lake is copied to a temporary directory first, unless
--in-place.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if realDir != "" {
				imp := importOpts{preset: preset, mapping: mapping}
				if mapping != "" && !cmd.Flags().Changed("preset") {
					imp.preset = "" // the mapping file alone
				}
				res, err := benchRealLake(ctx, a, realDir, imp, origins, horizon, inPlace, o)
				if err != nil {
					return fmt.Errorf("bench forecast --real: %w", err)
				}
				if asJSON {
					return writeJSON(a.stdout, res)
				}
				return backtest.WriteMarkdown(a.stdout, res)
			}
			o.Logger = a.log
			res, err := job.Bench(ctx, o)
			if err != nil {
				return fmt.Errorf("bench forecast: %w", err)
			}
			if asJSON {
				return writeJSON(a.stdout, res)
			}
			return writeForecastBench(a.stdout, res)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object instead of tables")
	f.StringSliceVar(&o.Worlds, "world", []string{job.WorldHard, job.WorldClassic}, "evaluation worlds, the first one's figures first: hard (promotion response non-linear and per store, promotions moved or cancelled after publication, store promotions, moving holidays, level shifts, negative binomial demand) and/or classic")
	f.Float64SliceVar(&o.CurveLevels, "curve-levels", nil, "service levels of the fill-rate-vs-inventory curve (default 0.85,0.9,0.95,0.98)")
	f.BoolVar(&o.NoCurve, "no-curve", false, "leave out the fill-rate-vs-inventory curve")
	f.StringVar(&realDir, "real", "", "backtest the forecast job on this lake directory (unified tables built), or on a POS export file (CSV, gzip or not) imported with --preset, instead of a generated world")
	f.StringVar(&preset, "preset", "online-retail", "with --real FILE: the importer's built-in column mapping")
	f.StringVar(&mapping, "mapping", "", "with --real FILE: a JSON column mapping file (as for shelflake import), on its own or over an explicit --preset")
	f.IntVar(&origins, "origins", 8, "with --real: weekly as-of origins")
	f.IntVar(&horizon, "horizon", 28, "with --real: days scored from each origin")
	f.Float64Var(&o.GlobalWeight, "global-weight", 0, "the global model's share of the forecast, in (0, 1] (default: the job's)")
	f.BoolVar(&o.NoGlobal, "no-global", false, "run the job without its global model (job.Options.NoGlobal)")
	f.Float64Var(&o.OutlierCap, "outlier-cap", 0, "cut history days above this many times the series' median sale day before fitting, scaling the forecast back (job.Options.OutlierCap; default: the job's; negative: none)")
	f.BoolVar(&inPlace, "in-place", false, "with --real: run the job in the lake itself rather than in a temporary copy (its past runs stay there)")
	f.StringVar(&o.Dir, "dir", "", "where the scale lake goes (default: a temporary directory, removed after)")
	f.Uint64Var(&o.Seed, "seed", 1, "world seed")
	f.IntVar(&o.Stores, "stores", 1000, "stores of the scale world")
	f.IntVar(&o.SKUs, "skus", 1000, "SKUs of the scale world")
	f.IntVar(&o.Days, "days", 365, "days of history of the scale world")
	f.IntVar(&o.EvalStores, "eval-stores", 20, "stores of the accuracy and replenishment world")
	f.IntVar(&o.EvalSKUs, "eval-skus", 200, "SKUs of the accuracy and replenishment world")
	f.IntVar(&o.EvalDays, "eval-days", 200, "days of the accuracy and replenishment world")
	f.IntVar(&o.EvalOrigins, "eval-origins", 3, "weekly as-of origins of the accuracy backtest")
	f.BoolVar(&o.SkipScale, "skip-scale", false, "leave out the scale run")
	f.BoolVar(&o.SkipEval, "skip-eval", false, "leave out accuracy and replenishment")
	f.Int64Var(&o.RowGroupRows, "row-group-rows", compact.UnifiedRowGroupRows, "rows per Parquet row group of the scale world's location-keyed tables (default: compact --unified's; 0: the lake's default, 122,880); small ones let a shard skip other stores' row groups")
	f.IntVar(&o.Shards, "shards", 0, "run the scale run sharded: --train, each of N shards one after the other (each measured: series, seconds, bytes read), --merge")
	return cmd
}

// writeForecastBench prints the generated bench's figures as tables.
func writeForecastBench(w io.Writer, res *job.BenchResult) error {
	evals := append([]job.EvalResult{res.EvalResult}, res.Others...)
	for _, ev := range evals {
		if ev.World == "" {
			continue
		}
		fmt.Fprintf(w, "## %s world: %d store-SKU series, %d days\n\n", ev.World, ev.EvalSeries, ev.EvalDays)
		fmt.Fprintf(w, "accuracy (WRMSSE, store-SKU daily)  ours %.3f  best simple %s %.3f (ours %.1f%% better)  snaive %.3f (ours %.1f%% better)\n",
			ev.WRMSSE[backtest.Ours], ev.BestSimple, ev.WRMSSE[ev.BestSimple], 100*ev.ImprovementVsBest, ev.WRMSSE[backtest.SNaive], 100*ev.ImprovementVsSNaive)
		if ev.OracleWRMSSE > 0 {
			fmt.Fprintf(w, "  the world's expected demand (an oracle) %.3f: at most %.1f%% better than the best simple method\n", ev.OracleWRMSSE, 100*ev.OracleVsBest)
		}
		if bt := ev.Backtest; bt != nil {
			fmt.Fprintf(w, "  bias (forecast ÷ actual units, mean over origins)  ours %.3f  best simple %.3f; on the days without a stockout ours %.3f  best simple %.3f\n",
				bt.MeanBias[backtest.Ours], bt.MeanBias[ev.BestSimple], bt.MeanBiasInStock[backtest.Ours], bt.MeanBiasInStock[ev.BestSimple])
			for _, ls := range bt.MeanInStock {
				if ls.Level == backtest.LevelStoreSKU || ls.Level == backtest.LevelSKUWeekly || ls.Level == backtest.LevelStore || ls.Level == backtest.LevelTotal {
					fmt.Fprintf(w, "  WRMSSE on the days without a stockout, %s: ours %.3f  best simple %s %.3f\n", ls.Level, ls.WRMSSE[backtest.Ours], ls.BestSimple, ls.WRMSSE[ls.BestSimple])
				}
			}
		}
		if ev.BestSimpleNoLift != "" {
			fmt.Fprintf(w, "  simple methods without the published promotions: best %s %.3f (ours %.1f%% better)\n",
				ev.BestSimpleNoLift, ev.WRMSSENoLift[ev.BestSimpleNoLift], 100*ev.ImprovementVsBestNoLift)
		}
		fmt.Fprintf(w, "replay at the item-locations' service levels (%.3f asked)  fill rate ours %.4f naive %.4f; inventory ours %.2f, naive at equal fill rate %.2f: %.1f%% less\n",
			ev.ServiceLevel, ev.FillRate["ours"], ev.FillRate["naive"], ev.AvgInventory["ours"], ev.AvgInventory["naive_matched"], 100*ev.InventoryReduction)
		if c := ev.Curve; c != nil {
			fmt.Fprintf(w, "\n| service level | fill rate | avg inventory | naive inventory at equal fill rate | less inventory |\n|---|---|---|---|---|\n")
			for _, p := range c.Ours {
				fmt.Fprintf(w, "| %.2f | %.4f | %.2f | %.2f | %.1f%% |\n", p.ServiceLevel, p.FillRate, p.AvgInventory, p.NaiveInventory, 100*p.Reduction)
			}
			fmt.Fprintf(w, "\n| naive scale | fill rate | avg inventory |\n|---|---|---|\n")
			for _, p := range c.Naive {
				fmt.Fprintf(w, "| %.2f | %.4f | %.2f |\n", p.Factor, p.FillRate, p.AvgInventory)
			}
		}
		fmt.Fprintln(w)
	}
	if res.Series > 0 {
		fmt.Fprintf(w, "scale: %d series in %.1f s (%.0f series/s), peak RSS %d MiB, %.0f fits per CPU-second\n",
			res.Series, res.Seconds, res.SeriesPerSecond, res.PeakRSSBytes>>20, res.FitsPerCPUSecond)
	}
	return nil
}

// benchRealLake opens the lake directory dir (a temporary copy of it
// unless inPlace), or builds a temporary lake from dir when it is a POS
// export file (read with the importer's preset and/or mapping imp), and
// backtests the forecast job on it (runRealBench).
func benchRealLake(ctx context.Context, a *app, dir string, imp importOpts, origins, horizon int, inPlace bool, o job.BenchOptions) (*backtest.Result, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		// A POS export: streamed into a new lake through import, the
		// broker, ingest and compaction first.
		m, err := loadMapping(imp)
		if err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "shelflake-backtest-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if err := loadExport(ctx, a, dir, m, tmp); err != nil {
			return nil, err
		}
		dir, inPlace = tmp, true
	}
	if !inPlace {
		tmp, err := os.MkdirTemp("", "shelflake-backtest-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		a.log.Info("copying the lake: the backtest's job runs go to the copy", "from", dir, "to", tmp)
		if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
			return nil, fmt.Errorf("copy the lake: %w", err)
		}
		dir = tmp
	}
	l, err := lake.Open(ctx, dir, lake.Options{Logger: a.log})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return runRealBench(ctx, l, origins, horizon, o, a.log)
}

// runRealBench backtests the shipped forecast job on l, a lake holding the
// unified tables: the job runs at the last origins weekly as-of dates whose
// horizon days end by the last sales date, and its forecasts are scored
// against simple baselines (package forecast/backtest). The job's runs are
// written into l.
func runRealBench(ctx context.Context, l *lake.Lake, origins, horizon int, o job.BenchOptions, log *slog.Logger) (*backtest.Result, error) {
	if origins < 1 || horizon < 1 {
		return nil, fmt.Errorf("origins %d, horizon %d: want both ≥ 1", origins, horizon)
	}
	last, err := backtest.LastSalesDate(ctx, l)
	if err != nil {
		return nil, err
	}
	return backtest.Run(ctx, l, backtest.Options{
		Origins: backtest.WeeklyOrigins(last, origins, horizon), Horizon: horizon, Logger: log,
		Job: func(ctx context.Context, l *lake.Lake, asOf schema.Date, horizon int) error {
			_, err := job.Run(ctx, l, job.Options{AsOf: asOf, Horizon: horizon, NoGlobal: o.NoGlobal,
				GlobalWeight: o.GlobalWeight, OutlierCap: o.OutlierCap, Logger: log})
			return err
		},
	})
}

// benchDir returns dir, or a new temporary directory and a func removing it.
func benchDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	d, err := os.MkdirTemp("", "shelflake-bench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake/compact"
)

// newBenchCmd groups the benchmarks that report figures as ratios against a
// baseline measured in the same run.
func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure shelflake against baselines in the same run (ingest, query, forecast)",
	}
	cmd.AddCommand(newBenchIngestCmd(a), newBenchQueryCmd(a), newBenchForecastCmd(a))
	return cmd
}

func newBenchIngestCmd(a *app) *cobra.Command {
	var (
		cfg     ingest.BenchConfig
		asJSON  bool
		dir     string
		maxBuf  byteSize = ingest.DefaultMaxBufferBytes
		freshFl time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "POS JSON from the embedded broker into a local lake, exactly once, vs a consume-only baseline",
		Long: `bench ingest loads synthetic POS transactions into an embedded broker, consumes
them once without decoding (the baseline), then ingests them into a fresh local
lake with exactly-once commits, and finally measures end-to-end freshness at a
steady event rate. Figures: MB/s per core (MB per CPU-second), lines/s, the
ratio to the consume-only rate, peak RSS, freshness p50/p99.`,
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
			res, err := ingest.RunBench(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("bench ingest: %w", err)
			}
			if asJSON {
				return writeJSON(a.stdout, res)
			}
			fmt.Fprintf(a.stdout, "transactions        %d (%d lines, %.1f MB of JSON)\n", res.Transactions, res.Lines, float64(res.Bytes)/1e6)
			fmt.Fprintf(a.stdout, "consume only        %.1f MB/s (%.1f MB per CPU-second)\n", res.ConsumeOnlyMBPerS, res.ConsumeOnlyMBPerSPerCore)
			fmt.Fprintf(a.stdout, "ingest, exactly once %.1f MB/s, %.1f MB per CPU-second, %.0f lines/s\n", res.MBPerS, res.MBPerSPerCore, res.LinesPerS)
			fmt.Fprintf(a.stdout, "ratio to consume-only %.2f\n", res.RatioToConsumeOnly)
			fmt.Fprintf(a.stdout, "peak RSS            %d MiB\n", res.PeakRSSBytes>>20)
			if res.FreshnessEvents > 0 {
				fmt.Fprintf(a.stdout, "freshness at %d/s   p50 %.2fs  p99 %.2fs  max %.2fs\n", res.FreshnessRate, res.FreshnessP50S, res.FreshnessP99S, res.FreshnessMaxS)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&dir, "dir", "", "where the benchmark's lakes go (default: a temporary directory, removed after)")
	f.IntVar(&cfg.Transactions, "transactions", 200_000, "POS transactions in the throughput phase")
	f.IntVar(&cfg.Dates, "dates", 7, "business dates they span")
	f.Int32Var(&cfg.Partitions, "partitions", 8, "partitions of the POS topic")
	f.Var(&maxBuf, "max-buffer-bytes", "ingest memory budget")
	f.DurationVar(&cfg.FlushInterval, "flush-interval", ingest.DefaultFlushInterval, "ingest freshness bound")
	f.IntVar(&cfg.FreshnessRate, "freshness-rate", 10_000, "events per second of the freshness phase (negative skips it)")
	f.DurationVar(&freshFl, "freshness-duration", 20*time.Second, "how long the freshness phase lasts")
	return cmd
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
counts and the compaction throughput per core.`,
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
			fmt.Fprintf(a.stdout, "compaction          %.1f MB/s per core\n", res.CompactMBPerSecPerCore)
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
		o      job.BenchOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "forecast",
		Short: "Forecast accuracy and replenishment against simple baselines, and the job's scale",
		Long: `bench forecast judges the forecast on a generated world whose true demand
(including demand lost to stockouts) is known:

  accuracy       WRMSSE against true demand on a 28-day hold-out, ours vs seasonal
                 naive, moving average, SES and Croston-SBA each used alone
                 (--eval-stores x --eval-skus x --eval-days);
  replenishment  the world's last days replayed with our suggestions as the
                 ordering policy vs a naive one: fill rate and average inventory;
  scale          lake to suggestions for --stores x --skus series with --days of
                 history (default 1,000,000 x 365), time per stage and peak memory.
                 The scale world is written straight into the unified tables by
                 the generator's model, not streamed through Kafka.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Logger = a.log
			res, err := job.Bench(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("bench forecast: %w", err)
			}
			return writeJSON(a.stdout, res)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", true, "print one JSON object (the only output format)")
	f.StringVar(&o.Dir, "dir", "", "where the scale lake goes (default: a temporary directory, removed after)")
	f.Uint64Var(&o.Seed, "seed", 1, "world seed")
	f.IntVar(&o.Stores, "stores", 1000, "stores of the scale world")
	f.IntVar(&o.SKUs, "skus", 1000, "SKUs of the scale world")
	f.IntVar(&o.Days, "days", 365, "days of history of the scale world")
	f.IntVar(&o.EvalStores, "eval-stores", 20, "stores of the accuracy and replenishment world")
	f.IntVar(&o.EvalSKUs, "eval-skus", 200, "SKUs of the accuracy and replenishment world")
	f.IntVar(&o.EvalDays, "eval-days", 200, "days of the accuracy and replenishment world")
	f.BoolVar(&o.SkipScale, "skip-scale", false, "leave out the scale run")
	f.BoolVar(&o.SkipEval, "skip-eval", false, "leave out accuracy and replenishment")
	return cmd
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

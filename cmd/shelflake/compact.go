package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/compact"
	"github.com/shelflake/shelflake/schema"
)

type compactFlags struct {
	lake           string
	tables         []string
	unified        bool
	unifiedTables  []string
	interval       time.Duration
	http           string
	targetFileSize byteSize
	minFiles       int
	quietAfter     time.Duration
	memory         byteSize
	concurrency    int
	tempDir        string
	duckdbMemory   string
	json           bool
}

func newCompactCmd(a *app) *cobra.Command {
	o := compactFlags{targetFileSize: lake.DefaultTargetFileSize, memory: compact.DefaultMemoryBytes}
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Compact the raw tables' small files and build the unified tables",
		Long: `compact rewrites the small files ingest commits into large files of
--target-file-size, sorted by each table's sort key and de-duplicated by its
natural key (producers' resends), one dt partition per Delta rewrite commit
(dataChange=false). It runs beside ingest: appends never conflict with it, and
a rewrite that lost a race against another compactor is re-planned. Memory is
bounded by --sort-memory; larger partitions are sorted in runs on --temp-dir.

With --unified it then brings the unified tables (sales_daily,
inventory_daily, po_open, lead_times, stockouts) up to date, rebuilding only
the dt partitions whose source data changed since their last build.

Without --interval it makes one pass and exits (a CronJob); with it, it runs
as a service until interrupted, serving /metrics, /healthz and /readyz on --http.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCompact(cmd.Context(), a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory, file:///path or s3://bucket/prefix?endpoint=… (env SHELFLAKE_LAKE)")
	f.StringSliceVar(&o.tables, "tables", nil, "raw tables to compact (default: all; none with --tables=)")
	f.BoolVar(&o.unified, "unified", false, "also build the unified tables")
	f.StringSliceVar(&o.unifiedTables, "unified-tables", nil, "unified tables to build (implies --unified; default: all)")
	f.DurationVar(&o.interval, "interval", 0, "run continuously, a pass every interval (0: one pass and exit)")
	f.StringVar(&o.http, "http", envOr("SHELFLAKE_COMPACT_HTTP", "127.0.0.1:9465"), "with --interval: address for /metrics, /healthz and /readyz (empty: none; env SHELFLAKE_COMPACT_HTTP)")
	f.Var(&o.targetFileSize, "target-file-size", "size of the files compaction writes (e.g. 128MiB)")
	f.IntVar(&o.minFiles, "min-files", compact.DefaultMinFiles, "compact a partition once it has this many small files")
	f.DurationVar(&o.quietAfter, "quiet-after", compact.DefaultQuietAfter, "compact a partition with 2+ small files once none was written for this long")
	f.Var(&o.memory, "sort-memory", "memory budget for rows being sorted, shared by concurrent partitions (e.g. 512MiB)")
	f.IntVar(&o.concurrency, "concurrency", 0, "partitions rewritten at once (0: GOMAXPROCS)")
	f.StringVar(&o.tempDir, "temp-dir", "", "local directory for sorted runs and files being written (default: the system's)")
	f.StringVar(&o.duckdbMemory, "duckdb-memory", "1GB", "DuckDB memory limit for the unified build (spills past it)")
	f.BoolVar(&o.json, "json", false, "one pass: print the report as JSON")
	return cmd
}

func runCompact(ctx context.Context, a *app, o compactFlags) error {
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	opts := compact.Options{
		Plan: compact.PlanOptions{
			TargetFileSize: int64(o.targetFileSize),
			MinFiles:       o.minFiles,
			QuietAfter:     o.quietAfter,
		},
		Unified:     o.unified || len(o.unifiedTables) > 0,
		Concurrency: o.concurrency,
		MemoryBytes: int64(o.memory),
		TempDir:     o.tempDir,
		Logger:      a.log,
		UnifiedOptions: compact.UnifiedOptions{
			Tables:       o.unifiedTables,
			DuckDBMemory: o.duckdbMemory,
		},
	}
	if o.tables != nil {
		opts.Tables = []*schema.Table{}
		for _, name := range o.tables {
			if name == "" {
				continue
			}
			t, ok := schema.TableByName(name)
			if !ok {
				return fmt.Errorf("--tables: %q is not a raw table", name)
			}
			opts.Tables = append(opts.Tables, t)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts.Registerer = reg
	lopts, icebergDone, err := withIceberg(o.lake, lake.Options{Logger: a.log, Registerer: reg})
	if err != nil {
		return err
	}
	l, err := openLake(ctx, o.lake, lopts)
	if err != nil {
		return err
	}
	defer l.Close()
	defer icebergDone() // before the lake closes (defers run last first)
	c, err := compact.New(l, opts)
	if err != nil {
		return err
	}
	if o.interval <= 0 {
		rep, err := c.Pass(ctx)
		if o.json {
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(rep); jerr != nil {
				return errors.Join(err, jerr)
			}
		} else {
			printCompactReport(a, rep)
		}
		return err
	}
	if o.http != "" {
		ln, err := net.Listen("tcp", o.http)
		if err != nil {
			return fmt.Errorf("--http %s: %w", o.http, err)
		}
		srv := &http.Server{Handler: c.Handler(reg, 3*o.interval+time.Minute), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server", "err", err)
			}
		}()
		a.log.Info("serving metrics", "addr", ln.Addr().String())
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	return c.Run(ctx, o.interval)
}

// printCompactReport prints one pass's results per table.
func printCompactReport(a *app, rep compact.Report) {
	type sum struct {
		parts, before, after int
		bytesBefore          int64
		bytesAfter, dups     int64
	}
	per := map[string]*sum{}
	for _, t := range rep.Tasks {
		s := per[t.Table]
		if s == nil {
			s = &sum{}
			per[t.Table] = s
		}
		s.parts++
		s.before += t.InputFiles
		s.after += t.OutputFiles
		s.bytesBefore += t.InputBytes
		s.bytesAfter += t.OutputBytes
		s.dups += t.RowsIn - t.RowsOut
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tPARTITIONS\tFILES BEFORE\tFILES AFTER\tMB BEFORE\tMB AFTER\tDUPLICATES")
	for _, n := range names {
		s := per[n]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.1f\t%.1f\t%d\n", n, s.parts, s.before, s.after,
			float64(s.bytesBefore)/1e6, float64(s.bytesAfter)/1e6, s.dups)
	}
	w.Flush()
	fmt.Fprintf(a.stdout, "%d partitions compacted in %s, %d conflicts re-planned\n",
		len(rep.Tasks), rep.Duration.Round(time.Millisecond), rep.Conflicts)
	if rep.Unified != nil {
		w = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "UNIFIED TABLE\tSOURCE VERSION\tPARTITIONS REBUILT\tROWS\tVERSION")
		for _, t := range rep.Unified.Tables {
			v := "up to date"
			if !t.UpToDate {
				v = fmt.Sprint(t.Version)
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\n", t.Table, t.SourceVersion, len(t.Partitions), t.Rows, v)
		}
		w.Flush()
	}
}

type vacuumFlags struct {
	lake       string
	retention  time.Duration
	tables     []string
	allowShort bool
	json       bool
}

func newVacuumCmd(a *app) *cobra.Command {
	o := vacuumFlags{}
	cmd := &cobra.Command{
		Use:   "vacuum",
		Short: "Delete data files no snapshot within the retention needs",
		Long: `vacuum deletes, in every table of the lake (raw and unified), the data files
that compaction or a unified rebuild removed, and uploads never committed,
once they are older than --retention. Snapshots of any time within the
retention stay readable (time travel, readers of a recent version).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runVacuum(cmd.Context(), a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI (env SHELFLAKE_LAKE)")
	f.DurationVar(&o.retention, "retention", compact.DefaultVacuumRetention, "keep removed files this long")
	f.StringSliceVar(&o.tables, "tables", nil, "tables to vacuum (default: all, raw and unified)")
	f.BoolVar(&o.allowShort, "allow-short-retention", false, "allow a retention under "+compact.MinVacuumRetention.String()+" (readers of older snapshots may fail)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func runVacuum(ctx context.Context, a *app, o vacuumFlags) error {
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	if o.retention < 0 {
		return fmt.Errorf("--retention %s: want a duration ≥ 0", o.retention)
	}
	if o.retention < compact.MinVacuumRetention && !o.allowShort {
		return fmt.Errorf("--retention %s is below %s: readers of older snapshots may fail; add --allow-short-retention to vacuum anyway",
			o.retention, compact.MinVacuumRetention)
	}
	vo := compact.VacuumOptions{Retention: o.retention, AllowShortRetention: o.allowShort, Logger: a.log}
	for _, name := range o.tables {
		t, ok := schema.LookupTable(name)
		if !ok {
			return fmt.Errorf("--tables: no table %q", name)
		}
		vo.Tables = append(vo.Tables, t)
	}
	l, err := openLake(ctx, o.lake, lake.Options{Logger: a.log})
	if err != nil {
		return err
	}
	defer l.Close()
	reps, err := compact.Vacuum(ctx, l, vo)
	if o.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if reps == nil {
			reps = []compact.VacuumTableReport{}
		}
		if jerr := enc.Encode(reps); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	if err != nil && len(reps) == 0 {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tVERSION\tFILES DELETED\tMB DELETED\tKEPT (RECENT)")
	for _, r := range reps {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%d\n", r.Table, r.Version, len(r.Deleted), float64(r.DeletedBytes)/1e6, r.Kept)
	}
	w.Flush()
	return err
}

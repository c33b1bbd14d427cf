package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/queries/report"
	"github.com/shelflake/shelflake/schema"
)

type reportFlags struct {
	lake        string
	out         string
	title       string
	maxPOs      int
	maxLines    int
	historyDays int
	horizonDays int
	staleAfter  time.Duration
	group       string
	lateness    time.Duration
	from        string
	memoryLimit string
	cacheDir    string
}

func newReportCmd(a *app) *cobra.Command {
	var o reportFlags
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write one self-contained HTML page: freshness, rejects, suggested POs with charts",
		Long: `report reads the live lake and writes one HTML page for planners and analysts:

  - freshness per source: each raw table's newest business day, event and
    ingestion time, the Delta version read and when it was committed, and how
    far each table is complete by ingest's watermarks (--group);
  - rejects by topic and reason, with an example error;
  - the suggested purchase orders of the newest forecast run, the most urgent
    first, each line with a small chart of its sales history, forecast and
    stock position ("no forecast run yet" when there is none).

The page needs nothing else to be viewed (no scripts, fonts, style sheets or
images from elsewhere): mail it, or open it offline. At most --max-pos POs and
--max-lines lines per PO are charted; the page says how many were left out.`,
		Example: `  shelflake report --lake ./shelflake-demo/lake --out report.html
  shelflake report --lake s3://retail-lake/prod?region=eu-west-1 --out - --max-pos 20 > report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			red := queries.NewRedactor(o.lake, os.Environ())
			return red.Error(runReport(cmd, a, o, red))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory, file:///path or s3://bucket/prefix?endpoint=… (env SHELFLAKE_LAKE)")
	f.StringVarP(&o.out, "out", "o", "", "write the page to FILE (replaced when complete); - for stdout")
	f.StringVar(&o.title, "title", "shelflake report", "the page's title")
	f.IntVar(&o.maxPOs, "max-pos", report.DefaultMaxPOs, "chart at most this many suggested POs (the most urgent)")
	f.IntVar(&o.maxLines, "max-lines", report.DefaultMaxLinesPerPO, "chart at most this many lines per PO (the most valuable)")
	f.IntVar(&o.historyDays, "history-days", report.DefaultHistoryDays, "days of sales and stock history charted before the forecast's as-of date")
	f.IntVar(&o.horizonDays, "horizon", report.DefaultHorizonDays, "days of forecast charted from the as-of date")
	f.DurationVar(&o.staleAfter, "stale-after", report.DefaultStaleAfter, "flag a source whose newest event is older than this")
	f.StringVar(&o.group, "group", envOr("SHELFLAKE_GROUP", ingest.AllGroups), "the ingest consumer group whose watermarks say how complete each table is (env SHELFLAKE_GROUP; default: every group that ingested into the lake)")
	f.DurationVar(&o.lateness, "lateness", 0, "how late producers may send an event (subtracted from the watermarks)")
	f.StringVar(&o.from, "from", "", "only read dt partitions from this date (YYYY-MM-DD): fewer files to fetch from a remote lake; freshness and rejects then cover those days only")
	f.StringVar(&o.memoryLimit, "duckdb-memory", envOr("SHELFLAKE_SQL_MEMORY_LIMIT", ""), "DuckDB memory limit, e.g. 2GB (default DuckDB's: 80% of RAM)")
	f.StringVar(&o.cacheDir, "cache-dir", envOr("SHELFLAKE_CACHE_DIR", ""), "keep local copies of an S3 lake's files here across runs (default: a temporary directory)")
	return cmd
}

func runReport(cmd *cobra.Command, a *app, o reportFlags, red *queries.Redactor) error {
	ctx := cmd.Context()
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	if o.out == "" {
		return errors.New("--out is required: a file, or - for stdout")
	}
	if o.maxPOs < 1 || o.maxLines < 1 {
		return errors.New("--max-pos and --max-lines: want ≥ 1")
	}
	opts := queries.Options{MemoryLimit: o.memoryLimit}
	if o.from != "" {
		d, err := schema.ParseDate(o.from)
		if err != nil {
			return fmt.Errorf("--from %q: want YYYY-MM-DD", o.from)
		}
		opts.From = &d
	}
	log := slog.New(red.Handler(a.log.Handler()))
	opts.Logger = log
	l, err := openLake(ctx, o.lake, lake.Options{Logger: log, CacheDir: o.cacheDir, ReadOnly: true})
	if err != nil {
		return err
	}
	defer l.Close()
	s, err := queries.Open(ctx, l, opts)
	if err != nil {
		return fmt.Errorf("lake %s: %w", l, err)
	}
	defer s.Close()
	ws, err := reportWatermarks(cmd, l, s, o.group)
	if err != nil {
		return err
	}
	ropts := report.Options{
		Title: o.title, Lake: objstore.RedactURI(o.lake), MaxPOs: o.maxPOs, MaxLinesPerPO: o.maxLines,
		HistoryDays: o.historyDays, HorizonDays: o.horizonDays, StaleAfter: o.staleAfter,
		Watermarks: ws, Lateness: o.lateness, Logger: log,
	}
	out := o.out
	if out == "-" {
		out = ""
	}
	var r *report.Report
	err = writeOut(out, a.stdout, false, func(_ string, w io.Writer) error {
		var err error
		r, err = report.Write(ctx, w, s, ropts)
		return err
	})
	if err != nil {
		return err
	}
	attrs := []any{"charts", r.ChartedLines(), "rejects", r.RejectsTotal}
	if r.Run != nil {
		attrs = append(attrs, "as_of", r.Run.AsOf.String(), "pos", len(r.Run.POs), "pos_left_out", r.Run.OmittedPOs)
	} else {
		attrs = append(attrs, "forecast", "no forecast run yet")
	}
	if o.out != "-" {
		attrs = append(attrs, "out", o.out)
	}
	log.Info("report written", attrs...)
	return nil
}

// reportWatermarks reads ingest's watermarks of group, when the lake has
// every raw table (ingest.Watermarks would create missing ones, and a
// report writes nothing to the lake; without them ingest never ran).
func reportWatermarks(cmd *cobra.Command, l *lake.Lake, s *queries.Session, group string) ([]report.Watermark, error) {
	for _, t := range schema.Tables() {
		if info, ok := s.Table(t.Name); !ok || !info.Present {
			return nil, nil
		}
	}
	ws, err := ingest.Watermarks(cmd.Context(), l, group)
	if err != nil {
		return nil, fmt.Errorf("ingest watermarks: %w", err)
	}
	out := make([]report.Watermark, len(ws))
	for i, w := range ws {
		out[i] = report.Watermark{
			Table: w.Table, Topic: w.Topic, Partition: w.Partition, Offset: w.Offset,
			EventTime: w.EventTime, DrainedAt: w.DrainedAt, CommittedAt: w.CommittedAt,
		}
	}
	return out, nil
}

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" database/sql driver
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/forecast/evaluate"
	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/forecast/model"
	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/compact"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

type demoOpts struct {
	dir     string
	stores  int
	skus    int
	days    int
	seed    uint64
	badRate float64
	fresh   bool
	faults  bool
}

func newDemoCmd(a *app) *cobra.Command {
	o := demoOpts{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in one process on embedded defaults",
		Long: `demo starts the embedded Kafka-protocol broker, streams a small generated retail
world into it while ingest writes the lake in <dir>/lake, then runs the later
stages and prints a summary and the shelflake sql line to explore the result.

Rerunning is safe: a finished demo directory is started clean; one interrupted
after its world was generated resumes from what its broker and lake hold; one
interrupted while generating starts clean (generation does not resume).

On a terminal the logs go to <dir>/demo.log (its path is printed) so that the
progress bars and the summary stay readable; --log-level debug keeps them on
stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "shelflake-demo", "working directory: the broker's log, the lake (<dir>/lake), the ground truth")
	f.IntVar(&o.stores, "stores", 8, "stores in the generated world")
	f.IntVar(&o.skus, "skus", 60, "SKUs in the generated world")
	f.IntVar(&o.days, "days", 120, "days of history")
	f.Uint64Var(&o.seed, "seed", 1, "world seed")
	f.Float64Var(&o.badRate, "bad-rate", 0.002, "fraction of extra malformed records")
	f.BoolVar(&o.fresh, "fresh", false, "start clean even if an interrupted demo could resume")
	f.BoolVar(&o.faults, "faults", true, "inject stock-record faults (shrink, phantom stock, receipt errors, late POS, stale snapshots) for reconcile to find; --faults=false: records equal to the shelf")
	return cmd
}

// demoState is written to <dir>/demo.json so a rerun knows what the last run
// got to.
type demoState struct {
	Config    world.Config `json:"config"`
	Generated bool         `json:"generated"`
	Finished  bool         `json:"finished"`
}

func runDemo(ctx context.Context, a *app, o demoOpts) error {
	began := time.Now()
	cfg := world.Config{Seed: o.seed, Stores: o.stores, SKUs: o.skus, Days: o.days}
	if o.faults {
		cfg.Faults = world.DefaultFaults()
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	statePath := filepath.Join(dir, "demo.json")
	var prev *demoState
	if b, err := os.ReadFile(statePath); err == nil {
		var st demoState
		if json.Unmarshal(b, &st) == nil {
			prev = &st
		}
	}
	_, statErr := os.Stat(dir)
	resume, msg := demoStart(dir, prev, statErr == nil, o.fresh, cfg)
	fmt.Fprintln(a.stdout, msg)
	st := demoState{Config: cfg}
	if resume {
		st = *prev
	} else if err := removeDemoDir(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logPath, closeLog, err := a.demoLogs(dir)
	if err != nil {
		return err
	}
	defer closeLog()
	if logPath != "" {
		fmt.Fprintf(a.stdout, "logs       %s (--log-level debug shows them here)\n", logPath)
	}
	saveState := func() error {
		b, _ := json.MarshalIndent(st, "", "  ")
		return os.WriteFile(statePath, b, 0o644)
	}
	if err := saveState(); err != nil {
		return err
	}

	// 1. The embedded broker, persisting its log so an interrupted demo resumes.
	broker, err := startBroker(brokerOpts{listen: "127.0.0.1:0", partitions: 4,
		dataDir: filepath.Join(dir, "broker"), topics: defaultBrokerTopics()})
	if err != nil {
		return err
	}
	defer broker.Close()
	addr := broker.ListenAddrs()[0]
	fmt.Fprintf(a.stdout, "broker     listening on %s\n", addr)

	lakeDir := filepath.Join(dir, "lake")
	l, err := lake.Open(ctx, lakeDir, lake.Options{Logger: a.log})
	if err != nil {
		return err
	}
	defer l.Close()

	// 2. Ingest runs while the world streams in.
	stopIngest, ingestDone, err := startIngester(ctx, a, addr, demoGroup, l)
	if err != nil {
		return err
	}
	defer stopIngest()

	truth := filepath.Join(dir, "truth")
	if !st.Generated {
		w, err := world.New(cfg)
		if err != nil {
			return err
		}
		ks, err := newKafkaSink(ctx, []string{addr})
		if err != nil {
			return err
		}
		prog := a.newProgress("generate", "location-days", int64(len(w.Locations())*w.Days()))
		sum, err := w.Generate(ctx, world.GenerateOptions{Sink: ks, TruthDir: truth, BadRate: o.badRate, Progress: prog})
		prog.Finish()
		ks.Close()
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		st.Generated = true
		if err := saveState(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "generate   %d POS lines, %d malformed records, streamed to the broker\n",
			sum.POSLines, totalMalformed(sum))
	}

	// 3. Wait until the lake holds every offset the broker has, then stop
	// ingest gracefully (flush, commit, leave the group).
	if err := waitIngested(ctx, a, addr, demoGroup, l, ingestDone); err != nil {
		return err
	}
	stopIngest()
	if err := <-ingestDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("ingest: %w", err)
	}

	// 4. Compaction and the unified tables.
	cp, err := compact.New(l, compact.Options{
		Plan:    compact.PlanOptions{MinFiles: 2},
		Unified: true,
		Logger:  a.log.With("stage", "compact"),
	})
	if err != nil {
		return err
	}
	filesBefore, err := liveFiles(ctx, l, schema.Tables())
	if err != nil {
		return err
	}
	rep, err := cp.Pass(ctx)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	filesAfter, err := liveFiles(ctx, l, schema.Tables())
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, compactLine(rep, filesBefore, filesAfter))

	// 5. The weekly forecast as of the day after the world's last business
	// date, and its write-back to a local outbox (JSON documents).
	w, err := world.New(cfg)
	if err != nil {
		return err
	}
	if err := demoForecast(ctx, a, l, w, filepath.Join(dir, "outbox")); err != nil {
		return err
	}
	if err := demoReconcile(ctx, a, l, w.Date(w.Days())); err != nil {
		return err
	}

	// 6. Summary.
	if err := demoSummary(ctx, a.stdout, l, truth); err != nil {
		return err
	}
	st.Finished = true
	if err := saveState(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\ndone in %s. Explore the lake with:\n  go run -tags duckdb_arrow ./cmd/shelflake sql --lake %s\n",
		time.Since(began).Round(100*time.Millisecond), lakeDir)
	return nil
}

// demoStart decides whether the demo in dir resumes and says so: prev is
// the state the last run left (nil: none), exists whether dir exists. Only
// a demo interrupted after its world was generated and streamed resumes
// (the broker's log and the lake hold it); generation itself does not.
func demoStart(dir string, prev *demoState, exists, fresh bool, cfg world.Config) (resume bool, msg string) {
	switch {
	case prev == nil && !exists:
		return false, "starting in " + dir
	case prev == nil || prev.Finished:
		return false, "starting clean in " + dir + " (removing the previous demo)"
	case fresh:
		return false, "starting clean in " + dir + " (--fresh: removing the interrupted demo)"
	case prev.Config != cfg:
		return false, "starting clean in " + dir + " (the interrupted demo generated another world: removing it)"
	case !prev.Generated:
		return false, "starting clean in " + dir + " (the previous demo was interrupted while generating its world, which does not resume: removing it)"
	}
	return true, "resuming the interrupted demo in " + dir + " from its broker's log and lake"
}

// demoLogFile is where the demo's logs go when stderr is a terminal.
const demoLogFile = "demo.log"

// demoLogs sends a's logs to dir/demo.log (appending) when stderr is a
// terminal and the log level is not debug, so that log lines do not break
// into the progress bars and the summary. It returns the file's path ("":
// logs stay on stderr) and what closes it.
func (a *app) demoLogs(dir string) (string, func() error, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(a.logLevel)); err != nil {
		return "", nil, fmt.Errorf("--log-level %q: %w", a.logLevel, err)
	}
	if lv <= slog.LevelDebug || !a.stderrIsTerminal() {
		return "", func() error { return nil }, nil
	}
	path := filepath.Join(dir, demoLogFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", nil, fmt.Errorf("demo log: %w", err)
	}
	l, err := newLogger(f, a.logLevel, a.logFormat)
	if err != nil {
		f.Close()
		return "", nil, err
	}
	a.log = l
	return path, f.Close, nil
}

// liveFiles counts the data files of tables' latest snapshots: what the
// summary's files column shows.
func liveFiles(ctx context.Context, l *lake.Lake, tables []*schema.Table) (int, error) {
	n := 0
	for _, t := range tables {
		dt, err := l.Table(ctx, t)
		if err != nil {
			return 0, fmt.Errorf("files of %s: %w", t.Name, err)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return 0, fmt.Errorf("files of %s: %w", t.Name, err)
		}
		n += snap.NumFiles()
	}
	return n, nil
}

// compactLine summarises a compaction pass over the raw tables, which held
// before files and after it after (their sum in the summary's files
// column), and the unified build that followed, each with its own duration.
func compactLine(rep compact.Report, before, after int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "compact    raw tables %d files -> %d", before, after)
	if len(rep.Tasks) == 0 {
		b.WriteString(" (no partition had small files to merge)")
	} else {
		fmt.Fprintf(&b, " (%d partitions merged: %d files into %d, %d rows)", len(rep.Tasks), rep.FilesBefore, rep.FilesAfter, rep.RowsOut)
	}
	fmt.Fprintf(&b, " in %s", rep.Duration.Round(time.Millisecond))
	if rep.Unified != nil {
		fmt.Fprintf(&b, "; unified tables built in %s", rep.Unified.Duration.Round(time.Millisecond))
	}
	return b.String()
}

// demoGroup is the demo ingester's consumer group.
const demoGroup = "shelflake-demo"

func removeDemoDir(dir string) error {
	// Only remove what a demo writes, never an unrelated directory.
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "demo.json")); err != nil {
		entries, _ := os.ReadDir(dir)
		if len(entries) > 0 {
			return fmt.Errorf("%s exists and is not a shelflake demo directory (no demo.json): choose another --dir", dir)
		}
	}
	return os.RemoveAll(dir)
}

func totalMalformed(s *world.Summary) int64 {
	var n int64
	for _, c := range s.Topics {
		n += c.Malformed
	}
	return n
}

// waitIngested blocks until, for every partition of every input topic, the
// lake's tables hold all offsets up to the broker's end offset.
func waitIngested(ctx context.Context, a *app, addr, group string, l *lake.Lake, ingestDone <-chan error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, schema.Topics...)
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	prog := a.newProgress("ingest", "records", total)
	defer prog.Finish()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last int64
	for {
		done, err := ingestedOffsets(ctx, l, group, ends)
		if err != nil {
			return err
		}
		prog.Add(done - last)
		last = done
		if done >= total {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-ingestDone:
			return fmt.Errorf("ingest stopped early: %w", err)
		case <-tick.C:
		}
	}
}

// ingestedOffsets sums, over the input partitions, how far the lake has
// committed: the lowest txn version of the partition over its data table and
// the rejects table.
func ingestedOffsets(ctx context.Context, l *lake.Lake, group string, ends kadm.ListedOffsets) (int64, error) {
	versions := map[string]int64{} // appId → min version over tables
	seen := map[string]int{}
	for _, t := range schema.Tables() { // the input topics' tables and rejects
		dt, err := l.Table(ctx, t)
		if err != nil {
			return 0, err
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return 0, err
		}
		for app, v := range snap.Txns() {
			if old, ok := versions[app]; !ok || v < old {
				versions[app] = v
			}
			seen[app]++
		}
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		app := ingest.AppID(group, o.Topic, o.Partition)
		// A partition is only done when both its data table and rejects
		// table have moved past it.
		if seen[app] >= 2 {
			n += min(versions[app], o.Offset)
		}
	})
	return n, nil
}

// demoSummary prints rows per table, rejects by reason and data freshness,
// read back from the lake with DuckDB.
func demoSummary(ctx context.Context, w io.Writer, l *lake.Lake, truth string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(w, "\nlake tables")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "table\trows\tfiles\tversion\tnewest event\t")
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	views := map[string]bool{}
	for _, t := range append(schema.AllTables(), schema.ForecastTables()...) {
		dt, err := l.Table(ctx, t)
		if err != nil {
			return err
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return err
		}
		files, release, err := l.LocalFiles(ctx, t.Name, snap, nil, nil)
		if err != nil {
			return err
		}
		releases = append(releases, release)
		scan, err := lake.DuckDBScan(t, files)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE VIEW %s AS %s", t.Name, scan)); err != nil {
			return fmt.Errorf("view %s: %w", t.Name, err)
		}
		views[t.Name] = true
		var rows int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+t.Name).Scan(&rows); err != nil {
			return fmt.Errorf("count %s: %w", t.Name, err)
		}
		newest := "-"
		if col := newestColumn(t.Name); col != "" && rows > 0 {
			var ts time.Time
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT max(%s) FROM %s", col, t.Name)).Scan(&ts); err == nil {
				newest = ts.UTC().Format(time.RFC3339)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t\n", t.Name, rows, len(files), snap.Version(), newest)
	}
	tw.Flush()

	if views[schema.TableRejects().Name] {
		rs, err := db.QueryContext(ctx, "SELECT topic, reason, count(*) FROM rejects GROUP BY ALL ORDER BY 1, 2")
		if err != nil {
			return fmt.Errorf("rejects by reason: %w", err)
		}
		defer rs.Close()
		fmt.Fprintln(w, "\nrejects by reason")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for rs.Next() {
			var topic, reason string
			var n int64
			if err := rs.Scan(&topic, &reason, &n); err != nil {
				return err
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", topic, reason, n)
		}
		tw.Flush()
		if err := rs.Err(); err != nil {
			return err
		}
	}

	// Against the ground truth the generator wrote.
	if sum, err := world.ReadSummary(truth); err == nil {
		var lines, qty int64
		if err := db.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(quantity), 0) FROM pos_lines").Scan(&lines, &qty); err != nil {
			return err
		}
		verdict := "exactly once"
		if lines != sum.POSLines || qty != sum.POSQuantity {
			verdict = "MISMATCH"
		}
		fmt.Fprintf(w, "\nground truth: %d POS lines (quantity %d) sent, %d (quantity %d) in the lake: %s\n",
			sum.POSLines, sum.POSQuantity, lines, qty, verdict)
		if verdict != "exactly once" {
			return errors.New("the lake does not match what was sent")
		}
	}
	return nil
}

// newestColumn names the event-time column of a table, for freshness.
func newestColumn(table string) string {
	switch {
	case strings.HasPrefix(table, "pos_"):
		return "event_time"
	case strings.HasPrefix(table, "inventory"):
		return "as_of"
	case strings.HasPrefix(table, "purchase"), strings.HasPrefix(table, "item"), table == schema.TableNamePromotions:
		return "updated_at"
	case table == "rejects":
		return "received_at"
	}
	return ""
}

// demoForecast runs the forecast job, delivers its suggested purchase orders
// to outbox as JSON and CSV files, and scores the forecaster against the
// world's true demand (which the generator knows) next to the naive methods.
func demoForecast(ctx context.Context, a *app, l *lake.Lake, w *world.World, outbox string) error {
	asOf := w.Date(w.Days()) // the day after the last business date
	prog := a.newProgress("forecast", "series", 0)
	rep, err := job.Run(ctx, l, job.Options{AsOf: asOf, Logger: a.log.With("stage", "forecast"), Progress: prog})
	prog.Finish()
	if err != nil {
		return fmt.Errorf("forecast: %w", err)
	}
	run := rep.Run
	fmt.Fprintf(a.stdout, "forecast   as of %s: %d series, %d suggested POs (%d lines, %d units, cost %s)\n",
		asOf, run.Series, run.Documents, run.Lines, run.TotalUnits, formatTotals(run.TotalCost))
	ch, err := writeback.NewFileChannel(outbox)
	if err != nil {
		return err
	}
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}, Logger: a.log.With("stage", "writeback")})
	if err != nil {
		return err
	}
	wr, err := d.Deliver(ctx, rep.Documents)
	if err != nil {
		return fmt.Errorf("write-back: %w", err)
	}
	fmt.Fprintf(a.stdout, "write-back %d documents to %s: %d accepted, %d already there, %d failed\n",
		wr.Documents, outbox, wr.Accepted, wr.AlreadyAccepted, wr.Failed+wr.Rejected)

	acc, err := evaluate.Accuracy(ctx, w, evaluate.AccuracyOptions{})
	if err != nil {
		return fmt.Errorf("forecast accuracy: %w", err)
	}
	ours, naive := acc.WRMSSE["ours"], acc.WRMSSE[model.SeasonalNaive.String()]
	best, bestName := 0.0, ""
	for name, v := range acc.WRMSSE {
		if name != "ours" && (bestName == "" || v < best) {
			best, bestName = v, name
		}
	}
	fmt.Fprintf(a.stdout, "accuracy   WRMSSE on the last 28 days vs true demand: ours %.3f, seasonal naive %.3f (%.0f%% better), best simple method %s %.3f (%.1f%% better)\n",
		ours, naive, 100*(1-ours/naive), bestName, best, 100*(1-ours/best))
	return nil
}

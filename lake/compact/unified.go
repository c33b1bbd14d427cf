package compact

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// UnifiedOptions configure the unified build. The zero value is usable.
type UnifiedOptions struct {
	// Tables names the unified tables to build. Default: all
	// (schema.UnifiedTables).
	Tables []string
	// DuckDBMemory is DuckDB's memory_limit (e.g. "2GB"); past it DuckDB
	// spills to TempDir. Default "1GB".
	DuckDBMemory string
	// DuckDBThreads is DuckDB's thread count. Default GOMAXPROCS.
	DuckDBThreads int
	// TempDir is DuckDB's temp_directory. Default os.TempDir().
	TempDir string
	// MaxAttempts bounds the builds of one table when another builder
	// committed first. Default 3.
	MaxAttempts int
	// MaxLogWalk: when a source advanced by at most this many versions, the
	// partitions it touched are read from those commits; beyond, from a
	// comparison of the two snapshots. Default 1000.
	MaxLogWalk int64
	// Logger receives the build's logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock for remove timestamps. Default time.Now.
	Now func() time.Time
	// RowGroupRows is the Parquet row group size of the unified tables'
	// files. Default UnifiedRowGroupRows.
	RowGroupRows int64
}

// UnifiedRowGroupRows is the default row group size of the unified tables.
// Their rows are sorted by dt, then location (lead_times: supplier, then
// location), so a row group holds a narrow range of locations, and a
// reader filtering a range of locations (a forecast shard, whose
// locations are a contiguous range) skips the other row groups by their
// min/max statistics. A partition's rows are cut every 8,192 rows (four
// DuckDB vectors): a day of 100 stores × 1,000 SKUs (~80,000 sales_daily
// rows) is ten row groups, so a quarter of the stores reads three or
// four of them instead of the one row group DuckDB's 122,880-row default
// would make of the whole day. The price is metadata: about 1 KiB of
// footer per row group (~1–2% of the data) and more, smaller scans.
const UnifiedRowGroupRows = 8192

func (o UnifiedOptions) withDefaults() UnifiedOptions {
	if o.Tables == nil {
		for _, t := range schema.UnifiedTables() {
			o.Tables = append(o.Tables, t.Name)
		}
	}
	if o.DuckDBMemory == "" {
		o.DuckDBMemory = "1GB"
	}
	if o.DuckDBThreads == 0 {
		o.DuckDBThreads = runtime.GOMAXPROCS(0)
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	if o.MaxLogWalk == 0 {
		o.MaxLogWalk = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RowGroupRows == 0 {
		o.RowGroupRows = UnifiedRowGroupRows
	}
	return o
}

func (o UnifiedOptions) validate() error {
	var errs []error
	for _, n := range o.Tables {
		if _, ok := unifiedDefs[n]; !ok {
			errs = append(errs, fmt.Errorf("unified table %q: unknown", n))
		}
	}
	if o.DuckDBThreads < 0 {
		errs = append(errs, fmt.Errorf("duckdb threads %d < 0", o.DuckDBThreads))
	}
	if strings.ContainsAny(o.DuckDBMemory, "'\\") {
		errs = append(errs, fmt.Errorf("duckdb memory %q: want a size like 2GB", o.DuckDBMemory))
	}
	if o.RowGroupRows < 0 {
		errs = append(errs, fmt.Errorf("row group rows %d < 0", o.RowGroupRows))
	}
	if o.MaxAttempts < 0 || o.MaxLogWalk < 0 {
		errs = append(errs, errors.New("max attempts and max log walk must be ≥ 0"))
	}
	return errors.Join(errs...)
}

// Builder maintains the unified tables from the raw ones, incrementally: a
// build rebuilds only the dt partitions of a unified table whose source
// data changed since the source version it last built from.
//
// Each unified table records, per source table, the next source version to
// read as the Delta txn version of appId "unified/<table>/<source>" (the
// source version it was built from, plus one). A build reads the source
// commits since then, collects the dt partitions they added or removed data
// in (dataChange: compaction's rewrites do not count), works out the
// partitions of the unified table to rebuild (see UNIFIED.md), computes them
// with DuckDB over the source's live files (lake.LocalFiles), writes them
// with parquet-go and commits one rewrite: the old files of those dt
// partitions removed, the new ones added, and the txn moved, fenced like an
// ingest commit so two builders never both apply the same source versions.
// A build with nothing new commits nothing.
type Builder struct {
	l       *lake.Lake
	o       UnifiedOptions
	log     *slog.Logger
	metrics *metrics
}

// NewBuilder returns a builder of the unified tables of l. Its metrics go
// nowhere; a Compactor's builder reports through the Compactor's.
func NewBuilder(l *lake.Lake, o UnifiedOptions) (*Builder, error) {
	return newBuilder(l, o, nil)
}

func newBuilder(l *lake.Lake, o UnifiedOptions, m *metrics) (*Builder, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("unified options: %w", err)
	}
	o = o.withDefaults()
	return &Builder{l: l, o: o, log: o.Logger, metrics: m}, nil
}

// UnifiedTableReport describes the build of one unified table.
type UnifiedTableReport struct {
	Table  string
	Source string
	// SourceVersion is the source version built from.
	SourceVersion int64
	// UpToDate: nothing changed since the last build; nothing committed.
	UpToDate bool
	// Partitions are the dt partitions rebuilt.
	Partitions []schema.Date
	Rows       int64
	Files      int
	// Version is the unified table's new version (when committed).
	Version  int64
	Attempts int
	Duration time.Duration
}

// UnifiedReport describes one build.
type UnifiedReport struct {
	Tables   []UnifiedTableReport
	Duration time.Duration
}

// AppID is the txn appId under which unified table table records the
// source version it was built from.
func AppID(table, source string) string { return "unified/" + table + "/" + source }

// Build brings every configured unified table up to date with its source.
// Tables fail independently; the errors are joined.
func (b *Builder) Build(ctx context.Context) (UnifiedReport, error) {
	start := time.Now()
	var (
		rep  UnifiedReport
		errs []error
	)
	// Database-wide settings go in the DSN: DuckDB refuses to change
	// temp_directory once a connection has used it.
	dsn := "?" + url.Values{
		"threads":        {strconv.Itoa(b.o.DuckDBThreads)},
		"memory_limit":   {b.o.DuckDBMemory},
		"temp_directory": {b.o.TempDir},
		// The sources are local files (the lake's own or the file
		// cache's copies): DuckDB's cache of file blocks would keep a
		// buffer block of each in memory, however small the file.
		"enable_external_file_cache": {"false"},
		// Every query orders its result itself. Keeping the scan's
		// order costs a buffer per source file until the query ends.
		"preserve_insertion_order": {"false"},
	}.Encode()
	db, err := sql.Open("duckdb", dsn)
	if err != nil {
		return rep, fmt.Errorf("unified build: open duckdb: %w", err)
	}
	defer db.Close()
	for _, name := range b.o.Tables {
		def := unifiedDefs[name]
		tr, err := b.buildTable(ctx, db, def)
		if err != nil {
			if ctx.Err() == nil && b.metrics != nil {
				b.metrics.failed(name)
			}
			errs = append(errs, fmt.Errorf("unified %s: %w", name, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		rep.Tables = append(rep.Tables, tr)
	}
	rep.Duration = time.Since(start)
	return rep, errors.Join(errs...)
}

// buildTable builds one unified table, retrying when another builder
// committed first.
func (b *Builder) buildTable(ctx context.Context, db *sql.DB, def *unifiedDef) (UnifiedTableReport, error) {
	start := time.Now()
	target := def.table()
	rep := UnifiedTableReport{Table: target.Name, Source: def.source().Name}
	src := def.source()
	ok, err := tableExists(ctx, b.l, src)
	if err != nil {
		return rep, err
	}
	if !ok {
		rep.UpToDate = true
		return rep, nil
	}
	srcTab, err := b.l.Table(ctx, src)
	if err != nil {
		return rep, err
	}
	dstTab, err := b.l.Table(ctx, target)
	if err != nil {
		return rep, err
	}
	for attempt := 1; ; attempt++ {
		rep.Attempts = attempt
		err := b.buildOnce(ctx, db, def, srcTab, dstTab, &rep)
		if err == nil {
			rep.Duration = time.Since(start)
			if !rep.UpToDate {
				if b.metrics != nil {
					b.metrics.unified(target.Name, len(rep.Partitions), rep.Rows)
				}
				b.log.Info("unified table built", "table", target.Name, "version", rep.Version,
					"source_version", rep.SourceVersion, "partitions", len(rep.Partitions), "rows", rep.Rows,
					"duration", rep.Duration)
			}
			return rep, nil
		}
		if !errors.Is(err, delta.ErrFenced) && !errors.Is(err, delta.ErrConflict) {
			return rep, err
		}
		if b.metrics != nil {
			b.metrics.fenced(target.Name)
		}
		b.log.Info("unified build raced, rebuilding", "table", target.Name, "attempt", attempt, "err", err)
		if attempt >= b.o.MaxAttempts {
			return rep, err
		}
		rep = UnifiedTableReport{Table: target.Name, Source: src.Name}
	}
}

// buildOnce plans, computes, writes and commits one build of def.
func (b *Builder) buildOnce(ctx context.Context, db *sql.DB, def *unifiedDef, srcTab, dstTab *delta.Table, rep *UnifiedTableReport) error {
	target, src := def.table(), def.source()
	dstSnap, err := dstTab.Snapshot(ctx)
	if err != nil {
		return err
	}
	srcSnap, err := srcTab.Snapshot(ctx)
	if err != nil {
		return err
	}
	rep.SourceVersion = srcSnap.Version()
	appID := AppID(target.Name, src.Name)
	next, built := dstSnap.TxnVersion(appID)
	if built && next > srcSnap.Version() {
		rep.UpToDate = true
		return nil
	}
	var touched map[schema.Date]bool
	if built {
		touched, err = changedDates(ctx, srcTab, srcSnap, next, b.o.MaxLogWalk)
		if err != nil {
			return err
		}
	} else {
		touched = map[schema.Date]bool{}
		addDates(touched, srcSnap.Files())
		addDates(touched, dstSnap.Files())
	}
	if len(touched) == 0 {
		rep.UpToDate = true
		return nil
	}
	srcDates := map[schema.Date]bool{}
	addDates(srcDates, srcSnap.Files())
	dstDates := map[schema.Date]bool{}
	addDates(dstDates, dstSnap.Files())
	rebuild := def.plan(touched, srcDates, dstDates)
	rep.Partitions = rebuild
	if len(rebuild) == 0 {
		rep.UpToDate = true
		return nil
	}

	// Source files DuckDB needs.
	files, release, err := b.sourceFiles(ctx, src, srcSnap, def.reads(rebuild, srcDates))
	if err != nil {
		return err
	}
	defer release()
	conn, err := b.duckConn(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close()
	scan, err := lake.DuckDBScan(src, files)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "CREATE OR REPLACE TEMP VIEW src AS "+scan); err != nil {
		return fmt.Errorf("source view: %w", err)
	}
	if err := createWant(ctx, conn, rebuild); err != nil {
		return err
	}
	out, err := def.compute(ctx, conn, b.l, target, lake.WriteOptions{SortedBy: target.SortKey, RowGroupRows: b.o.RowGroupRows})
	if err != nil {
		return err
	}
	rep.Rows, rep.Files = out.rows, len(out.adds)

	// Commit: replace the rebuilt partitions.
	now := b.o.Now()
	want := map[string]bool{}
	for _, d := range rebuild {
		want[d.String()] = true
	}
	txn := delta.Txn{
		Isolation: delta.Rewrite,
		Adds:      out.adds,
		Operation: "WRITE",
		OperationParameters: map[string]string{
			"mode":         "Overwrite",
			"replaceWhere": replaceWhere(rebuild),
		},
		Fences: []delta.FenceRange{{AppID: appID, From: next, To: srcSnap.Version() + 1, First: !built}},
		Info: map[string]any{"shelflake.unified": map[string]any{
			"source": src.Name, "sourceVersion": srcSnap.Version(), "partitions": len(rebuild), "rows": out.rows,
		}},
	}
	for _, f := range dstSnap.FilesWhere(func(pv map[string]string) bool { return want[pv[schema.PartitionColumn]] }) {
		txn.Removes = append(txn.Removes, delta.RemoveOf(f.Add, now, true))
	}
	res, err := dstTab.Commit(ctx, dstSnap, txn)
	if err != nil {
		if errors.Is(err, delta.ErrFenced) || errors.Is(err, delta.ErrConflict) || errors.Is(err, delta.ErrInvalidTxn) {
			if aerr := out.abort(ctx); aerr != nil {
				b.log.Warn("delete unused unified files", "table", target.Name, "err", aerr)
			}
		}
		return err
	}
	rep.Version = res.Version
	return nil
}

// replaceWhere renders the rebuilt partitions for commitInfo.
func replaceWhere(dates []schema.Date) string {
	if len(dates) == 1 {
		return "dt = '" + dates[0].String() + "'"
	}
	if int(dates[len(dates)-1]-dates[0])+1 == len(dates) {
		return "dt BETWEEN '" + dates[0].String() + "' AND '" + dates[len(dates)-1].String() + "'"
	}
	return "dt IN (" + strconv.Itoa(len(dates)) + " dates from '" + dates[0].String() + "' to '" + dates[len(dates)-1].String() + "')"
}

// duckConn returns a DuckDB connection configured for a build.
func (b *Builder) duckConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("duckdb connection: %w", err)
	}
	for _, s := range []string{
		"SET TimeZone = 'UTC'",
	} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			conn.Close()
			return nil, fmt.Errorf("duckdb %s: %w", s, err)
		}
	}
	return conn, nil
}

// createWant creates the temp table want(dt DATE) of the partitions to
// build, for the queries to filter on.
func createWant(ctx context.Context, conn *sql.Conn, dates []schema.Date) error {
	var sb strings.Builder
	sb.WriteString("CREATE OR REPLACE TEMP TABLE want AS SELECT CAST(d AS DATE) AS dt FROM (VALUES ")
	for i, d := range dates {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("('" + d.String() + "')")
	}
	sb.WriteString(") t(d)")
	if _, err := conn.ExecContext(ctx, sb.String()); err != nil {
		return fmt.Errorf("partitions to build: %w", err)
	}
	return nil
}

// sourceFiles returns local copies of the source's live files in the given
// dates (nil: every date), fetched per contiguous range of dates.
func (b *Builder) sourceFiles(ctx context.Context, src *schema.Table, snap *delta.Snapshot, dates []schema.Date) ([]lake.LocalFile, func(), error) {
	if dates == nil {
		return b.l.LocalFiles(ctx, src.Name, snap, nil, nil)
	}
	var (
		all      []lake.LocalFile
		releases []func()
	)
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, r := range dateRanges(dates) {
		from, to := r[0], r[1]
		fs, rel, err := b.l.LocalFiles(ctx, src.Name, snap, &from, &to)
		if err != nil {
			releaseAll()
			return nil, nil, err
		}
		releases = append(releases, rel)
		all = append(all, fs...)
	}
	return all, releaseAll, nil
}

// dateRanges splits sorted dates into contiguous [from, to] ranges.
func dateRanges(dates []schema.Date) [][2]schema.Date {
	var out [][2]schema.Date
	for _, d := range dates {
		if n := len(out); n > 0 && out[n-1][1]+1 == d {
			out[n-1][1] = d
			continue
		}
		out = append(out, [2]schema.Date{d, d})
	}
	return out
}

// addDates adds the dt partition of each file to set.
func addDates(set map[schema.Date]bool, files []delta.File) {
	for _, f := range files {
		if d, err := schema.ParseDate(f.PartitionValues[schema.PartitionColumn]); err == nil {
			set[d] = true
		}
	}
}

// sortedDates returns the set's dates in order.
func sortedDates(set map[schema.Date]bool) []schema.Date {
	out := make([]schema.Date, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Package queries is the analysts' SQL over the live lake: a DuckDB session
// with one view per lake table over the files of its Delta snapshot (never a
// bucket listing, so a concurrent compaction never shows a row twice), time
// travel by version or time, result writers that stream (table, CSV, JSON,
// Parquet), the interactive shell behind `shelflake sql`, and the saved
// retail queries embedded from *.sql in this directory.
package queries

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" database/sql driver

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// KnownTables are lake tables written by later stages (compaction's unified
// tables, the forecast's outputs) that a session looks for in addition to
// schema.Tables(), so that their views exist as soon as the lake has them,
// whether or not this build's schema package defines them. Their columns
// come from the Delta log.
var KnownTables = []string{
	"sales_daily", "inventory_daily", "po_open", "lead_times", "stockouts",
	"replenishment_suggestions", "forecasts", "forecast_runs", "erp_writeback_log", "suggestion_outcomes",
	"stock_exceptions",
}

// PinAll is the Options.Versions key that pins every table.
const PinAll = "*"

// DefaultCommitHistory is how many of each table's newest commits the
// _commits table holds by default.
const DefaultCommitHistory = 20

// Options configure a Session. The zero value opens every table at its
// latest version.
type Options struct {
	// Logger receives the session's logs. Default: discard.
	Logger *slog.Logger
	// Versions pins tables to a version (time travel by version): table
	// name → version, or PinAll → version for every table. A pinned table
	// without that version is a *VersionError naming the table and the
	// versions it has.
	Versions map[string]int64
	// AsOf, when not zero, opens every table not pinned by Versions at its
	// newest version committed at or before AsOf (time travel by time). A
	// table created after AsOf reads as empty; an AsOf before the first
	// commit of every table is an *AsOfError giving the versions there are.
	AsOf time.Time
	// From and To restrict every table to the dt partitions in [From, To]
	// (nil leaves a side open): fewer files to fetch from a remote lake.
	From, To *schema.Date
	// Tables names further tables to look for in the lake.
	Tables []string
	// CommitHistory is how many of each table's newest commits (up to the
	// version the session reads) the _commits table holds. Default
	// DefaultCommitHistory; negative: none.
	CommitHistory int
	// MemoryLimit is DuckDB's memory_limit ("4GB"); default DuckDB's own
	// (80% of RAM). Results, sorts and joins beyond it spill to TempDir.
	MemoryLimit string
	// Threads is DuckDB's thread count; default: every core.
	Threads int
	// TempDir is DuckDB's spill directory. Default: a new temporary
	// directory that Close removes.
	TempDir string
}

func (o Options) validate() error {
	var errs []error
	for name, v := range o.Versions {
		if v < 0 {
			errs = append(errs, fmt.Errorf("version %d of %s: want ≥ 0", v, name))
		}
		if name != PinAll && !validTableName(name) {
			errs = append(errs, fmt.Errorf("version pin: %q is not a table name", name))
		}
	}
	for _, n := range o.Tables {
		if !validTableName(n) {
			errs = append(errs, fmt.Errorf("table %q: want letters, digits and _", n))
		}
	}
	if o.From != nil && o.To != nil && *o.From > *o.To {
		errs = append(errs, fmt.Errorf("dt range %s..%s is empty", o.From, o.To))
	}
	if o.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads %d: want ≥ 0", o.Threads))
	}
	return errors.Join(errs...)
}

// validTableName accepts the names lake tables have: a letter or _, then
// letters, digits and _.
func validTableName(s string) bool {
	if s == "" || len(s) > 128 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// TableInfo describes a view of a session: the lake table and the snapshot
// it reads.
type TableInfo struct {
	// Name is the table's and the view's name.
	Name string
	// Present is false when the lake has no such table (yet), or had none
	// at Options.AsOf; its view is then empty, with the columns this build
	// defines for it.
	Present bool
	// Version is the Delta version read; -1 when not Present.
	Version int64
	// Latest is true when the view reads the table's newest version (not
	// pinned, no AsOf).
	Latest bool
	// CommitTime is when Version was committed; zero when not Present.
	CommitTime time.Time
	// Operation is the commit's operation (WRITE, OPTIMIZE, …).
	Operation string
	// Files, Bytes and Records count the live data files read (after the
	// Options dt range); Records is -1 when a file has no statistics.
	Files   int
	Bytes   int64
	Records int64
	// MaxDT is the newest dt partition value among the files ("" if none).
	MaxDT string
	// Columns are the view's columns.
	Columns []Column
}

// Describe is a one-line summary for people: "version 12 committed
// 2026-03-01T09:00:00Z, 34 files, 12.0 MiB, 10000 rows".
func (t TableInfo) Describe() string {
	if !t.Present {
		return "not in the lake (empty view)"
	}
	rows := "rows unknown"
	if t.Records >= 0 {
		rows = strconv.FormatInt(t.Records, 10) + " rows"
	}
	s := fmt.Sprintf("version %d committed %s, %d files, %s, %s", t.Version,
		t.CommitTime.UTC().Format(time.RFC3339), t.Files, byteSize(t.Bytes), rows)
	if !t.Latest {
		s += " (time travel)"
	}
	return s
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// table is a view's state: what it reads and the files it holds.
type table struct {
	info    TableInfo
	snap    *delta.Snapshot // nil when not present
	files   []lake.LocalFile
	linkDir string   // the view's links to its files (scanSQL)
	paths   []string // the paths DuckDB reads, for Explain
	release func()   // releases files and links; never nil
	commits []commitRow
}

// Session is a DuckDB database with one view per lake table. Use Conn for
// queries (it carries the session's settings); a Session is not safe for
// concurrent use, except that Close may be called at any time.
//
// Views are created in DuckDB's main schema, each over the local paths of
// its snapshot's live files (lake.LocalFiles). Two tables describe the
// lake itself: _tables (one row per view: version, commit time, files,
// bytes, records) and _commits (each table's newest commits up to the
// version read: time, operation, files and rows added and removed).
type Session struct {
	lake *lake.Lake
	opts Options
	log  *slog.Logger
	db   *sql.DB
	conn *sql.Conn

	tempDir    string
	removeTemp bool

	mu     sync.Mutex
	tables []*table // by name
	loads  int      // load generations, naming link directories
	closed bool
}

// Open opens a session over the lake l: it loads each table's snapshot (by
// Options: latest, pinned version, or as of a time), fetches or locates its
// live files, and creates the views. l must stay open until the session is
// closed; the session holds its files (lake.LocalFiles) until Close.
func Open(ctx context.Context, l *lake.Lake, opts Options) (_ *Session, err error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("sql session: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CommitHistory == 0 {
		opts.CommitHistory = DefaultCommitHistory
	}
	s := &Session{lake: l, opts: opts, log: opts.Logger, tempDir: opts.TempDir}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if s.tempDir == "" {
		if s.tempDir, err = os.MkdirTemp("", "shelflake-sql-"); err != nil {
			return nil, fmt.Errorf("sql session: %w", err)
		}
		s.removeTemp = true
	}
	if s.db, err = sql.Open("duckdb", ""); err != nil {
		return nil, fmt.Errorf("sql session: open duckdb: %w", err)
	}
	if s.conn, err = s.db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("sql session: duckdb connection: %w", err)
	}
	if err := s.configure(ctx); err != nil {
		return nil, err
	}
	tables, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.install(ctx, tables); err != nil {
		for _, t := range tables {
			t.release()
		}
		return nil, err
	}
	return s, nil
}

// configure applies the session settings: UTC, the spill directory, no
// extension downloads (this machine may be offline), and a Parquet
// metadata cache (data files never change).
func (s *Session) configure(ctx context.Context) error {
	stmts := []string{
		"SET GLOBAL TimeZone = 'UTC'",
		"SET GLOBAL temp_directory = " + quoteString(s.tempDir),
		"SET GLOBAL autoinstall_known_extensions = false",
		"SET GLOBAL autoload_known_extensions = false",
		"SET GLOBAL parquet_metadata_cache = true",
		// The tables' files are local (the lake's own or the file
		// cache's copies): DuckDB's cache of their blocks would hold a
		// buffer block per file scanned, however small, on top of the
		// OS page cache.
		"SET GLOBAL enable_external_file_cache = false",
	}
	if s.opts.MemoryLimit != "" {
		stmts = append(stmts, "SET GLOBAL memory_limit = "+quoteString(s.opts.MemoryLimit))
	}
	if s.opts.Threads > 0 {
		stmts = append(stmts, "SET GLOBAL threads = "+strconv.Itoa(s.opts.Threads))
	}
	for _, q := range stmts {
		if _, err := s.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sql session: %s: %w", q, err)
		}
	}
	return nil
}

// candidates returns the table names to look for, sorted.
func (s *Session) candidates() []string {
	var names []string
	for _, t := range schema.Tables() {
		names = append(names, t.Name)
	}
	names = append(names, KnownTables...)
	names = append(names, s.opts.Tables...)
	slices.Sort(names)
	return slices.Compact(names)
}

// loadConcurrency bounds tables loaded at once.
const loadConcurrency = 4

// load reads every candidate table's snapshot, files and recent commits.
func (s *Session) load(ctx context.Context) ([]*table, error) {
	names := s.candidates()
	s.mu.Lock()
	s.loads++
	gen := s.loads
	s.mu.Unlock()
	out := make([]*table, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for i, name := range names {
		g.Go(func() error {
			t, err := s.loadTable(gctx, name, filepath.Join(s.tempDir, "views", strconv.Itoa(gen), name))
			out[i] = t
			return err
		})
	}
	err := g.Wait()
	var tables []*table
	for _, t := range out {
		if t == nil {
			continue
		}
		if err != nil {
			t.release()
			continue
		}
		tables = append(tables, t)
	}
	if err == nil {
		err = s.checkAsOf(ctx, names, tables)
	}
	if err != nil {
		for _, t := range tables {
			t.release()
		}
		return nil, err
	}
	return tables, nil
}

// loadTable loads one table; nil (no error) for a table that is neither in
// the lake nor defined by this build. Its view's links go in linkDir.
func (s *Session) loadTable(ctx context.Context, name, linkDir string) (*table, error) {
	t := &table{info: TableInfo{Name: name, Version: -1, Records: 0}, linkDir: linkDir, release: func() {}}
	dt, err := delta.NewTable(s.lake.Bucket(), name+"/", delta.Options{Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	version, explicit := s.opts.Versions[name]
	pinned := explicit
	if !pinned {
		version, pinned = s.opts.Versions[PinAll]
	}
	var snap *delta.Snapshot
	switch {
	case pinned:
		snap, err = dt.SnapshotAt(ctx, version)
		if errors.Is(err, delta.ErrVersionNotFound) {
			return nil, versionError(ctx, dt, name, version, !explicit, err)
		}
	case !s.opts.AsOf.IsZero():
		snap, err = dt.SnapshotAsOf(ctx, s.opts.AsOf)
		if errors.Is(err, delta.ErrVersionNotFound) {
			// Before the earliest commit: if that is the table's creation
			// (version 0), the table did not exist yet; otherwise its early
			// history is gone and the error stands.
			if _, err0 := dt.SnapshotAt(ctx, 0); err0 == nil {
				err, snap = nil, nil
			}
		}
	default:
		snap, err = dt.Snapshot(ctx)
		t.info.Latest = true
	}
	switch {
	case errors.Is(err, delta.ErrTableNotFound):
		if explicit {
			return nil, fmt.Errorf("table %s version %d: the lake has no table %s", name, version, name)
		}
		snap = nil
	case err != nil:
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	if snap == nil {
		def, ok := schema.TableByName(name)
		if !ok {
			return nil, nil // neither in the lake nor known: no view
		}
		ss, err := def.DeltaSchemaString()
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		t.info.Latest = false
		if t.info.Columns, err = columnsOf(delta.Metadata{SchemaString: ss, PartitionColumns: def.PartitionColumns()}); err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		return t, nil
	}
	t.snap = snap
	t.info.Present = true
	t.info.Version = snap.Version()
	t.info.CommitTime = snap.Timestamp()
	t.info.Operation = snap.CommitInfo().Operation()
	if t.info.Columns, err = columnsOf(snap.Metadata()); err != nil {
		return nil, fmt.Errorf("table %s version %d: %w", name, snap.Version(), err)
	}
	files, release, err := s.lake.LocalFiles(ctx, name, snap, s.opts.From, s.opts.To)
	if err != nil {
		return nil, fmt.Errorf("table %s version %d: %w", name, snap.Version(), err)
	}
	t.files = files
	t.release = func() {
		release()
		_ = os.RemoveAll(linkDir)
	}
	t.info.Files = len(files)
	for _, f := range files {
		t.info.Bytes += f.Size
		if f.NumRecords < 0 || t.info.Records < 0 {
			t.info.Records = -1
		} else {
			t.info.Records += f.NumRecords
		}
		if v := f.PartitionValues[schema.PartitionColumn]; v > t.info.MaxDT {
			t.info.MaxDT = v
		}
	}
	if s.opts.CommitHistory > 0 {
		if t.commits, err = s.readCommits(ctx, name, snap.Version()); err != nil {
			t.release()
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
	}
	s.log.Debug("table loaded", "table", name, "version", t.info.Version, "files", t.info.Files)
	return t, nil
}

// install creates the views and the _tables and _commits tables, replacing
// the session's current ones, and releases the files of views replaced.
func (s *Session) install(ctx context.Context, tables []*table) error {
	for _, t := range tables {
		body, paths, err := scanSQL(t.info.Columns, t.files, t.linkDir)
		if err != nil {
			return fmt.Errorf("view %s: %w", t.info.Name, err)
		}
		t.paths = paths
		q := "CREATE OR REPLACE VIEW " + quoteIdent(t.info.Name) + " AS\n" + body
		if _, err := s.conn.ExecContext(ctx, q); err != nil {
			if !t.info.Present {
				return fmt.Errorf("create view %s (not in the lake): %w", t.info.Name, err)
			}
			return fmt.Errorf("create view %s over version %d (%d files): %w", t.info.Name, t.info.Version, t.info.Files, err)
		}
	}
	if err := s.installMeta(ctx, tables); err != nil {
		return err
	}
	s.mu.Lock()
	old := s.tables
	s.tables = tables
	s.mu.Unlock()
	for _, t := range old {
		t.release()
	}
	return nil
}

// Refresh moves every view that reads a table's latest version to the
// table's current latest version (and finds tables created since). Pinned
// and as-of views stay as they are.
func (s *Session) Refresh(ctx context.Context) error {
	tables, err := s.load(ctx)
	if err != nil {
		return err
	}
	if err := s.install(ctx, tables); err != nil {
		for _, t := range tables {
			t.release()
		}
		return err
	}
	return nil
}

// Conn returns the session's DuckDB connection: its settings (SET,
// variables, temporary objects) persist across queries. Do not close it.
func (s *Session) Conn() *sql.Conn { return s.conn }

// DB returns the session's DuckDB database. Views are visible from every
// connection; per-connection settings are not.
func (s *Session) DB() *sql.DB { return s.db }

// Tables returns the views of the session, by name.
func (s *Session) Tables() []TableInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TableInfo, len(s.tables))
	for i, t := range s.tables {
		out[i] = t.info
	}
	return out
}

// Table returns the view called name.
func (s *Session) Table(name string) (TableInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := slices.BinarySearchFunc(s.tables, name, func(t *table, n string) int { return cmp.Compare(t.info.Name, n) })
	if !ok {
		return TableInfo{}, false
	}
	return s.tables[i].info, true
}

// Close closes DuckDB, releases the files the views hold and removes the
// temporary spill directory. It is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	tables := s.tables
	s.tables = nil
	s.mu.Unlock()
	var errs []error
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	for _, t := range tables {
		t.release()
	}
	if s.removeTemp && s.tempDir != "" {
		errs = append(errs, os.RemoveAll(s.tempDir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sql session: %w", err)
	}
	return nil
}

// Explain adds to a query error the view whose files it was reading, when
// DuckDB's message names one of the session's data files: "view pos_lines
// (version 12): IO Error: …". Other errors are returned as they are.
func (s *Session) Explain(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tables {
		for _, p := range t.paths {
			if strings.Contains(msg, p) {
				return &ViewError{View: t.info.Name, Version: t.info.Version, Err: err}
			}
		}
	}
	return err
}

// ViewError is a query error attributed to the view whose data files DuckDB
// was reading.
type ViewError struct {
	View    string
	Version int64
	Err     error
}

func (e *ViewError) Error() string {
	return fmt.Sprintf("view %s (version %d): %v", e.View, e.Version, e.Err)
}

func (e *ViewError) Unwrap() error { return e.Err }

// Package lake is shelflake's lake facade: it opens a lake (a bucket of
// Delta tables, see objstore and delta), opens or creates its tables, writes
// rows of a table's Go row type as Parquet data files (zstd, statistics,
// page indexes, DuckDB-sized row groups, rolled at a target size) and gives
// readers what they need: ranged-GET Parquet readers and, for DuckDB, local
// paths of a snapshot's live files through a bounded cache. FORMAT.md in
// this directory describes the lake layout every engine sees.
package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// FormatVersion is the version of the lake layout described in FORMAT.md.
// It is written into every data file's key/value metadata
// ("shelflake.format").
const FormatVersion = "1"

// Options configure a Lake. The zero value is usable.
type Options struct {
	// Logger receives the lake's logs. Default: discard.
	Logger *slog.Logger
	// Registerer, when set, gets the lake's metrics and the bucket's
	// (objstore.NewMetered).
	Registerer prometheus.Registerer
	// CacheDir holds local copies of remote data files for LocalFiles
	// (DuckDB); the copies survive restarts and are reused. It must not be
	// shared by two processes. Default: a new temporary directory that Close
	// removes. Unused for a local lake, whose files are read in place.
	CacheDir string
	// CacheBytes bounds CacheDir. Default 8 GiB.
	CacheBytes int64
	// Open adjusts how Open builds the bucket (e.g. S3 credentials in tests).
	Open []objstore.OpenOption
	// Delta configures the tables' Delta logs (checkpoint interval, commit
	// attempts, ...). Its Logger and Metrics default to the lake's.
	Delta delta.Options
	// MustExist makes Open refuse a URI that holds no lake instead of
	// starting one there: Open creates nothing (not even a local directory)
	// and fails with an error wrapping ErrNoLake unless the URI names an
	// existing directory or bucket prefix holding at least one table's
	// "<table>/_delta_log/". The Lake may write, and Table still creates
	// the tables it opens. For commands that change an existing lake.
	MustExist bool
	// ReadOnly is MustExist for readers, and the Lake refuses every write:
	// its bucket is wrapped in objstore.NewReadOnly (Put, PutIfAbsent and
	// Delete fail with objstore.ErrReadOnly before any I/O), and Table is
	// ExistingTable (a missing table is delta.ErrTableNotFound, never
	// created). Nothing a read-only Lake does changes the lake.
	ReadOnly bool
}

// DefaultCacheBytes is the default bound of the local file cache.
const DefaultCacheBytes = 8 << 30

func (o Options) validate() error {
	if o.CacheBytes < 0 {
		return fmt.Errorf("lake options: negative cache size %d", o.CacheBytes)
	}
	return nil
}

// Lake is an open lake: a bucket holding one Delta table per prefix
// "<table>/". It is safe for concurrent use.
type Lake struct {
	bucket  objstore.Bucket
	log     *slog.Logger
	metrics *metrics
	opts    Options

	mu        sync.Mutex
	tables    map[string]*delta.Table // opened or created, by name
	cache     *objstore.FileCache     // created by the first LocalFiles of a remote lake
	cacheTemp string                  // the cache's directory when Close removes it
}

// ErrNoLake is returned (wrapped) by Open with Options.MustExist or
// Options.ReadOnly when the URI holds no lake. The error reads "no shelflake
// lake at URI (no _delta_log under PATH…)", naming where it looked.
var ErrNoLake = errors.New("no shelflake lake")

// Open opens the lake at uri: a local directory (a path or file:///path) or
// an S3 bucket (s3://bucket/prefix?endpoint=…&path_style=true; see
// objstore.Open). With opts.Registerer set, the bucket is metered
// (objstore.NewMetered). Without MustExist or ReadOnly, Open creates a
// missing local directory and does no table I/O; tables are opened or
// created by Table. With either, Open creates nothing and lists the bucket
// until it finds a "<table>/_delta_log/" key, else fails with ErrNoLake.
// Unless ReadOnly, an S3 lake is probed once per Open for conditional
// writes (objstore.VerifyPutIfAbsent): a store that ignores
// "If-None-Match: *" is refused, since commits and fences rely on it.
func Open(ctx context.Context, uri string, opts Options) (*Lake, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	existing := opts.MustExist || opts.ReadOnly
	bopts := opts.Open
	if existing {
		bopts = append(slices.Clone(opts.Open), objstore.Existing())
	}
	b, err := objstore.Open(ctx, uri, bopts...)
	var noRoot *objstore.NoRootError
	if errors.As(err, &noRoot) {
		return nil, fmt.Errorf("%w at %s (no _delta_log under %s: %v)", ErrNoLake, objstore.RedactURI(uri), noRoot.Root, noRoot)
	}
	if err != nil {
		return nil, fmt.Errorf("open lake: %w", err)
	}
	if existing {
		if err := checkLake(ctx, b, uri); err != nil {
			_ = b.Close()
			return nil, err
		}
	}
	if !opts.ReadOnly && strings.HasPrefix(uri, "s3://") {
		// Fences and Delta commits rest on put-if-absent: a store that
		// ignores If-None-Match would turn every lost race into a silent
		// overwrite. (A local directory's PutIfAbsent is a hard link.)
		if err := objstore.VerifyPutIfAbsent(ctx, b); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("open lake %s for writing: %w", objstore.RedactURI(uri), err)
		}
	}
	if opts.Registerer != nil {
		b = objstore.NewMetered(b, opts.Registerer)
	}
	l, err := New(b, opts)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return l, nil
}

// errFound stops checkLake's listing at the first Delta log key.
var errFound = errors.New("found")

// checkLake returns an ErrNoLake error unless b holds a key
// "<table>/_delta_log/…".
func checkLake(ctx context.Context, b objstore.Bucket, uri string) error {
	err := b.List(ctx, "", func(a objstore.Attributes) error {
		if _, rest, ok := strings.Cut(a.Key, "/"); ok && strings.HasPrefix(rest, "_delta_log/") {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return nil
	case err != nil:
		return fmt.Errorf("open lake %s: %w", objstore.RedactURI(uri), err)
	}
	where := b.String()
	if l, ok := b.(*objstore.Local); ok {
		where = l.Root()
	}
	return fmt.Errorf("%w at %s (no _delta_log under %s/*/)", ErrNoLake, objstore.RedactURI(uri), strings.TrimSuffix(where, "/"))
}

// New returns a Lake over an open bucket, which it owns (Close closes it).
// Most callers use Open; New is for callers that build or wrap the bucket
// themselves. With opts.ReadOnly the bucket is wrapped in
// objstore.NewReadOnly; opts.MustExist is Open's alone (New does no I/O).
func New(b objstore.Bucket, opts Options) (*Lake, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if _, ro := b.(*objstore.ReadOnly); opts.ReadOnly && !ro {
		b = objstore.NewReadOnly(b)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.Delta.Logger == nil {
		opts.Delta.Logger = opts.Logger
	}
	if opts.Delta.Metrics == nil && opts.Registerer != nil {
		opts.Delta.Metrics = delta.NewMetrics(opts.Registerer)
	}
	return &Lake{
		bucket:  b,
		log:     opts.Logger,
		metrics: newMetrics(opts.Registerer),
		opts:    opts,
		tables:  map[string]*delta.Table{},
	}, nil
}

// ReadOnly reports whether the lake was opened with Options.ReadOnly.
func (l *Lake) ReadOnly() bool { return l.opts.ReadOnly }

// Bucket returns the lake's bucket (metered when Options.Registerer was set).
func (l *Lake) Bucket() objstore.Bucket { return l.bucket }

// String names the lake for logs (the bucket's URI, without credentials).
func (l *Lake) String() string { return l.bucket.String() }

// Close releases the lake's bucket and removes its temporary file cache.
// Files returned by LocalFiles are invalid afterwards.
func (l *Lake) Close() error {
	err := l.bucket.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cacheTemp != "" {
		err = errors.Join(err, os.RemoveAll(l.cacheTemp))
		l.cacheTemp, l.cache = "", nil
	}
	return err
}

// ErrSchemaMismatch is returned (wrapped) by Table when the table in the lake
// has other columns or partitioning than the Go definition.
var ErrSchemaMismatch = errors.New("lake table schema differs from its definition")

// Table opens the Delta table of t at "<t.Name>/", creating it when the lake
// has none: version 0 with protocol 1/2, metaData from t.DeltaSchemaString()
// and partitionColumns ["dt"]. Creation is idempotent across processes: of
// concurrent creators one wins the put-if-absent of version 0 and the others
// use its table. An existing table must have t's columns (name, type,
// nullability) and partition columns, else ErrSchemaMismatch.
//
// The returned *delta.Table is cached per name: later calls do no I/O.
// On a read-only lake (Options.ReadOnly) Table is ExistingTable.
func (l *Lake) Table(ctx context.Context, t *schema.Table) (*delta.Table, error) {
	if l.opts.ReadOnly {
		return l.ExistingTable(ctx, t)
	}
	if dt, ok := l.cached(t.Name); ok {
		return dt, nil
	}
	dt, err := l.openTable(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("table %s in %s: %w", t.Name, l, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.tables[t.Name]; ok {
		return prev, nil
	}
	l.tables[t.Name] = dt
	return dt, nil
}

// ExistingTable is Table for readers: it opens t without creating it. A
// table the lake does not have yet is an error wrapping
// delta.ErrTableNotFound, and nothing is written. The table is cached like
// Table's.
func (l *Lake) ExistingTable(ctx context.Context, t *schema.Table) (*delta.Table, error) {
	if dt, ok := l.cached(t.Name); ok {
		return dt, nil
	}
	want, err := t.DeltaSchemaString()
	if err != nil {
		return nil, err
	}
	dt, err := delta.NewTable(l.bucket, TablePrefix(t), l.opts.Delta)
	if err != nil {
		return nil, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("table %s in %s: %w", t.Name, l, err)
	}
	if err := sameSchema(snap.Metadata(), want, t.PartitionColumns()); err != nil {
		return nil, fmt.Errorf("table %s in %s: %w", t.Name, l, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.tables[t.Name]; ok {
		return prev, nil
	}
	l.tables[t.Name] = dt
	return dt, nil
}

// cached returns the table called name if Table opened it before.
func (l *Lake) cached(name string) (*delta.Table, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dt, ok := l.tables[name]
	return dt, ok
}

func (l *Lake) openTable(ctx context.Context, t *schema.Table) (*delta.Table, error) {
	want, err := t.DeltaSchemaString()
	if err != nil {
		return nil, err
	}
	dt, err := delta.NewTable(l.bucket, TablePrefix(t), l.opts.Delta)
	if err != nil {
		return nil, err
	}
	snap, err := dt.Snapshot(ctx)
	if errors.Is(err, delta.ErrTableNotFound) {
		md := delta.NewMetadata(want, t.PartitionColumns(), nil, time.Now())
		md.Name = t.Name
		md.Description = t.Description
		snap, err = dt.CreateTable(ctx, md)
		if errors.Is(err, delta.ErrTableExists) {
			snap, err = dt.Snapshot(ctx) // another process created it first
		} else if err == nil {
			l.log.Info("table created", "table", t.Name, "version", snap.Version())
		}
	}
	if err != nil {
		return nil, err
	}
	if err := sameSchema(snap.Metadata(), want, t.PartitionColumns()); err != nil {
		return nil, err
	}
	return dt, nil
}

// sameSchema compares a table's metadata with the expected schema string and
// partition columns, field by field (name, type, nullability, order).
func sameSchema(md delta.Metadata, want string, partitions []string) error {
	if !slices.Equal(md.PartitionColumns, partitions) {
		return fmt.Errorf("%w: partition columns %v, want %v", ErrSchemaMismatch, md.PartitionColumns, partitions)
	}
	var got, exp schema.DeltaStruct
	if err := json.Unmarshal([]byte(md.SchemaString), &got); err != nil {
		return fmt.Errorf("%w: schemaString: %v", ErrSchemaMismatch, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		return fmt.Errorf("expected schema: %w", err)
	}
	if len(got.Fields) != len(exp.Fields) {
		return fmt.Errorf("%w: %d columns, want %d", ErrSchemaMismatch, len(got.Fields), len(exp.Fields))
	}
	for i, g := range got.Fields {
		e := exp.Fields[i]
		if g.Name != e.Name || g.Type != e.Type || g.Nullable != e.Nullable {
			return fmt.Errorf("%w: column %d is %s %s (nullable %v), want %s %s (nullable %v)",
				ErrSchemaMismatch, i, g.Name, g.Type, g.Nullable, e.Name, e.Type, e.Nullable)
		}
	}
	return nil
}

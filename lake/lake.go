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

// Open opens the lake at uri: a local directory (a path or file:///path) or
// an S3 bucket (s3://bucket/prefix?endpoint=…&path_style=true; see
// objstore.Open). With opts.Registerer set, the bucket is metered
// (objstore.NewMetered). Open does no table I/O; tables are opened or
// created by Table.
func Open(ctx context.Context, uri string, opts Options) (*Lake, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	b, err := objstore.Open(ctx, uri, opts.Open...)
	if err != nil {
		return nil, fmt.Errorf("open lake: %w", err)
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

// New returns a Lake over an open bucket, which it owns (Close closes it).
// Most callers use Open; New is for callers that build or wrap the bucket
// themselves.
func New(b objstore.Bucket, opts Options) (*Lake, error) {
	if err := opts.validate(); err != nil {
		return nil, err
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
func (l *Lake) Table(ctx context.Context, t *schema.Table) (*delta.Table, error) {
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
// delta.ErrTableNotFound, and nothing is written.
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

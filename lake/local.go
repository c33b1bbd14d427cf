package lake

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// LocalFile is a live data file of a snapshot as a local file DuckDB (or any
// local reader) can open.
type LocalFile struct {
	// Path is the local file path: the file itself for a local lake, a
	// cached copy for a remote one. Treat it as read-only.
	Path string
	// Key is the object's key in the lake's bucket.
	Key string
	// PartitionValues are the add action's partition values ({"dt": …}).
	PartitionValues map[string]string
	// Size is the file's size in bytes.
	Size int64
	// NumRecords is the file's row count from its stats, -1 when unknown.
	NumRecords int64
}

// fetchConcurrency bounds parallel downloads into the file cache.
const fetchConcurrency = 4

// LocalFiles returns the live data files of snap (a snapshot of table)
// whose dt lies in [from, to] (nil leaves a side open), ordered by path,
// as local files: for a local lake the files themselves, for S3 copies in
// the lake's file cache (Options.CacheDir, bounded by Options.CacheBytes,
// keyed by key and ETag; data files never change, so a copy never goes
// stale). The file list comes from the Delta log, not from listing the
// bucket. Cached copies are fetched with whole-object GETs, a few at a time.
//
// The cached copies are held until release is called: call it when the
// reader (a DuckDB query or view) is done with the files. While held they
// are never evicted, even if they exceed the cache bound. release is
// idempotent and never nil on success; for a local lake it does nothing.
func (l *Lake) LocalFiles(ctx context.Context, table string, snap *delta.Snapshot, from, to *schema.Date) (files []LocalFile, release func(), err error) {
	return l.LocalFilesWhere(ctx, table, snap, from, to, nil)
}

// LocalFilesWhere is LocalFiles of the files keep accepts (nil: every
// file), decided before any copy: a reader that can tell from a file's add
// action (its partition values, its statistics) that it holds none of its
// rows neither fetches nor opens it.
func (l *Lake) LocalFilesWhere(ctx context.Context, table string, snap *delta.Snapshot, from, to *schema.Date, keep func(delta.File) bool) (files []LocalFile, release func(), err error) {
	files, rel, err := l.localFiles(ctx, table, snap, from, to, keep)
	if err != nil {
		return nil, nil, fmt.Errorf("local files of %s: %w", table, err)
	}
	var once sync.Once
	return files, func() { once.Do(rel) }, nil
}

func (l *Lake) localFiles(ctx context.Context, table string, snap *delta.Snapshot, from, to *schema.Date, keep func(delta.File) bool) ([]LocalFile, func(), error) {
	var files []delta.File
	if from == nil && to == nil {
		files = snap.Files()
	} else {
		cols := snap.PartitionColumns()
		if len(cols) != 1 {
			return nil, nil, fmt.Errorf("dt range on a table partitioned by %v", cols)
		}
		var f, t string
		if from != nil {
			f = from.String()
		}
		if to != nil {
			t = to.String()
		}
		files = snap.FilesInRange(cols[0], f, t)
	}
	if keep != nil {
		files = slices.DeleteFunc(slices.Clone(files), func(f delta.File) bool { return !keep(f) })
	}
	out := make([]LocalFile, len(files))
	for i, f := range files {
		key := f.Key
		if key == "" {
			return nil, nil, fmt.Errorf("file %q is outside the table", f.Path)
		}
		n := int64(-1)
		if st, err := f.ParseStats(); err == nil && st != nil {
			n = st.NumRecords
		}
		out[i] = LocalFile{Key: key, PartitionValues: f.PartitionValues, Size: f.Size, NumRecords: n}
	}
	nothing := func() {}
	if len(out) == 0 {
		return out, nothing, nil
	}
	if lf, ok := l.bucket.(objstore.LocalFiles); ok {
		if _, ok := lf.LocalFile(out[0].Key); ok {
			for i := range out {
				out[i].Path, _ = lf.LocalFile(out[i].Key)
			}
			return out, nothing, nil
		}
	}
	cache, err := l.fileCache()
	if err != nil {
		return nil, nil, err
	}
	releases := make([]func(), len(out))
	releaseAll := func() {
		for _, r := range releases {
			if r != nil {
				r()
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchConcurrency)
	for i := range out {
		g.Go(func() error {
			p, rel, err := cache.Acquire(gctx, out[i].Key)
			if err != nil {
				return fmt.Errorf("local copy of %s: %w", out[i].Key, err)
			}
			out[i].Path, releases[i] = p, rel
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		releaseAll()
		return nil, nil, err
	}
	return out, releaseAll, nil
}

// duckTypes maps Delta primitive types to DuckDB types.
var duckTypes = map[string]string{
	"string":        "VARCHAR",
	"long":          "BIGINT",
	"integer":       "INTEGER",
	"short":         "SMALLINT",
	"byte":          "TINYINT",
	"double":        "DOUBLE",
	"float":         "FLOAT",
	"boolean":       "BOOLEAN",
	"binary":        "BLOB",
	"date":          "DATE",
	"timestamp":     "TIMESTAMPTZ",
	"timestamp_ntz": "TIMESTAMP",
}

var decimalType = regexp.MustCompile(`^decimal\((\d+),(\d+)\)$`)

// DuckDBScan returns a DuckDB SELECT over the given files of table t (from
// LocalFiles) yielding every column of t in schema order, then the partition
// column computed from each file's partition value (the files do not hold
// it). Files are grouped by partition value into one read_parquet per value,
// joined with UNION ALL; with no files it selects no rows of the right
// column types. Use it as a view body: CREATE VIEW pos_lines AS <scan>.
func DuckDBScan(t *schema.Table, files []LocalFile) (string, error) {
	fields, err := t.DeltaFields()
	if err != nil {
		return "", err
	}
	var cols, typed []string
	for _, f := range fields {
		dtyp, ok := duckTypes[f.Type]
		if m := decimalType.FindStringSubmatch(f.Type); m != nil {
			dtyp, ok = "DECIMAL("+m[1]+","+m[2]+")", true
		}
		if !ok {
			return "", fmt.Errorf("duckdb scan of %s: column %s has Delta type %s", t.Name, f.Name, f.Type)
		}
		typed = append(typed, "CAST(NULL AS "+dtyp+") AS "+duckIdent(f.Name))
		if f.Name != t.PartitionColumn {
			cols = append(cols, duckIdent(f.Name))
		}
	}
	if len(files) == 0 {
		return "SELECT " + strings.Join(typed, ", ") + " WHERE false", nil
	}
	if scan, ok := hiveScan(t, cols, files); ok {
		return scan, nil
	}
	var groups []string // partition values in first-seen order
	byValue := map[string][]string{}
	for _, f := range files {
		v := ""
		if t.PartitionColumn != "" {
			v = f.PartitionValues[t.PartitionColumn]
		}
		if _, ok := byValue[v]; !ok {
			groups = append(groups, v)
		}
		byValue[v] = append(byValue[v], duckString(f.Path))
	}
	selects := make([]string, 0, len(groups))
	for _, v := range groups {
		sel := "SELECT " + strings.Join(cols, ", ")
		if t.PartitionColumn != "" {
			part := "CAST(NULL AS DATE)"
			if v != "" {
				if _, err := schema.ParseDate(v); err != nil {
					return "", fmt.Errorf("duckdb scan of %s: partition value %q: %w", t.Name, v, err)
				}
				part = "DATE " + duckString(v)
			}
			sel += ", " + part + " AS " + duckIdent(t.PartitionColumn)
		}
		sel += " FROM read_parquet([" + strings.Join(byValue[v], ", ") + "])"
		selects = append(selects, sel)
	}
	return strings.Join(selects, "\nUNION ALL\n"), nil
}

// hiveScan is DuckDBScan's fast path: when every file sits under a
// "<column>=<value>/" directory holding its own partition value (a local
// lake's files always do), one read_parquet with hive partitioning reads them
// all, and DuckDB can skip whole files on a dt filter before opening them.
// A union of one read_parquet per value costs far more to plan once a table
// has many dates.
func hiveScan(t *schema.Table, cols []string, files []LocalFile) (string, bool) {
	col := t.PartitionColumn
	if col == "" {
		return "", false
	}
	paths := make([]string, len(files))
	for i, f := range files {
		v := f.PartitionValues[col]
		if v == "" || strings.ContainsAny(v, "/=") || !strings.Contains(filepath.ToSlash(f.Path), "/"+col+"="+v+"/") {
			return "", false
		}
		if _, err := schema.ParseDate(v); err != nil {
			return "", false
		}
		paths[i] = duckString(f.Path)
	}
	return "SELECT " + strings.Join(cols, ", ") + ", " + duckIdent(col) +
		" FROM read_parquet([" + strings.Join(paths, ", ") + "], hive_partitioning = true, hive_types = {" +
		duckString(col) + ": DATE})", true
}

// duckIdent quotes a DuckDB identifier.
func duckIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// duckString quotes a DuckDB string literal.
func duckString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// fileCache returns the lake's file cache, creating it on first use.
func (l *Lake) fileCache() (*objstore.FileCache, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cache != nil {
		return l.cache, nil
	}
	dir := l.opts.CacheDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "shelflake-files-")
		if err != nil {
			return nil, fmt.Errorf("file cache: %w", err)
		}
		dir, l.cacheTemp = tmp, tmp
	}
	c, err := objstore.NewFileCache(dir, l.opts.CacheBytes, l.bucket)
	if err != nil {
		return nil, fmt.Errorf("file cache: %w", err)
	}
	l.cache = c
	return c, nil
}

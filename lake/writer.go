package lake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// DataPath returns the table-relative path of a new data file of partition
// dt: "dt=YYYY-MM-DD/part-<uuid>.parquet" (just "part-<uuid>.parquet" for a
// table without a partition column). The UUID is version 7, so names sort
// by creation time.
func DataPath(t *schema.Table, dt schema.Date) (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("data file name: %w", err)
	}
	name := "part-" + id.String() + ".parquet"
	if t.PartitionColumn == "" {
		return name, nil
	}
	return PartitionDir(t, dt) + "/" + name, nil
}

// PartitionDir returns the table-relative directory of partition dt,
// "dt=YYYY-MM-DD" (hive style).
func PartitionDir(t *schema.Table, dt schema.Date) string {
	return t.PartitionColumn + "=" + dt.String()
}

// TablePrefix returns the key prefix of table t in the bucket: "<name>/".
// The Delta log is under "<name>/_delta_log/".
func TablePrefix(t *schema.Table) string { return t.Name + "/" }

// TableWriter streams rows of T (t's row type, e.g. schema.PosLineRow) of
// one partition into data files: it encodes them into a file, and when the
// file reaches WriteOptions.TargetFileSize it uploads it and starts the next.
// Close uploads the last file and returns one Delta add action per file, to
// be committed by the caller. Data first: every file is uploaded before its
// add action exists; files never committed are orphans that vacuum removes.
//
// Memory: the current row group's encoded pages (at most
// WriteOptions.RowGroupBytes; a few MiB for 122,880 POS lines), one
// uncompressed page buffer per column (256 KiB each), and up to
// WriteOptions.SpillBytes of the file; the rest of a file is on local disk
// until uploaded. Rows passed to Write are not retained.
//
// A TableWriter is not safe for concurrent use. After an error it is
// aborted (files it uploaded are deleted, best effort) and every later call
// returns that error.
type TableWriter[T any] struct {
	checkDate bool // *T has PartitionDate: rows are checked against dt
	l         *Lake
	t         *schema.Table
	dt        schema.Date
	o         WriteOptions
	enc       *fileEncoder[T]
	adds      []delta.Add
	keys      []string // uploaded objects, for Abort
	rows      int64
	bytes     int64
	err       error
	closed    bool
}

// NewTableWriter returns a writer of rows of T into partition dt of table t.
// T must be the row type t.Schema was made from (or one with the same
// columns).
func NewTableWriter[T any](l *Lake, t *schema.Table, dt schema.Date, o WriteOptions) (*TableWriter[T], error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Name, err)
	}
	enc, err := newFileEncoder[T](fileSchema(t, dt), t.PartitionColumn, o)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.Name, err)
	}
	_, dated := any((*T)(nil)).(partitionDater)
	return &TableWriter[T]{checkDate: dated && t.PartitionColumn != "", l: l, t: t, dt: dt, o: o, enc: enc}, nil
}

// partitionDater is implemented by lake row types (schema.PosLineRow, …):
// the dt partition a row belongs to.
type partitionDater interface{ PartitionDate() schema.Date }

// Write encodes rows, uploading each file that reaches the target size. A
// row whose PartitionDate (for row types that have one) is not the writer's
// dt is refused, and the writer aborted: a misfiled row would be invisible to
// partition pruning.
func (w *TableWriter[T]) Write(ctx context.Context, rows []T) error {
	if err := w.usable(); err != nil {
		return err
	}
	if w.checkDate {
		for i := range rows {
			if d := any(&rows[i]).(partitionDater).PartitionDate(); d != w.dt {
				return w.fail(ctx, fmt.Errorf("row %d belongs to dt=%s", i, d))
			}
		}
	}
	for len(rows) > 0 {
		n := min(len(rows), writeChunkRows)
		if err := w.enc.write(rows[:n]); err != nil {
			return w.fail(ctx, err)
		}
		rows = rows[n:]
		w.rows += int64(n)
		if w.enc.size() >= w.o.TargetFileSize {
			if err := w.roll(ctx); err != nil {
				return w.fail(ctx, err)
			}
		}
	}
	return nil
}

// Rows returns the number of rows written so far.
func (w *TableWriter[T]) Rows() int64 { return w.rows }

// Size returns the bytes uploaded so far plus the estimated size of the file
// being written.
func (w *TableWriter[T]) Size() int64 {
	if w.enc == nil {
		return w.bytes
	}
	return w.bytes + w.enc.size()
}

// Close uploads the last file and returns the add actions of every file
// written, in order (none when no rows were written). The adds carry size,
// modificationTime, partitionValues {"dt": "YYYY-MM-DD"}, dataChange
// (false with WriteOptions.Rewrite) and stats.
func (w *TableWriter[T]) Close(ctx context.Context) ([]delta.Add, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if w.enc.rows > 0 {
		if err := w.roll(ctx); err != nil {
			return nil, w.fail(ctx, err)
		}
	}
	w.closed = true
	if err := w.enc.close(); err != nil {
		return nil, w.fail(ctx, err)
	}
	// A closed writer is kept by callers only to Abort it (delete its
	// files): the encoder's buffers (column pages, compressors) go now, or
	// a build writing a file per partition would hold them all at once.
	w.enc = nil
	return w.adds, nil
}

// Abort stops the writer and deletes the files it uploaded (best effort: a
// file left behind is an orphan that vacuum removes). Safe to call after
// Close or an error; after Close it also deletes the closed writer's files,
// for a caller whose commit failed for good.
func (w *TableWriter[T]) Abort(ctx context.Context) error {
	if w.err == nil {
		w.err = errors.New("table writer aborted")
	}
	w.closed = true
	return w.cleanup(ctx)
}

func (w *TableWriter[T]) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("table writer closed")
	}
	return nil
}

// fail records err, aborts, and returns err.
func (w *TableWriter[T]) fail(ctx context.Context, err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("write %s dt=%s: %w", w.t.Name, w.dt, err)
	}
	_ = w.cleanup(ctx)
	return w.err
}

func (w *TableWriter[T]) cleanup(ctx context.Context) error {
	var errs []error
	if w.enc != nil {
		errs = append(errs, w.enc.close())
	}
	// The caller's ctx may be what failed; deleting still deserves a chance.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, k := range w.keys {
		if err := w.l.bucket.Delete(dctx, k); err != nil {
			errs = append(errs, fmt.Errorf("delete orphan %s: %w", k, err))
		}
	}
	w.keys = nil
	return errors.Join(errs...)
}

// roll finishes the current file, uploads it, and records its add action.
func (w *TableWriter[T]) roll(ctx context.Context) error {
	start := time.Now()
	f, err := w.enc.finish()
	if err != nil {
		return err
	}
	rel, err := DataPath(w.t, w.dt)
	if err != nil {
		return err
	}
	key := TablePrefix(w.t) + rel
	r, err := f.open()
	if err != nil {
		return err
	}
	encoded := time.Now()
	// Recorded before the upload: a Put that fails midway may still leave an
	// object behind.
	w.keys = append(w.keys, key)
	if err := w.l.bucket.Put(ctx, key, r); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	uploaded := time.Now()
	pv := map[string]string{}
	if w.t.PartitionColumn != "" {
		pv[w.t.PartitionColumn] = w.dt.String()
	}
	add, err := delta.NewAdd(rel, pv, f.Size, uploaded, f.Stats)
	if err != nil {
		return err
	}
	add.DataChange = !w.o.Rewrite
	w.adds = append(w.adds, add)
	w.bytes += f.Size
	w.l.metrics.fileWritten(w.t.Name, f.Rows, f.Size, encoded.Sub(start), uploaded.Sub(encoded))
	w.l.log.Debug("data file written", "table", w.t.Name, "object", key,
		"rows", f.Rows, "bytes", f.Size, "upload", uploaded.Sub(encoded))
	return w.enc.reset()
}

// WriteFiles writes rows of partition dt of table t as one or more data files
// (several when they pass WriteOptions.TargetFileSize) and returns their add
// actions, for the caller to commit. On error nothing it uploaded is left
// behind (best effort).
func WriteFiles[T any](ctx context.Context, l *Lake, t *schema.Table, dt schema.Date, rows []T, o WriteOptions) ([]delta.Add, error) {
	w, err := NewTableWriter[T](l, t, dt, o)
	if err != nil {
		return nil, err
	}
	if err := w.Write(ctx, rows); err != nil {
		return nil, err
	}
	return w.Close(ctx)
}

// DataKey returns the bucket key of a data file of table from the path its
// add or remove action carries (URI-encoded, relative to the table root).
// Absolute paths (URIs) and paths leaving the table are refused: shelflake
// tables only reference their own files.
func DataKey(table, logPath string) (string, error) {
	rel, err := delta.DecodePath(logPath)
	if err != nil {
		return "", err
	}
	if strings.Contains(rel, "://") || strings.HasPrefix(rel, "/") || strings.Contains(rel, ":") {
		return "", fmt.Errorf("data file %q: not a path relative to table %s", logPath, table)
	}
	key := table + "/" + rel
	if err := objstore.ValidateKey(key); err != nil {
		return "", fmt.Errorf("data file %q of table %s: %w", logPath, table, err)
	}
	return key, nil
}

package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/lake/objstore"
)

// readBufferSize is the size of each ranged GET parquet-go issues while
// reading a column chunk's pages, and of the footer read: with it the
// footer, page index and a small file's column chunks come in one or a few
// requests. Each open column of a file holds one such buffer.
const readBufferSize = 256 << 10

// ObjectReaderAt is an io.ReaderAt over one object of a bucket: every ReadAt
// is one ranged GET of exactly the bytes asked for. It lets parquet.OpenFile
// read a file's footer and just the row groups and columns it needs,
// without downloading the whole object. It is safe for concurrent use.
//
// ReaderAt has no context, so the one given to NewObjectReaderAt governs
// every read: cancel it and reads fail.
type ObjectReaderAt struct {
	ctx    context.Context
	bucket objstore.Bucket
	key    string
	size   int64
}

// NewObjectReaderAt returns a reader of key, size bytes long.
func NewObjectReaderAt(ctx context.Context, b objstore.Bucket, key string, size int64) *ObjectReaderAt {
	return &ObjectReaderAt{ctx: ctx, bucket: b, key: key, size: size}
}

// Size returns the object's size.
func (r *ObjectReaderAt) Size() int64 { return r.size }

// ReadAt reads len(p) bytes at off with one ranged GET. Past the end it
// reads what there is and returns io.EOF, as io.ReaderAt requires.
func (r *ObjectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s at %d: negative offset", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	if rest := r.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	if len(want) == 0 {
		return 0, nil
	}
	rc, err := r.bucket.GetRange(r.ctx, r.key, off, int64(len(want)))
	if err != nil {
		return 0, fmt.Errorf("read %s [%d,+%d): %w", r.key, off, len(want), err)
	}
	n, err := io.ReadFull(rc, want)
	cerr := rc.Close()
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("object shorter than %d bytes: %w", r.size, io.ErrUnexpectedEOF)
		}
		return n, fmt.Errorf("read %s [%d,+%d): %w", r.key, off, len(want), err)
	}
	if cerr != nil {
		return n, fmt.Errorf("read %s: close: %w", r.key, cerr)
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// smallFileBytes: files up to this size are fetched whole with one GET
// rather than a ranged GET per column chunk (ingest's small files, read by
// compaction, are mostly this small; one request beats twenty).
const smallFileBytes = 4 << 20

// OpenParquet opens the Parquet file at key in b. size is the object's size
// (an add action's size); pass a negative size to Stat the object first.
//
// A file up to 4 MiB is fetched whole in one GET. A larger one is read
// through ranged GETs (see ObjectReaderAt): opening reads the footer and page
// index in one GET for most files (an optimistic tail read of 256 KiB), then
// only the column chunks the reader needs are fetched, in 256 KiB ranges, as
// rows are consumed.
func OpenParquet(ctx context.Context, b objstore.Bucket, key string, size int64) (*parquet.File, error) {
	if size < 0 {
		a, err := b.Stat(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("open parquet %s: %w", key, err)
		}
		size = a.Size
	}
	var r io.ReaderAt = NewObjectReaderAt(ctx, b, key, size)
	if size <= smallFileBytes {
		data, err := readWhole(ctx, b, key, size)
		if err != nil {
			return nil, fmt.Errorf("open parquet %s: %w", key, err)
		}
		r = bytes.NewReader(data)
	}
	f, err := parquet.OpenFile(r, size,
		parquet.SkipMagicBytes(true), // the footer magic is still checked; saves a GET
		parquet.OptimisticRead(true),
		parquet.ReadBufferSize(readBufferSize),
		parquet.SkipBloomFilters(true), // we write none
	)
	if err != nil {
		return nil, fmt.Errorf("open parquet %s: %w", key, err)
	}
	return f, nil
}

// readWhole reads an object of a known size with one GET.
func readWhole(ctx context.Context, b objstore.Bucket, key string, size int64) ([]byte, error) {
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if n, _ := rc.Read(make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("read %s: object larger than %d bytes", key, size)
	}
	return data, nil
}

// RowReader reads the rows of one data file as values of T, streaming: it
// holds one buffer per column, never the whole file. Close it when done.
type RowReader[T any] struct {
	file *parquet.File
	r    *parquet.GenericReader[T]
}

// OpenRows opens the data file at key (size bytes; negative to Stat it) of
// l's bucket for reading rows of T. T is a table's row type (for example
// schema.PosLineRow); columns are matched by name, so T may hold a subset of
// the file's columns.
func OpenRows[T any](ctx context.Context, l *Lake, key string, size int64) (*RowReader[T], error) {
	return OpenRowsIn[T](ctx, l.Bucket(), key, size)
}

// OpenRowsIn is OpenRows on any bucket.
func OpenRowsIn[T any](ctx context.Context, b objstore.Bucket, key string, size int64) (rr *RowReader[T], err error) {
	f, err := OpenParquet(ctx, b, key, size)
	if err != nil {
		return nil, err
	}
	defer func() { // parquet-go panics on a Go type it cannot map
		if r := recover(); r != nil {
			rr, err = nil, fmt.Errorf("read %s: %v", key, r)
		}
	}()
	return &RowReader[T]{file: f, r: parquet.NewGenericReader[T](f)}, nil
}

// File returns the open Parquet file (metadata, row groups, schema).
func (r *RowReader[T]) File() *parquet.File { return r.file }

// NumRows returns the number of rows in the file.
func (r *RowReader[T]) NumRows() int64 { return r.file.NumRows() }

// Read reads up to len(rows) rows into rows. At the end of the file it
// returns the rows read and io.EOF.
func (r *RowReader[T]) Read(rows []T) (int, error) {
	n, err := r.r.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read rows: %w", err)
	}
	return n, err
}

// Close releases the reader's buffers.
func (r *RowReader[T]) Close() error { return r.r.Close() }

// ReadRows reads every row of the data file at key into memory: for tests,
// small files and tools. Compaction streams with OpenRows instead.
func ReadRows[T any](ctx context.Context, l *Lake, key string) ([]T, error) {
	return ReadRowsIn[T](ctx, l.Bucket(), key)
}

// ReadRowsIn is ReadRows on any bucket.
func ReadRowsIn[T any](ctx context.Context, b objstore.Bucket, key string) ([]T, error) {
	rr, err := OpenRowsIn[T](ctx, b, key, -1)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	out := make([]T, 0, rr.NumRows())
	buf := make([]T, 1024)
	for {
		n, err := rr.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
	}
}

package compact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// rewrite is the output of rewriting one task's files, not yet committed.
type rewrite struct {
	adds    []delta.Add
	rowsIn  int64
	rowsOut int64
	runs    int // runs spilled to disk (0: the partition fit in memory)
	// abort deletes the files written (for a commit that surely failed).
	abort func(context.Context) error
}

// execConfig is what executing a task needs besides the task.
type execConfig struct {
	memBytes int64
	tempDir  string
	fanIn    int
	write    lake.WriteOptions
}

// rewriteTask reads, sorts, de-duplicates and rewrites a task's inputs into
// new files (uploaded, not committed), choosing the row type by table.
func rewriteTask(ctx context.Context, l *lake.Lake, t *schema.Table, task Task, cfg execConfig) (rewrite, error) {
	switch t.Name {
	case schema.TableNamePOSLines:
		return rewriteRows(ctx, l, t, posKind, task, cfg)
	case schema.TableNameInventorySnapshots:
		return rewriteRows(ctx, l, t, inventoryKind, task, cfg)
	case schema.TableNamePurchaseOrderLines:
		return rewriteRows(ctx, l, t, poLineKind, task, cfg)
	case schema.TableNameItemLocations:
		return rewriteRows(ctx, l, t, itemLocationKind, task, cfg)
	case schema.TableNamePromotions:
		return rewriteRows(ctx, l, t, promotionKind, task, cfg)
	case schema.TableNameRejects:
		return rewriteRows(ctx, l, t, rejectKind, task, cfg)
	}
	return rewrite{}, fmt.Errorf("compact %s: not a raw table", t.Name)
}

// compactable reports whether rewriteTask knows table t.
func compactable(t *schema.Table) bool {
	switch t.Name {
	case schema.TableNamePOSLines, schema.TableNameInventorySnapshots, schema.TableNamePurchaseOrderLines,
		schema.TableNameItemLocations, schema.TableNamePromotions, schema.TableNameRejects:
		return true
	}
	return false
}

func rewriteRows[T any](ctx context.Context, l *lake.Lake, t *schema.Table, k rowKind[T], task Task, cfg execConfig) (rw rewrite, err error) {
	s := newSorter(k, sortConfig{memBytes: cfg.memBytes, tempDir: cfg.tempDir, schema: t.Schema, fanIn: cfg.fanIn})
	defer func() { err = errors.Join(err, s.close()) }()
	chunk := make([]T, chunkRows)
	if err := readInputs(ctx, l, task.Inputs, chunk, s, &rw.rowsIn); err != nil {
		return rewrite{}, err
	}
	rw.runs = s.spilled
	it, err := s.finish()
	if err != nil {
		return rewrite{}, err
	}
	if m, ok := it.(*mergeIter[T]); ok {
		defer func() { err = errors.Join(err, m.close()) }()
	}
	wo := cfg.write
	wo.Rewrite = true
	wo.SortedBy = t.SortKey
	w, err := lake.NewTableWriter[T](l, t, task.DT, wo)
	if err != nil {
		return rewrite{}, err
	}
	for {
		n, err := it.next(chunk)
		if n > 0 {
			rw.rowsOut += int64(n)
			if werr := w.Write(ctx, chunk[:n]); werr != nil {
				return rewrite{}, werr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = w.Abort(ctx)
			return rewrite{}, err
		}
		if err := ctx.Err(); err != nil {
			_ = w.Abort(ctx)
			return rewrite{}, err
		}
	}
	adds, err := w.Close(ctx)
	if err != nil {
		return rewrite{}, err
	}
	rw.adds = adds
	rw.abort = w.Abort
	return rw, nil
}

// readers is how many small input files of one task are fetched and
// decoded at once, beside the goroutine sorting them: a partition of ingest
// files is thousands of small reads and decodes, each mostly fixed
// overhead, that need not wait for each other.
const readers = 2

// readInputs streams the rows of files into the sorter. Small files (up to
// smallFileBytes) are fetched and decoded whole by readers goroutines, at
// most readers+1 files' rows held at once; larger ones are streamed
// afterwards, one at a time. Row order does not matter: the sorter orders
// and de-duplicates by content alone.
func readInputs[T any](ctx context.Context, l *lake.Lake, files []delta.File, chunk []T, s *sorter[T], rows *int64) error {
	var small, large []delta.File
	for _, f := range files {
		if f.Size >= 0 && f.Size <= smallFileBytes {
			small = append(small, f)
		} else {
			large = append(large, f)
		}
	}
	if len(small) > 0 {
		if err := readSmall(ctx, l, small, s, rows); err != nil {
			return err
		}
	}
	for _, f := range large {
		if err := readInto(ctx, l, f, chunk, s, rows); err != nil {
			return err
		}
	}
	return nil
}

// fileRowsRead is one small file's rows, or the error reading it.
type fileRowsRead[T any] struct {
	rows []T
	err  error
}

// readSmall decodes small files concurrently and adds their rows to s.
func readSmall[T any](ctx context.Context, l *lake.Lake, files []delta.File, s *sorter[T], rows *int64) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	next := make(chan delta.File)
	out := make(chan fileRowsRead[T], readers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(next)
		for _, f := range files {
			select {
			case next <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	var workers sync.WaitGroup
	for range min(readers, len(files)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			dec := newFlatDecoder[T]()
			var buf []byte
			for f := range next {
				rs, err := readWhole(ctx, l, f, dec, &buf)
				select {
				case out <- fileRowsRead[T]{rows: rs, err: err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		workers.Wait()
		close(out)
	}()
	for r := range out {
		if r.err != nil {
			return r.err
		}
		*rows += int64(len(r.rows))
		if err := s.add(r.rows); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readWhole reads every row of a small data file: fetched whole into *buf
// (reused from file to file), decoded by dec when it can (nil: never), else
// by parquet-go.
func readWhole[T any](ctx context.Context, l *lake.Lake, f delta.File, dec *flatDecoder[T], buf *[]byte) (rs []T, err error) {
	data, err := fetchWhole(ctx, l, f, *buf)
	if err != nil {
		return nil, err
	}
	if dec != nil {
		if rs, err := dec.decode(data); err == nil {
			*buf = data // the rows copy what they hold of it
			return rs, nil
		}
	}
	*buf = nil // parquet-go's rows may point into it
	return decodeWhole[T](data, f, nil)
}

// decodeWhole decodes the rows of a small data file's bytes: by dec when
// it can (nil: never), else by parquet-go.
func decodeWhole[T any](data []byte, f delta.File, dec *flatDecoder[T]) (rs []T, err error) {
	if dec != nil {
		if rs, err := dec.decode(data); err == nil {
			return rs, nil
		}
	}
	rr, err := openBytes[T](data, f)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, rr.Close()) }()
	n := rr.NumRows()
	rs = make([]T, n)
	got := 0
	for int64(got) < n {
		k, err := rr.Read(rs[got:])
		got += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Key, err)
		}
		if k == 0 {
			break
		}
	}
	if int64(got) < n {
		return nil, fmt.Errorf("read %s: %d rows short of the %d in its footer", f.Key, n-int64(got), n)
	}
	return rs, nil
}

// rowSource is an open data file's rows.
type rowSource[T any] interface {
	NumRows() int64
	Read(rows []T) (int, error)
	Close() error
}

// readInto streams one data file's rows into the sorter.
func readInto[T any](ctx context.Context, l *lake.Lake, f delta.File, chunk []T, s *sorter[T], rows *int64) (err error) {
	rr, err := openRows[T](ctx, l, f)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rr.Close()) }()
	// Never ask for more rows than are left: parquet-go tries to read a
	// page of every column for each row asked for past the end (thousands
	// of allocations per small file).
	left := rr.NumRows()
	for left > 0 {
		n, err := rr.Read(chunk[:min(int64(len(chunk)), left)])
		left -= int64(n)
		if n > 0 {
			*rows += int64(n)
			if aerr := s.add(chunk[:n]); aerr != nil {
				return aerr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", f.Key, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if left > 0 {
		return fmt.Errorf("read %s: %d rows short of the %d in its footer", f.Key, left, rr.NumRows())
	}
	return nil
}

// smallFileBytes: files up to this size are read whole with one GET and
// decoded without their page index (a full scan has no use for it; parsing
// it is a good part of the cost of ingest's small files). Larger files are
// read through lake.OpenRows (ranged GETs).
const smallFileBytes = 4 << 20

func openRows[T any](ctx context.Context, l *lake.Lake, f delta.File) (rowSource[T], error) {
	if f.Size < 0 || f.Size > smallFileBytes {
		return lake.OpenRows[T](ctx, l, f.Key, f.Size)
	}
	data, err := fetchWhole(ctx, l, f, nil)
	if err != nil {
		return nil, err
	}
	return openBytes[T](data, f)
}

// fetchWhole reads a small data file with one GET, into buf when it is
// large enough.
func fetchWhole(ctx context.Context, l *lake.Lake, f delta.File, buf []byte) ([]byte, error) {
	rc, err := l.Bucket().Get(ctx, f.Key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Key, err)
	}
	data := buf[:0]
	if int64(cap(data)) >= f.Size {
		data = data[:f.Size]
	} else {
		data = make([]byte, f.Size)
	}
	_, err = io.ReadFull(rc, data)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Key, err)
	}
	return data, nil
}

// openBytes opens a small data file's bytes with parquet-go.
func openBytes[T any](data []byte, f delta.File) (rowSource[T], error) {
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)),
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("open parquet %s: %w", f.Key, err)
	}
	return newFileRows[T](pf, f.Key)
}

// fileRows reads rows of T from an open Parquet file.
type fileRows[T any] struct {
	n int64
	r *parquet.GenericReader[T]
}

func newFileRows[T any](pf *parquet.File, key string) (fr *fileRows[T], err error) {
	defer func() { // parquet-go panics on a Go type it cannot map
		if r := recover(); r != nil {
			fr, err = nil, fmt.Errorf("read %s: %v", key, r)
		}
	}()
	return &fileRows[T]{n: pf.NumRows(), r: parquet.NewGenericReader[T](pf)}, nil
}

func (f *fileRows[T]) NumRows() int64             { return f.n }
func (f *fileRows[T]) Read(rows []T) (int, error) { return f.r.Read(rows) }
func (f *fileRows[T]) Close() error               { return f.r.Close() }

package ingest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/shelflake/shelflake/schema"
)

// rowBuffer holds one table's rows that are not yet sealed into a flush,
// grouped by partition date. Not safe for concurrent use (the ingester's
// mutex guards it).
type rowBuffer interface {
	// size is the estimated memory the rows hold, in bytes.
	size() int64
	numRows() int
	// numDates is the number of partition dates with rows.
	numDates() int
	// seal takes every buffered row out, leaving the buffer empty.
	seal() sealedRows
	// drop removes the rows whose source partition keep refuses and
	// returns the bytes freed.
	drop(keep func(topic string, partition int32) bool) int64
}

// sealedRows are the rows of one flush of one table.
type sealedRows interface {
	numRows() int
	// write encodes and uploads the files of each partition date, as many
	// dates at a time as sem has room for (it is shared by all flushes),
	// and calls admitted once every date has its slot (or it gives up).
	write(ctx context.Context, t LakeTable, sem chan struct{}, admitted func()) ([]File, error)
}

// Rows are appended into chunks rather than one growing slice: no row is
// copied again as the buffer grows, and a written chunk is freed at once.
// A date's first chunk holds firstChunkRows rows and each next one twice
// the last, up to chunkRows. A backlog spreads a flush over many dates
// (150 in the memory test), most with a few rows each: fixed 4096-row
// chunks (~1 MiB of pos_lines rows) reserved ~10 times the budget in
// capacity, and where the kernel backs the heap with huge pages every
// touched chunk became resident (the ingester peaked at 540-980 MiB under
// a 16 MiB budget).
const (
	firstChunkRows = 32
	chunkRows      = 4096
)

// dateRows are the rows of one partition date, in chunks.
type dateRows[T any] struct {
	chunks [][]T
	rows   int
	bytes  int64
}

// room returns the chunk to append n rows to: the last one if it has room,
// else a new one.
func (d *dateRows[T]) room(n int) *[]T {
	size := firstChunkRows
	if k := len(d.chunks) - 1; k >= 0 {
		if cap(d.chunks[k])-len(d.chunks[k]) >= n {
			return &d.chunks[k]
		}
		size = min(2*cap(d.chunks[k]), chunkRows)
	}
	d.chunks = append(d.chunks, make([]T, 0, max(size, n)))
	return &d.chunks[len(d.chunks)-1]
}

// buffer is the rowBuffer of tables whose rows are T.
type buffer[T any] struct {
	byDate map[schema.Date]*dateRows[T]
	bytes  int64
	rows   int
	// dateOf returns a row's dt.
	dateOf func(*T) schema.Date
	// srcOf returns the Kafka topic and partition a row came from.
	srcOf func(*T) (string, int32)
}

func newBuffer[T any](dateOf func(*T) schema.Date, srcOf func(*T) (string, int32)) *buffer[T] {
	return &buffer[T]{byDate: map[schema.Date]*dateRows[T]{}, dateOf: dateOf, srcOf: srcOf}
}

func (b *buffer[T]) date(dt schema.Date) *dateRows[T] {
	d := b.byDate[dt]
	if d == nil {
		d = &dateRows[T]{}
		b.byDate[dt] = d
	}
	return d
}

// appendTo lets fn append n rows of date dt in place (fn returns the
// extended chunk), estimated to hold bytes in memory.
func (b *buffer[T]) appendTo(dt schema.Date, n int, bytes int64, fn func([]T) []T) {
	d := b.date(dt)
	c := d.room(n)
	before := len(*c)
	*c = fn(*c)
	added := len(*c) - before
	d.rows += added
	d.bytes += bytes
	b.rows += added
	b.bytes += bytes
}

// add appends rows (from one record), estimated to hold bytes in memory in
// all. Rows may have different partition dates.
func (b *buffer[T]) add(rows []T, bytes int64) {
	if len(rows) == 0 {
		return
	}
	per := bytes / int64(len(rows))
	for k := range rows {
		n := per
		if k == 0 {
			n += bytes - per*int64(len(rows))
		}
		b.appendTo(b.dateOf(&rows[k]), 1, n, func(c []T) []T { return append(c, rows[k]) })
	}
}

func (b *buffer[T]) size() int64   { return b.bytes }
func (b *buffer[T]) numRows() int  { return b.rows }
func (b *buffer[T]) numDates() int { return len(b.byDate) }

func (b *buffer[T]) seal() sealedRows {
	s := &sealed[T]{byDate: b.byDate, rows: b.rows}
	b.byDate = map[schema.Date]*dateRows[T]{}
	b.bytes, b.rows = 0, 0
	return s
}

func (b *buffer[T]) drop(keep func(string, int32) bool) int64 {
	var freed int64
	for dt, d := range b.byDate {
		n := d.rows
		d.rows = 0
		for k, c := range d.chunks {
			c = slices.DeleteFunc(c, func(r T) bool {
				t, p := b.srcOf(&r)
				return !keep(t, p)
			})
			d.chunks[k] = c
			d.rows += len(c)
		}
		if d.rows == n {
			continue
		}
		gone := d.bytes
		if d.rows > 0 {
			gone = d.bytes * int64(n-d.rows) / int64(n)
		} else {
			delete(b.byDate, dt)
		}
		d.bytes -= gone
		freed += gone
		b.rows -= n - d.rows
	}
	b.bytes -= freed
	return freed
}

// sealed is the sealedRows of a buffer[T].
type sealed[T any] struct {
	byDate map[schema.Date]*dateRows[T]
	rows   int
}

func (s *sealed[T]) numRows() int { return s.rows }

func (s *sealed[T]) write(ctx context.Context, t LakeTable, sem chan struct{}, admitted func()) ([]File, error) {
	defer admitted()
	dates := make([]schema.Date, 0, len(s.byDate))
	for dt := range s.byDate {
		dates = append(dates, dt)
	}
	slices.Sort(dates)
	files := make([][]File, len(dates))
	errs := make([]error, len(dates))
	var wg sync.WaitGroup
	for i, dt := range dates {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			admitted()
			wg.Wait()
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d := s.byDate[dt]
			// WriteFiles frees each chunk once it is encoded.
			f, err := t.WriteFiles(ctx, dt, d.chunks)
			if err != nil {
				errs[i] = fmt.Errorf("write dt=%s: %w", dt, err)
				return
			}
			files[i] = f
			d.chunks = nil
		}()
	}
	admitted()
	wg.Wait()
	var out []File
	for k, err := range errs {
		if err != nil {
			return nil, err
		}
		out = append(out, files[k]...)
	}
	return out, nil
}

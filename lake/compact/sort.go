package compact

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// External sort with de-duplication, in bounded memory.
//
// Rows are buffered up to a memory budget (estimated by rowKind.size). When
// the buffer is full it is sorted, de-duplicated and written to a temporary
// Parquet file (a run); at the end the runs and what is left in the buffer
// are merged k ways, dropping rows whose natural key equals the previous
// row's. With more runs than fanIn, groups of runs are first merged into
// longer runs. Memory: the buffer, plus per run being merged one reader
// (a page buffer per column) and a batch of mergeBatch rows.

const (
	// defaultFanIn bounds the runs merged at once.
	defaultFanIn = 16
	// mergeBatch is how many rows a run cursor reads at a time.
	mergeBatch = 256
	// chunkRows is the batch size rows are passed around in.
	chunkRows = 1024
	// runPageBytes is the page buffer size of run files (small: a merge
	// holds one page per column per run).
	runPageBytes = 64 << 10
)

type sortConfig struct {
	memBytes int64
	tempDir  string
	schema   *parquet.Schema
	fanIn    int
}

// sorter accumulates rows and yields them sorted and de-duplicated.
type sorter[T any] struct {
	k        rowKind[T]
	cfg      sortConfig
	buf      []T
	idx      []int32
	bufBytes int64
	runs     []string // run file paths, each sorted and de-duplicated
	spilled  int      // runs written, including those merged into others
	closed   bool
}

func newSorter[T any](k rowKind[T], cfg sortConfig) *sorter[T] {
	if cfg.fanIn < 2 {
		cfg.fanIn = defaultFanIn
	}
	return &sorter[T]{k: k, cfg: cfg}
}

// add copies rows into the sorter, spilling a run whenever the budget is
// reached.
func (s *sorter[T]) add(rows []T) error {
	for i := range rows {
		s.buf = append(s.buf, rows[i])
		s.bufBytes += s.k.size(&rows[i]) + 4
		if s.bufBytes >= s.cfg.memBytes {
			if err := s.spill(); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortBuf sorts the buffer's index.
func (s *sorter[T]) sortBuf() {
	s.idx = s.idx[:0]
	for i := range s.buf {
		s.idx = append(s.idx, int32(i))
	}
	buf := s.buf
	slices.SortFunc(s.idx, func(a, b int32) int { return s.k.compare(&buf[a], &buf[b]) })
}

// spill writes the sorted, de-duplicated buffer as a run and empties it.
func (s *sorter[T]) spill() error {
	if len(s.buf) == 0 {
		return nil
	}
	s.sortBuf()
	it := &memIter[T]{k: s.k, buf: s.buf, idx: s.idx}
	path, err := s.writeRun(it)
	if err != nil {
		return err
	}
	s.runs = append(s.runs, path)
	s.spilled++
	clear(s.buf) // drop the rows' strings for the collector
	s.buf = s.buf[:0]
	s.bufBytes = 0
	return nil
}

// writeRun writes what it yields to a new run file.
func (s *sorter[T]) writeRun(it rowIter[T]) (path string, err error) {
	f, err := os.CreateTemp(s.cfg.tempDir, "shelflake-compact-run-*.parquet")
	if err != nil {
		return "", fmt.Errorf("create run file: %w", err)
	}
	path = f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	w, err := newRunWriter[T](f, s.cfg.schema)
	if err != nil {
		return "", err
	}
	chunk := make([]T, chunkRows)
	for {
		n, err := it.next(chunk)
		if n > 0 {
			if _, werr := w.Write(chunk[:n]); werr != nil {
				return "", fmt.Errorf("write run %s: %w", path, werr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("write run %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write run %s: %w", path, err)
	}
	return path, nil
}

func newRunWriter[T any](f io.Writer, sch *parquet.Schema) (w *parquet.GenericWriter[T], err error) {
	defer func() {
		if r := recover(); r != nil {
			w, err = nil, fmt.Errorf("run writer for %s: %v", sch.Name(), r)
		}
	}()
	return parquet.NewGenericWriter[T](f, sch,
		parquet.Compression(&parquet.Snappy),
		parquet.PageBufferSize(runPageBytes),
	), nil
}

// finish returns an iterator over every row added, sorted and
// de-duplicated. The sorter must be closed after the iterator is done.
func (s *sorter[T]) finish() (rowIter[T], error) {
	s.sortBuf()
	mem := &memIter[T]{k: s.k, buf: s.buf, idx: s.idx}
	if len(s.runs) == 0 {
		return mem, nil
	}
	// Merge groups of runs until the rest fit in one merge (with the buffer).
	for len(s.runs)+1 > s.cfg.fanIn {
		group := s.runs[:s.cfg.fanIn]
		it, err := s.openMerge(group, nil)
		if err != nil {
			return nil, err
		}
		path, err := s.writeRun(it)
		cerr := it.close()
		if err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		for _, p := range group {
			os.Remove(p)
		}
		s.runs = append(slices.Clone(s.runs[s.cfg.fanIn:]), path)
	}
	return s.openMerge(s.runs, mem)
}

// openMerge opens a merge of the run files and, if not nil, mem.
func (s *sorter[T]) openMerge(paths []string, mem *memIter[T]) (*mergeIter[T], error) {
	m := &mergeIter[T]{k: s.k}
	for _, p := range paths {
		c, err := openRunCursor[T](p)
		if err == nil {
			err = c.fill()
		}
		if err != nil {
			m.close()
			return nil, err
		}
		m.cursors = append(m.cursors, c)
	}
	if mem != nil {
		c := &cursor[T]{mem: mem, batch: make([]T, mergeBatch)}
		if err := c.fill(); err != nil {
			m.close()
			return nil, err
		}
		m.cursors = append(m.cursors, c)
	}
	m.init()
	return m, nil
}

// close removes the run files.
func (s *sorter[T]) close() error {
	var errs []error
	for _, p := range s.runs {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.runs = nil
	s.buf, s.idx = nil, nil
	return errors.Join(errs...)
}

// rowIter yields rows in order. next fills dst and returns how many rows it
// wrote, with io.EOF once there are no more (possibly with n > 0).
type rowIter[T any] interface {
	next(dst []T) (int, error)
}

// memIter yields buf in idx order, skipping rows with the natural key of
// the row before.
type memIter[T any] struct {
	k    rowKind[T]
	buf  []T
	idx  []int32
	pos  int
	last int32 // index of the last row yielded, -1 before the first
	init bool
}

func (m *memIter[T]) next(dst []T) (int, error) {
	if !m.init {
		m.last, m.init = -1, true
	}
	n := 0
	for n < len(dst) && m.pos < len(m.idx) {
		i := m.idx[m.pos]
		m.pos++
		if m.last >= 0 && m.k.sameKey(&m.buf[m.last], &m.buf[i]) {
			continue
		}
		m.last = i
		dst[n] = m.buf[i]
		n++
	}
	if m.pos >= len(m.idx) {
		return n, io.EOF
	}
	return n, nil
}

// cursor is the head of one sorted input of a merge: a run file or the
// in-memory rest.
type cursor[T any] struct {
	file  *os.File
	r     *parquet.GenericReader[T]
	mem   *memIter[T]
	batch []T
	n     int
	pos   int
	eof   bool
}

func openRunCursor[T any](path string) (c *cursor[T], err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open run: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open run: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open run %s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			f.Close()
			c, err = nil, fmt.Errorf("open run %s: %v", path, r)
		}
	}()
	return &cursor[T]{file: f, r: parquet.NewGenericReader[T](pf), batch: make([]T, mergeBatch)}, nil
}

// fill reads the next batch once the current one is used up.
func (c *cursor[T]) fill() error {
	if c.pos < c.n || c.eof {
		return nil
	}
	var (
		n   int
		err error
	)
	if c.mem != nil {
		n, err = c.mem.next(c.batch)
	} else {
		n, err = c.r.Read(c.batch)
	}
	c.n, c.pos = n, 0
	if errors.Is(err, io.EOF) {
		c.eof = true
		err = nil
	}
	if err != nil {
		return fmt.Errorf("read run: %w", err)
	}
	if n == 0 && !c.eof {
		return c.fill()
	}
	return nil
}

func (c *cursor[T]) head() *T { return &c.batch[c.pos] }

func (c *cursor[T]) done() bool { return c.pos >= c.n && c.eof }

func (c *cursor[T]) close() error {
	if c.file == nil {
		return nil
	}
	err := errors.Join(c.r.Close(), c.file.Close())
	c.file = nil
	return err
}

// mergeIter merges cursors with a binary heap, skipping rows whose natural
// key equals the last row yielded.
type mergeIter[T any] struct {
	k       rowKind[T]
	cursors []*cursor[T]
	heap    []*cursor[T]
	last    T
	hasLast bool
}

func (m *mergeIter[T]) less(i, j int) bool {
	return m.k.compare(m.heap[i].head(), m.heap[j].head()) < 0
}

func (m *mergeIter[T]) init() {
	for _, c := range m.cursors {
		if !c.done() {
			m.heap = append(m.heap, c)
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
}

func (m *mergeIter[T]) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(m.heap) {
			return
		}
		j := l
		if r := l + 1; r < len(m.heap) && m.less(r, l) {
			j = r
		}
		if !m.less(j, i) {
			return
		}
		m.heap[i], m.heap[j] = m.heap[j], m.heap[i]
		i = j
	}
}

func (m *mergeIter[T]) next(dst []T) (int, error) {
	n := 0
	for n < len(dst) && len(m.heap) > 0 {
		c := m.heap[0]
		row := c.head()
		if !m.hasLast || !m.k.sameKey(&m.last, row) {
			dst[n] = *row
			m.last, m.hasLast = *row, true
			n++
		}
		c.pos++
		if err := c.fill(); err != nil {
			return n, err
		}
		if c.done() {
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		}
		if len(m.heap) > 0 {
			m.down(0)
		}
	}
	if len(m.heap) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (m *mergeIter[T]) close() error {
	var errs []error
	for _, c := range m.cursors {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

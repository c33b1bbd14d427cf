package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// NewLake adapts an open lake to what ingest needs. Data files are written
// with the lake's defaults (see lake.WriteOptions) unless w says otherwise,
// always with zstd's fastest level (FastCompression): ingest's files are
// small and short-lived, and compaction rewrites them at the default level.
func NewLake(l *lake.Lake, w ...lake.WriteOptions) Lake {
	a := &lakeAdapter{l: l}
	if len(w) > 0 {
		a.w = w[0]
	}
	a.w.FastCompression = true
	return a
}

type lakeAdapter struct {
	l *lake.Lake
	w lake.WriteOptions
}

func (a *lakeAdapter) Table(ctx context.Context, t *schema.Table) (LakeTable, error) {
	dt, err := a.l.Table(ctx, t)
	if err != nil {
		return nil, err
	}
	return &lakeTable{l: a.l, w: a.w, desc: t, dt: dt}, nil
}

// lakeTable keeps the newest snapshot it knows as the base of its next
// commit; a stale base is fine (Commit checks the commits since).
type lakeTable struct {
	l    *lake.Lake
	w    lake.WriteOptions
	desc *schema.Table
	dt   *delta.Table

	mu   sync.Mutex
	base *delta.Snapshot
}

func (t *lakeTable) latest(ctx context.Context) (*delta.Snapshot, error) {
	t.mu.Lock()
	base := t.base
	t.mu.Unlock()
	var (
		s   *delta.Snapshot
		err error
	)
	if base != nil {
		s, err = t.dt.Update(ctx, base)
	} else {
		s, err = t.dt.Snapshot(ctx)
	}
	if err != nil {
		return nil, err
	}
	t.setBase(s)
	return s, nil
}

func (t *lakeTable) setBase(s *delta.Snapshot) {
	t.mu.Lock()
	if t.base == nil || s.Version() > t.base.Version() {
		t.base = s
	}
	t.mu.Unlock()
}

func (t *lakeTable) TxnVersions(ctx context.Context) (map[string]int64, error) {
	s, err := t.latest(ctx)
	if err != nil {
		return nil, err
	}
	return s.Txns(), nil
}

func (t *lakeTable) WriteFiles(ctx context.Context, dt schema.Date, rows any) ([]File, error) {
	var (
		adds []delta.Add
		n    int64
		err  error
	)
	switch rs := rows.(type) {
	case [][]schema.PosLineRow:
		adds, n, err = writeChunks(ctx, t, dt, rs)
	case [][]schema.InventoryRow:
		adds, n, err = writeChunks(ctx, t, dt, rs)
	case [][]schema.POLineRow:
		adds, n, err = writeChunks(ctx, t, dt, rs)
	case [][]schema.ItemLocationRow:
		adds, n, err = writeChunks(ctx, t, dt, rs)
	case [][]schema.PromotionRow:
		adds, n, err = writeChunks(ctx, t, dt, rs)
	case [][]schema.RejectRow:
		adds, n, err = writeChunks(ctx, t, dt, rs)
	default:
		return nil, fmt.Errorf("table %s: cannot write rows of type %T", t.desc.Name, rows)
	}
	if err != nil {
		return nil, err
	}
	files := make([]File, len(adds))
	for k, a := range adds {
		files[k] = File{Action: a, Path: a.Path, Bytes: a.Size}
	}
	if len(files) > 0 {
		files[0].Rows = n // the rows of the date, for metrics
	}
	return files, nil
}

// writeChunks streams chunks through one lake table writer, freeing each
// chunk once it is encoded.
func writeChunks[T any](ctx context.Context, t *lakeTable, dt schema.Date, chunks [][]T) ([]delta.Add, int64, error) {
	w, err := lake.NewTableWriter[T](t.l, t.desc, dt, t.w)
	if err != nil {
		return nil, 0, err
	}
	var n int64
	for k := range chunks {
		if err := w.Write(ctx, chunks[k]); err != nil {
			return nil, 0, err
		}
		n += int64(len(chunks[k]))
		chunks[k] = nil
	}
	adds, err := w.Close(ctx)
	return adds, n, err
}

func (t *lakeTable) Commit(ctx context.Context, c Commit) (int64, error) {
	base, err := t.current(ctx)
	if err != nil {
		return 0, err
	}
	txn := delta.Txn{Isolation: delta.Append, Operation: "STREAMING UPDATE", Info: c.Info}
	for _, f := range c.Files {
		a, ok := f.Action.(delta.Add)
		if !ok {
			return 0, fmt.Errorf("table %s: file %s has no delta add action", t.desc.Name, f.Path)
		}
		txn.Adds = append(txn.Adds, a)
	}
	for _, f := range c.Fences {
		txn.Fences = append(txn.Fences, delta.FenceRange{AppID: f.AppID, From: f.From, To: f.To, First: f.First})
	}
	res, err := t.dt.Commit(ctx, base, txn)
	if err != nil {
		if errors.Is(err, delta.ErrFenced) {
			t.clearBase()
			return 0, fmt.Errorf("%w: %w", ErrFenced, err)
		}
		t.clearBase()
		return 0, err
	}
	t.setBase(res.Snapshot)
	return res.Version, nil
}

// current returns the base for the next commit, loading it if unknown.
func (t *lakeTable) current(ctx context.Context) (*delta.Snapshot, error) {
	t.mu.Lock()
	base := t.base
	t.mu.Unlock()
	if base != nil {
		return base, nil
	}
	return t.latest(ctx)
}

func (t *lakeTable) clearBase() {
	t.mu.Lock()
	t.base = nil
	t.mu.Unlock()
}

package compact

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// worldLoad writes a generated world into a lake's raw tables the way
// ingest does: rows are buffered per table and dt and flushed into a small
// file each every FlushEvery of world time, appended in commits of
// CommitFiles files. It is the benchmark's (and the tests') stand-in for a
// day of live ingest, without Kafka.
type worldLoad struct {
	Config world.Config
	// FlushEvery is the world-time window per file. Default 30 s.
	FlushEvery time.Duration
	// CommitFiles is the number of files per append commit. Default 500.
	CommitFiles int
	// ResendEvery, when > 0, sends every n-th POS transaction again one
	// window later (a producer's resend: same transaction_id and lines, new
	// offset and ingest time).
	ResendEvery int
	// TruthDir receives the generator's ground truth (required).
	TruthDir string
}

// loadStats counts what a worldLoad wrote.
type loadStats struct {
	Rows    map[string]int64 // rows per table, resends included
	Files   map[string]int
	Bytes   map[string]int64
	Resent  int64 // POS lines sent twice
	Summary *world.Summary
}

// loader is the world.Sink that turns records into rows and files.
type loader struct {
	l       *lake.Lake
	o       worldLoad
	tables  map[string]*delta.Table
	windowE int64 // end of the current window, Unix seconds
	offsets map[string]int64
	txns    int

	pos    map[schema.Date][]schema.PosLineRow
	inv    map[schema.Date][]schema.InventoryRow
	po     map[schema.Date][]schema.POLineRow
	items  map[schema.Date][]schema.ItemLocationRow
	promos map[schema.Date][]schema.PromotionRow
	resend []schema.PosLineRow // to send in the next window

	pending map[string][]delta.Add
	stats   loadStats
}

func loadWorld(ctx context.Context, l *lake.Lake, o worldLoad) (loadStats, error) {
	if o.FlushEvery == 0 {
		o.FlushEvery = 30 * time.Second
	}
	if o.CommitFiles == 0 {
		o.CommitFiles = 500
	}
	w, err := world.New(o.Config)
	if err != nil {
		return loadStats{}, err
	}
	ld := &loader{
		l: l, o: o, tables: map[string]*delta.Table{}, offsets: map[string]int64{},
		pending: map[string][]delta.Add{},
		stats:   loadStats{Rows: map[string]int64{}, Files: map[string]int{}, Bytes: map[string]int64{}},
	}
	ld.reset()
	for _, t := range schema.Tables() {
		dt, err := l.Table(ctx, t)
		if err != nil {
			return loadStats{}, err
		}
		ld.tables[t.Name] = dt
	}
	sum, err := w.Generate(ctx, world.GenerateOptions{Sink: ld, TruthDir: o.TruthDir, Workers: runtime.GOMAXPROCS(0)})
	if err != nil {
		return loadStats{}, fmt.Errorf("generate world: %w", err)
	}
	if err := ld.flushWindow(ctx); err != nil {
		return loadStats{}, err
	}
	if len(ld.resend) > 0 {
		ld.takeResends()
		if err := ld.flushWindow(ctx); err != nil {
			return loadStats{}, err
		}
	}
	for name := range ld.pending {
		if err := ld.commit(ctx, name); err != nil {
			return loadStats{}, err
		}
	}
	ld.stats.Summary = sum
	return ld.stats, nil
}

func (ld *loader) reset() {
	ld.pos = map[schema.Date][]schema.PosLineRow{}
	ld.inv = map[schema.Date][]schema.InventoryRow{}
	ld.po = map[schema.Date][]schema.POLineRow{}
	ld.items = map[schema.Date][]schema.ItemLocationRow{}
	ld.promos = map[schema.Date][]schema.PromotionRow{}
}

// Write decodes records into the current window's buffers, flushing the
// window first when a record's time passes its end.
func (ld *loader) Write(ctx context.Context, recs []world.Record) error {
	for _, r := range recs {
		off := ld.offsets[r.Topic]
		ld.offsets[r.Topic] = off + 1
		var at time.Time
		switch r.Topic {
		case schema.TopicPOS:
			tx, err := schema.DecodePOS(r.Value)
			if err != nil {
				return err
			}
			at = tx.EventTime
			if err := ld.advance(ctx, at); err != nil {
				return err
			}
			src := schema.Source{Offset: off, IngestedAt: at.Add(time.Second).UTC()}
			n := len(ld.pos[tx.BusinessDate])
			ld.pos[tx.BusinessDate] = tx.AppendRows(ld.pos[tx.BusinessDate], src)
			if ld.o.ResendEvery > 0 && off%int64(ld.o.ResendEvery) == 0 {
				ld.resend = append(ld.resend, ld.pos[tx.BusinessDate][n:]...)
			}
		case schema.TopicInventory:
			rec, err := schema.DecodeInventory(r.Value)
			if err != nil {
				return err
			}
			if err := ld.advance(ctx, rec.AsOf); err != nil {
				return err
			}
			row := rec.AppendRows(nil, schema.Source{Offset: off, IngestedAt: rec.AsOf.Add(time.Second).UTC()})[0]
			ld.inv[row.BusinessDate] = append(ld.inv[row.BusinessDate], row)
		case schema.TopicPurchaseOrder:
			rec, err := schema.DecodePurchaseOrder(r.Value)
			if err != nil {
				return err
			}
			if err := ld.advance(ctx, rec.UpdatedAt); err != nil {
				return err
			}
			row := rec.AppendRows(nil, schema.Source{Offset: off, IngestedAt: rec.UpdatedAt.Add(time.Second).UTC()})[0]
			ld.po[row.BusinessDate] = append(ld.po[row.BusinessDate], row)
		case schema.TopicItemLocation:
			rec, err := schema.DecodeItemLocation(r.Value)
			if err != nil {
				return err
			}
			if err := ld.advance(ctx, rec.UpdatedAt); err != nil {
				return err
			}
			row := rec.AppendRows(nil, schema.Source{Offset: off, IngestedAt: rec.UpdatedAt.Add(time.Second).UTC()})[0]
			ld.items[row.BusinessDate] = append(ld.items[row.BusinessDate], row)
		case schema.TopicPromotion:
			rec, err := schema.DecodePromotion(r.Value)
			if err != nil {
				return err
			}
			if err := ld.advance(ctx, rec.UpdatedAt); err != nil {
				return err
			}
			row := rec.AppendRows(nil, schema.Source{Offset: off, IngestedAt: rec.UpdatedAt.Add(time.Second).UTC()})[0]
			ld.promos[row.BusinessDate] = append(ld.promos[row.BusinessDate], row)
		default:
			return fmt.Errorf("unknown topic %s", r.Topic)
		}
	}
	return nil
}

// Flush is a no-op: files are written per window.
func (ld *loader) Flush(context.Context) error { return nil }

// advance flushes the window when at is past its end.
func (ld *loader) advance(ctx context.Context, at time.Time) error {
	s := at.Unix()
	if ld.windowE != 0 && s < ld.windowE {
		return nil
	}
	win := int64(ld.o.FlushEvery / time.Second)
	if win <= 0 {
		win = 1
	}
	if ld.windowE != 0 {
		if err := ld.flushWindow(ctx); err != nil {
			return err
		}
		ld.takeResends()
	}
	ld.windowE = (s/win + 1) * win
	return nil
}

// takeResends moves the resends of the previous window into the buffers,
// with new offsets and ingest times.
func (ld *loader) takeResends() {
	for _, r := range ld.resend {
		r.SrcOffset = ld.offsets[schema.TopicPOS]
		ld.offsets[schema.TopicPOS]++
		r.IngestedAt = r.IngestedAt.Add(ld.o.FlushEvery)
		ld.pos[r.BusinessDate] = append(ld.pos[r.BusinessDate], r)
		ld.stats.Resent++
	}
	ld.resend = ld.resend[:0]
}

// flushWindow writes one file per table and dt buffered, concurrently, and
// commits when enough files are pending.
func (ld *loader) flushWindow(ctx context.Context) error {
	var (
		mu sync.Mutex
		g  errgroup.Group
	)
	g.SetLimit(runtime.GOMAXPROCS(0))
	collect := func(table string, rows int, adds []delta.Add) {
		mu.Lock()
		defer mu.Unlock()
		ld.pending[table] = append(ld.pending[table], adds...)
		ld.stats.Rows[table] += int64(rows)
		ld.stats.Files[table] += len(adds)
		for _, a := range adds {
			ld.stats.Bytes[table] += a.Size
		}
	}
	wo := lake.WriteOptions{FastCompression: true}
	writeAll(ctx, &g, ld.l, schema.TablePOSLines(), ld.pos, wo, collect)
	writeAll(ctx, &g, ld.l, schema.TableInventorySnapshots(), ld.inv, wo, collect)
	writeAll(ctx, &g, ld.l, schema.TablePurchaseOrderLines(), ld.po, wo, collect)
	writeAll(ctx, &g, ld.l, schema.TableItemLocations(), ld.items, wo, collect)
	writeAll(ctx, &g, ld.l, schema.TablePromotions(), ld.promos, wo, collect)
	if err := g.Wait(); err != nil {
		return err
	}
	ld.reset()
	for name, adds := range ld.pending {
		if len(adds) >= ld.o.CommitFiles {
			if err := ld.commit(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeAll[T any](ctx context.Context, g *errgroup.Group, l *lake.Lake, t *schema.Table, parts map[schema.Date][]T, wo lake.WriteOptions, collect func(string, int, []delta.Add)) {
	for d, rows := range parts {
		if len(rows) == 0 {
			continue
		}
		g.Go(func() error {
			adds, err := lake.WriteFiles(ctx, l, t, d, rows, wo)
			if err != nil {
				return err
			}
			collect(t.Name, len(rows), adds)
			return nil
		})
	}
}

// commit appends the table's pending files.
func (ld *loader) commit(ctx context.Context, table string) error {
	adds := ld.pending[table]
	if len(adds) == 0 {
		return nil
	}
	dt := ld.tables[table]
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return err
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "STREAMING UPDATE"}); err != nil {
		return fmt.Errorf("append to %s: %w", table, err)
	}
	ld.pending[table] = nil
	ld.txns++
	return nil
}

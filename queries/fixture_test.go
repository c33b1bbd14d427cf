package queries

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if fixtureDir != "" {
			os.RemoveAll(fixtureDir)
		}
		os.Exit(code)
	}))
}

// The shared fixture: a generated world (3 stores, 20 SKUs, 40 days, 1%
// malformed records) decoded into lake rows and written into a local lake
// in fixtureBatches commits per table, each a block of days, committed
// an hour apart from fixtureClock. Two inventory reports are altered to
// simulate shrink and a miscount (see alterStock), so that inventory
// accuracy has something to find.
const (
	fixtureBatches = 4
	fixtureDays    = 40
)

var fixtureClock = time.Date(2026, time.June, 1, 8, 0, 0, 0, time.UTC)

type fixture struct {
	lakeDir string
	w       *world.World
	first   schema.Date // first business day
	last    schema.Date // last business day
	pos     []schema.PosLineRow
	inv     []schema.InventoryRow
	po      []schema.POLineRow
	items   []schema.ItemLocationRow
	promos  []schema.PromotionRow
	rejects []schema.RejectRow
	// versions[table][v] is version v of a table: its commit time and the
	// last business day it holds (version 0 creates the table, empty).
	versions map[string][]fixtureVersion
	// altered are the inventory reports alterStock changed.
	altered []alteration
	// resent counts the POS lines written twice (a producer's resend).
	resent int
}

type fixtureVersion struct {
	committed time.Time
	lastDay   schema.Date
}

type alteration struct {
	store, sku string
	day        schema.Date
	delta      int64
}

var (
	fixtureOnce sync.Once
	theFixture  *fixture
	fixtureErr  error
	fixtureDir  string
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "queries-test-")
		if fixtureErr == nil {
			theFixture, fixtureErr = buildFixture(context.Background(), fixtureDir)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return theFixture
}

func buildFixture(ctx context.Context, dir string) (*fixture, error) {
	w, err := world.New(world.Config{Seed: 7, Stores: 3, SKUs: 20, Days: fixtureDays})
	if err != nil {
		return nil, err
	}
	sink := &world.MemSink{}
	if _, err := w.Generate(ctx, world.GenerateOptions{Sink: sink, TruthDir: filepath.Join(dir, "truth"), BadRate: 0.01, Workers: 2}); err != nil {
		return nil, err
	}
	f := &fixture{lakeDir: filepath.Join(dir, "lake"), w: w, first: w.Date(0), last: w.Date(fixtureDays - 1)}
	if err := f.decode(sink.Records); err != nil {
		return nil, err
	}
	if err := f.alterStock(); err != nil {
		return nil, err
	}
	if err := f.write(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// decode turns the records into lake rows as ingest would: valid records
// into their table's rows, malformed ones into rejects.
func (f *fixture) decode(recs []world.Record) error {
	var d schema.Decoder
	var rows schema.Rows
	offsets := map[string]int64{}
	ingested := fixtureClock.Add(-time.Hour)
	for _, r := range recs {
		off := offsets[r.Topic]
		offsets[r.Topic]++
		src := schema.Source{Partition: 0, Offset: off, IngestedAt: ingested.Add(time.Duration(off) * time.Millisecond)}
		err := rows.Append(&d, r.Topic, r.Value, src)
		if err != nil && !errors.As(err, new(*schema.DecodeError)) {
			return err
		}
		if err != nil {
			f.rejects = append(f.rejects, schema.RejectRow{
				Topic: r.Topic, Partition: 0, Offset: off, Key: r.Key, Value: r.Value,
				Error: err.Error(), Reason: schema.ReasonOf(err),
			})
		}
	}
	f.pos, f.inv, f.po, f.items, f.promos = rows.POS, rows.Inventory, rows.PO, rows.Items, rows.Promos
	// POS producers resend: every 40th transaction's lines arrive twice,
	// a minute later at other offsets.
	txn, prev := -1, ""
	for i, n := 0, len(f.pos); i < n; i++ {
		if f.pos[i].TransactionID != prev {
			txn, prev = txn+1, f.pos[i].TransactionID
		}
		if txn%40 == 0 {
			dup := f.pos[i]
			dup.SrcOffset += 1 << 40
			dup.IngestedAt = dup.IngestedAt.Add(time.Minute)
			f.pos = append(f.pos, dup)
			f.resent++
		}
	}
	// Rejects were received evenly through the days of the world (UTC).
	span := time.Duration(fixtureDays) * 24 * time.Hour
	for i := range f.rejects {
		at := f.first.Time().Add(span * time.Duration(i) / time.Duration(len(f.rejects))).Truncate(time.Second)
		f.rejects[i].ReceivedAt, f.rejects[i].BusinessDate = at, schema.DateOf(at)
	}
	if len(f.pos) == 0 || len(f.inv) == 0 || len(f.po) == 0 || len(f.items) == 0 || len(f.promos) == 0 || len(f.rejects) == 0 {
		return fmt.Errorf("world too small: %d pos lines, %d inventory, %d po, %d items, %d promotions, %d rejects",
			len(f.pos), len(f.inv), len(f.po), len(f.items), len(f.promos), len(f.rejects))
	}
	return nil
}

// alterStock changes two end-of-day reports: 3 units missing at a store on
// the last day (shrink), and 2 units too many counted at another store a
// week before (the start of inventory_accuracy's default window).
func (f *fixture) alterStock() error {
	change := func(store string, day schema.Date, delta int64) error {
		best := -1
		for i := range f.inv {
			r := &f.inv[i]
			if r.LocationID != store || r.BusinessDate != day || r.Kind != string(schema.SnapshotFull) || r.OnHand < 3 {
				continue
			}
			if best < 0 || r.AsOf.After(f.inv[best].AsOf) || r.AsOf.Equal(f.inv[best].AsOf) && r.SKU < f.inv[best].SKU {
				best = i
			}
		}
		if best < 0 {
			return fmt.Errorf("no end-of-day report of %s on %s with stock", store, day)
		}
		f.inv[best].OnHand += delta
		f.altered = append(f.altered, alteration{store: store, sku: f.inv[best].SKU, day: day, delta: delta})
		return nil
	}
	return errors.Join(change("S0002", f.last, -3), change("S0001", f.last.AddDays(-7), 2))
}

// write puts the rows into the lake: per table, one commit per batch of
// days (a file per dt), the commit clock one hour further each time.
func (f *fixture) write(ctx context.Context) error {
	var mu sync.Mutex
	tick := 0
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return fixtureClock.Add(time.Duration(tick) * time.Hour)
	}
	l, err := lake.Open(ctx, f.lakeDir, lake.Options{Delta: delta.Options{Now: clock}})
	if err != nil {
		return err
	}
	defer l.Close()
	type writer func(from, to schema.Date) (bool, error)
	tables := map[string]writer{
		schema.TableNamePOSLines: func(from, to schema.Date) (bool, error) {
			return writeBatch(ctx, l, schema.TablePOSLines(), f.pos, from, to)
		},
		schema.TableNameInventorySnapshots: func(from, to schema.Date) (bool, error) {
			return writeBatch(ctx, l, schema.TableInventorySnapshots(), f.inv, from, to)
		},
		schema.TableNamePurchaseOrderLines: func(from, to schema.Date) (bool, error) {
			return writeBatch(ctx, l, schema.TablePurchaseOrderLines(), f.po, from, to)
		},
		schema.TableNameItemLocations: func(from, to schema.Date) (bool, error) {
			return writeBatch(ctx, l, schema.TableItemLocations(), f.items, from, to)
		},
		schema.TableNamePromotions: func(from, to schema.Date) (bool, error) {
			return writeBatch(ctx, l, schema.TablePromotions(), f.promos, from, to)
		},
		schema.TableNameRejects: func(from, to schema.Date) (bool, error) {
			return writeBatch(ctx, l, schema.TableRejects(), f.rejects, from, to)
		},
	}
	f.versions = map[string][]fixtureVersion{}
	for _, t := range rawTables() { // version 0: the tables are created
		if _, err := l.Table(ctx, t); err != nil {
			return err
		}
		f.versions[t.Name] = []fixtureVersion{{committed: fixtureClock, lastDay: f.first.AddDays(-1)}}
	}
	per := fixtureDays / fixtureBatches
	for b := range fixtureBatches {
		mu.Lock()
		tick = b + 1
		mu.Unlock()
		from, to := f.first.AddDays(b*per), f.first.AddDays((b+1)*per-1)
		if b == 0 {
			from = schema.NewDate(1900, 1, 1)
		}
		if b == fixtureBatches-1 {
			to = schema.NewDate(2200, 1, 1)
		}
		for name, write := range tables {
			ok, err := write(from, to)
			if err != nil {
				return err
			}
			if ok {
				f.versions[name] = append(f.versions[name], fixtureVersion{committed: clock(), lastDay: min(to, f.last)})
			}
		}
	}
	return nil
}

// rawTables are the tables ingest writes, which the fixture fills (later
// stages' tables, once this build defines them, stay absent).
func rawTables() []*schema.Table {
	return []*schema.Table{
		schema.TablePOSLines(), schema.TableInventorySnapshots(), schema.TablePurchaseOrderLines(),
		schema.TableItemLocations(), schema.TablePromotions(), schema.TableRejects(),
	}
}

// dated is a row type with its dt.
type dated interface{ PartitionDate() schema.Date }

// writeBatch commits the rows of t whose dt is in [from, to]: one file per
// dt, one commit; no commit (false) when there are none.
func writeBatch[T any, PT interface {
	*T
	dated
}](ctx context.Context, l *lake.Lake, t *schema.Table, rows []T, from, to schema.Date) (bool, error) {
	byDay := map[schema.Date][]T{}
	for i := range rows {
		d := PT(&rows[i]).PartitionDate()
		if d >= from && d <= to {
			byDay[d] = append(byDay[d], rows[i])
		}
	}
	days := make([]schema.Date, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	var adds []delta.Add
	for _, d := range days {
		a, err := lake.WriteFiles(ctx, l, t, d, byDay[d], lake.WriteOptions{})
		if err != nil {
			return false, err
		}
		adds = append(adds, a...)
	}
	if len(adds) == 0 {
		return false, nil
	}
	dt, err := l.Table(ctx, t)
	if err != nil {
		return false, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return false, err
	}
	_, err = dt.Commit(ctx, snap, delta.Txn{Adds: adds})
	return err == nil, err
}

// openSession opens a session over the fixture lake, closed at the end of
// the test.
func openSession(t testing.TB, f *fixture, opts Options) *Session {
	t.Helper()
	l, err := lake.Open(t.Context(), f.lakeDir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), l, opts)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		l.Close()
	})
	return s
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// ReplayOptions configure ReplayRejects.
type ReplayOptions struct {
	// Lake holds the rejects and the tables the rejects go to (required).
	Lake *lake.Lake
	// Group is the ingest consumer group; the replay's own txn appIds are
	// "<group>/replay/<topic>".
	Group  string
	Topics Topics
	// From and To bound the rejects replayed by when ingest received them:
	// From <= received_at < To. A zero side is open.
	From, To time.Time
	// DryRun re-validates and reports without writing.
	DryRun bool
	Logger *slog.Logger
	Now    func() time.Time

	// rewrite, in tests, changes a reject's bytes before decoding (the
	// "fix" being replayed).
	rewrite func(topic string, value []byte) []byte
}

// ReplayReport says what a replay did.
type ReplayReport struct {
	// Examined rejects were in the time range.
	Examined int `json:"examined"`
	// StillFailing rejects do not pass validation now either, by reason.
	StillFailing map[string]int `json:"still_failing"`
	// Passed rejects now decode; of those, Ingested were written now and
	// AlreadyIngested were written by an earlier replay.
	Passed          int `json:"passed"`
	Ingested        int `json:"ingested"`
	AlreadyIngested int `json:"already_ingested"`
	// Deferred rejects now pass but lie at offsets their data table has
	// not committed past (ingest stopped between the rejects commit and
	// the data commit of one flush): the ingester reads them again when
	// it resumes and decides them itself, so the replay leaves them.
	Deferred int `json:"deferred"`
	// Rows written per table.
	Rows map[string]int64 `json:"rows"`
}

// ReplayRejects re-validates the rejects received in [From, To) with the
// decoders of this build and ingests, once, those that now pass: their rows
// go to their table with the source partition and offset of the original
// record, so a replayed record is traceable and never written twice. The
// rejects table keeps them (it is the history of what failed).
//
// Once: every replay commit of a table carries a fence on
// "<group>/replay/<topic>", a counter of replays, and before committing
// the replay drops the records whose (src_partition, src_offset) the table
// already holds in the snapshot the fence was read from. Two replays racing
// cannot both commit (the loser re-reads and finds the winner's rows), and
// ingest itself never writes a record it rejected. A reject at an offset
// the data table has not committed past (ingest stopped between the two
// tables' commits of one flush) is left to the ingester, which reads it
// again on resuming (ReplayReport.Deferred): replaying it too would write
// it twice.
func ReplayRejects(ctx context.Context, o ReplayOptions) (ReplayReport, error) {
	rep := ReplayReport{StillFailing: map[string]int{}, Rows: map[string]int64{}}
	if o.Lake == nil {
		return rep, errors.New("replay: no lake")
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	o.Topics = o.Topics.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rejects, err := readRejects(ctx, o)
	if err != nil {
		return rep, err
	}
	rep.Examined = len(rejects)
	byTopic := map[string][]schema.RejectRow{}
	for _, r := range rejects {
		byTopic[r.Topic] = append(byTopic[r.Topic], r)
	}
	now := o.Now().UTC()
	var dec schema.Decoder
	steps := []struct {
		topic string
		run   func([]schema.RejectRow) error
	}{
		{o.Topics.POS, func(rs []schema.RejectRow) error {
			return replayTable(ctx, o, &rep, schema.TablePOSLines(), o.Topics.POS, rs, now,
				func(b []byte, src schema.Source) ([]schema.PosLineRow, error) {
					v, err := dec.POS(b)
					if err != nil {
						return nil, err
					}
					return v.AppendRows(nil, src), nil
				},
				func(r *schema.PosLineRow) (int32, int64) { return r.SrcPartition, r.SrcOffset })
		}},
		{o.Topics.Inventory, func(rs []schema.RejectRow) error {
			return replayTable(ctx, o, &rep, schema.TableInventorySnapshots(), o.Topics.Inventory, rs, now,
				func(b []byte, src schema.Source) ([]schema.InventoryRow, error) {
					v, err := dec.Inventory(b)
					if err != nil {
						return nil, err
					}
					return v.AppendRows(nil, src), nil
				},
				func(r *schema.InventoryRow) (int32, int64) { return r.SrcPartition, r.SrcOffset })
		}},
		{o.Topics.PurchaseOrder, func(rs []schema.RejectRow) error {
			return replayTable(ctx, o, &rep, schema.TablePurchaseOrderLines(), o.Topics.PurchaseOrder, rs, now,
				func(b []byte, src schema.Source) ([]schema.POLineRow, error) {
					v, err := dec.PurchaseOrder(b)
					if err != nil {
						return nil, err
					}
					return v.AppendRows(nil, src), nil
				},
				func(r *schema.POLineRow) (int32, int64) { return r.SrcPartition, r.SrcOffset })
		}},
		{o.Topics.ItemLocation, func(rs []schema.RejectRow) error {
			return replayTable(ctx, o, &rep, schema.TableItemLocations(), o.Topics.ItemLocation, rs, now,
				func(b []byte, src schema.Source) ([]schema.ItemLocationRow, error) {
					v, err := dec.ItemLocation(b)
					if err != nil {
						return nil, err
					}
					return v.AppendRows(nil, src), nil
				},
				func(r *schema.ItemLocationRow) (int32, int64) { return r.SrcPartition, r.SrcOffset })
		}},
		{o.Topics.Promotion, func(rs []schema.RejectRow) error {
			return replayTable(ctx, o, &rep, schema.TablePromotions(), o.Topics.Promotion, rs, now,
				func(b []byte, src schema.Source) ([]schema.PromotionRow, error) {
					v, err := dec.Promotion(b)
					if err != nil {
						return nil, err
					}
					return v.AppendRows(nil, src), nil
				},
				func(r *schema.PromotionRow) (int32, int64) { return r.SrcPartition, r.SrcOffset })
		}},
	}
	for _, s := range steps {
		if rs := byTopic[s.topic]; len(rs) > 0 {
			if err := s.run(rs); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// readRejects reads the rejects received in [From, To).
func readRejects(ctx context.Context, o ReplayOptions) ([]schema.RejectRow, error) {
	dt, err := o.Lake.Table(ctx, schema.TableRejects())
	if err != nil {
		return nil, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// dt is the UTC date of received_at: prune by it.
	var from, to string
	if !o.From.IsZero() {
		from = schema.DateOf(o.From.UTC()).String()
	}
	if !o.To.IsZero() {
		to = schema.DateOf(o.To.UTC()).String()
	}
	var out []schema.RejectRow
	for _, f := range snap.FilesInRange(schema.PartitionColumn, from, to) {
		rows, err := lake.ReadRows[schema.RejectRow](ctx, o.Lake, f.Key)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if (o.From.IsZero() || !r.ReceivedAt.Before(o.From)) && (o.To.IsZero() || r.ReceivedAt.Before(o.To)) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

type srcKey struct {
	partition int32
	offset    int64
}

// replayTable re-decodes one topic's rejects and commits those that pass,
// once, to their table.
func replayTable[T any](ctx context.Context, o ReplayOptions, rep *ReplayReport, desc *schema.Table, topic string,
	rejects []schema.RejectRow, now time.Time,
	decode func([]byte, schema.Source) ([]T, error), srcOf func(*T) (int32, int64)) error {
	if _, ok := any(new(T)).(interface{ PartitionDate() schema.Date }); !ok {
		return fmt.Errorf("replay into %s: rows of type %T have no partition date", desc.Name, *new(T))
	}
	type candidate struct {
		key  srcKey
		rows []T
	}
	var cands []candidate
	for _, r := range rejects {
		v := r.Value
		if o.rewrite != nil {
			v = o.rewrite(topic, v)
		}
		rows, err := decode(v, schema.Source{Partition: r.Partition, Offset: r.Offset, IngestedAt: now})
		if err != nil {
			rep.StillFailing[schema.ReasonOf(err)]++
			continue
		}
		rep.Passed++
		cands = append(cands, candidate{srcKey{r.Partition, r.Offset}, rows})
	}
	if len(cands) == 0 || o.DryRun {
		return nil
	}
	dtab, err := o.Lake.Table(ctx, desc)
	if err != nil {
		return err
	}
	lt := &lakeTable{l: o.Lake, w: lake.WriteOptions{FastCompression: true}, desc: desc, dt: dtab}
	app := o.Group + "/replay/" + topic
	for attempt := 1; ; attempt++ {
		snap, err := dtab.Snapshot(ctx)
		if err != nil {
			return err
		}
		have, err := heldSources(ctx, o.Lake, snap, cands, srcOf, func(c candidate) []T { return c.rows })
		if err != nil {
			return err
		}
		byDate := map[schema.Date][]T{}
		var fresh, rows, deferred int
		var dateOf func(*T) schema.Date
		for _, c := range cands {
			if have[c.key] {
				continue
			}
			// Only offsets the data table has passed are the replay's:
			// above its txn version the ingester will read the record
			// again, and write it if it passes then.
			if v, ok := snap.TxnVersion(AppID(o.Group, topic, c.key.partition)); !ok || c.key.offset >= v {
				deferred++
				continue
			}
			fresh++
			for k := range c.rows {
				if dateOf == nil {
					dateOf = partitionDateOf[T]()
				}
				dt := dateOf(&c.rows[k])
				byDate[dt] = append(byDate[dt], c.rows[k])
				rows++
			}
		}
		if fresh == 0 {
			rep.AlreadyIngested += len(cands) - deferred
			rep.Deferred += deferred
			return nil
		}
		var files []File
		for dt, rs := range byDate {
			fs, err := lt.WriteFiles(ctx, dt, [][]T{rs})
			if err != nil {
				return err
			}
			files = append(files, fs...)
		}
		v, ok := snap.TxnVersion(app)
		lt.setBase(snap)
		_, err = lt.Commit(ctx, Commit{
			Files:  files,
			Fences: []Fence{{AppID: app, From: v, To: v + 1, First: !ok}},
			Info:   map[string]any{InfoKey: map[string]any{"group": o.Group, "trigger": "replay", "records": fresh}},
		})
		if errors.Is(err, ErrFenced) && attempt < 5 {
			o.Logger.Info("replay raced another replay; retrying", "table", desc.Name)
			continue
		}
		if err != nil {
			return fmt.Errorf("replay into %s: %w", desc.Name, err)
		}
		rep.Ingested += fresh
		rep.AlreadyIngested += len(cands) - fresh - deferred
		rep.Deferred += deferred
		rep.Rows[desc.Name] += int64(rows)
		o.Logger.Info("rejects replayed", "table", desc.Name, "records", fresh, "rows", rows)
		return nil
	}
}

// partitionDateOf returns the dt accessor of a row type (every row type has
// a PartitionDate method on its pointer; replayTable checks).
func partitionDateOf[T any]() func(*T) schema.Date {
	return func(r *T) schema.Date {
		if d, ok := any(r).(interface{ PartitionDate() schema.Date }); ok {
			return d.PartitionDate()
		}
		return 0
	}
}

// heldSources returns which candidates' (src_partition, src_offset) the
// table already holds in snap, reading the files of the candidates' dates.
func heldSources[T, C any](ctx context.Context, l *lake.Lake, snap *delta.Snapshot, cands []C,
	srcOf func(*T) (int32, int64), rowsOf func(C) []T) (map[srcKey]bool, error) {
	want := map[srcKey]bool{}
	dates := map[string]bool{}
	dateOf := partitionDateOf[T]()
	for _, c := range cands {
		for _, r := range rowsOf(c) {
			p, off := srcOf(&r)
			want[srcKey{p, off}] = true
			dates[dateOf(&r).String()] = true
		}
	}
	type src struct {
		SrcPartition int32 `parquet:"src_partition"`
		SrcOffset    int64 `parquet:"src_offset"`
	}
	have := map[srcKey]bool{}
	files := snap.FilesWhere(func(pv map[string]string) bool { return dates[pv[schema.PartitionColumn]] })
	for _, f := range files {
		rows, err := lake.ReadRows[src](ctx, l, f.Key)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if k := (srcKey{r.SrcPartition, r.SrcOffset}); want[k] {
				have[k] = true
			}
		}
	}
	return have, nil
}

package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// InfoKey is the commitInfo field every ingest commit carries (see the
// package doc, "Watermarks").
const InfoKey = "shelflake.ingest"

// Watermark says how complete one table is for one source partition.
type Watermark struct {
	Table string `json:"table"`
	// Group is the consumer group whose txn appId (AppID) holds Offset.
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Offset: the table holds every record of the partition below it (its
	// txn version).
	Offset int64 `json:"offset"`
	// EventTime is the newest event time of the table's rows from the
	// partition, as the newest commit that recorded one says; zero when
	// unknown (no row yet, or older than the commits read).
	EventTime time.Time `json:"event_time"`
	// DrainedAt, when set, is a time before which every record the
	// partition received is below Offset: the ingester had consumed the
	// whole partition (its end offset listed then). Events are produced
	// after they happen, so the partition is complete up to DrainedAt
	// minus the lateness too, even when it has no new events.
	DrainedAt time.Time `json:"drained_at"`
	// CommittedAt is when the table's newest commit for the partition was
	// made.
	CommittedAt time.Time `json:"committed_at"`
}

// watermarkWalk bounds how many commits Watermarks reads back per table.
const watermarkWalk = 500

// AllGroups is the group argument of Watermarks that reads every consumer
// group's watermarks.
const AllGroups = ""

// Watermarks returns, for every table ingest writes and every source
// partition of consumer group `group` (every group the table's txn appIds
// name, "<group>/<topic>/<partition>", for AllGroups) that table has seen,
// the offset it is
// complete to (from the latest snapshot's txn versions) and the newest event
// time committed (from the commits' commitInfo, read newest first). Under
// the producers' per-partition ordering, a table is complete for a
// partition up to EventTime minus the allowed lateness; Complete folds that
// over partitions, in event time. It only reads: a table the lake does not have yet has
// no watermarks (and is not created).
func Watermarks(ctx context.Context, l *lake.Lake, group string) ([]Watermark, error) {
	var out []Watermark
	prefix := group + "/"
	for _, desc := range schema.Tables() {
		dt, err := l.ExistingTable(ctx, desc)
		if errors.Is(err, delta.ErrTableNotFound) {
			continue // nothing ingested into it yet: no watermark
		}
		if err != nil {
			return nil, err
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		want := map[string]*Watermark{} // by appId
		for app, v := range snap.Txns() {
			if group != AllGroups && !strings.HasPrefix(app, prefix) {
				continue
			}
			g, topic, p, ok := parseAppID(app)
			if !ok {
				continue // not an ingest appId (a replay's, ...)
			}
			want[app] = &Watermark{Table: desc.Name, Group: g, Topic: topic, Partition: p, Offset: v}
		}
		if err := walkWatermarks(ctx, dt, snap.Version(), want, desc.Name != schema.TableNameRejects); err != nil {
			return nil, fmt.Errorf("watermarks of %s: %w", desc.Name, err)
		}
		for _, w := range want {
			out = append(out, *w)
		}
	}
	slices.SortFunc(out, func(a, b Watermark) int {
		return cmpOrder(strings.Compare(a.Table, b.Table), strings.Compare(a.Group, b.Group),
			strings.Compare(a.Topic, b.Topic), int(a.Partition-b.Partition))
	})
	return out, nil
}

// parseAppID splits an AppID "<group>/<topic>/<partition>"; a topic has no
// "/", a group may.
func parseAppID(app string) (group, topic string, partition int32, ok bool) {
	k := strings.LastIndexByte(app, '/')
	if k < 0 {
		return "", "", 0, false
	}
	p, err := strconv.ParseInt(app[k+1:], 10, 32)
	if err != nil || p < 0 {
		return "", "", 0, false
	}
	j := strings.LastIndexByte(app[:k], '/')
	if j <= 0 || j+1 == k {
		return "", "", 0, false
	}
	return app[:j], app[j+1 : k], int32(p), true
}

func cmpOrder(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// walkWatermarks reads commits from version down, filling CommittedAt and
// (with events) EventTime of want (keyed by appId, from the commitInfo's
// group, topic and partition) from the first commit that has them.
func walkWatermarks(ctx context.Context, dt *delta.Table, version int64, want map[string]*Watermark, events bool) error {
	left := len(want)
	need := func(w *Watermark) bool { return w.CommittedAt.IsZero() || events && w.EventTime.IsZero() }
	for v := version; v >= 0 && version-v < watermarkWalk && left > 0; v-- {
		info, err := readCommitInfo(ctx, dt, v)
		if errors.Is(err, objstore.ErrNotExist) {
			break // cleaned up: older commits are gone
		}
		if err != nil {
			return err
		}
		at, _ := info.Timestamp()
		ing, _ := info[InfoKey].(map[string]any)
		group, _ := ing["group"].(string)
		wms, _ := ing["watermarks"].([]any)
		for _, x := range wms {
			m, _ := x.(map[string]any)
			topic, _ := m["topic"].(string)
			part, _ := m["partition"].(json.Number)
			w := want[group+"/"+topic+"/"+part.String()]
			if w == nil || !need(w) {
				continue
			}
			if w.CommittedAt.IsZero() {
				w.CommittedAt = at
			}
			if s, ok := m["eventTime"].(string); ok && w.EventTime.IsZero() {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					w.EventTime = t
				}
			}
			if s, ok := m["drainedAt"].(string); ok && w.DrainedAt.IsZero() {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					w.DrainedAt = t
				}
			}
			if !need(w) {
				left--
			}
		}
	}
	return nil
}

func readCommitInfo(ctx context.Context, dt *delta.Table, v int64) (delta.CommitInfo, error) {
	key := dt.Prefix() + "_delta_log/" + fmt.Sprintf("%020d.json", v)
	r, err := dt.Bucket().Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	acts, err := delta.DecodeActions(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	for _, a := range acts {
		if a.CommitInfo != nil {
			return a.CommitInfo, nil
		}
	}
	return delta.CommitInfo{}, nil
}

// MarkDrained sets DrainedAt to at for every watermark whose table holds
// its whole partition: ends (topic → partition → end offset) were listed
// from the brokers at at, and the watermark's Offset reached them. The
// commits only record drained partitions when they commit; a partition
// that went quiet after its last commit is drained as of now.
func MarkDrained(ws []Watermark, ends map[string]map[int32]int64, at time.Time) {
	for k := range ws {
		w := &ws[k]
		if end, ok := ends[w.Topic][w.Partition]; ok && w.Offset >= end && at.After(w.DrainedAt) {
			w.DrainedAt = at
		}
	}
}

// Complete returns, per table, the event time up to which the table is
// complete: the newest event time T such that every partition of the table
// has committed every record with an event time ≤ T it will ever receive.
// It is an event time only, never a reading of the wall clock:
//
//   - a partition not known to be drained is complete up to its newest
//     event time minus lateness (how late producers may send an event):
//     records arrive in event-time order per partition, up to lateness;
//   - a drained partition has committed everything it received; what it
//     receives later happens after DrainedAt, so it is complete up to the
//     later of its newest event time and DrainedAt, minus lateness (a quiet
//     partition does not hold its table back);
//   - the table is complete up to the minimum of those over its partitions,
//     but never later than the newest event time it holds (the maximum of
//     its partitions' EventTime): a table whose newest event is last May is
//     not complete up to today, however recently it was drained.
//
// A table with a partition that has neither event time nor drain, or with
// no event time at all (rejects), is left out.
func Complete(ws []Watermark, lateness time.Duration) map[string]time.Time {
	type fold struct {
		upTo, newest time.Time
		unknown      bool
	}
	tables := map[string]*fold{}
	for _, w := range ws {
		f := tables[w.Table]
		if f == nil {
			f = &fold{}
			tables[w.Table] = f
		}
		if w.EventTime.After(f.newest) {
			f.newest = w.EventTime
		}
		upTo := w.EventTime
		if w.DrainedAt.After(upTo) {
			upTo = w.DrainedAt
		}
		if upTo.IsZero() {
			f.unknown = true
			continue
		}
		if t := upTo.Add(-lateness); f.upTo.IsZero() || t.Before(f.upTo) {
			f.upTo = t
		}
	}
	out := map[string]time.Time{}
	for table, f := range tables {
		if f.unknown || f.newest.IsZero() {
			continue
		}
		out[table] = f.upTo
		if f.newest.Before(f.upTo) {
			out[table] = f.newest
		}
	}
	return out
}

package ingest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
)

// The keep-or-reject decision of a record is made once. A record goes to
// its data table or to the rejects table, and the two tables commit
// separately, so a stop between their commits leaves one table ahead of
// the other; a build with a changed decoder must not decide again what the
// table ahead already recorded. Hence:
//
//   - the rejects table commits a partition's range before its data table
//     does (a data flush waits for the rejects flush sealed with it): after
//     any stop, the data table's txn version is at most the rejects
//     table's;
//   - on resuming, for offsets in [data txn, rejects txn) the rejects table
//     holds the verdict: an offset with a rejects row was rejected and is
//     not written to the data table whatever the decoder says now; an
//     offset without one was accepted, and is written if it decodes — if
//     this build's decoder refuses it, it becomes a rejects row (a late
//     one, committed before the data table passes the offset).
//
// A lake written by a build without this order may hold a data table ahead
// of its rejects table; those offsets are decided by the decoder, as they
// were.

// RejectReader reads what the rejects table holds of one partition.
// ingest's LakeTable for the rejects table implements it.
type RejectReader interface {
	// RejectedOffsets returns the offsets in [from, to) of topic's
	// partition that have a rejects row.
	RejectedOffsets(ctx context.Context, topic string, partition int32, from, to int64) (map[int64]bool, error)
}

// RejectedOffsets implements RejectReader: it reads the source columns of
// the files whose offset statistics overlap [from, to).
func (t *lakeTable) RejectedOffsets(ctx context.Context, topic string, partition int32, from, to int64) (map[int64]bool, error) {
	s, err := t.latest(ctx)
	if err != nil {
		return nil, err
	}
	type src struct {
		Topic     string `parquet:"topic"`
		Partition int32  `parquet:"partition"`
		Offset    int64  `parquet:"offset"`
	}
	out := map[int64]bool{}
	for _, f := range s.Files() {
		if !mayHoldOffsets(&f, from, to) {
			continue
		}
		rows, err := lake.ReadRows[src](ctx, t.l, f.Key)
		if err != nil {
			return nil, fmt.Errorf("read rejects file %s: %w", f.RelPath, err)
		}
		for _, r := range rows {
			if r.Topic == topic && r.Partition == partition && r.Offset >= from && r.Offset < to {
				out[r.Offset] = true
			}
		}
	}
	return out, nil
}

// mayHoldOffsets reports whether f's offset statistics (when it has them)
// overlap [from, to).
func mayHoldOffsets(f *delta.File, from, to int64) bool {
	st, err := f.ParseStats()
	if err != nil || st == nil {
		return true
	}
	lo, ok1 := st.MinValues["offset"].(json.Number)
	hi, ok2 := st.MaxValues["offset"].(json.Number)
	if !ok1 || !ok2 {
		return true
	}
	l, err1 := lo.Int64()
	h, err2 := hi.Int64()
	if err1 != nil || err2 != nil {
		return true
	}
	return h >= from && l < to
}

// loadVerdicts reads, for each partition of tps whose data table is behind
// its rejects table in vs, the offsets in between that were rejected.
func (i *Ingester) loadVerdicts(ctx context.Context, vs [numTables]map[string]int64, tps []tp) (map[tp]map[int64]bool, error) {
	rr, ok := i.tables[tableRejects].lake.(RejectReader)
	if !ok {
		return nil, nil
	}
	out := map[tp]map[int64]bool{}
	for _, k := range tps {
		ts := i.topics[k.topic]
		if ts == nil {
			continue
		}
		app := AppID(i.o.Group, k.topic, k.partition)
		data, rej := vs[ts.data][app], vs[tableRejects][app]
		if rej <= data {
			continue
		}
		m, err := rr.RejectedOffsets(ctx, k.topic, k.partition, data, rej)
		if err != nil {
			return nil, fmt.Errorf("rejected offsets of %s/%d: %w", k.topic, k.partition, err)
		}
		out[k] = m
		i.log.Info("resuming behind the rejects table: its verdicts stand", "topic", k.topic, "partition", k.partition,
			"from", data, "to", rej, "rejected", len(m))
	}
	return out, nil
}

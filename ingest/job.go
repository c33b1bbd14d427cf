package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/schema"
)

// In-memory sizes of the row structs, for the buffer estimate.
const (
	sizePosLine      = int64(unsafe.Sizeof(schema.PosLineRow{}))
	sizeInventory    = int64(unsafe.Sizeof(schema.InventoryRow{}))
	sizePOLine       = int64(unsafe.Sizeof(schema.POLineRow{}))
	sizeItemLocation = int64(unsafe.Sizeof(schema.ItemLocationRow{}))
	sizePromotion    = int64(unsafe.Sizeof(schema.PromotionRow{}))
	sizeReject       = int64(unsafe.Sizeof(schema.RejectRow{}))
)

// jobFence is one partition's range in a flush.
type jobFence struct {
	tp
	epoch    uint64
	from, to int64
	first    bool
	// event is the newest event time of the table's rows from this
	// partition below to.
	event time.Time
	// drainedAt, when set, is a time before which every record of the
	// partition was produced below to (the partition was drained).
	drainedAt time.Time
}

// pendingDLQ is a dead-letter record waiting for its flush.
type pendingDLQ struct {
	tp
	rec *kgo.Record
}

// job is one flush of one table: write its files, then (after the
// table's previous flush committed) produce its dead letters and commit
// files and fences in one Delta commit.
type job struct {
	t    *table
	prev *job
	// after is the rejects flush this data flush commits after (the
	// verdicts of its range are durable first; verdict.go).
	after  *job
	reason string
	fences []jobFence
	rows   sealedRows
	dlq    []pendingDLQ
	bytes  int64
	done   chan struct{}
	// failed is set (before done closes) when the job did not commit.
	failed bool
	// turn closes when the flush sealed before this one (of any table)
	// has a write slot for each of its dates; admitted closes when this
	// one has. Slots go to flushes in the order they were sealed, so
	// under a backlog of many flushes the oldest is written (and
	// committed) first instead of all of them progressing together and
	// none committing until the end.
	turn, admitted chan struct{}
}

var errPrevFailed = errors.New("previous flush of the table did not commit")

func (i *Ingester) runJob(j *job) {
	defer i.jobs.Done()
	ctx := i.jobCtx
	t := j.t
	start := time.Now()
	var once sync.Once
	admitted := func() { once.Do(func() { close(j.admitted) }) }
	if j.turn != nil {
		select {
		case <-j.turn:
		case <-ctx.Done():
		}
	}
	files, err := j.rows.write(ctx, t.lake, i.sem, admitted)
	admitted()
	j.rows = nil
	if err == nil && len(files) > 0 {
		t.flushDur.Observe(time.Since(start).Seconds())
	}
	// Commits of a table go in order: a later range starts where the
	// earlier ended, so it can only commit after it.
	for _, before := range []*job{j.prev, j.after} {
		if before != nil {
			<-before.done
			if err == nil && before.failed {
				err = errPrevFailed
			}
		}
	}
	if err == nil && len(j.dlq) > 0 {
		err = i.produceDLQ(ctx, j.dlq)
	}
	var version int64
	fenced := false
	if err == nil {
		cstart := time.Now()
		version, fenced, err = i.commit(ctx, j, files)
		t.commitDur.Observe(time.Since(cstart).Seconds())
	}
	i.finish(j, files, version, fenced, err)
}

// commit commits j, retrying errors that are not fencing. fenced reports a
// refusal by fencing. A retry refused by fencing is checked against the
// lake: if every fence's appId is at its To, an earlier attempt landed.
func (i *Ingester) commit(ctx context.Context, j *job, files []File) (version int64, fenced bool, err error) {
	c := Commit{Files: files, Info: i.commitInfo(j)}
	for _, f := range j.fences {
		c.Fences = append(c.Fences, Fence{AppID: AppID(i.o.Group, f.topic, f.partition), From: f.from, To: f.to, First: f.first})
	}
	for attempt := 1; ; attempt++ {
		if i.o.refuseCommit != nil && i.o.refuseCommit(j.t.desc.Name) {
			return 0, false, fmt.Errorf("commit %s: refused by the test", j.t.desc.Name)
		}
		version, err = j.t.lake.Commit(ctx, c)
		if err == nil {
			return version, false, nil
		}
		if errors.Is(err, ErrFenced) {
			if attempt > 1 && i.landed(ctx, j.t, c.Fences) {
				return -1, false, nil
			}
			return 0, true, err
		}
		if attempt >= i.o.CommitAttempts || ctx.Err() != nil {
			return 0, false, fmt.Errorf("commit %s after %d attempts: %w", j.t.desc.Name, attempt, err)
		}
		j.t.conflictsC.Inc()
		i.log.Warn("commit failed, retrying", "table", j.t.desc.Name, "attempt", attempt, "err", err)
		if !sleepCtx(ctx, backoff(attempt-1)) {
			return 0, false, ctx.Err()
		}
	}
}

// landed reports whether the table's txn versions are exactly the fences'
// ends: the commit an earlier, failed-looking attempt made did land.
func (i *Ingester) landed(ctx context.Context, t *table, fences []Fence) bool {
	vs, err := t.lake.TxnVersions(ctx)
	if err != nil {
		return false
	}
	for _, f := range fences {
		if v, ok := vs[f.AppID]; !ok || v != f.To {
			return false
		}
	}
	return true
}

// commitInfo is the provenance and completeness record of a commit: the
// group, and per partition the offset range and the newest event time the
// table now holds (the watermark; see the package doc).
func (i *Ingester) commitInfo(j *job) map[string]any {
	wm := make([]map[string]any, 0, len(j.fences))
	for _, f := range j.fences {
		w := map[string]any{
			"topic": f.topic, "partition": f.partition, "from": f.from, "offset": f.to,
		}
		if !f.event.IsZero() {
			w["eventTime"] = f.event.UTC().Format(time.RFC3339Nano)
		}
		if !f.drainedAt.IsZero() {
			w["drainedAt"] = f.drainedAt.UTC().Format(time.RFC3339Nano)
		}
		wm = append(wm, w)
	}
	return map[string]any{
		InfoKey: map[string]any{
			"group":      i.o.Group,
			"trigger":    j.reason,
			"watermarks": wm,
		},
	}
}

// finish applies a job's outcome: on success the partitions' committed
// positions move; on failure the ingester will rewind.
func (i *Ingester) finish(j *job, files []File, version int64, fenced bool, err error) {
	t := j.t
	var rows, bytes int64
	for _, f := range files {
		rows += f.Rows
		bytes += f.Bytes
	}
	i.mu.Lock()
	i.inflight -= inflightFactor * j.bytes
	var newest time.Time
	if err == nil {
		for _, f := range j.fences {
			ps := i.parts[f.tp]
			if ps == nil || ps.epoch != f.epoch {
				continue
			}
			p := ps.posOf(t.id)
			p.committed = f.to
			if f.event.After(p.committedEvent) {
				p.committedEvent = f.event
			}
			if f.event.After(newest) {
				newest = f.event
			}
		}
	} else {
		j.failed = true
		for _, f := range j.fences {
			if ps := i.parts[f.tp]; ps != nil && ps.epoch == f.epoch {
				i.needRewind = true
			}
		}
	}
	i.mu.Unlock()
	switch {
	case err == nil:
		i.failStreak.Store(0)
		if i.stuck.Swap(nil) != nil {
			i.log.Info("flushes commit again", "table", t.desc.Name)
		}
		t.rowsC.Add(float64(rows))
		t.filesC.Add(float64(len(files)))
		t.fileBytesC.Add(float64(bytes))
		if len(files) > 0 {
			t.commitsData.Inc()
		} else {
			t.commitsTxnOnly.Inc()
		}
		i.m.freshness.observe(t.desc.Name, newest)
		if i.onCommit != nil {
			i.onCommit(t, j.fences, time.Now())
		}
		i.log.Debug("flush committed", "table", t.desc.Name, "version", version, "rows", rows,
			"files", len(files), "partitions", len(j.fences), "trigger", j.reason)
	case fenced:
		t.fencedC.Inc()
		i.log.Warn("flush fenced: another writer committed these offsets; dropping and rewinding",
			"table", t.desc.Name, "partitions", fenceList(j.fences), "err", err)
	case errors.Is(err, errPrevFailed) || errors.Is(err, context.Canceled):
		i.log.Info("flush abandoned", "table", t.desc.Name, "err", err)
	default:
		t.errorsC.Inc()
		i.log.Error("flush failed; rewinding to the lake's offsets", "table", t.desc.Name, "err", err)
		if n := i.failStreak.Add(1); n >= stuckAfter {
			cause := fmt.Sprintf("%d flushes in a row failed and were rewound, the last of %s: %v; %s", n, t.desc.Name, err, whatToDo(err))
			if i.stuck.Swap(&cause) == nil {
				i.log.Error("ingest is stuck: " + cause)
			}
		}
	}
	close(j.done)
	i.wake()
}

// stuckAfter is how many flushes in a row may fail before the ingester
// reports itself stuck (it keeps retrying).
const stuckAfter = 5

// whatToDo is the advice for a flush error that keeps repeating.
func whatToDo(err error) string {
	switch {
	case errors.Is(err, errDLQ):
		return "create the dead-letter topic (<topic>.dlq) or let this client produce to it; the rejects table commits only after its dead letters are in Kafka"
	default:
		return "the ingester keeps retrying; if the error names a log entry or file of the lake, the table may have been written by another tool: stop ingest and inspect the table's _delta_log before restarting"
	}
}

func fenceList(fs []jobFence) []string {
	out := make([]string, len(fs))
	for k, f := range fs {
		out[k] = fmt.Sprintf("%s/%d[%d,%d)", f.topic, f.partition, f.from, f.to)
	}
	return out
}

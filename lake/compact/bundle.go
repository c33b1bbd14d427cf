package compact

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shelflake/shelflake/lake/delta"
)

// Bundles. A pass over a table loaded with years of daily history plans one
// task per date, each a few kilobytes: committed one by one, the five-year
// backfill of `shelflake bench ingest` (1,826 dates, two tables) made 3,652
// commits and a checkpoint every tenth of them, each writing the table's
// whole state, and spent most of its CPU in the Delta log rather than in
// the data. So small tasks of one table are rewritten one after another by
// one worker and committed together, in one commit of at most bundleTasks
// partitions and bundleBytes of input. The commit's conflict check is the
// same as for one task (every input must still be live); on a conflict the
// bundle's output is deleted and each task runs on its own, re-planned as a
// lone task is.
const (
	// bundleTaskBytes is the largest task bundled (by input bytes).
	bundleTaskBytes = 1 << 20
	// bundleBytes and bundleTasks bound a bundle.
	bundleBytes = 16 << 20
	bundleTasks = 256
)

// bundle groups work into the units a pass runs: runs of small tasks of
// one table, and every other task alone. Tasks keep their order.
func bundle(work []plannedTask) [][]plannedTask {
	var out [][]plannedTask
	var cur []plannedTask
	var curBytes int64
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, curBytes = nil, 0
	}
	for _, w := range work {
		if w.task.InputBytes > bundleTaskBytes {
			flush()
			out = append(out, []plannedTask{w})
			continue
		}
		if len(cur) > 0 && (cur[0].t != w.t || len(cur) == bundleTasks || curBytes+w.task.InputBytes > bundleBytes) {
			flush()
		}
		cur = append(cur, w)
		curBytes += w.task.InputBytes
	}
	flush()
	return out
}

// runBundle rewrites the tasks of ws (one table) and commits them in one
// commit; a lone task, or a bundle whose commit conflicts, goes through
// runTask task by task.
func (c *Compactor) runBundle(ctx context.Context, ws []plannedTask) (trs []TaskReport, conflicts, skipped int, err error) {
	if len(ws) > 1 {
		var ok bool
		trs, ok, err = c.commitBundle(ctx, ws)
		if err != nil || ok {
			return trs, 0, 0, err
		}
		conflicts++
	}
	var errs []error
	for _, w := range ws {
		if ctx.Err() != nil {
			break
		}
		tr, n, skip, err := c.runTask(ctx, w)
		conflicts += n
		if skip {
			skipped++
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if tr != nil {
			trs = append(trs, *tr)
		}
	}
	return trs, conflicts, skipped, errors.Join(errs...)
}

// commitBundle rewrites every task of ws and commits the lot at once. It
// reports false, with the output deleted, when the commit conflicts.
func (c *Compactor) commitBundle(ctx context.Context, ws []plannedTask) ([]TaskReport, bool, error) {
	start := time.Now()
	t, dtab := ws[0].t, ws[0].dtab
	cfg := c.execConfig()
	rws := make([]rewrite, 0, len(ws))
	abort := func() {
		for _, rw := range rws {
			if aerr := rw.abort(context.WithoutCancel(ctx)); aerr != nil {
				c.log.Warn("delete unused compaction output", "table", t.Name, "err", aerr)
			}
		}
	}
	now := c.o.Now()
	txn := delta.Txn{Isolation: delta.Rewrite, Operation: "OPTIMIZE"}
	var dates []string
	var rowsIn, rowsOut int64
	for _, w := range ws {
		rw, err := rewriteTask(ctx, c.l, t, w.task, cfg)
		if err != nil {
			abort()
			c.failed(ctx, t.Name)
			return nil, false, fmt.Errorf("compact %s dt=%s: %w", t.Name, w.task.DT, err)
		}
		rws = append(rws, rw)
		changed := rw.rowsOut != rw.rowsIn
		for i := range rw.adds {
			rw.adds[i].DataChange = changed
		}
		txn.Adds = append(txn.Adds, rw.adds...)
		for _, f := range w.task.Inputs {
			txn.Removes = append(txn.Removes, delta.RemoveOf(f.Add, now, changed))
		}
		dates = append(dates, "'"+w.task.DT.String()+"'")
		rowsIn += rw.rowsIn
		rowsOut += rw.rowsOut
		if c.beforeCommit != nil {
			c.beforeCommit(w.task)
		}
	}
	txn.OperationParameters = map[string]string{
		"predicate": `["dt IN (` + strings.Join(dates, ", ") + `)"]`,
		"zOrderBy":  "[]",
		"auto":      "false",
	}
	txn.Info = map[string]any{"shelflake.compaction": map[string]any{
		"reason": "bundle of small partitions", "partitions": len(ws), "rowsIn": rowsIn, "rowsOut": rowsOut,
		"duplicates": rowsIn - rowsOut, "attempt": 1,
	}}
	base := ws[0].base
	if l := ws[0].latest.get(); l.Version() > base.Version() {
		base = l
	}
	res, err := dtab.Commit(ctx, base, txn)
	if errors.Is(err, delta.ErrConflict) || errors.Is(err, delta.ErrInvalidTxn) {
		abort()
		c.metrics.conflict(t.Name)
		c.log.Info("compaction conflict on a bundle, rewriting its partitions one by one", "table", t.Name,
			"partitions", len(ws), "err", err)
		return nil, false, nil
	}
	if err != nil {
		// The commit may still land (an ambiguous put): keep the files;
		// if it did not, they are orphans for vacuum.
		c.failed(ctx, t.Name)
		return nil, false, fmt.Errorf("compact %s, %d partitions: %w", t.Name, len(ws), err)
	}
	ws[0].latest.set(res.Snapshot)
	trs := make([]TaskReport, len(ws))
	for i, w := range ws {
		rw := rws[i]
		var outBytes int64
		for _, a := range rw.adds {
			outBytes += a.Size
		}
		trs[i] = TaskReport{
			Table: t.Name, DT: w.task.DT, Reason: w.task.Reason,
			InputFiles: len(w.task.Inputs), InputBytes: w.task.InputBytes,
			OutputFiles: len(rw.adds), OutputBytes: outBytes,
			RowsIn: rw.rowsIn, RowsOut: rw.rowsOut, SpilledRuns: rw.runs,
			Attempts: 1, Version: res.Version, Duration: time.Since(start),
		}
		c.metrics.committed(t.Name, trs[i])
	}
	c.log.Debug("partitions compacted", "table", t.Name, "partitions", len(ws), "version", res.Version,
		"rows", rowsOut, "duplicates", rowsIn-rowsOut)
	return trs, true, nil
}

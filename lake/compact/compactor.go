package compact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// Options configure a Compactor. The zero value is usable: every zero field
// takes its default.
type Options struct {
	// Plan decides which partitions are rewritten (see Plan).
	Plan PlanOptions
	// Tables are the raw tables to compact. Default schema.Tables(). Tables
	// missing from the lake are skipped, never created.
	Tables []*schema.Table
	// Unified also builds the unified tables in every pass (after
	// compaction; see Build).
	Unified bool
	// UnifiedOptions configure the unified build.
	UnifiedOptions UnifiedOptions
	// Concurrency bounds the partitions rewritten at once. Default
	// GOMAXPROCS.
	Concurrency int
	// MemoryBytes bounds the rows compaction holds in memory, shared by the
	// concurrent partitions (each gets MemoryBytes/Concurrency, at least
	// 1 MiB); a partition with more is sorted in runs spilled to TempDir and
	// merged. Default 512 MiB.
	MemoryBytes int64
	// TempDir holds spilled runs and files being written. Default
	// os.TempDir().
	TempDir string
	// MaxAttempts bounds the rewrites of one partition when commits conflict
	// with another compactor's (each attempt re-plans from the latest
	// snapshot). Default 5.
	MaxAttempts int
	// Logger receives the compactor's logs. Default: discard.
	Logger *slog.Logger
	// Registerer, when set, gets the compactor's metrics.
	Registerer prometheus.Registerer
	// Now is the clock (plan quiet periods, remove timestamps). Default
	// time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMemoryBytes = 512 << 20
	DefaultMaxAttempts = 5
	// minTaskMemory is the least memory one partition's sort gets.
	minTaskMemory = 1 << 20
)

func (o Options) withDefaults() Options {
	o.Plan = o.Plan.withDefaults()
	if o.Tables == nil {
		o.Tables = schema.Tables()
	}
	if o.Concurrency == 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.MemoryBytes == 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if err := o.Plan.validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d < 0", o.Concurrency))
	}
	if o.MemoryBytes < 0 {
		errs = append(errs, fmt.Errorf("memory bytes %d < 0", o.MemoryBytes))
	}
	if o.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max attempts %d < 0", o.MaxAttempts))
	}
	for _, t := range o.Tables {
		if !compactable(t) {
			errs = append(errs, fmt.Errorf("table %s: not a raw table", t.Name))
		}
	}
	if err := o.UnifiedOptions.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("compact options: %w", errors.Join(errs...))
	}
	return nil
}

// Compactor rewrites the raw tables' small files into large sorted,
// de-duplicated ones, and (with Options.Unified) maintains the unified
// tables. It is safe for concurrent use, and any number of compactors (in
// any number of processes) may run against one lake beside ingest: appends
// never conflict with a rewrite, and a rewrite that lost a race against
// another is re-planned.
type Compactor struct {
	l       *lake.Lake
	o       Options
	log     *slog.Logger
	metrics *metrics
	builder *Builder

	mu       sync.Mutex
	tables   map[string]*delta.Table // raw tables known to exist
	lastPass time.Time               // end of the last pass without error
	lastErr  error

	// beforeCommit, when set (tests), runs before each rewrite commit;
	// afterPass after each pass of Run.
	beforeCommit func(Task)
	afterPass    func()
}

// New returns a compactor of the lake l.
func New(l *lake.Lake, o Options) (*Compactor, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	c := &Compactor{l: l, o: o, log: o.Logger, metrics: newMetrics(o.Registerer), tables: map[string]*delta.Table{}}
	uo := o.UnifiedOptions
	if uo.Logger == nil {
		uo.Logger = o.Logger
	}
	if uo.Now == nil {
		uo.Now = o.Now
	}
	if uo.TempDir == "" {
		uo.TempDir = o.TempDir
	}
	b, err := newBuilder(l, uo, c.metrics)
	if err != nil {
		return nil, err
	}
	c.builder = b
	return c, nil
}

// TaskReport describes one committed partition rewrite.
type TaskReport struct {
	Table string
	DT    schema.Date
	// Reason is why the partition was planned (see Plan).
	Reason string
	// InputFiles, InputBytes: the files removed; OutputFiles, OutputBytes:
	// the files added.
	InputFiles  int
	InputBytes  int64
	OutputFiles int
	OutputBytes int64
	// RowsIn were read; RowsOut written (RowsIn − RowsOut duplicates
	// dropped).
	RowsIn  int64
	RowsOut int64
	// SpilledRuns counts sorted runs written to local disk (0 when the
	// partition fit in memory).
	SpilledRuns int
	// Attempts counts rewrites (1 without conflicts).
	Attempts int
	// Version is the table version the rewrite committed as.
	Version  int64
	Duration time.Duration
}

// Report describes one compaction pass.
type Report struct {
	Tasks []TaskReport
	// Conflicts counts rewrite commits refused because another commit
	// removed the same files (each was re-planned).
	Conflicts int
	// Skipped counts partitions given up after MaxAttempts conflicts.
	Skipped int
	// Totals over Tasks.
	FilesBefore, FilesAfter int
	BytesBefore, BytesAfter int64
	RowsIn, RowsOut         int64
	Duration                time.Duration
	// Unified is the unified build's report (with Options.Unified).
	Unified *UnifiedReport
}

func (r *Report) add(t TaskReport) {
	r.Tasks = append(r.Tasks, t)
	r.FilesBefore += t.InputFiles
	r.FilesAfter += t.OutputFiles
	r.BytesBefore += t.InputBytes
	r.BytesAfter += t.OutputBytes
	r.RowsIn += t.RowsIn
	r.RowsOut += t.RowsOut
}

// Pass runs one compaction pass over the raw tables and, with
// Options.Unified, one unified build. Failing partitions do not stop the
// others; their errors are joined in the result.
func (c *Compactor) Pass(ctx context.Context) (Report, error) {
	rep, err := c.Compact(ctx)
	if c.o.Unified && ctx.Err() == nil {
		u, uerr := c.Build(ctx)
		rep.Unified = &u
		err = errors.Join(err, uerr)
	}
	c.mu.Lock()
	c.lastErr = err
	if err == nil {
		c.lastPass = c.o.Now()
	}
	c.mu.Unlock()
	return rep, err
}

// Build runs one unified build (see Builder.Build).
func (c *Compactor) Build(ctx context.Context) (UnifiedReport, error) {
	start := time.Now()
	rep, err := c.builder.Build(ctx)
	c.observePass("unified", start, err)
	return rep, err
}

func (c *Compactor) observePass(stage string, start time.Time, err error) {
	if c.metrics == nil {
		return
	}
	c.metrics.passDuration.WithLabelValues(stage).Observe(time.Since(start).Seconds())
	if err == nil {
		c.metrics.lastSuccess.WithLabelValues(stage).SetToCurrentTime()
	}
}

// plannedTask is a task with the snapshot it was planned on.
type plannedTask struct {
	t      *schema.Table
	dtab   *delta.Table
	base   *delta.Snapshot
	task   Task
	latest *latestSnapshot
}

// latestSnapshot is the newest snapshot of a table a pass knows: the result
// of its last commit. A rewrite commits on it rather than on the snapshot it
// was planned on, so Commit checks only the commits made since by others,
// not every rewrite of the pass before it.
type latestSnapshot struct {
	mu   sync.Mutex
	snap *delta.Snapshot
}

func (l *latestSnapshot) get() *delta.Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snap
}

func (l *latestSnapshot) set(s *delta.Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.snap == nil || s.Version() > l.snap.Version() {
		l.snap = s
	}
}

// Compact runs one compaction pass over the raw tables: plan every table
// from its latest snapshot, then rewrite the planned partitions, at most
// Concurrency at once.
func (c *Compactor) Compact(ctx context.Context) (Report, error) {
	start := time.Now()
	var (
		rep  Report
		errs []error
		work []plannedTask
	)
	now := c.o.Now()
	for _, t := range c.o.Tables {
		dtab, snap, err := c.table(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dtab == nil {
			continue
		}
		latest := &latestSnapshot{snap: snap}
		for _, task := range Plan(t.Name, snap.Files(), now, c.o.Plan) {
			work = append(work, plannedTask{t: t, dtab: dtab, base: snap, task: task, latest: latest})
		}
	}
	c.log.Debug("compaction planned", "partitions", len(work))
	var (
		mu sync.Mutex
		g  errgroup.Group
	)
	g.SetLimit(c.o.Concurrency)
	for _, ws := range bundle(work) {
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			trs, conflicts, skipped, err := c.runBundle(ctx, ws)
			mu.Lock()
			defer mu.Unlock()
			rep.Conflicts += conflicts
			rep.Skipped += skipped
			if err != nil {
				errs = append(errs, err)
			}
			for _, tr := range trs {
				rep.add(tr)
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	c.updateLive(ctx)
	rep.Duration = time.Since(start)
	err := errors.Join(errs...)
	c.observePass("compact", start, err)
	if len(rep.Tasks) > 0 || err != nil {
		c.log.Info("compaction pass", "partitions", len(rep.Tasks), "files_before", rep.FilesBefore,
			"files_after", rep.FilesAfter, "bytes_before", rep.BytesBefore, "bytes_after", rep.BytesAfter,
			"duplicates", rep.RowsIn-rep.RowsOut, "conflicts", rep.Conflicts, "duration", rep.Duration, "err", err)
	}
	return rep, err
}

// table returns the raw table t and its latest snapshot, or a nil table
// when the lake has none.
func (c *Compactor) table(ctx context.Context, t *schema.Table) (*delta.Table, *delta.Snapshot, error) {
	c.mu.Lock()
	dtab := c.tables[t.Name]
	c.mu.Unlock()
	if dtab == nil {
		// The first time, the snapshot that shows the table exists is
		// the pass's: replaying the log once more would cost as much as
		// reading it (every add action of every commit since the last
		// checkpoint).
		snap, err := existingSnapshot(ctx, c.l, t)
		if err != nil || snap == nil {
			return nil, nil, err
		}
		if dtab, err = c.l.Table(ctx, t); err != nil {
			return nil, nil, err
		}
		c.mu.Lock()
		c.tables[t.Name] = dtab
		c.mu.Unlock()
		// Commits made since it was read, if any.
		if snap, err = dtab.Update(ctx, snap); err != nil {
			return nil, nil, fmt.Errorf("compact %s: %w", t.Name, err)
		}
		return dtab, snap, nil
	}
	snap, err := dtab.Snapshot(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("compact %s: %w", t.Name, err)
	}
	return dtab, snap, nil
}

// tableExists reports whether the lake holds table t (a Delta log under its
// prefix), without creating it.
func tableExists(ctx context.Context, l *lake.Lake, t *schema.Table) (bool, error) {
	snap, err := existingSnapshot(ctx, l, t)
	return snap != nil, err
}

// existingSnapshot returns the latest snapshot of table t, or nil when the
// lake has no such table; it creates nothing.
func existingSnapshot(ctx context.Context, l *lake.Lake, t *schema.Table) (*delta.Snapshot, error) {
	dtab, err := delta.NewTable(l.Bucket(), lake.TablePrefix(t), delta.Options{})
	if err != nil {
		return nil, err
	}
	snap, err := dtab.Snapshot(ctx)
	if err != nil {
		if errors.Is(err, delta.ErrTableNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("table %s: %w", t.Name, err)
	}
	return snap, nil
}

// runTask rewrites one partition and commits, re-planning it after a
// conflict. It returns nil TaskReport when a re-plan found nothing left to
// do (another compactor did it).
func (c *Compactor) runTask(ctx context.Context, w plannedTask) (tr *TaskReport, conflicts int, skipped bool, err error) {
	start := time.Now()
	t, base, task := w.t, w.base, w.task
	cfg := c.execConfig()
	for attempt := 1; ; attempt++ {
		rw, err := rewriteTask(ctx, c.l, t, task, cfg)
		if err != nil {
			c.failed(ctx, t.Name)
			return nil, conflicts, false, fmt.Errorf("compact %s dt=%s: %w", t.Name, task.DT, err)
		}
		now := c.o.Now()
		// A rewrite that drops duplicates changes the table's rows: the
		// Delta protocol reserves dataChange=false for rewrites without
		// logical change.
		changed := rw.rowsOut != rw.rowsIn
		for i := range rw.adds {
			rw.adds[i].DataChange = changed
		}
		txn := delta.Txn{
			Isolation: delta.Rewrite,
			Adds:      rw.adds,
			Operation: "OPTIMIZE",
			OperationParameters: map[string]string{
				"predicate": `["dt = '` + task.DT.String() + `'"]`,
				"zOrderBy":  "[]",
				"auto":      "false",
			},
			Info: map[string]any{"shelflake.compaction": map[string]any{
				"reason": task.Reason, "rowsIn": rw.rowsIn, "rowsOut": rw.rowsOut,
				"duplicates": rw.rowsIn - rw.rowsOut, "spilledRuns": rw.runs, "attempt": attempt,
			}},
		}
		var outBytes int64
		for _, a := range rw.adds {
			outBytes += a.Size
		}
		for _, f := range task.Inputs {
			txn.Removes = append(txn.Removes, delta.RemoveOf(f.Add, now, changed))
		}
		if c.beforeCommit != nil {
			c.beforeCommit(task)
		}
		// The inputs must still be live in the newer base; if another
		// commit removed them, Commit reports the conflict.
		if l := w.latest.get(); l.Version() > base.Version() {
			base = l
		}
		res, err := w.dtab.Commit(ctx, base, txn)
		if err == nil {
			w.latest.set(res.Snapshot)
			r := TaskReport{
				Table: t.Name, DT: task.DT, Reason: task.Reason,
				InputFiles: len(task.Inputs), InputBytes: task.InputBytes,
				OutputFiles: len(rw.adds), OutputBytes: outBytes,
				RowsIn: rw.rowsIn, RowsOut: rw.rowsOut, SpilledRuns: rw.runs,
				Attempts: attempt, Version: res.Version, Duration: time.Since(start),
			}
			c.metrics.committed(t.Name, r)
			c.log.Debug("partition compacted", "table", t.Name, "dt", task.DT.String(), "version", res.Version,
				"files_before", r.InputFiles, "files_after", r.OutputFiles, "rows", r.RowsOut,
				"duplicates", r.RowsIn-r.RowsOut, "spilled_runs", r.SpilledRuns)
			return &r, conflicts, false, nil
		}
		if !errors.Is(err, delta.ErrConflict) && !errors.Is(err, delta.ErrInvalidTxn) {
			// The commit may still land (an ambiguous put): keep the files;
			// if it did not, they are orphans for vacuum.
			c.failed(ctx, t.Name)
			return nil, conflicts, false, fmt.Errorf("compact %s dt=%s: %w", t.Name, task.DT, err)
		}
		if aerr := rw.abort(ctx); aerr != nil {
			c.log.Warn("delete unused compaction output", "table", t.Name, "err", aerr)
		}
		if errors.Is(err, delta.ErrInvalidTxn) {
			c.failed(ctx, t.Name)
			return nil, conflicts, false, fmt.Errorf("compact %s dt=%s: %w", t.Name, task.DT, err)
		}
		conflicts++
		c.metrics.conflict(t.Name)
		c.log.Info("compaction conflict, re-planning", "table", t.Name, "dt", task.DT.String(), "attempt", attempt, "err", err)
		if attempt >= c.o.MaxAttempts {
			c.log.Warn("partition skipped after conflicts", "table", t.Name, "dt", task.DT.String(), "attempts", attempt)
			return nil, conflicts, true, nil
		}
		fresh, err := w.dtab.Update(ctx, base)
		if err != nil {
			return nil, conflicts, false, fmt.Errorf("compact %s dt=%s: re-plan: %w", t.Name, task.DT, err)
		}
		base = fresh
		w.latest.set(fresh)
		dt := task.DT.String()
		next := Plan(t.Name, base.FilesWhere(func(pv map[string]string) bool {
			return pv[schema.PartitionColumn] == dt
		}), c.o.Now(), c.o.Plan)
		if len(next) == 0 {
			return nil, conflicts, false, nil
		}
		task = next[0]
	}
}

// execConfig is what a worker's rewrites need.
func (c *Compactor) execConfig() execConfig {
	return execConfig{
		memBytes: max(c.o.MemoryBytes/int64(c.o.Concurrency), minTaskMemory),
		tempDir:  c.o.TempDir,
		write:    lake.WriteOptions{TargetFileSize: c.o.Plan.TargetFileSize, TempDir: c.o.TempDir},
	}
}

// failed counts a failure unless it is a cancellation.
func (c *Compactor) failed(ctx context.Context, table string) {
	if ctx.Err() == nil {
		c.metrics.failed(table)
	}
}

// updateLive sets the live file gauges from the tables' latest snapshots.
func (c *Compactor) updateLive(ctx context.Context) {
	if c.metrics == nil || ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	tables := make(map[string]*delta.Table, len(c.tables))
	for k, v := range c.tables {
		tables[k] = v
	}
	c.mu.Unlock()
	for name, dtab := range tables {
		snap, err := dtab.Snapshot(ctx)
		if err != nil {
			continue
		}
		var n int64
		for _, f := range snap.Files() {
			n += f.Size
		}
		c.metrics.live(name, snap.NumFiles(), n)
	}
}

// Run runs passes until ctx ends: one at once, then one every interval
// (measured from the end of the previous pass). A failing pass is logged
// and retried at the next interval. It returns nil when ctx is canceled.
func (c *Compactor) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("compactor run: interval %s, want > 0", interval)
	}
	c.log.Info("compactor started", "interval", interval, "unified", c.o.Unified)
	failures := 0
	for {
		switch _, err := c.Pass(ctx); {
		case err != nil && ctx.Err() == nil:
			failures++
			c.log.Error("compaction pass failed: "+err.Error(), "failures_in_a_row", failures, "next_try_in", interval)
		case err == nil && failures > 0:
			c.log.Info("compaction pass succeeded again", "after_failures", failures)
			failures = 0
		}
		if c.afterPass != nil {
			c.afterPass()
		}
		select {
		case <-ctx.Done():
			c.log.Info("compactor stopped")
			return nil
		case <-time.After(interval):
		}
	}
}

// Healthy reports whether the last pass succeeded, or a pass succeeded
// within staleAfter.
func (c *Compactor) Healthy(staleAfter time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr == nil {
		return true
	}
	return !c.lastPass.IsZero() && c.o.Now().Sub(c.lastPass) <= staleAfter
}

// Handler serves the compactor's operational endpoints: /metrics from g,
// /healthz (200 while passes succeed; 503 once the last pass failed and
// none succeeded for staleAfter) and /readyz (503 from a failed pass, with
// its cause, to the next pass that succeeds: an unreachable store shows at
// once).
func (c *Compactor) Handler(g prometheus.Gatherer, staleAfter time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Healthy(staleAfter) {
			c.mu.Lock()
			msg := "compaction failing"
			if c.lastErr != nil {
				msg += ": " + strconv.Quote(c.lastErr.Error())
			}
			c.mu.Unlock()
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		err := c.lastErr
		c.mu.Unlock()
		if err != nil {
			http.Error(w, "last pass failed: "+strconv.Quote(err.Error()), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

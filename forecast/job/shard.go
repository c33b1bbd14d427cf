package job

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shelflake/shelflake/forecast/gbm"
	"github.com/shelflake/shelflake/forecast/model"
	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// maxShards bounds Shard.Count.
const maxShards = 4096

// Shard is one part of a sharded run: a contiguous range of the plan's
// sorted locations (see Plan.ShardLocations), shard Index of Count.
type Shard struct{ Index, Count int }

func (s Shard) String() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count) }

// ParseShard reads "i/N".
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || n > maxShards || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: want i/N with 0 ≤ i < N ≤ %d, e.g. 0/4", s, maxShards)
	}
	return Shard{Index: i, Count: n}, nil
}

// ShardLocations returns the locations of shard s: a contiguous run of
// p.Locations (sorted by id, byte-wise, as DuckDB sorts VARCHAR), cut so
// that each shard holds about p.Series/s.Count series. Shard i takes the
// locations whose first series (the series of the locations before it,
// summed) lies in [i·S/N, (i+1)·S/N), S the plan's series and N the
// count: deterministic, a location in exactly one shard, never split. A
// plan without per-location series counts (LocationSeries) cuts by
// location count instead. Contiguous ranges are what lets a shard skip
// data: the location-keyed tables are sorted by location within each dt
// partition, so a shard's rows are a few adjacent row groups of each file
// and its range predicate (see shardFilter) prunes the others by their
// statistics.
func (p *Plan) ShardLocations(s Shard) []string {
	if s.Count <= 0 || len(p.Locations) == 0 {
		return nil
	}
	weights := p.LocationSeries
	if len(weights) != len(p.Locations) {
		weights = nil
	}
	var total int64
	for i := range p.Locations {
		total += shardWeight(weights, i)
	}
	lo, hi := total*int64(s.Index)/int64(s.Count), total*int64(s.Index+1)/int64(s.Count)
	var out []string
	var before int64
	for i, l := range p.Locations {
		if before >= lo && before < hi {
			out = append(out, l)
		}
		before += shardWeight(weights, i)
	}
	return out
}

// sortLocations sorts the plan's locations by id, byte-wise (the series
// come in DuckDB's VARCHAR order, which is that already), their series
// counts with them.
func sortLocations(p *Plan) {
	if slices.IsSorted(p.Locations) {
		return
	}
	idx := make([]int, len(p.Locations))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(p.Locations[a], p.Locations[b]) })
	locs, counts := make([]string, len(idx)), make([]int, len(idx))
	for i, j := range idx {
		locs[i], counts[i] = p.Locations[j], p.LocationSeries[j]
	}
	p.Locations, p.LocationSeries = locs, counts
}

func shardWeight(weights []int, i int) int64 {
	if weights == nil {
		return 1
	}
	return int64(max(weights[i], 0))
}

// shardFilter restricts a location-keyed input view to the shard's
// locations (Plan.ShardLocations): a range predicate on the location
// column from the shard's first to its last location, which DuckDB pushes
// into the Parquet scan and prunes row groups with (min/max statistics;
// the tables are sorted by location within a dt partition), and, for
// exactness, the IN list of the shard's locations (the range may hold
// locations of no series). A shard's open POs are those of the day the
// plan found latest over every location.
func (r *runner) shardFilter(scan string, in input) string {
	s := r.o.Shard
	if s.Count == 0 || in.loc == "" || r.trained == nil {
		return scan
	}
	where := locationFilter(sqlIdent(in.loc), r.trained.ShardLocations(s))
	if in.table.Name == schema.TableNamePOOpen && r.trained.POOpenLast != nil {
		where += " AND dt = DATE '1970-01-01' + " + sqlInt(*r.trained.POOpenLast)
	}
	return "SELECT * FROM (" + scan + ") WHERE " + where
}

// locationFilter is the SQL predicate holding exactly the rows of col in
// locs: false for none, else col BETWEEN the least and the greatest (byte
// order, as DuckDB compares VARCHAR) AND col IN the list.
func locationFilter(col string, locs []string) string {
	if len(locs) == 0 {
		return "false"
	}
	lo, hi := slices.Min(locs), slices.Max(locs)
	quoted := make([]string, len(locs))
	for i, l := range locs {
		quoted[i] = sqlString(l)
	}
	return col + " BETWEEN " + sqlString(lo) + " AND " + sqlString(hi) + " AND " + col + " IN (" + strings.Join(quoted, ", ") + ")"
}

// shardFiles is the files a shard reads of input in (nil: every one):
// a file whose location column's Delta statistics (add.stats min/max) lie
// wholly outside the shard's range is left out before it is fetched (from
// S3) or opened, footer included. Files without those statistics are
// kept. With a day's files cut by location (compact's 128 MiB files of a
// large day, the world writer's chunks of stores), a shard fetches and
// opens only the files of its range.
func (r *runner) shardFiles(in input) func(delta.File) bool {
	s := r.o.Shard
	if s.Count == 0 || in.loc == "" || r.trained == nil {
		return nil
	}
	locs := r.trained.ShardLocations(s)
	if len(locs) == 0 {
		return func(delta.File) bool { return false }
	}
	lo, hi := slices.Min(locs), slices.Max(locs)
	return func(f delta.File) bool { return !outsideRange(f, in.loc, lo, hi) }
}

// outsideRange reports whether f's statistics show no value of col in
// [lo, hi].
func outsideRange(f delta.File, col, lo, hi string) bool {
	st, err := f.ParseStats()
	if err != nil || st == nil {
		return false
	}
	minV, ok1 := st.MinValues[col].(string)
	maxV, ok2 := st.MaxValues[col].(string)
	if !ok1 || !ok2 {
		return false
	}
	return maxV < lo || minV > hi
}

// inputSnapshot is the snapshot an input is read at: the latest, or the
// plan's version of the table (a shard reads what the --train step read).
func (r *runner) inputSnapshot(ctx context.Context, dt *delta.Table, in input) (*delta.Snapshot, error) {
	if r.trained == nil {
		return dt.Snapshot(ctx)
	}
	v, ok := r.trained.Versions[in.table.Name]
	if !ok {
		return nil, fmt.Errorf("input %s: the trained plan of run %s did not read it: train again", in.table.Name, r.trained.RunID)
	}
	if v < 0 {
		return nil, delta.ErrTableNotFound
	}
	return dt.SnapshotAt(ctx, v)
}

// sharedCalendar is the closed weekdays the training bucket's locations
// that learned theirs share (see calendars).
type sharedCalendar struct {
	Weekdays [7]bool `json:"weekdays"`
	Learned  bool    `json:"learned"`
}

// Plan is what the --train step fixes for every shard of a run: the input
// versions, the run id, the global model and the figures pooled over every
// location. It lives at PlanKey, the model next to it.
type Plan struct {
	AsOf     string            `json:"as_of"`
	RunID    string            `json:"run_id"`
	Versions map[string]int64  `json:"input_versions"`
	IDs      map[string]string `json:"input_ids"`
	Series   int               `json:"series"`
	// Locations are the series' locations, sorted by id: the shards
	// split them into contiguous ranges (ShardLocations).
	Locations []string `json:"locations"`
	// LocationSeries are the series of each of Locations, for
	// ShardLocations to balance the shards by series.
	LocationSeries []int `json:"location_series,omitempty"`
	// SupplierLeadTimes pools the lead times of every location per
	// supplier; a shard reads only its locations' lead_times.
	SupplierLeadTimes []supplierLeadTimes `json:"supplier_lead_times"`
	// POOpenLast is the latest po_open day (days since the epoch) over
	// every location, nil without open POs.
	POOpenLast *int               `json:"po_open_last,omitempty"`
	SharedCal  sharedCalendar     `json:"shared_calendar"`
	Promotions []planObservation  `json:"promotion_observations"`
	Ahead      int                `json:"promotions_ahead"`
	Global     *globalInfo        `json:"global_model,omitempty"`
	Timings    map[string]float64 `json:"timings"`

	model *gbm.Model
}

// planObservation is a promo.Observation in JSON (a NaN after-rate as
// null).
type planObservation struct {
	Group       string   `json:"group"`
	DiscountPct float64  `json:"discount_pct"`
	Days        float64  `json:"days"`
	PromoRate   float64  `json:"promo_rate"`
	BaseRate    float64  `json:"base_rate"`
	AfterRate   *float64 `json:"after_rate"`
}

func (p *Plan) promoObservations() []promo.Observation {
	out := make([]promo.Observation, len(p.Promotions))
	for i, o := range p.Promotions {
		out[i] = promo.Observation{Group: o.Group, DiscountPct: o.DiscountPct, Days: o.Days,
			PromoRate: o.PromoRate, BaseRate: o.BaseRate, AfterRate: math.NaN()}
		if o.AfterRate != nil {
			out[i].AfterRate = *o.AfterRate
		}
	}
	return out
}

// PlanPrefix is where trained plans live in the lake's bucket:
// <PlanPrefix>dt=<as-of>/plan.json and global.gbm.
const PlanPrefix = "forecast/plans/"

// PlanKey is the key of the plan of asOf.
func PlanKey(asOf schema.Date) string { return PlanPrefix + "dt=" + asOf.String() + "/plan.json" }

func modelKey(asOf schema.Date, runID string) string {
	return PlanPrefix + "dt=" + asOf.String() + "/" + runID + ".gbm"
}

// shardStatsKey is where shard s of run runID leaves its figures for the
// merge.
func shardStatsKey(asOf schema.Date, runID string, s Shard) string {
	return fmt.Sprintf("forecast/shards/dt=%s/%s/%d-of-%d.json", asOf, runID, s.Index, s.Count)
}

// ShardAppID is the Delta txn appId of shard s of run runID in the output
// tables: a shard's rows are committed once.
func ShardAppID(asOf schema.Date, runID string, s Shard) string {
	return fmt.Sprintf("forecast/%s/%s/shard-%d-of-%d", asOf, runID, s.Index, s.Count)
}

// Tags on a shard's output files: which run and shard added them.
const (
	tagRun   = "shelflake.forecast.run"
	tagShard = "shelflake.forecast.shard"
)

// Train is the first step of a sharded run of opts.AsOf: it reads every
// input once, measures what pools over every location (the past
// promotions' response, the shared closed weekdays), trains the global
// model exactly as an unsharded run does, and stores the plan with the
// model in the lake. A plan already there is returned as it is (a rerun
// computes nothing), so every shard computes with one plan.
func Train(ctx context.Context, l *lake.Lake, opts Options) (*Plan, error) {
	o := opts.withDefaults()
	o.Shard = Shard{}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("forecast options: %w", err)
	}
	if p, err := LoadPlan(ctx, l, o.AsOf); err == nil {
		o.Logger.Info("forecast plan exists: nothing to train", "as_of", o.AsOf.String(), "run", p.RunID)
		return p, nil
	} else if !errors.Is(err, objstore.ErrNotExist) {
		return nil, err
	}
	r := &runner{l: l, o: o, log: o.Logger.With("as_of", o.AsOf.String()), histStart: o.AsOf - schema.Date(o.HistoryDays)}
	timings := map[string]float64{}
	t0 := time.Now()
	// As in an unsharded run, including the reconciliation (phantom-stock
	// days censored in the training series); the plan pins its version.
	db, versions, ids, closeRun, err := r.openRun(ctx)
	if err != nil {
		return nil, err
	}
	defer closeRun()
	if err := r.seriesTable(ctx, db); err != nil {
		return nil, err
	}
	if err := r.promotions(ctx, db); err != nil {
		return nil, err
	}
	p := &Plan{AsOf: o.AsOf.String(), RunID: r.runID, Versions: versions, IDs: ids, Series: len(r.attrs),
		Ahead: r.promotionsAhead(), Timings: timings}
	var last *int
	if err := db.QueryRowContext(ctx, "SELECT "+day("max(dt)")+" FROM po_open").Scan(&last); err != nil {
		return nil, fmt.Errorf("latest open POs: %w", err)
	}
	p.POOpenLast = last
	if p.SupplierLeadTimes, err = readSupplierLeadTimes(ctx, db); err != nil {
		return nil, err
	}
	for i := range r.attrs {
		if i == 0 || r.attrs[i].loc != r.attrs[i-1].loc {
			p.Locations = append(p.Locations, r.attrs[i].loc)
			p.LocationSeries = append(p.LocationSeries, 0)
		}
		p.LocationSeries[len(p.LocationSeries)-1]++
	}
	sortLocations(p)
	for _, ob := range r.promoObs {
		po := planObservation{Group: ob.Group, DiscountPct: ob.DiscountPct, Days: ob.Days, PromoRate: ob.PromoRate, BaseRate: ob.BaseRate}
		if !math.IsNaN(ob.AfterRate) {
			v := ob.AfterRate
			po.AfterRate = &v
		}
		p.Promotions = append(p.Promotions, po)
	}
	timings["inputs"] = time.Since(t0).Seconds()
	t0 = time.Now()
	r.global = r.newGlobal()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	err = withArrow(conn, func(query func(context.Context, string) (arrowReader, error)) error {
		batches, err := r.readBucket(ctx, query, r.trainingBucket())
		if err != nil {
			return err
		}
		r.calendars(batches, &calSummary{})
		if r.global == nil {
			return nil
		}
		r.seasons(batches)
		return r.trainGlobal(r.global, batches)
	})
	conn.Close()
	if err != nil {
		return nil, err
	}
	timings["train"] = time.Since(t0).Seconds()
	p.SharedCal = *r.sharedCal
	if g := r.global; g != nil {
		info := g.info
		p.Global = &info
		if g.model != nil {
			b, err := g.model.MarshalBinary()
			if err != nil {
				return nil, err
			}
			if err := l.Bucket().Put(ctx, modelKey(o.AsOf, r.runID), bytes.NewReader(b)); err != nil {
				return nil, fmt.Errorf("store the global model: %w", err)
			}
		}
	}
	raw, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	// First plan wins: a concurrent --train of the same date stored one
	// already, and every shard must compute with that one.
	if err := l.Bucket().PutIfAbsent(ctx, PlanKey(o.AsOf), raw); err != nil {
		if won, lerr := LoadPlan(ctx, l, o.AsOf); lerr == nil {
			return won, nil
		}
		return nil, fmt.Errorf("store the forecast plan: %w", err)
	}
	p.model = nil
	if r.global != nil {
		p.model = r.global.model
	}
	r.log.Info("forecast plan trained", "run", r.runID, "series", p.Series, "seconds", timings["inputs"]+timings["train"])
	return p, nil
}

// LoadPlan reads the plan of asOf and its global model (an error wrapping
// objstore.ErrNotExist when there is none).
func LoadPlan(ctx context.Context, l *lake.Lake, asOf schema.Date) (*Plan, error) {
	raw, err := getAll(ctx, l.Bucket(), PlanKey(asOf))
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("forecast plan %s: %w", PlanKey(asOf), err)
	}
	if p.AsOf != asOf.String() || p.RunID == "" || p.Versions == nil {
		return nil, fmt.Errorf("forecast plan %s: as of %q, run %q: not this date's plan; delete it and train again", PlanKey(asOf), p.AsOf, p.RunID)
	}
	if p.Global != nil && p.Global.Used {
		raw, err := getAll(ctx, l.Bucket(), modelKey(asOf, p.RunID))
		if err != nil {
			return nil, fmt.Errorf("global model of plan %s: %w", p.RunID, err)
		}
		p.model = &gbm.Model{}
		if err := p.model.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", modelKey(asOf, p.RunID), err)
		}
	}
	return &p, nil
}

func getAll(ctx context.Context, b objstore.Bucket, key string) ([]byte, error) {
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return raw, nil
}

// newGlobal is the run's global model state: nil with Options.NoGlobal,
// the plan's trained model in a shard, else to be trained.
func (r *runner) newGlobal() *global {
	if r.o.NoGlobal {
		return nil
	}
	g := &global{fc: map[int64][]float32{}, info: globalInfo{Weight: r.o.GlobalWeight}}
	if r.trained != nil && r.trained.Global != nil {
		g.info = *r.trained.Global
		g.info.PredictSeconds = 0
		g.model = r.trained.model
	}
	return g
}

// promotionsAhead counts the known promotions reaching into the horizon
// (over every location: a shard takes the plan's count).
func (r *runner) promotionsAhead() int {
	if r.trained != nil {
		return r.trained.Ahead
	}
	n := 0
	for _, fs := range r.future {
		n += len(fs)
	}
	return n
}

// shardStats are a shard's figures, summed by the merge into the run row.
type shardStats struct {
	Series       int                `json:"series"`
	ByStatus     [3]int             `json:"by_status"`
	MeanRMSSE    float64            `json:"mean_rmsse"`
	Fits         int64              `json:"fits"`
	Chosen       map[string]int     `json:"chosen"`
	Counts       map[string]int64   `json:"counts"`
	WeightedRMSE float64            `json:"weighted_rmsse"`
	WeightSum    float64            `json:"weight_sum"`
	Calendars    calSummary         `json:"calendars"`
	Documents    int                `json:"documents"`
	BytesRead    int64              `json:"bytes_read"`
	Timings      map[string]float64 `json:"timings"`
}

func (o *fitOutput) counts() map[string]int64 {
	return map[string]int64{"order_lines": o.orderLines, "defaulted": o.defaulted, "no_stock": o.noStock,
		"no_params": o.noParams, "no_supplier": o.noSupplier, "default_lead_time": o.defaultLeadTime,
		"dead": o.dead, "zero": o.zero, "ramped": o.ramped, "capped": o.capped, "global": o.global}
}

// runShard computes shard r.o.Shard of the trained run and commits its
// rows to replenishment_suggestions and forecasts, each once (fenced by
// ShardAppID, its files tagged with the run and shard); its documents go
// to the run's outbox, its figures to shardStatsKey for the merge. The
// Report's Run holds the shard's figures (not committed to forecast_runs).
func (r *runner) runShard(ctx context.Context) (*Report, error) {
	o := r.o
	p, err := LoadPlan(ctx, r.l, o.AsOf)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("no forecast plan for %s: run shelflake forecast --train --as-of %s first", o.AsOf, o.AsOf)
	}
	if err != nil {
		return nil, err
	}
	r.trained, r.sharedCal = p, &p.SharedCal
	r.log = r.log.With("shard", o.Shard.String())
	tables := []*schema.Table{schema.TableReplenishmentSuggestions(), schema.TableForecasts()}
	done := map[string]bool{}
	for _, t := range tables {
		ok, err := r.shardCommitted(ctx, t)
		if err != nil {
			return nil, err
		}
		done[t.Name] = ok
	}
	if done[tables[0].Name] && done[tables[1].Name] {
		r.log.Info("forecast shard committed already: nothing to compute", "run", p.RunID)
		return &Report{Run: schema.ForecastRunRow{DT: o.AsOf, AsOf: o.AsOf, RunID: p.RunID}, Existing: true, Timings: map[string]float64{}}, nil
	}
	c, err := r.compute(ctx)
	if err != nil {
		return nil, err
	}
	out := c.out
	st := shardStats{Series: out.summary.Series, ByStatus: out.summary.ByStatus, MeanRMSSE: out.summary.MeanRMSSE,
		Fits: out.summary.Fits, Chosen: out.chosen, Counts: out.counts(), WeightedRMSE: out.weightedRMSSE,
		WeightSum: out.weightSum, Calendars: r.calSummary, Documents: len(c.docs), BytesRead: c.bytesRead, Timings: c.timings}
	raw, err := json.Marshal(st)
	if err != nil {
		out.abort(ctx)
		return nil, err
	}
	if err := r.l.Bucket().Put(ctx, shardStatsKey(o.AsOf, r.runID, o.Shard), bytes.NewReader(raw)); err != nil {
		out.abort(ctx)
		return nil, fmt.Errorf("shard figures: %w", err)
	}
	t0 := time.Now()
	committed := map[string]int64{}
	for i, adds := range [][]delta.Add{out.suggestionAdds, out.forecastAdds} {
		v, err := r.commitShard(ctx, tables[i], adds, done[tables[i].Name])
		if err != nil {
			return nil, err
		}
		committed[tables[i].Name] = v
	}
	c.timings["commit"] = time.Since(t0).Seconds()
	row := schema.ForecastRunRow{DT: o.AsOf, RunID: r.runID, AsOf: o.AsOf, HistoryStart: r.histStart,
		StartedAt: c.started.UTC(), FinishedAt: o.Now().UTC(), Series: int64(st.Series),
		Selected: int64(st.ByStatus[model.Selected]), Fits: st.Fits, Lines: out.orderLines, Documents: int64(len(c.docs))}
	r.log.Info("forecast shard committed", "series", st.Series, "documents", len(c.docs), "bytes_read", c.bytesRead)
	return &Report{Run: row, Documents: c.docs, Summary: out.summary, Timings: c.timings, Versions: committed}, nil
}

// shardCommitted reports whether t holds the shard's rows already.
func (r *runner) shardCommitted(ctx context.Context, t *schema.Table) (bool, error) {
	dt, err := r.l.Table(ctx, t)
	if err != nil {
		return false, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return false, err
	}
	_, ok := snap.TxnVersion(ShardAppID(r.o.AsOf, r.trained.RunID, r.o.Shard))
	return ok, nil
}

// commitShard appends the shard's files to t's as-of partition, once: a
// shard committed already (done, or a twin that won the race) leaves its
// new files out.
func (r *runner) commitShard(ctx context.Context, t *schema.Table, adds []delta.Add, done bool) (int64, error) {
	dt, err := r.l.Table(ctx, t)
	if err != nil {
		return 0, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	app := ShardAppID(r.o.AsOf, r.runID, r.o.Shard)
	if v, ok := snap.TxnVersion(app); ok || done {
		r.deleteFiles(ctx, t, adds)
		return v, nil
	}
	for i := range adds {
		adds[i].Tags = map[string]string{tagRun: r.runID, tagShard: r.o.Shard.String()}
	}
	res, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE",
		Fences: []delta.FenceRange{{AppID: app, From: 0, To: 1, First: true}},
		Info:   map[string]any{"shelflake.forecast": map[string]any{"run_id": r.runID, "as_of": r.o.AsOf.String(), "shard": r.o.Shard.String()}}})
	if errors.Is(err, delta.ErrFenced) {
		r.deleteFiles(ctx, t, adds)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("commit %s of shard %s: %w", t.Name, r.o.Shard, err)
	}
	return res.Version, nil
}

// deleteFiles removes files that were written but not committed (best
// effort: an orphan is garbage, never data).
func (r *runner) deleteFiles(ctx context.Context, t *schema.Table, adds []delta.Add) {
	for _, a := range adds {
		_ = r.l.Bucket().Delete(ctx, lake.TablePrefix(t)+a.Path)
	}
}

// Merge completes a sharded run of opts.AsOf over shards shards: it checks
// that every shard committed its rows, removes from the as-of partitions
// any file no shard of this run and count added (an earlier attempt's),
// and commits the run row to forecast_runs (first-time fence on AppID, as
// an unsharded run) with the shards' figures summed. The Report holds the
// run's documents, for the write-back to send once. A run complete already
// is returned as it is.
func Merge(ctx context.Context, l *lake.Lake, opts Options, shards int) (*Report, error) {
	o := opts.withDefaults()
	o.Shard = Shard{}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("forecast options: %w", err)
	}
	if shards < 1 || shards > maxShards {
		return nil, fmt.Errorf("shards %d: want 1..%d", shards, maxShards)
	}
	if prev, ok, err := FindRun(ctx, l, o.AsOf); err != nil {
		return nil, err
	} else if ok {
		docs, err := writeback.LoadDocuments(ctx, l.Bucket(), prev.AsOf, prev.RunID)
		if err != nil {
			return nil, err
		}
		return &Report{Run: prev, Existing: true, Documents: docs, Timings: map[string]float64{}}, nil
	}
	p, err := LoadPlan(ctx, l, o.AsOf)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("no forecast plan for %s: run shelflake forecast --train, the shards, then --merge", o.AsOf)
	}
	if err != nil {
		return nil, err
	}
	started := o.Now()
	r := &runner{l: l, o: o, log: o.Logger.With("as_of", o.AsOf.String(), "run", p.RunID), histStart: o.AsOf - schema.Date(o.HistoryDays),
		trained: p, runID: p.RunID, sharedCal: &p.SharedCal}
	if r.runID != runID(o, p.Versions, p.IDs) {
		return nil, fmt.Errorf("merge options give run %s, the plan is run %s: give the merge the options of the --train step", runID(o, p.Versions, p.IDs), p.RunID)
	}
	var est promo.Estimator
	for _, ob := range p.promoObservations() {
		est.Add(ob)
	}
	r.promos = est.Model()
	r.global = r.newGlobal()
	// Every shard's rows are in, and only theirs.
	committed := map[string]int64{}
	for _, t := range []*schema.Table{schema.TableReplenishmentSuggestions(), schema.TableForecasts()} {
		v, err := r.sealPartition(ctx, t, shards)
		if err != nil {
			return nil, err
		}
		committed[t.Name] = v
	}
	out := &fitOutput{chosen: map[string]int{}}
	timings := map[string]float64{}
	maps := map[string]*int64{"order_lines": &out.orderLines, "defaulted": &out.defaulted, "no_stock": &out.noStock,
		"no_params": &out.noParams, "no_supplier": &out.noSupplier, "default_lead_time": &out.defaultLeadTime,
		"dead": &out.dead, "zero": &out.zero, "ramped": &out.ramped, "capped": &out.capped, "global": &out.global}
	var rmsseSum float64
	var bytesRead int64
	for i := range shards {
		s := Shard{Index: i, Count: shards}
		raw, err := getAll(ctx, l.Bucket(), shardStatsKey(o.AsOf, p.RunID, s))
		if err != nil {
			return nil, fmt.Errorf("figures of shard %s: %w (rerun shelflake forecast --shard %s)", s, err, s)
		}
		var st shardStats
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("figures of shard %s: %w", s, err)
		}
		out.summary.Series += st.Series
		for k := range st.ByStatus {
			out.summary.ByStatus[k] += st.ByStatus[k]
		}
		out.summary.Fits += st.Fits
		rmsseSum += st.MeanRMSSE * float64(st.ByStatus[model.Selected])
		for k, n := range st.Chosen {
			out.chosen[k] += n
		}
		for k, p := range maps {
			*p += st.Counts[k]
		}
		out.weightedRMSSE += st.WeightedRMSE
		out.weightSum += st.WeightSum
		r.calSummary.merge(st.Calendars)
		bytesRead += st.BytesRead
		for k, v := range st.Timings {
			timings["shard_"+k] = max(timings["shard_"+k], v)
		}
	}
	// Every series once: shards that split the locations differently
	// (another release's assignment) would leave some out or count some
	// twice.
	if out.summary.Series != p.Series {
		return nil, fmt.Errorf("the %d shards of run %s forecast %d series, the plan has %d: shards of another release of shelflake split the locations differently; this run cannot be merged", shards, p.RunID, out.summary.Series, p.Series)
	}
	if n := out.summary.ByStatus[model.Selected]; n > 0 {
		out.summary.MeanRMSSE = rmsseSum / float64(n)
	}
	docs, err := writeback.LoadDocuments(ctx, l.Bucket(), o.AsOf, p.RunID)
	if err != nil {
		return nil, err
	}
	for k, v := range p.Timings {
		timings["train_"+k] = v
	}
	row := r.runRow(out, docs, p.Versions, timings, started)
	var params map[string]any
	if err := json.Unmarshal([]byte(row.Parameters), &params); err == nil {
		params["shards"] = shards
		params["shard_bytes_read"] = bytesRead
		if b, err := json.Marshal(params); err == nil {
			row.Parameters = string(b)
		}
	}
	v, err := r.commitRun(ctx, row)
	if err != nil {
		return nil, err
	}
	committed[schema.TableNameForecastRuns] = v
	r.log.Info("sharded forecast run complete", "shards", shards, "series", row.Series, "documents", len(docs))
	return &Report{Run: row, Documents: docs, Summary: out.summary, Timings: timings, Versions: committed}, nil
}

// sealPartition checks that every shard of the run committed to t and
// removes the partition's files no shard of the run (with this count)
// added: those of an earlier, incomplete attempt.
func (r *runner) sealPartition(ctx context.Context, t *schema.Table, shards int) (int64, error) {
	dt, err := r.l.Table(ctx, t)
	if err != nil {
		return 0, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	var missing []string
	for i := range shards {
		s := Shard{Index: i, Count: shards}
		if _, ok := snap.TxnVersion(ShardAppID(r.o.AsOf, r.runID, s)); !ok {
			missing = append(missing, s.String())
		}
	}
	if len(missing) > 0 {
		return 0, fmt.Errorf("%s: shards %s of run %s have not committed: run them (shelflake forecast --shard i/N), then merge again", t.Name, strings.Join(missing, ", "), r.runID)
	}
	d := r.o.AsOf.String()
	var removes []delta.Remove
	now := r.o.Now()
	for _, f := range snap.FilesWhere(func(pv map[string]string) bool { return pv[t.PartitionColumn] == d }) {
		s, err := ParseShard(f.Tags[tagShard])
		if f.Tags[tagRun] != r.runID || err != nil || s.Count != shards {
			removes = append(removes, delta.RemoveOf(f.Add, now, true))
		}
	}
	if len(removes) == 0 {
		return snap.Version(), nil
	}
	r.log.Warn("removing what an earlier attempt left in the partition", "table", t.Name, "files", len(removes))
	fence := delta.FenceRange{AppID: AppID(r.o.AsOf), From: 0, To: 1, First: true}
	if cur, ok := snap.TxnVersion(fence.AppID); ok {
		fence = delta.FenceRange{AppID: fence.AppID, From: cur, To: cur + 1}
	}
	res, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Rewrite, Removes: removes, Fences: []delta.FenceRange{fence},
		Operation: "DELETE", Info: map[string]any{"shelflake.forecast": map[string]any{"run_id": r.runID, "as_of": d}}})
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", t.Name, err)
	}
	return res.Version, nil
}

// merge adds another shard's calendar summary.
func (s *calSummary) merge(o calSummary) {
	s.Locations += o.Locations
	s.HolidayClosures += o.HolidayClosures
	s.ClosedForecastDays += o.ClosedForecastDays
	for k, n := range o.ClosedWeekdays {
		if s.ClosedWeekdays == nil {
			s.ClosedWeekdays = map[string]int{}
		}
		s.ClosedWeekdays[k] += n
	}
}

// readBytes is what the process has read from files so far (Linux
// /proc/self/io rchar; 0 elsewhere): the shards' scans are measured by it.
func readBytes() int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// supplierLeadTimes is one supplier's lead times over every location:
// their count, sum and sum of squares in days.
type supplierLeadTimes struct {
	Supplier string `json:"supplier_id"`
	N        int64  `json:"n"`
	Sum      int64  `json:"sum"`
	SumSq    int64  `json:"sum_sq"`
}

// readSupplierLeadTimes reads the lead_time_suppliers table, in supplier
// order (never nil: a plan with none says so with []).
func readSupplierLeadTimes(ctx context.Context, db *sql.DB) ([]supplierLeadTimes, error) {
	rows, err := db.QueryContext(ctx, "SELECT supplier_id, n, s, ss FROM lead_time_suppliers ORDER BY supplier_id")
	if err != nil {
		return nil, fmt.Errorf("pooled lead times: %w", err)
	}
	defer rows.Close()
	out := []supplierLeadTimes{}
	for rows.Next() {
		var l supplierLeadTimes
		if err := rows.Scan(&l.Supplier, &l.N, &l.Sum, &l.SumSq); err != nil {
			return nil, fmt.Errorf("pooled lead times: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// leadTimeSuppliers creates the lead_time_suppliers table: pooled from the
// lead_times view, or in a shard from the plan.
func (r *runner) leadTimeSuppliers(ctx context.Context, db *sql.DB) error {
	if r.trained == nil || r.o.Shard.Count == 0 {
		if _, err := db.ExecContext(ctx, leadTimeSuppliersSQL); err != nil {
			return fmt.Errorf("pooled lead times: %w", err)
		}
		return nil
	}
	if r.trained.SupplierLeadTimes == nil {
		return fmt.Errorf("the plan of run %s has no pooled lead times (an older release wrote it): train again", r.trained.RunID)
	}
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE lead_time_suppliers (supplier_id VARCHAR, n BIGINT, s BIGINT, ss BIGINT)"); err != nil {
		return fmt.Errorf("pooled lead times: %w", err)
	}
	for lo := 0; lo < len(r.trained.SupplierLeadTimes); lo += 1000 {
		var b strings.Builder
		b.WriteString("INSERT INTO lead_time_suppliers VALUES ")
		for i, l := range r.trained.SupplierLeadTimes[lo:min(lo+1000, len(r.trained.SupplierLeadTimes))] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%s, %d, %d, %d)", sqlString(l.Supplier), l.N, l.Sum, l.SumSq)
		}
		if _, err := db.ExecContext(ctx, b.String()); err != nil {
			return fmt.Errorf("pooled lead times: %w", err)
		}
	}
	return nil
}

// Package reconcile reconciles stores' POS sales against the stock records
// in the lake and keeps the stock exception queue (table stock_exceptions).
//
// Contract. Run(ctx, lake, Options{AsOf: T}) reads, through DuckDB, the raw
// tables pos_lines, inventory_snapshots (closing full snapshots; partial
// snapshots whose snapshot_id starts with Options.CountPrefix are cycle
// counts), purchase_order_lines (qty_received deltas are receipts) and
// item_locations (cost, price, lead time) for the business dates [T −
// WindowDays, T − 1], and for each store-SKU (a location that rings POS)
// computes the expected on hand day by day: the last trusted count or
// snapshot + receipts − POS units sold (+ restocked returns with
// RestockReturns), a sale or receipt stamped after the day's closing
// snapshot counting for the next day. Variances get one cause each (see
// Detect): timing, receipt_mismatch, overstated_after_count,
// unexplained_loss, negative_on_hand, stale_snapshot, phantom_stock (a zero-sales run whose Poisson probability
// at the item's rate, lifted on promotion days, counting open days only, is
// below Params.PhantomP).
//
// The queue: at most one unresolved exception per store-SKU, the most
// urgent of its open findings (phantom, negative, stale, overstated, receipt, loss,
// timing). The run writes the whole queue as the dt = T partition of
// stock_exceptions, replacing an earlier run's of the same T, and carries
// the previous queue (the latest partition before T) forward: the same
// problem keeps its exception_id, first_seen and an acknowledged state; a
// problem no longer seen is written once more as resolved (by count when a
// count came since, else cleared). Reruns of the same T with the same
// inputs write the same rows: never a duplicate open exception.
// CountList ranks a store's open exceptions for tomorrow's cycle count.
package reconcile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// Options configure a run.
type Options struct {
	// AsOf is the run's date: it reconciles the business days before it.
	AsOf schema.Date
	// WindowDays of history read (default 56).
	WindowDays int
	// CountPrefix starts the snapshot_id of cycle counts (default "CNT-").
	CountPrefix string
	// RestockReturns counts POS returns back into stock.
	RestockReturns bool
	// OpenDays: a receipt mismatch or loss stays open this many days
	// unless a count settles it first (default 14).
	OpenDays int
	Params   Params
	// Now stamps run_at (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.WindowDays == 0 {
		o.WindowDays = 56
	}
	if o.CountPrefix == "" {
		o.CountPrefix = "CNT-"
	}
	if o.OpenDays == 0 {
		o.OpenDays = 14
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Report sums up a run.
type Report struct {
	AsOf     schema.Date
	Series   int
	Queue    []schema.StockExceptionRow // open, acknowledged and resolved today
	Open     map[string]int             // unresolved by reason
	Resolved int
	// RecordAccuracy is the share of store-SKUs with a closing snapshot
	// on the last day and no open exception.
	RecordAccuracy float64
	// Findings are every series' findings (all history in the window).
	Findings map[string][]Finding // by location/sku
	Version  int64
}

// Run reconciles as of o.AsOf and writes the queue.
func Run(ctx context.Context, l *lake.Lake, o Options) (*Report, error) {
	o = o.withDefaults()
	if o.AsOf == 0 {
		return nil, errors.New("reconcile: as-of date required")
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	from, to := o.AsOf-schema.Date(o.WindowDays), o.AsOf-1
	versions, release, err := openViews(ctx, db, l, from, to)
	if err != nil {
		return nil, err
	}
	defer release()
	for _, t := range []string{schema.TableNamePOSLines, schema.TableNameInventorySnapshots} {
		if versions[t] < 0 {
			return nil, fmt.Errorf("reconcile: the lake has no %s table: ingest the POS and inventory streams first", t)
		}
	}
	series, err := loadSeries(ctx, db, &o, from, to)
	if err != nil {
		return nil, err
	}
	prev, err := previousQueue(ctx, db, o.AsOf)
	if err != nil {
		return nil, err
	}
	// A rerun keeps what planners acknowledged in this date's queue.
	acked := map[string]bool{}
	if same, dt, err := readQueue(ctx, db, o.AsOf); err != nil {
		return nil, err
	} else if dt == o.AsOf {
		for _, r := range same {
			if r.State == schema.ExceptionAcknowledged {
				acked[r.ExceptionID] = true
			}
		}
	}
	rep := &Report{AsOf: o.AsOf, Series: len(series), Open: map[string]int{}, Findings: map[string][]Finding{}}
	runAt := o.Now().UTC().Truncate(time.Microsecond)
	var snapped, clean int
	seen := map[seriesKey]bool{}
	for _, s := range series {
		fs := Detect(s, o.Params)
		rep.Findings[s.Location+"/"+s.SKU] = fs
		k := seriesKey{s.Location, s.SKU}
		seen[k] = true
		cur, ok := current(s, fs, &o)
		last := &s.Days[len(s.Days)-1]
		if last.HasSnap {
			snapped++
			if !ok || cur.Reason == schema.ReasonTiming {
				clean++
			}
		}
		p, hadPrev := prev[k]
		if hadPrev && (!ok || p.Reason != cur.Reason) {
			rep.Queue = append(rep.Queue, resolved(p, s, o.AsOf, runAt))
			rep.Resolved++
		}
		if !ok {
			continue
		}
		row := exceptionRow(s, cur, &o, runAt)
		if hadPrev && p.Reason == cur.Reason {
			row.ExceptionID, row.FirstSeen = p.ExceptionID, min(p.FirstSeen, row.FirstSeen)
			if p.State == schema.ExceptionAcknowledged {
				row.State = p.State
			}
			row.AgeDays = int32(o.AsOf - row.FirstSeen)
		}
		if acked[row.ExceptionID] {
			row.State = schema.ExceptionAcknowledged
		}
		rep.Queue = append(rep.Queue, row)
		rep.Open[row.Reason]++
	}
	for k, p := range prev {
		if !seen[k] {
			r := p
			r.DT, r.State, r.ResolvedBy, r.RunAt, r.AgeDays = o.AsOf, schema.ExceptionResolved, "cleared", runAt, int32(o.AsOf-p.FirstSeen)
			rep.Queue = append(rep.Queue, r)
			rep.Resolved++
		}
	}
	slices.SortFunc(rep.Queue, func(a, b schema.StockExceptionRow) int {
		return cmp.Or(cmp.Compare(a.LocationID, b.LocationID), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.ExceptionID, b.ExceptionID))
	})
	if snapped > 0 {
		rep.RecordAccuracy = float64(clean) / float64(snapped)
	}
	if rep.Version, err = writeQueue(ctx, l, o.AsOf, rep.Queue); err != nil {
		return nil, err
	}
	o.Log.Info("reconciled", "as_of", o.AsOf, "series", rep.Series, "open", len(rep.Queue)-rep.Resolved,
		"resolved", rep.Resolved, "record_accuracy", rep.RecordAccuracy)
	return rep, nil
}

var priority = map[string]int{
	schema.ReasonPhantomStock: 0, schema.ReasonNegativeOnHand: 1, schema.ReasonStaleSnapshot: 2,
	schema.ReasonOverstatedAfterCount: 3, schema.ReasonReceiptMismatch: 4, schema.ReasonUnexplainedLoss: 5,
	schema.ReasonTiming: 6,
}

// current picks the series' open problem on the last day, if any.
func current(s *Series, fs []Finding, o *Options) (Finding, bool) {
	n := len(s.Days)
	lastCount := -1
	for i := range s.Days {
		if s.Days[i].HasCount {
			lastCount = i
		}
	}
	var best Finding
	found := false
	for _, f := range fs {
		open := f.Open
		switch f.Reason {
		case schema.ReasonReceiptMismatch, schema.ReasonUnexplainedLoss, schema.ReasonOverstatedAfterCount:
			open = f.Seen >= n-o.OpenDays && lastCount <= f.Seen
		}
		if !open {
			continue
		}
		if !found || priority[f.Reason] < priority[best.Reason] ||
			(priority[f.Reason] == priority[best.Reason] && f.Seen > best.Seen) {
			best, found = f, true
		}
	}
	return best, found
}

func exceptionID(loc, sku, reason string, first schema.Date) string {
	h := sha256.Sum256([]byte(loc + "\x00" + sku + "\x00" + reason + "\x00" + first.String()))
	return "EX-" + hex.EncodeToString(h[:6])
}

func exceptionRow(s *Series, f Finding, o *Options, runAt time.Time) schema.StockExceptionRow {
	first := s.From.AddDays(f.Onset)
	lam := rateAt(s, o.Params.withDefaults().RateDays)
	lt := max(s.LeadTimeDays, 1)
	margin := max(s.UnitPrice-s.UnitCost, 0)
	// Value at risk: the margin of the sales the record's error may cost
	// over a lead time — all of them while the shelf is likely empty
	// (phantom) or unknown (stale), else as many as the record overstates
	// the stock by (the ERP reorders that much later).
	atRisk := lam * float64(lt)
	switch f.Reason {
	case schema.ReasonPhantomStock, schema.ReasonStaleSnapshot:
	default:
		atRisk = min(atRisk, float64(max(f.Record-f.Expected, 0)))
	}
	var_ := schema.MoneyFromMinor(int64(math.Round(atRisk * float64(margin) / 100)))
	// Loss value: units gone or never put away, at cost.
	var lost int64
	switch {
	case f.Reason == schema.ReasonUnexplainedLoss:
		lost = max(f.Units, -f.Units)
	case f.Reason == schema.ReasonReceiptMismatch && f.Units < 0:
		lost = -f.Units
	}
	loss := s.UnitCost.Mul(lost)
	row := schema.StockExceptionRow{
		DT: o.AsOf, ExceptionID: exceptionID(s.Location, s.SKU, f.Reason, first),
		LocationID: s.Location, SKU: s.SKU, Reason: f.Reason, State: schema.ExceptionOpen, Evidence: f.Evidence,
		RecordOnHand: f.Record, ExpectedOnHand: f.Expected, VarianceUnits: f.Record - f.Expected,
		RatePerDay: math.Round(lam*1000) / 1000, Currency: s.Currency, ValueAtRisk: var_, LossValue: loss, LossUnits: lost,
		FirstSeen: first, LastSeen: s.From.AddDays(f.Seen), AgeDays: int32(o.AsOf - first), RunAt: runAt,
	}
	if f.Reason == schema.ReasonPhantomStock {
		p := f.Probability
		row.Probability = &p
	}
	return row
}

func resolved(p schema.StockExceptionRow, s *Series, asOf schema.Date, runAt time.Time) schema.StockExceptionRow {
	p.DT, p.State, p.RunAt, p.AgeDays = asOf, schema.ExceptionResolved, runAt, int32(asOf-p.FirstSeen)
	p.ResolvedBy = "cleared"
	for i := range s.Days {
		if s.Days[i].HasCount && s.From.AddDays(i) >= p.FirstSeen {
			p.ResolvedBy = "count"
		}
	}
	return p
}

// previousQueue reads the unresolved rows of the latest stock_exceptions
// partition before asOf.
func previousQueue(ctx context.Context, db *sql.DB, asOf schema.Date) (map[seriesKey]schema.StockExceptionRow, error) {
	rows, _, err := readQueue(ctx, db, asOf-1)
	if err != nil {
		return nil, err
	}
	out := map[seriesKey]schema.StockExceptionRow{}
	for _, r := range rows {
		if r.State != schema.ExceptionResolved {
			out[seriesKey{r.LocationID, r.SKU}] = r
		}
	}
	return out, nil
}

// readQueue reads every row of the latest stock_exceptions partition on
// or before asOf, and its date (0: none).
func readQueue(ctx context.Context, db *sql.DB, asOf schema.Date) ([]schema.StockExceptionRow, schema.Date, error) {
	rows, err := db.QueryContext(ctx, `
WITH lastdt AS (SELECT max(dt) AS dt FROM stock_exceptions WHERE dt <= `+sqlDate(asOf)+`)
SELECT exception_id, location_id, sku, reason, state, evidence, record_on_hand, expected_on_hand, variance_units,
  probability, rate_per_day, currency, CAST(value_at_risk * 10000 AS BIGINT), CAST(loss_value * 10000 AS BIGINT),
  CAST(first_seen - DATE '1970-01-01' AS INTEGER), CAST(last_seen - DATE '1970-01-01' AS INTEGER),
  CAST(dt - DATE '1970-01-01' AS INTEGER), age_days, coalesce(resolved_by, ''), run_at, loss_units
FROM stock_exceptions WHERE dt = (SELECT dt FROM lastdt) ORDER BY location_id, sku, exception_id`)
	if err != nil {
		return nil, 0, fmt.Errorf("exception queue: %w", err)
	}
	defer rows.Close()
	var out []schema.StockExceptionRow
	var dt schema.Date
	for rows.Next() {
		var r schema.StockExceptionRow
		var prob sql.NullFloat64
		var varisk, loss int64
		var first, last, d int32
		if err := rows.Scan(&r.ExceptionID, &r.LocationID, &r.SKU, &r.Reason, &r.State, &r.Evidence, &r.RecordOnHand,
			&r.ExpectedOnHand, &r.VarianceUnits, &prob, &r.RatePerDay, &r.Currency, &varisk, &loss, &first, &last, &d,
			&r.AgeDays, &r.ResolvedBy, &r.RunAt, &r.LossUnits); err != nil {
			return nil, 0, fmt.Errorf("exception queue: %w", err)
		}
		if prob.Valid {
			r.Probability = &prob.Float64
		}
		r.ValueAtRisk, r.LossValue = schema.Money(varisk), schema.Money(loss)
		r.FirstSeen, r.LastSeen, r.DT = schema.Date(first), schema.Date(last), schema.Date(d)
		r.RunAt = r.RunAt.UTC()
		dt = r.DT
		out = append(out, r)
	}
	return out, dt, rows.Err()
}

// Acknowledge marks the open exceptions ids of the latest queue on or
// before asOf acknowledged (a planner has seen them; they stay in the
// queue until resolved) and returns how many it changed. An id that is
// not open there is an error naming it, and nothing is written.
func Acknowledge(ctx context.Context, l *lake.Lake, asOf schema.Date, ids []string) (int, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, fmt.Errorf("open duckdb: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, release, err := openViews(ctx, db, l, asOf-1, asOf)
	if err != nil {
		return 0, err
	}
	defer release()
	rows, dt, err := readQueue(ctx, db, asOf)
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	for i := range rows {
		if want[rows[i].ExceptionID] && rows[i].State != schema.ExceptionResolved {
			delete(want, rows[i].ExceptionID)
			if rows[i].State == schema.ExceptionOpen {
				rows[i].State = schema.ExceptionAcknowledged
				n++
			}
		}
	}
	for id := range want {
		return 0, fmt.Errorf("exception %s: not open in the queue of %s (see the open_exceptions query)", id, dt)
	}
	if n == 0 {
		return 0, nil
	}
	_, err = writeQueue(ctx, l, dt, rows)
	return n, err
}

// writeQueue replaces the asOf partition of stock_exceptions with rows.
func writeQueue(ctx context.Context, l *lake.Lake, asOf schema.Date, rows []schema.StockExceptionRow) (int64, error) {
	t := schema.TableStockExceptions()
	dt, err := l.Table(ctx, t)
	if err != nil {
		return 0, err
	}
	var adds []delta.Add
	if len(rows) > 0 {
		if adds, err = lake.WriteFiles(ctx, l, t, asOf, rows, lake.WriteOptions{}); err != nil {
			return 0, err
		}
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	d := asOf.String()
	var removes []delta.Remove
	now := time.Now()
	for _, f := range snap.FilesWhere(func(pv map[string]string) bool { return pv[t.PartitionColumn] == d }) {
		removes = append(removes, delta.RemoveOf(f.Add, now, true))
	}
	txn := delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE",
		Info: map[string]any{"shelflake.reconcile": map[string]any{"as_of": d, "rows": len(rows)}}}
	if len(removes) > 0 {
		txn.Isolation, txn.Removes = delta.Rewrite, removes
	}
	if len(adds) == 0 && len(removes) == 0 {
		return snap.Version(), nil
	}
	res, err := dt.Commit(ctx, snap, txn)
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", t.Name, err)
	}
	return res.Version, nil
}

// CountList returns the store's open exceptions ranked for tomorrow's
// cycle count, value at risk plus loss value highest first: those whose
// record and reconciled estimate differ (timing corrects itself; a count
// already settled a loss it found).
func CountList(queue []schema.StockExceptionRow, store string, limit int) []schema.StockExceptionRow {
	var out []schema.StockExceptionRow
	for _, r := range queue {
		if r.LocationID == store && r.State != schema.ExceptionResolved && r.Reason != schema.ReasonTiming && r.VarianceUnits != 0 {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b schema.StockExceptionRow) int {
		return cmp.Or(cmp.Compare(b.ValueAtRisk+b.LossValue, a.ValueAtRisk+a.LossValue), cmp.Compare(a.SKU, b.SKU))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

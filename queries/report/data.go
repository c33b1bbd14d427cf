package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/schema"
)

// builder reads the report's data through the session's connection.
type builder struct {
	s   *queries.Session
	o   Options
	log *slog.Logger
}

// present reports whether the session has a view of table that reads a
// table in the lake.
func (b *builder) present(table string) (queries.TableInfo, bool) {
	t, ok := b.s.Table(table)
	return t, ok && t.Present
}

// query runs q with args on the session's connection, calling scan for each
// row; a failure reading a view's files names the view.
func (b *builder) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := b.s.Conn().QueryContext(ctx, q, args...)
	if err != nil {
		return b.s.Explain(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return b.s.Explain(rows.Err())
}

// exec runs a statement without a result.
func (b *builder) exec(ctx context.Context, q string, args ...any) error {
	_, err := b.s.Conn().ExecContext(ctx, q, args...)
	return b.s.Explain(err)
}

// epochDay is SQL for a DATE expression as days since 1970-01-01 (a
// schema.Date).
func epochDay(expr string) string { return "CAST(" + expr + " - DATE '1970-01-01' AS INTEGER)" }

// money is SQL for a DECIMAL(…,4) expression as a schema.Money.
func money(expr string) string { return "CAST(" + expr + " * 10000 AS BIGINT)" }

// rawSource says where a raw table's freshness comes from.
type rawSource struct {
	topic, table  string
	event, ingest string // columns
}

func rawSources() []rawSource {
	return []rawSource{
		{schema.TopicPOS, schema.TableNamePOSLines, "event_time", "ingested_at"},
		{schema.TopicInventory, schema.TableNameInventorySnapshots, "as_of", "ingested_at"},
		{schema.TopicPurchaseOrder, schema.TableNamePurchaseOrderLines, "updated_at", "ingested_at"},
		{schema.TopicItemLocation, schema.TableNameItemLocations, "updated_at", "ingested_at"},
		{schema.TopicPromotion, schema.TableNamePromotions, "updated_at", "ingested_at"},
		{"rejects", schema.TableNameRejects, "received_at", "received_at"},
	}
}

// sources reads the freshness of every raw table.
func (b *builder) sources(ctx context.Context) ([]Source, error) {
	var out []Source
	for _, rs := range rawSources() {
		src := Source{Topic: rs.topic, Table: rs.table, Version: -1}
		if info, ok := b.present(rs.table); ok {
			src.Present, src.Version, src.CommitTime = true, info.Version, info.CommitTime
			q := fmt.Sprintf(`SELECT count(*), %s, max(%s), max(%s) FROM %s`,
				epochDay("max(dt)"), rs.event, rs.ingest, rs.table)
			err := b.query(ctx, q, nil, func(rows *sql.Rows) error {
				var day sql.NullInt32
				var ev, ing sql.NullTime
				if err := rows.Scan(&src.Rows, &day, &ev, &ing); err != nil {
					return err
				}
				src.NewestDay, src.HasDay = schema.Date(day.Int32), day.Valid
				src.NewestEvent, src.NewestIngested = ev.Time, ing.Time
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", rs.table, err)
			}
		}
		b.fold(&src)
		if !src.NewestEvent.IsZero() {
			src.EventLag = b.o.Now.Sub(src.NewestEvent)
			src.Stale = src.EventLag > b.o.StaleAfter
		}
		if !src.CommitTime.IsZero() {
			src.CommitLag = b.o.Now.Sub(src.CommitTime)
		}
		out = append(out, src)
	}
	return out, nil
}

// fold sets a source's watermark summary from Options.Watermarks, by the
// rule of ingest.Complete: the table is complete up to the minimum over its
// partitions of the later of event time and drained time, minus the
// lateness, and never later than the newest event time of its partitions
// (an event time, never the wall clock a partition was drained at).
func (b *builder) fold(src *Source) {
	var upTo, newest time.Time
	unknown := false
	for _, w := range b.o.Watermarks {
		if w.Table != src.Table {
			continue
		}
		src.Partitions++
		if w.EventTime.After(newest) {
			newest = w.EventTime
		}
		t := w.EventTime
		if w.DrainedAt.After(t) {
			t = w.DrainedAt
		}
		if t.IsZero() {
			unknown = true
			continue
		}
		if t = t.Add(-b.o.Lateness); upTo.IsZero() || t.Before(upTo) {
			upTo = t
		}
	}
	if unknown || upTo.IsZero() || newest.IsZero() {
		return
	}
	src.CompleteUpTo = upTo
	if newest.Before(upTo) {
		src.CompleteUpTo = newest
	}
}

// maxExample bounds an example error's length, in characters.
const maxExample = 240

// rejects counts the rejects table's records by topic and reason.
func (b *builder) rejects(ctx context.Context) ([]RejectGroup, int64, error) {
	if _, ok := b.present(schema.TableNameRejects); !ok {
		return nil, 0, nil
	}
	var out []RejectGroup
	var total int64
	q := `SELECT topic, reason, count(*) AS n, min(received_at), max(received_at),
	arg_min(error, (received_at, "partition", "offset"))
FROM rejects GROUP BY topic, reason ORDER BY n DESC, topic, reason`
	err := b.query(ctx, q, nil, func(rows *sql.Rows) error {
		var g RejectGroup
		var topic, reason, example sql.NullString
		var first, last sql.NullTime
		if err := rows.Scan(&topic, &reason, &g.Count, &first, &last, &example); err != nil {
			return err
		}
		g.Topic, g.Reason, g.First, g.Last = topic.String, reason.String, first.Time, last.Time
		g.Example = shorten(example.String, maxExample)
		total += g.Count
		out = append(out, g)
		return nil
	})
	return out, total, err
}

// shorten cuts s to at most n characters, marking the cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Temporary tables of the POs and lines shown, dropped when done.
const (
	tempPOs   = "_shelflake_report_pos"
	tempLines = "_shelflake_report_lines"
)

// docLine is the SQL condition of a suggestion line of a PO document.
const docLine = `suggested_qty > 0 AND coalesce(document_key, '') <> ''`

// run reads the newest forecast run, its POs and the charted lines' series.
func (b *builder) run(ctx context.Context) (_ *Run, err error) {
	if _, ok := b.present(schema.TableNameReplenishmentSuggestions); !ok {
		return nil, nil
	}
	var asOf sql.NullInt32
	err = b.query(ctx, "SELECT "+epochDay("max(dt)")+" FROM replenishment_suggestions", nil, func(rows *sql.Rows) error {
		return rows.Scan(&asOf)
	})
	if err != nil || !asOf.Valid {
		return nil, err
	}
	r := &Run{AsOf: schema.Date(asOf.Int32), HistoryDays: b.o.HistoryDays, HorizonDays: b.o.HorizonDays}
	_, r.Sales = b.present(schema.TableNameSalesDaily)
	_, r.Forecasts = b.present(schema.TableNameForecasts)
	_, r.Inventory = b.present(schema.TableNameInventoryDaily)
	_, r.OnOrder = b.present(schema.TableNamePOOpen)
	day := r.AsOf.String()

	err = b.query(ctx, `SELECT coalesce(min(run_id), ''), count(*),
	count(*) FILTER (WHERE suggested_qty > 0),
	coalesce(sum(suggested_qty) FILTER (WHERE suggested_qty > 0), 0),
	count(*) FILTER (WHERE suggested_qty > 0 AND coalesce(document_key, '') = ''),
	count(DISTINCT document_key) FILTER (WHERE `+docLine+`)
FROM replenishment_suggestions WHERE dt = CAST(? AS DATE)`, []any{day}, func(rows *sql.Rows) error {
		return rows.Scan(&r.RunID, &r.Series, &r.Lines, &r.Units, &r.Unassigned, &r.Documents)
	})
	if err != nil {
		return nil, err
	}
	err = b.query(ctx, `SELECT currency, `+money("sum(extended_cost)")+`
FROM replenishment_suggestions WHERE dt = CAST(? AS DATE) AND `+docLine+`
GROUP BY currency ORDER BY currency`, []any{day}, func(rows *sql.Rows) error {
		var a Amount
		var v int64
		if err := rows.Scan(&a.Currency, &v); err != nil {
			return err
		}
		a.Value = schema.Money(v)
		r.Value = append(r.Value, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := b.present(schema.TableNameForecastRuns); ok {
		err = b.query(ctx, `SELECT finished_at, weighted_backtest_rmsse FROM forecast_runs
WHERE dt = CAST(? AS DATE) ORDER BY finished_at DESC LIMIT 1`, []any{day}, func(rows *sql.Rows) error {
			var fin sql.NullTime
			var w sql.NullFloat64
			if err := rows.Scan(&fin, &w); err != nil {
				return err
			}
			r.FinishedAt = fin.Time
			if w.Valid && !math.IsNaN(w.Float64) && !math.IsInf(w.Float64, 0) {
				r.WeightedRMSSE = &w.Float64
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("forecast_runs: %w", err)
		}
	}

	defer func() {
		// The temporary tables live on the session's connection: drop them
		// even when the context is done.
		drop := context.WithoutCancel(ctx)
		for _, t := range []string{tempLines, tempPOs} {
			if derr := b.exec(drop, "DROP TABLE IF EXISTS temp."+t); derr != nil {
				err = errors.Join(err, fmt.Errorf("drop %s: %w", t, derr))
			}
		}
	}()
	if err := b.pos(ctx, r, day); err != nil {
		return nil, err
	}
	if err := b.series(ctx, r); err != nil {
		return nil, err
	}
	for i := range r.POs {
		for j := range r.POs[i].Charted {
			ln := &r.POs[i].Charted[j]
			ln.Chart = newChart(r, ln)
		}
	}
	return r, nil
}

// pos reads the run's POs (the first MaxPOs) and their first MaxLinesPerPO
// lines, and counts the POs left out.
func (b *builder) pos(ctx context.Context, r *Run, day string) error {
	err := b.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+tempPOs+` AS
WITH po AS (
	SELECT document_key, min(location_id) AS location_id, min(supplier_id) AS supplier_id,
	       string_agg(DISTINCT currency, ',' ORDER BY currency) AS currency,
	       min(need_by_date) AS need_by, count(*) AS lines, sum(suggested_qty) AS units,
	       sum(extended_cost) AS value
	FROM replenishment_suggestions
	WHERE dt = CAST(? AS DATE) AND `+docLine+`
	GROUP BY document_key
)
SELECT *, row_number() OVER (ORDER BY need_by, value DESC, document_key) AS po_rank FROM po`, day)
	if err != nil {
		return err
	}
	err = b.query(ctx, `SELECT count(*), coalesce(sum(lines), 0), coalesce(sum(units), 0)
FROM `+tempPOs+` WHERE po_rank > ?`, []any{b.o.MaxPOs}, func(rows *sql.Rows) error {
		return rows.Scan(&r.OmittedPOs, &r.OmittedLines, &r.OmittedUnits)
	})
	if err != nil {
		return err
	}
	err = b.query(ctx, `SELECT document_key, location_id, coalesce(supplier_id, ''), coalesce(currency, ''),
	`+epochDay("need_by")+`, lines, units, `+money("value")+`
FROM `+tempPOs+` WHERE po_rank <= ? ORDER BY po_rank`, []any{b.o.MaxPOs}, func(rows *sql.Rows) error {
		var p PO
		var needBy int32
		var value int64
		if err := rows.Scan(&p.DocumentKey, &p.LocationID, &p.SupplierID, &p.Currency, &needBy, &p.Lines, &p.Units, &value); err != nil {
			return err
		}
		p.NeedBy, p.Value = schema.Date(needBy), schema.Money(value)
		r.POs = append(r.POs, p)
		return nil
	})
	if err != nil {
		return err
	}
	err = b.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+tempLines+` AS
SELECT s.*, p.po_rank,
       row_number() OVER (PARTITION BY s.document_key ORDER BY s.extended_cost DESC, s.sku) AS line_rank
FROM replenishment_suggestions AS s JOIN `+tempPOs+` AS p USING (document_key)
WHERE s.dt = CAST(? AS DATE) AND s.suggested_qty > 0 AND p.po_rank <= ?
QUALIFY line_rank <= ?`, day, b.o.MaxPOs, b.o.MaxLinesPerPO)
	if err != nil {
		return err
	}
	return b.query(ctx, `SELECT po_rank, sku, suggested_qty, `+money("unit_cost")+`, `+money("extended_cost")+`,
	`+epochDay("need_by_date")+`, on_hand, on_order, allocated, inventory_position,
	daily_forecast, safety_stock, reorder_point, order_up_to, weeks_of_cover, weeks_of_cover_after,
	lead_time_days, coalesce(reasons, ''), coalesce(model, '')
FROM `+tempLines+` ORDER BY po_rank, line_rank`, nil, func(rows *sql.Rows) error {
		var rank int64
		var ln Line
		var unit, ext int64
		var needBy int32
		var woc, wocAfter sql.NullFloat64
		if err := rows.Scan(&rank, &ln.SKU, &ln.SuggestedQty, &unit, &ext, &needBy, &ln.OnHand, &ln.OnOrder,
			&ln.Allocated, &ln.InventoryPosition, &ln.DailyForecast, &ln.SafetyStock, &ln.ReorderPoint,
			&ln.OrderUpTo, &woc, &wocAfter, &ln.LeadTimeDays, &ln.Reasons, &ln.Model); err != nil {
			return err
		}
		if rank < 1 || rank > int64(len(r.POs)) {
			return fmt.Errorf("line %s of PO rank %d: no such PO", ln.SKU, rank)
		}
		ln.UnitCost, ln.ExtendedCost, ln.NeedBy = schema.Money(unit), schema.Money(ext), schema.Date(needBy)
		ln.WeeksOfCover, ln.WeeksOfCoverAfter = finite(woc), finite(wocAfter)
		po := &r.POs[rank-1]
		po.Charted = append(po.Charted, ln)
		return nil
	})
}

func finite(v sql.NullFloat64) *float64 {
	if !v.Valid || math.IsNaN(v.Float64) || math.IsInf(v.Float64, 0) {
		return nil
	}
	return &v.Float64
}

// series reads the daily values of the charted lines: sales, on hand and
// on order over the history days, the forecast over the horizon.
func (b *builder) series(ctx context.Context, r *Run) error {
	start := r.AsOf.AddDays(-r.HistoryDays)
	lines := map[string]*Line{}
	for i := range r.POs {
		po := &r.POs[i]
		po.OmittedLines = po.Lines - int64(len(po.Charted))
		for j := range po.Charted {
			ln := &po.Charted[j]
			ln.Series = Series{
				Start: start, History: r.HistoryDays, Horizon: r.HorizonDays,
				Sold:        make([]int64, r.HistoryDays),
				OnHand:      make([]int64, r.HistoryDays),
				OnHandKnown: make([]bool, r.HistoryDays),
				OnOrder:     make([]int64, r.HistoryDays),
				Forecast:    make([]float64, r.HorizonDays),
			}
			for k := range ln.Series.Forecast {
				ln.Series.Forecast[k] = math.NaN()
			}
			lines[po.LocationID+"\x00"+ln.SKU] = ln
		}
	}
	if len(lines) == 0 {
		return nil
	}
	histFrom, histTo := start.String(), r.AsOf.AddDays(-1).String()
	// each reads (location, sku, day, value) rows into the lines' series.
	each := func(what, q string, args []any, set func(ln *Line, day schema.Date, v float64)) error {
		return b.query(ctx, q, args, func(rows *sql.Rows) error {
			var loc, sku string
			var day int32
			var v sql.NullFloat64
			if err := rows.Scan(&loc, &sku, &day, &v); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if ln := lines[loc+"\x00"+sku]; ln != nil && v.Valid {
				set(ln, schema.Date(day), v.Float64)
			}
			return nil
		})
	}
	hist := func(day schema.Date) int {
		if i := int(day - start); i >= 0 && i < r.HistoryDays {
			return i
		}
		return -1
	}
	if r.Sales {
		err := each("sales_daily", `SELECT l.location_id, l.sku, `+epochDay("d.dt")+`, CAST(sum(d.units_sold) AS DOUBLE)
FROM sales_daily AS d JOIN `+tempLines+` AS l ON d.store_id = l.location_id AND d.sku = l.sku
WHERE d.dt BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) GROUP BY ALL`, []any{histFrom, histTo},
			func(ln *Line, day schema.Date, v float64) {
				if i := hist(day); i >= 0 {
					ln.Series.Sold[i] = int64(v)
				}
			})
		if err != nil {
			return err
		}
	}
	if r.Inventory {
		err := each("inventory_daily", `SELECT l.location_id, l.sku, `+epochDay("d.dt")+`, CAST(arg_max(d.on_hand, d.as_of) AS DOUBLE)
FROM inventory_daily AS d JOIN `+tempLines+` AS l ON d.location_id = l.location_id AND d.sku = l.sku
WHERE d.dt BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) GROUP BY ALL`, []any{histFrom, histTo},
			func(ln *Line, day schema.Date, v float64) {
				if i := hist(day); i >= 0 {
					ln.Series.OnHand[i], ln.Series.OnHandKnown[i] = int64(v), true
				}
			})
		if err != nil {
			return err
		}
	}
	if r.OnOrder {
		err := each("po_open", `SELECT l.location_id, l.sku, `+epochDay("d.dt")+`, CAST(sum(d.qty_open) AS DOUBLE)
FROM po_open AS d JOIN `+tempLines+` AS l ON d.location_id = l.location_id AND d.sku = l.sku
WHERE d.dt BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) GROUP BY ALL`, []any{histFrom, histTo},
			func(ln *Line, day schema.Date, v float64) {
				if i := hist(day); i >= 0 {
					ln.Series.OnOrder[i] = int64(v)
				}
			})
		if err != nil {
			return err
		}
	}
	if r.Forecasts && r.HorizonDays > 0 {
		err := each("forecasts", `SELECT l.location_id, l.sku, `+epochDay("f.date")+`, avg(f.forecast)
FROM forecasts AS f JOIN `+tempLines+` AS l ON f.location_id = l.location_id AND f.sku = l.sku AND f.run_id = l.run_id
WHERE f.dt = CAST(? AS DATE) AND f.date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) GROUP BY ALL`,
			[]any{r.AsOf.String(), r.AsOf.String(), r.AsOf.AddDays(r.HorizonDays - 1).String()},
			func(ln *Line, day schema.Date, v float64) {
				if i := int(day - r.AsOf); i >= 0 && i < r.HorizonDays {
					ln.Series.Forecast[i] = v
				}
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// sortedTables returns the tables of a report by name (raw first).
func sortedTables(ts []queries.TableInfo) []queries.TableInfo {
	out := slices.Clone(ts)
	rank := func(name string) int {
		if _, ok := schema.TableByName(name); ok {
			return 0
		}
		if _, ok := schema.UnifiedTableByName(name); ok {
			return 1
		}
		if strings.HasPrefix(name, "_") {
			return 3
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b queries.TableInfo) int {
		if ra, rb := rank(a.Name), rank(b.Name); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

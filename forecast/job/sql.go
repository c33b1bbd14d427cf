package job

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// input is one table the run reads, as a DuckDB view over the live files of
// the table's snapshot whose dt lies in [from, to].
type input struct {
	table *schema.Table
	// view names the view (default: the table's name).
	view     string
	from, to *schema.Date
	required bool
	// skip reads none of the table: its view is empty.
	skip bool
	// loc is the table's location column: a shard's view holds only its
	// locations' rows (see shardFilter).
	loc string
}

// openInputs creates one DuckDB view per input table (named like the
// table) and returns the table versions read (-1: the lake has no such
// table; its view is empty), the tables' Delta ids, and a release for the
// files.
func (r *runner) openInputs(ctx context.Context, db *sql.DB) (map[string]int64, map[string]string, func(), error) {
	asOf := r.o.AsOf
	last := asOf - 1
	hist := r.histStart
	inv := asOf - schema.Date(r.o.InventoryLookbackDays)
	lead := asOf - schema.Date(r.o.LeadTimeLookbackDays)
	before := hist - 1
	ins := []input{
		{table: schema.TableSalesDaily(), from: &hist, to: &last, required: true, loc: "store_id"},
		// Sales before the window: only which store-SKUs had any (their
		// series start at the window's first day, not at their first sale
		// in it).
		{table: schema.TableSalesDaily(), view: "sales_before", to: &before, loc: "store_id"},
		{table: schema.TableStockouts(), from: &hist, to: &last, loc: "location_id"},
		{table: schema.TableInventoryDaily(), from: &inv, to: &last, loc: "location_id"},
		{table: schema.TablePOOpen(), from: &inv, to: &last, loc: "location_id"},
		// Lead times also pool over every location per supplier: a shard
		// reads its locations' and takes the pooled figures from the plan
		// (leadTimeSuppliers). Promotions are chain-wide: a shard reads
		// them whole.
		{table: schema.TableLeadTimes(), from: &lead, to: &last, loc: "location_id"},
		{table: schema.TableItemLocations(), to: &last, loc: "location_id"},
		{table: schema.TablePOSLines(), from: &hist, to: &last, skip: r.o.NoPromotions, loc: "store_id"},
		{table: schema.TablePromotions(), to: &last, skip: r.o.NoPromotions},
	}
	versions, ids := map[string]int64{}, map[string]string{}
	var releases []func()
	release := func() {
		for _, f := range releases {
			f()
		}
	}
	for _, in := range ins {
		files, v, id, rel, err := r.localFiles(ctx, in)
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		releases = append(releases, rel)
		view := cmp.Or(in.view, in.table.Name)
		if in.view == "" {
			versions[in.table.Name], ids[in.table.Name] = v, id
		}
		scan, err := lake.DuckDBScan(in.table, files)
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		scan = r.shardFilter(scan, in)
		if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TEMP VIEW "+sqlIdent(view)+" AS "+scan); err != nil {
			release()
			return nil, nil, nil, fmt.Errorf("view %s of %s: %w", view, in.table.Name, err)
		}
	}
	return versions, ids, release, nil
}

// localFiles returns the files of in's table in its dt range from the
// latest snapshot, the snapshot's version and the table's id; for a missing
// table none and version -1.
func (r *runner) localFiles(ctx context.Context, in input) ([]lake.LocalFile, int64, string, func(), error) {
	if in.skip {
		return nil, -1, "", func() {}, nil
	}
	dt, err := delta.NewTable(r.l.Bucket(), lake.TablePrefix(in.table), delta.Options{})
	if err != nil {
		return nil, 0, "", nil, err
	}
	snap, err := r.inputSnapshot(ctx, dt, in)
	if errors.Is(err, delta.ErrTableNotFound) {
		if in.required {
			return nil, 0, "", nil, fmt.Errorf("the lake has no %s table: build the unified tables first (shelflake compact --unified)", in.table.Name)
		}
		r.log.Info("input table missing: read as empty", "table", in.table.Name)
		return nil, -1, "", func() {}, nil
	}
	if err != nil {
		return nil, 0, "", nil, fmt.Errorf("input %s: %w", in.table.Name, err)
	}
	files, rel, err := r.l.LocalFilesWhere(ctx, in.table.Name, snap, in.from, in.to, r.shardFiles(in))
	if err != nil {
		return nil, 0, "", nil, err
	}
	return files, snap.Version(), snap.Metadata().ID, rel, nil
}

func sqlIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func sqlInt(n int) string       { return strconv.Itoa(n) }

// day renders a DuckDB DATE column as days since the epoch.
func day(expr string) string { return "CAST(" + expr + " - DATE '1970-01-01' AS INTEGER)" }

// seriesSQL builds the series table: one row per store-SKU to forecast,
// numbered in (location_id, sku) order, with what replenishment needs.
//
// Placeholder {A} is the as-of day (days since the epoch). The universe is
// every store-SKU with sales in the last 91 days, plus the active
// item-locations of the stores that have such sales (locations without
// sales, like DCs, are not forecast from POS demand). Only the last 91 days
// of sales and stockouts are read here; the bucket queries read the
// history. Velocities and sell-through count units sold (the forecast's
// demand is net of returns, see bucketSQL). sold_before says
// whether the store-SKU sold before the history window (sales_before).
const seriesSQL = `
CREATE OR REPLACE TEMP TABLE series AS
WITH il AS (
	SELECT * FROM item_locations
	QUALIFY row_number() OVER (PARTITION BY location_id, sku
		ORDER BY updated_at DESC, ingested_at DESC, src_partition DESC, src_offset DESC) = 1
),
so AS (
	SELECT DISTINCT location_id, sku, ` + "CAST(dt - DATE '1970-01-01' AS INTEGER)" + ` AS day
	FROM stockouts WHERE dt >= DATE '1970-01-01' + {A} - 91
),
sp AS (
	SELECT s.store_id AS location_id, s.sku, min(s.currency) AS currency,
		CAST(sum(s.units_sold) FILTER (WHERE s.day >= {A} - 7) AS BIGINT) AS sold7,
		CAST(sum(s.units_sold) FILTER (WHERE s.day >= {A} - 28) AS BIGINT) AS sold28,
		CAST(sum(s.units_sold) AS BIGINT) AS sold91,
		CAST(sum(s.units_sold) FILTER (WHERE s.day >= {A} - 7 AND so.day IS NULL) AS BIGINT) AS ins7,
		CAST(sum(s.units_sold) FILTER (WHERE s.day >= {A} - 28 AND so.day IS NULL) AS BIGINT) AS ins28,
		CAST(sum(s.units_sold) FILTER (WHERE so.day IS NULL) AS BIGINT) AS ins91,
		CAST(coalesce(sum(s.net_sales) FILTER (WHERE s.day >= {A} - 28), 0) * 10000 AS BIGINT) AS revenue28
	FROM (SELECT *, ` + "CAST(dt - DATE '1970-01-01' AS INTEGER)" + ` AS day FROM sales_daily
		WHERE dt >= DATE '1970-01-01' + {A} - 91) s
	LEFT JOIN so ON so.location_id = s.store_id AND so.sku = s.sku AND so.day = s.day
	GROUP BY ALL
),
stores AS (SELECT DISTINCT location_id FROM sp),
pairs AS (
	SELECT location_id, sku FROM sp
	UNION
	SELECT location_id, sku FROM il WHERE active AND location_id IN (SELECT location_id FROM stores)
),
cens AS (
	SELECT location_id, sku,
		CAST(count(*) FILTER (WHERE day >= {A} - 7) AS BIGINT) AS cens7,
		CAST(count(*) FILTER (WHERE day >= {A} - 28) AS BIGINT) AS cens28,
		CAST(count(*) AS BIGINT) AS cens91
	FROM so GROUP BY ALL
),
inv AS (
	SELECT location_id, sku, arg_max(on_hand, (dt, as_of)) AS on_hand, arg_max(allocated, (dt, as_of)) AS allocated
	FROM inventory_daily GROUP BY ALL
),
po AS (
	SELECT location_id, sku, CAST(sum(qty_open) AS BIGINT) AS on_order FROM po_open
	WHERE dt = (SELECT max(dt) FROM po_open)
	GROUP BY ALL
),
lt_loc AS (
	SELECT supplier_id, location_id, CAST(count(*) AS BIGINT) AS n,
		CAST(sum(lead_time_days) AS BIGINT) AS s, CAST(sum(CAST(lead_time_days AS BIGINT) * lead_time_days) AS BIGINT) AS ss
	FROM lead_times GROUP BY ALL
),
before AS (SELECT DISTINCT store_id AS location_id, sku FROM sales_before WHERE units_sold > 0),
lt_sup AS (SELECT supplier_id, n, s, ss FROM lead_time_suppliers)
SELECT CAST(row_number() OVER (ORDER BY p.location_id, p.sku) - 1 AS BIGINT) AS series_id,
	p.location_id, p.sku,
	coalesce(il.department, '') AS department,
	coalesce(il.supplier_id, '') AS supplier_id,
	coalesce(il.currency, sp.currency, '') AS currency,
	il.location_id IS NOT NULL AS has_params,
	coalesce(il.lead_time_days, 0) AS lead_time_days,
	coalesce(il.review_period_days, 0) AS review_period_days,
	coalesce(il.case_pack, 0) AS case_pack,
	coalesce(il.moq, 0) AS moq,
	CAST(coalesce(il.unit_cost, 0) * 10000 AS BIGINT) AS unit_cost,
	coalesce(il.service_level, 0) AS service_level,
	coalesce(sp.sold7, 0) AS sold7, coalesce(sp.sold28, 0) AS sold28, coalesce(sp.sold91, 0) AS sold91,
	coalesce(sp.ins7, 0) AS ins7, coalesce(sp.ins28, 0) AS ins28, coalesce(sp.ins91, 0) AS ins91,
	coalesce(c.cens7, 0) AS cens7, coalesce(c.cens28, 0) AS cens28, coalesce(c.cens91, 0) AS cens91,
	coalesce(sp.revenue28, 0) AS revenue28,
	inv.location_id IS NOT NULL AS has_inventory,
	CAST(coalesce(inv.on_hand, 0) AS BIGINT) AS on_hand,
	CAST(coalesce(inv.allocated, 0) AS BIGINT) AS allocated,
	CAST(coalesce(po.on_order, 0) AS BIGINT) AS on_order,
	coalesce(ll.n, 0) AS lt_loc_n, coalesce(ll.s, 0) AS lt_loc_s, coalesce(ll.ss, 0) AS lt_loc_ss,
	coalesce(ls.n, 0) AS lt_sup_n, coalesce(ls.s, 0) AS lt_sup_s, coalesce(ls.ss, 0) AS lt_sup_ss,
	b.location_id IS NOT NULL AS sold_before
FROM pairs p
LEFT JOIN il ON il.location_id = p.location_id AND il.sku = p.sku
LEFT JOIN sp ON sp.location_id = p.location_id AND sp.sku = p.sku
LEFT JOIN cens c ON c.location_id = p.location_id AND c.sku = p.sku
LEFT JOIN inv ON inv.location_id = p.location_id AND inv.sku = p.sku
LEFT JOIN po ON po.location_id = p.location_id AND po.sku = p.sku
LEFT JOIN lt_loc ll ON ll.supplier_id = il.supplier_id AND ll.location_id = p.location_id
LEFT JOIN lt_sup ls ON ls.supplier_id = il.supplier_id
LEFT JOIN before b ON b.location_id = p.location_id AND b.sku = p.sku`

// seriesColumns is what the attribute query reads from the series table.
const seriesColumnsSQL = `SELECT * FROM series ORDER BY series_id`

// bucketSQL builds the daily series of the store-SKUs with series ids in
// [{LO}, {HI}] (whole locations, from {LOC0} to {LOC1}) in the long layout
// engine.RecordSource reads: one row per series and day of the history
// [{H}, {A}) with a sale, a stockout (censored) or a promotion (a sale
// with a promotion_id, or, from the series' first sale or stockout on, a
// day of a known promotion), plus a row on each series' last day, ordered
// by series and day; the days between are zero demand. A series thus
// starts at its first sale, stockout or promoted sale in the history, or at
// the history's first day when it sold before the window (an old item's
// long run of zeros is its history, not a new item's short one). Demand is
// units sold less units returned that day, floored at zero: a sale
// cancelled the same day was no demand.
const bucketSQL = `
WITH s AS (
	SELECT series_id, location_id, sku, sold_before FROM series WHERE series_id BETWEEN {LO} AND {HI}
),
ev AS (
	SELECT store_id AS location_id, sku, ` + "CAST(dt - DATE '1970-01-01' AS INTEGER)" + ` AS day,
		greatest(units_sold - units_returned, 0) AS demand, false AS censored, false AS promo
	FROM sales_daily WHERE store_id BETWEEN {LOC0} AND {LOC1}
	UNION ALL
	SELECT location_id, sku, ` + "CAST(dt - DATE '1970-01-01' AS INTEGER)" + `, 0, true, false
	FROM stockouts WHERE location_id BETWEEN {LOC0} AND {LOC1}
	UNION ALL
	SELECT store_id, sku, ` + "CAST(dt - DATE '1970-01-01' AS INTEGER)" + `, 0, false, true
	FROM pos_lines WHERE store_id BETWEEN {LOC0} AND {LOC1} AND promotion_id IS NOT NULL AND txn_type = 'sale'
),
seen AS (
	SELECT s.series_id, ev.day, ev.demand, ev.censored, ev.promo
	FROM ev JOIN s ON s.location_id = ev.location_id AND s.sku = ev.sku
	WHERE ev.day >= {H} AND ev.day < {A}
	UNION ALL
	SELECT series_id, {H}, 0, false, false FROM s WHERE sold_before
),
first AS (SELECT series_id, min(day) AS day FROM seen GROUP BY series_id),
keyed AS (
	SELECT * FROM seen
	UNION ALL
	SELECT s.series_id, g.day, 0, false, true
	FROM s JOIN first f ON f.series_id = s.series_id
	JOIN promo_known p ON p.sku = s.sku AND (p.location_id IS NULL OR p.location_id = s.location_id),
		LATERAL (SELECT unnest(range(greatest(p.first_day, f.day), least(p.last_day + 1, {A}))) AS day) g
	UNION ALL SELECT series_id, {A} - 1, 0, false, false FROM s
)
SELECT series_id, day, CAST(sum(demand) AS FLOAT) AS demand, bool_or(censored) AS censored, bool_or(promo) AS promo
FROM keyed GROUP BY series_id, day
ORDER BY series_id, day`

// fill replaces the placeholders of q.
func fill(q string, vals map[string]string) string {
	args := make([]string, 0, 2*len(vals))
	for k, v := range vals {
		args = append(args, "{"+k+"}", v)
	}
	return strings.NewReplacer(args...).Replace(q)
}

// leadTimeSuppliersSQL pools the lead_times view per supplier (count, sum
// and sum of squares of lead_time_days): over every location in an
// unsharded run and in the --train step, whose figures a shard takes from
// the plan.
const leadTimeSuppliersSQL = `
CREATE OR REPLACE TEMP TABLE lead_time_suppliers AS
SELECT supplier_id, CAST(count(*) AS BIGINT) AS n, CAST(sum(lead_time_days) AS BIGINT) AS s,
	CAST(sum(CAST(lead_time_days AS BIGINT) * lead_time_days) AS BIGINT) AS ss
FROM lead_times GROUP BY ALL`

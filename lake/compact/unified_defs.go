package compact

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// unifiedDef defines one unified table: its source, which partitions a
// source change makes stale, and the DuckDB query computing them.
type unifiedDef struct {
	table  func() *schema.Table
	source func() *schema.Table
	// ranged: a change of the source on day d can change the table on every
	// day from d on (state carried forward: open POs, first receipts), so
	// the rebuild covers [first touched day, last day]; otherwise exactly
	// the touched days.
	ranged bool
	// compute runs the query over the views src (the source's files) and
	// want (the partitions to build) and writes the result with o.
	compute func(ctx context.Context, conn *sql.Conn, l *lake.Lake, t *schema.Table, o lake.WriteOptions) (unifiedOutput, error)
}

// unifiedDefs are the unified tables by name.
var unifiedDefs = map[string]*unifiedDef{
	schema.TableNameSalesDaily: {
		table: schema.TableSalesDaily, source: schema.TablePOSLines,
		compute: func(ctx context.Context, conn *sql.Conn, l *lake.Lake, t *schema.Table, o lake.WriteOptions) (unifiedOutput, error) {
			return queryRows(ctx, conn, l, t, o, salesDailySQL, scanSalesDaily)
		},
	},
	schema.TableNameInventoryDaily: {
		table: schema.TableInventoryDaily, source: schema.TableInventorySnapshots,
		compute: func(ctx context.Context, conn *sql.Conn, l *lake.Lake, t *schema.Table, o lake.WriteOptions) (unifiedOutput, error) {
			return queryRows(ctx, conn, l, t, o, inventoryDailySQL, scanInventoryDaily)
		},
	},
	schema.TableNameStockouts: {
		table: schema.TableStockouts, source: schema.TableInventorySnapshots,
		compute: func(ctx context.Context, conn *sql.Conn, l *lake.Lake, t *schema.Table, o lake.WriteOptions) (unifiedOutput, error) {
			return queryRows(ctx, conn, l, t, o, stockoutsSQL, scanStockout)
		},
	},
	schema.TableNamePOOpen: {
		table: schema.TablePOOpen, source: schema.TablePurchaseOrderLines, ranged: true,
		compute: func(ctx context.Context, conn *sql.Conn, l *lake.Lake, t *schema.Table, o lake.WriteOptions) (unifiedOutput, error) {
			return queryRows(ctx, conn, l, t, o, poOpenSQL, scanPOOpen)
		},
	},
	schema.TableNameLeadTimes: {
		table: schema.TableLeadTimes, source: schema.TablePurchaseOrderLines, ranged: true,
		compute: func(ctx context.Context, conn *sql.Conn, l *lake.Lake, t *schema.Table, o lake.WriteOptions) (unifiedOutput, error) {
			return queryRows(ctx, conn, l, t, o, leadTimesSQL, scanLeadTime)
		},
	},
}

// plan returns the partitions to rebuild, sorted, given the touched source
// partitions and the dates the source and the unified table hold.
func (d *unifiedDef) plan(touched, srcDates, dstDates map[schema.Date]bool) []schema.Date {
	if !d.ranged || len(touched) == 0 {
		return sortedDates(touched)
	}
	t := sortedDates(touched)
	from, to := t[0], t[len(t)-1]
	for _, set := range []map[schema.Date]bool{srcDates, dstDates} {
		for d := range set {
			to = max(to, d)
		}
	}
	out := make([]schema.Date, 0, to-from+1)
	for d := from; d <= to; d++ {
		out = append(out, d)
	}
	return out
}

// reads returns the source partitions a build of the given partitions
// reads (nil: all of them; a ranged table needs the history before).
func (d *unifiedDef) reads(rebuild []schema.Date, _ map[schema.Date]bool) []schema.Date {
	if d.ranged {
		return nil
	}
	return rebuild
}

// unifiedOutput is what a build wrote, before its commit.
type unifiedOutput struct {
	adds  []delta.Add
	rows  int64
	abort func(context.Context) error
}

// epochDays renders a DuckDB DATE expression as days since 1970-01-01.
func epochDays(expr string) string { return "CAST(" + expr + " - DATE '1970-01-01' AS INTEGER)" }

// newestFirst is the order that puts the latest ingested copy of a raw row
// first.
const newestFirstSQL = "ORDER BY ingested_at DESC, src_partition DESC, src_offset DESC"

// money renders an exact DECIMAL sum as Money's int64 (×10^4).
func moneySQL(expr string) string { return "CAST(coalesce(" + expr + ", 0) * 10000 AS BIGINT)" }

var salesDailySQL = `
WITH lines AS (
	SELECT * FROM src
	WHERE dt IN (SELECT dt FROM want)
	QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ` + newestFirstSQL + `) = 1
)
SELECT ` + epochDays("dt") + `, store_id, sku, currency,
	coalesce(sum(quantity) FILTER (WHERE txn_type = 'sale'), 0),
	coalesce(-sum(quantity) FILTER (WHERE txn_type = 'return'), 0),
	` + moneySQL("sum(quantity * unit_price) FILTER (WHERE txn_type = 'sale')") + `,
	` + moneySQL("sum(discount) FILTER (WHERE txn_type = 'sale')") + `,
	` + moneySQL("sum(-quantity * unit_price - discount) FILTER (WHERE txn_type = 'return')") + `,
	count(DISTINCT transaction_id) FILTER (WHERE txn_type = 'sale')
FROM lines
WHERE txn_type IN ('sale', 'return')
GROUP BY dt, store_id, sku, currency
ORDER BY dt, store_id, sku, currency`

func scanSalesDaily(rows *sql.Rows, r *schema.SalesDailyRow) error {
	var d, gross, disc, ret int64
	if err := rows.Scan(&d, &r.StoreID, &r.SKU, &r.Currency, &r.UnitsSold, &r.UnitsReturned,
		&gross, &disc, &ret, &r.Transactions); err != nil {
		return err
	}
	r.DT = schema.Date(d)
	r.GrossSales, r.Discounts, r.Returns = schema.Money(gross), schema.Money(disc), schema.Money(ret)
	r.NetSales = r.GrossSales - r.Discounts - r.Returns
	return nil
}

// inventoryStateCTE defines final: one row per (dt, location_id, sku), the
// end-of-day state (see UNIFIED.md).
var inventoryStateCTE = `
WITH s AS (
	SELECT * FROM src
	WHERE dt IN (SELECT dt FROM want)
	QUALIFY row_number() OVER (PARTITION BY location_id, sku, as_of ` + newestFirstSQL + `) = 1
),
complete AS (
	SELECT dt, location_id, snapshot_id, max(as_of) AS as_of
	FROM s
	WHERE kind = 'full'
	GROUP BY dt, location_id, snapshot_id
	HAVING count(*) = max(snapshot_rows) AND count(DISTINCT sku) = count(*)
),
base AS (
	SELECT * FROM complete
	QUALIFY row_number() OVER (PARTITION BY dt, location_id ORDER BY as_of DESC, snapshot_id DESC) = 1
),
state AS (
	SELECT s.dt, s.location_id, s.sku, s.on_hand, s.allocated, s.in_transit, s.as_of
	FROM s JOIN base b ON s.dt = b.dt AND s.location_id = b.location_id AND s.snapshot_id = b.snapshot_id
	UNION ALL
	SELECT s.dt, s.location_id, s.sku, s.on_hand, s.allocated, s.in_transit, s.as_of
	FROM s LEFT JOIN base b ON s.dt = b.dt AND s.location_id = b.location_id
	WHERE s.kind = 'partial' AND (b.as_of IS NULL OR s.as_of > b.as_of)
),
final AS (
	SELECT * FROM state
	QUALIFY row_number() OVER (PARTITION BY dt, location_id, sku ORDER BY as_of DESC) = 1
)`

var inventoryDailySQL = inventoryStateCTE + `
SELECT ` + epochDays("dt") + `, location_id, sku, on_hand, allocated, in_transit, epoch_us(as_of)
FROM final
ORDER BY dt, location_id, sku`

func scanInventoryDaily(rows *sql.Rows, r *schema.InventoryDailyRow) error {
	var d, us int64
	if err := rows.Scan(&d, &r.LocationID, &r.SKU, &r.OnHand, &r.Allocated, &r.InTransit, &us); err != nil {
		return err
	}
	r.DT = schema.Date(d)
	r.AsOf = time.UnixMicro(us).UTC()
	return nil
}

var stockoutsSQL = inventoryStateCTE + `
SELECT ` + epochDays("dt") + `, location_id, sku
FROM final
WHERE on_hand <= 0
ORDER BY dt, location_id, sku`

func scanStockout(rows *sql.Rows, r *schema.StockoutRow) error {
	var d int64
	if err := rows.Scan(&d, &r.LocationID, &r.SKU); err != nil {
		return err
	}
	r.DT = schema.Date(d)
	return nil
}

// poStatesCTE defines p: the purchase order line states up to the last
// partition built, de-duplicated by natural key.
var poStatesCTE = `
WITH p AS (
	SELECT * FROM src
	WHERE dt <= (SELECT max(dt) FROM want)
	QUALIFY row_number() OVER (PARTITION BY po_id, line_no, updated_at ` + newestFirstSQL + `) = 1
)`

var poOpenSQL = poStatesCTE + `,
day_end AS (
	SELECT * FROM p
	QUALIFY row_number() OVER (PARTITION BY po_id, line_no, dt ORDER BY updated_at DESC) = 1
),
iv AS (
	SELECT *, lead(dt) OVER (PARTITION BY po_id, line_no ORDER BY dt) AS next_dt FROM day_end
)
SELECT ` + epochDays("w.dt") + `, iv.location_id, iv.sku, iv.supplier_id,
	sum(greatest(iv.qty_ordered - iv.qty_received, 0)),
	` + epochDays("min(iv.expected_date)") + `,
	count(*)
FROM iv JOIN want w ON w.dt >= iv.dt AND (iv.next_dt IS NULL OR w.dt < iv.next_dt)
WHERE iv.status IN ('open', 'partially_received')
GROUP BY w.dt, iv.location_id, iv.sku, iv.supplier_id
ORDER BY w.dt, iv.location_id, iv.sku, iv.supplier_id`

func scanPOOpen(rows *sql.Rows, r *schema.POOpenRow) error {
	var d, next int64
	if err := rows.Scan(&d, &r.LocationID, &r.SKU, &r.SupplierID, &r.QtyOpen, &next, &r.OpenLines); err != nil {
		return err
	}
	r.DT, r.NextExpectedDate = schema.Date(d), schema.Date(next)
	return nil
}

var leadTimesSQL = poStatesCTE + `,
first_received AS (
	SELECT * FROM p
	WHERE status = 'received'
	QUALIFY row_number() OVER (PARTITION BY po_id, line_no ORDER BY updated_at) = 1
)
SELECT ` + epochDays("dt") + `, supplier_id, location_id, sku, po_id, line_no,
	` + epochDays("order_date") + `, ` + epochDays("expected_date") + `,
	CAST(dt - order_date AS INTEGER), qty_ordered, qty_received
FROM first_received
WHERE dt IN (SELECT dt FROM want)
ORDER BY dt, location_id, supplier_id, sku, po_id, line_no`

func scanLeadTime(rows *sql.Rows, r *schema.LeadTimeRow) error {
	var d, order, expected, lead, line int64
	if err := rows.Scan(&d, &r.SupplierID, &r.LocationID, &r.SKU, &r.POID, &line,
		&order, &expected, &lead, &r.QtyOrdered, &r.QtyReceived); err != nil {
		return err
	}
	r.DT, r.ReceivedDate = schema.Date(d), schema.Date(d)
	r.OrderDate, r.ExpectedDate = schema.Date(order), schema.Date(expected)
	r.LineNo, r.LeadTimeDays = int32(line), int32(lead)
	return nil
}

// dated is a unified row pointer: it knows its dt.
type dated[T any] interface {
	*T
	PartitionDate() schema.Date
}

// queryRows runs query (rows ordered by dt first, then by t's sort key)
// and writes its rows into one set of files per dt with o, streaming: the
// result is never held whole.
func queryRows[T any, P dated[T]](ctx context.Context, conn *sql.Conn, l *lake.Lake, t *schema.Table, o lake.WriteOptions, query string, scan func(*sql.Rows, P) error) (out unifiedOutput, err error) {
	pw := &partWriter[T]{l: l, t: t, o: o}
	out.abort = pw.abort
	defer func() {
		if err != nil {
			_ = pw.abort(ctx)
		}
	}()
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return out, fmt.Errorf("query %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r T
		if err := scan(rows, &r); err != nil {
			return out, fmt.Errorf("scan %s: %w", t.Name, err)
		}
		if err := pw.add(ctx, P(&r).PartitionDate(), r); err != nil {
			return out, err
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("query %s: %w", t.Name, err)
	}
	adds, err := pw.close(ctx)
	if err != nil {
		return out, err
	}
	out.adds, out.rows = adds, pw.rows
	return out, nil
}

// partWriter writes rows arriving ordered by dt, one TableWriter per dt.
type partWriter[T any] struct {
	l       *lake.Lake
	t       *schema.Table
	o       lake.WriteOptions
	cur     *lake.TableWriter[T]
	curDT   schema.Date
	writers []*lake.TableWriter[T]
	buf     []T
	adds    []delta.Add
	rows    int64
}

func (p *partWriter[T]) add(ctx context.Context, d schema.Date, r T) error {
	if p.cur != nil && d != p.curDT {
		if d < p.curDT {
			return fmt.Errorf("write %s: rows not ordered by dt (%s after %s)", p.t.Name, d, p.curDT)
		}
		if err := p.finish(ctx); err != nil {
			return err
		}
	}
	if p.cur == nil {
		w, err := lake.NewTableWriter[T](p.l, p.t, d, p.o)
		if err != nil {
			return err
		}
		p.cur, p.curDT = w, d
		p.writers = append(p.writers, w)
	}
	p.buf = append(p.buf, r)
	p.rows++
	if len(p.buf) >= chunkRows {
		return p.flush(ctx)
	}
	return nil
}

func (p *partWriter[T]) flush(ctx context.Context) error {
	if len(p.buf) == 0 {
		return nil
	}
	err := p.cur.Write(ctx, p.buf)
	clear(p.buf)
	p.buf = p.buf[:0]
	return err
}

// finish closes the current dt's writer.
func (p *partWriter[T]) finish(ctx context.Context) error {
	if err := p.flush(ctx); err != nil {
		return err
	}
	adds, err := p.cur.Close(ctx)
	if err != nil {
		return err
	}
	p.adds = append(p.adds, adds...)
	p.cur = nil
	return nil
}

func (p *partWriter[T]) close(ctx context.Context) ([]delta.Add, error) {
	if p.cur != nil {
		if err := p.finish(ctx); err != nil {
			return nil, err
		}
	}
	return p.adds, nil
}

// abort deletes every file written (best effort).
func (p *partWriter[T]) abort(ctx context.Context) error {
	var errs []error
	for _, w := range p.writers {
		errs = append(errs, w.Abort(ctx))
	}
	return errors.Join(errs...)
}

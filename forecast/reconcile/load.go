package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

func sqlString(s string) string    { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func sqlDate(d schema.Date) string { return "DATE " + sqlString(d.String()) }

// openViews creates one DuckDB view per input table over its files with dt
// in [from, to]; a missing table is an empty view. It returns the versions
// read and a release for the files.
func openViews(ctx context.Context, db *sql.DB, l *lake.Lake, from, to schema.Date) (map[string]int64, func(), error) {
	var rels []func()
	release := func() {
		for _, r := range rels {
			r()
		}
	}
	versions := map[string]int64{}
	for _, t := range []*schema.Table{schema.TablePOSLines(), schema.TableInventorySnapshots(),
		schema.TablePurchaseOrderLines(), schema.TableItemLocations(), schema.TableStockExceptions()} {
		f, tt := &from, &to
		switch t.Name {
		case schema.TableNameItemLocations:
			f = nil
		case schema.TableNameStockExceptions:
			f, tt = nil, nil // the previous queue may be older than the window
		case schema.TableNamePurchaseOrderLines:
			early := from - 120 // a line's earlier states give the first delta
			f = &early
		}
		var files []lake.LocalFile
		versions[t.Name] = -1
		dt, err := delta.NewTable(l.Bucket(), lake.TablePrefix(t), delta.Options{})
		if err != nil {
			release()
			return nil, nil, err
		}
		snap, err := dt.Snapshot(ctx)
		switch {
		case errors.Is(err, delta.ErrTableNotFound):
		case err != nil:
			release()
			return nil, nil, fmt.Errorf("input %s: %w", t.Name, err)
		default:
			fs, rel, err := l.LocalFiles(ctx, t.Name, snap, f, tt)
			if err != nil {
				release()
				return nil, nil, err
			}
			rels = append(rels, rel)
			files = fs
			versions[t.Name] = snap.Version()
		}
		scan, err := lake.DuckDBScan(t, files)
		if err != nil {
			release()
			return nil, nil, err
		}
		if _, err := db.ExecContext(ctx, `CREATE OR REPLACE TEMP VIEW "`+t.Name+`" AS `+scan); err != nil {
			release()
			return nil, nil, fmt.Errorf("view of %s: %w", t.Name, err)
		}
	}
	return versions, release, nil
}

// The facts per store-SKU and business date. The closing snapshot of a day
// is the latest full snapshot of its business date; a POS line or PO
// receipt stamped after it belongs to the next day. Rows are
// de-duplicated by natural key (the raw tables may hold resends).
const factsSQL = `
CREATE OR REPLACE TEMP TABLE snaps AS
SELECT DISTINCT ON (location_id, sku, as_of) location_id, sku, kind, snapshot_id, on_hand, as_of, business_date
FROM inventory_snapshots;
CREATE OR REPLACE TEMP TABLE eod AS
SELECT location_id, sku, business_date AS d, arg_max(on_hand, as_of) AS on_hand
FROM snaps WHERE kind = 'full' GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE cut AS
SELECT location_id, business_date AS d, max(as_of) AS as_of FROM snaps WHERE kind = 'full' GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE cnt AS
SELECT location_id, sku, business_date AS d, arg_max(on_hand, as_of) AS on_hand
FROM snaps WHERE kind = 'partial' AND starts_with(snapshot_id, {COUNT}) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE pos AS
SELECT DISTINCT ON (transaction_id, line_no) store_id, sku, txn_type, quantity, promotion_id, business_date, event_time
FROM pos_lines;
CREATE OR REPLACE TEMP TABLE opened AS SELECT DISTINCT store_id AS location_id, business_date AS d FROM pos;
CREATE OR REPLACE TEMP TABLE sold AS
SELECT p.store_id AS location_id, p.sku,
  p.business_date + CASE WHEN c.as_of IS NOT NULL AND p.event_time > c.as_of THEN 1 ELSE 0 END AS d,
  sum(CASE p.txn_type WHEN 'sale' THEN p.quantity
    WHEN 'return' THEN CASE WHEN {RESTOCK} THEN p.quantity ELSE 0 END ELSE 0 END) AS units,
  bool_or(p.promotion_id IS NOT NULL) AS promo
FROM pos p LEFT JOIN cut c ON c.location_id = p.store_id AND c.d = p.business_date
GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE rcv AS
WITH states AS (
  SELECT DISTINCT ON (po_id, line_no, updated_at) po_id, line_no, location_id, sku, qty_received, updated_at, business_date
  FROM purchase_order_lines),
deltas AS (
  SELECT *, qty_received - coalesce(lag(qty_received) OVER (PARTITION BY po_id, line_no ORDER BY updated_at), 0) AS delta
  FROM states)
SELECT x.location_id, x.sku,
  x.business_date + CASE WHEN c.as_of IS NOT NULL AND x.updated_at > c.as_of THEN 1 ELSE 0 END AS d,
  sum(x.delta) AS units
FROM deltas x LEFT JOIN cut c ON c.location_id = x.location_id AND c.d = x.business_date
WHERE x.delta <> 0 GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE items AS
SELECT location_id, sku, arg_max(unit_cost, updated_at) AS unit_cost, arg_max(unit_price, updated_at) AS unit_price,
  arg_max(currency, updated_at) AS currency, arg_max(lead_time_days, updated_at) AS lead_time_days
FROM item_locations GROUP BY ALL;
`

const factsRowsSQL = `
WITH keys AS (SELECT DISTINCT location_id, sku FROM eod WHERE location_id IN (SELECT location_id FROM opened))
SELECT 'e' AS k, location_id, sku, CAST(d - DATE '1970-01-01' AS INTEGER), on_hand, false FROM eod WHERE (location_id, sku) IN (SELECT * FROM keys) AND d BETWEEN {FROM} AND {TO}
UNION ALL SELECT 'c', location_id, sku, CAST(d - DATE '1970-01-01' AS INTEGER), on_hand, false FROM cnt WHERE (location_id, sku) IN (SELECT * FROM keys) AND d BETWEEN {FROM} AND {TO}
UNION ALL SELECT 's', location_id, sku, CAST(d - DATE '1970-01-01' AS INTEGER), units, promo FROM sold WHERE (location_id, sku) IN (SELECT * FROM keys) AND d BETWEEN {FROM} AND {TO}
UNION ALL SELECT 'r', location_id, sku, CAST(d - DATE '1970-01-01' AS INTEGER), units, false FROM rcv WHERE (location_id, sku) IN (SELECT * FROM keys) AND d BETWEEN {FROM} AND {TO}
UNION ALL SELECT 'o', location_id, '', CAST(d - DATE '1970-01-01' AS INTEGER), 0, false FROM opened WHERE d BETWEEN {FROM} AND {TO}
ORDER BY 2, 3`

type seriesKey struct{ loc, sku string }

// loadSeries builds every store-SKU's days in [from, to].
func loadSeries(ctx context.Context, db *sql.DB, o *Options, from, to schema.Date) ([]*Series, error) {
	restock := "false"
	if o.RestockReturns {
		restock = "true"
	}
	q := strings.NewReplacer("{COUNT}", sqlString(o.CountPrefix), "{RESTOCK}", restock).Replace(factsSQL)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return nil, fmt.Errorf("reconciliation facts: %w", err)
	}
	rq := strings.NewReplacer("{FROM}", sqlDate(from), "{TO}", sqlDate(to)).Replace(factsRowsSQL)
	rows, err := db.QueryContext(ctx, rq)
	if err != nil {
		return nil, fmt.Errorf("reconciliation facts: %w", err)
	}
	defer rows.Close()
	n := int(to-from) + 1
	bySeries := map[seriesKey]*Series{}
	open := map[string][]bool{}
	var order []*Series
	for rows.Next() {
		var k, loc, sku string
		var day int32
		var v int64
		var promo bool
		if err := rows.Scan(&k, &loc, &sku, &day, &v, &promo); err != nil {
			return nil, fmt.Errorf("reconciliation facts: %w", err)
		}
		i := int(schema.Date(day) - from)
		if k == "o" {
			if open[loc] == nil {
				open[loc] = make([]bool, n)
			}
			open[loc][i] = true
			continue
		}
		s := bySeries[seriesKey{loc, sku}]
		if s == nil {
			s = &Series{Location: loc, SKU: sku, From: from, Days: make([]Day, n)}
			bySeries[seriesKey{loc, sku}] = s
			order = append(order, s)
		}
		d := &s.Days[i]
		switch k {
		case "e":
			d.HasSnap, d.Snap = true, v
		case "c":
			d.HasCount, d.Count = true, v
		case "s":
			d.Sold, d.Promo = v, promo
		case "r":
			d.Received = v
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reconciliation facts: %w", err)
	}
	for _, s := range order {
		if op := open[s.Location]; op != nil {
			for i := range s.Days {
				s.Days[i].Open = op[i]
			}
		}
	}
	irows, err := db.QueryContext(ctx, `SELECT location_id, sku, CAST(unit_cost * 10000 AS BIGINT), CAST(unit_price * 10000 AS BIGINT), currency, lead_time_days FROM items`)
	if err != nil {
		return nil, fmt.Errorf("item locations: %w", err)
	}
	defer irows.Close()
	for irows.Next() {
		var loc, sku, cur string
		var cost, price int64
		var lt int32
		if err := irows.Scan(&loc, &sku, &cost, &price, &cur, &lt); err != nil {
			return nil, fmt.Errorf("item locations: %w", err)
		}
		if s := bySeries[seriesKey{loc, sku}]; s != nil {
			s.UnitCost, s.UnitPrice, s.Currency, s.LeadTimeDays = schema.Money(cost), schema.Money(price), cur, int(lt)
		}
	}
	return order, irows.Err()
}

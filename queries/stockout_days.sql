-- name: stockout_days
-- answers: Which store SKUs ran out of stock over the last N days, on how
--   many days, and an estimate of the sales lost: stockout days × the units
--   sold per in-stock day, valued at the current shelf price.
-- param: days int 1..3660 = 28 : business days in the window, ending at as_of
-- param: as_of date = latest : last business day of the window (latest: the newest dt in pos_lines)
-- tables: pos_lines, inventory_snapshots, item_locations
--
-- A day's stock is the last inventory state reported that day; a stockout
-- day is one whose stock is 0 or less. Days without a report count for
-- neither. The in-stock velocity is the units sold (sale lines, each
-- (transaction_id, line_no) once) on in-stock days ÷ their number; a SKU
-- out of stock all window has no estimate (NULL).
WITH win AS (
    SELECT end_day, end_day - (days - 1) AS first_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM pos_lines)) AS end_day)
),
stores AS (
    SELECT DISTINCT store_id FROM pos_lines, win WHERE pos_lines.dt <= win.end_day
),
daily_stock AS (
    SELECT location_id AS store_id, sku, inventory_snapshots.dt,
           arg_max(on_hand, (as_of, snapshot_id)) AS on_hand
    FROM inventory_snapshots, win
    WHERE inventory_snapshots.dt BETWEEN win.first_day AND win.end_day
      AND location_id IN (SELECT store_id FROM stores)
    GROUP BY ALL
),
lines AS ( -- each sale line once: POS producers resend, compaction de-duplicates later
    SELECT pos_lines.* FROM pos_lines, win
    WHERE pos_lines.dt BETWEEN win.first_day AND win.end_day AND txn_type = 'sale'
    QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ORDER BY ingested_at, src_offset) = 1
),
daily_sales AS (
    SELECT store_id, sku, dt, sum(quantity) AS units
    FROM lines
    GROUP BY ALL
),
series AS (
    SELECT store_id, sku,
           count(*) FILTER (WHERE k.on_hand <= 0) AS stockout_days,
           count(*) FILTER (WHERE k.on_hand > 0) AS in_stock_days,
           coalesce(sum(d.units), 0) AS units_sold,
           sum(d.units) FILTER (WHERE k.on_hand > 0) AS in_stock_units
    FROM daily_stock AS k
    LEFT JOIN daily_sales AS d USING (store_id, sku, dt)
    GROUP BY store_id, sku
),
prices AS (
    SELECT location_id AS store_id, sku, unit_price, currency
    FROM item_locations, win
    WHERE item_locations.dt <= win.end_day
    QUALIFY row_number() OVER (PARTITION BY location_id, sku ORDER BY updated_at DESC) = 1
)
SELECT store_id, sku, stockout_days, in_stock_days,
       CAST(units_sold AS BIGINT) AS units_sold,
       round(coalesce(in_stock_units, 0) / nullif(in_stock_days, 0), 3) AS in_stock_velocity,
       round(stockout_days * coalesce(in_stock_units, 0) / nullif(in_stock_days, 0), 1) AS est_lost_units,
       CAST(round(stockout_days * coalesce(in_stock_units, 0) / nullif(in_stock_days, 0) * CAST(p.unit_price AS DOUBLE), 2) AS DECIMAL(18, 2)) AS est_lost_sales,
       p.currency
FROM series
LEFT JOIN prices AS p USING (store_id, sku)
WHERE stockout_days > 0
ORDER BY est_lost_units DESC NULLS LAST, store_id, sku

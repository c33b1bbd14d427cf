-- name: days_of_cover
-- answers: How many days each store SKU's stock lasts at its recent rate of
--   sale: on hand ÷ average units sold per day over the last N days, also
--   counting what is on order. Shortest cover first.
-- param: days int 1..3660 = 28 : calendar days the sales rate is averaged over, ending at as_of
-- param: as_of date = latest : the day of the stock position (latest: the newest dt in pos_lines)
-- tables: pos_lines, inventory_snapshots, purchase_order_lines
--
-- On hand is the last inventory state reported at or before as_of; on
-- order is what open and partially received PO lines still expect (their
-- latest state at or before as_of). Units sold count sale lines, each
-- (transaction_id, line_no) once. A SKU that sold nothing has no cover
-- (NULL).
WITH win AS (
    SELECT days, end_day, end_day - (days - 1) AS first_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM pos_lines)) AS end_day)
),
stores AS (
    SELECT DISTINCT store_id FROM pos_lines, win WHERE pos_lines.dt <= win.end_day
),
stock AS (
    SELECT location_id AS store_id, sku, on_hand
    FROM inventory_snapshots, win
    WHERE inventory_snapshots.dt <= win.end_day
      AND location_id IN (SELECT store_id FROM stores)
    QUALIFY row_number() OVER (PARTITION BY location_id, sku ORDER BY as_of DESC, snapshot_id DESC) = 1
),
on_order AS (
    SELECT location_id AS store_id, sku, sum(qty_ordered - qty_received) AS on_order
    FROM (
        SELECT location_id, sku, status, qty_ordered, qty_received
        FROM purchase_order_lines, win
        WHERE purchase_order_lines.dt <= win.end_day
        QUALIFY row_number() OVER (PARTITION BY po_id, line_no ORDER BY updated_at DESC) = 1
    )
    WHERE status IN ('open', 'partially_received')
    GROUP BY ALL
),
lines AS ( -- each sale line once: POS producers resend, compaction de-duplicates later
    SELECT pos_lines.* FROM pos_lines, win
    WHERE pos_lines.dt BETWEEN win.first_day AND win.end_day AND txn_type = 'sale'
    QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ORDER BY ingested_at, src_offset) = 1
),
sales AS (
    SELECT store_id, sku, sum(quantity) AS units_sold
    FROM lines
    GROUP BY ALL
)
SELECT store_id, sku, k.on_hand,
       CAST(coalesce(o.on_order, 0) AS BIGINT) AS on_order,
       CAST(coalesce(s.units_sold, 0) AS BIGINT) AS units_sold,
       round(coalesce(s.units_sold, 0) / win.days, 3) AS avg_daily_units,
       round(k.on_hand / (nullif(s.units_sold, 0) / win.days), 1) AS days_of_cover,
       round((k.on_hand + coalesce(o.on_order, 0)) / (nullif(s.units_sold, 0) / win.days), 1) AS days_of_cover_with_on_order
FROM stock AS k
CROSS JOIN win
LEFT JOIN on_order AS o USING (store_id, sku)
LEFT JOIN sales AS s USING (store_id, sku)
ORDER BY days_of_cover ASC NULLS LAST, store_id, sku

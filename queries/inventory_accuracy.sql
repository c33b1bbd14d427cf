-- name: inventory_accuracy
-- answers: Where reported stock disagrees with what sales and receipts say
--   it should be: per store SKU, the on hand reported at the end of the day
--   N days before as_of, minus units sold, plus units received since, is the
--   expected on hand at as_of; the variance is reported − expected. Lists
--   the SKUs off by more than the tolerance, worst first, with each store's
--   share of SKUs within tolerance.
-- param: days int 1..3660 = 7 : days the expectation runs over, ending at as_of
-- param: as_of date = latest : the day of the reported on hand checked (latest: the newest dt in inventory_snapshots)
-- param: tolerance int 0..1000000 = 0 : units of variance still counted as accurate
-- tables: inventory_snapshots, pos_lines, purchase_order_lines
--
-- Reported on hand on a day is the last inventory state reported at or
-- before the end of that day. Units sold count sale lines (each
-- (transaction_id, line_no) once); returned units
-- are not restocked (they go back to the supplier), voids never sold.
-- Receipts are the increases of qty_received between successive states of
-- a PO line, on the business day of the state that shows them.
WITH win AS (
    SELECT end_day, end_day - days AS start_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM inventory_snapshots)) AS end_day)
),
stores AS (
    SELECT DISTINCT store_id FROM pos_lines, win WHERE pos_lines.dt <= win.end_day
),
obs AS (
    SELECT location_id AS store_id, sku, inventory_snapshots.dt, as_of AS observed_at, snapshot_id, on_hand
    FROM inventory_snapshots, win
    WHERE inventory_snapshots.dt <= win.end_day
      AND location_id IN (SELECT store_id FROM stores)
),
start_stock AS (
    SELECT store_id, sku, arg_max(on_hand, (observed_at, snapshot_id)) AS on_hand
    FROM obs, win WHERE obs.dt <= win.start_day
    GROUP BY store_id, sku
),
end_stock AS (
    SELECT store_id, sku, arg_max(on_hand, (observed_at, snapshot_id)) AS on_hand
    FROM obs
    GROUP BY store_id, sku
),
lines AS ( -- each sale line once: POS producers resend, compaction de-duplicates later
    SELECT pos_lines.* FROM pos_lines, win
    WHERE pos_lines.dt > win.start_day AND pos_lines.dt <= win.end_day AND txn_type = 'sale'
    QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ORDER BY ingested_at, src_offset) = 1
),
sold AS (
    SELECT store_id, sku, sum(quantity) AS units
    FROM lines
    GROUP BY ALL
),
receipts AS (
    SELECT location_id AS store_id, sku, sum(received) AS units
    FROM (
        SELECT location_id, sku, purchase_order_lines.dt,
               qty_received - lag(qty_received, 1, 0) OVER (PARTITION BY po_id, line_no ORDER BY updated_at) AS received
        FROM purchase_order_lines, win
        WHERE purchase_order_lines.dt <= win.end_day
    ), win
    WHERE dt > win.start_day AND received > 0
    GROUP BY ALL
),
checked AS (
    SELECT store_id, sku,
           st.on_hand AS start_on_hand,
           coalesce(so.units, 0) AS units_sold,
           coalesce(r.units, 0) AS units_received,
           st.on_hand - coalesce(so.units, 0) + coalesce(r.units, 0) AS expected_on_hand,
           en.on_hand AS reported_on_hand
    FROM start_stock AS st
    JOIN end_stock AS en USING (store_id, sku)
    LEFT JOIN sold AS so USING (store_id, sku)
    LEFT JOIN receipts AS r USING (store_id, sku)
),
scored AS (
    SELECT *, reported_on_hand - expected_on_hand AS variance,
           round(100.0 * count(*) FILTER (WHERE abs(reported_on_hand - expected_on_hand) <= $tolerance) OVER (PARTITION BY store_id)
                 / count(*) OVER (PARTITION BY store_id), 1) AS store_accuracy_pct
    FROM checked
)
SELECT store_id, sku, start_on_hand,
       CAST(units_sold AS BIGINT) AS units_sold,
       CAST(units_received AS BIGINT) AS units_received,
       CAST(expected_on_hand AS BIGINT) AS expected_on_hand,
       reported_on_hand,
       CAST(variance AS BIGINT) AS variance,
       store_accuracy_pct
FROM scored
WHERE abs(variance) > $tolerance
ORDER BY abs(variance) DESC, store_id, sku

-- name: sell_through
-- answers: Sell-through by store and category over the last N days: units
--   sold ÷ (units sold + units on hand at the end of the window), with the
--   units returned and the net sales in the store's currency.
-- param: days int 1..3660 = 28 : business days in the window, ending at as_of
-- param: as_of date = latest : last business day of the window (latest: the newest dt in pos_lines)
-- tables: pos_lines, inventory_snapshots, item_locations
--
-- Units sold count sale lines (voided transactions never completed and
-- returns are separate), each (transaction_id, line_no) once. On hand at the end is each SKU's last reported
-- stock at or before as_of. The category is the item's at that store as of
-- as_of ('unknown' when the ERP never sent the item).
WITH win AS (
    SELECT end_day, end_day - (days - 1) AS first_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM pos_lines)) AS end_day)
),
stores AS (
    SELECT DISTINCT store_id FROM pos_lines, win WHERE pos_lines.dt <= win.end_day
),
lines AS ( -- each line once: POS producers resend, compaction de-duplicates later
    SELECT pos_lines.* FROM pos_lines, win
    WHERE pos_lines.dt BETWEEN win.first_day AND win.end_day
    QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ORDER BY ingested_at, src_offset) = 1
),
sales AS (
    SELECT store_id, sku,
           coalesce(sum(quantity) FILTER (WHERE txn_type = 'sale'), 0) AS units_sold,
           coalesce(-sum(quantity) FILTER (WHERE txn_type = 'return'), 0) AS units_returned,
           coalesce(sum(line_total) FILTER (WHERE txn_type IN ('sale', 'return')), 0) AS net_sales
    FROM lines
    GROUP BY store_id, sku
),
stock AS (
    SELECT location_id AS store_id, sku, on_hand
    FROM inventory_snapshots, win
    WHERE inventory_snapshots.dt <= win.end_day
      AND location_id IN (SELECT store_id FROM stores)
    QUALIFY row_number() OVER (PARTITION BY location_id, sku ORDER BY as_of DESC, snapshot_id DESC) = 1
),
items AS (
    SELECT location_id AS store_id, sku, category
    FROM item_locations, win
    WHERE item_locations.dt <= win.end_day
    QUALIFY row_number() OVER (PARTITION BY location_id, sku ORDER BY updated_at DESC) = 1
),
currencies AS (
    SELECT store_id, arg_max(currency, event_time) AS currency
    FROM pos_lines, win WHERE pos_lines.dt <= win.end_day
    GROUP BY store_id
)
SELECT store_id,
       coalesce(i.category, 'unknown') AS category,
       count(*) AS skus,
       CAST(sum(coalesce(s.units_sold, 0)) AS BIGINT) AS units_sold,
       CAST(sum(coalesce(s.units_returned, 0)) AS BIGINT) AS units_returned,
       CAST(sum(coalesce(k.on_hand, 0)) AS BIGINT) AS ending_on_hand,
       round(sum(coalesce(s.units_sold, 0)) / nullif(sum(coalesce(s.units_sold, 0)) + sum(coalesce(k.on_hand, 0)), 0), 4) AS sell_through,
       CAST(sum(coalesce(s.net_sales, 0)) AS DECIMAL(18, 4)) AS net_sales,
       c.currency
FROM sales AS s
FULL JOIN stock AS k USING (store_id, sku)
LEFT JOIN items AS i USING (store_id, sku)
LEFT JOIN currencies AS c USING (store_id)
GROUP BY store_id, category, c.currency
ORDER BY store_id, category

-- name: top_movers
-- answers: The best-selling SKUs over the last N days (units sold at every
--   store, or at one), with the change against the N days before.
-- param: days int 1..3660 = 28 : business days in the window, ending at as_of
-- param: as_of date = latest : last business day of the window (latest: the newest dt in pos_lines)
-- param: limit int 1..100000 = 20 : how many SKUs to list
-- param: store string = : only this store_id (empty: every store)
-- tables: pos_lines, item_locations
--
-- Units sold count sale lines, each (transaction_id, line_no) once. Ties
-- rank by SKU.
WITH win AS (
    SELECT end_day, end_day - (days - 1) AS first_day, end_day - (2 * days - 1) AS prior_first_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM pos_lines)) AS end_day)
),
lines AS ( -- each sale line once: POS producers resend, compaction de-duplicates later
    SELECT pos_lines.* FROM pos_lines, win
    WHERE pos_lines.dt BETWEEN win.prior_first_day AND win.end_day
      AND txn_type = 'sale'
      AND ($store = '' OR store_id = $store)
    QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ORDER BY ingested_at, src_offset) = 1
),
sold AS (
    SELECT sku,
           coalesce(sum(quantity) FILTER (WHERE lines.dt >= win.first_day), 0) AS units_sold,
           coalesce(sum(quantity) FILTER (WHERE lines.dt < win.first_day), 0) AS prior_units_sold,
           count(DISTINCT store_id) FILTER (WHERE lines.dt >= win.first_day) AS stores_selling
    FROM lines, win
    GROUP BY sku
),
items AS (
    SELECT sku, arg_max(description, updated_at) AS description, arg_max(category, updated_at) AS category
    FROM item_locations, win
    WHERE item_locations.dt <= win.end_day AND ($store = '' OR location_id = $store)
    GROUP BY sku
)
SELECT sku, i.description, i.category,
       CAST(s.units_sold AS BIGINT) AS units_sold,
       CAST(s.prior_units_sold AS BIGINT) AS prior_units_sold,
       CAST(s.units_sold - s.prior_units_sold AS BIGINT) AS change,
       round(100.0 * (s.units_sold - s.prior_units_sold) / nullif(s.prior_units_sold, 0), 1) AS change_pct,
       s.stores_selling
FROM sold AS s
LEFT JOIN items AS i USING (sku)
ORDER BY s.units_sold DESC, sku
LIMIT $limit

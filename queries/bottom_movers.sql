-- name: bottom_movers
-- answers: The slowest-selling SKUs carried over the last N days (active
--   items at every store, or at one, including those that sold nothing),
--   with the change against the N days before.
-- param: days int 1..3660 = 28 : business days in the window, ending at as_of
-- param: as_of date = latest : last business day of the window (latest: the newest dt in pos_lines)
-- param: limit int 1..100000 = 20 : how many SKUs to list
-- param: store string = : only this store_id (empty: every store)
-- tables: pos_lines, item_locations
--
-- An item is carried where its latest item_locations state at or before
-- as_of is active, at a store (a location with POS sales). Units sold count
-- sale lines, each (transaction_id, line_no) once. Ties rank by SKU.
WITH win AS (
    SELECT end_day, end_day - (days - 1) AS first_day, end_day - (2 * days - 1) AS prior_first_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM pos_lines)) AS end_day)
),
stores AS (
    SELECT DISTINCT store_id FROM pos_lines, win
    WHERE pos_lines.dt <= win.end_day AND ($store = '' OR store_id = $store)
),
carried AS (
    SELECT sku, arg_max(description, updated_at) AS description, arg_max(category, updated_at) AS category,
           count(*) AS stores_carrying
    FROM (
        SELECT location_id, sku, description, category, updated_at, active
        FROM item_locations, win
        WHERE item_locations.dt <= win.end_day AND location_id IN (SELECT store_id FROM stores)
        QUALIFY row_number() OVER (PARTITION BY location_id, sku ORDER BY updated_at DESC) = 1
    )
    WHERE active
    GROUP BY sku
),
lines AS ( -- each sale line once: POS producers resend, compaction de-duplicates later
    SELECT pos_lines.* FROM pos_lines, win
    WHERE pos_lines.dt BETWEEN win.prior_first_day AND win.end_day
      AND txn_type = 'sale'
      AND store_id IN (SELECT store_id FROM stores)
    QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ORDER BY ingested_at, src_offset) = 1
),
sold AS (
    SELECT sku,
           coalesce(sum(quantity) FILTER (WHERE lines.dt >= win.first_day), 0) AS units_sold,
           coalesce(sum(quantity) FILTER (WHERE lines.dt < win.first_day), 0) AS prior_units_sold
    FROM lines, win
    GROUP BY sku
)
SELECT sku, c.description, c.category,
       CAST(coalesce(s.units_sold, 0) AS BIGINT) AS units_sold,
       CAST(coalesce(s.prior_units_sold, 0) AS BIGINT) AS prior_units_sold,
       CAST(coalesce(s.units_sold, 0) - coalesce(s.prior_units_sold, 0) AS BIGINT) AS change,
       round(100.0 * (coalesce(s.units_sold, 0) - s.prior_units_sold) / nullif(s.prior_units_sold, 0), 1) AS change_pct,
       c.stores_carrying
FROM carried AS c
LEFT JOIN sold AS s USING (sku)
ORDER BY coalesce(s.units_sold, 0), sku
LIMIT $limit

-- name: shrink_by_category
-- answers: Unexplained loss (shrink) by category over the last N days of
--   reconciliation runs: units and value at cost that counts found missing
--   against the expected on hand, each loss counted once (its exception
--   id), with the category and department from item_locations.
-- param: days int 1..3660 = 28 : runs over the days ending at as_of
-- param: as_of date = latest : the last run's date (latest: the newest dt in stock_exceptions)
-- tables: stock_exceptions, item_locations
-- requires: stock_exceptions
WITH win AS (
    SELECT end_day, end_day - CAST($days AS INTEGER) AS start_day
    FROM (SELECT coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM stock_exceptions)) AS end_day)
),
losses AS (
    SELECT e.exception_id, arg_max(e.location_id, e.dt) AS location_id, arg_max(e.sku, e.dt) AS sku,
           arg_max(e.loss_units, e.dt) AS units, arg_max(e.loss_value, e.dt) AS loss_value,
           arg_max(e.currency, e.dt) AS currency
    FROM stock_exceptions AS e, win
    WHERE e.dt > win.start_day AND e.dt <= win.end_day AND e.reason = 'unexplained_loss'
    GROUP BY e.exception_id
),
items AS (
    SELECT location_id, sku, arg_max(category, updated_at) AS category, arg_max(department, updated_at) AS department
    FROM item_locations GROUP BY ALL
)
SELECT coalesce(i.department, '?') AS department, coalesce(i.category, '?') AS category, l.currency,
       CAST(count(*) AS BIGINT) AS exceptions, CAST(sum(abs(l.units)) AS BIGINT) AS units_lost,
       sum(l.loss_value) AS loss_value_at_cost
FROM losses AS l LEFT JOIN items AS i USING (location_id, sku)
GROUP BY ALL
ORDER BY loss_value_at_cost DESC, department, category

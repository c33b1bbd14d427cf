-- name: count_list
-- answers: Tomorrow's cycle-count list per store: the store-SKUs whose
--   stock records the newest reconciliation run doubts (open or
--   acknowledged exceptions whose record and reconciled estimate differ:
--   not timing, which corrects itself, nor a loss a count already found),
--   ranked within each store by value at risk plus loss value.
-- param: as_of date = latest : the run's date (latest: the newest dt in stock_exceptions)
-- param: limit int 1..10000 = 20 : lines per store
-- param: store string = : only this store_id (empty: every store)
-- tables: stock_exceptions
-- requires: stock_exceptions
WITH run AS (
    SELECT coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM stock_exceptions)) AS day
),
ranked AS (
    SELECT e.*, row_number() OVER (PARTITION BY e.location_id
                                   ORDER BY e.value_at_risk + e.loss_value DESC, e.sku) AS rank
    FROM stock_exceptions AS e, run
    WHERE e.dt = run.day AND e.state <> 'resolved' AND e.reason <> 'timing' AND e.variance_units <> 0
      AND ($store = '' OR e.location_id = $store)
)
SELECT location_id AS store_id, CAST(rank AS BIGINT) AS rank, sku, reason, record_on_hand,
       expected_on_hand, value_at_risk + loss_value AS value, currency, exception_id
FROM ranked
WHERE rank <= $limit
ORDER BY store_id, rank

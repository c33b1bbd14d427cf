-- name: open_exceptions
-- answers: The stock exception queue: every open or acknowledged
--   store-SKU exception of the newest reconciliation run (the newest dt of
--   stock_exceptions, or as_of), with its reason, evidence, age and value
--   at risk, most valuable first.
-- param: as_of date = latest : the run's date (latest: the newest dt in stock_exceptions)
-- param: reason string = : only this reason: timing, receipt_mismatch, overstated_after_count, unexplained_loss, negative_on_hand, stale_snapshot or phantom_stock (empty: every reason)
-- tables: stock_exceptions
-- requires: stock_exceptions
WITH run AS (
    SELECT coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM stock_exceptions)) AS day
)
SELECT e.location_id, e.sku, e.reason, e.state, e.age_days, e.first_seen,
       e.record_on_hand, e.expected_on_hand, e.variance_units,
       e.value_at_risk, e.loss_value, e.currency, e.exception_id, e.evidence
FROM stock_exceptions AS e, run
WHERE e.dt = run.day AND e.state <> 'resolved'
  AND ($reason = '' OR e.reason = $reason)
ORDER BY e.value_at_risk + e.loss_value DESC, e.location_id, e.sku

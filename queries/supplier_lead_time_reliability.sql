-- name: supplier_lead_time_reliability
-- answers: How reliable each supplier's lead times are, over the PO lines
--   ordered in the last N days: lead time from order to full receipt (mean,
--   spread, range) against the lead time promised, the share received on
--   time, how late the late ones were, and how many lines were cancelled.
-- param: days int 1..3660 = 90 : order dates in the window, ending at as_of
-- param: as_of date = latest : last day of the window (latest: the newest dt in purchase_order_lines)
-- tables: purchase_order_lines
--
-- A line is received on the business day of its first state with status
-- received; its lead time is that day − its order date, its promise its
-- expected date − its order date, and it is on time when received by its
-- expected date. States after as_of are not known yet.
WITH win AS (
    SELECT end_day, end_day - (days - 1) AS first_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM purchase_order_lines)) AS end_day)
),
lines AS (
    SELECT po_id, line_no,
           any_value(supplier_id) AS supplier_id,
           any_value(order_date) AS order_date,
           any_value(expected_date) AS expected_date,
           min(purchase_order_lines.dt) FILTER (WHERE status = 'received') AS received_day,
           arg_max(status, updated_at) AS status
    FROM purchase_order_lines, win
    WHERE purchase_order_lines.dt <= win.end_day
    GROUP BY po_id, line_no
    HAVING any_value(order_date) BETWEEN any_value(win.first_day) AND any_value(win.end_day)
),
measured AS (
    SELECT *, received_day - order_date AS lead_time_days,
              expected_date - order_date AS promised_days,
              received_day - expected_date AS days_late
    FROM lines
)
SELECT supplier_id,
       count(*) AS lines_ordered,
       count(received_day) AS lines_received,
       count(*) FILTER (WHERE status = 'cancelled') AS lines_cancelled,
       count(*) FILTER (WHERE status IN ('open', 'partially_received')) AS lines_open,
       round(avg(promised_days), 2) AS avg_promised_days,
       round(avg(lead_time_days), 2) AS avg_lead_time_days,
       round(stddev_samp(lead_time_days), 2) AS stddev_lead_time_days,
       min(lead_time_days) AS min_lead_time_days,
       max(lead_time_days) AS max_lead_time_days,
       round(100.0 * count(*) FILTER (WHERE days_late <= 0) / nullif(count(received_day), 0), 1) AS on_time_pct,
       round(avg(days_late) FILTER (WHERE days_late > 0), 2) AS avg_days_late_when_late
FROM measured
GROUP BY supplier_id
ORDER BY on_time_pct ASC NULLS LAST, supplier_id

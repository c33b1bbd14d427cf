-- name: late_pos
-- answers: Late and ageing purchase orders by supplier: open PO lines (not
--   yet fully received or cancelled) as of a day, how many are past their
--   expected date and by how much, and how old the open ones are.
-- param: as_of date = latest : the day to judge on (latest: the newest dt in purchase_order_lines)
-- param: grace_days int 0..365 = 0 : days past the expected date before a line counts as late
-- tables: purchase_order_lines
--
-- A line's state is its latest at or before as_of; it is open when that
-- state is open or partially_received, and late when as_of is more than
-- grace_days after its expected date. Age is as_of − order date.
WITH p AS (
    SELECT coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM purchase_order_lines)) AS end_day,
           CAST($grace_days AS INTEGER) AS grace_days
),
open_lines AS (
    SELECT po_id, line_no, supplier_id, qty_ordered - qty_received AS open_units,
           order_date, expected_date,
           p.end_day - expected_date AS days_past_due,
           p.end_day - order_date AS age_days,
           p.end_day - expected_date > p.grace_days AS late
    FROM (
        SELECT purchase_order_lines.* FROM purchase_order_lines, p
        WHERE purchase_order_lines.dt <= p.end_day
        QUALIFY row_number() OVER (PARTITION BY po_id, line_no ORDER BY updated_at DESC) = 1
    ) AS cur, p
    WHERE status IN ('open', 'partially_received')
)
SELECT supplier_id,
       count(DISTINCT po_id) AS open_pos,
       count(*) AS open_lines,
       CAST(sum(open_units) AS BIGINT) AS open_units,
       count(DISTINCT po_id) FILTER (WHERE late) AS late_pos,
       count(*) FILTER (WHERE late) AS late_lines,
       CAST(coalesce(sum(open_units) FILTER (WHERE late), 0) AS BIGINT) AS late_units,
       max(days_past_due) FILTER (WHERE late) AS max_days_late,
       round(avg(age_days), 1) AS avg_age_days,
       count(*) FILTER (WHERE age_days <= 7) AS age_0_7,
       count(*) FILTER (WHERE age_days BETWEEN 8 AND 14) AS age_8_14,
       count(*) FILTER (WHERE age_days BETWEEN 15 AND 28) AS age_15_28,
       count(*) FILTER (WHERE age_days > 28) AS age_over_28,
       min(order_date) AS oldest_order_date
FROM open_lines
GROUP BY supplier_id
ORDER BY late_lines DESC, supplier_id

-- name: rejects_by_reason
-- answers: Which records ingest rejected over the last N days, per source
--   topic and reason: how many, when first and last, and one example error.
-- param: days int 1..3660 = 7 : days (UTC, by receipt) in the window, ending at as_of
-- param: as_of date = latest : last day of the window (latest: the newest dt in rejects)
-- tables: rejects
WITH win AS (
    SELECT end_day, end_day - (days - 1) AS first_day
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM rejects)) AS end_day)
)
SELECT topic, reason, count(*) AS rejected,
       min(received_at) AS first_received_at,
       max(received_at) AS last_received_at,
       arg_min(error, (received_at, "partition", "offset")) AS example_error
FROM rejects, win
WHERE rejects.dt BETWEEN win.first_day AND win.end_day
GROUP BY topic, reason
ORDER BY rejected DESC, topic, reason

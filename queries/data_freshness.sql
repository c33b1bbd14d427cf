-- name: data_freshness
-- answers: How fresh the lake is per source feed: the newest event each
--   table holds (event time and business day), when it was ingested, the
--   Delta version read and when it was committed, and how far behind now
--   each of them is.
-- param: now timestamp = now : the time lags are measured to (now: the current time)
-- tables: pos_lines, inventory_snapshots, purchase_order_lines, item_locations, promotions, rejects, _tables
--
-- Event times: POS event_time, inventory as_of, PO line, item and promotion
-- updated_at (a promotion's is when it was published, weeks before it runs),
-- rejects received_at. _tables is the session's table of the Delta versions
-- it reads (a table missing from the lake has no version).
WITH p AS (
    SELECT coalesce(CAST($now AS TIMESTAMPTZ), get_current_timestamp()) AS now
),
src AS (
    SELECT 'pos.transactions' AS source, 'pos_lines' AS table_name, count(*) AS row_count,
           max(dt) AS newest_dt, max(event_time) AS newest_event_time, max(ingested_at) AS newest_ingested_at
    FROM pos_lines
    UNION ALL
    SELECT 'erp.inventory', 'inventory_snapshots', count(*), max(dt), max(as_of), max(ingested_at)
    FROM inventory_snapshots
    UNION ALL
    SELECT 'erp.purchase_orders', 'purchase_order_lines', count(*), max(dt), max(updated_at), max(ingested_at)
    FROM purchase_order_lines
    UNION ALL
    SELECT 'erp.item_locations', 'item_locations', count(*), max(dt), max(updated_at), max(ingested_at)
    FROM item_locations
    UNION ALL
    SELECT 'erp.promotions', 'promotions', count(*), max(dt), max(updated_at), max(ingested_at)
    FROM promotions
    UNION ALL
    SELECT 'rejects', 'rejects', count(*), max(dt), max(received_at), max(received_at)
    FROM rejects
)
SELECT s.source, s.table_name, s.row_count, s.newest_dt, s.newest_event_time, s.newest_ingested_at,
       t.version, t.commit_time AS committed_at,
       p.now - s.newest_event_time AS event_lag,
       p.now - t.commit_time AS commit_lag
FROM src AS s
LEFT JOIN _tables AS t USING (table_name)
CROSS JOIN p
ORDER BY s.source

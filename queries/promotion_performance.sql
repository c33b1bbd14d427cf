-- name: promotion_performance
-- answers: How the promotions of the last N days sold: per promotion and
--   SKU, units sold per store per day during it against the 28 days before
--   it (the lift), and how many of its units the tills rang up with the
--   promotion applied.
-- param: days int 1..3660 = 91 : promotions that ended in the N business days ending at as_of
-- param: as_of date = latest : last business day (latest: the newest dt in pos_lines)
-- tables: promotions, pos_lines
--
-- A promotion is its latest state the ERP published by as_of (cancelled
-- ones are left out); a chain-wide one (location_id NULL) counts every
-- store with POS lines, a store's own that store. Units are sale lines,
-- each (transaction_id, line_no) once. The baseline is the 28 days before
-- the start, or as many as the lake holds (base_days; no baseline, no
-- lift); it may hold another promotion of the item. Stockouts are not
-- taken out: a lift held back by empty shelves shows as a smaller lift
-- (see stockout_days).
WITH win AS (
    SELECT end_day, end_day - (days - 1) AS first_day,
           (SELECT min(dt) FROM pos_lines) AS lake_first
    FROM (SELECT CAST($days AS INTEGER) AS days,
                 coalesce(CAST($as_of AS DATE), (SELECT max(dt) FROM pos_lines)) AS end_day)
),
stores AS (
    SELECT DISTINCT store_id FROM pos_lines, win WHERE pos_lines.dt <= win.end_day
),
promos AS (
    SELECT p.* FROM (
        SELECT promotions.* FROM promotions, win WHERE promotions.dt <= win.end_day
        QUALIFY row_number() OVER (PARTITION BY promotion_id, sku, coalesce(location_id, '')
            ORDER BY updated_at DESC, ingested_at DESC, src_partition DESC, src_offset DESC) = 1
    ) AS p, win
    WHERE p.status = 'planned' AND p.end_date BETWEEN win.first_day AND win.end_day
),
reach AS ( -- the stores each promotion runs at
    SELECT p.promotion_id, p.sku, p.location_id, s.store_id
    FROM promos AS p JOIN stores AS s ON p.location_id IS NULL OR p.location_id = s.store_id
),
lines AS ( -- each sale line once: POS producers resend, compaction de-duplicates later
    SELECT pos_lines.* FROM pos_lines, win
    WHERE pos_lines.dt <= win.end_day AND txn_type = 'sale' AND sku IN (SELECT sku FROM promos)
    QUALIFY row_number() OVER (PARTITION BY transaction_id, line_no ORDER BY ingested_at, src_offset) = 1
),
units AS (
    SELECT p.promotion_id, p.sku, p.location_id,
           coalesce(sum(l.quantity) FILTER (WHERE l.dt BETWEEN p.start_date AND p.end_date), 0) AS promo_units,
           coalesce(sum(l.quantity) FILTER (WHERE l.dt BETWEEN p.start_date AND p.end_date
                                             AND l.promotion_id = p.promotion_id), 0) AS rung_up,
           coalesce(sum(l.quantity) FILTER (WHERE l.dt BETWEEN p.start_date - 28 AND p.start_date - 1), 0) AS base_units
    FROM promos AS p
    JOIN reach AS r ON r.promotion_id = p.promotion_id AND r.sku = p.sku
                   AND r.location_id IS NOT DISTINCT FROM p.location_id
    LEFT JOIN lines AS l ON l.store_id = r.store_id AND l.sku = p.sku
                        AND l.dt BETWEEN p.start_date - 28 AND p.end_date
    GROUP BY ALL
),
n AS (
    SELECT promotion_id, sku, location_id, count(*) AS stores FROM reach GROUP BY ALL
)
SELECT p.promotion_id, p.sku, p.location_id, p.start_date, p.end_date, p.discount_pct, n.stores,
       CAST(p.end_date - p.start_date + 1 AS BIGINT) AS promo_days,
       CAST(u.promo_units AS BIGINT) AS units_sold,
       CAST(u.rung_up AS BIGINT) AS units_rung_up,
       round(u.promo_units / ((p.end_date - p.start_date + 1) * n.stores), 3) AS units_per_store_day,
       CAST(b.base_days AS BIGINT) AS base_days,
       CASE WHEN b.base_days > 0 THEN round(u.base_units / (b.base_days * n.stores), 3) END AS base_units_per_store_day,
       CASE WHEN b.base_days > 0 AND u.base_units > 0
            THEN round((u.promo_units / (p.end_date - p.start_date + 1)) / (u.base_units / b.base_days), 2) END AS lift
FROM promos AS p
JOIN units AS u ON u.promotion_id = p.promotion_id AND u.sku = p.sku AND u.location_id IS NOT DISTINCT FROM p.location_id
JOIN n ON n.promotion_id = p.promotion_id AND n.sku = p.sku AND n.location_id IS NOT DISTINCT FROM p.location_id,
     LATERAL (SELECT least(28, greatest(p.start_date - win.lake_first, 0)) AS base_days FROM win) AS b
ORDER BY lift DESC NULLS LAST, p.promotion_id, p.sku, p.location_id NULLS FIRST

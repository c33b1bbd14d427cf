-- name: suggestion_acceptance
-- answers: How planners treat the suggested purchase orders written into
--   the ERPs, per supplier and category: of the documents they decided on
--   (read back by shelflake writeback outcomes), the share accepted as
--   suggested, changed, rejected, still pending, and how their quantities
--   differ from ours (units suggested, ordered, added, cut).
-- param: days int 1..3660 = 91 : documents of forecast runs in the last N days, ending at the newest run read back
-- tables: suggestion_outcomes, item_locations
-- requires: suggestion_outcomes
--
-- Each document counts in its newest observation (a later read-back
-- replaces an earlier one). A line's category is its item's newest
-- item_locations state at its location ('' when unknown); a document's
-- decision counts once per category it has lines in.
WITH latest AS (
    SELECT o.*
    FROM suggestion_outcomes AS o
    QUALIFY seen_at = max(seen_at) OVER (PARTITION BY external_ref, channel)
),
win AS (
    SELECT max(dt) - (CAST($days AS INTEGER) - 1) AS first_day FROM latest
),
cats AS (
    SELECT location_id, sku, arg_max(category, updated_at) AS category
    FROM item_locations
    GROUP BY location_id, sku
),
lines AS (
    SELECT l.external_ref, l.channel, l.supplier_id, coalesce(c.category, '') AS category, l.decision,
           l.suggested_qty, l.planner_qty
    FROM latest AS l
    LEFT JOIN cats AS c USING (location_id, sku)
    WHERE l.dt >= (SELECT first_day FROM win)
)
SELECT supplier_id,
       category,
       count(DISTINCT external_ref || channel) AS documents,
       count(DISTINCT external_ref || channel) FILTER (WHERE decision = 'accepted') AS accepted,
       count(DISTINCT external_ref || channel) FILTER (WHERE decision = 'changed') AS changed,
       count(DISTINCT external_ref || channel) FILTER (WHERE decision = 'rejected') AS rejected,
       count(DISTINCT external_ref || channel) FILTER (WHERE decision = 'pending') AS pending,
       round(count(DISTINCT external_ref || channel) FILTER (WHERE decision = 'accepted')
             / nullif(count(DISTINCT external_ref || channel) FILTER (WHERE decision <> 'pending'), 0), 3) AS acceptance_rate,
       sum(suggested_qty) AS units_suggested,
       sum(planner_qty) FILTER (WHERE decision <> 'pending') AS units_ordered,
       sum(greatest(planner_qty - suggested_qty, 0)) FILTER (WHERE decision = 'changed') AS units_added,
       sum(greatest(suggested_qty - planner_qty, 0)) FILTER (WHERE decision = 'changed') AS units_cut,
       count(*) FILTER (WHERE decision = 'changed' AND planner_qty <> suggested_qty) AS lines_changed
FROM lines
GROUP BY ALL
ORDER BY documents DESC, supplier_id, category

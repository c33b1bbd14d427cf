-- name: replenishment_review
-- answers: The latest replenishment suggestions for planners to review:
--   every suggested PO line of the newest forecast run (the newest dt of
--   replenishment_suggestions), as the forecast wrote it.
-- tables: replenishment_suggestions
-- requires: replenishment_suggestions
SELECT s.*
FROM replenishment_suggestions AS s
WHERE s.dt = (SELECT max(dt) FROM replenishment_suggestions)
ORDER BY ALL

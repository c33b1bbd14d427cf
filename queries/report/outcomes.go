package report

import (
	"context"
	"database/sql"

	"github.com/shelflake/shelflake/schema"
)

// OutcomeGroup is what planners did with the suggested POs of one supplier,
// read back from the ERPs (suggestion_outcomes, newest observation of each
// document).
type OutcomeGroup struct {
	SupplierID string
	// Documents counts the documents read back; the others split them by
	// decision.
	Documents, Accepted, Changed, Rejected, Pending int64
	// AcceptanceRate is Accepted / (Documents − Pending); nil when every
	// document is pending.
	AcceptanceRate *float64
	// UnitsSuggested sums our quantities of the decided documents,
	// UnitsOrdered the planners'.
	UnitsSuggested, UnitsOrdered int64
}

// outcomes groups suggestion_outcomes by supplier, most documents first.
func (b *builder) outcomes(ctx context.Context) ([]OutcomeGroup, error) {
	if _, ok := b.present(schema.TableNameSuggestionOutcomes); !ok {
		return nil, nil
	}
	q := `WITH latest AS (
    SELECT * FROM suggestion_outcomes
    QUALIFY seen_at = max(seen_at) OVER (PARTITION BY external_ref, channel)
), docs AS (
    SELECT external_ref, channel, any_value(supplier_id) AS supplier_id, any_value(decision) AS decision,
           sum(suggested_qty) AS suggested, sum(planner_qty) AS ordered
    FROM latest GROUP BY external_ref, channel
)
SELECT supplier_id, count(*) AS n,
       count(*) FILTER (WHERE decision = 'accepted'), count(*) FILTER (WHERE decision = 'changed'),
       count(*) FILTER (WHERE decision = 'rejected'), count(*) FILTER (WHERE decision = 'pending'),
       coalesce(sum(suggested) FILTER (WHERE decision <> 'pending'), 0),
       coalesce(sum(ordered) FILTER (WHERE decision <> 'pending'), 0)
FROM docs GROUP BY supplier_id ORDER BY n DESC, supplier_id`
	var out []OutcomeGroup
	err := b.query(ctx, q, nil, func(rows *sql.Rows) error {
		var g OutcomeGroup
		var sup sql.NullString
		if err := rows.Scan(&sup, &g.Documents, &g.Accepted, &g.Changed, &g.Rejected, &g.Pending, &g.UnitsSuggested, &g.UnitsOrdered); err != nil {
			return err
		}
		g.SupplierID = sup.String
		if decided := g.Documents - g.Pending; decided > 0 {
			r := float64(g.Accepted) / float64(decided)
			g.AcceptanceRate = &r
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

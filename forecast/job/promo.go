package job

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/forecast/writeback"
)

// promoKnownSQL builds promo_known: the planned promotions of the
// forecast's SKUs as the ERP had published them by the as-of date (the
// promotions view holds the states published before it), the latest state
// of each (promotion, sku, location), in days since the epoch. A null
// location_id is a chain-wide promotion.
const promoKnownSQL = `
CREATE OR REPLACE TEMP TABLE promo_known AS
SELECT promotion_id, sku, location_id, ` + "CAST(start_date - DATE '1970-01-01' AS INTEGER)" + ` AS first_day,
	` + "CAST(end_date - DATE '1970-01-01' AS INTEGER)" + ` AS last_day, discount_pct
FROM (
	SELECT * FROM promotions
	QUALIFY row_number() OVER (PARTITION BY promotion_id, sku, coalesce(location_id, '')
		ORDER BY updated_at DESC, ingested_at DESC, src_partition DESC, src_offset DESC) = 1
)
WHERE status = 'planned' AND sku IN (SELECT sku FROM series)`

// promoObsSQL measures each chain-wide promotion that ended before the
// as-of date {A} and started at least 28 days into the history {H}: mean
// units per uncensored store-day during it, over the 28 days before it
// (days of this or another promotion of the item, and the DipDays after
// one, left out) and over the DipDays days after it (when no promotion
// runs then and they are in the history). A store-day is uncensored when
// the store carries the item (it is a series) and did not stock out;
// closed days count as zero-sale days.
const promoObsSQL = `
WITH carriers AS (
	SELECT sku, min(department) AS dept, count(*) AS n_stores FROM series GROUP BY sku
),
inst AS (
	SELECT row_number() OVER (ORDER BY p.sku, p.promotion_id) AS id,
		p.sku, c.dept, c.n_stores, p.first_day, p.last_day, p.discount_pct
	FROM promo_known p JOIN carriers c USING (sku)
	WHERE p.location_id IS NULL AND p.first_day >= {H} + 28 AND p.last_day < {A}
),
grid AS (
	SELECT i.id, i.sku, i.n_stores, g.day,
		CASE WHEN g.day < i.first_day THEN 'base' WHEN g.day <= i.last_day THEN 'promo' ELSE 'after' END AS part
	FROM inst i, LATERAL (SELECT unnest(range(i.first_day - 28, least(i.last_day + 1 + {DIP}, {A}))) AS day) g
),
busy AS (
	SELECT DISTINCT g.id, g.day FROM grid g JOIN promo_known p
		ON p.sku = g.sku AND p.location_id IS NULL AND g.day BETWEEN p.first_day AND p.last_day + {DIP}
	WHERE g.part = 'base'
	UNION ALL
	SELECT DISTINCT g.id, g.day FROM grid g JOIN promo_known p
		ON p.sku = g.sku AND p.location_id IS NULL AND g.day BETWEEN p.first_day AND p.last_day
	WHERE g.part = 'after'
),
keep AS (
	SELECT g.* FROM grid g ANTI JOIN busy b ON b.id = g.id AND b.day = g.day
),
gdays AS (SELECT DISTINCT sku, day FROM keep),
so AS (
	SELECT DISTINCT s.location_id, s.sku, ` + "CAST(s.dt - DATE '1970-01-01' AS INTEGER)" + ` AS day
	FROM stockouts s SEMI JOIN gdays g ON g.sku = s.sku AND g.day = ` + "CAST(s.dt - DATE '1970-01-01' AS INTEGER)" + `
),
units AS (
	SELECT s.sku, s.day, sum(s.units_sold) AS units
	FROM (SELECT store_id, sku, ` + "CAST(dt - DATE '1970-01-01' AS INTEGER)" + ` AS day, units_sold FROM sales_daily) s
	SEMI JOIN gdays g ON g.sku = s.sku AND g.day = s.day
	ANTI JOIN so ON so.location_id = s.store_id AND so.sku = s.sku AND so.day = s.day
	GROUP BY ALL
),
outs AS (SELECT sku, day, count(*) AS n_out FROM so GROUP BY ALL),
parts AS (
	SELECT k.id, k.part, sum(coalesce(u.units, 0)) AS units, sum(k.n_stores - coalesce(o.n_out, 0)) AS store_days,
		count(*) AS days
	FROM keep k
	LEFT JOIN units u ON u.sku = k.sku AND u.day = k.day
	LEFT JOIN outs o ON o.sku = k.sku AND o.day = k.day
	GROUP BY ALL
)
SELECT i.dept, i.discount_pct,
	max(p.store_days) FILTER (WHERE p.part = 'promo') AS promo_store_days,
	max(p.units / nullif(p.store_days, 0)) FILTER (WHERE p.part = 'promo') AS promo_rate,
	max(p.units / nullif(p.store_days, 0)) FILTER (WHERE p.part = 'base') AS base_rate,
	max(p.units / nullif(p.store_days, 0)) FILTER (WHERE p.part = 'after' AND p.days = {DIP}) AS after_rate
FROM inst i JOIN parts p ON p.id = i.id
GROUP BY i.id, i.dept, i.discount_pct
ORDER BY i.id`

// promoFutureSQL lists the known promotions whose days or dip reach into
// the forecast horizon [{A}, {A}+{F}).
const promoFutureSQL = `
SELECT sku, coalesce(location_id, '') AS location_id, first_day, last_day, discount_pct
FROM promo_known
WHERE last_day + {DIP} >= {A} AND first_day < {A} + {F}
ORDER BY sku, location_id, first_day, last_day, discount_pct`

// futurePromo is a known promotion reaching into the horizon; loc "" is
// chain-wide.
type futurePromo struct {
	loc string
	w   promo.Window
}

// promotions builds the promotion calendar the run forecasts with: the
// promo_known table (read by the daily series for the promotion mask), the
// pooled promotion response, and the promotions ahead per SKU.
func (r *runner) promotions(ctx context.Context, db *sql.DB) error {
	r.promos, r.future = (&promo.Estimator{}).Model(), map[string][]futurePromo{}
	if _, err := db.ExecContext(ctx, promoKnownSQL); err != nil {
		return fmt.Errorf("promotion calendar: %w", err)
	}
	vals := map[string]string{"A": sqlInt(int(r.o.AsOf)), "H": sqlInt(int(r.histStart)),
		"F": sqlInt(r.o.Model.ForecastDays), "DIP": sqlInt(promo.DipDays)}
	var est promo.Estimator
	n := 0
	if r.trained != nil {
		// A shard sees its locations only: the response to past
		// promotions, pooled over every location, is the plan's.
		for _, o := range r.trained.promoObservations() {
			est.Add(o)
			n++
		}
	} else if err := r.observePromotions(ctx, db, vals, &est, &n); err != nil {
		return err
	}
	r.promos = est.Model()
	rows, err := db.QueryContext(ctx, fill(promoFutureSQL, vals))
	if err != nil {
		return fmt.Errorf("promotions ahead: %w", err)
	}
	defer rows.Close()
	ahead := 0
	for rows.Next() {
		var sku, loc string
		var first, last, pct int32
		if err := rows.Scan(&sku, &loc, &first, &last, &pct); err != nil {
			return fmt.Errorf("promotions ahead: %w", err)
		}
		sku = strings.Clone(sku)
		r.future[sku] = append(r.future[sku], futurePromo{loc: loc, w: promo.Window{First: int(first), Last: int(last), DiscountPct: float64(pct)}})
		ahead++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("promotions ahead: %w", err)
	}
	r.log.Info("promotion calendar", "past_observed", n, "ahead", ahead, "groups", len(r.promos.Groups()))
	return nil
}

// observePromotions measures the past promotions (promoObsSQL) into est,
// keeping them in r.promoObs.
func (r *runner) observePromotions(ctx context.Context, db *sql.DB, vals map[string]string, est *promo.Estimator, n *int) error {
	rows, err := db.QueryContext(ctx, fill(promoObsSQL, vals))
	if err != nil {
		return fmt.Errorf("promotion response: %w", err)
	}
	for rows.Next() {
		var dept string
		var pct int32
		var days sql.NullInt64
		var pr, br, ar sql.NullFloat64
		if err := rows.Scan(&dept, &pct, &days, &pr, &br, &ar); err != nil {
			rows.Close()
			return fmt.Errorf("promotion response: %w", err)
		}
		if !days.Valid || !pr.Valid || !br.Valid {
			continue
		}
		o := promo.Observation{Group: dept, DiscountPct: float64(pct), Days: float64(days.Int64),
			PromoRate: pr.Float64, BaseRate: br.Float64, AfterRate: math.NaN()}
		if ar.Valid {
			o.AfterRate = ar.Float64
		}
		est.Add(o)
		r.promoObs = append(r.promoObs, o)
		*n++
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("promotion response: %w", err)
	}
	return rows.Close()
}

// uplift fills dst with series a's demand multipliers from the as-of date
// on and reports whether a promotion lifts any day.
func (r *runner) uplift(dst []float64, a *seriesAttr) bool {
	fs := r.future[a.sku]
	ws := make([]promo.Window, 0, len(fs))
	for _, f := range fs {
		if f.loc == "" || f.loc == a.loc {
			ws = append(ws, f.w)
		}
	}
	r.promos.Multipliers(dst, a.dept, int(r.o.AsOf), ws)
	for _, u := range dst {
		if u != 1 {
			return true
		}
	}
	return false
}

// promoResponse is the run's promotion response for forecast_runs'
// parameters: the pooled effect ("*") and each department's own.
func (r *runner) promoResponse() map[string]any {
	eff := func(e promo.Effect) map[string]any {
		return map[string]any{
			"elasticity":   writeback.Round3(e.Elasticity),
			"dip":          writeback.Round3(e.Dip),
			"lift_cv":      writeback.Round3(e.LiftCV),
			"observations": e.Observations,
		}
	}
	out := map[string]any{"*": eff(r.promos.Pooled())}
	for _, g := range r.promos.Groups() {
		out[g] = eff(r.promos.Effect(g))
	}
	return out
}

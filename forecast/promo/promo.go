// Package promo lifts demand forecasts on the days of planned promotions.
//
// The forecasting models fit an item's baseline: promotion days are
// masked out of their history (see forecast/model). What a promotion adds
// comes from here, from two numbers pooled over a group of items (a
// department), both measured on past promotions at the chain level:
//
//   - the elasticity e: a promotion at p percent off lifts demand by a factor
//     1 + e·p/100 over the baseline (the baseline measured over the 28 days
//     before the promotion, outside stockouts and other promotions);
//   - the dip: demand on the DipDays days after a promotion, as a fraction
//     of the baseline (customers stocked up).
//
// Pooling matters: one store-SKU sees a handful of promotions a year, each
// lifted by noise, while a department sees thousands. A group with fewer
// than MinObservations promotions falls back to the pool of all groups, and
// with none at all DefaultElasticity and no dip are used.
package promo

import (
	"math"
	"sort"
)

const (
	// DipDays is the number of days after a promotion its dip lasts.
	DipDays = 3
	// DefaultElasticity is used when no promotion was ever observed: 10%
	// off lifts demand by 30%.
	DefaultElasticity = 3.0
	// DefaultLiftCV is the relative spread of the lift used with the
	// default elasticity.
	DefaultLiftCV = 0.5
	// MinObservations is the number of past promotions a group needs for an
	// estimate of its own.
	MinObservations = 20
	// maxElasticity bounds an estimate (a 30% discount may at most lift
	// demand sixfold).
	maxElasticity = 16.0
)

// Observation is one past promotion of an item, measured over the stores
// that carry it: mean units per uncensored store-day during the promotion,
// in the 28 days before it (the baseline) and in the DipDays days after.
type Observation struct {
	// Group pools observations (the item's department).
	Group string
	// DiscountPct is the percent off (1..99).
	DiscountPct float64
	// Days is the number of promotion days observed (the weight).
	Days float64
	// PromoRate, BaseRate and AfterRate are mean units per store-day;
	// AfterRate is NaN when the days after are not observed.
	PromoRate, BaseRate, AfterRate float64
}

type acc struct {
	liftNum, liftDen float64
	dipNum, dipDen   float64
	// Weighted sums of each observation's own elasticity and its square
	// (weight w·p²: its share of liftDen, squared in p), for the spread.
	ew, e1, e2 float64
	n          int
}

func (a *acc) add(o *Observation) {
	w := o.Days * o.BaseRate
	p := o.DiscountPct / 100
	a.liftNum += o.Days * (o.PromoRate - o.BaseRate)
	a.liftDen += w * p
	e := (o.PromoRate/o.BaseRate - 1) / p
	a.ew += w * p
	a.e1 += w * p * e
	a.e2 += w * p * e * e
	if !math.IsNaN(o.AfterRate) && o.AfterRate >= 0 {
		a.dipNum += DipDays * o.AfterRate
		a.dipDen += DipDays * o.BaseRate
	}
	a.n++
}

func (a *acc) estimate() Effect {
	eff := Effect{Elasticity: min(max(a.liftNum/a.liftDen, 0), maxElasticity), Dip: 1, Observations: a.n}
	if a.dipDen > 0 {
		eff.Dip = min(max(a.dipNum/a.dipDen, 0.5), 1)
	}
	if a.n > 1 && a.ew > 0 && eff.Elasticity > 0 {
		m := a.e1 / a.ew
		sd := math.Sqrt(max(a.e2/a.ew-m*m, 0))
		eff.LiftCV = min(sd/eff.Elasticity, 2)
	}
	return eff
}

// Estimator pools observations into a Model. The zero value is ready.
type Estimator struct {
	groups map[string]*acc
	all    acc
}

// Add adds an observation; ones without a positive baseline, discount or
// day count, or with a non-finite rate, are ignored (they say nothing
// about a lift).
func (e *Estimator) Add(o Observation) {
	if !(o.BaseRate > 0) || !(o.Days > 0) || !(o.DiscountPct > 0) || !(o.PromoRate >= 0) ||
		math.IsInf(o.PromoRate+o.BaseRate+o.Days, 0) {
		return
	}
	if e.groups == nil {
		e.groups = map[string]*acc{}
	}
	g := e.groups[o.Group]
	if g == nil {
		g = &acc{}
		e.groups[o.Group] = g
	}
	g.add(&o)
	e.all.add(&o)
}

// Model returns the pooled estimates.
func (e *Estimator) Model() *Model {
	m := &Model{groups: map[string]Effect{}, all: Effect{Elasticity: DefaultElasticity, Dip: 1, LiftCV: DefaultLiftCV}}
	if e.all.n > 0 && e.all.liftDen > 0 {
		m.all = e.all.estimate()
	}
	for k, g := range e.groups {
		if g.n >= MinObservations && g.liftDen > 0 {
			m.groups[k] = g.estimate()
		}
	}
	return m
}

// Effect is a group's promotion response.
type Effect struct {
	Elasticity, Dip float64
	// LiftCV is the spread of single promotions' elasticities around
	// Elasticity, relative to it: how uncertain the extra demand of a
	// promotion is (forecast/replenish adds it to the safety stock).
	LiftCV float64
	// Observations is the number of past promotions behind the estimate (0:
	// the defaults).
	Observations int
}

// Model holds the pooled effects. It is immutable and safe for concurrent
// use.
type Model struct {
	groups map[string]Effect
	all    Effect
}

// Effect returns group's effect, or the pooled one when the group has too
// few observations.
func (m *Model) Effect(group string) Effect {
	if e, ok := m.groups[group]; ok {
		return e
	}
	return m.all
}

// Pooled returns the effect pooled over every group (the defaults when no
// promotion was observed).
func (m *Model) Pooled() Effect { return m.all }

// Groups returns the groups with an estimate of their own, sorted.
func (m *Model) Groups() []string {
	out := make([]string, 0, len(m.groups))
	for k := range m.groups {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Window is a planned promotion of a series over days First..Last (both
// included; any day numbering, the same as Multipliers' first).
type Window struct {
	First, Last int
	DiscountPct float64
}

// Multipliers sets dst[h] to the demand multiplier of day first+h: the lift
// 1 + e·p/100 on a promotion's days (the largest discount when promotions
// overlap), the dip on the DipDays days after one (when no other runs), 1
// otherwise. It reports whether any day is lifted.
func (m *Model) Multipliers(dst []float64, group string, first int, ws []Window) bool {
	for h := range dst {
		dst[h] = 1
	}
	if len(ws) == 0 {
		return false
	}
	eff := m.Effect(group)
	lifted := false
	for _, w := range ws {
		for d := w.Last + 1; d <= w.Last+DipDays; d++ {
			if h := d - first; h >= 0 && h < len(dst) {
				dst[h] = min(dst[h], eff.Dip)
			}
		}
	}
	for _, w := range ws {
		lift := 1 + eff.Elasticity*w.DiscountPct/100
		for d := max(w.First, first); d <= w.Last && d-first < len(dst); d++ {
			h := d - first
			if dst[h] < 1 {
				dst[h] = 1
			}
			if lift > dst[h] {
				dst[h] = lift
				lifted = true
			}
		}
	}
	return lifted
}

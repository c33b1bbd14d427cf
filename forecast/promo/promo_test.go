package promo

import (
	"math"
	"slices"
	"testing"
)

func TestEstimatorPoolsPromotionsByGroup(t *testing.T) {
	obs := func(group string, pct, promoRate float64) Observation {
		return Observation{Group: group, DiscountPct: pct, Days: 10, PromoRate: promoRate, BaseRate: 2, AfterRate: 1.7}
	}
	var e Estimator
	for i := range MinObservations {
		// Food: 20% off doubles demand (e = 5), give or take a tenth.
		d := 0.2 * float64(i%2*2-1)
		e.Add(obs("food", 20, 4+d))
	}
	for range MinObservations - 1 {
		e.Add(obs("toys", 50, 4)) // e = 2, too few for an estimate of its own
	}
	e.Add(Observation{Group: "food", DiscountPct: 20, Days: 10, PromoRate: 9, BaseRate: 0}) // no baseline: ignored
	m := e.Model()
	if got := m.Groups(); !slices.Equal(got, []string{"food"}) {
		t.Fatalf("groups %v, want food alone", got)
	}
	food := m.Effect("food")
	if math.Abs(food.Elasticity-5) > 1e-9 || math.Abs(food.Dip-0.85) > 1e-9 || food.Observations != MinObservations {
		t.Errorf("food %+v, want elasticity 5, dip 0.85 over %d promotions", food, MinObservations)
	}
	// Each promotion's elasticity is 5 ± 0.5: a relative spread of 0.1.
	if math.Abs(food.LiftCV-0.1) > 1e-9 {
		t.Errorf("food lift cv %v, want 0.1", food.LiftCV)
	}
	toys := m.Effect("toys")
	if toys.Observations != 2*MinObservations-1 || !(toys.Elasticity > 2 && toys.Elasticity < 5) {
		t.Errorf("toys fall back to the pool of all groups: %+v", toys)
	}
	if d := (&Estimator{}).Model().Effect("any"); d.Elasticity != DefaultElasticity || d.Dip != 1 || d.Observations != 0 {
		t.Errorf("with no promotions observed: %+v", d)
	}
}

func TestMultipliers(t *testing.T) {
	var e Estimator
	for range MinObservations {
		e.Add(Observation{Group: "g", DiscountPct: 10, Days: 5, PromoRate: 1.5, BaseRate: 1, AfterRate: 0.5})
	}
	m := e.Model() // elasticity 5: 10% off lifts 1.5×, 20% off 2×; dip 0.5
	cases := []struct {
		name   string
		first  int
		ws     []Window
		want   []float64
		lifted bool
	}{
		{"no promotion leaves every day at 1", 100, nil, []float64{1, 1, 1, 1, 1, 1, 1, 1}, false},
		{"a promotion lifts its days and dips the three after", 100,
			[]Window{{First: 102, Last: 103, DiscountPct: 10}}, []float64{1, 1, 1.5, 1.5, 0.5, 0.5, 0.5, 1}, true},
		{"a promotion that began before the first day lifts what is left of it", 100,
			[]Window{{First: 95, Last: 100, DiscountPct: 20}}, []float64{2, 0.5, 0.5, 0.5, 1, 1, 1, 1}, true},
		{"a promotion that ended dips the days after it only", 100,
			[]Window{{First: 90, Last: 98, DiscountPct: 20}}, []float64{0.5, 0.5, 1, 1, 1, 1, 1, 1}, false},
		{"a promotion during another's dip lifts, and overlaps take the larger discount", 100,
			[]Window{{First: 100, Last: 101, DiscountPct: 10}, {First: 103, Last: 104, DiscountPct: 10}, {First: 104, Last: 104, DiscountPct: 20}},
			[]float64{1.5, 1.5, 0.5, 1.5, 2, 0.5, 0.5, 0.5}, true},
		{"a promotion past the end changes nothing", 100,
			[]Window{{First: 120, Last: 125, DiscountPct: 20}}, []float64{1, 1, 1, 1, 1, 1, 1, 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make([]float64, 8)
			lifted := m.Multipliers(got, "g", c.first, c.ws)
			if !slices.Equal(got, c.want) || lifted != c.lifted {
				t.Errorf("got %v (lifted %v), want %v (%v)", got, lifted, c.want, c.lifted)
			}
		})
	}
}

package evaluate

import (
	"math"
	"testing"
)

func TestNaiveInventoryAtInterpolatesOnTheCurve(t *testing.T) {
	c := &Curve{Naive: []CurvePoint{
		{Factor: 2, FillRate: 0.95, AvgInventory: 30},
		{Factor: 1, FillRate: 0.85, AvgInventory: 10},
		{Factor: 1.5, FillRate: 0.90, AvgInventory: 20},
	}}
	cases := []struct {
		name string
		fr   float64
		want float64
	}{
		{"on a point", 0.90, 20},
		{"between points, whatever their order", 0.875, 15},
		{"upper end", 0.95, 30},
		{"below the curve", 0.80, math.NaN()},
		{"above the curve", 0.99, math.NaN()},
	}
	for _, tc := range cases {
		got := c.NaiveInventoryAt(tc.fr)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9) {
			t.Errorf("%s: inventory at %.3f = %v, want %v", tc.name, tc.fr, got, tc.want)
		}
	}
}

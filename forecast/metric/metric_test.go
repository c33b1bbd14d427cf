package metric

import (
	"math"
	"testing"
)

func TestNaiveScale(t *testing.T) {
	cases := []struct {
		name    string
		y       []float64
		missing []bool
		want    float64
	}{
		// Pairs from the first positive day: (2,4) (4,3) (3,3) → (4+1+0)/3.
		{"mean squared change from the first sale", []float64{0, 2, 4, 3, 3}, nil, 5.0 / 3},
		// Day 2 missing: only (3,3) is left, a zero change, so the
		// fallback is the mean square of the non-missing days.
		{"changes next to a missing day are skipped", []float64{0, 2, 4, 3, 3}, []bool{false, false, true, false, false}, (0 + 4 + 9 + 9) / 4.0},
		{"a constant series falls back to its mean square", []float64{5, 5, 5}, nil, 25},
		{"no demand at all scales by 1", []float64{0, 0, 0}, nil, 1},
		{"an empty series scales by 1", nil, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := NaiveScale(c.y, c.missing); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("NaiveScale = %v; want %v", got, c.want)
			}
		})
	}
}

func TestRMSSEAndWRMSSEByHand(t *testing.T) {
	// Series A: actual 1 2 3, forecast 1 1 1: MSE (0+1+4)/3 = 5/3; its
	// history 0 2 4 3 3 has scale 5/3: RMSSE 1.
	a := RMSSE([]float64{1, 2, 3}, []float64{1, 1, 1}, NaiveScale([]float64{0, 2, 4, 3, 3}, nil))
	if math.Abs(a-1) > 1e-12 {
		t.Fatalf("RMSSE A = %v; want 1", a)
	}
	// Series B: actual 4 4, forecast 2 6: MSE 4; scale 16: RMSSE 0.5.
	b := RMSSE([]float64{4, 4}, []float64{2, 6}, 16)
	if math.Abs(b-0.5) > 1e-12 {
		t.Fatalf("RMSSE B = %v; want 0.5", b)
	}
	// Revenue weights 10 (A) and 30 (B): (10·1 + 30·0.5) / 40 = 0.625.
	var w WRMSSE
	w.Add(10, a)
	w.Add(30, b)
	w.Add(0, 99)         // no revenue: not counted
	w.Add(5, math.NaN()) // no score: not counted
	if got := w.Value(); math.Abs(got-0.625) > 1e-12 || w.Series() != 2 {
		t.Errorf("WRMSSE = %v over %d series; want 0.625 over 2", got, w.Series())
	}
	if got := Weighted([]float64{10, 30}, []float64{a, b}); math.Abs(got-0.625) > 1e-12 {
		t.Errorf("Weighted = %v", got)
	}
	var merged, part WRMSSE
	merged.Add(10, a)
	part.Add(30, b)
	merged.Merge(part)
	if merged.Value() != w.Value() {
		t.Errorf("merged %v, whole %v", merged.Value(), w.Value())
	}
	var empty WRMSSE
	if !math.IsNaN(empty.Value()) {
		t.Errorf("empty WRMSSE = %v; want NaN", empty.Value())
	}
}

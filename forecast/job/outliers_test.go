package job

import (
	"math"
	"slices"
	"testing"
)

func TestCapOutliers(t *testing.T) {
	for _, c := range []struct {
		name      string
		k         float64
		vals      []float32
		want      []float32
		wantScale float64
	}{
		{
			name: "a bulk order is cut to k times the median sale day",
			k:    6,
			vals: []float32{2, 0, 3, 2, 0, 120, 2, 3, 0, 2},
			// sale days 2 2 2 2 3 3 120: median 2, limit 12
			want:      []float32{2, 0, 3, 2, 0, 12, 2, 3, 0, 2},
			wantScale: 134.0 / 26.0,
		},
		{
			name:      "nothing above the limit",
			k:         6,
			vals:      []float32{2, 0, 3, 2, 11, 2, 3},
			want:      []float32{2, 0, 3, 2, 11, 2, 3},
			wantScale: 1,
		},
		{
			name:      "too few sale days for a median",
			k:         6,
			vals:      []float32{0, 1, 0, 0, 500, 0, 1, 1},
			want:      []float32{0, 1, 0, 0, 500, 0, 1, 1},
			wantScale: 1,
		},
		{
			name:      "off",
			k:         -1,
			vals:      []float32{2, 2, 2, 2, 2, 900},
			want:      []float32{2, 2, 2, 2, 2, 900},
			wantScale: 1,
		},
		{
			name: "a limit below one unit is one unit",
			k:    1,
			vals: []float32{0.25, 0.25, 0.25, 0.25, 0.25, 3},
			want: []float32{0.25, 0.25, 0.25, 0.25, 0.25, 1},
			// 4.25 / 2.25
			wantScale: 4.25 / 2.25,
		},
		{
			name:      "no sales",
			k:         6,
			vals:      []float32{0, 0, 0},
			want:      []float32{0, 0, 0},
			wantScale: 1,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var scratch []float32
			vals := slices.Clone(c.vals)
			got := capOutliers(vals, c.k, &scratch)
			if math.Abs(got-c.wantScale) > 1e-9 {
				t.Errorf("scale %g, want %g", got, c.wantScale)
			}
			if !slices.Equal(vals, c.want) {
				t.Errorf("capped %v, want %v", vals, c.want)
			}
			// The scale gives back every unit: capped total × scale = total.
			var before, after float64
			for i := range vals {
				before += float64(c.vals[i])
				after += float64(vals[i])
			}
			if after > 0 && math.Abs(after*got-before) > 1e-6*before {
				t.Errorf("capped total %g × %g ≠ history total %g", after, got, before)
			}
		})
	}
}

func TestOutlierCapOption(t *testing.T) {
	for _, c := range []struct {
		cap float64
		ok  bool
	}{{0, true}, {6, true}, {1, true}, {-1, true}, {0.5, false}, {math.NaN(), false}, {math.Inf(1), false}} {
		o := Options{AsOf: 20000, OutlierCap: c.cap}.withDefaults()
		if err := o.validate(); (err == nil) != c.ok {
			t.Errorf("OutlierCap %g: validate() = %v, want ok %v", c.cap, err, c.ok)
		}
	}
	if o := (Options{AsOf: 20000}).withDefaults(); o.OutlierCap != outlierCap {
		t.Errorf("default OutlierCap %g, want %d", o.OutlierCap, outlierCap)
	}
}

package job

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

func TestGlobalOriginFeatures(t *testing.T) {
	// 14 days, Sundays (start+6, start+13) closed; start is a Monday
	// (1970-01-05 is day 4).
	vals := []float32{2, 0, 0, 4, 0, 6, 0, 2, 0, 0, 0, 0, 0, 0}
	closed := make([]bool, 14)
	closed[6], closed[13] = true, true
	for _, tc := range []struct {
		name       string
		T          int
		wantOK     bool
		wantLevel  float64 // mean per trading day before T
		wantSince  float32
		wantZero   float32
		wantRatio7 float64 // mean of the last 7 trading days ÷ (level + 0.01)
	}{
		{"no history", 0, false, 0, 0, 0, 0},
		{"first week", 6, true, 12.0 / 6, 0, 3.0 / 6, 1},
		// Before T=12: trading days 0..5, 7..11 (11 days, 14 units); the
		// last 7 trading days are 4, 5, 7..11 (8 units); last sale day 7.
		{"two weeks", 12, true, 14.0 / 11, 4, 7.0 / 11, (8.0 / 7) / (14.0/11 + 0.01)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &view{vals: vals, closed: closed, start: 4}
			p := newPrefix(v)
			f := p.origin(v, tc.T)
			if f.ok != tc.wantOK {
				t.Fatalf("ok %v, want %v", f.ok, tc.wantOK)
			}
			if !f.ok {
				return
			}
			if got := math.Expm1(float64(f.level)); math.Abs(got-tc.wantLevel) > 1e-4 {
				t.Errorf("level %g, want %g", got, tc.wantLevel)
			}
			if f.since != tc.wantSince || math.Abs(float64(f.zero-tc.wantZero)) > 1e-6 {
				t.Errorf("since %g, zero share %g: want %g, %g", f.since, f.zero, tc.wantSince, tc.wantZero)
			}
			if tc.wantRatio7 != 1 && math.Abs(float64(f.ratio7)-tc.wantRatio7) > 1e-4 {
				t.Errorf("ratio7 %g, want %g", f.ratio7, tc.wantRatio7)
			}
			x := make([]float32, numFeatures)
			p.row(v, &f, tc.T, 1, x)
			if x[fH] != 1 || x[fWeekday] != float32((4+tc.T+1)%7) {
				t.Errorf("h %g weekday %g", x[fH], x[fWeekday])
			}
		})
	}
}

func TestGlobalModelRecordedAndOptional(t *testing.T) {
	w := testWorld(t)
	asOf := w.Date(w.Days())
	fcs := map[bool]map[[2]string][]float64{}
	for _, off := range []bool{false, true} {
		l := worldLake(t, w)
		rep, err := Run(t.Context(), l, Options{AsOf: asOf, NoGlobal: off})
		if err != nil {
			t.Fatal(err)
		}
		var params struct {
			Global  *globalInfo `json:"global_model_run"`
			Series  int64       `json:"global_model_series"`
			Enabled bool        `json:"global_model"`
		}
		if err := json.Unmarshal([]byte(rep.Run.Parameters), &params); err != nil {
			t.Fatal(err)
		}
		if off {
			if params.Global != nil || params.Enabled {
				t.Errorf("NoGlobal run records %+v", params)
			}
		} else if g := params.Global; !params.Enabled || g == nil || !g.Used || g.TrainRows < 1000 || g.Trees < 1 ||
			g.TrainSeconds <= 0 || params.Series != rep.Run.Series {
			t.Errorf("global model run recorded as %+v (series %d of %d)", g, params.Series, rep.Run.Series)
		}
		rows, _ := readTable[schema.ForecastRow](t, l, schema.TableForecasts())
		m := map[[2]string][]float64{}
		for _, r := range rows {
			if r.Forecast < 0 || math.IsNaN(r.Forecast) {
				t.Fatalf("forecast %+v", r)
			}
			k := [2]string{r.LocationID, r.SKU}
			m[k] = append(m[k], r.Forecast)
		}
		fcs[off] = m
	}
	// A location's closed days: every own forecast of the day is 0.
	open := map[string][]bool{}
	for k, f := range fcs[true] {
		o := open[k[0]]
		if o == nil {
			o = make([]bool, len(f))
			open[k[0]] = o
		}
		for h, v := range f {
			o[h] = o[h] || v > 0
		}
	}
	changed := 0
	for k, on := range fcs[false] {
		offf := fcs[true][k]
		if len(offf) != len(on) {
			t.Fatalf("%v: %d and %d forecast days", k, len(on), len(offf))
		}
		for h := range on {
			if !open[k[0]][h] && on[h] != 0 {
				t.Errorf("%v day %d: closed, forecast %g with the global model", k, h, on[h])
			}
			if on[h] != offf[h] {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Error("the global model changed no forecast")
	}
}

package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/metric"
)

// poisson draws a Poisson(lam) count by inversion (lam small) or a rounded
// normal (lam large).
func poisson(r *rand.Rand, lam float64) float64 {
	if lam <= 0 {
		return 0
	}
	if lam > 50 {
		return math.Max(0, math.Round(lam+math.Sqrt(lam)*r.NormFloat64()))
	}
	l, k, p := math.Exp(-lam), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// synth draws n+h days of Poisson demand with mean mean(t) and returns the
// history (first n days, float32) and the true means of the next h days.
func synth(seed uint64, n, h int, mean func(t int) float64) ([]float32, []float64) {
	r := rand.New(rand.NewPCG(seed, 99))
	y := make([]float32, n)
	for t := range n {
		y[t] = float32(poisson(r, mean(t)))
	}
	truth := make([]float64, h)
	for i := range h {
		truth[i] = mean(n + i)
	}
	return y, truth
}

var weekly = [7]float64{0.8, 0.85, 0.9, 0.95, 1.1, 1.4, 1.0}

func mustScratch(t testing.TB, o Options) *Scratch {
	t.Helper()
	s, err := NewScratch(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// relRMSE is the root mean squared difference of forecast and truth over the
// truth's mean.
func relRMSE(f, truth []float64) float64 {
	var m float64
	for _, v := range truth {
		m += v
	}
	m /= float64(len(truth))
	return math.Sqrt(metric.MSE(truth, f)) / m
}

func TestEachMethodRecoversTheStructureItIsMadeFor(t *testing.T) {
	const n, h = 364, 28
	cases := []struct {
		name    string
		kinds   []Kind
		mean    func(t int) float64
		maxRel  float64 // error of the forecast against the true mean, relative to it
		seasons bool
	}{
		{"every method forecasts a constant level", Singles, func(int) float64 { return 20 }, 0.12, false},
		{"seasonal methods follow a weekly pattern", []Kind{SeasonalNaive, HoltWintersAdd, HoltWintersMul, HoltWintersAddDamped, HoltWintersMulDamped},
			func(t int) float64 { return 30 * weekly[t%7] }, 0.12, true},
		{"damped-trend methods follow a rising level", []Kind{HoltWintersAddDamped, HoltWintersMulDamped},
			func(t int) float64 { return (10 + 0.1*float64(t)) * weekly[t%7] }, 0.1, true},
		{"intermittent methods forecast the mean of sparse demand", []Kind{CrostonSBA, TSB, TSBSeasonal, SES},
			func(t int) float64 { return 0.6 }, 0.25, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range c.kinds {
				var worst float64
				for seed := range uint64(5) {
					y, truth := synth(seed, n, h, c.mean)
					s := mustScratch(t, Options{Candidates: []Kind{k}})
					var r Result
					if err := s.Fit(Series{Values: y}, &r); err != nil {
						t.Fatal(err)
					}
					if r.Model != k || r.Status != Selected {
						t.Fatalf("%v: chose %v (%v)", k, r.Model, r.Status)
					}
					worst = max(worst, relRMSE(r.Forecast, truth))
				}
				// Seasonal naive copies one noisy week: allow it twice
				// the noise of one day (Poisson: σ/μ = 1/√μ).
				limit := c.maxRel
				if k == SeasonalNaive {
					limit = 2 / math.Sqrt(20)
				}
				if worst > limit {
					t.Errorf("%v: forecast off the truth by %.3f (relative RMSE); want ≤ %.3f", k, worst, limit)
				}
			}
		})
	}
}

func TestNonSeasonalMethodsMissTheWeeklyPatternSeasonalOnesCatch(t *testing.T) {
	y, truth := synth(3, 364, 28, func(t int) float64 { return 30 * weekly[t%7] })
	errOf := func(k Kind) float64 {
		var r Result
		if err := mustScratch(t, Options{Candidates: []Kind{k}}).Fit(Series{Values: y}, &r); err != nil {
			t.Fatal(err)
		}
		return relRMSE(r.Forecast, truth)
	}
	ses, hw := errOf(SES), errOf(HoltWintersMul)
	t.Logf("relative RMSE: ses %.3f, hw_mul %.3f", ses, hw)
	if hw > ses/2 {
		t.Errorf("hw_mul errs %.3f, ses %.3f: the season should halve the error at least", hw, ses)
	}
}

func TestSelectionPicksASeasonalModelForASeasonalSeries(t *testing.T) {
	seasonal := Members(1<<HoltWintersAdd | 1<<HoltWintersMul | 1<<HoltWintersAddDamped | 1<<HoltWintersMulDamped | 1<<SeasonalNaive | 1<<TSBSeasonal)
	for seed := range uint64(6) {
		y, _ := synth(seed, 300, 28, func(t int) float64 { return 15 * weekly[t%7] })
		var r Result
		// Plain selection: no preferred default.
		if err := mustScratch(t, Options{Margin: -1}).Fit(Series{Values: y}, &r); err != nil {
			t.Fatal(err)
		}
		if !seasonal.Has(r.Model) {
			t.Errorf("seed %d: chose %v; backtest RMSSE by kind %v", seed, r.Model, r.CandidateRMSSE)
		}
		if !(r.RMSSE > 0) || r.BacktestDays != 84 || len(r.Residuals) != 84 {
			t.Errorf("seed %d: RMSSE %v over %d days, %d residuals", seed, r.RMSSE, r.BacktestDays, len(r.Residuals))
		}
	}
}

func TestSelectionPicksAnIntermittentMethodForSparseDemand(t *testing.T) {
	// Sparse demand whose rate halves part-way (a product going out of
	// favour): what Croston and TSB are built for. Its average demand
	// interval is above 1.32, so an intermittent method is the default
	// that others must beat clearly.
	intermittent := Members(1<<CrostonSBA | 1<<TSB | 1<<TSBSeasonal)
	picked := 0
	const seeds = 8
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 7))
		y := make([]float32, 300)
		for t := range y {
			p := 0.12
			if t > 200 {
				p = 0.06
			}
			if r.Float64() < p {
				y[t] = float32(2 + r.IntN(5))
			}
		}
		var res Result
		if err := mustScratch(t, Options{}).Fit(Series{Values: y}, &res); err != nil {
			t.Fatal(err)
		}
		if intermittent.Has(res.Model) {
			picked++
		}
		t.Logf("seed %d: %v", seed, res.Model)
	}
	if picked*2 <= seeds {
		t.Errorf("an intermittent method chosen for %d of %d sparse series; want most", picked, seeds)
	}
}

func TestStockoutsDoNotPullTheForecastDown(t *testing.T) {
	const n, h = 280, 28
	for _, k := range Singles {
		t.Run(k.String(), func(t *testing.T) {
			const seeds = 8
			var biasFlagged, biasNaive float64
			for seed := range uint64(seeds) {
				mean := func(t int) float64 { return 12 * weekly[t%7] }
				y, _ := synth(seed, n, h, mean)
				// Stockouts: two days in every seven in weeks 10–30 and
				// the last three weeks sell at most a quarter of demand.
				cens := make([]bool, n)
				sold := make([]float32, n)
				copy(sold, y)
				for t := range n {
					w := t / 7
					if (w >= 10 && w < 30 && t%7 >= 3 && t%7 < 5) || (t >= n-21 && t%3 == 0) {
						cens[t] = true
						sold[t] = float32(math.Floor(float64(y[t]) / 4))
					}
				}
				fit := func(in Series) float64 {
					var r Result
					if err := mustScratch(t, Options{Candidates: []Kind{k}}).Fit(in, &r); err != nil {
						t.Fatal(err)
					}
					var sum float64
					for _, v := range r.Forecast {
						sum += v
					}
					return sum
				}
				clean := fit(Series{Values: y})
				biasFlagged += fit(Series{Values: sold, Censored: cens})/clean - 1
				biasNaive += fit(Series{Values: sold})/clean - 1
			}
			biasFlagged /= seeds
			biasNaive /= seeds
			t.Logf("forecast vs uncensored: flagged %+.1f%%, taken at face value %+.1f%%", 100*biasFlagged, 100*biasNaive)
			if math.Abs(biasFlagged) > 0.06 {
				t.Errorf("with stockouts flagged the forecast moves %+.1f%%; want within 6%%", 100*biasFlagged)
			}
			if biasNaive > -0.04 || biasNaive > biasFlagged-0.03 {
				t.Errorf("taken at face value the stockouts pull the forecast only %+.1f%% (flagged %+.1f%%)", 100*biasNaive, 100*biasFlagged)
			}
		})
	}
}

func TestPromotionDaysDoNotLiftTheBaseline(t *testing.T) {
	const n = 280
	y, truth := synth(5, n, 28, func(t int) float64 { return 10 * weekly[t%7] })
	promo := make([]bool, n)
	for t := n - 40; t < n-5; t++ {
		if t%10 < 5 {
			promo[t] = true
			y[t] *= 3
		}
	}
	fit := func(in Series) float64 {
		var r Result
		if err := mustScratch(t, Options{}).Fit(in, &r); err != nil {
			t.Fatal(err)
		}
		return relRMSE(r.Forecast, truth)
	}
	masked, raw := fit(Series{Values: y, Promo: promo}), fit(Series{Values: y})
	t.Logf("relative RMSE: promotions masked %.3f, not %.3f", masked, raw)
	if masked > 0.15 || masked >= raw {
		t.Errorf("masked promotions err %.3f, unmasked %.3f", masked, raw)
	}
}

func TestASeasonPriorHelpsANoisySlowSeries(t *testing.T) {
	var with, without float64
	season := make([]float32, 7)
	for j := range season {
		season[j] = float32(weekly[j])
	}
	for seed := range uint64(20) {
		y, truth := synth(seed, 150, 28, func(t int) float64 { return 1.5 * weekly[t%7] })
		fit := func(in Series) float64 {
			var r Result
			if err := mustScratch(t, Options{Candidates: []Kind{HoltWintersMul}}).Fit(in, &r); err != nil {
				t.Fatal(err)
			}
			return relRMSE(r.Forecast, truth)
		}
		with += fit(Series{Values: y, Season: season})
		without += fit(Series{Values: y})
	}
	t.Logf("mean relative RMSE with the prior %.3f, without %.3f", with/20, without/20)
	if with >= without {
		t.Errorf("the season prior did not help: %.3f vs %.3f", with/20, without/20)
	}
}

func TestShortAndEmptyHistories(t *testing.T) {
	cases := []struct {
		name   string
		in     Series
		status Status
		level  float64
	}{
		{"a month of history is forecast by its mean", Series{Values: []float32{2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4}},
			ShortHistory, 3},
		{"censored days are left out of the mean", Series{Values: []float32{3, 3, 0, 3, 0, 3}, Censored: []bool{false, false, true, false, true, false}},
			ShortHistory, 3},
		{"no sales at all forecasts zero", Series{Values: make([]float32, 200)}, NoDemand, 0},
		{"an empty history forecasts zero", Series{}, NoDemand, 0},
		{"only stockout days with sales forecast a floor", Series{Values: []float32{0, 0, 4, 0}, Censored: []bool{true, true, true, true}}, NoDemand, 1},
	}
	s := mustScratch(t, Options{ForecastDays: 10})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Result
			if err := s.Fit(c.in, &r); err != nil {
				t.Fatal(err)
			}
			if r.Status != c.status || len(r.Forecast) != 10 {
				t.Fatalf("status %v with %d days; want %v with 10", r.Status, len(r.Forecast), c.status)
			}
			for _, f := range r.Forecast {
				if math.Abs(f-c.level) > 1e-9 {
					t.Fatalf("forecast %v; want %v", r.Forecast, c.level)
				}
			}
			if !math.IsNaN(r.RMSSE) {
				t.Errorf("RMSSE %v without a backtest", r.RMSSE)
			}
		})
	}
}

func TestBadInputIsRefused(t *testing.T) {
	s := mustScratch(t, Options{})
	var r Result
	for _, c := range []struct {
		name string
		in   Series
		want string
	}{
		{"negative demand", Series{Values: []float32{1, -1}}, "demand -1"},
		{"NaN demand", Series{Values: []float32{float32(math.NaN())}}, "demand NaN"},
		{"flags of another length", Series{Values: []float32{1, 2}, Censored: []bool{true}}, "1 censored flags"},
		{"promotion flags of another length", Series{Values: []float32{1, 2}, Promo: []bool{true}}, "1 promotion flags"},
		{"a season of six days", Series{Values: []float32{1}, Season: make([]float32, 6)}, "season of 6"},
		{"a season of zeros", Series{Values: []float32{1}, Season: make([]float32, 7)}, "sum to zero"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := s.Fit(c.in, &r)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"ensemble as a candidate", Options{Candidates: []Kind{SES, Ensemble}}, "use EnsembleSize"},
		{"a candidate twice", Options{Candidates: []Kind{SES, SES}}, "listed twice"},
		{"an unknown kind", Options{Candidates: []Kind{Kind(42)}}, "unknown"},
		{"a negative horizon", Options{Horizon: -1}, "horizon"},
		{"an ensemble larger than the candidates", Options{Candidates: []Kind{SES}, EnsembleSize: 2}, "ensemble size"},
		{"a margin of 1", Options{Margin: 1}, "margin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewScratch(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestKindNamesRoundTrip(t *testing.T) {
	for k := Kind(1); int(k) < NumKinds; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("arima"); err == nil {
		t.Error("ParseKind accepted arima")
	}
	if m := Members(1<<SES | 1<<TSB); m.String() != "ses+tsb" {
		t.Errorf("members %q", m.String())
	}
}

// With EnsembleSize 2, the mean of the two best candidates competes as one more:
// it is chosen exactly when its backtest error is lower than the best
// single's (margin off), and its forecast is then the mean of its members'.
// Over several series it must win some and lose some, so both branches are
// checked.
func TestEnsembleCompetesAndAveragesItsMembers(t *testing.T) {
	var won, lost int
	for seed := range uint64(12) {
		y, _ := synth(seed, 300, 28, func(t int) float64 { return 8 * weekly[t%7] })
		s := mustScratch(t, Options{EnsembleSize: 2, Margin: -1, NoRefit: true})
		var r Result
		if err := s.Fit(Series{Values: y}, &r); err != nil {
			t.Fatal(err)
		}
		ens := r.CandidateRMSSE[Ensemble]
		if math.IsNaN(ens) {
			t.Fatalf("seed %d: ensemble not scored", seed)
		}
		if r.Model != Ensemble {
			lost++
			if best := r.CandidateRMSSE[r.Model]; ens < best {
				t.Errorf("seed %d: ensemble RMSSE %v beat %v's %v but was not chosen", seed, ens, r.Model, best)
			}
			continue
		}
		won++
		if r.RMSSE != ens {
			t.Errorf("seed %d: RMSSE %v, the ensemble's %v", seed, r.RMSSE, ens)
		}
		var sum []float64
		count := 0
		for k := Kind(1); k < Ensemble; k++ {
			if !r.Members.Has(k) {
				continue
			}
			if !(ens <= r.CandidateRMSSE[k]) {
				t.Errorf("seed %d: ensemble %v chosen over member %v's %v", seed, ens, k, r.CandidateRMSSE[k])
			}
			var one Result
			if err := mustScratch(t, Options{Candidates: []Kind{k}, NoRefit: true}).Fit(Series{Values: y}, &one); err != nil {
				t.Fatal(err)
			}
			if sum == nil {
				sum = make([]float64, len(one.Forecast))
			}
			for i, v := range one.Forecast {
				sum[i] += v
			}
			count++
		}
		if count != 2 {
			t.Fatalf("seed %d: ensemble of %d members", seed, count)
		}
		for i := range sum {
			if math.Abs(sum[i]/2-r.Forecast[i]) > 1e-9 {
				t.Fatalf("seed %d, day %d: ensemble %v, mean of members %v", seed, i, r.Forecast[i], sum[i]/2)
			}
		}
	}
	t.Logf("ensemble won %d, lost %d", won, lost)
	if won == 0 || lost == 0 {
		t.Errorf("ensemble won %d and lost %d of 12: both branches must be exercised", won, lost)
	}
}

// Combine combines the best candidates with weights from their
// inverse backtest MSE shrunk towards equal: weights sum to one, none is
// below (1−λ)/K, a lower error never gets a lower weight, and the forecast
// and backtest are the weighted sums of the candidates' own (unrefitted).
func TestCombination(t *testing.T) {
	cands := []Kind{MovingAverage, SES, HoltWintersMul, TSB}
	for _, c := range []struct {
		name string
		mean func(t int) float64
		lam  float64
	}{
		{"weekly seasonal", func(t int) float64 { return 10 * weekly[t%7] }, 0},
		{"flat slow", func(t int) float64 { return 0.7 }, 0},
		{"weekly seasonal, equal weights", func(t int) float64 { return 10 * weekly[t%7] }, 1e-12},
		{"weekly seasonal, inverse MSE only", func(t int) float64 { return 10 * weekly[t%7] }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			y, _ := synth(9, 280, 28, c.mean)
			var r Result
			if err := mustScratch(t, Options{Candidates: cands, CombineShrink: c.lam, Combine: true, NoRefit: true}).Fit(Series{Values: y}, &r); err != nil {
				t.Fatal(err)
			}
			if r.Model != Ensemble || r.Members.String() != "ma+ses+hw_mul+tsb" {
				t.Fatalf("model %v, members %v", r.Model, r.Members)
			}
			lam := c.lam
			if lam == 0 {
				lam = 0.5
			}
			var sum float64
			fc := make([]float64, len(r.Forecast))
			for _, k := range cands {
				w := r.Weights[k]
				sum += w
				if w < (1-lam)/4-1e-12 {
					t.Errorf("%v: weight %v below %v", k, w, (1-lam)/4)
				}
				for _, j := range cands {
					if r.CandidateRMSSE[k] < r.CandidateRMSSE[j] && r.Weights[k] < r.Weights[j] {
						t.Errorf("%v errs less than %v but weighs less", k, j)
					}
				}
				var one Result
				if err := mustScratch(t, Options{Candidates: []Kind{k}, NoRefit: true}).Fit(Series{Values: y}, &one); err != nil {
					t.Fatal(err)
				}
				for h, v := range one.Forecast {
					fc[h] += w * v
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("weights sum to %v", sum)
			}
			for h := range fc {
				if math.Abs(fc[h]-r.Forecast[h]) > 1e-9 {
					t.Fatalf("day %d: forecast %v, weighted candidates %v", h, r.Forecast[h], fc[h])
				}
			}
			if !(r.RMSSE > 0) || r.RMSSE != r.CandidateRMSSE[Ensemble] || r.BacktestDays != 84 {
				t.Errorf("RMSSE %v (ensemble %v) over %d days", r.RMSSE, r.CandidateRMSSE[Ensemble], r.BacktestDays)
			}
		})
	}
}

func TestWindowSigma(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		res  []float64
		h, p int
		want float64
	}{
		// Block [1 1 −1 −1]: 2-day sums 2, 0, −2 → √(8/3).
		{"root mean square of window sums", []float64{1, 1, -1, -1}, 4, 2, math.Sqrt(8.0 / 3)},
		// Two blocks.
		{"over every block", []float64{1, 1, 2, 2}, 2, 2, math.Sqrt((4 + 16) / 2.0)},
		// A missing day in a 2-day window doubles the observed one.
		{"missing days scaled up", []float64{3, nan}, 2, 2, 6},
		{"windows past the horizon extrapolated", []float64{1, 1}, 2, 8, 2 * 2},
		{"nothing observed", []float64{nan, nan}, 2, 2, nan},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := WindowSigma(c.res, c.h, c.p)
			if math.IsNaN(c.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-c.want) > 1e-12) {
				t.Errorf("WindowSigma = %v; want %v", got, c.want)
			}
		})
	}
}

func TestScaleMatchesMetric(t *testing.T) {
	y := []float64{0, 0, 3, 5, 4, 9, 2, 2}
	miss := []bool{false, false, false, false, true, false, false, false}
	m := make([]uint8, len(y))
	for i, b := range miss {
		if b {
			m[i] = flagCensored
		}
	}
	if a, b := scale(y, m), metric.NaiveScale(y, miss); a != b {
		t.Errorf("scale %v, metric.NaiveScale %v", a, b)
	}
}

func TestOptimizersFindKnownMinima(t *testing.T) {
	x := golden(0, 1, 30, func(x float64) float64 { return (x - 0.3) * (x - 0.3) })
	if math.Abs(x-0.3) > 1e-4 {
		t.Errorf("golden: %v", x)
	}
	best, f := nelderMead(3, [4]float64{0.5, 0.5, 0.5}, [4]float64{0.1, 0.1, 0.1},
		[4]float64{0, 0, 0}, [4]float64{1, 1, 1}, 300,
		func(x [4]float64) float64 {
			return (x[0]-0.2)*(x[0]-0.2) + 2*(x[1]-0.7)*(x[1]-0.7) + (x[2]-1.5)*(x[2]-1.5)
		})
	// x[2]'s minimum lies outside the box: the optimum is on its bound.
	if math.Abs(best[0]-0.2) > 1e-3 || math.Abs(best[1]-0.7) > 1e-3 || math.Abs(best[2]-1) > 1e-3 || f > 0.2501 {
		t.Errorf("nelderMead: %v → %v", best, f)
	}
}

func TestFitAllocatesNothingOnceWarm(t *testing.T) {
	y, _ := synth(1, 365, 0, func(t int) float64 { return 5 * weekly[t%7] })
	cens := make([]bool, len(y))
	cens[100], cens[300] = true, true
	s := mustScratch(t, Options{EnsembleSize: 2})
	var r Result
	in := Series{Values: y, Censored: cens}
	if err := s.Fit(in, &r); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(5, func() { _ = s.Fit(in, &r) }); a != 0 {
		t.Errorf("%v allocations per fit", a)
	}
}

// Closed days (the store did not trade) are missing, not zero demand: the
// level is per trading day, and closed forecast days are exactly zero.
func TestClosedDays(t *testing.T) {
	const n, fd = 210, 28
	// 6 a day Sunday..Friday, shut on the day t ≡ 5 (mod 7), and for a
	// holiday fortnight.
	closed := func(t int) bool { return t%7 == 5 || (t >= 100 && t < 112) }
	y, _ := synth(3, n, 0, func(t int) float64 {
		if closed(t) {
			return 0
		}
		return 6
	})
	hist := make([]bool, n)
	for t := range hist {
		hist[t] = closed(t)
	}
	ahead := make([]bool, fd)
	for h := range ahead {
		ahead[h] = closed(n + h)
	}
	for _, k := range append([]Kind{}, DefaultCandidates...) {
		t.Run(k.String(), func(t *testing.T) {
			var r Result
			s := mustScratch(t, Options{Candidates: []Kind{k}, ForecastDays: fd})
			if err := s.Fit(Series{Values: y, Closed: hist, ClosedAhead: ahead}, &r); err != nil {
				t.Fatal(err)
			}
			var open, sum float64
			for h, f := range r.Forecast {
				if ahead[h] {
					if f != 0 {
						t.Errorf("day %d: closed, forecast %v", h, f)
					}
					continue
				}
				open++
				sum += f
			}
			if m := sum / open; math.Abs(m-6) > 1 {
				t.Errorf("mean forecast on trading days %.2f; want about 6 (the closed days are not demand)", m)
			}
		})
	}
}

// Seasonal naive is never a candidate for an intermittent series: one lucky
// backtest is no reason to forecast last week's zeros (or its one sale) for
// four weeks.
func TestIntermittentNeverSeasonalNaive(t *testing.T) {
	for _, c := range []struct {
		name         string
		mean         func(t int) float64
		snaiveScored bool
	}{
		// A sale on the same weekday each week: seasonal naive would be
		// perfect on the backtest.
		{"a weekly one-day seller", func(t int) float64 {
			if t%7 == 3 {
				return 4
			}
			return 0
		}, false},
		{"a sparse seller", func(t int) float64 { return 0.2 }, false},
		{"a smooth weekly seller", func(t int) float64 { return 10 * weekly[t%7] }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			y, _ := synth(5, 200, 0, c.mean)
			if c.name == "a weekly one-day seller" {
				for i := range y {
					y[i] = float32(c.mean(i))
				}
			}
			s := mustScratch(t, Options{Candidates: []Kind{SeasonalNaive, MovingAverage, CrostonSBA}, Margin: -1})
			var r Result
			if err := s.Fit(Series{Values: y}, &r); err != nil {
				t.Fatal(err)
			}
			if scored := !math.IsNaN(r.CandidateRMSSE[SeasonalNaive]); scored != c.snaiveScored {
				t.Errorf("seasonal naive scored: %v; want %v", scored, c.snaiveScored)
			}
			if !c.snaiveScored && r.Members.Has(SeasonalNaive) {
				t.Errorf("model %v for an intermittent series", r.Model)
			}
		})
	}
}

// A multiplicative season index cannot exceed 7 (indices average 1): a long
// quiet spell brings the level near zero, and the first sales after it must
// not blow an index up. The series is SKU 22114 of the UCI Online Retail
// data (United Kingdom, CC BY 4.0), up to 2011-09-15: it blew hw_mul up to
// 2.4e9 a day.
func TestSeasonIndicesStayBounded(t *testing.T) {
	y := []float32{86, 29, 85, 0, 34, 71, 144, 46, 354, 85, 0, 0, 0, 107, 0, 48, 0, 0, 0, 0, 219, 0, 2}
	y = append(y, make([]float32, 13)...)
	y = append(y, 1)
	y = append(y, make([]float32, 18)...)
	y = append(y, 1, 0, 0, 0, 0, 0, 1)
	y = append(y, make([]float32, 21)...)
	y = append(y, 2, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 2, 1, 1, 0, 0, 1)
	y = append(y, make([]float32, 166)...)
	y = append(y, 3, 27, 0, 4, 32, 4, 0, 4, 0, 7, 1, 4, 26, 0, 8, 12, 26, 4, 19, 10, 0, 8, 15, 41, 56, 68)
	closed := make([]bool, len(y))
	for i := range closed {
		closed[i] = i%7 == 2 // the Saturdays
	}
	var top float32
	for _, v := range y {
		top = max(top, v)
	}
	for _, c := range []struct {
		name   string
		closed []bool
	}{{"every day", nil}, {"Saturdays closed", closed}} {
		for _, k := range []Kind{HoltWintersMul, HoltWintersMulDamped} {
			var r Result
			if err := mustScratch(t, Options{Candidates: []Kind{k}, NoRefit: true}).Fit(Series{Values: y, Closed: c.closed}, &r); err != nil {
				t.Fatal(err)
			}
			for h, f := range r.Forecast {
				if !(f <= 7*float64(top)) {
					t.Errorf("%s, %v day %d: forecast %v from a series peaking at %v", c.name, k, h, f, top)
				}
			}
		}
	}
}

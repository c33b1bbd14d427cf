package gbm

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// poisson draws a Poisson variate of mean mu (Knuth for small means, a
// rounded normal otherwise).
func poisson(rng *rand.Rand, mu float64) float32 {
	if mu > 30 {
		return float32(max(0, math.Round(mu+math.Sqrt(mu)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-mu), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return float32(k)
		}
		k++
	}
}

// synth draws n rows of 4 features (two informative, one interaction, one
// noise) with y ~ Poisson(exp(off + f(x))).
func synth(n int, seed uint64, withOffset bool) (X [][]float32, y, off []float32, mu []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X = make([][]float32, 4)
	for j := range X {
		X[j] = make([]float32, n)
	}
	y, mu = make([]float32, n), make([]float64, n)
	if withOffset {
		off = make([]float32, n)
	}
	for i := range n {
		a, b, c, d := rng.Float64()*4-2, rng.Float64(), float64(rng.IntN(7)), rng.NormFloat64()
		X[0][i], X[1][i], X[2][i], X[3][i] = float32(a), float32(b), float32(c), float32(d)
		f := 0.6*a + 1.2*b*b - 0.4
		if c >= 5 {
			f -= 1.5 // "closed-ish weekend" effect
		}
		if a > 0 && b > 0.5 {
			f += 0.5
		}
		if withOffset {
			o := rng.Float64()*4 - 2
			off[i] = float32(o)
			f += o
		}
		mu[i] = math.Exp(f)
		y[i] = poisson(rng, mu[i])
	}
	return X, y, off, mu
}

// deviance is the mean Poisson deviance of predictions p for y.
func deviance(y []float32, p []float64) float64 {
	var d float64
	for i, v := range y {
		yi := float64(v)
		t := p[i] - yi
		if yi > 0 {
			t += yi * math.Log(yi/p[i])
		}
		d += 2 * t
	}
	return d / float64(len(y))
}

func row(X [][]float32, i int, buf []float32) []float32 {
	for j := range X {
		buf[j] = X[j][i]
	}
	return buf
}

func TestRecoversPoissonStructure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset bool
		opts   Options
	}{
		{"no offset", false, Options{Trees: 150, Seed: 1}},
		{"log offset", true, Options{Trees: 150, Seed: 2}},
		{"histogram workers", false, Options{Trees: 100, Seed: 3, Workers: 2, Bins: 32, Depth: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			X, y, off, _ := synth(20000, 7, tc.offset)
			Xt, yt, offt, mut := synth(10000, 8, tc.offset)
			m, err := Train(X, y, off, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			// Baselines on the test rows: a constant rate (times the
			// offset), and the truth.
			var sy, se float64
			for i, v := range y {
				sy += float64(v)
				if off != nil {
					se += math.Exp(float64(off[i]))
				} else {
					se++
				}
			}
			pm, pc := make([]float64, len(yt)), make([]float64, len(yt))
			buf := make([]float32, len(Xt))
			for i := range yt {
				o := 0.0
				if offt != nil {
					o = float64(offt[i])
				}
				pm[i] = m.Predict(row(Xt, i, buf), o)
				pc[i] = sy / se * math.Exp(o)
			}
			dm, dc, dt := deviance(yt, pm), deviance(yt, pc), deviance(yt, mut)
			t.Logf("test deviance: model %.4f, constant %.4f, truth %.4f", dm, dc, dt)
			if dm > dt+0.25*(dc-dt) {
				t.Errorf("model deviance %.4f does not close 75%% of the gap from constant %.4f to truth %.4f", dm, dc, dt)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	X, y, off, _ := synth(5000, 11, true)
	a, err := Train(X, y, off, Options{Trees: 30, Seed: 5, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(X, y, off, Options{Trees: 30, Seed: 5, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Train(X, y, off, Options{Trees: 30, Seed: 6, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]float32, len(X))
	differs := false
	for i := range y {
		x := row(X, i, buf)
		if a.Margin(x) != b.Margin(x) {
			t.Fatalf("row %d: margins %g and %g with the same seed", i, a.Margin(x), b.Margin(x))
		}
		differs = differs || a.Margin(x) != c.Margin(x)
	}
	if !differs {
		t.Error("another seed (another subsample) gave the same model")
	}
	if a.Trees() != 30 || a.Features() != 4 {
		t.Errorf("trees %d, features %d: want 30 and 4", a.Trees(), a.Features())
	}
}

func TestTrainRejects(t *testing.T) {
	col := []float32{1, 2, 3}
	for _, tc := range []struct {
		name string
		X    [][]float32
		y    []float32
		off  []float32
		opts Options
	}{
		{"no rows", [][]float32{{}}, nil, nil, Options{}},
		{"ragged features", [][]float32{col, {1}}, []float32{1, 0, 2}, nil, Options{}},
		{"negative target", [][]float32{col}, []float32{1, -1, 2}, nil, Options{}},
		{"NaN target", [][]float32{col}, []float32{1, float32(math.NaN()), 2}, nil, Options{}},
		{"all zero", [][]float32{col}, []float32{0, 0, 0}, nil, Options{}},
		{"offset length", [][]float32{col}, []float32{1, 0, 2}, []float32{0}, Options{}},
		{"infinite offset", [][]float32{col}, []float32{1, 0, 2}, []float32{0, float32(math.Inf(1)), 0}, Options{}},
		{"bins", [][]float32{col}, []float32{1, 0, 2}, nil, Options{Bins: 300}},
		{"subsample", [][]float32{col}, []float32{1, 0, 2}, nil, Options{Subsample: 1.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(tc.X, tc.y, tc.off, tc.opts); err == nil {
				t.Error("Train accepted it")
			}
		})
	}
}

// TestTrainCost bounds the cost of a job-sized training set: 100k rows of
// 16 features, 100 trees.
func TestTrainCost(t *testing.T) {
	if testing.Short() {
		t.Skip("cost check")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	n, p := 100000, 16
	X := make([][]float32, p)
	for j := range X {
		X[j] = make([]float32, n)
		for i := range X[j] {
			X[j][i] = float32(rng.NormFloat64())
		}
	}
	y := make([]float32, n)
	for i := range y {
		y[i] = poisson(rng, math.Exp(0.5*float64(X[0][i])-0.3*float64(X[1][i])))
	}
	start := time.Now()
	m, err := Train(X, y, nil, Options{Trees: 100, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("trained %d rows × %d features, %d trees in %v", n, p, m.Trees(), el)
	if el > 60*time.Second {
		t.Errorf("training took %v, want under a minute", el)
	}
}

// BenchmarkPredict is the cost of one prediction of a job-sized model: 200
// trees of depth 6 over 13 features.
func BenchmarkPredict(b *testing.B) {
	X, y, off, _ := synth(50000, 21, true)
	for range 9 {
		X = append(X, X[0])
	}
	m, err := Train(X, y, off, Options{Seed: 1, Workers: 2})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]float32, len(X))
	b.ResetTimer()
	var s float64
	for i := range b.N {
		s += m.Predict(row(X, i%len(y), buf), 0)
	}
	if !(s > 0) {
		b.Fatal("no prediction")
	}
}

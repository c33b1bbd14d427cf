package engine

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/forecast/model"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sliceSource hands out batches from a slice, then io.EOF (or err).
type sliceSource struct {
	mu      sync.Mutex
	batches []*Batch
	err     error
}

func (s *sliceSource) Next(ctx context.Context) (*Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return b, nil
}

// makeBatches builds nb batches of per series each: weekly-seasonal
// Poisson-ish demand of varied lengths (some too short for a backtest),
// with stockouts, promotions, a season prior and protection windows.
func makeBatches(nb, per int) []*Batch {
	r := rand.New(rand.NewPCG(1, 2))
	var out []*Batch
	key := int64(100)
	for range nb {
		b := &Batch{Offsets: []int32{0}, Censored: []bool{}, Promo: []bool{}, Season: []float32{}, Protection: []int32{}}
		for i := range per {
			n := 40 + r.IntN(330)
			level := 0.2 + 10*r.Float64()
			for t := range n {
				mean := level * (1 + 0.3*math.Sin(float64(t%7)))
				v := math.Floor(mean + math.Sqrt(mean)*r.NormFloat64())
				b.Values = append(b.Values, float32(max(v, 0)))
				b.Censored = append(b.Censored, r.Float64() < 0.03)
				b.Promo = append(b.Promo, r.Float64() < 0.02)
			}
			b.Keys = append(b.Keys, key)
			key++
			b.Offsets = append(b.Offsets, int32(len(b.Values)))
			for j := range 7 {
				b.Season = append(b.Season, float32(1+0.3*math.Sin(float64(j))))
			}
			b.Protection = append(b.Protection, int32(3+i%20))
		}
		out = append(out, b)
	}
	return out
}

// row is one series of an Output, copied out (outputs are reused).
type row struct {
	key      int64
	status   model.Status
	kind     model.Kind
	rmsse    float64
	sigma    float64
	sigmaW   float64
	forecast []float32
}

func collect(o *Output, rows map[int64]row) {
	for i := range o.Len() {
		rows[o.Keys[i]] = row{key: o.Keys[i], status: o.Status[i], kind: o.Model[i], rmsse: o.RMSSE[i],
			sigma: o.Sigma[i], sigmaW: o.SigmaWindow[i], forecast: slices.Clone(o.Forecast[i*o.Days : (i+1)*o.Days])}
	}
}

func TestFitForecastsEverySeriesAsTheModelDoesAlone(t *testing.T) {
	batches := makeBatches(7, 23)
	opts := Options{Model: model.Options{ForecastDays: 35}, Workers: 3, InFlight: 2}
	rows := map[int64]row{}
	seqs := map[int]bool{}
	sum, err := Fit(t.Context(), &sliceSource{batches: slices.Clone(batches)}, opts, func(o *Output) error {
		if seqs[o.Seq] {
			t.Errorf("batch %d twice", o.Seq)
		}
		seqs[o.Seq] = true
		collect(o, rows)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Series != 7*23 || sum.Batches != 7 || len(rows) != 7*23 || len(seqs) != 7 {
		t.Fatalf("summary %+v, %d rows, %d batches seen", sum, len(rows), len(seqs))
	}
	if sum.ByStatus[model.ShortHistory] == 0 || sum.ByStatus[model.Selected] == 0 || sum.Fits == 0 {
		t.Errorf("want both short and selected series: %+v", sum)
	}
	sc, err := model.NewScratch(opts.Model)
	if err != nil {
		t.Fatal(err)
	}
	var res model.Result
	for _, b := range batches {
		for i := range b.Len() {
			if err := sc.Fit(b.series(i), &res); err != nil {
				t.Fatal(err)
			}
			got := rows[b.Keys[i]]
			if got.kind != res.Model || got.status != res.Status || len(got.forecast) != 35 {
				t.Fatalf("series %d: %v/%v with %d days; alone %v/%v", b.Keys[i], got.kind, got.status, len(got.forecast), res.Model, res.Status)
			}
			for h, v := range res.Forecast {
				if got.forecast[h] != float32(v) {
					t.Fatalf("series %d day %d: %v; alone %v", b.Keys[i], h, got.forecast[h], v)
				}
			}
			if !(got.rmsse == res.RMSSE || math.IsNaN(got.rmsse) && math.IsNaN(res.RMSSE)) || got.sigma != res.Sigma {
				t.Fatalf("series %d: rmsse %v σ %v; alone %v %v", b.Keys[i], got.rmsse, got.sigma, res.RMSSE, res.Sigma)
			}
			if res.Status == model.Selected {
				want := model.WindowSigma(res.Residuals, 28, int(b.Protection[i]))
				if got.sigmaW != want {
					t.Fatalf("series %d: window σ %v; want %v", b.Keys[i], got.sigmaW, want)
				}
			}
		}
	}
}

func TestFitStopsAtTheFirstError(t *testing.T) {
	bad := makeBatches(1, 3)[0]
	bad.Values[5] = -1
	broken := makeBatches(1, 2)[0]
	broken.Offsets = broken.Offsets[:2]
	boom := errors.New("boom")
	cases := []struct {
		name string
		src  *sliceSource
		sink func(*Output) error
		want string
	}{
		{"a source error", &sliceSource{batches: makeBatches(3, 4), err: boom}, nil, "boom"},
		{"a series with negative demand", &sliceSource{batches: append(makeBatches(2, 4), bad)}, nil, "series 100: day 5: demand -1"},
		{"a malformed batch", &sliceSource{batches: []*Batch{broken}}, nil, "2 series with 2 offsets"},
		{"a sink error", &sliceSource{batches: makeBatches(6, 4)}, func(*Output) error { return boom }, "forecast sink, batch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink := c.sink
			if sink == nil {
				sink = func(*Output) error { return nil }
			}
			_, err := Fit(t.Context(), c.src, Options{Workers: 2}, sink)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestFitStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	_, err := Fit(ctx, &sliceSource{batches: makeBatches(20, 5)}, Options{Workers: 2, InFlight: 1}, func(*Output) error {
		if n++; n == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v; want context.Canceled", err)
	}
}

func TestFitRefusesBadOptions(t *testing.T) {
	_, err := Fit(t.Context(), &sliceSource{}, Options{Model: model.Options{Horizon: -3}}, func(*Output) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "horizon") {
		t.Errorf("error %v", err)
	}
}

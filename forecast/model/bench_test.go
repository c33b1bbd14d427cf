package model

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user+system CPU time: benchmarks report
// fits per CPU-second, which other load on the machine does not distort the
// way it distorts wall-clock time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSeries are 365-day series of the three shapes retail has: fast
// weekly-seasonal, slow and intermittent, with a few stockout days.
func benchSeries() []Series {
	var out []Series
	for i := range 30 {
		r := rand.New(rand.NewPCG(uint64(i), 1))
		y := make([]float32, 365)
		cens := make([]bool, 365)
		for t := range y {
			var mean float64
			switch i % 3 {
			case 0:
				mean = 12 * weekly[t%7]
			case 1:
				mean = 0.8 * weekly[t%7]
			default:
				if r.Float64() < 0.15 {
					mean = 3
				}
			}
			y[t] = float32(poisson(r, mean))
			cens[t] = r.Float64() < 0.02
		}
		out = append(out, Series{Values: y, Censored: cens})
	}
	return out
}

// BenchmarkFitKind measures one method alone (fit before the first origin,
// backtest run, refit on everything): fits/cpu-s is series per CPU-second.
func BenchmarkFitKind(b *testing.B) {
	series := benchSeries()
	for _, k := range Singles {
		b.Run(k.String(), func(b *testing.B) {
			s := mustScratch(b, Options{Candidates: []Kind{k}})
			var r Result
			b.ReportAllocs()
			i := 0
			cpu := cpuTime(b)
			for b.Loop() {
				if err := s.Fit(series[i%len(series)], &r); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu).Seconds(), "fits/cpu-s")
		})
	}
}

// BenchmarkFitSelection measures the full per-series work: every candidate
// fitted and backtested at 3 origins, the best chosen and refitted.
// fits/cpu-s counts candidate fits (candidates per series, plus the refit)
// per CPU-second.
func BenchmarkFitSelection(b *testing.B) {
	series := benchSeries()
	for _, c := range []struct {
		name string
		o    Options
	}{
		{"default", Options{}},
		{"default+ensemble2", Options{EnsembleSize: 2}},
		{"default-norefit", Options{NoRefit: true}},
		{"all-singles", Options{Candidates: Singles}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := mustScratch(b, c.o)
			var r Result
			b.ReportAllocs()
			i := 0
			cpu := cpuTime(b)
			for b.Loop() {
				if err := s.Fit(series[i%len(series)], &r); err != nil {
					b.Fatal(err)
				}
				i++
			}
			sec := (cpuTime(b) - cpu).Seconds()
			b.ReportMetric(float64(b.N)/sec, "series/cpu-s")
			b.ReportMetric(float64(b.N*(len(s.Options().Candidates)+1))/sec, "fits/cpu-s")
		})
	}
}

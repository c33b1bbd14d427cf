package engine

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/model"
)

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// year365 builds n 365-day series (a third each fast seasonal, slow and
// intermittent) in batches of per.
func year365(n, per int) []*Batch {
	r := rand.New(rand.NewPCG(9, 9))
	var out []*Batch
	for i := 0; i < n; i += per {
		b := &Batch{Offsets: []int32{0}, Censored: []bool{}}
		for s := i; s < min(i+per, n); s++ {
			for t := range 365 {
				var mean float64
				switch s % 3 {
				case 0:
					mean = 10 * (1 + 0.3*math.Sin(float64(t%7)))
				case 1:
					mean = 0.8
				default:
					if r.Float64() < 0.12 {
						mean = 3
					}
				}
				v := math.Floor(mean + math.Sqrt(mean)*r.NormFloat64() + 0.5)
				b.Values = append(b.Values, float32(max(v, 0)))
				b.Censored = append(b.Censored, r.Float64() < 0.02)
			}
			b.Keys = append(b.Keys, int64(s))
			b.Offsets = append(b.Offsets, int32(len(b.Values)))
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkFit runs the parallel driver over 2,048 one-year series with
// every default candidate: series/s is wall-clock throughput on all cores,
// series/cpu-s per CPU-second, fits/cpu-s candidate fits per CPU-second.
func BenchmarkFit(b *testing.B) {
	batches := year365(2048, 256)
	var series int
	var fits int64
	cpu := cpuTime(b)
	for b.Loop() {
		sum, err := Fit(b.Context(), &sliceSource{batches: append([]*Batch(nil), batches...)}, Options{}, func(*Output) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		series += sum.Series
		fits += sum.Fits
	}
	sec := (cpuTime(b) - cpu).Seconds()
	b.ReportMetric(float64(series)/b.Elapsed().Seconds(), "series/s")
	b.ReportMetric(float64(series)/sec, "series/cpu-s")
	b.ReportMetric(float64(fits)/sec, "fits/cpu-s")
	b.ReportMetric(float64(len(model.DefaultCandidates)), "candidates")
}

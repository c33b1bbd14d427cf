package job

import (
	"math"
	"testing"

	"github.com/shelflake/shelflake/forecast/backtest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema/world"
)

func TestBenchReportsEveryFigureTheIssueAsksFor(t *testing.T) {
	res, err := Bench(t.Context(), BenchOptions{Seed: 2, Stores: 2, SKUs: 20, Days: 130, EvalStores: 2, EvalSKUs: 20, EvalDays: 130, ReplayDays: 28,
		CurveLevels: []float64{0.9, 0.97}})
	if err != nil {
		t.Fatal(err)
	}
	// The hard world first, the classic one beside it, each with its
	// fill-rate-vs-inventory curve and the baselines scored with and
	// without the published promotions.
	if res.World != WorldHard || len(res.Others) != 1 || res.Others[0].World != WorldClassic {
		t.Fatalf("worlds %q then %+v", res.World, res.Others)
	}
	for _, ev := range append([]EvalResult{res.EvalResult}, res.Others...) {
		c := ev.Curve
		if c == nil || len(c.Ours) != 2 || len(c.Naive) < 3 {
			t.Fatalf("%s world: curve %+v", ev.World, c)
		}
		for _, p := range c.Ours {
			if !(p.FillRate > 0 && p.FillRate <= 1) || !(p.AvgInventory > 0) || !(p.NaiveInventory > 0) || math.IsNaN(p.Reduction) {
				t.Errorf("%s world: curve point %+v", ev.World, p)
			}
		}
		if c.Ours[1].AvgInventory <= c.Ours[0].AvgInventory {
			t.Errorf("%s world: asking %.2f holds %.2f units, asking %.2f %.2f", ev.World, c.Ours[1].ServiceLevel, c.Ours[1].AvgInventory, c.Ours[0].ServiceLevel, c.Ours[0].AvgInventory)
		}
		first, last := c.Naive[0], c.Naive[len(c.Naive)-1]
		if !(last.FillRate > first.FillRate && last.AvgInventory > first.AvgInventory) {
			t.Errorf("%s world: naive curve from %+v to %+v", ev.World, first, last)
		}
		if !(ev.OracleWRMSSE > 0) || math.IsNaN(ev.OracleVsBest) {
			t.Errorf("%s world: oracle %v (%v better than the best simple)", ev.World, ev.OracleWRMSSE, ev.OracleVsBest)
		}
		if len(ev.WRMSSENoLift) != len(backtest.Methods) || ev.BestSimpleNoLift == "" {
			t.Errorf("%s world: without promotions %v, best %q", ev.World, ev.WRMSSENoLift, ev.BestSimpleNoLift)
		}
	}
	if res.Series != 40 || res.EvalSeries != 40 {
		t.Errorf("%d series, %d evaluated", res.Series, res.EvalSeries)
	}
	for _, k := range backtest.Methods {
		if v, ok := res.WRMSSE[k]; !ok || !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("wrmsse[%s] = %v", k, v)
		}
	}
	// The accuracy figures are the shipped job's, backtested at the
	// default three weekly origins.
	if bt := res.Backtest; bt == nil || len(bt.Origins) != 3 || bt.Origins[2].RunID == "" {
		t.Errorf("backtest %+v", bt)
	} else if ls, ok := bt.Level(backtest.LevelTotal); !ok || math.IsNaN(float64(ls.WRMSSE[backtest.Ours])) {
		t.Errorf("total level %+v", ls)
	}
	if res.BestSimple == "" || res.BestSimple == backtest.Ours || math.IsNaN(res.ImprovementVsBest) || math.IsNaN(res.ImprovementVsSNaive) {
		t.Errorf("best simple %q, improvements %v %v", res.BestSimple, res.ImprovementVsBest, res.ImprovementVsSNaive)
	}
	for _, m := range []map[string]float64{res.FillRate, res.AvgInventory} {
		for _, k := range []string{"ours", "naive"} {
			if v, ok := m[k]; !ok || !(v > 0) {
				t.Errorf("%s = %v in %v", k, v, m)
			}
		}
	}
	if !(res.Seconds > 0) || res.PeakRSSBytes <= 0 || res.Fits <= 0 || res.Stages["fit"] <= 0 {
		t.Errorf("seconds %v, peak rss %d, fits %d, stages %v", res.Seconds, res.PeakRSSBytes, res.Fits, res.Stages)
	}
}

// BenchmarkRun forecasts 4,000 one-year store-SKU series from the lake to
// suggestions per iteration; series/s is the wall-clock throughput.
func BenchmarkRun(b *testing.B) {
	w, err := world.New(world.Config{Seed: 1, Stores: 4, SKUs: 1000, Days: 365})
	if err != nil {
		b.Fatal(err)
	}
	var series int64
	for b.Loop() {
		b.StopTimer()
		l, err := lake.Open(b.Context(), b.TempDir(), lake.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := WriteWorld(b.Context(), l, w, WorldOptions{StateDays: 28}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := Run(b.Context(), l, Options{AsOf: w.Date(w.Days())})
		if err != nil {
			b.Fatal(err)
		}
		series += rep.Run.Series
		l.Close()
	}
	b.ReportMetric(float64(series)/b.Elapsed().Seconds(), "series/s")
}

package world

import (
	"context"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// modelWorld is a year of a mid-sized world, used through the model only.
func modelWorld(t testing.TB) *World {
	t.Helper()
	w, err := New(Config{Seed: 7, Stores: 24, SKUs: 150, Days: 364})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestDemandProfilesProduceWhatTheyClaim(t *testing.T) {
	w := modelWorld(t)
	type agg struct{ days, zeros, units, nonzero int64 }
	by := map[Profile]*agg{Fast: {}, Slow: {}, Intermittent: {}}
	var promoUnits, promoDays, baseUnits, baseDays float64
	bySize := map[string]*agg{}
	var sat, tue agg
	buf := make([]int64, 0, w.Days())
	for loc := range w.NumStores() {
		l := &w.Locations()[loc]
		if bySize[l.Size] == nil {
			bySize[l.Size] = &agg{}
		}
		for sku := range w.Items() {
			it := &w.Items()[sku]
			buf = w.Demand(loc, sku, buf[:0])
			a := by[it.Profile]
			for day, d := range buf {
				if !w.Open(loc, day) {
					if d != 0 {
						t.Fatalf("%s %s: demand %d on closed day %s", l.ID, it.ID, d, w.Date(day))
					}
					continue
				}
				a.days++
				a.units += d
				if d == 0 {
					a.zeros++
				} else {
					a.nonzero++
				}
				bySize[l.Size].days++
				bySize[l.Size].units += d
				if len(it.Promotions) > 0 && it.Profile == Fast {
					switch f := promoFactor(it.Promotions, day); {
					case f > 1:
						promoUnits += float64(d)
						promoDays++
					case f == 1:
						baseUnits += float64(d)
						baseDays++
					}
				}
				if l.Country == "US" && categories[it.cat].weekdays == &groceryWeek {
					switch w.Date(day).Weekday() {
					case time.Saturday:
						sat.days++
						sat.units += d
					case time.Tuesday:
						tue.days++
						tue.units += d
					}
				}
			}
		}
	}
	zeroShare := func(a *agg) float64 { return float64(a.zeros) / float64(a.days) }
	mean := func(a *agg) float64 { return float64(a.units) / float64(a.days) }
	t.Logf("zero-day share fast %.2f slow %.2f intermittent %.2f", zeroShare(by[Fast]), zeroShare(by[Slow]), zeroShare(by[Intermittent]))
	if z := zeroShare(by[Intermittent]); z < 0.6 {
		t.Errorf("intermittent series sell on %.0f%% of days; want mostly zero days", 100*(1-z))
	}
	if lump := float64(by[Intermittent].units) / float64(by[Intermittent].nonzero); lump < 1.5 {
		t.Errorf("intermittent selling days average %.2f units; want lumps", lump)
	}
	if z := zeroShare(by[Fast]); z > 0.25 {
		t.Errorf("fast movers have %.0f%% zero days", 100*z)
	}
	if !(mean(by[Fast]) > 2*mean(by[Slow]) && mean(by[Slow]) > mean(by[Intermittent])) {
		t.Errorf("mean daily demand fast %.2f, slow %.2f, intermittent %.2f", mean(by[Fast]), mean(by[Slow]), mean(by[Intermittent]))
	}
	lift := (promoUnits / promoDays) / (baseUnits / baseDays)
	t.Logf("promotion lift %.2f over %v promo days", lift, promoDays)
	if promoDays == 0 || lift < 1.5 {
		t.Errorf("promotions lift demand %.2f×", lift)
	}
	if r := mean(&sat) / mean(&tue); r < 1.2 {
		t.Errorf("grocery Saturdays sell %.2f× Tuesdays; want a weekly cycle", r)
	}
	// Trend: the same weekday 50 weeks apart, both days without promotion
	// or holiday, shows series growing and series shrinking.
	var up, down int
	for loc := range 4 {
		for sku := range w.Items() {
			ps := w.Items()[sku].Promotions
			if promoFactor(ps, 7) != 1 || promoFactor(ps, 357) != 1 {
				continue
			}
			switch r := w.ExpectedDemand(loc, sku, 357) / w.ExpectedDemand(loc, sku, 7); {
			case r > 1.15:
				up++
			case r < 0.85:
				down++
			}
		}
	}
	if up == 0 || down == 0 {
		t.Errorf("over 50 weeks %d series grow and %d shrink by over 15%%", up, down)
	}
	if s, l := bySize["small"], bySize["large"]; s == nil || l == nil || mean(l) < 2*mean(s) {
		for size, a := range bySize {
			t.Logf("%s stores: %.2f units per series-day", size, mean(a))
		}
		t.Error("store sizes do not scale demand")
	}
}

func TestHolidaysCloseStoresAndLiftTheDaysAround(t *testing.T) {
	w, err := New(Config{Seed: 1, Stores: 2, SKUs: 30, Days: 60, Start: schema.NewDate(2026, time.November, 2)})
	if err != nil {
		t.Fatal(err)
	}
	us := 0 // S0001 is in New York
	if w.Locations()[us].Country != "US" {
		t.Fatalf("store 0 in %s", w.Locations()[us].Country)
	}
	day := func(d schema.Date) int { return int(d - w.Config().Start) }
	thanksgiving := schema.NewDate(2026, time.November, 26)
	for _, closed := range []schema.Date{thanksgiving, schema.NewDate(2026, time.December, 25)} {
		if w.Open(us, day(closed)) {
			t.Errorf("US store open on %s", closed)
		}
	}
	var bf, before float64
	for sku := range w.Items() {
		if promoFactor(w.Items()[sku].Promotions, day(thanksgiving+1)) != 1 || promoFactor(w.Items()[sku].Promotions, day(thanksgiving-6)) != 1 {
			continue
		}
		bf += w.ExpectedDemand(us, sku, day(thanksgiving+1))
		before += w.ExpectedDemand(us, sku, day(thanksgiving-6))
	}
	if bf < 1.8*before {
		t.Errorf("Black Friday expects %.1f units, the Friday before %.1f", bf, before)
	}
}

func TestReplaysSeeTheSameDemandWhateverThePolicy(t *testing.T) {
	w := modelWorld(t)
	never := PolicyFunc(func(*View) int64 { return 0 })
	policies := []struct {
		name string
		p    Policy
	}{{"erp", ERPPolicy{}}, {"naive", NaivePolicy{}}, {"never", never}}
	sim := w.NewSim()
	var total [3]Stats
	for _, s := range [][2]int{{0, 0}, {3, 17}, {10, 42}, {23, 149}, {5, 77}, {12, 100}} {
		want := w.Demand(s[0], s[1], nil)
		for i, pc := range policies {
			sim.Reset(s[0], s[1], pc.p)
			opening := sim.OnHand()
			for r := sim.Step(); r != nil; r = sim.Step() {
				if r.Demand != want[r.Day] {
					t.Fatalf("%s series %v day %d: demand %d, World.Demand %d", pc.name, s, r.Day, r.Demand, want[r.Day])
				}
			}
			st := sim.Stats()
			if pc.name == "never" && (st.Sold > opening || st.Orders != 0) {
				t.Fatalf("never-ordering policy sold %d from %d opening stock with %d orders", st.Sold, opening, st.Orders)
			}
			total[i] = total[i].Add(st)
		}
	}
	if total[0].Demand != total[1].Demand || total[1].Demand != total[2].Demand {
		t.Fatalf("total demand differs between policies: %v", total)
	}
	if total[2].Lost == 0 || total[2].FillRate() > total[0].FillRate() {
		t.Errorf("never ordering fills %.3f, the ERP %.3f", total[2].FillRate(), total[0].FillRate())
	}
	if total[0].FillRate() < 0.9 {
		t.Errorf("the ERP fills only %.3f", total[0].FillRate())
	}
}

func TestSuppliersTreatOrdersOfTheSameDayAlikeUnderAnyPolicy(t *testing.T) {
	w := modelWorld(t)
	type fate struct {
		arrival int
		status  schema.POStatus
	}
	run := func(loc, sku int, every int) map[int]fate {
		sim := w.NewSim()
		n := 0
		sim.Reset(loc, sku, PolicyFunc(func(v *View) int64 {
			n++
			if n%every != 0 {
				return 0
			}
			return int64(v.Params.MOQ * 3)
		}))
		out := map[int]fate{}
		for r := sim.Step(); r != nil; r = sim.Step() {
			for _, e := range r.Events {
				f := out[e.OrderDay]
				if e.Status != schema.POOpen && f.arrival == 0 {
					f.arrival = r.Day
				}
				f.status = e.Status
				out[e.OrderDay] = f
			}
		}
		return out
	}
	compared := 0
	for sku := range 40 {
		a, b := run(1, sku, 1), run(1, sku, 2)
		for day, fb := range b {
			if fa, ok := a[day]; ok {
				compared++
				if fa != fb {
					t.Fatalf("sku %d order of day %d: %+v under one policy, %+v under another", sku, day, fa, fb)
				}
			}
		}
	}
	if compared == 0 {
		t.Fatal("no common order days")
	}
}

func TestSimAllocatesNothingPerSeries(t *testing.T) {
	w := modelWorld(t)
	sim := w.NewSim()
	sim.Reset(0, 0, nil)
	sim.Run()
	series := 0
	allocs := testing.AllocsPerRun(20, func() {
		series++
		sim.Reset(series%w.NumStores(), series%len(w.Items()), nil)
		sim.Run()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per simulated series-year", allocs)
	}
	buf := make([]int64, 0, w.Days())
	if a := testing.AllocsPerRun(20, func() { buf = w.Demand(2, 3, buf[:0]) }); a != 0 {
		t.Errorf("%v allocations per demand series", a)
	}
}

func TestPolicyCanBeSwitchedForAHoldOut(t *testing.T) {
	w := modelWorld(t)
	sim := w.NewSim()
	sim.Reset(4, 9, nil)
	for sim.Day() < w.Days()-28 {
		sim.Step()
	}
	sim.ResetStats()
	sim.SetPolicy(NaivePolicy{Window: 14})
	st := sim.Run()
	if st.Days != 28 || !sim.Done() {
		t.Fatalf("hold-out stats cover %d days, done %v", st.Days, sim.Done())
	}
	if st.FillRate() < 0 || st.FillRate() > 1 || st.AvgInventory() < 0 {
		t.Fatalf("stats %+v", st)
	}
}

func BenchmarkSimSeriesYear(b *testing.B) {
	w := modelWorld(b)
	sim := w.NewSim()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sim.Reset(i%w.NumStores(), i%len(w.Items()), nil)
		sim.Run()
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*w.Days()), "ns/series-day")
}

func BenchmarkDemandSeriesYear(b *testing.B) {
	w := modelWorld(b)
	buf := make([]int64, 0, w.Days())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = w.Demand(i%w.NumStores(), i%len(w.Items()), buf[:0])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*w.Days()), "ns/series-day")
}

// countSink counts records and bytes.
type countSink struct{ n, bytes int64 }

func (c *countSink) Write(_ context.Context, recs []Record) error {
	for _, r := range recs {
		c.n++
		c.bytes += int64(len(r.Value)) + 1
	}
	return nil
}

func (c *countSink) Flush(context.Context) error { return nil }

func BenchmarkGenerate(b *testing.B) {
	w, err := New(Config{Seed: 1, Stores: 4, SKUs: 100, Days: 30})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var c countSink
	for b.Loop() {
		if _, err := w.Generate(context.Background(), GenerateOptions{Sink: &c, TruthDir: dir, BadRate: 0.001}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.n)/b.Elapsed().Seconds(), "records/s")
	b.SetBytes(c.bytes / int64(b.N))
}

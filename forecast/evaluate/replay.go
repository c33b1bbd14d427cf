package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/shelflake/shelflake/forecast/model"
	"github.com/shelflake/shelflake/forecast/replenish"
	"github.com/shelflake/shelflake/schema/world"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Days is the number of final days replayed with each policy (default
	// 56); the days before run under the world's ERP policy for everyone.
	Days int
	// Model configures the forecaster (ForecastDays is raised to cover the
	// longest protection window).
	Model model.Options
	// Replenish configures the planner.
	Replenish replenish.Options
	// WindowSigma uses the backtest's window-sum error estimate
	// (model.WindowSigma) for the demand term of safety stock instead of
	// √P·σd, taking the larger of the two.
	WindowSigma bool
	// Workers is the number of goroutines (default GOMAXPROCS).
	Workers int
	// NoMatch skips searching the naive policy's scale that matches our
	// fill rate.
	NoMatch bool
}

// ReplayReport compares the policies over the replayed days, totalled over
// every store-SKU series.
type ReplayReport struct {
	Series int
	Days   int
	// Ours orders by our forecasts; Naive is world.NaivePolicy (up to the
	// 28-day average sales × (lead time + review period)).
	Ours, Naive world.Stats
	// NaiveMatched is the naive policy with its order-up-to level scaled by
	// MatchFactor, the factor at which its fill rate matches ours: the
	// inventory it needs for our fill rate.
	NaiveMatched world.Stats
	MatchFactor  float64
	// ByProfile breaks the totals down by the SKUs' demand profile: "ours",
	// "naive", "naive_matched" → profile name → stats.
	ByProfile map[string]map[string]world.Stats
	// ServiceLevel is the demand-weighted mean service level the
	// item-locations ask for.
	ServiceLevel float64
	// Orders and lines by reason code, over our review days.
	Reasons map[string]int
}

// InventoryReduction is 1 − ours/naive-matched average inventory: how much
// less stock our policy holds for the same fill rate.
func (r *ReplayReport) InventoryReduction() float64 {
	return 1 - r.Ours.AvgInventory()/r.NaiveMatched.AvgInventory()
}

// leadStats are observed lead times per supplier: mean and standard
// deviation of days from order to first receipt.
type leadStats struct{ mean, sd []float64 }

// Replay replays the last opts.Days days of every store-SKU series of w
// under our policy and the naive one.
func Replay(ctx context.Context, w *world.World, opts ReplayOptions) (*ReplayReport, error) {
	if opts.Days == 0 {
		opts.Days = 56
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	start := w.Days() - opts.Days
	if start < 28 {
		return nil, fmt.Errorf("world of %d days: want at least 28 days before a %d-day replay", w.Days(), opts.Days)
	}
	mo := opts.Model
	mo.ForecastDays = max(mo.ForecastDays, 56)
	if _, err := model.NewScratch(mo); err != nil {
		return nil, err
	}
	planner, err := replenish.NewPlanner(opts.Replenish)
	if err != nil {
		return nil, err
	}
	lead := observeLeadTimes(w, start)
	prof, err := weeklyProfiles(ctx, w, start, opts.Workers)
	if err != nil {
		return nil, err
	}
	rep := &ReplayReport{Series: w.NumStores() * len(w.Items()), Days: opts.Days, Reasons: map[string]int{},
		ByProfile: map[string]map[string]world.Stats{"ours": {}, "naive": {}, "naive_matched": {}}}
	addProfile := func(policy string, sku int, st world.Stats) {
		m := rep.ByProfile[policy]
		k := w.Items()[sku].Profile.String()
		m[k] = m[k].Add(st)
	}
	series := rep.Series
	// run replays every series under a policy from newPolicy (one per
	// worker) and hands each series' stats to each (called concurrently).
	run := func(newPolicy func() (world.Policy, error), each func(loc, sku int, st world.Stats, p world.Policy)) error {
		var next atomic.Int64
		errs := make([]error, opts.Workers)
		var wg sync.WaitGroup
		for i := range opts.Workers {
			wg.Go(func() {
				errs[i] = func() error {
					p, err := newPolicy()
					if err != nil {
						return err
					}
					sim := w.NewSim()
					for {
						si := int(next.Add(1) - 1)
						if si >= series {
							return nil
						}
						if si%64 == 0 && ctx.Err() != nil {
							return ctx.Err()
						}
						loc, sku := si/len(w.Items()), si%len(w.Items())
						sim.Reset(loc, sku, nil)
						for sim.Day() < start && sim.Step() != nil {
						}
						sim.SetPolicy(p)
						sim.ResetStats()
						st := sim.Run()
						if fp, ok := p.(*forecastPolicy); ok && fp.err != nil {
							return fmt.Errorf("series %d/%d: %w", loc, sku, fp.err)
						}
						each(loc, sku, st, p)
					}
				}()
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	var mu sync.Mutex
	var ours world.Stats
	var slSum float64
	// Ours.
	err = run(func() (world.Policy, error) {
		sc, err := model.NewScratch(mo)
		if err != nil {
			return nil, err
		}
		return &forecastPolicy{w: w, sc: sc, planner: planner, lead: lead, prof: prof, window: opts.WindowSigma,
			reasons: map[string]int{}}, nil
	}, func(loc, sku int, st world.Stats, p world.Policy) {
		fp := p.(*forecastPolicy)
		sl := w.Params(loc, sku, w.Days()-1).ServiceLevel
		mu.Lock()
		ours = ours.Add(st)
		addProfile("ours", sku, st)
		slSum += sl * float64(st.Demand)
		for k, v := range fp.reasons {
			rep.Reasons[k] += v
		}
		clear(fp.reasons)
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	naive := func(factor float64, policy string) (world.Stats, error) {
		var sum world.Stats
		err := run(func() (world.Policy, error) { return scaledNaive{factor: factor}, nil },
			func(_, sku int, st world.Stats, _ world.Policy) {
				mu.Lock()
				sum = sum.Add(st)
				if policy != "" {
					addProfile(policy, sku, st)
				}
				mu.Unlock()
			})
		return sum, err
	}
	if rep.Naive, err = naive(1, "naive"); err != nil {
		return nil, err
	}
	rep.Ours = ours
	if ours.Demand > 0 {
		rep.ServiceLevel = slSum / float64(ours.Demand)
	}
	if opts.NoMatch {
		return rep, nil
	}
	// Bisect the naive scale factor to our fill rate (fill rate grows with
	// the factor).
	target := rep.Ours.FillRate()
	lo, hi := 0.5, 4.0
	var st world.Stats
	for range 14 {
		mid := (lo + hi) / 2
		if st, err = naive(mid, ""); err != nil {
			return nil, err
		}
		if st.FillRate() < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	if st, err = naive(hi, "naive_matched"); err != nil {
		return nil, err
	}
	rep.NaiveMatched, rep.MatchFactor = st, hi
	return rep, nil
}

// scaledNaive is world.NaivePolicy with its order-up-to level times factor.
type scaledNaive struct{ factor float64 }

func (s scaledNaive) Order(v *world.View) int64 {
	from := max(0, v.Day-27)
	var sum int64
	for _, x := range v.Sold[from : v.Day+1] {
		sum += x
	}
	avg := float64(sum) / float64(v.Day+1-from)
	out := s.factor * avg * float64(v.Params.LeadTimeDays+v.Params.ReviewPeriodDays)
	return int64(math.Ceil(out - float64(v.OnHand+v.OnOrder)))
}

// observeLeadTimes runs every store series of w to day end under the ERP
// policy and measures, per supplier, the days from order to first receipt.
func observeLeadTimes(w *world.World, end int) leadStats {
	n := len(w.Suppliers())
	sum, sum2, cnt := make([]float64, n), make([]float64, n), make([]float64, n)
	sim := w.NewSim()
	idx := map[string]int{}
	for i, s := range w.Suppliers() {
		idx[s.ID] = i
	}
	for loc := range w.NumStores() {
		for sku := range w.Items() {
			sup := w.Items()[sku].Supplier
			seen := map[int]bool{}
			sim.Reset(loc, sku, nil)
			for r := sim.Step(); r != nil && r.Day < end; r = sim.Step() {
				for _, e := range r.Events {
					if e.Delta > 0 && !seen[e.OrderDay] {
						seen[e.OrderDay] = true
						lt := float64(r.Day - e.OrderDay)
						sum[sup] += lt
						sum2[sup] += lt * lt
						cnt[sup]++
					}
				}
			}
		}
	}
	ls := leadStats{mean: make([]float64, n), sd: make([]float64, n)}
	for i := range n {
		if cnt[i] < 2 {
			ls.mean[i] = math.NaN()
			continue
		}
		m := sum[i] / cnt[i]
		ls.mean[i] = m
		ls.sd[i] = math.Sqrt(max(sum2[i]/cnt[i]-m*m, 0) * cnt[i] / (cnt[i] - 1))
	}
	return ls
}

// forecastPolicy orders what the planner suggests from a fresh forecast of
// the series' sales so far.
type forecastPolicy struct {
	w       *world.World
	sc      *model.Scratch
	planner *replenish.Planner
	lead    leadStats
	prof    *profiles
	window  bool
	res     model.Result
	sold    []float32
	cens    []bool
	promo   []bool
	reasons map[string]int
	err     error
}

func (p *forecastPolicy) Order(v *world.View) int64 {
	if p.err != nil {
		return 0
	}
	n := v.Day + 1
	p.sold, p.cens, p.promo = p.sold[:0], p.cens[:0], p.promo[:0]
	for t := range n {
		p.sold = append(p.sold, float32(v.Sold[t]))
		p.cens = append(p.cens, v.Closing[t] == 0 && p.w.Open(v.Loc, t))
		p.promo = append(p.promo, p.w.Promotion(v.SKU, t) != nil)
	}
	in := model.Series{Values: p.sold, Censored: p.cens, Promo: p.promo}
	if p.prof != nil {
		// The profile is aligned to day 0 like the series.
		in.Season = p.prof.of(p.w, v.Loc, v.SKU)
	}
	if err := p.sc.Fit(in, &p.res); err != nil {
		p.err = err
		return 0
	}
	prm := v.Params
	sup := p.w.Items()[v.SKU].Supplier
	li := replenish.Input{
		Forecast:         p.res.Forecast,
		SigmaDay:         p.res.Sigma,
		LeadTimeDays:     p.lead.mean[sup],
		LeadTimeSD:       p.lead.sd[sup],
		ReviewPeriodDays: prm.ReviewPeriodDays,
		CasePack:         int64(prm.CasePack),
		MOQ:              int64(prm.MOQ),
		ServiceLevel:     prm.ServiceLevel,
		UnitCost:         prm.UnitCost,
		OnHand:           v.OnHand,
		OnOrder:          v.OnOrder,
		NewItem:          p.res.Status != model.Selected,
	}
	if math.IsNaN(li.LeadTimeDays) {
		li.LeadTimeDays = float64(prm.LeadTimeDays)
		li.Missing |= replenish.ParamLeadTimeSD
	}
	if p.window && p.res.Status == model.Selected {
		P := int(math.Ceil(li.LeadTimeDays)) + prm.ReviewPeriodDays
		if ws := model.WindowSigma(p.res.Residuals, p.sc.Options().Horizon, P); !math.IsNaN(ws) {
			li.SigmaWindow = max(ws, math.Sqrt(float64(P))*p.res.Sigma)
		}
	}
	ln, err := p.planner.Plan(&li)
	if err != nil {
		p.err = err
		return 0
	}
	p.reasons["reviews"]++
	for _, r := range ln.Reasons.Strings() {
		p.reasons[r]++
	}
	return ln.Qty
}

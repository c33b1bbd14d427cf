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
	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/forecast/replenish"
	"github.com/shelflake/shelflake/schema/world"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Days is the number of final days replayed with each policy (default
	// 56). WarmupDays before them (default 21, negative for none) the
	// policy already orders but is not measured: the orders the world's
	// ERP placed before are all in by then (lead times run to about two
	// weeks), so what is measured is the policy's own doing, not the stock
	// position it inherited. The days before run under the world's ERP
	// policy for everyone, and are the history the policies learn from.
	Days, WarmupDays int
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
	// NoPromotions ignores the published promotion calendar (the forecast
	// is the baseline alone, as before the erp.promotions stream).
	NoPromotions bool
	// NoMatch skips searching the naive policy's scale that matches our
	// fill rate.
	NoMatch bool
	// ServiceLevel, when in (0, 1), is asked of every series instead of
	// its item-location's (a point of the fill-rate-vs-inventory curve).
	ServiceLevel float64
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
	if opts.WarmupDays == 0 {
		opts.WarmupDays = 21
	}
	start := w.Days() - opts.Days
	takeover := start - max(opts.WarmupDays, 0)
	if takeover < 28 {
		return nil, fmt.Errorf("world of %d days: want at least 28 days before a %d-day replay and its %d-day warm-up", w.Days(), opts.Days, opts.WarmupDays)
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
	lead, promos := observeHistory(w, takeover)
	prof, err := weeklyProfiles(ctx, w, takeover, opts.Workers)
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
						for sim.Day() < takeover && sim.Step() != nil {
						}
						sim.SetPolicy(p)
						for sim.Day() < start && sim.Step() != nil {
						}
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
			promos: promos, noPromo: opts.NoPromotions, sl: opts.ServiceLevel,
			reasons: map[string]int{}}, nil
	}, func(loc, sku int, st world.Stats, p world.Policy) {
		fp := p.(*forecastPolicy)
		sl := w.Params(loc, sku, w.Days()-1).ServiceLevel
		if opts.ServiceLevel > 0 && opts.ServiceLevel < 1 {
			sl = opts.ServiceLevel
		}
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

// observeHistory runs every store series of w to day end under the ERP
// policy and measures, per supplier, the days from order to first receipt,
// and the promotion response (promo.Model) from each SKU's chain-wide
// sales on uncensored store-days, the way the forecast job measures it
// from the lake (promoObsSQL in forecast/job; there, a closed day counts
// as a day without sales, here it is left out).
func observeHistory(w *world.World, end int) (leadStats, *promo.Model) {
	n := len(w.Suppliers())
	sum, sum2, cnt := make([]float64, n), make([]float64, n), make([]float64, n)
	sim := w.NewSim()
	units := make([][]float64, len(w.Items()))
	stores := make([][]float64, len(w.Items()))
	for sku := range w.Items() {
		units[sku], stores[sku] = make([]float64, end), make([]float64, end)
	}
	for loc := range w.NumStores() {
		for sku := range w.Items() {
			sup := w.Items()[sku].Supplier
			seen := map[int]bool{}
			sim.Reset(loc, sku, nil)
			for r := sim.Step(); r != nil && r.Day < end; r = sim.Step() {
				if r.Open && r.OnHand > 0 {
					units[sku][r.Day] += float64(r.Sold)
					stores[sku][r.Day]++
				}
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
	var est promo.Estimator
	for sku, it := range w.Items() {
		// The chain-wide promotions as published by the end of the history.
		ps := w.PublishedPromotions(-1, sku, end, nil)
		for i := range ps {
			if o, ok := promoObservation(ps, i, units[sku], stores[sku]); ok {
				o.Group = it.Department
				est.Add(o)
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
	return ls, est.Model()
}

// promoObservation measures promotion i of ps (day indices) on an item's
// chain-wide units and uncensored store counts per day (known up to
// len(units)): the promotion must have ended and have 28 days before it.
func promoObservation(ps []world.Promotion, i int, units, stores []float64) (promo.Observation, bool) {
	p := &ps[i]
	if p.Start < 28 || p.End > len(units) {
		return promo.Observation{}, false
	}
	inPromo := func(d int) bool {
		for j := range ps {
			if d >= ps[j].Start && d < ps[j].End+promo.DipDays {
				return true
			}
		}
		return false
	}
	rate := func(from, to int, skip func(int) bool) (float64, float64) {
		var u, n float64
		for d := max(from, 0); d < min(to, len(units)); d++ {
			if skip != nil && skip(d) {
				continue
			}
			u += units[d]
			n += stores[d]
		}
		if n == 0 {
			return math.NaN(), 0
		}
		return u / n, n
	}
	o := promo.Observation{DiscountPct: float64(p.DiscountPct), AfterRate: math.NaN()}
	o.PromoRate, o.Days = rate(p.Start, p.End, nil)
	o.BaseRate, _ = rate(p.Start-28, p.Start, inPromo)
	if p.End+promo.DipDays <= len(units) && (i+1 == len(ps) || ps[i+1].Start >= p.End+promo.DipDays) {
		o.AfterRate, _ = rate(p.End, p.End+promo.DipDays, nil)
	}
	if math.IsNaN(o.PromoRate) || math.IsNaN(o.BaseRate) {
		return promo.Observation{}, false
	}
	return o, true
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
	// The promotion response and calendar (unless noPromo); scratch.
	promos  *promo.Model
	noPromo bool
	sl      float64 // service level asked of every series, when in (0, 1)
	uplift  []float64
	windows []promo.Window
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
		p.promo = append(p.promo, p.w.PromotionAt(v.Loc, v.SKU, t) != nil)
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
	if p.sl > 0 && p.sl < 1 {
		li.ServiceLevel = p.sl
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
	if !p.noPromo {
		// The promotions the ERP has published by today.
		if cap(p.uplift) < len(li.Forecast) {
			p.uplift = make([]float64, len(li.Forecast))
		}
		p.uplift = p.uplift[:len(li.Forecast)]
		if liftKnown(p.w, p.promos, v.Loc, v.SKU, v.Day+1, li.Forecast, p.uplift, &p.windows) {
			li.Uplift, li.UpliftCV = p.uplift, p.promos.Effect(p.w.Items()[v.SKU].Department).LiftCV
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

// Package evaluate measures shelflake's forecasting and replenishment on a
// generated world (package schema/world), whose true demand — including the
// demand stockouts hid — is known:
//
//   - Accuracy: fit every store-SKU series on its history of sales (what the
//     retailer saw: censored on stockout days) and score the forecast of a
//     hold-out window against the true demand by revenue-weighted RMSSE
//     (WRMSSE), ours against each simple method used alone.
//   - Replay: replay the last days of every series with an ordering policy
//     built on our forecasts and with the naive policy, and compare fill
//     rate and average inventory.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/shelflake/shelflake/forecast/metric"
	"github.com/shelflake/shelflake/forecast/model"
	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/schema/world"
)

// History is what the retailer knows of one series up to a day: daily sales,
// which days were censored (closing stock zero: demand may have exceeded
// sales) and which days had a promotion running (from POS lines).
type History struct {
	Sold     []float32
	Censored []bool
	Promo    []bool
	// Demand is the true demand (for scoring only; a forecaster must not
	// look at it).
	Demand []float64
}

// Observe runs series (loc, sku) of w for its first days days under the
// world's own ERP ordering policy and returns its history. sim is reused.
func Observe(w *world.World, sim *world.Sim, loc, sku, days int, h *History) {
	h.Sold, h.Censored, h.Promo, h.Demand = h.Sold[:0], h.Censored[:0], h.Promo[:0], h.Demand[:0]
	sim.Reset(loc, sku, nil)
	for d := 0; d < days; d++ {
		r := sim.Step()
		if r == nil {
			break
		}
		h.Sold = append(h.Sold, float32(r.Sold))
		h.Censored = append(h.Censored, r.Open && r.OnHand == 0)
		h.Promo = append(h.Promo, w.PromotionAt(loc, sku, d) != nil)
		h.Demand = append(h.Demand, float64(r.Demand))
	}
}

// AccuracyOptions configure Accuracy.
type AccuracyOptions struct {
	// Holdout is the number of final days forecast and scored (default 28).
	Holdout int
	// Model configures our forecaster (ForecastDays is set to Holdout).
	Model model.Options
	// Baselines are the simple methods scored alone (default seasonal
	// naive, moving average, SES and Croston-SBA).
	Baselines []model.Kind
	// Workers is the number of goroutines (default GOMAXPROCS).
	Workers int
	// NoPromoMask withholds promotion flags from our forecaster.
	NoPromoMask bool
	// NoSeasonPrior withholds the pooled weekly profiles (per store and
	// department) from our forecaster.
	NoSeasonPrior bool
	// NoPromotions withholds the promotion calendar ahead from our
	// forecaster (the ERP publishes promotions PromotionNoticeDays ahead;
	// ours lifts its forecast on the known ones, like the forecast job).
	NoPromotions bool
}

// AccuracyReport is the outcome of Accuracy.
type AccuracyReport struct {
	Series int
	// WRMSSE by method name: "ours" and each baseline's Kind name, fitted on
	// the same censoring-aware input as ours.
	WRMSSE map[string]float64
	// WRMSSERaw is each baseline fitted on raw sales, stockout days taken at
	// face value (how a simple method is usually run).
	WRMSSERaw map[string]float64
	// Oracle is the WRMSSE of the world's expected demand (what a perfect
	// forecaster predicts): the floor set by the noise of demand.
	Oracle float64
	// OracleNoPromo is Oracle blind to promotions in the hold-out (their
	// lift taken out): the floor for a forecaster that cannot know the
	// promotion calendar.
	OracleNoPromo float64
	// ByProfile breaks WRMSSE (ours, oracle and the baselines) down by the
	// SKUs' demand profile (fast, slow, intermittent).
	ByProfile map[string]map[string]float64
	// Chosen counts the series per chosen model of ours (ensembles by
	// members).
	Chosen map[string]int
	// BacktestRMSSE is the revenue-weighted mean backtest RMSSE of ours (what
	// selection saw), for comparison with the hold-out WRMSSE.
	BacktestRMSSE float64
	// OursBaseline is the WRMSSE of ours without the promotion calendar
	// ahead (the models' baseline alone; equal to WRMSSE["ours"] with
	// NoPromotions).
	OursBaseline float64
}

// Improvement returns 1 − ours/method: the fraction by which ours beats method.
func (r *AccuracyReport) Improvement(method string) float64 {
	return 1 - r.WRMSSE["ours"]/r.WRMSSE[method]
}

// BestBaseline returns the baseline with the lowest WRMSSE and its value.
func (r *AccuracyReport) BestBaseline() (string, float64) {
	best, v := "", math.Inf(1)
	for name, x := range r.WRMSSE {
		if name != "ours" && x < v {
			best, v = name, x
		}
	}
	return best, v
}

// Accuracy fits every store-SKU series of w on all days but the last
// Holdout and scores the forecasts of those days against true demand.
//
// Each series is what the retailer saw under the world's ERP policy: daily
// sales, censored where the day closed with no stock, promotion days from
// the world's promotion calendar, and a pooled weekly profile per store and
// department (unless NoSeasonPrior). A series' RMSSE is scaled by the naive
// scale of its true demand over the training days; its weight is its sales
// revenue over the last 28 training days in the store's currency (the
// world's currencies are within 25% of each other, and a weight needs no
// exactness). Baselines see the same input (and, in WRMSSERaw, raw sales).
func Accuracy(ctx context.Context, w *world.World, opts AccuracyOptions) (*AccuracyReport, error) {
	if opts.Holdout == 0 {
		opts.Holdout = 28
	}
	if opts.Baselines == nil {
		opts.Baselines = []model.Kind{model.SeasonalNaive, model.MovingAverage, model.SES, model.CrostonSBA}
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	train := w.Days() - opts.Holdout
	if train < 1 {
		return nil, fmt.Errorf("world of %d days: no history before a %d-day hold-out", w.Days(), opts.Holdout)
	}
	mo := opts.Model
	mo.ForecastDays = opts.Holdout
	if _, err := model.NewScratch(mo); err != nil {
		return nil, err
	}
	nb := len(opts.Baselines)
	_, promos := observeHistory(w, train)
	var prof *profiles
	if !opts.NoSeasonPrior {
		var err error
		if prof, err = weeklyProfiles(ctx, w, train, opts.Workers); err != nil {
			return nil, err
		}
	}
	// Scores per profile: [0] ours, [1] oracle, [2] our backtest, [3]
	// oracle blind to promotions in the hold-out, [4] ours without the
	// promotion calendar, then the baselines on masked input, then on raw
	// input.
	const nfix = 5
	nm := nfix + 2*nb
	type acc struct {
		score  [3][]metric.WRMSSE
		chosen map[string]int
	}
	series := w.NumStores() * len(w.Items())
	var next atomic.Int64
	accs := make([]*acc, opts.Workers)
	errs := make([]error, opts.Workers)
	var wg sync.WaitGroup
	for i := range opts.Workers {
		a := &acc{chosen: map[string]int{}}
		for p := range a.score {
			a.score[p] = make([]metric.WRMSSE, nm)
		}
		accs[i] = a
		wg.Go(func() {
			errs[i] = func() error {
				ours, err := model.NewScratch(mo)
				if err != nil {
					return err
				}
				base := make([]*model.Scratch, nb)
				for j, k := range opts.Baselines {
					bo := mo
					bo.Candidates = []model.Kind{k}
					bo.EnsembleSize = 0
					if base[j], err = model.NewScratch(bo); err != nil {
						return err
					}
				}
				sim := w.NewSim()
				var h History
				var res model.Result
				exp := make([]float64, opts.Holdout)
				up := make([]float64, opts.Holdout)
				var ws []promo.Window
				for {
					si := int(next.Add(1) - 1)
					if si >= series {
						return nil
					}
					if si%64 == 0 && ctx.Err() != nil {
						return ctx.Err()
					}
					loc, sku := si/len(w.Items()), si%len(w.Items())
					sc := a.score[w.Items()[sku].Profile]
					Observe(w, sim, loc, sku, w.Days(), &h)
					truth := h.Demand[train:]
					scale := metric.NaiveScale(h.Demand[:train], nil)
					weight := revenue(w, loc, sku, h.Sold[:train])
					in := model.Series{Values: h.Sold[:train], Censored: h.Censored[:train], Promo: h.Promo[:train]}
					if opts.NoPromoMask {
						in.Promo = nil
					}
					if prof != nil {
						in.Season = prof.of(w, loc, sku)
					}
					if err := ours.Fit(in, &res); err != nil {
						return fmt.Errorf("series %d/%d: %w", loc, sku, err)
					}
					sc[4].Add(weight, metric.RMSSE(truth, res.Forecast, scale))
					if !opts.NoPromotions && liftKnown(w, promos, loc, sku, train, res.Forecast, up, &ws) {
						for d, u := range up {
							res.Forecast[d] *= u
						}
					}
					sc[0].Add(weight, metric.RMSSE(truth, res.Forecast, scale))
					if !math.IsNaN(res.RMSSE) {
						sc[2].Add(weight, res.RMSSE)
					}
					for d := range exp {
						exp[d] = w.ExpectedDemand(loc, sku, train+d)
					}
					sc[1].Add(weight, metric.RMSSE(truth, exp, scale))
					for d := range exp {
						if p := w.PromotionAt(loc, sku, train+d); p != nil {
							exp[d] /= p.Lift
						}
					}
					sc[3].Add(weight, metric.RMSSE(truth, exp, scale))
					name := res.Model.String()
					if res.Model == model.Ensemble {
						name = res.Members.String()
					}
					if res.Status != model.Selected {
						name = res.Status.String()
					}
					a.chosen[name]++
					for j, b := range base {
						if err := b.Fit(in, &res); err != nil {
							return err
						}
						sc[nfix+j].Add(weight, metric.RMSSE(truth, res.Forecast, scale))
						if err := b.Fit(model.Series{Values: h.Sold[:train]}, &res); err != nil {
							return err
						}
						sc[nfix+nb+j].Add(weight, metric.RMSSE(truth, res.Forecast, scale))
					}
				}
			}()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Merge: WRMSSE is a ratio of sums, so merge the sums.
	rep := &AccuracyReport{Series: series, WRMSSE: map[string]float64{}, WRMSSERaw: map[string]float64{},
		Chosen: map[string]int{}, ByProfile: map[string]map[string]float64{}}
	total := make([]metric.WRMSSE, nm)
	for p := range 3 {
		prof := make([]metric.WRMSSE, nm)
		for _, a := range accs {
			for j := range nm {
				prof[j].Merge(a.score[p][j])
				total[j].Merge(a.score[p][j])
			}
		}
		m := map[string]float64{"ours": prof[0].Value(), "oracle": prof[1].Value(), "oracle_nopromo": prof[3].Value()}
		for j, k := range opts.Baselines {
			m[k.String()] = prof[nfix+j].Value()
		}
		rep.ByProfile[world.Profile(p).String()] = m
	}
	for _, a := range accs {
		for k, v := range a.chosen {
			rep.Chosen[k] += v
		}
	}
	rep.WRMSSE["ours"] = total[0].Value()
	rep.Oracle = total[1].Value()
	rep.BacktestRMSSE = total[2].Value()
	rep.OracleNoPromo = total[3].Value()
	rep.OursBaseline = total[4].Value()
	for j, k := range opts.Baselines {
		rep.WRMSSE[k.String()] = total[nfix+j].Value()
		rep.WRMSSERaw[k.String()] = total[nfix+nb+j].Value()
	}
	return rep, nil
}

// liftKnown sets up to the demand multipliers of (loc, sku)'s promotions
// the ERP had published by day first−1 (as then published: a hard world's
// later or unpublished changes unknown), over the days from first (ws is
// scratch), and reports whether any day differs from 1.
func liftKnown(w *world.World, m *promo.Model, loc, sku, first int, fc, up []float64, ws *[]promo.Window) bool {
	*ws = (*ws)[:0]
	it := &w.Items()[sku]
	for _, p := range w.PublishedPromotions(loc, sku, first, nil) {
		if p.PublishDay() < first && p.End+promo.DipDays > first {
			*ws = append(*ws, promo.Window{First: p.Start, Last: p.End - 1, DiscountPct: float64(p.DiscountPct)})
		}
	}
	if len(*ws) == 0 {
		return false
	}
	m.Multipliers(up[:len(fc)], it.Department, first, *ws)
	return true
}

// revenue is the sales revenue of the last 28 days of sold, as a weight.
func revenue(w *world.World, loc, sku int, sold []float32) float64 {
	var units int64
	for _, s := range sold[max(len(sold)-28, 0):] {
		units += int64(s)
	}
	return float64(w.UnitPrice(loc, sku).Mul(units)) / 1e4
}

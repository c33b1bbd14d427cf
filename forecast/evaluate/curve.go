package evaluate

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/shelflake/shelflake/schema/world"
)

// DefaultCurveLevels are the service levels of the fill-rate-vs-inventory
// curve.
var DefaultCurveLevels = []float64{0.85, 0.90, 0.95, 0.98}

// defaultNaiveFactors are the naive policy's order-up-to scales its curve
// is drawn at.
var defaultNaiveFactors = []float64{0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3, 4}

// CurvePoint is one point of a policy's fill-rate-vs-inventory curve.
type CurvePoint struct {
	// ServiceLevel is what our policy asked of every series (ours), Factor
	// the naive policy's order-up-to scale (naive).
	ServiceLevel float64 `json:"service_level,omitempty"`
	Factor       float64 `json:"factor,omitempty"`
	FillRate     float64 `json:"fill_rate"`
	AvgInventory float64 `json:"avg_inventory"`
	// NaiveFactor, NaiveInventory and Reduction (ours only): the naive
	// policy's scale whose fill rate equals ours (bisected, as Replay's
	// naive_matched), its average inventory there, and 1 − ours/that.
	NaiveFactor    float64 `json:"naive_factor,omitempty"`
	NaiveInventory float64 `json:"naive_inventory_at_equal_fill_rate,omitempty"`
	Reduction      float64 `json:"inventory_reduction,omitempty"`
}

// Curve is the fill-rate-vs-inventory curve of our policy at several
// service levels and of the naive policy at several scales, over the same
// replayed days and demand.
type Curve struct {
	Ours  []CurvePoint `json:"ours"`
	Naive []CurvePoint `json:"naive"`
}

// ReplayCurve replays w's last days (opts as for Replay) once per service
// level of levels (DefaultCurveLevels when empty), asking it of every
// series, and the naive policy at a range of scales; each of our points
// carries the naive policy's inventory at the same fill rate. progress,
// when set, is called before each of our replays.
func ReplayCurve(ctx context.Context, w *world.World, opts ReplayOptions, levels []float64, progress func(sl float64)) (*Curve, error) {
	if len(levels) == 0 {
		levels = DefaultCurveLevels
	}
	c := &Curve{}
	for _, sl := range levels {
		if !(sl > 0 && sl < 1) {
			return nil, fmt.Errorf("service level %v: want in (0, 1)", sl)
		}
		if progress != nil {
			progress(sl)
		}
		o := opts
		o.ServiceLevel = sl
		rep, err := Replay(ctx, w, o)
		if err != nil {
			return nil, fmt.Errorf("service level %v: %w", sl, err)
		}
		c.Ours = append(c.Ours, CurvePoint{ServiceLevel: sl, FillRate: rep.Ours.FillRate(), AvgInventory: rep.Ours.AvgInventory(),
			NaiveFactor: rep.MatchFactor, NaiveInventory: rep.NaiveMatched.AvgInventory(), Reduction: rep.InventoryReduction()})
	}
	for _, f := range defaultNaiveFactors {
		st, err := replayNaive(ctx, w, opts, f)
		if err != nil {
			return nil, err
		}
		c.Naive = append(c.Naive, CurvePoint{Factor: f, FillRate: st.FillRate(), AvgInventory: st.AvgInventory()})
	}
	return c, nil
}

// NaiveInventoryAt interpolates the naive curve's average inventory at fill
// rate fr, linearly between its points ordered by fill rate; NaN outside
// its range.
func (c *Curve) NaiveInventoryAt(fr float64) float64 {
	pts := append([]CurvePoint(nil), c.Naive...)
	sort.Slice(pts, func(i, j int) bool { return pts[i].FillRate < pts[j].FillRate })
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if fr >= a.FillRate && fr <= b.FillRate {
			if b.FillRate == a.FillRate {
				return a.AvgInventory
			}
			t := (fr - a.FillRate) / (b.FillRate - a.FillRate)
			return a.AvgInventory + t*(b.AvgInventory-a.AvgInventory)
		}
	}
	return math.NaN()
}

// replayNaive replays the naive policy scaled by factor over the days
// Replay measures, every series, one goroutine (it simulates, it does not
// fit).
func replayNaive(ctx context.Context, w *world.World, opts ReplayOptions, factor float64) (world.Stats, error) {
	if opts.Days == 0 {
		opts.Days = 56
	}
	if opts.WarmupDays == 0 {
		opts.WarmupDays = 21
	}
	start := w.Days() - opts.Days
	takeover := start - max(opts.WarmupDays, 0)
	if takeover < 28 {
		return world.Stats{}, fmt.Errorf("world of %d days: too short for a %d-day replay", w.Days(), opts.Days)
	}
	var sum world.Stats
	sim := w.NewSim()
	p := scaledNaive{factor: factor}
	for loc := range w.NumStores() {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		for sku := range w.Items() {
			sim.Reset(loc, sku, nil)
			for sim.Day() < takeover && sim.Step() != nil {
			}
			sim.SetPolicy(p)
			for sim.Day() < start && sim.Step() != nil {
			}
			sim.ResetStats()
			sum = sum.Add(sim.Run())
		}
	}
	return sum, nil
}

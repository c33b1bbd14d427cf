package reconcile

import (
	"math"
	"sort"
	"testing"

	"github.com/shelflake/shelflake/schema/world"
)

// feedbackPolicy is the world's ERP policy (at scale) ordering from the
// reconciled on hand: when Detect sees open phantom stock in what the ERP
// knows (the published closing on hand and POS units of the days so far),
// the position counts the shelf as empty.
type feedbackPolicy struct {
	w         *world.World
	erp       world.ERPPolicy
	published []int64 // closing on hand published, by day
	used      int     // reviews whose position reconciliation changed
}

func (p *feedbackPolicy) Order(v *world.View) int64 {
	s := &Series{Location: "L", SKU: "K", Days: make([]Day, v.Day+1)}
	for i := range s.Days {
		d := &s.Days[i]
		d.Open, d.Sold, d.HasSnap = p.w.Open(v.Loc, i), v.Sold[i], true
		d.Snap = v.OnHand
		if i < v.Day {
			d.Snap = p.published[i]
		}
	}
	for _, f := range phantoms(s, Params{}.withDefaults()) {
		if f.Open {
			c := *v
			c.OnHand = 0
			p.used++
			return p.erp.Order(&c)
		}
	}
	return p.erp.Order(v)
}

// replayPoint is one policy's lost units and average inventory (units, all
// series together) at one scale.
type replayPoint struct {
	scale     float64
	lost      int64
	fill, inv float64
}

// lostAt interpolates a curve's lost units at average inventory inv,
// linearly between its points ordered by inventory; NaN outside its range.
func lostAt(curve []replayPoint, inv float64) float64 {
	pts := append([]replayPoint(nil), curve...)
	sort.Slice(pts, func(i, j int) bool { return pts[i].inv < pts[j].inv })
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if inv >= a.inv && inv <= b.inv {
			if b.inv == a.inv {
				return float64(a.lost)
			}
			t := (inv - a.inv) / (b.inv - a.inv)
			return float64(a.lost) + t*float64(b.lost-a.lost)
		}
	}
	return math.NaN()
}

// replayScales are the ERP policy's safety/order-up-to scales the replay
// sweeps.
var replayScales = []float64{0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.4, 1.6}

// TestReplayWithFeedback replays every store series of a faulted world
// under the ERP's policy ordering from its record, and again ordering from
// the reconciled position, each over a sweep of the policy's
// safety/order-up-to scale: at every scale where the two curves share an
// inventory level, the feedback loses fewer units than the record-driven
// policy holding the same average inventory.
func TestReplayWithFeedback(t *testing.T) {
	w, err := world.New(world.Config{Seed: 7, Stores: 8, SKUs: 60, Days: 100, Faults: testFaults()})
	if err != nil {
		t.Fatal(err)
	}
	series := float64(w.NumStores() * len(w.Items()))
	var base, fed []replayPoint
	used := 0
	sim := w.NewSim()
	for _, k := range replayScales {
		var bs, fs world.Stats
		erp := world.ERPPolicy{Scale: k}
		for loc := range w.NumStores() {
			for sku := range w.Items() {
				sim.Reset(loc, sku, erp)
				for sim.Step() != nil {
				}
				bs = bs.Add(sim.Stats())
				fp := &feedbackPolicy{w: w, erp: erp}
				sim.Reset(loc, sku, fp)
				for r := sim.Step(); r != nil; r = sim.Step() {
					fp.published = append(fp.published, r.Fault.Published)
				}
				fs = fs.Add(sim.Stats())
				used += fp.used
			}
		}
		base = append(base, replayPoint{k, bs.Lost, bs.FillRate(), bs.AvgInventory() * series})
		fed = append(fed, replayPoint{k, fs.Lost, fs.FillRate(), fs.AvgInventory() * series})
	}
	if used == 0 {
		t.Fatal("reconciliation changed no review")
	}
	compared := 0
	for i, f := range fed {
		b := base[i]
		at := lostAt(base, f.inv)
		t.Logf("scale %.2f: from the record lost %5d (fill %.4f) at inventory %6.0f; reconciled lost %5d (fill %.4f) at inventory %6.0f; record-driven at that inventory %7.1f",
			f.scale, b.lost, b.fill, b.inv, f.lost, f.fill, f.inv, at)
		if math.IsNaN(at) {
			continue
		}
		compared++
		if float64(f.lost) >= at {
			t.Errorf("scale %.2f: with feedback %d units lost at average inventory %.0f, without %.1f at the same inventory", f.scale, f.lost, f.inv, at)
		}
	}
	if compared < len(replayScales)/2 {
		t.Errorf("only %d of %d scales fall inside the record-driven curve's inventory range", compared, len(replayScales))
	}
}

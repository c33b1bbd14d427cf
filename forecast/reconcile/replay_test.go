package reconcile

import (
	"testing"

	"github.com/shelflake/shelflake/schema/world"
)

// feedbackPolicy is the world's ERP policy ordering from the reconciled
// on hand: when Detect sees open phantom stock in what the ERP knows (the
// published closing on hand and POS units of the days so far), the
// position counts the shelf as empty.
type feedbackPolicy struct {
	w         *world.World
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
			return world.ERPPolicy{}.Order(&c)
		}
	}
	return world.ERPPolicy{}.Order(v)
}

// TestReplayWithFeedback replays every store series of a faulted world
// under the ERP's policy ordering from its record, and again ordering from
// the reconciled position: the feedback loses fewer units to phantom stock
// at about the same inventory.
func TestReplayWithFeedback(t *testing.T) {
	w, err := world.New(world.Config{Seed: 7, Stores: 8, SKUs: 60, Days: 100, Faults: testFaults()})
	if err != nil {
		t.Fatal(err)
	}
	var base, fed world.Stats
	used := 0
	sim := w.NewSim()
	for loc := range w.NumStores() {
		for sku := range w.Items() {
			sim.Reset(loc, sku, nil)
			for sim.Step() != nil {
			}
			base = base.Add(sim.Stats())
			fp := &feedbackPolicy{w: w}
			sim.Reset(loc, sku, fp)
			for r := sim.Step(); r != nil; r = sim.Step() {
				fp.published = append(fp.published, r.Fault.Published)
			}
			fed = fed.Add(sim.Stats())
			used += fp.used
		}
	}
	t.Logf("ERP from its record:        lost %d units, fill rate %.4f, average inventory %.0f", base.Lost, base.FillRate(), base.AvgInventory()*float64(w.NumStores()*len(w.Items())))
	t.Logf("ERP from the reconciliation: lost %d units, fill rate %.4f, average inventory %.0f (%d reviews changed)", fed.Lost, fed.FillRate(), fed.AvgInventory()*float64(w.NumStores()*len(w.Items())), used)
	if used == 0 || fed.Lost >= base.Lost {
		t.Errorf("feedback lost %d units, without %d", fed.Lost, base.Lost)
	}
	if inv := fed.AvgInventory() / base.AvgInventory(); inv > 1.02 {
		t.Errorf("feedback holds %.1f%% more inventory: not a like-for-like comparison", 100*(inv-1))
	}
}

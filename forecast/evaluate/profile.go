package evaluate

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/shelflake/shelflake/schema/world"
)

// profiles are pooled weekly demand profiles per store and department: the
// share of each weekday in the non-censored, non-promotion sales of all the
// department's SKUs in the store over the training days. This is what the
// relational side computes for the forecaster in production (a GROUP BY over
// the daily series), here from the world's simulated sales.
type profiles struct {
	depts  map[string]int
	season [][7]float32 // [loc*len(depts)+dept]
}

func (p *profiles) of(w *world.World, loc, sku int) []float32 {
	return p.season[loc*len(p.depts)+p.depts[w.Items()[sku].Department]][:]
}

func weeklyProfiles(ctx context.Context, w *world.World, train, workers int) (*profiles, error) {
	p := &profiles{depts: map[string]int{}}
	for _, it := range w.Items() {
		if _, ok := p.depts[it.Department]; !ok {
			p.depts[it.Department] = len(p.depts)
		}
	}
	nd := len(p.depts)
	sums := make([][7]float64, w.NumStores()*nd)
	cnts := make([][7]float64, w.NumStores()*nd)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range workers {
		wg.Go(func() {
			sim := w.NewSim()
			var h History
			for {
				loc := int(next.Add(1) - 1)
				if loc >= w.NumStores() || ctx.Err() != nil {
					return
				}
				var s, c = make([][7]float64, nd), make([][7]float64, nd)
				for sku := range w.Items() {
					Observe(w, sim, loc, sku, train, &h)
					d := p.depts[w.Items()[sku].Department]
					for t, v := range h.Sold {
						if h.Censored[t] || h.Promo[t] {
							continue
						}
						s[d][t%7] += float64(v)
						c[d][t%7]++
					}
				}
				mu.Lock()
				copy(sums[loc*nd:], s)
				copy(cnts[loc*nd:], c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.season = make([][7]float32, len(sums))
	for i := range sums {
		for j := range 7 {
			if cnts[i][j] > 0 {
				p.season[i][j] = float32(sums[i][j] / cnts[i][j])
			}
		}
	}
	return p, nil
}

package job

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/forecast/engine"
	"github.com/shelflake/shelflake/forecast/gbm"
	"github.com/shelflake/shelflake/schema"
)

// The global model (see the package doc): one Poisson gradient-boosted
// tree model (forecast/gbm) pooled over series, trained on the series of
// the first whole locations (about globalSeries) at past weekly origins, predicting each series' daily
// demand over the horizon from features of its history, its store's trend
// and its department's weekly profile. Its forecast is combined with the
// series' own.

// Global model defaults.
const (
	globalSeries  = 20000  // series the training set is drawn from
	globalOrigins = 8      // past weekly origins in the training set
	globalRows    = 300000 // most training rows
	globalMinDays = 28     // fewest history days before a training origin
	globalWeight  = 0.5    // the global forecast's share of the combination
	globalSeed    = 20111209
)

// Feature columns of the global model, per (series, origin, day h).
const (
	fH = iota
	fWeekday
	fLogLevel // log1p of the mean demand per trading day over the last 91
	fRatio7   // mean of the last 7 trading days ÷ level
	fRatio28
	fSameWeekday // mean of the last 4 trading days on the target's weekday ÷ level
	fTrend       // last 28 trading days ÷ the 28 before
	fSinceSale   // days since the last sale
	fZeroShare   // share of zero days among the last 91 trading days
	fSize        // mean non-zero demand ÷ level
	fLocTrend    // the location's last 28 days ÷ the 28 before
	fAge         // days of history
	fDeptWeekday // the store-department weekly profile at the target weekday ÷ its mean
	numFeatures
)

// globalInfo is what forecast_runs.parameters records of the global model.
type globalInfo struct {
	Used         bool    `json:"used"`
	Reason       string  `json:"reason,omitempty"`
	Weight       float64 `json:"weight"`
	TrainSeries  int     `json:"train_series"`
	TrainRows    int     `json:"train_rows"`
	Trees        int     `json:"trees"`
	TrainSeconds float64 `json:"train_seconds"`
	// PredictSeconds sums the prediction time over the buckets.
	PredictSeconds float64 `json:"predict_seconds"`
	Origins        int     `json:"origins"`
}

// global is the run's global model and its forecasts on their way from the
// producer to the sink.
type global struct {
	model *gbm.Model
	info  globalInfo
	mu    sync.Mutex
	fc    map[int64][]float32
}

// take removes and returns series id's global forecast (nil without one).
func (g *global) take(id int64) []float32 {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fc[id]
	delete(g.fc, id)
	return f
}

// view is one series of a batch, for feature building.
type view struct {
	vals             []float32
	closed, censored []bool
	promo            []bool
	start            schema.Date
	season           []float32
	loc              []float64 // the location's daily demand from histStart
	locOff           int       // the series' first day in loc
}

// trading-day summaries of a series: prefix sums over its trading days.
type prefix struct {
	idx     []int32   // trading days' positions
	sum, nz []float64 // prefix sums of demand and of non-zero days
	last    []int32   // last sale position at or before each position (-1)
}

func newPrefix(v *view) *prefix {
	p := &prefix{sum: []float64{0}, nz: []float64{0}, last: make([]int32, len(v.vals))}
	ls := int32(-1)
	for t, x := range v.vals {
		if x > 0 {
			ls = int32(t)
		}
		p.last[t] = ls
		if v.closed != nil && v.closed[t] {
			continue
		}
		p.idx = append(p.idx, int32(t))
		nz := 0.0
		if x > 0 {
			nz = 1
		}
		p.sum = append(p.sum, p.sum[len(p.sum)-1]+float64(x))
		p.nz = append(p.nz, p.nz[len(p.nz)-1]+nz)
	}
	return p
}

// originFeatures are the features of a series at origin T (positions < T
// known) that do not depend on the target day, and its log offset.
type originFeatures struct {
	level, ratio7, ratio28, trend, since, zero, size, locTrend, age float32
	offset                                                          float32
	ok                                                              bool
}

func (p *prefix) origin(v *view, T int) originFeatures {
	// k trading days before T.
	k := 0
	lo, hi := 0, len(p.idx)
	for lo < hi {
		m := (lo + hi) / 2
		if int(p.idx[m]) < T {
			lo = m + 1
		} else {
			hi = m
		}
	}
	k = lo
	if k == 0 {
		return originFeatures{}
	}
	mean := func(from, to int) (float64, int) { // trading days [k-to, k-from)
		a, b := max(k-to, 0), max(k-from, 0)
		if b <= a {
			return 0, 0
		}
		return (p.sum[b] - p.sum[a]) / float64(b-a), b - a
	}
	m7, _ := mean(0, 7)
	m28, _ := mean(0, 28)
	m91, n91 := mean(0, 91)
	prev, np := mean(28, 56)
	a91 := max(k-91, 0)
	nz := p.nz[k] - p.nz[a91]
	f := originFeatures{ok: true}
	const eps = 0.01
	lvl := m91 + eps
	f.level = float32(math.Log1p(m91))
	f.ratio7, f.ratio28 = float32(m7/lvl), float32(m28/lvl)
	f.trend = 1
	if np > 0 {
		f.trend = float32((m28 + eps) / (prev + eps))
	}
	f.since = 400
	if l := p.last[T-1]; l >= 0 {
		f.since = float32(min(T-1-int(l), 400))
	}
	f.zero = float32(1 - nz/float64(n91))
	if nz > 0 {
		f.size = float32((p.sum[k] - p.sum[a91]) / nz / lvl)
	}
	f.locTrend = 1
	if v.loc != nil {
		e := v.locOff + T // the origin's position in loc
		var last, before float64
		for d := max(e-28, 0); d < e; d++ {
			last += v.loc[d]
		}
		for d := max(e-56, 0); d < max(e-28, 0); d++ {
			before += v.loc[d]
		}
		if before > 0 {
			f.locTrend = float32((last + 1) / (before + 1))
		}
	}
	f.age = float32(min(T, 730))
	f.offset = float32(math.Log(lvl))
	return f
}

// row fills x with the features of target position T+h of a series.
func (p *prefix) row(v *view, f *originFeatures, T, h int, x []float32) {
	wd := int((v.start + schema.Date(T+h)) % 7)
	x[fH], x[fWeekday] = float32(h), float32(wd)
	x[fLogLevel], x[fRatio7], x[fRatio28] = f.level, f.ratio7, f.ratio28
	x[fTrend], x[fSinceSale], x[fZeroShare], x[fSize] = f.trend, f.since, f.zero, f.size
	x[fLocTrend], x[fAge] = f.locTrend, f.age
	// Same weekday: the last 4 trading days before T on the target's
	// weekday.
	var s float64
	n := 0
	t := T + h
	for t >= T {
		t -= 7
	}
	for ; t >= 0 && n < 4 && t >= T-8*7; t -= 7 {
		if v.closed == nil || !v.closed[t] {
			s += float64(v.vals[t])
			n++
		}
	}
	x[fSameWeekday] = 1
	if n > 0 {
		x[fSameWeekday] = float32(s / float64(n) / math.Exp(float64(f.offset)))
	}
	x[fDeptWeekday] = 1
	if len(v.season) == 7 {
		var m float32
		for _, q := range v.season {
			m += q
		}
		if m > 0 {
			// Season is aligned to the series' first day.
			x[fDeptWeekday] = v.season[(T+h)%7] * 7 / m
		}
	}
}

// locationDemand sums the daily demand of each location in batches (whole
// locations) over the history window.
func (r *runner) locationDemand(batches []*engine.Batch) map[string][]float64 {
	n := int(r.o.AsOf - r.histStart)
	out := map[string][]float64{}
	for _, b := range batches {
		for i, id := range b.Keys {
			a := &r.attrs[id]
			l := out[a.loc]
			if l == nil {
				l = make([]float64, n)
				out[a.loc] = l
			}
			off := int(a.start - r.histStart)
			for t := b.Offsets[i]; t < b.Offsets[i+1]; t++ {
				l[off+int(t-b.Offsets[i])] += float64(b.Values[t])
			}
		}
	}
	return out
}

func (r *runner) view(b *engine.Batch, i int, locs map[string][]float64) *view {
	a := &r.attrs[b.Keys[i]]
	lo, hi := b.Offsets[i], b.Offsets[i+1]
	v := &view{vals: b.Values[lo:hi], start: a.start, loc: locs[a.loc], locOff: int(a.start - r.histStart)}
	if b.Closed != nil {
		v.closed = b.Closed[lo:hi]
	}
	if b.Censored != nil {
		v.censored = b.Censored[lo:hi]
	}
	if b.Promo != nil {
		v.promo = b.Promo[lo:hi]
	}
	if b.Season != nil {
		v.season = b.Season[7*i : 7*i+7]
	}
	return v
}

// trainGlobal trains the global model on batches (the training bucket's,
// with calendars and seasons set): rows are (series, origin, day) for weekly
// origins ending Horizon days before the as-of date, target days that
// trade and are neither censored nor promoted, sampled down to globalRows.
func (r *runner) trainGlobal(g *global, batches []*engine.Batch) error {
	start := time.Now()
	H := r.o.Horizon
	g.info.Origins = globalOrigins
	locs := r.locationDemand(batches)
	est := 0
	for _, b := range batches {
		for i := range b.Len() {
			n := int(b.Offsets[i+1] - b.Offsets[i])
			for k := range globalOrigins {
				if n-H-7*k >= globalMinDays {
					est += H
				}
			}
		}
	}
	if est == 0 {
		g.info.Reason = "no series with enough history"
		return nil
	}
	keep := min(1, float64(globalRows)/float64(est))
	rng := rand.New(rand.NewPCG(globalSeed, uint64(r.o.AsOf)))
	X := make([][]float32, numFeatures)
	var y, off []float32
	x := make([]float32, numFeatures)
	series := 0
	for _, b := range batches {
		for i := range b.Len() {
			v := r.view(b, i, locs)
			n := len(v.vals)
			if n-H < globalMinDays {
				continue
			}
			var p *prefix
			used := false
			for k := range globalOrigins {
				T := n - H - 7*k
				if T < globalMinDays {
					break
				}
				var f originFeatures
				for h := range H {
					t := T + h
					if (v.closed != nil && v.closed[t]) || (v.censored != nil && v.censored[t]) || (v.promo != nil && v.promo[t]) {
						continue
					}
					if keep < 1 && rng.Float64() >= keep {
						continue
					}
					if p == nil {
						p = newPrefix(v)
					}
					if !f.ok {
						if f = p.origin(v, T); !f.ok {
							break
						}
					}
					p.row(v, &f, T, h, x)
					for j := range x {
						X[j] = append(X[j], x[j])
					}
					y = append(y, v.vals[t])
					off = append(off, f.offset)
					used = true
				}
			}
			if used {
				series++
			}
		}
	}
	g.info.TrainSeries, g.info.TrainRows = series, len(y)
	if len(y) < 1000 {
		g.info.Reason = fmt.Sprintf("%d training rows: too few", len(y))
		return nil
	}
	m, err := gbm.Train(X, y, off, gbm.Options{Seed: globalSeed, Workers: r.o.Workers})
	if err != nil {
		return fmt.Errorf("global model: %w", err)
	}
	g.model, g.info.Used, g.info.Trees = m, true, m.Trees()
	g.info.TrainSeconds = time.Since(start).Seconds()
	r.log.Info("global model trained", "series", series, "rows", len(y), "seconds", g.info.TrainSeconds)
	return nil
}

// predictGlobal forecasts every series of batches (with calendars and
// seasons set) with the global model, Model.ForecastDays days from the
// as-of date; closed forecast days are 0.
func (r *runner) predictGlobal(ctx context.Context, g *global, batches []*engine.Batch) error {
	if g == nil || g.model == nil {
		return nil
	}
	start := time.Now()
	locs := r.locationDemand(batches)
	days := r.o.Model.ForecastDays
	eg, _ := errgroup.WithContext(ctx)
	eg.SetLimit(r.o.Workers)
	for _, b := range batches {
		eg.Go(func() error {
			x := make([]float32, numFeatures)
			res := make(map[int64][]float32, b.Len())
			for i, id := range b.Keys {
				v := r.view(b, i, locs)
				T := len(v.vals)
				fc := make([]float32, days)
				p := newPrefix(v)
				f := p.origin(v, T)
				if !f.ok {
					continue
				}
				for h := range days {
					if b.ClosedAhead != nil && h < len(b.ClosedAhead[i]) && b.ClosedAhead[i][h] {
						continue
					}
					p.row(v, &f, T, h, x)
					fc[h] = float32(g.model.Predict(x, float64(f.offset)))
				}
				res[id] = fc
			}
			g.mu.Lock()
			for id, fc := range res {
				g.fc[id] = fc
			}
			g.mu.Unlock()
			return nil
		})
	}
	err := eg.Wait()
	g.mu.Lock()
	g.info.PredictSeconds += time.Since(start).Seconds()
	g.mu.Unlock()
	return err
}

package backtest

import (
	"math"
	"slices"
	"sort"

	"github.com/shelflake/shelflake/forecast/metric"
)

// Levels, in report order. LevelAll is the mean of the others' WRMSSE (as
// the M5 competition averaged its levels).
const (
	LevelStoreSKU   = "store_sku"
	LevelSKUWeekly  = "sku_weekly"
	LevelStore      = "store"
	LevelDepartment = "department"
	LevelCategory   = "category"
	LevelTotal      = "total"
	LevelAll        = "all_levels"
)

// LevelScore is the accuracy of every method at one level of aggregation.
type LevelScore struct {
	Level string `json:"level"`
	// Series counts the level's series with a positive weight (for
	// all_levels: the levels averaged).
	Series int `json:"series"`
	// WRMSSE by method: Σ wᵢ·RMSSEᵢ / Σ wᵢ, wᵢ the series' net sales over
	// the 28 days before the origin.
	WRMSSE map[string]Score `json:"wrmsse"`
	// MeanRMSSE by method: the unweighted mean RMSSE of the series with a
	// sale in their history.
	MeanRMSSE map[string]Score `json:"mean_rmsse,omitempty"`
	// BestSimple is the baseline with the lowest WRMSSE; VsBestSimple and
	// VsSNaive are ours ÷ that baseline's WRMSSE (below 1: ours is better).
	BestSimple   string `json:"best_simple"`
	VsBestSimple Score  `json:"ours_vs_best_simple"`
	VsSNaive     Score  `json:"ours_vs_snaive"`
}

func (s *LevelScore) ratios() {
	best, v := "", math.Inf(1)
	for _, m := range Methods[1:] {
		if x := float64(s.WRMSSE[m]); x < v {
			best, v = m, x
		}
	}
	s.BestSimple = best
	ours := float64(s.WRMSSE[Ours])
	s.VsBestSimple = Score(ours / v)
	s.VsSNaive = Score(ours / float64(s.WRMSSE[SNaive]))
}

// aggSeries accumulates one aggregate series.
type aggSeries struct {
	hist, act []float64
	fc        [][]float64
	weight    float64
}

// aggLevel is one level being accumulated.
type aggLevel struct {
	name   string
	weekly bool
	key    func(i int) string
	series map[string]*aggSeries
}

// originScorer scores one origin's forecasts, series by series.
type originScorer struct {
	p       *panel
	horizon int
	nm      int
	bottom  []metric.WRMSSE
	mean    []meanAcc
	levels  []*aggLevel
	units   []float64
	actual  float64
	// inStockUnits and inStockActual are units and actual over the
	// horizon days without a stockout.
	inStockUnits  []float64
	inStockActual float64
	scored        int
}

type meanAcc struct {
	sum float64
	n   int
}

func (m meanAcc) value() float64 {
	if m.n == 0 {
		return math.NaN()
	}
	return m.sum / float64(m.n)
}

func newOriginScorer(p *panel, horizon int) *originScorer {
	nm := len(Methods)
	s := &originScorer{p: p, horizon: horizon, nm: nm, bottom: make([]metric.WRMSSE, nm), mean: make([]meanAcc, nm), units: make([]float64, nm),
		inStockUnits: make([]float64, nm)}
	hasDept, hasCat := false, false
	for i := range p.keys {
		hasDept = hasDept || p.dept[i] != ""
		hasCat = hasCat || p.cat[i] != ""
	}
	named := func(v string) string {
		if v == "" {
			return "(none)"
		}
		return v
	}
	s.levels = append(s.levels,
		&aggLevel{name: LevelSKUWeekly, weekly: true, key: func(i int) string { return p.keys[i].sku }},
		&aggLevel{name: LevelStore, key: func(i int) string { return p.keys[i].store }})
	if hasDept {
		s.levels = append(s.levels, &aggLevel{name: LevelDepartment, key: func(i int) string { return named(p.dept[i]) }})
	}
	if hasCat {
		s.levels = append(s.levels, &aggLevel{name: LevelCategory, key: func(i int) string { return named(p.cat[i]) }})
	}
	s.levels = append(s.levels, &aggLevel{name: LevelTotal, key: func(int) string { return "" }})
	for _, l := range s.levels {
		l.series = map[string]*aggSeries{}
	}
	return s
}

// add scores series i: its history window hist, actuals act, forecasts
// fc[m] per method and weight (net sales of the last 28 days of history);
// out, when not nil, flags the horizon days with a stockout.
func (s *originScorer) add(i int, hist, act []float64, fc [][]float64, weight float64, out []bool) {
	weight = max(weight, 0)
	s.scored++
	for h, v := range act {
		if out == nil || !out[h] {
			s.inStockActual += v
			for m := range s.nm {
				s.inStockUnits[m] += fc[m][h]
			}
		}
	}
	scale := metric.NaiveScale(hist, nil)
	sold := slices.ContainsFunc(hist, func(v float64) bool { return v > 0 })
	for m := range s.nm {
		r := metric.RMSSE(act, fc[m], scale)
		s.bottom[m].Add(weight, r)
		if sold {
			s.mean[m].sum += r
			s.mean[m].n++
		}
		for _, v := range fc[m] {
			s.units[m] += v
		}
	}
	for _, v := range act {
		s.actual += v
	}
	for _, l := range s.levels {
		k := l.key(i)
		a := l.series[k]
		if a == nil {
			a = &aggSeries{hist: make([]float64, len(hist)), act: make([]float64, len(act)), fc: make([][]float64, s.nm)}
			for m := range a.fc {
				a.fc[m] = make([]float64, len(act))
			}
			l.series[k] = a
		}
		a.weight += weight
		addTo(a.hist, hist)
		addTo(a.act, act)
		for m := range a.fc {
			addTo(a.fc[m], fc[m])
		}
	}
}

func addTo(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}

// weekly sums y into 7-day buckets aligned to its end (a partial bucket at
// the start is dropped; align to the start with fromStart).
func weekly(y []float64, fromStart bool) []float64 {
	n := len(y) / 7
	out := make([]float64, n)
	off := len(y) - 7*n
	if fromStart {
		off = 0
	}
	for w := range n {
		for _, v := range y[off+7*w : off+7*w+7] {
			out[w] += v
		}
	}
	return out
}

// result returns the origin's scores, bottom level first.
func (s *originScorer) result() []LevelScore {
	bottom := LevelScore{Level: LevelStoreSKU, Series: s.bottom[0].Series(), WRMSSE: map[string]Score{}, MeanRMSSE: map[string]Score{}}
	for m, name := range Methods {
		bottom.WRMSSE[name] = Score(s.bottom[m].Value())
		bottom.MeanRMSSE[name] = Score(s.mean[m].value())
	}
	bottom.ratios()
	out := []LevelScore{bottom}
	for _, l := range s.levels {
		ls := LevelScore{Level: l.name, WRMSSE: map[string]Score{}, MeanRMSSE: map[string]Score{}}
		acc := make([]metric.WRMSSE, s.nm)
		mean := make([]meanAcc, s.nm)
		keys := make([]string, 0, len(l.series))
		for k := range l.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			a := l.series[k]
			hist, act := a.hist, a.act
			if l.weekly {
				hist, act = weekly(hist, false), weekly(act, true)
			}
			scale := metric.NaiveScale(hist, nil)
			sold := slices.ContainsFunc(hist, func(v float64) bool { return v > 0 })
			for m := range s.nm {
				fc := a.fc[m]
				if l.weekly {
					fc = weekly(fc, true)
				}
				r := metric.RMSSE(act, fc, scale)
				acc[m].Add(a.weight, r)
				if sold {
					mean[m].sum += r
					mean[m].n++
				}
			}
		}
		ls.Series = acc[0].Series()
		for m, name := range Methods {
			ls.WRMSSE[name] = Score(acc[m].Value())
			ls.MeanRMSSE[name] = Score(mean[m].value())
		}
		ls.ratios()
		out = append(out, ls)
	}
	return append(out, allLevels(out))
}

// allLevels is the mean of the levels' WRMSSE per method.
func allLevels(levels []LevelScore) LevelScore {
	all := LevelScore{Level: LevelAll, Series: len(levels), WRMSSE: map[string]Score{}}
	for _, name := range Methods {
		var sum float64
		n := 0
		for _, l := range levels {
			if v := float64(l.WRMSSE[name]); !math.IsNaN(v) {
				sum += v
				n++
			}
		}
		all.WRMSSE[name] = Score(sum / float64(n))
	}
	all.ratios()
	return all
}

// meanLevels averages the origins' scores level by level and method by
// method (a level missing at an origin is left out there); the ratios are
// those of the means.
func meanLevels(origins []OriginResult, levels func(*OriginResult) []LevelScore) []LevelScore {
	var order []string
	byLevel := map[string][]LevelScore{}
	for i := range origins {
		for _, l := range levels(&origins[i]) {
			if _, ok := byLevel[l.Level]; !ok {
				order = append(order, l.Level)
			}
			byLevel[l.Level] = append(byLevel[l.Level], l)
		}
	}
	out := make([]LevelScore, 0, len(order))
	for _, name := range order {
		ls := byLevel[name]
		m := LevelScore{Level: name, WRMSSE: map[string]Score{}, MeanRMSSE: map[string]Score{}}
		for _, meth := range Methods {
			m.WRMSSE[meth] = meanFinite(ls, func(l LevelScore) Score { return l.WRMSSE[meth] })
			if name != LevelAll {
				m.MeanRMSSE[meth] = meanFinite(ls, func(l LevelScore) Score { return l.MeanRMSSE[meth] })
			}
		}
		if name == LevelAll {
			m.MeanRMSSE = nil
		}
		for _, l := range ls {
			m.Series = max(m.Series, l.Series)
		}
		m.ratios()
		out = append(out, m)
	}
	return out
}

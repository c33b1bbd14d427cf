package world

import (
	"math"
	"math/bits"
	"sync"

	"github.com/shelflake/shelflake/schema"
)

const golden = 0x9e3779b97f4a7c15

// mix64 is SplitMix64's finaliser: a bijective 64-bit hash.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Purposes of per-series draws: each has its own stream per day, so the
// number of draws made for one never shifts another.
const (
	purposeSeries uint64 = iota + 1
	purposeDemand
	purposeSupply
	purposeReturns
	purposeRender
	purposeBad
)

// stream is a counter-based SplitMix64 generator: a value type, so drawing
// allocates nothing.
type stream struct{ s uint64 }

// streamAt starts the stream of (key, day, purpose).
func streamAt(key uint64, day int, purpose uint64) stream {
	return stream{s: mix64(key ^ mix64(uint64(int64(day))*golden+purpose*0xd1b54a32d192ed03))}
}

func (r *stream) Uint64() uint64 {
	r.s += golden
	return mix64(r.s)
}

// Float64 returns a uniform value in [0, 1).
func (r *stream) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// IntN returns a uniform value in [0, n); n > 0.
func (r *stream) IntN(n int) int {
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// normN is the resolution of the normal quantile table.
const normN = 1 << 12

// normTable holds the standard normal quantiles at (i+½)/normN: a constant,
// computed once.
var normTable = sync.OnceValue(func() *[normN]float64 {
	var t [normN]float64
	for i := range t {
		t[i] = math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/normN-1)
	}
	return &t
})

// Norm returns a standard normal value: the inverse CDF of one uniform,
// interpolated in a table (tails cut at ±3.5σ, which a retail world never
// misses).
func (r *stream) Norm() float64 {
	t := normTable()
	x := r.Float64()*normN - 0.5
	if x <= 0 {
		return t[0]
	}
	i := int(x)
	if i >= normN-1 {
		return t[normN-1]
	}
	f := x - float64(i)
	return t[i] + f*(t[i+1]-t[i])
}

// poisson draws a Poisson(lam) count: inversion below 30, normal
// approximation above.
func (r *stream) poisson(lam float64) int64 {
	if !(lam > 0) {
		return 0
	}
	if lam < 30 {
		u := r.Float64()
		if u < 1-lam { // e^-λ ≥ 1−λ: certainly 0, no exp needed
			return 0
		}
		p := math.Exp(-lam)
		s := p
		var k int64
		for u > s && p > 0 {
			k++
			p *= lam / float64(k)
			s += p
		}
		return k
	}
	x := math.Floor(lam + math.Sqrt(lam)*r.Norm() + 0.5)
	if x < 0 {
		return 0
	}
	return int64(x)
}

func seriesKey(seed uint64, loc, sku int) uint64 {
	return mix64(mix64(mix64(seed+0x5eed)+uint64(loc)*golden) + uint64(sku)*0xd1b54a32d192ed03)
}

// seriesInfo is everything the model needs about one location-SKU series,
// computed once per series.
type seriesInfo struct {
	key     uint64
	loc     int
	sku     int
	profile Profile
	base    float64 // mean units/day, or selling-day probability (intermittent)
	lump    float64 // intermittent: mean units on a selling day
	trend   float64 // demand change per year, as a fraction
	noise   float64 // log-normal sigma of day-to-day rate noise (fast movers)
	mult    []float32
	promos  []Promotion
	params  [2]ItemParams // initial, and after the update (if any)
	update  int           // day index of the update, or -1
	sup     *Supplier
	hard    bool       // the world is hard: hs applies
	hs      hardSeries // hard world only
}

// paramsAt returns the parameters in force on day.
func (si *seriesInfo) paramsAt(day int) *ItemParams {
	if si.update >= 0 && day >= si.update {
		return &si.params[1]
	}
	return &si.params[0]
}

// ItemParams are the replenishment parameters of one location-SKU, as
// published on erp.item_locations, plus the ERP's planning estimate.
type ItemParams struct {
	SupplierID       string
	LeadTimeDays     int
	ReviewPeriodDays int
	CasePack         int
	MOQ              int
	UnitCost         schema.Money
	UnitPrice        schema.Money
	Currency         string
	ServiceLevel     float64
	Active           bool
	// ReviewPhase is the first review day: the series is reviewed on days
	// ReviewPhase + k·ReviewPeriodDays.
	ReviewPhase int
	// From is the first day index these parameters apply to (0, or the day
	// of an update).
	From int
	// PlanMean and PlanSD are the planner's estimate of mean daily demand
	// and its standard deviation (set up front, with an estimation error). They
	// are on no stream; the world's ERPPolicy starts from them.
	PlanMean, PlanSD float64

	z float64 // ZScore(ServiceLevel), when set by the world
}

// zScore returns the normal quantile of the service level.
func (p *ItemParams) zScore() float64 {
	if p.z != 0 {
		return p.z
	}
	return ZScore(p.ServiceLevel)
}

var serviceLevels = [3][]float64{
	Fast:         {0.95, 0.97, 0.98},
	Slow:         {0.9, 0.95, 0.95},
	Intermittent: {0.85, 0.9, 0.9},
}

// seriesInfo fills si for (loc, sku).
func (w *World) seriesInfo(loc, sku int, si *seriesInfo) {
	it := &w.items[sku]
	l := &w.locs[loc]
	key := seriesKey(w.cfg.Seed, loc, sku)
	r := streamAt(key, -1, purposeSeries)
	hs := si.hs // keeps its scratch
	*si = seriesInfo{key: key, loc: loc, sku: sku, profile: it.Profile,
		mult: w.mult[l.cal()][it.cat], promos: it.Promotions, sup: &w.suppliers[it.Supplier], update: -1,
		hard: w.hard != nil, hs: hs}
	f := l.SizeFactor * math.Exp(0.35*r.Norm()-0.06)
	si.trend = min(max(0.15*r.Norm(), -0.45), 0.45)
	var mean, variance float64
	switch it.Profile {
	case Fast:
		si.base = it.Base * f
		si.noise = 0.15 + 0.2*r.Float64()
		mean = si.base
		variance = mean + mean*mean*(math.Exp(si.noise*si.noise)-1)
	case Slow:
		si.base = it.Base * f
		mean, variance = si.base, si.base
	case Intermittent:
		g := math.Sqrt(f)
		si.base = min(it.Base*g, 0.9)
		si.lump = 1 + (it.LumpSize-1)*g
		mean = si.base * si.lump
		ex2 := (si.lump - 1) + si.lump*si.lump
		variance = si.base*ex2 - mean*mean
	}
	planErr := math.Exp(0.2*r.Norm() - 0.02)
	p := &si.params[0]
	*p = ItemParams{
		SupplierID:   si.sup.ID,
		LeadTimeDays: si.sup.LeadTimeDays,
		CasePack:     it.CasePack,
		UnitCost:     w.baseCost(loc, sku),
		UnitPrice:    w.UnitPrice(loc, sku),
		Currency:     l.Currency,
		ServiceLevel: serviceLevels[it.Profile][r.IntN(3)],
		Active:       true,
		PlanMean:     mean * planErr,
		PlanSD:       math.Sqrt(max(variance, 1e-9)) * planErr,
	}
	switch {
	case l.Kind == KindDC:
		p.ReviewPeriodDays = 7
		p.CasePack *= 10
	case it.Profile == Fast:
		p.ReviewPeriodDays = 1 + r.IntN(3)
	case it.Profile == Slow:
		p.ReviewPeriodDays = []int{3, 7}[r.IntN(2)]
	default:
		p.ReviewPeriodDays = []int{7, 14}[r.IntN(2)]
	}
	p.z = ZScore(p.ServiceLevel)
	p.MOQ = p.CasePack * (1 + r.IntN(2))
	p.ReviewPhase = r.IntN(p.ReviewPeriodDays)
	// A few series get a parameter update part-way: a cost rise and a new
	// service level.
	if w.cfg.Days > 1 && r.Float64() < 0.03 {
		si.update = 1 + r.IntN(w.cfg.Days-1)
		q := *p
		q.From = si.update
		q.UnitCost = schema.Money(int64(p.UnitCost) * (10200 + int64(r.IntN(600))) / 10000)
		q.ServiceLevel = serviceLevels[it.Profile][r.IntN(3)]
		q.z = ZScore(q.ServiceLevel)
		si.params[1] = q
	}
	if si.hard {
		w.hardSeriesInfo(si)
	}
}

// promoFactor is the demand multiplier of promotions on day: the lift while
// one runs, 0.85 for three days after.
func promoFactor(ps []Promotion, day int) float64 {
	for i := range ps {
		p := &ps[i]
		if day < p.Start {
			break
		}
		if day < p.End {
			return p.Lift
		}
		if day < p.End+3 && (i+1 == len(ps) || ps[i+1].Start > day) {
			return 0.85
		}
	}
	return 1
}

// rate returns the expected-demand multiplier of day (calendar × trend ×
// promotion), 0 when closed.
func (si *seriesInfo) rate(day int) float64 {
	m := float64(si.mult[day])
	if m == 0 {
		return 0
	}
	if si.hard {
		return si.hardRate(day, m)
	}
	m *= max(0.2, 1+si.trend*float64(day)/365)
	if len(si.promos) > 0 {
		m *= promoFactor(si.promos, day)
	}
	return m
}

// demand returns the true demand of day.
func (si *seriesInfo) demand(day int) int64 {
	m := si.rate(day)
	if m == 0 {
		return 0
	}
	r := streamAt(si.key, day, purposeDemand)
	if si.hard {
		return si.hardDemand(m, &r)
	}
	if si.profile == Intermittent {
		if r.Float64() >= min(si.base*m, 0.95) {
			return 0
		}
		return 1 + r.poisson(si.lump-1)
	}
	lam := si.base * m
	if si.noise > 0 {
		lam *= math.Exp(si.noise*r.Norm() - si.noise*si.noise/2)
	}
	return r.poisson(lam)
}

// Demand appends the true daily demand of series (loc, sku) for every day of
// the world to dst and returns it. It computes the series alone (no other
// series is simulated) and allocates only if dst lacks capacity. True demand
// includes what stockouts later hide: it is what customers wanted.
func (w *World) Demand(loc, sku int, dst []int64) []int64 {
	var si seriesInfo
	w.seriesInfo(loc, sku, &si)
	for d := range w.cfg.Days {
		dst = append(dst, si.demand(d))
	}
	return dst
}

// ExpectedDemand returns the mean demand of series (loc, sku) on day: what a
// perfect forecaster would predict.
func (w *World) ExpectedDemand(loc, sku, day int) float64 {
	var si seriesInfo
	w.seriesInfo(loc, sku, &si)
	m := si.rate(day)
	if si.profile == Intermittent {
		return min(si.base*m, 0.95) * si.lump
	}
	if si.hard && m > 0 {
		return si.base*m + si.hs.add
	}
	return si.base * m
}

// Params returns the item-location parameters of (loc, sku) in force on day.
func (w *World) Params(loc, sku, day int) ItemParams {
	var si seriesInfo
	w.seriesInfo(loc, sku, &si)
	return *si.paramsAt(day)
}

// ParamsUpdateDay returns the day index on which (loc, sku)'s parameters
// change, or -1 when they never do.
func (w *World) ParamsUpdateDay(loc, sku int) int {
	var si seriesInfo
	w.seriesInfo(loc, sku, &si)
	return si.update
}

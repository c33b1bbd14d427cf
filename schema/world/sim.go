package world

import (
	"math"

	"github.com/shelflake/shelflake/schema"
)

// Policy decides how much one series orders on a review day.
type Policy interface {
	// Order returns the units to order at the end of review day v.Day, after
	// the day's sales. The Sim raises a positive quantity to the MOQ and
	// rounds it up to the case pack (what the supplier accepts); 0 or less
	// orders nothing. Order must not keep v or its slices, which the Sim
	// reuses.
	Order(v *View) int64
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(v *View) int64

// Order calls f.
func (f PolicyFunc) Order(v *View) int64 { return f(v) }

// View is what an ordering policy may see of a series on a review day: what
// an ERP knows (sales and stock), never the true demand.
type View struct {
	Loc, SKU int
	// Day is the day index; Date its calendar date.
	Day  int
	Date schema.Date
	// OnHand is the stock after today's sales; OnOrder the units ordered and
	// not yet received nor cancelled.
	OnHand, OnOrder int64
	// Params are the item-location parameters in force today.
	Params *ItemParams
	// Sold and Closing are units sold and closing on hand for days 0..Day.
	Sold, Closing []int64
}

// ERPPolicy is the world's own ordering policy, the retailer's ERP: a
// periodic-review (s, S) policy whose demand estimate blends the planner's
// estimate (ItemParams.PlanMean) with the average of in-stock days over the
// last 28 days. Reorder point s = μ(L+R) + z·σ·√(L+R) with L the nominal lead
// time and R the review period; order-up-to S = s + μR. It does not foresee
// promotions, trend or holidays, and lead times vary around L, so stockouts
// happen. Scale, when not 0, multiplies s and S (a safety/order-up-to scale
// factor, to draw the policy's fill-rate-vs-inventory curve); 0 means 1.
type ERPPolicy struct{ Scale float64 }

// Order implements Policy.
func (ep ERPPolicy) Order(v *View) int64 {
	p := v.Params
	mu, sd := p.PlanMean, p.PlanSD
	var n int
	var sum int64
	for i := max(0, v.Day-27); i <= v.Day; i++ {
		if v.Closing[i] > 0 {
			n++
			sum += v.Sold[i]
		}
	}
	if n >= 7 && mu > 0 {
		recent := 0.5*mu + 0.5*float64(sum)/float64(n)
		sd *= math.Sqrt(recent / mu)
		mu = recent
	}
	L, R := float64(p.LeadTimeDays), float64(p.ReviewPeriodDays)
	rop := mu*(L+R) + p.zScore()*sd*math.Sqrt(L+R)
	upTo := rop + mu*R
	if ep.Scale != 0 {
		rop, upTo = rop*ep.Scale, upTo*ep.Scale
	}
	ip := float64(v.OnHand + v.OnOrder)
	if ip > rop {
		return 0
	}
	return int64(math.Ceil(upTo - ip))
}

// NaivePolicy orders up to the average daily sales of the last Window days
// (28 when 0) times (lead time + review period), on every review day.
type NaivePolicy struct{ Window int }

// Order implements Policy.
func (np NaivePolicy) Order(v *View) int64 {
	win := np.Window
	if win <= 0 {
		win = 28
	}
	from := max(0, v.Day-win+1)
	var sum int64
	for _, s := range v.Sold[from : v.Day+1] {
		sum += s
	}
	avg := float64(sum) / float64(v.Day+1-from)
	out := avg * float64(v.Params.LeadTimeDays+v.Params.ReviewPeriodDays)
	return int64(math.Ceil(out - float64(v.OnHand+v.OnOrder)))
}

// ZScore returns the standard normal quantile of a service level in (0, 1).
func ZScore(serviceLevel float64) float64 {
	sl := min(max(serviceLevel, 1e-6), 1-1e-6)
	return math.Sqrt2 * math.Erfinv(2*sl-1)
}

// POEvent is one change of a purchase-order line of a series: its creation,
// a (partial or full) receipt, or its cancellation. The line is identified by
// the series and OrderDay (a series orders at most once a day).
type POEvent struct {
	OrderDay    int
	ExpectedDay int
	Status      schema.POStatus
	QtyOrdered  int64
	// QtyReceived is the cumulative quantity received; Delta what this event
	// received.
	QtyReceived int64
	Delta       int64
	UnitCost    schema.Money
}

// DayResult is what happened to a series on one day. Within the day: goods
// arrive at 07:00 (open days only), cancellations at 12:00, sales during
// opening hours, orders are placed at 21:30.
type DayResult struct {
	Day  int
	Open bool
	// Demand is the true demand; Sold = min(Demand, stock); Lost the rest.
	Demand, Sold, Lost int64
	// Returned is units customers brought back (sent back to the supplier,
	// not restocked).
	Returned int64
	// Received is units received this morning.
	Received int64
	// MorningOnHand and MorningOnOrder are the position right after receipts.
	MorningOnHand, MorningOnOrder int64
	// OnHand and OnOrder are the position at close, after today's order.
	OnHand, OnOrder int64
	// Ordered is the quantity of today's new order (0 if none).
	Ordered int64
	// Events are today's PO line changes in time order.
	Events []POEvent
	// Params are the parameters in force today.
	Params *ItemParams
	// Fault is what injected faults did today (nil when Config.Faults is
	// nil); valid until the next Step.
	Fault *FaultDay
}

// Stats accumulates a series' performance over the days stepped since the
// last Reset or ResetStats.
type Stats struct {
	Days               int
	Demand, Sold, Lost int64
	// StockoutDays counts days with lost demand.
	StockoutDays int
	// InventorySum is the sum of closing on hand over the days.
	InventorySum int64
	Orders       int
	Ordered      int64
	Received     int64
}

// FillRate is units sold ÷ units demanded (1 when nothing was demanded).
func (s Stats) FillRate() float64 {
	if s.Demand == 0 {
		return 1
	}
	return float64(s.Sold) / float64(s.Demand)
}

// AvgInventory is the mean closing on hand.
func (s Stats) AvgInventory() float64 {
	if s.Days == 0 {
		return 0
	}
	return float64(s.InventorySum) / float64(s.Days)
}

// DaysOfCover is average inventory ÷ average daily sales (+Inf with stock
// and no sales, 0 with neither).
func (s Stats) DaysOfCover() float64 {
	if s.Sold == 0 {
		if s.InventorySum == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return float64(s.InventorySum) / float64(s.Sold)
}

// Add returns s + o (for totals over series).
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Days: s.Days + o.Days, Demand: s.Demand + o.Demand, Sold: s.Sold + o.Sold, Lost: s.Lost + o.Lost,
		StockoutDays: s.StockoutDays + o.StockoutDays, InventorySum: s.InventorySum + o.InventorySum,
		Orders: s.Orders + o.Orders, Ordered: s.Ordered + o.Ordered, Received: s.Received + o.Received,
	}
}

type poLine struct {
	orderDay, expected   int32
	due1, due2, cancelAt int32 // -1: none
	qty, part1, received int64
	cost                 schema.Money
	done                 bool
}

// Sim simulates one series at a time, day by day. Reuse one Sim per
// goroutine: after the first series of a world, Reset and Step allocate
// nothing. A Sim is not safe for concurrent use.
type Sim struct {
	w       *World
	si      seriesInfo
	policy  Policy
	day     int
	onHand  int64
	onOrder int64
	pipe    []poLine
	sold    []int64
	closing []int64
	res     DayResult
	view    View
	stats   Stats
	flt     *faultState // nil without Config.Faults
}

// NewSim returns a Sim for w; call Reset before stepping.
func (w *World) NewSim() *Sim {
	return &Sim{w: w, day: w.cfg.Days}
}

// Reset starts series (loc, sku) at day 0 under policy p (ERPPolicy when nil),
// with the opening stock the world gives it (a deterministic fraction of the
// ERP's order-up-to level).
func (s *Sim) Reset(loc, sku int, p Policy) {
	if p == nil {
		p = ERPPolicy{}
	}
	s.w.seriesInfo(loc, sku, &s.si)
	s.policy = p
	s.day = 0
	s.onOrder = 0
	s.pipe = s.pipe[:0]
	s.sold = s.sold[:0]
	s.closing = s.closing[:0]
	s.stats = Stats{}
	ip := &s.si.params[0]
	L, R := float64(ip.LeadTimeDays), float64(ip.ReviewPeriodDays)
	out := ip.PlanMean*(L+2*R) + ip.zScore()*ip.PlanSD*math.Sqrt(L+R)
	r := streamAt(s.si.key, -1, purposeSupply)
	s.onHand = int64(math.Round(out * (0.6 + 0.5*r.Float64())))
	s.view = View{Loc: loc, SKU: sku}
	s.resetFaults()
}

// SetPolicy switches the ordering policy from the next Step on.
func (s *Sim) SetPolicy(p Policy) {
	if p == nil {
		p = ERPPolicy{}
	}
	s.policy = p
}

// Day returns the index of the next day Step simulates.
func (s *Sim) Day() int { return s.day }

// Done reports whether every day of the world has been stepped.
func (s *Sim) Done() bool { return s.day >= s.w.cfg.Days }

// OnHand returns the current stock (the opening stock before the first Step).
func (s *Sim) OnHand() int64 { return s.onHand }

// Stats returns the performance since Reset or ResetStats.
func (s *Sim) Stats() Stats { return s.stats }

// ResetStats zeroes the statistics, e.g. at the start of a hold-out window.
func (s *Sim) ResetStats() { s.stats = Stats{} }

// Run steps to the end of the world and returns the stats.
func (s *Sim) Run() Stats {
	for s.Step() != nil {
	}
	return s.stats
}

// Step simulates the next day and returns its result, valid until the next
// Step or Reset; nil after the last day.
func (s *Sim) Step() *DayResult {
	d := s.day
	if d >= s.w.cfg.Days {
		return nil
	}
	si := &s.si
	res := &s.res
	*res = DayResult{Day: d, Events: res.Events[:0], Params: si.paramsAt(d), Open: si.mult[d] != 0}
	if s.flt != nil {
		s.faultsMorning(d)
		res.Fault = &s.flt.day
	}
	// 07:00 receipts, on open days.
	if res.Open {
		for i := range s.pipe {
			l := &s.pipe[i]
			if l.done {
				continue
			}
			target := l.received
			if d >= int(l.due1) {
				target = max(target, l.part1)
			}
			if l.due2 >= 0 && d >= int(l.due2) {
				target = l.qty
			}
			if target <= l.received {
				continue
			}
			delta := target - l.received
			l.received = target
			status := schema.POPartiallyReceived
			if l.received == l.qty {
				status = schema.POReceived
				l.done = true
			}
			res.Received += delta
			s.onOrder -= delta
			res.Events = append(res.Events, s.event(l, status, delta))
		}
	}
	s.onHand += res.Received
	if s.flt != nil {
		s.faultsReceipts(d, res.Received)
	}
	res.MorningOnHand, res.MorningOnOrder = s.onHand, s.onOrder
	// 12:00 cancellations.
	for i := range s.pipe {
		l := &s.pipe[i]
		if l.done || l.cancelAt < 0 || d < int(l.cancelAt) {
			continue
		}
		l.done = true
		s.onOrder -= l.qty - l.received
		res.Events = append(res.Events, s.event(l, schema.POCancelled, 0))
	}
	// Sales.
	res.Demand = si.demand(d)
	res.Sold = min(res.Demand, s.onHand)
	res.Lost = res.Demand - res.Sold
	s.onHand -= res.Sold
	if res.Sold > 0 {
		r := streamAt(si.key, d, purposeReturns)
		res.Returned = r.poisson(0.02 * float64(res.Sold))
	}
	if s.flt != nil {
		s.faultsEvening(d, res.Sold, res.Received, res.Open)
	}
	s.sold = append(s.sold, res.Sold)
	s.closing = append(s.closing, s.onHand)
	// 21:30 ordering, on review days.
	p := res.Params
	if (d-p.ReviewPhase)%p.ReviewPeriodDays == 0 && d >= p.ReviewPhase {
		s.view.Day, s.view.Date = d, s.w.cfg.Start.AddDays(d)
		s.view.OnHand, s.view.OnOrder = s.onHand, s.onOrder
		if s.flt != nil {
			s.view.OnHand = s.flt.record // the ERP orders from its record
		}
		s.view.Params = p
		s.view.Sold, s.view.Closing = s.sold, s.closing
		if q := s.policy.Order(&s.view); q > 0 {
			s.place(d, q, p)
		}
	}
	// Drop finished lines.
	n := 0
	for _, l := range s.pipe {
		if !l.done {
			s.pipe[n] = l
			n++
		}
	}
	s.pipe = s.pipe[:n]
	res.OnHand, res.OnOrder = s.onHand, s.onOrder

	st := &s.stats
	st.Days++
	st.Demand += res.Demand
	st.Sold += res.Sold
	st.Lost += res.Lost
	if res.Lost > 0 {
		st.StockoutDays++
	}
	st.InventorySum += s.onHand
	st.Received += res.Received
	if res.Ordered > 0 {
		st.Orders++
		st.Ordered += res.Ordered
	}
	s.day++
	return res
}

func (s *Sim) event(l *poLine, status schema.POStatus, delta int64) POEvent {
	return POEvent{OrderDay: int(l.orderDay), ExpectedDay: int(l.expected), Status: status,
		QtyOrdered: l.qty, QtyReceived: l.received, Delta: delta, UnitCost: l.cost}
}

// place creates today's order. The supplier's behaviour for an order placed on
// day d of this series (lead time, split delivery, cancellation) is drawn from
// the series' supply stream for d, the same whatever the policy.
func (s *Sim) place(d int, q int64, p *ItemParams) {
	cp := int64(max(p.CasePack, 1))
	q = max(q, int64(p.MOQ))
	q = (q + cp - 1) / cp * cp
	sup := s.si.sup
	r := streamAt(s.si.key, d, purposeSupply)
	z := r.Norm()
	lead := sup.LeadMean * math.Exp(sup.LeadCV*z-sup.LeadCV*sup.LeadCV/2)
	late := r.Float64() < sup.LateProb
	lateDays := 2 + r.IntN(6)
	uPartial, frac, extra, uRemainder := r.Float64(), 0.4+0.5*r.Float64(), 1+r.IntN(4), r.Float64()
	uCancel, cancelDraw := r.Float64(), r.Uint64()
	if late {
		lead += float64(lateDays)
	}
	lt := max(1, int(math.Round(lead)))
	l := poLine{orderDay: int32(d), expected: int32(d + p.LeadTimeDays), due1: int32(d + lt), due2: -1, cancelAt: -1,
		qty: q, part1: q, cost: p.UnitCost}
	switch {
	case q >= 2*cp && uPartial < 0.08:
		l.part1 = min(max(int64(float64(q)*frac)/cp*cp, cp), q-cp)
		if uRemainder < 0.25 {
			l.cancelAt = l.due1 + 2
		} else {
			l.due2 = l.due1 + int32(extra)
		}
	case uCancel < 0.015 && lt >= 2:
		l.cancelAt = int32(d + 1 + int(cancelDraw%uint64(lt-1)))
	}
	s.pipe = append(s.pipe, l)
	s.onOrder += q
	s.res.Ordered = q
	s.res.Events = append(s.res.Events, s.event(&s.pipe[len(s.pipe)-1], schema.POOpen, 0))
}

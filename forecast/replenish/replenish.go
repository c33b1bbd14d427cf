// Package replenish turns a store-SKU's demand forecast, its error spread
// and its stock position into a suggested order line with the reasoning a
// planner needs to trust or adjust it.
//
// # The policy
//
// A periodic-review, order-up-to policy with a reorder point. With
//
//	L    mean lead time (days), σL its standard deviation (observed receipts)
//	R    review period (days): the next chance to order is R days away
//	P    = L + R, the protection window: an order placed now must cover
//	       demand until the order placed at the next review arrives
//	D_P  = forecast demand over the next P days (the daily forecast summed,
//	       the last day pro rata when P is fractional)
//	d    = D_P / P, the mean daily forecast over the window
//	σd   forecast error standard deviation per day (from the backtest)
//	σ_P  forecast error standard deviation over the P days: √P·σd, or an
//	       estimate of it measured directly on backtest window sums, when
//	       given (errors of nearby days are correlated, so √P·σd can
//	       understate it)
//	z    the standard normal quantile of the service level
//
// the line is
//
//	safety stock SS = z · √(σ_P² + d²·σL²)
//	             (= z · √(P·σd² + d²·σL²) without a window estimate: the
//	             textbook z·√(L·σd² + d²·σL²) with the demand term taken over
//	             the whole protection window, as a periodic review needs)
//	reorder point ROP = D_P + SS
//	order-up-to OUT = ROP + d·CycleDays   (CycleDays = 0 by default: OUT = ROP)
//	inventory position IP = on hand + on order − allocated
//	if IP ≤ ROP: qty = OUT − IP rounded up to the case pack, at least the
//	             MOQ (itself rounded up to the case pack), at least one case
//	otherwise no order.
//
// Three cases never order:
//
//   - an unknown stock position (Input.NoStockPosition: no inventory feed
//     for the store-SKU). Unknown stock is not zero stock — planning from
//     zero would order the whole order-up-to level every week. The line is
//     a forecast and a recommended stock level (SS, ROP, OUT) with reason
//     no_stock_position, and no quantity;
//   - a zero forecast over the protection window (reason zero_forecast):
//     the backtest error spread alone, or a minimum order of one case, is
//     no reason to stock an item nobody is expected to buy;
//   - a dead item (Input.Dead: it stopped selling, see the caller's
//     definition): no safety stock, no order, reason dead_item, for the
//     planner to decide on (delist, clear, or restart it by hand).
//
// Planned promotions enter as daily demand multipliers (Input.Uplift, from
// forecast/promo): the forecast is multiplied day by day before all of
// this, and the spread σ_P by the window's uplift U = D_P ÷ D_P(without
// multipliers) when U > 1 (errors grow with the level).
// Quantities are whole units; money is schema.Money, exact.
package replenish

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/shelflake/shelflake/schema"
)

// Reasons is a set of reason codes explaining a line.
type Reasons uint8

// Reason codes.
const (
	// BelowROP: the inventory position is at or below the reorder point.
	BelowROP Reasons = 1 << iota
	// PromoUplift: the forecast was raised for a promotion.
	PromoUplift
	// NewItem: too little history for a backtest; the forecast is a plain
	// mean and the error spread a plain standard deviation.
	NewItem
	// DefaultsUsed: some item-location parameter was missing and a default
	// used (see Line.Defaulted).
	DefaultsUsed
	// NoStockPosition: the stock position is unknown (no inventory feed);
	// the line recommends a stock level but orders nothing.
	NoStockPosition
	// ZeroForecast: no demand is forecast over the protection window; no
	// order.
	ZeroForecast
	// DeadItem: the item stopped selling; no safety stock and no order.
	DeadItem
)

var reasonNames = [...]string{"below_rop", "promo_uplift", "new_item", "defaults_used", "no_stock_position", "zero_forecast", "dead_item"}

// Strings returns the codes in the set, in a fixed order.
func (r Reasons) Strings() []string {
	var out []string
	for i, n := range reasonNames {
		if r&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String joins the codes with commas.
func (r Reasons) String() string { return strings.Join(r.Strings(), ",") }

// Params names item-location parameters (a set), for reporting which were
// defaulted.
type Params uint8

// Item-location parameters that can be defaulted.
const (
	ParamLeadTime Params = 1 << iota
	ParamLeadTimeSD
	ParamReviewPeriod
	ParamCasePack
	ParamMOQ
	ParamServiceLevel
	ParamUnitCost
)

var paramNames = [...]string{"lead_time", "lead_time_sd", "review_period", "case_pack", "moq", "service_level", "unit_cost"}

// Strings returns the parameter names in the set.
func (p Params) Strings() []string {
	var out []string
	for i, n := range paramNames {
		if p&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String joins the names with commas.
func (p Params) String() string { return strings.Join(p.Strings(), ",") }

// Defaults are the values used for missing item-location parameters.
type Defaults struct {
	LeadTimeDays     float64 // default 7
	LeadTimeCV       float64 // σL = CV × L when σL is unknown; default 0.3
	ReviewPeriodDays int     // default 7
	CasePack         int64   // default 1
	MOQ              int64   // default 0 (none)
	ServiceLevel     float64 // default 0.95
}

func (d Defaults) withDefaults() Defaults {
	if d.LeadTimeDays == 0 {
		d.LeadTimeDays = 7
	}
	if d.LeadTimeCV == 0 {
		d.LeadTimeCV = 0.3
	}
	if d.ReviewPeriodDays == 0 {
		d.ReviewPeriodDays = 7
	}
	if d.CasePack == 0 {
		d.CasePack = 1
	}
	if d.ServiceLevel == 0 {
		d.ServiceLevel = 0.95
	}
	return d
}

// Target says what the service level means.
type Target uint8

// Service level targets.
const (
	// CycleService: the service level is the probability of no stockout in
	// a replenishment cycle; SS = z(service level) · σ (the textbook
	// formula in the package doc).
	CycleService Target = iota
	// FillRate: the service level is the fraction of demand filled from
	// stock (β service). SS = k · σ with k solving σ·G(k) = (1 − β)·Q, G
	// the standard normal loss function and Q the expected order quantity
	// per cycle, max(d·R, MOQ, case pack); items whose order quantities are
	// large next to their uncertainty need less safety stock. SS ≥ 0.
	FillRate
)

// Options configure a Planner.
type Options struct {
	Defaults Defaults
	// Target is the meaning of the service level (default CycleService).
	Target Target
	// CycleDays adds d·CycleDays to the order-up-to level above the reorder
	// point (bigger, rarer orders). Default 0.
	CycleDays float64
}

// Planner computes suggestion lines. It is immutable and safe for
// concurrent use.
type Planner struct {
	d      Defaults
	cycle  float64
	target Target
}

// NewPlanner returns a planner with opts.
func NewPlanner(opts Options) (*Planner, error) {
	d := opts.Defaults.withDefaults()
	var errs []error
	if !(d.LeadTimeDays > 0) {
		errs = append(errs, fmt.Errorf("default lead time %v: want > 0", d.LeadTimeDays))
	}
	if !(d.LeadTimeCV >= 0) {
		errs = append(errs, fmt.Errorf("default lead time cv %v: want ≥ 0", d.LeadTimeCV))
	}
	if d.ReviewPeriodDays < 1 {
		errs = append(errs, fmt.Errorf("default review period %d: want ≥ 1", d.ReviewPeriodDays))
	}
	if d.CasePack < 1 {
		errs = append(errs, fmt.Errorf("default case pack %d: want ≥ 1", d.CasePack))
	}
	if d.MOQ < 0 {
		errs = append(errs, fmt.Errorf("default moq %d: want ≥ 0", d.MOQ))
	}
	if !(d.ServiceLevel > 0 && d.ServiceLevel < 1) {
		errs = append(errs, fmt.Errorf("default service level %v: want in (0, 1)", d.ServiceLevel))
	}
	if !(opts.CycleDays >= 0) {
		errs = append(errs, fmt.Errorf("cycle days %v: want ≥ 0", opts.CycleDays))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("replenishment options: %w", err)
	}
	if opts.Target > FillRate {
		return nil, fmt.Errorf("replenishment options: target %d unknown", opts.Target)
	}
	return &Planner{d: d, cycle: opts.CycleDays, target: opts.Target}, nil
}

// Input is one store-SKU: its forecast and error spread, parameters and
// stock position. A parameter at its zero value is missing and defaulted
// (except MOQ and UnitCost: say so in Missing).
type Input struct {
	// Forecast is the daily demand forecast from the first day after the
	// as-of date. Days beyond its end repeat the mean of its last 7 days.
	Forecast []float64
	// SigmaDay is the forecast error standard deviation per day (model
	// Result.Sigma). SigmaWindow, if positive, is a direct estimate of the
	// error standard deviation of the demand over the protection window and
	// replaces √P·SigmaDay.
	SigmaDay, SigmaWindow float64
	// LeadTimeDays and LeadTimeSD are the observed lead time mean and
	// standard deviation in days.
	LeadTimeDays, LeadTimeSD float64
	ReviewPeriodDays         int
	CasePack, MOQ            int64
	ServiceLevel             float64
	UnitCost                 schema.Money
	// Missing marks parameters that are absent even though their zero value
	// would be valid (MOQ 0, unit cost 0, lead time sd 0); they are reported
	// as defaulted.
	Missing Params
	// OnHand, OnOrder (open purchase orders not yet received) and
	// Allocated (stock promised elsewhere) make the inventory position.
	OnHand, OnOrder, Allocated int64
	// Uplift, if not nil, holds daily demand multipliers aligned with
	// Forecast (planned promotions, forecast/promo); days beyond it are 1.
	// UpliftCV is the relative uncertainty of what a multiplier adds above
	// 1: the extra demand E over the window adds (UpliftCV·E)² to the
	// variance behind the safety stock.
	Uplift   []float64
	UpliftCV float64
	// NewItem marks a forecast without a backtest (short history).
	NewItem bool
	// NoStockPosition: on hand, on order and allocated are unknown (the
	// zeros above mean nothing). No order is suggested.
	NoStockPosition bool
	// Dead marks an item that stopped selling: no safety stock, no order.
	Dead bool
}

// Line is a suggestion with its explanation. Quantities are units.
type Line struct {
	// Qty is the suggested order quantity (0: no order). PlannerQty is the
	// planner's adjusted quantity (nil until a planner sets it).
	Qty        int64
	PlannerQty *int64
	// UnitCost and ExtendedCost = Qty × UnitCost, exact.
	UnitCost, ExtendedCost schema.Money
	Reasons                Reasons
	// Defaulted lists the parameters that were missing and defaulted.
	Defaulted Params
	// The parameters used.
	LeadTimeDays, LeadTimeSD float64
	ReviewPeriodDays         int
	CasePack, MOQ            int64
	ServiceLevel, Z          float64
	// ProtectionDays P = L + R; ForecastWindow D_P; DailyForecast d = D_P/P.
	ProtectionDays, ForecastWindow, DailyForecast float64
	// SigmaDay σd, SigmaWindow the demand-error σ over P days used.
	SigmaDay, SigmaWindow float64
	// SafetyStock, ReorderPoint and OrderUpTo in units (fractional: they
	// are expectations; Qty is whole).
	SafetyStock, ReorderPoint, OrderUpTo float64
	// OnHand, OnOrder, Allocated and InventoryPosition = OnHand + OnOrder −
	// Allocated.
	OnHand, OnOrder, Allocated, InventoryPosition int64
	// WeeksOfCover is on hand ÷ (7·d); WeeksOfCoverAfter (IP + Qty) ÷
	// (7·d); +Inf with no forecast demand; NaN with an unknown stock
	// position.
	WeeksOfCover, WeeksOfCoverAfter float64
	// PromoUplift is the window's uplift U = D_P ÷ D_P without the
	// multipliers (1 when none).
	PromoUplift float64
}

// Plan computes the line of in.
func (p *Planner) Plan(in *Input) (Line, error) {
	var ln Line
	d := &p.d
	def := in.Missing
	L := in.LeadTimeDays
	if !(L > 0) || def&ParamLeadTime != 0 {
		L, def = d.LeadTimeDays, def|ParamLeadTime
	}
	sdL := in.LeadTimeSD
	if !(sdL >= 0) || def&ParamLeadTimeSD != 0 || def&ParamLeadTime != 0 {
		sdL, def = d.LeadTimeCV*L, def|ParamLeadTimeSD
	}
	R := in.ReviewPeriodDays
	if R < 1 || def&ParamReviewPeriod != 0 {
		R, def = d.ReviewPeriodDays, def|ParamReviewPeriod
	}
	cp := in.CasePack
	if cp < 1 || def&ParamCasePack != 0 {
		cp, def = d.CasePack, def|ParamCasePack
	}
	moq := in.MOQ
	if moq < 0 || def&ParamMOQ != 0 {
		moq, def = d.MOQ, def|ParamMOQ
	}
	sl := in.ServiceLevel
	if !(sl > 0 && sl < 1) || def&ParamServiceLevel != 0 {
		sl, def = d.ServiceLevel, def|ParamServiceLevel
	}
	if in.UnitCost < 0 {
		return ln, fmt.Errorf("unit cost %s: negative", in.UnitCost)
	}
	if in.OnHand < 0 || in.OnOrder < 0 || in.Allocated < 0 {
		return ln, fmt.Errorf("stock position on hand %d, on order %d, allocated %d: negative", in.OnHand, in.OnOrder, in.Allocated)
	}
	if len(in.Forecast) == 0 {
		return ln, errors.New("no forecast")
	}
	for i, f := range in.Forecast {
		if !(f >= 0) || math.IsInf(f, 0) {
			return ln, fmt.Errorf("forecast day %d: %v", i, f)
		}
	}
	if !(in.SigmaDay >= 0) || !(in.SigmaWindow >= 0) || math.IsInf(in.SigmaDay+in.SigmaWindow, 0) {
		return ln, fmt.Errorf("sigma %v per day, %v per window: want finite ≥ 0", in.SigmaDay, in.SigmaWindow)
	}
	for i, u := range in.Uplift {
		if !(u >= 0) || math.IsInf(u, 0) {
			return ln, fmt.Errorf("uplift day %d: %v", i, u)
		}
	}
	P := L + float64(R)
	base := windowSum(in.Forecast, nil, P)
	dp := base
	uplift := 1.0
	if in.Uplift != nil {
		dp = windowSum(in.Forecast, in.Uplift, P)
		if base > 0 {
			uplift = dp / base
		}
		if uplift > 1+1e-9 {
			ln.Reasons |= PromoUplift
		}
	}
	daily := dp / P
	sigP := in.SigmaWindow
	if sigP == 0 {
		sigP = math.Sqrt(P) * in.SigmaDay
	}
	sigUp := max(uplift, 1)
	sigP *= sigUp
	var extra float64 // promotion demand above the baseline, for its uncertainty
	if in.UpliftCV > 0 && in.Uplift != nil {
		lift := make([]float64, len(in.Uplift))
		for h, u := range in.Uplift {
			lift[h] = max(u-1, 0)
		}
		extra = in.UpliftCV * windowSum(in.Forecast, lift, P)
	}
	sigma := math.Sqrt(sigP*sigP + daily*daily*sdL*sdL + extra*extra)
	z := InverseNormal(sl)
	if p.target == FillRate {
		q := max(daily*float64(R), float64(roundUp(moq, cp)), float64(cp))
		z = lossInverse((1 - sl) * q / sigma)
	}
	ss := max(z*sigma, 0)
	if in.Dead {
		ss = 0
		ln.Reasons |= DeadItem
	}
	rop := dp + ss
	out := rop + daily*p.cycle
	ip := in.OnHand + in.OnOrder - in.Allocated
	var qty int64
	switch {
	case in.NoStockPosition:
		ln.Reasons |= NoStockPosition
		ip = 0
	case in.Dead:
	case !(dp > 0):
		ln.Reasons |= ZeroForecast
	case float64(ip) <= rop:
		ln.Reasons |= BelowROP
		need := int64(math.Ceil(out - float64(ip) - 1e-9))
		qty = roundUp(max(need, 0), cp)
		qty = max(qty, roundUp(moq, cp), cp)
	}
	if in.NewItem {
		ln.Reasons |= NewItem
	}
	if def != 0 {
		ln.Reasons |= DefaultsUsed
	}
	ln.Qty = qty
	ln.UnitCost = in.UnitCost
	ln.ExtendedCost = in.UnitCost.Mul(qty)
	ln.Defaulted = def
	ln.LeadTimeDays, ln.LeadTimeSD, ln.ReviewPeriodDays = L, sdL, R
	ln.CasePack, ln.MOQ, ln.ServiceLevel, ln.Z = cp, moq, sl, z
	ln.ProtectionDays, ln.ForecastWindow, ln.DailyForecast = P, dp, daily
	ln.SigmaDay, ln.SigmaWindow = in.SigmaDay*sigUp, sigP
	ln.SafetyStock, ln.ReorderPoint, ln.OrderUpTo = ss, rop, out
	ln.OnHand, ln.OnOrder, ln.Allocated, ln.InventoryPosition = in.OnHand, in.OnOrder, in.Allocated, ip
	ln.WeeksOfCover = cover(float64(in.OnHand), daily)
	ln.WeeksOfCoverAfter = cover(float64(ip+qty), daily)
	if in.NoStockPosition {
		ln.OnHand, ln.OnOrder, ln.Allocated = 0, 0, 0
		ln.WeeksOfCover, ln.WeeksOfCoverAfter = math.NaN(), math.NaN()
	}
	ln.PromoUplift = uplift
	return ln, nil
}

// normalLoss is the standard normal loss function G(k) = φ(k) − k·(1 −
// Φ(k)): the expected shortfall E[(Z − k)⁺].
func normalLoss(k float64) float64 {
	return math.Exp(-k*k/2)/math.Sqrt(2*math.Pi) - k*0.5*math.Erfc(k/math.Sqrt2)
}

// lossInverse returns the k with G(k) = g (G decreases from +∞ to 0), by
// bisection on [−8, 8]; g ≤ 0 or NaN gives 8, g ≥ G(−8) gives −8.
func lossInverse(g float64) float64 {
	if !(g > 0) {
		return 8
	}
	lo, hi := -8.0, 8.0
	for range 60 {
		mid := (lo + hi) / 2
		if normalLoss(mid) > g {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// roundUp rounds q ≥ 0 up to a multiple of pack ≥ 1.
func roundUp(q, pack int64) int64 {
	return (q + pack - 1) / pack * pack
}

func cover(units, daily float64) float64 {
	if daily <= 0 {
		if units <= 0 {
			return 0
		}
		return math.Inf(1)
	}
	return units / (7 * daily)
}

// windowSum is the forecast demand over the first P days (P may be
// fractional: the last day counts pro rata), each day times its multiplier
// in up (1 beyond up). Days past the forecast repeat the mean of its last
// (up to) 7 days.
func windowSum(f, up []float64, P float64) float64 {
	var tailMean float64
	k := min(len(f), 7)
	for _, v := range f[len(f)-k:] {
		tailMean += v
	}
	tailMean /= float64(k)
	day := func(h int) float64 {
		v := tailMean
		if h < len(f) {
			v = f[h]
		}
		if h < len(up) {
			v *= up[h]
		}
		return v
	}
	whole := int(P)
	var sum float64
	for h := range whole {
		sum += day(h)
	}
	if frac := P - float64(whole); frac > 0 {
		sum += frac * day(whole)
	}
	return sum
}

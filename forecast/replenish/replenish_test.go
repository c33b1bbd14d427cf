package replenish

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

func TestInverseNormalMatchesKnownQuantiles(t *testing.T) {
	cases := []struct{ p, z float64 }{
		{0.5, 0},
		{0.8413447460685429, 1}, // Φ(1)
		{0.9, 1.2815515655446004},
		{0.95, 1.6448536269514722},
		{0.975, 1.959963984540054},
		{0.98, 2.053748910631823},
		{0.99, 2.3263478740408408},
		{0.999, 3.090232306167813},
		{0.02, -2.053748910631823},
		{0.01, -2.3263478740408408},
		{1e-10, -6.361340902404056},
		{1 - 1e-10, 6.361340889697422}, // 1−1e−10 is not exact in binary
	}
	for _, c := range cases {
		if got := InverseNormal(c.p); math.Abs(got-c.z) > 1e-9*max(1, math.Abs(c.z)) {
			t.Errorf("InverseNormal(%v) = %.15g; want %.15g", c.p, got, c.z)
		}
	}
	// Against the standard library's inverse error function on a grid,
	// including both tails beyond Acklam's break points.
	for i := 1; i < 2000; i++ {
		p := float64(i) / 2000
		want := math.Sqrt2 * math.Erfinv(2*p-1)
		if got := InverseNormal(p); math.Abs(got-want) > 1e-12*max(1, math.Abs(want)) {
			t.Fatalf("InverseNormal(%v) = %.17g; Erfinv gives %.17g", p, got, want)
		}
	}
	if !math.IsInf(InverseNormal(0), -1) || !math.IsInf(InverseNormal(1), 1) || !math.IsNaN(InverseNormal(1.5)) || !math.IsNaN(InverseNormal(math.NaN())) {
		t.Error("edge cases")
	}
}

func TestNormalLossInverse(t *testing.T) {
	for _, k := range []float64{-2, -0.5, 0, 0.7, 1.6448536269514722, 3} {
		if got := lossInverse(normalLoss(k)); math.Abs(got-k) > 1e-9 {
			t.Errorf("lossInverse(G(%v)) = %v", k, got)
		}
	}
	// G(0) = φ(0) = 1/√(2π).
	if g := normalLoss(0); math.Abs(g-1/math.Sqrt(2*math.Pi)) > 1e-15 {
		t.Errorf("G(0) = %v", g)
	}
}

func flat(v float64, n int) []float64 {
	f := make([]float64, n)
	for i := range f {
		f[i] = v
	}
	return f
}

// base: 10 units a day, σd 2, lead time 4 ± 1 days, review every 3 days,
// case pack 12, MOQ 24, 95% service, 1.2345 a unit, 20 on hand and 10 on
// order. P = 7, D_P = 70, SS = 1.6449·√(7·2² + 10²·1²) = 18.609, ROP =
// OUT = 88.609, IP = 30.
func base() Input {
	return Input{
		Forecast: flat(10, 28), SigmaDay: 2, LeadTimeDays: 4, LeadTimeSD: 1, ReviewPeriodDays: 3,
		CasePack: 12, MOQ: 24, ServiceLevel: 0.95, UnitCost: 12345, OnHand: 20, OnOrder: 10,
	}
}

func TestPlan(t *testing.T) {
	z95 := 1.6448536269514722
	cases := []struct {
		name      string
		edit      func(in *Input)
		qty       int64
		reasons   []string
		defaulted []string
		ss, rop   float64 // checked when non-zero
		cost      schema.Money
	}{
		{"below the reorder point it orders up to OUT rounded up to the case pack",
			func(*Input) {}, 60, []string{"below_rop"}, nil, z95 * math.Sqrt(128), 70 + z95*math.Sqrt(128), 740700},
		{"the MOQ lifts a small order", func(in *Input) { in.OnHand, in.OnOrder = 80, 0 },
			24, []string{"below_rop"}, nil, 0, 0, 296280},
		{"above the reorder point it orders nothing", func(in *Input) { in.OnHand = 100 },
			0, nil, nil, 0, 0, 0},
		{"allocated stock lowers the position", func(in *Input) { in.OnHand, in.Allocated = 100, 30 },
			24, []string{"below_rop"}, nil, 0, 0, 296280},
		{"exactly at the reorder point it orders at least a case", func(in *Input) {
			in.SigmaDay, in.LeadTimeSD, in.OnHand, in.OnOrder, in.MOQ = 0, 0, 70, 0, 0
		}, 12, []string{"below_rop"}, nil, 0, 70, 148140},
		{"missing parameters are defaulted and said so", func(in *Input) {
			in.LeadTimeDays, in.LeadTimeSD, in.ReviewPeriodDays, in.CasePack, in.ServiceLevel = 0, 1, 0, 0, 0
			// Defaults: L 7, σL 0.3·7, R 7, case pack 1, 95%: P 14,
			// SS = z·√(14·4 + 100·2.1²) = z·√497, ROP = 140 + SS.
		}, int64(math.Ceil(140 + z95*math.Sqrt(497) - 30)), []string{"below_rop", "defaults_used"},
			[]string{"lead_time", "lead_time_sd", "review_period", "case_pack", "service_level"},
			z95 * math.Sqrt(497), 140 + z95*math.Sqrt(497), 0},
		{"absent values whose zero is valid are flagged when said missing", func(in *Input) {
			in.MOQ, in.Missing = 0, ParamMOQ|ParamUnitCost
		}, 60, []string{"below_rop", "defaults_used"}, []string{"moq", "unit_cost"}, 0, 0, 740700},
		{"a promotion over the whole window raises forecast and spread", func(in *Input) { in.Uplift = flat(1.5, 28) },
			// D_P 105, d 15, SS = z·√(1.5²·28 + 15²·1).
			108, []string{"below_rop", "promo_uplift"}, nil, z95 * math.Sqrt(63+225), 105 + z95*math.Sqrt(63+225), 0},
		{"a two-day promotion inside the window lifts those days only", func(in *Input) {
			in.Uplift = []float64{1, 1, 2, 2, 1, 1, 1, 3, 3}
			// Days 2 and 3 double: D_P = 90, U = 9/7, d = 90/7; the lift on
			// days 7 and 8 is past the window. SS = z·√(U²·28 + d²·1).
		}, 84, []string{"below_rop", "promo_uplift"}, nil,
			z95 * math.Sqrt(81.0/49*28+8100.0/49), 90 + z95*math.Sqrt(81.0/49*28+8100.0/49), 0},
		{"a promotion after the window changes nothing", func(in *Input) { in.Uplift = []float64{1, 1, 1, 1, 1, 1, 1, 2} },
			60, []string{"below_rop"}, nil, z95 * math.Sqrt(128), 70 + z95*math.Sqrt(128), 0},
		{"a post-promotion dip lowers the forecast but not the spread", func(in *Input) { in.Uplift = []float64{0.5, 0.5} },
			// D_P 60, d 60/7, SS = z·√(28 + (60/7)²).
			48, []string{"below_rop"}, nil, z95 * math.Sqrt(28+3600.0/49), 60 + z95*math.Sqrt(28+3600.0/49), 0},
		{"a new item is said so", func(in *Input) { in.NewItem = true },
			60, []string{"below_rop", "new_item"}, nil, 0, 0, 0},
		{"a fractional lead time counts the last day pro rata", func(in *Input) { in.LeadTimeDays = 4.5 },
			// P 7.5, D_P 75, SS = z·√(7.5·4 + 100).
			72, []string{"below_rop"}, nil, z95 * math.Sqrt(130), 75 + z95*math.Sqrt(130), 0},
		{"days past the forecast repeat its last week's mean", func(in *Input) {
			in.Forecast = []float64{1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3}
			in.LeadTimeDays, in.ReviewPeriodDays, in.SigmaDay, in.LeadTimeSD = 14, 2, 0, 0
			in.OnHand, in.OnOrder = 0, 0
			// 7·1 + 7·3 + 2·3 = 34.
		}, 36, []string{"below_rop"}, nil, 0, 34, 0},
		{"an unknown stock position recommends a level and orders nothing", func(in *Input) {
			in.NoStockPosition, in.OnHand, in.OnOrder = true, 0, 0
		}, 0, []string{"no_stock_position"}, nil, z95 * math.Sqrt(128), 70 + z95*math.Sqrt(128), 0},
		{"a zero forecast orders nothing despite its error spread and MOQ", func(in *Input) {
			in.Forecast, in.OnHand, in.OnOrder = flat(0, 28), 0, 0
		}, 0, []string{"zero_forecast"}, nil, 0, 0, 0},
		{"a dead item gets no safety stock and no order", func(in *Input) {
			in.Forecast, in.Dead, in.OnHand, in.OnOrder, in.MOQ, in.CasePack = flat(0.01, 28), true, 0, 0, 0, 1
		}, 0, []string{"dead_item"}, nil, 0, 0.07, 0},
		{"a window σ replaces √P·σd", func(in *Input) { in.SigmaWindow = 10 },
			// ROP = 70 + z·√200 = 93.26: 64 needed, 72 in cases.
			72, []string{"below_rop"}, nil, z95 * math.Sqrt(100+100), 70 + z95*math.Sqrt(200), 0},
	}
	p, err := NewPlanner(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.edit(&in)
			ln, err := p.Plan(&in)
			if err != nil {
				t.Fatal(err)
			}
			if ln.Qty != c.qty {
				t.Errorf("qty %d; want %d (ROP %.3f, OUT %.3f, IP %d)", ln.Qty, c.qty, ln.ReorderPoint, ln.OrderUpTo, ln.InventoryPosition)
			}
			if ln.Qty%ln.CasePack != 0 || (ln.Qty > 0 && ln.Qty < ln.MOQ) {
				t.Errorf("qty %d: not a multiple of case pack %d or below MOQ %d", ln.Qty, ln.CasePack, ln.MOQ)
			}
			if got := ln.Reasons.Strings(); !slices.Equal(got, c.reasons) {
				t.Errorf("reasons %v; want %v", got, c.reasons)
			}
			if got := ln.Defaulted.Strings(); !slices.Equal(got, c.defaulted) {
				t.Errorf("defaulted %v; want %v", got, c.defaulted)
			}
			if in.Dead && ln.SafetyStock != 0 {
				t.Errorf("safety stock %v for a dead item", ln.SafetyStock)
			}
			if c.ss != 0 && math.Abs(ln.SafetyStock-c.ss) > 1e-9 {
				t.Errorf("safety stock %v; want %v", ln.SafetyStock, c.ss)
			}
			if c.rop != 0 && math.Abs(ln.ReorderPoint-c.rop) > 1e-9 {
				t.Errorf("reorder point %v; want %v", ln.ReorderPoint, c.rop)
			}
			if ln.OrderUpTo != ln.ReorderPoint {
				t.Errorf("order-up-to %v ≠ reorder point %v with no cycle days", ln.OrderUpTo, ln.ReorderPoint)
			}
			if want := in.UnitCost.Mul(ln.Qty); ln.ExtendedCost != want || (c.cost != 0 && ln.ExtendedCost != c.cost) {
				t.Errorf("extended cost %s; want %s", ln.ExtendedCost, want)
			}
			if ln.InventoryPosition != in.OnHand+in.OnOrder-in.Allocated {
				t.Errorf("inventory position %d", ln.InventoryPosition)
			}
			if in.NoStockPosition {
				if !math.IsNaN(ln.WeeksOfCover) || !math.IsNaN(ln.WeeksOfCoverAfter) {
					t.Errorf("weeks of cover %v, %v with an unknown stock position", ln.WeeksOfCover, ln.WeeksOfCoverAfter)
				}
			} else if ln.DailyForecast > 0 {
				if w := float64(in.OnHand) / (7 * ln.DailyForecast); math.Abs(ln.WeeksOfCover-w) > 1e-12 {
					t.Errorf("weeks of cover %v; want %v", ln.WeeksOfCover, w)
				}
			}
		})
	}
}

func TestExtendedCostIsExact(t *testing.T) {
	p, _ := NewPlanner(Options{})
	in := base()
	in.UnitCost = schema.Money(1) // 0.0001 a unit
	in.OnHand, in.OnOrder = 0, 0
	in.Forecast = flat(1e6, 28)
	in.CasePack, in.MOQ = 1, 0
	ln, err := p.Plan(&in)
	if err != nil {
		t.Fatal(err)
	}
	if ln.ExtendedCost != schema.Money(ln.Qty) {
		t.Errorf("%d units at 0.0001 cost %s", ln.Qty, ln.ExtendedCost)
	}
}

func TestCycleDaysRaiseTheOrderUpToLevel(t *testing.T) {
	p, err := NewPlanner(Options{CycleDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	in := base()
	ln, err := p.Plan(&in)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ln.OrderUpTo-ln.ReorderPoint-70) > 1e-9 || ln.Qty != 132 {
		t.Errorf("OUT %v, ROP %v, qty %d; want OUT = ROP + 70, qty 132", ln.OrderUpTo, ln.ReorderPoint, ln.Qty)
	}
}

func TestFillRateTargetNeedsLessSafetyStockForLargeOrders(t *testing.T) {
	csl, _ := NewPlanner(Options{})
	fr, _ := NewPlanner(Options{Target: FillRate})
	in := base()
	in.MOQ = 240 // orders much larger than the uncertainty
	a, _ := csl.Plan(&in)
	b, _ := fr.Plan(&in)
	if !(b.SafetyStock < a.SafetyStock) {
		t.Errorf("fill-rate SS %v, cycle-service SS %v", b.SafetyStock, a.SafetyStock)
	}
	// The fill-rate k solves σ·G(k) = (1−β)·Q.
	sigma := math.Sqrt(7*4 + 100)
	if g := sigma * normalLoss(b.Z); math.Abs(g-0.05*240) > 1e-6 {
		t.Errorf("σ·G(k) = %v; want %v", g, 0.05*240)
	}
}

func TestPlanRefusesBadInput(t *testing.T) {
	p, _ := NewPlanner(Options{})
	for _, c := range []struct {
		name string
		edit func(in *Input)
		want string
	}{
		{"no forecast", func(in *Input) { in.Forecast = nil }, "no forecast"},
		{"a NaN forecast", func(in *Input) { in.Forecast[3] = math.NaN() }, "forecast day 3"},
		{"negative stock", func(in *Input) { in.OnHand = -1 }, "negative"},
		{"a negative cost", func(in *Input) { in.UnitCost = -1 }, "unit cost"},
		{"an infinite sigma", func(in *Input) { in.SigmaDay = math.Inf(1) }, "sigma"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			in.Forecast = flat(10, 28)
			c.edit(&in)
			if _, err := p.Plan(&in); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one mentioning %q", err, c.want)
			}
		})
	}
	if _, err := NewPlanner(Options{Defaults: Defaults{ServiceLevel: 1.5}}); err == nil {
		t.Error("a default service level of 1.5 accepted")
	}
}

func TestReasonAndParamNames(t *testing.T) {
	if s := (NoStockPosition | ZeroForecast | DeadItem).String(); s != "no_stock_position,zero_forecast,dead_item" {
		t.Errorf("reasons %q", s)
	}
	if s := (BelowROP | DefaultsUsed).String(); s != "below_rop,defaults_used" {
		t.Errorf("reasons %q", s)
	}
	if s := (ParamLeadTime | ParamUnitCost).String(); s != "lead_time,unit_cost" {
		t.Errorf("params %q", s)
	}
}

package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/shelflake/shelflake/schema"
)

// num is an SVG coordinate, printed with at most one decimal.
type num float64

func (n num) String() string {
	return strconv.FormatFloat(math.Round(float64(n)*10)/10, 'f', -1, 64)
}

// Chart is the geometry of one line's chart: two panels over the same days,
// demand on top (units sold per day as bars, stockout days marked, the
// forecast as a dashed line) and stock below (end-of-day on hand as an area,
// PO quantity open stacked on it, the reorder point and order-up-to level,
// and at the as-of date the inventory position and the suggested quantity).
// The template draws it as inline SVG; every number is precomputed here.
type Chart struct {
	W, H int
	// Title is the chart's text alternative.
	Title          string
	PlotL, PlotR   num
	Demand, Stock  Panel
	SoldPath       string // bars, one closed subpath per day with sales
	StockoutPath   string // marks below the demand axis on stockout days
	ForecastPath   string // polyline over the horizon
	OnHandPath     string // bars filling each history day
	OnOrderPath    string // bars stacked on the on-hand ones
	AsOf           VLine
	NeedBy         *VLine
	ROP, OrderUpTo *HLine
	Position       *Marker
	XTicks         []Tick
	// TickY2 is where x ticks end, TickLabelY their labels' baseline.
	TickY2, TickLabelY num
}

// Panel is one of a chart's two plots.
type Panel struct {
	Top, Bottom num
	Label       string
	// Ticks are y-axis ticks (At is y).
	Ticks []Tick
}

// Tick is an axis tick: its position and label.
type Tick struct {
	At    num
	Label string
}

// VLine is a vertical marker across both panels.
type VLine struct {
	X, Top, Bottom num
	Label          string
	// Anchor is the label's text-anchor (start or end, to stay inside).
	Anchor string
}

// HLine is a horizontal level in the stock panel.
type HLine struct {
	X1, X2, Y num
	Label     string
}

// Marker shows the inventory position at the as-of date (a dot at Y) and
// the suggested quantity on top of it (a bar up to Y2), labelled left of X.
type Marker struct {
	X, Y, Y2, LabelY num
	Label            string
}

// Chart layout, in SVG pixels.
const (
	chartW       = 620
	chartH       = 236
	plotL        = 46
	plotR        = chartW - 10
	demandTop    = 22
	demandBottom = 100
	stockTop     = 130
	stockBottom  = 206
	tickLabelY   = 220
)

// newChart lays out the chart of a line of run r.
func newChart(r *Run, ln *Line) Chart {
	s := &ln.Series
	days := s.History + s.Horizon
	c := Chart{
		W: chartW, H: chartH, PlotL: plotL, PlotR: plotR, TickY2: stockBottom + 3, TickLabelY: tickLabelY,
		Demand: Panel{Top: demandTop, Bottom: demandBottom, Label: "units sold per day, forecast dashed"},
		Stock:  Panel{Top: stockTop, Bottom: stockBottom, Label: "stock: on hand, on order, reorder point, order-up-to"},
	}
	if days <= 0 {
		c.Title = ln.SKU + ": no days to chart"
		return c
	}
	slot := float64(plotR-plotL) / float64(days)
	x := func(i int) float64 { return plotL + float64(i)*slot } // left edge of day i

	// Demand panel.
	hi := 0.0
	for _, v := range s.Sold {
		hi = max(hi, float64(v))
	}
	for _, v := range s.Forecast {
		if !math.IsNaN(v) {
			hi = max(hi, v)
		}
	}
	top := niceCeil(hi)
	yd := scale(0, top, demandBottom, demandTop)
	c.Demand.Ticks = ticks(0, top, yd)
	var sold, outs, fc strings.Builder
	bw := slot * 0.7
	for i, v := range s.Sold {
		if v > 0 {
			y := yd(float64(v))
			fmt.Fprintf(&sold, "M%v %vh%vV%vh%vz", num(x(i)+(slot-bw)/2), num(demandBottom), num(bw), num(y), num(-bw))
		}
		if s.OnHandKnown[i] && s.OnHand[i] <= 0 {
			fmt.Fprintf(&outs, "M%v %vh%vv4h%vz", num(x(i)), num(demandBottom+1), num(slot), num(-slot))
		}
	}
	pen := "M"
	for i, v := range s.Forecast {
		if math.IsNaN(v) {
			pen = "M"
			continue
		}
		fmt.Fprintf(&fc, "%s%v %v", pen, num(x(s.History+i)+slot/2), num(yd(v)))
		pen = "L"
	}
	c.SoldPath, c.StockoutPath, c.ForecastPath = sold.String(), outs.String(), fc.String()

	// Stock panel.
	lo, hiS := 0.0, 1.0
	for i := range s.OnHand {
		if s.OnHandKnown[i] {
			lo = min(lo, float64(s.OnHand[i]))
			hiS = max(hiS, float64(max(s.OnHand[i], 0)+s.OnOrder[i]))
		} else {
			hiS = max(hiS, float64(s.OnOrder[i]))
		}
	}
	pos, after := float64(ln.InventoryPosition), float64(ln.InventoryPosition+ln.SuggestedQty)
	lo = min(lo, pos)
	for _, v := range []float64{ln.ReorderPoint, ln.OrderUpTo, pos, after} {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			hiS = max(hiS, v)
		}
	}
	topS := niceCeil(hiS)
	loS := 0.0
	if lo < 0 {
		loS = -niceCeil(-lo)
	}
	ys := scale(loS, topS, stockBottom, stockTop)
	c.Stock.Ticks = ticks(loS, topS, ys)
	var onHand, onOrder strings.Builder
	for i := range s.OnHand {
		base := 0.0
		if s.OnHandKnown[i] && s.OnHand[i] != 0 {
			v := float64(s.OnHand[i])
			fmt.Fprintf(&onHand, "M%v %vh%vV%vh%vz", num(x(i)), num(ys(0)), num(slot), num(ys(v)), num(-slot))
			base = max(v, 0)
		}
		if q := s.OnOrder[i]; q > 0 {
			fmt.Fprintf(&onOrder, "M%v %vh%vV%vh%vz", num(x(i)), num(ys(base)), num(slot), num(ys(base+float64(q))), num(-slot))
		}
	}
	c.OnHandPath, c.OnOrderPath = onHand.String(), onOrder.String()
	level := func(v float64, label string) *HLine {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < loS || v > topS {
			return nil
		}
		return &HLine{X1: plotL, X2: plotR, Y: num(ys(v)), Label: label + " " + fmtQty(v)}
	}
	if math.Abs(ln.OrderUpTo-ln.ReorderPoint) < 0.05 {
		c.ROP = level(ln.ReorderPoint, "reorder point = order-up-to")
	} else {
		c.ROP = level(ln.ReorderPoint, "reorder point")
		c.OrderUpTo = level(ln.OrderUpTo, "order-up-to")
	}
	asOfX := x(s.History)
	c.AsOf = VLine{X: num(asOfX), Top: demandTop - 8, Bottom: stockBottom, Label: "as of " + r.AsOf.String(), Anchor: "start"}
	if s.History > s.Horizon {
		c.AsOf.Anchor = "end"
	}
	if i := int(ln.NeedBy - r.AsOf); ln.NeedBy != 0 && i >= 0 && i < s.Horizon {
		nx := x(s.History+i) + slot/2
		c.NeedBy = &VLine{X: num(nx), Top: stockTop, Bottom: stockBottom, Label: "need by " + dayLabel(ln.NeedBy), Anchor: "middle"}
		if nx > plotR-40 {
			c.NeedBy.Anchor = "end"
		}
	}
	// The suggestion stands just right of the as-of line; its label left
	// of it, at the top of the bar (the need-by label keeps the right).
	mx := asOfX + min(slot/2, 4)
	c.Position = &Marker{X: num(mx), Y: num(ys(pos)), Y2: num(ys(after)), Label: "+" + strconv.FormatInt(ln.SuggestedQty, 10)}
	c.Position.LabelY = max(min(c.Position.Y2, c.Position.Y)+8, stockTop+8)

	// Days: a tick every week, on the as-of date and every 7 days around it.
	for i := s.History % 7; i < days; i += 7 {
		d := s.Start.AddDays(i)
		c.XTicks = append(c.XTicks, Tick{At: num(x(i)), Label: dayLabel(d)})
	}
	c.Title = chartTitle(r, ln)
	return c
}

// chartTitle is a chart's text alternative: what it shows, in numbers.
func chartTitle(r *Run, ln *Line) string {
	s := &ln.Series
	var sold int64
	for _, v := range s.Sold {
		sold += v
	}
	fc, n := 0.0, 0
	for _, v := range s.Forecast {
		if !math.IsNaN(v) {
			fc += v
			n++
		}
	}
	t := fmt.Sprintf("%s: %d units sold in the %d days before %s", ln.SKU, sold, s.History, r.AsOf)
	if n > 0 {
		t += fmt.Sprintf("; %s forecast over the next %d days", fmtQty(fc), n)
	}
	return t + fmt.Sprintf("; on hand %d, on order %d, position %d, reorder point %s, order-up-to %s; suggested %d",
		ln.OnHand, ln.OnOrder, ln.InventoryPosition, fmtQty(ln.ReorderPoint), fmtQty(ln.OrderUpTo), ln.SuggestedQty)
}

// scale maps [lo, hi] to [y0, y1] (pixel rows grow downwards).
func scale(lo, hi, y0, y1 float64) func(float64) float64 {
	if hi <= lo {
		hi = lo + 1
	}
	return func(v float64) float64 { return y0 + (v-lo)/(hi-lo)*(y1-y0) }
}

// ticks are the y ticks of [lo, hi]: the ends, zero and the middle.
func ticks(lo, hi float64, y func(float64) float64) []Tick {
	vals := []float64{lo, hi}
	if lo < 0 {
		vals = append(vals, 0)
	} else {
		vals = append(vals, (lo+hi)/2)
	}
	out := make([]Tick, 0, len(vals))
	for _, v := range vals {
		out = append(out, Tick{At: num(y(v)), Label: fmtQty(v)})
	}
	return out
}

// niceCeil rounds v up to a round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6
// or 8 times a power of ten), at least 1.
func niceCeil(v float64) float64 {
	if !(v > 1) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// fmtQty formats a quantity: an integer when whole, else one decimal.
func fmtQty(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// dayLabel formats a date as MM-DD.
func dayLabel(d schema.Date) string { return d.String()[5:] }

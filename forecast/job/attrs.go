package job

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shelflake/shelflake/schema"
)

// seriesAttr is what the run knows of one series besides its daily demand
// (a row of the series table). Strings are interned.
type seriesAttr struct {
	loc, sku, sup, cur string
	dept               string
	hasParams, hasInv  bool
	leadDays, review   int32
	casePack, moq      int32
	unitCost           schema.Money
	serviceLevel       float64
	sold, ins, cens    [3]int64 // over the last 7, 28 and 91 days
	revenue28          schema.Money
	onHand, allocated  int64
	onOrder            int64
	ltLoc, ltSup       leadObs
	// Set by the source from the daily series as it passes: its first day,
	// length, censored and promotion days, days with demand and days since
	// the last one (the series' length when it has none).
	start                   schema.Date
	days                    int32
	censoredDays, promoDays int32
	saleDays, sinceSale     int32
	// ramp multiplies the forecast: the location's yearly ramp over the
	// horizon (see ramps).
	ramp float64
	// outlierScale multiplies the forecast and its error scale: the
	// history's total over its total with outliers capped (capOutliers;
	// 1, or 0 before the series is read, when nothing was cut).
	outlierScale float64
}

// Dead items: a series whose last demand is at least deadMinDays ago and at
// least deadIntervals times its mean interval between demand days (its
// history before the last one) has stopped selling.
const (
	deadMinDays   = 56
	deadIntervals = 4
)

// dead reports whether the series has stopped selling (see deadMinDays).
func (a *seriesAttr) dead() bool {
	if a.saleDays == 0 || a.sinceSale < deadMinDays {
		return false
	}
	interval := float64(a.days-a.sinceSale) / float64(a.saleDays)
	return float64(a.sinceSale) >= deadIntervals*interval
}

// leadObs are observed lead times: count, sum and sum of squares (days).
type leadObs struct{ n, s, ss int64 }

// windows are the velocity windows, in days.
var windows = [3]int64{7, 28, 91}

// readAttrs reads the series table (ordered by series_id, which must run
// 0..n−1) through Arrow.
func readAttrs(ctx context.Context, query func(context.Context, string) (array.RecordReader, error)) ([]seriesAttr, error) {
	rr, err := query(ctx, seriesColumnsSQL)
	if err != nil {
		return nil, fmt.Errorf("read series: %w", err)
	}
	defer rr.Release()
	intern := map[string]string{}
	// Arrow strings point into the record's (C) memory: keep copies.
	str := func(s string) string {
		if v, ok := intern[s]; ok {
			return v
		}
		v := strings.Clone(s)
		intern[v] = v
		return v
	}
	var out []seriesAttr
	for rr.Next() {
		rec := rr.RecordBatch()
		c, err := newCols(rec)
		if err != nil {
			return nil, err
		}
		for i := range int(rec.NumRows()) {
			id := c.int("series_id", i)
			if id != int64(len(out)) {
				return nil, fmt.Errorf("series table: series %d at row %d", id, len(out))
			}
			a := seriesAttr{
				loc: str(c.str("location_id", i)), sku: str(c.str("sku", i)),
				sup: str(c.str("supplier_id", i)), cur: str(c.str("currency", i)), dept: str(c.str("department", i)),
				hasParams: c.bool("has_params", i), hasInv: c.bool("has_inventory", i),
				leadDays: int32(c.int("lead_time_days", i)), review: int32(c.int("review_period_days", i)),
				casePack: int32(c.int("case_pack", i)), moq: int32(c.int("moq", i)),
				unitCost: schema.Money(c.int("unit_cost", i)), serviceLevel: c.float("service_level", i),
				revenue28: schema.Money(c.int("revenue28", i)),
				onHand:    c.int("on_hand", i), allocated: c.int("allocated", i), onOrder: c.int("on_order", i),
				ltLoc: leadObs{c.int("lt_loc_n", i), c.int("lt_loc_s", i), c.int("lt_loc_ss", i)},
				ltSup: leadObs{c.int("lt_sup_n", i), c.int("lt_sup_s", i), c.int("lt_sup_ss", i)},
			}
			for k, w := range []string{"7", "28", "91"} {
				a.sold[k], a.ins[k], a.cens[k] = c.int("sold"+w, i), c.int("ins"+w, i), c.int("cens"+w, i)
			}
			out = append(out, a)
		}
		if err := c.err; err != nil {
			return nil, err
		}
	}
	if err := rr.Err(); err != nil {
		return nil, fmt.Errorf("read series: %w", err)
	}
	return out, nil
}

// cols reads named columns of a record; the first type or name problem is
// kept in err (values read as zero after it).
type cols struct {
	rec arrow.RecordBatch
	idx map[string]int
	err error
}

func newCols(rec arrow.RecordBatch) (*cols, error) {
	c := &cols{rec: rec, idx: map[string]int{}}
	for i, f := range rec.Schema().Fields() {
		c.idx[f.Name] = i
	}
	return c, nil
}

func (c *cols) col(name string) arrow.Array {
	i, ok := c.idx[name]
	if !ok {
		if c.err == nil {
			c.err = fmt.Errorf("series table: no column %s", name)
		}
		return nil
	}
	return c.rec.Column(i)
}

func (c *cols) fail(name string, a arrow.Array) {
	if c.err == nil {
		c.err = fmt.Errorf("series table: column %s is %s", name, a.DataType())
	}
}

func (c *cols) int(name string, i int) int64 {
	a := c.col(name)
	if a == nil || a.IsNull(i) {
		return 0
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Date32:
		return int64(a.Value(i))
	}
	c.fail(name, a)
	return 0
}

func (c *cols) float(name string, i int) float64 {
	a := c.col(name)
	if a == nil || a.IsNull(i) {
		return 0
	}
	switch a := a.(type) {
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	}
	c.fail(name, a)
	return 0
}

func (c *cols) str(name string, i int) string {
	a := c.col(name)
	if a == nil || a.IsNull(i) {
		return ""
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.StringView:
		return a.Value(i)
	}
	c.fail(name, a)
	return ""
}

func (c *cols) bool(name string, i int) bool {
	a := c.col(name)
	if a == nil || a.IsNull(i) {
		return false
	}
	if b, ok := a.(*array.Boolean); ok {
		return b.Value(i)
	}
	c.fail(name, a)
	return false
}

var errNoSeries = errors.New("no series to forecast: sales_daily has no sales before the as-of date")

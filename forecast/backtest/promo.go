package backtest

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/shelflake/shelflake/forecast/promo"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// The baselines are given the promotions the forecast job is given: the
// states of erp.promotions published before the origin (the promotions
// table's partitions before it), the latest state of each promotion, SKU
// and location, the planned ones. From them, as the job does (package
// forecast/promo), the backtest
//
//   - leaves a known promotion's days and the promo.DipDays after it out
//     of each baseline's history (as missing, like a closed day), so that
//     a level is the item's baseline;
//   - estimates the promotion response per department from the chain-wide
//     promotions that ended before the origin and started at least 28
//     days into the history: units per carrying store and day during each,
//     over the 28 days before it (other promotions and their dips left
//     out) and over the dip days after it. The job leaves stockout
//     store-days out of these rates; the backtest, reading sales only,
//     does not;
//   - multiplies each baseline's forecast by the response's multipliers
//     (promo.Model.Multipliers) of the known promotions of the series'
//     SKU, chain-wide or at its store, over the horizon.
//
// A lake without a promotions table gives every baseline what it had
// before: no mask and no lift.

// promoRow is the part of schema.PromotionRow the backtest reads.
type promoRow struct {
	PromotionID  string      `parquet:"promotion_id"`
	SKU          string      `parquet:"sku"`
	LocationID   string      `parquet:"location_id,optional"`
	StartDate    schema.Date `parquet:"start_date,date"`
	EndDate      schema.Date `parquet:"end_date,date"`
	DiscountPct  int32       `parquet:"discount_pct"`
	Status       string      `parquet:"status"`
	UpdatedAt    time.Time   `parquet:"updated_at,timestamp(microsecond)"`
	IngestedAt   time.Time   `parquet:"ingested_at,timestamp(microsecond)"`
	SrcPartition int32       `parquet:"src_partition"`
	SrcOffset    int64       `parquet:"src_offset"`

	dt schema.Date // the partition: the day the state was published
}

// promoFeed is every published promotion state, by SKU.
type promoFeed map[string][]promoRow

// loadPromotions reads the promotions table (nil without one).
func loadPromotions(ctx context.Context, l *lake.Lake) (promoFeed, error) {
	t := schema.TablePromotions()
	snap, ok, err := snapshot(ctx, l, t)
	if err != nil || !ok {
		return nil, err
	}
	feed := promoFeed{}
	buf := make([]promoRow, 1024)
	for _, f := range snap.Files() {
		dt, err := schema.ParseDate(f.PartitionValues[t.PartitionColumn])
		if err != nil {
			return nil, err
		}
		if err := readAll(ctx, l, f, buf, func(r *promoRow) {
			x := *r
			x.dt = dt
			feed[x.SKU] = append(feed[x.SKU], x)
		}); err != nil {
			return nil, err
		}
	}
	return feed, nil
}

// knownPromo is a planned promotion as known at an origin; loc "" is
// chain-wide.
type knownPromo struct {
	loc string
	w   promo.Window // days since the epoch
}

// known returns, per SKU, the planned promotions as published before asOf.
func (f promoFeed) known(asOf schema.Date) map[string][]knownPromo {
	out := map[string][]knownPromo{}
	type key struct{ id, loc string }
	for sku, rows := range f {
		latest := map[key]*promoRow{}
		for i := range rows {
			r := &rows[i]
			if r.dt >= asOf {
				continue
			}
			k := key{r.PromotionID, r.LocationID}
			if cur, ok := latest[k]; !ok || cmp.Or(r.UpdatedAt.Compare(cur.UpdatedAt), r.IngestedAt.Compare(cur.IngestedAt),
				cmp.Compare(r.SrcPartition, cur.SrcPartition), cmp.Compare(r.SrcOffset, cur.SrcOffset)) > 0 {
				latest[k] = r
			}
		}
		var ps []knownPromo
		for _, r := range latest {
			if r.Status != string(schema.PromotionPlanned) {
				continue
			}
			ps = append(ps, knownPromo{loc: r.LocationID, w: promo.Window{First: int(r.StartDate), Last: int(r.EndDate), DiscountPct: float64(r.DiscountPct)}})
		}
		slices.SortFunc(ps, func(a, b knownPromo) int {
			return cmp.Or(cmp.Compare(a.w.First, b.w.First), cmp.Compare(a.loc, b.loc), cmp.Compare(a.w.Last, b.w.Last))
		})
		if len(ps) > 0 {
			out[sku] = ps
		}
	}
	return out
}

// promoResponse estimates the promotion response at origin asOf with
// history from hs from the panel's chain-wide sales of the known
// promotions' SKUs (see above).
func promoResponse(p *panel, known map[string][]knownPromo, hs, asOf schema.Date) *promo.Model {
	bySKU := map[string][]int{}
	for i, k := range p.keys {
		bySKU[k.sku] = append(bySKU[k.sku], i)
	}
	var est promo.Estimator
	for sku, ps := range known {
		series := bySKU[sku]
		if len(series) == 0 {
			continue
		}
		dept := ""
		for _, i := range series {
			if p.dept != nil && p.dept[i] != "" {
				dept = p.dept[i]
				break
			}
		}
		busy := func(d int, dip bool) bool {
			for _, q := range ps {
				end := q.w.Last
				if dip {
					end += promo.DipDays
				}
				if q.loc == "" && d >= q.w.First && d <= end {
					return true
				}
			}
			return false
		}
		rate := func(from, to int, skip func(int) bool) (float64, int) {
			var u float64
			n := 0
			for d := from; d < to; d++ {
				if skip != nil && skip(d) {
					continue
				}
				t := p.day(schema.Date(d))
				if t < 0 || t >= p.days {
					continue
				}
				for _, i := range series {
					u += float64(p.demand[i][t])
				}
				n++
			}
			if n == 0 {
				return math.NaN(), 0
			}
			return u / float64(n*len(series)), n
		}
		for _, q := range ps {
			if q.loc != "" || q.w.First < int(hs)+28 || q.w.Last >= int(asOf) {
				continue
			}
			o := promo.Observation{Group: dept, DiscountPct: q.w.DiscountPct, AfterRate: math.NaN()}
			var n int
			o.PromoRate, n = rate(q.w.First, q.w.Last+1, nil)
			o.Days = float64(n)
			o.BaseRate, _ = rate(q.w.First-28, q.w.First, func(d int) bool { return busy(d, true) })
			if q.w.Last+promo.DipDays < int(asOf) {
				if r, k := rate(q.w.Last+1, q.w.Last+1+promo.DipDays, func(d int) bool { return busy(d, false) }); k == promo.DipDays {
					o.AfterRate = r
				}
			}
			if math.IsNaN(o.PromoRate) || math.IsNaN(o.BaseRate) {
				continue
			}
			est.Add(o)
		}
	}
	return est.Model()
}

// seriesPromos returns the known promotions of series (store, sku).
func seriesPromos(known map[string][]knownPromo, store, sku string, dst []promo.Window) []promo.Window {
	dst = dst[:0]
	for _, q := range known[sku] {
		if q.loc == "" || q.loc == store {
			dst = append(dst, q.w)
		}
	}
	return dst
}

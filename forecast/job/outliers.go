package job

import "slices"

// outlierCap is Options.OutlierCap's default.
const outlierCap = 6

// outlierMinSaleDays is the fewest sale days whose median a cap is taken
// from: below it a series keeps its history as it is.
const outlierMinSaleDays = 5

// capOutliers cuts each day of vals above k × the median of its sale days
// (the days with sales) down to that, and returns the history's total over
// its capped total (1 when nothing was cut, k ≤ 0, or the series has fewer
// than outlierMinSaleDays sale days). scratch is reused between calls.
//
// Real POS histories carry one-off bulk orders: in the UCI export, 2,016
// units of item 22188 in one day, where its median sale day is 4. Fitted as
// they are, such a day sets a seasonal model's pattern, a level's jump and
// a backtest's error, and the series is forecast as if it recurred. Fitted on the capped
// history and scaled back by the returned ratio, the forecast keeps every
// unit the series sold (its level is the history's) while its shape and
// model choice come from its ordinary days.
func capOutliers(vals []float32, k float64, scratch *[]float32) float64 {
	if k <= 0 {
		return 1
	}
	nz := (*scratch)[:0]
	for _, v := range vals {
		if v > 0 {
			nz = append(nz, v)
		}
	}
	*scratch = nz
	if len(nz) < outlierMinSaleDays {
		return 1
	}
	slices.Sort(nz)
	limit := float32(max(k*float64(nz[len(nz)/2]), 1))
	var before, after float64
	for i, v := range vals {
		before += float64(v)
		if v > limit {
			vals[i] = limit
			v = limit
		}
		after += float64(v)
	}
	if after <= 0 || before == after {
		return 1
	}
	return before / after
}

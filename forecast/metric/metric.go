// Package metric scores demand forecasts: RMSSE per series and the M5
// competition's revenue-weighted WRMSSE over many series.
//
// RMSSE (root mean squared scaled error) of a series is
//
//	RMSSE = sqrt( mean_h (a_h − f_h)²  /  scale )
//
// where a are the actuals over the horizon, f the forecasts and scale the
// in-sample mean squared one-step change of the series (what a naive
// "tomorrow = today" forecast errs by, squared), so a series' RMSSE does not
// depend on its units and 1 means "as good as the naive forecast was
// in-sample". WRMSSE is Σ wᵢ·RMSSEᵢ / Σ wᵢ with wᵢ a series' revenue over the
// last 28 days of training.
package metric

import "math"

// NaiveScale returns the RMSSE scale of history y: the mean of (y[t]−y[t−1])²
// over the pairs of days from the first day with positive demand on where
// neither day is missing (missing may be nil; a missing day — a stockout, a
// promotion — is one whose value is not the demand). When there is no such
// pair, or every change is zero, it falls back to the mean of y² over the
// non-missing days, and to 1 when that is zero too, so the scale is always
// positive.
func NaiveScale(y []float64, missing []bool) float64 {
	miss := func(t int) bool { return missing != nil && missing[t] }
	start := 0
	for start < len(y) && (y[start] <= 0 || miss(start)) {
		start++
	}
	var sum float64
	var n int
	for t := start + 1; t < len(y); t++ {
		if miss(t) || miss(t-1) {
			continue
		}
		d := y[t] - y[t-1]
		sum += d * d
		n++
	}
	if n > 0 && sum > 0 {
		return sum / float64(n)
	}
	sum, n = 0, 0
	for t := range y {
		if !miss(t) {
			sum += y[t] * y[t]
			n++
		}
	}
	if n > 0 && sum > 0 {
		return sum / float64(n)
	}
	return 1
}

// MSE returns the mean squared difference of actual and forecast over their
// common length (0 for empty input).
func MSE(actual, forecast []float64) float64 {
	n := min(len(actual), len(forecast))
	if n == 0 {
		return 0
	}
	var sum float64
	for i := range n {
		d := actual[i] - forecast[i]
		sum += d * d
	}
	return sum / float64(n)
}

// RMSSE returns sqrt(MSE(actual, forecast) / scale); scale must be positive
// (see NaiveScale).
func RMSSE(actual, forecast []float64, scale float64) float64 {
	return math.Sqrt(MSE(actual, forecast) / scale)
}

// WRMSSE accumulates weighted RMSSEs of series. The zero value is ready to use.
type WRMSSE struct {
	sum, weights float64
	n            int
}

// Add adds one series' RMSSE with its weight (its revenue; negative weights
// count as zero).
func (w *WRMSSE) Add(weight, rmsse float64) {
	if weight <= 0 || math.IsNaN(rmsse) {
		return
	}
	w.sum += weight * rmsse
	w.weights += weight
	w.n++
}

// Merge adds o's series to w.
func (w *WRMSSE) Merge(o WRMSSE) {
	w.sum += o.sum
	w.weights += o.weights
	w.n += o.n
}

// Value returns Σ wᵢ·RMSSEᵢ / Σ wᵢ, or NaN when no series had weight.
func (w *WRMSSE) Value() float64 {
	if w.weights == 0 {
		return math.NaN()
	}
	return w.sum / w.weights
}

// Series returns the number of series with positive weight added.
func (w *WRMSSE) Series() int { return w.n }

// Weighted returns Σ wᵢ·RMSSEᵢ / Σ wᵢ over parallel slices (an element with
// non-positive weight is skipped), NaN when the weights sum to zero.
func Weighted(weights, rmsse []float64) float64 {
	var acc WRMSSE
	for i := range min(len(weights), len(rmsse)) {
		acc.Add(weights[i], rmsse[i])
	}
	return acc.Value()
}

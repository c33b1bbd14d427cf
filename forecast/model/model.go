// Package model forecasts daily demand of one store-SKU series at a time:
// the candidate methods (seasonal naive, moving average, simple exponential
// smoothing, weekly-seasonal Holt-Winters with optional damped trend,
// Croston-SBA, TSB and a weekly-seasonal TSB), their parameter fitting, and
// the choice between them by a rolling-origin backtest on RMSSE.
//
// # Censored days
//
// A series is daily demand with a mask of days whose value is not the demand:
// censored days (a stockout: the value is what sold, and demand was at least
// that) and, optionally, promotion days (demand lifted by a price cut, not
// the baseline the models describe). Such a day is treated as missing by
// every method: it adds nothing to the fitting error, and the state is
// updated with the model's own one-step forecast in place of the value — for
// a censored day with max(forecast, sold), since demand was at least what
// sold. Stockouts therefore never teach a model that demand was zero.
// Closed days (the store did not trade, Series.Closed) are missing the
// same way, and closed forecast days (Series.ClosedAhead) are forecast
// zero: levels are per trading day.
//
// # Fitting and selection
//
// For a series of T days, the backtest origins are T−k·H for k = Origins..1
// (H = Horizon; default 3 origins × 28 days). Each candidate's parameters and
// initial states are fitted once, on the days before the first origin, by
// minimising the in-sample one-step squared error over the non-missing days
// (golden-section search in one dimension, a bounded Nelder-Mead in more, a
// small grid for the moving-average window). Seasonal methods start from
// weekday indices estimated on that window and shrunk (James-Stein) towards
// a pooled prior profile when the series brings one (Series.Season), else
// towards no season. The fitted model is then run over the whole series with
// those parameters, and at every origin it forecasts the next H days; its
// errors against the non-missing actuals of those days are the candidate's
// backtest errors, and its RMSSE the root of their mean square over the
// series' naive scale (see package metric).
//
// The candidate with the lowest backtest error wins — unless it beats the
// preferred default method by less than Options.Margin (10%): backtest
// windows are short and noisy, and a challenger must win clearly to displace
// the default (HoltWintersMul for smooth series, TSBSeasonal for intermittent
// ones, whose average interval between demands is at least 1.32 days).
// Seasonal naive is not tried on intermittent series (it can only win a
// short backtest by luck there). Optionally the mean of the best k
// candidates competes too (EnsembleSize), or a weighted combination of the
// best replaces the choice (Combine).
// The chosen model is refitted on all T days (warm-started from its backtest
// parameters) for the final forecast, and its backtest errors are kept
// (Result.Residuals) for the error spread used by safety stock.
//
// # Cost
//
// A Scratch holds every buffer one series needs; after the first series of a
// given length it allocates nothing. Use one Scratch per goroutine.
package model

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Kind identifies a forecasting method.
type Kind uint8

// Methods. The order is the tie-break order of selection (an earlier kind
// wins a tie) and the index into Result.CandidateRMSSE. The zero Kind is no
// method.
const (
	// SeasonalNaive forecasts each day as the last non-missing value of the
	// same weekday.
	SeasonalNaive Kind = iota + 1
	// MovingAverage forecasts the mean of the non-missing days of the last
	// k days (k fitted from 7, 14, 28, 56, 91), flat.
	MovingAverage
	// SES is simple exponential smoothing (ETS(A,N,N)), flat.
	SES
	// HoltWintersAdd is exponential smoothing with an additive weekly season
	// (ETS(A,N,A)).
	HoltWintersAdd
	// HoltWintersMul has a multiplicative weekly season (ETS(A,N,M)).
	HoltWintersMul
	// HoltWintersAddDamped adds a damped trend to HoltWintersAdd
	// (ETS(A,Ad,A)).
	HoltWintersAddDamped
	// HoltWintersMulDamped adds a damped trend to HoltWintersMul
	// (ETS(A,Ad,M)).
	HoltWintersMulDamped
	// CrostonSBA is Croston's method with the Syntetos-Boylan bias
	// correction, for intermittent demand.
	CrostonSBA
	// TSB is the Teunter-Syntetos-Babai method: smoothed demand probability
	// times smoothed demand size, updated every day.
	TSB
	// TSBSeasonal is TSB on deseasonalised demand (the weekly profile of
	// HoltWintersMul's initialisation, held fixed) times the profile.
	TSBSeasonal
	// Ensemble is the mean of the best few candidates (Result.Members).
	Ensemble

	// NumKinds is the number of kinds.
	NumKinds = int(Ensemble) + 1
)

var kindNames = [NumKinds]string{
	"none", "snaive", "ma", "ses", "hw_add", "hw_mul", "hw_add_damped", "hw_mul_damped",
	"croston_sba", "tsb", "tsb_seasonal", "ensemble",
}

// String returns the kind's short name ("ses", "hw_mul", ...).
func (k Kind) String() string {
	if k > 0 && int(k) < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind returns the kind named s (as String writes it).
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("model kind %q: want one of %s", s, strings.Join(kindNames[1:], ", "))
}

// Singles lists every single method.
var Singles = []Kind{SeasonalNaive, MovingAverage, SES, HoltWintersAdd, HoltWintersMul,
	HoltWintersAddDamped, HoltWintersMulDamped, CrostonSBA, TSB, TSBSeasonal}

// DefaultCandidates are the methods tried by default: every single method
// but the damped-trend ones, which cost twice the others and, on daily
// retail demand over a 28-day horizon, rarely beat the undamped ones by
// enough to be chosen (measured on generated worlds: dropping them changes
// hold-out WRMSSE by under 0.5%).
var DefaultCandidates = []Kind{SeasonalNaive, MovingAverage, SES, HoltWintersAdd, HoltWintersMul,
	CrostonSBA, TSB, TSBSeasonal}

// Members is a set of kinds (bit k set: kind k is a member).
type Members uint16

// Has reports whether k is in the set.
func (m Members) Has(k Kind) bool { return m&(1<<k) != 0 }

// String lists the members joined by "+".
func (m Members) String() string {
	var b strings.Builder
	for k := 1; k < NumKinds; k++ {
		if m.Has(Kind(k)) {
			if b.Len() > 0 {
				b.WriteByte('+')
			}
			b.WriteString(Kind(k).String())
		}
	}
	return b.String()
}

// Status says how a series was forecast.
type Status uint8

// Statuses.
const (
	// Selected: candidates were backtested and the best chosen.
	Selected Status = iota
	// ShortHistory: too few days for a backtest (fewer than MinTrain +
	// Horizon); the forecast is the mean of the non-missing days and σ their
	// standard deviation.
	ShortHistory
	// NoDemand: no non-missing day had positive demand; the forecast is zero.
	NoDemand
)

var statusNames = [...]string{"selected", "short_history", "no_demand"}

// String names the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Options configure forecasting. The zero value of a field means its default.
type Options struct {
	// Candidates are the methods tried per series (default
	// DefaultCandidates). Must not contain Ensemble (see EnsembleSize).
	Candidates []Kind
	// Horizon is the backtest horizon in days (default 28).
	Horizon int
	// Origins is the number of backtest origins (default 3). Series too
	// short for all of them use as many as fit.
	Origins int
	// MinTrain is the fewest days before the first origin (default 28).
	MinTrain int
	// ForecastDays is the length of the final forecast (default Horizon).
	ForecastDays int
	// EnsembleSize k ≥ 2 lets the mean of the k best candidates (by backtest
	// RMSSE) compete as one more candidate; 0 or 1 disables it.
	EnsembleSize int
	// NoRefit keeps the parameters fitted before the first backtest origin
	// for the final forecast instead of refitting the chosen model on the
	// whole series (faster, slightly staler).
	NoRefit bool
	// Default is the preferred method (default HoltWintersMul, which fits
	// most retail series: a level times a weekday profile): another
	// candidate is chosen only when its backtest MSE is lower than the
	// default's by more than the fraction Margin (default 0.1), so that
	// backtest noise alone does not switch models. A negative Margin, or a
	// Default not among the candidates, selects on backtest MSE alone.
	Default Kind
	Margin  float64
	// IntermittentDefault replaces Default for intermittent series: those
	// whose average demand interval (non-missing days per day with positive
	// demand) is at least IntermittentADI (Syntetos-Boylan's cut-off 1.32 by
	// default). Default TSB.
	IntermittentDefault Kind
	IntermittentADI     float64
	// Combine forecasts with a weighted combination of the best candidates
	// instead of the one chosen (see combine): weights from the inverse
	// backtest MSE, shrunk towards equal weights. Each member is refitted
	// on the whole series (unless NoRefit), so it costs up to CombineSize
	// refits instead of one. Measured on the UCI Online Retail data it tied
	// selection at SKU level and did worse at store and total level, so it
	// is not the default.
	Combine bool
	// CombineShrink λ in [0, 1] is how far the combination's weights
	// follow the candidates' inverse backtest MSE rather than equal weights
	// (default 0.5; 1 − λ of the weight is spread equally).
	CombineShrink float64
	// CombineSize is the most candidates combined: the best by backtest
	// MSE, and only those within CombineTrim times the best's MSE (defaults
	// 4 and 2): a candidate that failed on the series gets no weight.
	CombineSize int
	CombineTrim float64
	// MaxEvals bounds the objective evaluations of one parameter search
	// (default 30; the final refit, warm-started, gets half; a
	// one-parameter golden-section search gets a third, at least 8).
	MaxEvals int
}

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.Candidates == nil {
		o.Candidates = DefaultCandidates
	}
	if o.Horizon == 0 {
		o.Horizon = 28
	}
	if o.Origins == 0 {
		o.Origins = 3
	}
	if o.MinTrain == 0 {
		o.MinTrain = 28
	}
	if o.ForecastDays == 0 {
		o.ForecastDays = o.Horizon
	}
	if o.MaxEvals == 0 {
		o.MaxEvals = 30
	}
	if o.Default == 0 {
		o.Default = HoltWintersMul
	}
	if o.Margin == 0 {
		o.Margin = 0.1
	}
	if o.IntermittentDefault == 0 {
		o.IntermittentDefault = TSBSeasonal
	}
	if o.IntermittentADI == 0 {
		o.IntermittentADI = 1.32
	}
	if o.CombineShrink == 0 {
		o.CombineShrink = 0.5
	}
	if o.CombineSize == 0 {
		o.CombineSize = 4
	}
	if o.CombineTrim == 0 {
		o.CombineTrim = 2
	}
	return o
}

// Validate checks o after defaults.
func (o Options) Validate() error {
	var errs []error
	if len(o.Candidates) == 0 {
		errs = append(errs, errors.New("no candidate methods"))
	}
	var seen Members
	for _, k := range o.Candidates {
		switch {
		case k == 0 || int(k) >= NumKinds:
			errs = append(errs, fmt.Errorf("candidate %v: unknown", k))
		case k == Ensemble:
			errs = append(errs, errors.New("candidate ensemble: use EnsembleSize"))
		case seen.Has(k):
			errs = append(errs, fmt.Errorf("candidate %v: listed twice", k))
		}
		seen |= 1 << k
	}
	if o.Horizon < 1 || o.Horizon > 366 {
		errs = append(errs, fmt.Errorf("horizon %d: want 1..366", o.Horizon))
	}
	if o.Origins < 1 || o.Origins > 12 {
		errs = append(errs, fmt.Errorf("origins %d: want 1..12", o.Origins))
	}
	if o.MinTrain < 14 {
		errs = append(errs, fmt.Errorf("min train %d: want at least 14 days", o.MinTrain))
	}
	if o.ForecastDays < 1 || o.ForecastDays > 730 {
		errs = append(errs, fmt.Errorf("forecast days %d: want 1..730", o.ForecastDays))
	}
	if o.EnsembleSize < 0 || o.EnsembleSize > len(o.Candidates) {
		errs = append(errs, fmt.Errorf("ensemble size %d: want 0..%d", o.EnsembleSize, len(o.Candidates)))
	}
	if o.Default == 0 || int(o.Default) >= NumKinds || o.Default == Ensemble {
		errs = append(errs, fmt.Errorf("default %v: want a single method", o.Default))
	}
	if o.IntermittentDefault == 0 || int(o.IntermittentDefault) >= NumKinds || o.IntermittentDefault == Ensemble {
		errs = append(errs, fmt.Errorf("intermittent default %v: want a single method", o.IntermittentDefault))
	}
	if o.Margin >= 1 {
		errs = append(errs, fmt.Errorf("margin %v: want less than 1", o.Margin))
	}
	if !(o.CombineShrink >= 0 && o.CombineShrink <= 1) {
		errs = append(errs, fmt.Errorf("combine shrink %v: want 0..1", o.CombineShrink))
	}
	if o.CombineSize < 1 || !(o.CombineTrim >= 1) {
		errs = append(errs, fmt.Errorf("combine size %d, trim %v: want ≥ 1", o.CombineSize, o.CombineTrim))
	}
	if o.MaxEvals < 10 {
		errs = append(errs, fmt.Errorf("max evals %d: want at least 10", o.MaxEvals))
	}
	return errors.Join(errs...)
}

// Series is one daily demand history, oldest day first. Values are units
// (sales; on a censored day, what sold). Censored and Promo, when not nil,
// have the length of Values and mark the days that are missing to the
// models (see the package doc).
//
// Season, when not nil, is a prior weekly profile of 7 multiplicative
// weekday indices (mean 1) aligned to the series: Season[j] applies to days
// t with t mod 7 = j. Pooled over many similar series (a category in a
// store, say), it is far less noisy than one series' own weekday means; the
// seasonal methods shrink their own estimate towards it rather than towards
// no season.
//
// Closed, when not nil, has the length of Values and marks the days the
// store did not trade (a closed weekday, a holiday): no sale on such a day
// says nothing about demand, so the day is missing to every method, and
// each model's level is a level per trading day. ClosedAhead marks the
// forecast days the store will not trade (days past its end trade): their
// forecast is exactly zero.
type Series struct {
	Values      []float32
	Censored    []bool
	Promo       []bool
	Season      []float32
	Closed      []bool
	ClosedAhead []bool
}

// Result is the forecast of one series.
type Result struct {
	Status Status
	// Model is the chosen method; Members the ensemble's members (Model ==
	// Ensemble) or the chosen method alone.
	Model   Kind
	Members Members
	// Params are the chosen single model's parameters: α, β (trend, or TSB's
	// probability smoothing), γ (season), φ (damping); for MovingAverage
	// Params[0] is the window in days. Zero for Ensemble and parameter-free
	// methods.
	Params [4]float64
	// RMSSE is the chosen model's backtest RMSSE (NaN without a backtest).
	RMSSE float64
	// Scale is the series' naive scale (metric.NaiveScale over non-missing
	// days).
	Scale float64
	// Sigma is the root mean square of the chosen model's backtest errors,
	// units per day (with ShortHistory: the standard deviation of the
	// non-missing days); Bias their mean (actual − forecast).
	Sigma, Bias float64
	// BacktestDays is the number of error days behind RMSSE and Sigma.
	BacktestDays int
	// Observed is the number of non-missing days in the history.
	Observed int
	// Forecast holds ForecastDays daily forecasts (≥ 0) from the day after
	// the history. Fit reuses its capacity.
	Forecast []float64
	// Residuals are the chosen model's backtest errors (actual − forecast),
	// origin-major: Residuals[k·Horizon+h] is the error h+1 days after
	// origin k (oldest origin first); NaN on missing days. Fit reuses its
	// capacity. See WindowSigma.
	Residuals []float64
	// CandidateRMSSE holds every candidate's backtest RMSSE by Kind (NaN for
	// kinds not tried, and at index 0).
	CandidateRMSSE [NumKinds]float64
	// Weights are the combination's weights by Kind (Model == Ensemble
	// from a combination; zero otherwise).
	Weights [NumKinds]float64
}

// Day flags, internal.
const (
	flagCensored uint8 = 1 << iota
	flagPromo
	flagClosed
)

// params are one fitted model: smoothing parameters and initial states.
type params struct {
	alpha, beta, gamma, phi float64
	window                  int
	l0, b0                  float64
	s0                      [7]float64
	z0, p0                  float64
}

// Scratch holds the per-series working memory. It is not safe for
// concurrent use; give each goroutine its own.
type Scratch struct {
	opts    Options
	y       []float64 // values
	m       []uint8   // day flags
	cy, cn  []float64 // prefix sums of non-missing values and counts (MA)
	origins []int
	bt      [NumKinds][]float64 // backtest forecasts, origin-major
	fin     [NumKinds][]float64 // final forecasts
	par     [NumKinds]params
	mse     [NumKinds]float64
	order   []Kind
	combo   []float64
	prior   [7]float64 // weekly prior (1s without one)
	ahead   []bool     // closed forecast days, during a Fit
}

// NewScratch returns working memory for forecasting with opts.
func NewScratch(opts Options) (*Scratch, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("forecast options: %w", err)
	}
	return &Scratch{opts: opts}, nil
}

// Options returns the options in force (defaults filled in).
func (s *Scratch) Options() Options { return s.opts }

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// load copies the series into the scratch buffers.
func (s *Scratch) load(in Series) error {
	n := len(in.Values)
	if in.Censored != nil && len(in.Censored) != n {
		return fmt.Errorf("series of %d days with %d censored flags", n, len(in.Censored))
	}
	if in.Promo != nil && len(in.Promo) != n {
		return fmt.Errorf("series of %d days with %d promotion flags", n, len(in.Promo))
	}
	if in.Closed != nil && len(in.Closed) != n {
		return fmt.Errorf("series of %d days with %d closed flags", n, len(in.Closed))
	}
	s.ahead = in.ClosedAhead
	switch {
	case in.Season == nil:
		s.prior = [7]float64{1, 1, 1, 1, 1, 1, 1}
	case len(in.Season) != 7:
		return fmt.Errorf("season of %d indices: want 7", len(in.Season))
	default:
		var sum float64
		for j, v := range in.Season {
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("season index %d: %v", j, v)
			}
			sum += float64(v)
		}
		if sum <= 0 {
			return errors.New("season indices sum to zero")
		}
		for j, v := range in.Season {
			s.prior[j] = 7 * float64(v) / sum
		}
	}
	s.y = grow(s.y, n)
	if cap(s.m) < n {
		s.m = make([]uint8, n)
	}
	s.m = s.m[:n]
	for t, v := range in.Values {
		f := float64(v)
		if !(f >= 0) || math.IsInf(f, 0) { // negative, NaN or infinite: not demand
			return fmt.Errorf("day %d: demand %v", t, v)
		}
		s.y[t] = f
		var fl uint8
		if in.Censored != nil && in.Censored[t] {
			fl |= flagCensored
		}
		if in.Promo != nil && in.Promo[t] {
			fl |= flagPromo
		}
		if in.Closed != nil && in.Closed[t] {
			fl |= flagClosed
		}
		s.m[t] = fl
	}
	return nil
}

// Fit forecasts one series into r (reusing r.Forecast's capacity).
func (s *Scratch) Fit(in Series, r *Result) error {
	if err := s.load(in); err != nil {
		return err
	}
	s.fit(r)
	for h := range min(len(s.ahead), len(r.Forecast)) {
		if s.ahead[h] {
			r.Forecast[h] = 0
		}
	}
	s.ahead = nil
	return nil
}

// fit forecasts the loaded series.
func (s *Scratch) fit(r *Result) {
	o := &s.opts
	T := len(s.y)
	H := o.Horizon
	fd := o.ForecastDays
	*r = Result{Forecast: grow(r.Forecast, fd), Residuals: r.Residuals[:0], RMSSE: math.NaN()}
	for i := range r.CandidateRMSSE {
		r.CandidateRMSSE[i] = math.NaN()
	}
	// Counts and scale.
	var obs, pos int
	var sum, sum2 float64
	for t, v := range s.y {
		if s.m[t] == 0 {
			obs++
			sum += v
			sum2 += v * v
			if v > 0 {
				pos++
			}
		}
	}
	r.Observed = obs
	r.Scale = scale(s.y, s.m)
	if pos == 0 {
		r.Status = NoDemand
		r.Model, r.Members = MovingAverage, 1<<MovingAverage
		clear(r.Forecast)
		// A censored day with sales still says demand exists: use the
		// largest sale spread over the history as a floor.
		var best float64
		for t, v := range s.y {
			if s.m[t]&flagCensored != 0 && v > best {
				best = v
			}
		}
		if best > 0 && T > 0 {
			for h := range r.Forecast {
				r.Forecast[h] = best / float64(T)
			}
		}
		return
	}
	nOrig := min(o.Origins, (T-o.MinTrain)/H)
	if nOrig < 1 {
		r.Status = ShortHistory
		r.Model, r.Members = MovingAverage, 1<<MovingAverage
		mean := sum / float64(obs)
		for h := range r.Forecast {
			r.Forecast[h] = mean
		}
		r.Sigma = math.Sqrt(max(sum2/float64(obs)-mean*mean, 0))
		if obs > 1 {
			r.Sigma *= math.Sqrt(float64(obs) / float64(obs-1))
		}
		r.Params[0] = float64(T)
		return
	}
	s.origins = s.origins[:0]
	for k := nOrig; k >= 1; k-- {
		s.origins = append(s.origins, T-k*H)
	}
	first := s.origins[0]
	s.prefix()
	s.order = s.order[:0]
	intermittent := float64(obs) >= o.IntermittentADI*float64(pos)
	for _, k := range o.Candidates {
		if intermittent && k == SeasonalNaive && len(o.Candidates) > 1 {
			// Last week's values repeated: for a sparse series mostly
			// zeros, or one sale copied onto every fourth week. It can win
			// a short backtest by luck, never on average. (Alone, as the
			// only candidate, it is what was asked for.)
			continue
		}
		p := &s.par[k]
		s.fitParams(k, p, first, false)
		s.bt[k] = grow(s.bt[k], nOrig*H)
		s.fin[k] = grow(s.fin[k], fd)
		s.run(k, p, T, s.bt[k], s.fin[k])
		mse, _, _ := s.backtestErr(s.bt[k])
		s.mse[k] = mse
		r.CandidateRMSSE[k] = math.Sqrt(mse / r.Scale)
		s.order = append(s.order, k)
	}
	// Rank candidates by backtest MSE (insertion sort: few candidates; ties
	// keep Kind order because Candidates are visited in the given order and
	// the sort is stable).
	for i := 1; i < len(s.order); i++ {
		for j := i; j > 0 && s.less(s.order[j], s.order[j-1]); j-- {
			s.order[j], s.order[j-1] = s.order[j-1], s.order[j]
		}
	}
	best := s.order[0]
	d := o.Default
	if intermittent {
		d = o.IntermittentDefault
	}
	if o.Margin > 0 && seen(s.order, d) && best != d && !(s.mse[best] < (1-o.Margin)*s.mse[d]) {
		best = d
	}
	r.Model, r.Members = best, 1<<best
	bestMSE := s.mse[best]
	bt := s.bt[best]
	if o.Combine && s.combine(r) {
		s.combined(r)
		return
	}
	if k := o.EnsembleSize; k >= 2 && len(s.order) >= k {
		s.combo = grow(s.combo, nOrig*H)
		clear(s.combo)
		for _, c := range s.order[:k] {
			for i, v := range s.bt[c] {
				s.combo[i] += v
			}
		}
		inv := 1 / float64(k)
		for i := range s.combo {
			s.combo[i] *= inv
		}
		mse, _, _ := s.backtestErr(s.combo)
		r.CandidateRMSSE[Ensemble] = math.Sqrt(mse / r.Scale)
		if mse < bestMSE {
			bestMSE = mse
			r.Model, r.Members = Ensemble, 0
			for _, c := range s.order[:k] {
				r.Members |= 1 << c
			}
			bt = s.combo
		}
	}
	mse, bias, n := s.backtestErr(bt)
	r.Residuals = grow(r.Residuals, len(bt))
	for k, o := range s.origins {
		for h := range H {
			i := k*H + h
			if s.m[o+h] != 0 {
				r.Residuals[i] = math.NaN()
			} else {
				r.Residuals[i] = s.y[o+h] - max(bt[i], 0)
			}
		}
	}
	r.RMSSE = math.Sqrt(mse / r.Scale)
	r.Sigma = math.Sqrt(mse)
	r.Bias = bias
	r.BacktestDays = n
	// Final forecast.
	clear(r.Forecast)
	count := 0
	for k := 1; k < NumKinds; k++ {
		if k == int(Ensemble) || !r.Members.Has(Kind(k)) {
			continue
		}
		fin := s.fin[k]
		if !o.NoRefit {
			p := &s.par[k]
			s.fitParams(Kind(k), p, T, true)
			s.run(Kind(k), p, T, nil, fin)
		}
		for h, v := range fin {
			r.Forecast[h] += v
		}
		count++
	}
	for h := range r.Forecast {
		r.Forecast[h] = max(r.Forecast[h]/float64(count), 0)
	}
	if r.Model != Ensemble {
		p := &s.par[r.Model]
		switch r.Model {
		case MovingAverage:
			r.Params[0] = float64(p.window)
		case SeasonalNaive:
		default:
			r.Params = [4]float64{p.alpha, p.beta, p.gamma, p.phi}
		}
	}
}

// combine sets r.Weights to the combination of the K best candidates (at
// most CombineSize, within CombineTrim of the best's backtest MSE):
// w_k = (1−λ)/K + λ·(1/MSE_k)/Σ(1/MSE), and reports whether K ≥ 2. The
// candidates are ranked (s.order) already.
func (s *Scratch) combine(r *Result) bool {
	var inv [NumKinds]float64
	var sum float64
	K := 0
	o := &s.opts
	for _, k := range s.order {
		m := s.mse[k]
		if math.IsNaN(m) || math.IsInf(m, 0) || K == o.CombineSize || m > o.CombineTrim*s.mse[s.order[0]] {
			break
		}
		inv[k] = 1 / max(m, 1e-9*r.Scale)
		sum += inv[k]
		K++
	}
	if K < 2 {
		return false
	}
	lam := s.opts.CombineShrink
	r.Members = 0
	for k, v := range inv {
		if v > 0 {
			r.Weights[k] = (1-lam)/float64(K) + lam*v/sum
			r.Members |= 1 << k
		}
	}
	r.Model = Ensemble
	return true
}

// combined finishes a combination's result: its backtest errors, the
// error spread, and the weighted forecast of the candidates run over the
// whole series with the parameters fitted before the first origin (a
// combination is refitted by none: the weights, not the parameters, carry
// the most recent evidence, and it costs no refit).
func (s *Scratch) combined(r *Result) {
	H := s.opts.Horizon
	nOrig := len(s.origins)
	s.combo = grow(s.combo, nOrig*H)
	clear(s.combo)
	clear(r.Forecast)
	T := len(s.y)
	for k, w := range r.Weights {
		if w == 0 {
			continue
		}
		for i, v := range s.bt[k] {
			s.combo[i] += w * max(v, 0)
		}
		if !s.opts.NoRefit {
			p := &s.par[k]
			s.fitParams(Kind(k), p, T, true)
			s.run(Kind(k), p, T, nil, s.fin[k])
		}
		for h, v := range s.fin[k] {
			r.Forecast[h] += w * max(v, 0)
		}
	}
	mse, bias, n := s.backtestErr(s.combo)
	r.CandidateRMSSE[Ensemble] = math.Sqrt(mse / r.Scale)
	r.Residuals = grow(r.Residuals, len(s.combo))
	for k, o := range s.origins {
		for h := range H {
			i := k*H + h
			if s.m[o+h] != 0 {
				r.Residuals[i] = math.NaN()
			} else {
				r.Residuals[i] = s.y[o+h] - s.combo[i]
			}
		}
	}
	r.RMSSE = math.Sqrt(mse / r.Scale)
	r.Sigma = math.Sqrt(mse)
	r.Bias = bias
	r.BacktestDays = n
}

// WindowSigma estimates the standard deviation of the forecast error of
// demand summed over p consecutive days from backtest residuals laid out as
// Result.Residuals (blocks of horizon days): the root mean square of the
// error sums of every p-day window inside a block (a window with missing
// days is scaled up from its observed days if at least half are observed,
// and skipped otherwise). Errors of nearby days are correlated — a level
// error persists — so this is usually above √p times the daily σ. Windows
// longer than the horizon are extrapolated from horizon-day windows by
// √(p/horizon). It returns NaN when no window qualifies.
func WindowSigma(residuals []float64, horizon, p int) float64 {
	if horizon < 1 || p < 1 || len(residuals) < horizon {
		return math.NaN()
	}
	scaleUp := 1.0
	if p > horizon {
		scaleUp = math.Sqrt(float64(p) / float64(horizon))
		p = horizon
	}
	var ss float64
	var n int
	for b := 0; b+horizon <= len(residuals); b += horizon {
		blk := residuals[b : b+horizon]
		for i := 0; i+p <= horizon; i++ {
			var sum float64
			var c int
			for _, e := range blk[i : i+p] {
				if !math.IsNaN(e) {
					sum += e
					c++
				}
			}
			if 2*c < p || c == 0 {
				continue
			}
			sum *= float64(p) / float64(c)
			ss += sum * sum
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return math.Sqrt(ss/float64(n)) * scaleUp
}

func seen(ks []Kind, k Kind) bool {
	for _, c := range ks {
		if c == k {
			return true
		}
	}
	return false
}

func (s *Scratch) less(a, b Kind) bool {
	ma, mb := s.mse[a], s.mse[b]
	if ma != mb {
		return ma < mb || math.IsNaN(mb)
	}
	return false
}

// backtestErr returns the mean square and mean of actual − forecast over the
// non-missing days of the backtest windows, and their number.
func (s *Scratch) backtestErr(bt []float64) (mse, bias float64, n int) {
	H := s.opts.Horizon
	var sse, se float64
	for k, o := range s.origins {
		f := bt[k*H : k*H+H]
		y := s.y[o : o+H]
		m := s.m[o : o+H]
		for h := range H {
			if m[h] != 0 {
				continue
			}
			e := y[h] - max(f[h], 0)
			sse += e * e
			se += e
			n++
		}
	}
	if n == 0 {
		return math.NaN(), 0, 0
	}
	return sse / float64(n), se / float64(n), n
}

// scale is metric.NaiveScale over the non-missing days, on the flag mask.
func scale(y []float64, m []uint8) float64 {
	start := 0
	for start < len(y) && (y[start] <= 0 || m[start] != 0) {
		start++
	}
	var sum float64
	var n int
	for t := start + 1; t < len(y); t++ {
		if m[t]|m[t-1] != 0 {
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
		if m[t] == 0 {
			sum += y[t] * y[t]
			n++
		}
	}
	if n > 0 && sum > 0 {
		return sum / float64(n)
	}
	return 1
}

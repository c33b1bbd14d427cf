package model

// The methods. Every method is a state-space filter run over y[:n] by run:
// at each day t it makes the one-step forecast f, adds (y−f)² to the
// fitting error when the day is not missing, and updates its state with the
// error e = y−f — or, on a missing day, with e = 0 (the value imputed by the
// forecast itself), except on a censored day whose sales exceed the forecast
// (demand ≥ sales), where e = sales − f. At every backtest origin o (when
// bt is not nil) it writes the forecasts of days o..o+H−1 made after day
// o−1 to bt, and after the last day the forecasts of days n.. to fin (when
// not nil).

const (
	// sMin: a multiplicative season index below it (a weekday the store is
	// closed) says nothing about the level.
	sMin = 0.05
	// initDays is the number of days whose mean gives the initial level.
	initDays = 28
)

// maWindows are the moving-average windows tried, in days.
var maWindows = [...]int{7, 14, 28, 56, 91}

// nextOrigin returns the origin index i's day, or -1 when there is none or
// no backtest is wanted.
func (s *Scratch) nextOrigin(bt []float64, i int) int {
	if bt == nil || i >= len(s.origins) {
		return -1
	}
	return s.origins[i]
}

func fill(dst []float64, v float64) {
	for i := range dst {
		dst[i] = v
	}
}

// run filters y[:n] with method k and parameters p; it returns the sum of
// squared one-step errors over the non-missing days.
func (s *Scratch) run(k Kind, p *params, n int, bt, fin []float64) float64 {
	switch k {
	case SeasonalNaive:
		return s.snaiveRun(p, n, bt, fin)
	case MovingAverage:
		return s.maRun(p, n, bt, fin)
	case SES:
		return s.sesRun(p, n, bt, fin)
	case HoltWintersAdd:
		return s.hwRun(p, n, false, false, bt, fin)
	case HoltWintersMul:
		return s.hwRun(p, n, true, false, bt, fin)
	case HoltWintersAddDamped:
		return s.hwRun(p, n, false, true, bt, fin)
	case HoltWintersMulDamped:
		return s.hwRun(p, n, true, true, bt, fin)
	case CrostonSBA:
		return s.crostonRun(p, n, bt, fin)
	case TSB:
		return s.tsbRun(p, n, bt, fin)
	case TSBSeasonal:
		return s.tsbSeasonalRun(p, n, bt, fin)
	}
	return 0
}

// search describes one parameter search: start point, initial steps and
// bounds in up to 4 dimensions.
type search struct {
	d              int
	x0, step       [4]float64
	lo, hi         [4]float64
	get            func(p params) [4]float64
	set            func(p *params, x [4]float64)
	seasonal, mult bool // initialise a weekly season (multiplicative)
	intermittent   bool // initialise demand size and interval
}

var (
	getAG = func(p params) [4]float64 { return [4]float64{p.alpha, p.gamma} }
	setAG = func(p *params, x [4]float64) { p.alpha, p.gamma = x[0], x[1] }
	getAB = func(p params) [4]float64 { return [4]float64{p.alpha, p.beta} }
	setAB = func(p *params, x [4]float64) { p.alpha, p.beta = x[0], x[1] }
	get4  = func(p params) [4]float64 { return [4]float64{p.alpha, p.beta, p.gamma, p.phi} }
	set4  = func(p *params, x [4]float64) { p.alpha, p.beta, p.gamma, p.phi = x[0], x[1], x[2], x[3] }
)

// searches are the Nelder-Mead searches of the methods that need one.
var searches = [NumKinds]*search{
	HoltWintersAdd: {d: 2, x0: [4]float64{0.05, 0.02}, step: [4]float64{0.1, 0.05},
		lo: [4]float64{0.001, 0}, hi: [4]float64{0.6, 0.3}, get: getAG, set: setAG, seasonal: true},
	HoltWintersMul: {d: 2, x0: [4]float64{0.05, 0.02}, step: [4]float64{0.1, 0.05},
		lo: [4]float64{0.001, 0}, hi: [4]float64{0.6, 0.3}, get: getAG, set: setAG, seasonal: true, mult: true},
	HoltWintersAddDamped: {d: 4, x0: [4]float64{0.05, 0.005, 0.02, 0.9}, step: [4]float64{0.1, 0.01, 0.05, 0.05},
		lo: [4]float64{0.001, 0, 0, 0.8}, hi: [4]float64{0.6, 0.1, 0.3, 0.98}, get: get4, set: set4, seasonal: true},
	HoltWintersMulDamped: {d: 4, x0: [4]float64{0.05, 0.005, 0.02, 0.9}, step: [4]float64{0.1, 0.01, 0.05, 0.05},
		lo: [4]float64{0.001, 0, 0, 0.8}, hi: [4]float64{0.6, 0.1, 0.3, 0.98}, get: get4, set: set4, seasonal: true, mult: true},
	TSB: {d: 2, x0: [4]float64{0.1, 0.05}, step: [4]float64{0.1, 0.05},
		lo: [4]float64{0.01, 0.005}, hi: [4]float64{0.5, 0.5}, get: getAB, set: setAB, intermittent: true},
	TSBSeasonal: {d: 2, x0: [4]float64{0.1, 0.05}, step: [4]float64{0.1, 0.05},
		lo: [4]float64{0.01, 0.005}, hi: [4]float64{0.5, 0.5}, get: getAB, set: setAB, intermittent: true, seasonal: true, mult: true},
}

// fitParams fits method k's initial states and parameters on y[:n]. With
// warm, p holds parameters fitted on a shorter prefix of the same series:
// the search starts there with smaller steps and half the evaluations (the
// final refit).
func (s *Scratch) fitParams(k Kind, p *params, n int, warm bool) {
	prev := *p
	*p = params{}
	evals := s.opts.MaxEvals
	iters := min(max(evals/3, 8), 16)
	if warm {
		evals, iters = max(evals/2, 8), max(iters/2, 5)
	}
	// oneDim searches a single smoothing parameter in [lo, hi] (narrowed
	// around the previous value when warm).
	oneDim := func(lo, hi, prevA float64, f func(a float64) float64) float64 {
		if warm {
			lo, hi = max(lo, prevA-0.08), min(hi, prevA+0.08)
		}
		return golden(lo, hi, iters, f)
	}
	switch k {
	case SeasonalNaive:
		p.l0 = s.meanObserved(n)
	case MovingAverage:
		s.fitMA(p, n)
	case SES:
		p.l0 = s.initialLevel(n, nil, false)
		p.alpha = oneDim(0.001, 0.6, prev.alpha, func(a float64) float64 {
			p.alpha = a
			return s.sesRun(p, n, nil, nil)
		})
	case CrostonSBA:
		s.intermittentInit(p, n)
		p.alpha = oneDim(0.01, 0.5, prev.alpha, func(a float64) float64 {
			p.alpha = a
			return s.crostonRun(p, n, nil, nil)
		})
	default:
		sr := searches[k]
		if sr.seasonal {
			s.seasonalInit(p, n, sr.mult)
		}
		if sr.intermittent {
			s.intermittentInit(p, n)
		}
		x0, step := sr.x0, sr.step
		if warm {
			x0 = sr.get(prev)
			for i := range step {
				step[i] /= 2
			}
		}
		x, _ := nelderMead(sr.d, x0, step, sr.lo, sr.hi, evals, func(x [4]float64) float64 {
			sr.set(p, x)
			return s.run(k, p, n, nil, nil)
		})
		sr.set(p, x)
	}
}

func (s *Scratch) meanObserved(n int) float64 {
	var sum float64
	var c int
	for t, v := range s.y[:n] {
		if s.m[t] == 0 {
			sum += v
			c++
		}
	}
	if c == 0 {
		return 0
	}
	return sum / float64(c)
}

// initialLevel is the mean of the non-missing (deseasonalised, when season
// is not nil) values of the first initDays days of y[:n], or of the first
// initDays non-missing days when those are all missing.
func (s *Scratch) initialLevel(n int, season *[7]float64, mul bool) float64 {
	var sum float64
	var c int
	j := 0
	for t, v := range s.y[:n] {
		if c > 0 && t >= initDays {
			break
		}
		if s.m[t] == 0 {
			switch {
			case season == nil:
				sum += v
				c++
			case mul:
				if season[j] > sMin {
					sum += v / season[j]
					c++
				}
			default:
				sum += v - season[j]
				c++
			}
		}
		if j++; j == 7 {
			j = 0
		}
		if c >= initDays {
			break
		}
	}
	if c == 0 {
		return 0
	}
	return sum / float64(c)
}

// seasonalInit sets the initial weekly season from the weekday means of the
// non-missing days of y[:n] (ratios to their mean, or differences from it),
// shrunk towards no season by how much of their spread sampling noise
// explains (positive-part James-Stein: λ = max(0, 1 − Σ var(index_j) /
// Σ (index_j − neutral)²)), and the initial level.
func (s *Scratch) seasonalInit(p *params, n int, mul bool) {
	var sum, sum2 [7]float64
	var cnt [7]int
	j := 0
	for t, v := range s.y[:n] {
		if s.m[t] == 0 {
			sum[j] += v
			sum2[j] += v * v
			cnt[j]++
		}
		if j++; j == 7 {
			j = 0
		}
	}
	var total float64
	var days int
	for j := range 7 {
		total += sum[j]
		days += cnt[j]
	}
	overall := 0.0
	if days > 0 {
		overall = total / float64(days)
	}
	var mean, noise [7]float64
	var m float64
	for j := range 7 {
		if c := float64(cnt[j]); c > 1 {
			mean[j] = sum[j] / c
			noise[j] = max(sum2[j]/c-mean[j]*mean[j], 0) / (c - 1)
		} else {
			mean[j] = overall
		}
		m += mean[j]
	}
	m /= 7
	// Shrink the own weekday means towards the prior profile scaled to the
	// series' mean.
	var spread, nv float64
	for j := range 7 {
		d := mean[j] - m*s.prior[j]
		spread += d * d
		nv += noise[j]
	}
	lambda := 0.0
	if spread > 0 {
		lambda = max(1-nv/spread, 0)
	}
	for j := range 7 {
		est := m*s.prior[j] + lambda*(mean[j]-m*s.prior[j])
		switch {
		case !mul:
			p.s0[j] = est - m
		case m > 0:
			p.s0[j] = est / m
		default:
			p.s0[j] = s.prior[j]
		}
	}
	p.l0 = s.initialLevel(n, &p.s0, mul)
}

// intermittentInit sets the initial demand size (mean of the positive
// non-missing days of y[:n]) and interval (non-missing days per positive
// day; Croston) or probability (positive days per non-missing day; TSB).
func (s *Scratch) intermittentInit(p *params, n int) {
	var sum float64
	var pos, days int
	for t, v := range s.y[:n] {
		if s.m[t] != 0 {
			continue
		}
		days++
		if v > 0 {
			pos++
			sum += v
		}
	}
	if pos == 0 {
		p.z0, p.p0 = 0, 1
		return
	}
	p.z0 = sum / float64(pos)
	p.p0 = float64(days) / float64(pos)
}

// prefix fills the prefix sums of non-missing values and counts over the
// whole loaded series (cy[t], cn[t] cover days 0..t−1).
func (s *Scratch) prefix() {
	n := len(s.y)
	s.cy = grow(s.cy, n+1)
	s.cn = grow(s.cn, n+1)
	var a, c float64
	s.cy[0], s.cn[0] = 0, 0
	for t, v := range s.y {
		if s.m[t] == 0 {
			a += v
			c++
		}
		s.cy[t+1], s.cn[t+1] = a, c
	}
}

// maAt is the moving-average forecast of day t (mean of the non-missing days
// in [t−w, t)), falling back to the mean of all earlier non-missing days.
func (s *Scratch) maAt(t, w int) float64 {
	lo := max(t-w, 0)
	if c := s.cn[t] - s.cn[lo]; c > 0 {
		return (s.cy[t] - s.cy[lo]) / c
	}
	if s.cn[t] > 0 {
		return s.cy[t] / s.cn[t]
	}
	return 0
}

func (s *Scratch) fitMA(p *params, n int) {
	best := -1.0
	for _, w := range maWindows {
		if w > n && w != maWindows[0] {
			break
		}
		var sse float64
		for t := 1; t < n; t++ {
			if s.m[t] != 0 {
				continue
			}
			e := s.y[t] - s.maAt(t, w)
			sse += e * e
		}
		if best < 0 || sse < best {
			best, p.window = sse, w
		}
	}
}

func (s *Scratch) maRun(p *params, n int, bt, fin []float64) float64 {
	H := s.opts.Horizon
	for i := range s.origins {
		if bt == nil {
			break
		}
		fill(bt[i*H:i*H+H], s.maAt(s.origins[i], p.window))
	}
	if fin != nil {
		fill(fin, s.maAt(n, p.window))
	}
	return 0
}

func (s *Scratch) snaiveRun(p *params, n int, bt, fin []float64) float64 {
	y, m := s.y[:n], s.m[:n]
	H := s.opts.Horizon
	var last [7]float64
	for j := range last {
		last[j] = -1
	}
	fallback := p.l0
	oi, next := 0, s.nextOrigin(bt, 0)
	emit := func(dst []float64, j int) {
		for h := range dst {
			v := last[j]
			if v < 0 {
				v = fallback
			}
			dst[h] = v
			if j++; j == 7 {
				j = 0
			}
		}
	}
	var sse float64
	j := 0
	for t := range n {
		if t == next {
			emit(bt[oi*H:oi*H+H], j)
			oi++
			next = s.nextOrigin(bt, oi)
		}
		v := y[t]
		switch m[t] {
		case 0:
			if last[j] >= 0 {
				e := v - last[j]
				sse += e * e
			}
			last[j] = v
			fallback = v
		case flagCensored:
			if v > last[j] {
				last[j] = v
			}
		}
		if j++; j == 7 {
			j = 0
		}
	}
	if fin != nil {
		emit(fin, j)
	}
	return sse
}

func (s *Scratch) sesRun(p *params, n int, bt, fin []float64) float64 {
	y, m := s.y[:n], s.m[:n]
	H := s.opts.Horizon
	a := p.alpha
	l := p.l0
	oi, next := 0, s.nextOrigin(bt, 0)
	var sse float64
	for t := range n {
		if t == next {
			fill(bt[oi*H:oi*H+H], l)
			oi++
			next = s.nextOrigin(bt, oi)
		}
		v := y[t]
		switch m[t] {
		case 0:
			e := v - l
			sse += e * e
			l += a * e
		case flagCensored:
			if v > l {
				l += a * (v - l)
			}
		}
	}
	if fin != nil {
		fill(fin, l)
	}
	return sse
}

// hwEmit writes Holt-Winters forecasts from level l, trend b, season st at
// weekday position j.
func hwEmit(dst []float64, l, b, phi float64, st *[7]float64, j int, mul bool) {
	ph := 0.0
	pk := 1.0
	for h := range dst {
		pk *= phi
		ph += pk
		base := l + ph*b
		if mul {
			dst[h] = base * st[j]
		} else {
			dst[h] = base + st[j]
		}
		if j++; j == 7 {
			j = 0
		}
	}
}

func (s *Scratch) hwRun(p *params, n int, mul, damped bool, bt, fin []float64) float64 {
	if mul {
		return s.hwMulRun(p, n, damped, bt, fin)
	}
	return s.hwAddRun(p, n, damped, bt, fin)
}

// hwAddRun is ETS(A,N,A) or, damped, ETS(A,Ad,A). The level update
// l = lp + α·(y − lp − s) is written as (1−α)·lp + α·(y − s) so that the
// loop-carried dependency is one multiply-add.
func (s *Scratch) hwAddRun(p *params, n int, damped bool, bt, fin []float64) float64 {
	y, m := s.y[:n], s.m[:n]
	H := s.opts.Horizon
	a, g := p.alpha, p.gamma
	a1 := 1 - a
	var be, phi, b float64
	if damped {
		be, phi, b = p.beta, p.phi, p.b0
	}
	l := p.l0
	st := p.s0
	oi, next := 0, s.nextOrigin(bt, 0)
	var sse float64
	j := 0
	for t := range n {
		if t == next {
			hwEmit(bt[oi*H:oi*H+H], l, b, phi, &st, j, false)
			oi++
			next = s.nextOrigin(bt, oi)
		}
		sj := st[j]
		lp := l + phi*b
		v := y[t]
		e := v - lp - sj
		switch m[t] {
		case 0:
			sse += e * e
		case flagCensored:
			e = max(e, 0)
			v = lp + sj + e
		default:
			e, v = 0, lp+sj
		}
		l = a1*lp + a*(v-sj)
		b = phi*b + be*e
		st[j] = sj + g*e
		if j++; j == 7 {
			j = 0
		}
	}
	if fin != nil {
		hwEmit(fin, l, b, phi, &st, j, false)
	}
	return sse
}

// hwMulRun is ETS(A,N,M) or, damped, ETS(A,Ad,M), with additive errors:
// l = lp + α·e/s, b = φ·b + β·e/s, s ← s + γ·e/lp, e = y − lp·s. The level
// update is written as (1−α)·lp + α·y/s with 1/s kept per weekday, so the
// loop-carried dependency has no division. A season index at or below
// sMin (a closed weekday) leaves level and trend alone.
func (s *Scratch) hwMulRun(p *params, n int, damped bool, bt, fin []float64) float64 {
	y, m := s.y[:n], s.m[:n]
	H := s.opts.Horizon
	a, g := p.alpha, p.gamma
	a1 := 1 - a
	var be, phi, b float64
	if damped {
		be, phi, b = p.beta, p.phi, p.b0
	}
	l := p.l0
	st := p.s0
	var inv [7]float64
	for j, v := range st {
		if v > sMin {
			inv[j] = 1 / v
		}
	}
	oi, next := 0, s.nextOrigin(bt, 0)
	var sse float64
	j := 0
	for t := range n {
		if t == next {
			hwEmit(bt[oi*H:oi*H+H], l, b, phi, &st, j, true)
			oi++
			next = s.nextOrigin(bt, oi)
		}
		sj, ij := st[j], inv[j]
		lp := l + phi*b
		v := y[t]
		e := v - lp*sj
		switch m[t] {
		case 0:
			sse += e * e
		case flagCensored:
			if e < 0 {
				e, v = 0, lp*sj
			}
		default:
			e, v = 0, lp*sj
		}
		if ij != 0 {
			l = max(a1*lp+a*v*ij, 0)
			b = phi*b + be*e*ij
		} else {
			l, b = lp, phi*b
		}
		if g != 0 && lp > 1e-9 {
			// Indices average 1 over the week, so none exceeds 7: without
			// the cap a level near zero (a long quiet spell) turns the
			// first sale after it into an exploding index.
			ns := min(max(sj+g*e/lp, 0), 7)
			st[j] = ns
			if ns > sMin {
				inv[j] = 1 / ns
			} else {
				inv[j] = 0
			}
		}
		if j++; j == 7 {
			j = 0
		}
	}
	if fin != nil {
		hwEmit(fin, l, b, phi, &st, j, true)
	}
	return sse
}

func (s *Scratch) crostonRun(p *params, n int, bt, fin []float64) float64 {
	y, m := s.y[:n], s.m[:n]
	H := s.opts.Horizon
	a := p.alpha
	c := 1 - a/2
	z, iv := p.z0, p.p0
	var q float64
	oi, next := 0, s.nextOrigin(bt, 0)
	var sse float64
	for t := range n {
		f := c * z / iv
		if t == next {
			fill(bt[oi*H:oi*H+H], f)
			oi++
			next = s.nextOrigin(bt, oi)
		}
		v := y[t]
		switch m[t] {
		case 0:
			e := v - f
			sse += e * e
			q++
			if v > 0 {
				z += a * (v - z)
				iv += a * (q - iv)
				q = 0
			}
		case flagCensored:
			if v > 0 {
				q++
				z += a * (max(v, z) - z)
				iv += a * (q - iv)
				q = 0
			}
		}
	}
	if fin != nil {
		fill(fin, c*z/iv)
	}
	return sse
}

func (s *Scratch) tsbRun(p *params, n int, bt, fin []float64) float64 {
	y, m := s.y[:n], s.m[:n]
	H := s.opts.Horizon
	a, b := p.alpha, p.beta
	z := p.z0
	pr := 1 / p.p0
	oi, next := 0, s.nextOrigin(bt, 0)
	var sse float64
	for t := range n {
		f := pr * z
		if t == next {
			fill(bt[oi*H:oi*H+H], f)
			oi++
			next = s.nextOrigin(bt, oi)
		}
		v := y[t]
		switch m[t] {
		case 0:
			e := v - f
			sse += e * e
			if v > 0 {
				pr += b * (1 - pr)
				z += a * (v - z)
			} else {
				pr -= b * pr
			}
		case flagCensored:
			if v > 0 {
				pr += b * (1 - pr)
				z += a * (max(v, z) - z)
			}
		}
	}
	if fin != nil {
		fill(fin, pr*z)
	}
	return sse
}

func (s *Scratch) tsbSeasonalRun(p *params, n int, bt, fin []float64) float64 {
	y, m := s.y[:n], s.m[:n]
	H := s.opts.Horizon
	a, b := p.alpha, p.beta
	z := p.z0
	pr := 1 / p.p0
	st := &p.s0
	emit := func(dst []float64, j int) {
		for h := range dst {
			dst[h] = pr * z * st[j]
			if j++; j == 7 {
				j = 0
			}
		}
	}
	oi, next := 0, s.nextOrigin(bt, 0)
	var sse float64
	j := 0
	for t := range n {
		sj := st[j]
		f := pr * z * sj
		if t == next {
			emit(bt[oi*H:oi*H+H], j)
			oi++
			next = s.nextOrigin(bt, oi)
		}
		v := y[t]
		switch m[t] {
		case 0:
			e := v - f
			sse += e * e
			if sj > sMin {
				if v > 0 {
					pr += b * (1 - pr)
					z += a * (v/sj - z)
				} else {
					pr -= b * pr
				}
			}
		case flagCensored:
			if v > 0 && sj > sMin {
				pr += b * (1 - pr)
				z += a * (max(v/sj, z) - z)
			}
		}
		if j++; j == 7 {
			j = 0
		}
	}
	if fin != nil {
		emit(fin, j)
	}
	return sse
}

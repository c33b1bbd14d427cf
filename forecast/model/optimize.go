package model

import "math"

// golden minimises f over [lo, hi] by golden-section search with iters
// narrowing steps (one evaluation each, plus two to start) and returns the
// best point evaluated.
func golden(lo, hi float64, iters int, f func(float64) float64) float64 {
	const r = 0.6180339887498949 // (√5 − 1) / 2
	a, b := lo, hi
	x1 := b - r*(b-a)
	x2 := a + r*(b-a)
	f1, f2 := f(x1), f(x2)
	for range iters {
		if f1 <= f2 {
			b, x2, f2 = x2, x1, f1
			x1 = b - r*(b-a)
			f1 = f(x1)
		} else {
			a, x1, f1 = x1, x2, f2
			x2 = a + r*(b-a)
			f2 = f(x2)
		}
	}
	if f1 <= f2 {
		return x1
	}
	return x2
}

// nelderMead minimises f over the box [lo, hi] in d ≤ 4 dimensions, from
// x0 with initial simplex steps step, with at most maxEval evaluations.
// Points are clamped into the box. It returns the best point and value.
func nelderMead(d int, x0, step, lo, hi [4]float64, maxEval int,
	f func(x [4]float64) float64) ([4]float64, float64) {
	var sx [5][4]float64
	var fv [5]float64
	clamp := func(x *[4]float64) {
		for i := range d {
			x[i] = min(max(x[i], lo[i]), hi[i])
		}
	}
	sx[0] = x0
	clamp(&sx[0])
	fv[0] = f(sx[0])
	evals := 1
	for i := range d {
		sx[i+1] = sx[0]
		sx[i+1][i] += step[i]
		if sx[i+1][i] > hi[i] {
			sx[i+1][i] = sx[0][i] - step[i]
		}
		clamp(&sx[i+1])
		fv[i+1] = f(sx[i+1])
		evals++
	}
	var idx [5]int
	for evals < maxEval {
		// Order vertices by value.
		for i := range d + 1 {
			idx[i] = i
		}
		for i := 1; i <= d; i++ {
			for j := i; j > 0 && fv[idx[j]] < fv[idx[j-1]]; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
		best, worst, second := idx[0], idx[d], idx[d-1]
		if math.Abs(fv[worst]-fv[best]) <= 1e-10*math.Abs(fv[best])+1e-12 {
			break
		}
		var c [4]float64
		for _, v := range idx[:d] {
			for i := range d {
				c[i] += sx[v][i]
			}
		}
		for i := range d {
			c[i] /= float64(d)
		}
		var xr, xn [4]float64
		for i := range d {
			xr[i] = c[i] + (c[i] - sx[worst][i])
		}
		clamp(&xr)
		fr := f(xr)
		evals++
		switch {
		case fr < fv[best]:
			for i := range d {
				xn[i] = c[i] + 2*(c[i]-sx[worst][i])
			}
			clamp(&xn)
			fe := f(xn)
			evals++
			if fe < fr {
				sx[worst], fv[worst] = xn, fe
			} else {
				sx[worst], fv[worst] = xr, fr
			}
		case fr < fv[second]:
			sx[worst], fv[worst] = xr, fr
		default:
			outside := fr < fv[worst]
			for i := range d {
				if outside {
					xn[i] = c[i] + 0.5*(xr[i]-c[i])
				} else {
					xn[i] = c[i] + 0.5*(sx[worst][i]-c[i])
				}
			}
			fc := f(xn)
			evals++
			if fc < min(fr, fv[worst]) {
				sx[worst], fv[worst] = xn, fc
				continue
			}
			// Shrink towards the best vertex.
			for _, v := range idx[1 : d+1] {
				for i := range d {
					sx[v][i] = sx[best][i] + 0.5*(sx[v][i]-sx[best][i])
				}
				fv[v] = f(sx[v])
				evals++
			}
		}
	}
	bi := 0
	for i := 1; i <= d; i++ {
		if fv[i] < fv[bi] {
			bi = i
		}
	}
	return sx[bi], fv[bi]
}

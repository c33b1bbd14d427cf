// Package gbm is a small gradient-boosted regression tree learner for
// counts: histogram-based trees with a Poisson objective and a log link,
// pooled over many rows (a global demand model across series).
//
// # Contract
//
//   - Train fits a model to columnar features X (X[j] is feature j, one
//     value per row), non-negative targets y and an optional per-row
//     offset (a known log level: the model's prediction of row i is
//     exp(offset[i] + F(x_i))). Rows with y < 0, or non-finite y or
//     offset, are an error; NaN features go to the lowest bin.
//   - Features are binned once into at most Options.Bins bins at quantile
//     cut points of a sample; a split sends a row left when its value is at
//     most the cut point, both in training and in Predict.
//   - Trees grow depth-wise to Options.Depth, each on a row subsample
//     (Options.Subsample), splitting where the Poisson gradient/hessian
//     gain, with L2 leaf regularisation Options.Lambda, is largest and each
//     side keeps Options.MinLeaf rows. The sibling with more rows gets its
//     histogram by subtraction from its parent's.
//   - Training is deterministic given Options.Seed: the same inputs and
//     options give the same model, whatever Options.Workers.
//   - A Model is immutable after Train and safe for concurrent Predict.
package gbm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// Options configure Train. Zero fields take their defaults.
type Options struct {
	// Trees is the number of boosting rounds. Default 200.
	Trees int
	// Depth is the maximum tree depth. Default 6.
	Depth int
	// LearningRate shrinks each tree. Default 0.08.
	LearningRate float64
	// MinLeaf is the fewest rows on each side of a split. Default 50.
	MinLeaf int
	// Lambda is the L2 regularisation of leaf values. Default 1.
	Lambda float64
	// MaxDelta bounds a leaf's step on the log scale before shrinkage
	// (Poisson trees diverge on rows whose prediction is near zero).
	// Default 0.7.
	MaxDelta float64
	// Subsample is the share of rows each tree sees. Default 0.7.
	Subsample float64
	// Bins is the most bins per feature, 2..256. Default 64.
	Bins int
	// Seed makes training deterministic.
	Seed uint64
	// Workers is the number of goroutines building histograms. Default 1.
	Workers int
}

func (o Options) withDefaults() Options {
	if o.Trees == 0 {
		o.Trees = 200
	}
	if o.Depth == 0 {
		o.Depth = 6
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.08
	}
	if o.MinLeaf == 0 {
		o.MinLeaf = 50
	}
	if o.Lambda == 0 {
		o.Lambda = 1
	}
	if o.MaxDelta == 0 {
		o.MaxDelta = 0.7
	}
	if o.Subsample == 0 {
		o.Subsample = 0.7
	}
	if o.Bins == 0 {
		o.Bins = 64
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Trees < 1 || o.Depth < 1 || o.Depth > 16 {
		errs = append(errs, fmt.Errorf("trees %d, depth %d: want ≥ 1 and 1..16", o.Trees, o.Depth))
	}
	if !(o.LearningRate > 0 && o.LearningRate <= 1) || !(o.Subsample > 0 && o.Subsample <= 1) {
		errs = append(errs, fmt.Errorf("learning rate %g, subsample %g: want (0, 1]", o.LearningRate, o.Subsample))
	}
	if o.MinLeaf < 1 || !(o.Lambda >= 0) || !(o.MaxDelta > 0) {
		errs = append(errs, fmt.Errorf("min leaf %d, lambda %g, max delta %g: want ≥ 1, ≥ 0, > 0", o.MinLeaf, o.Lambda, o.MaxDelta))
	}
	if o.Bins < 2 || o.Bins > 256 {
		errs = append(errs, fmt.Errorf("bins %d: want 2..256", o.Bins))
	}
	return errors.Join(errs...)
}

// node is a tree node, 16 bytes: a split (feature ≥ 0: rows with a value
// at most cut go left) or a leaf (feature < 0, its value in cut).
type node struct {
	feature     int32
	cut         float32
	left, right int32
}

// flat is a node of a trained tree, children side by side: a split
// (feature ≥ 0) sends a row to left when its value is at most cut (or NaN),
// else to left+1; a leaf (feature < 0) holds its value in cut.
type flat struct {
	feature int32
	cut     float32
	left    int32
}

// flatten lays tree out breadth first, each split's children side by side.
func flatten(tree []node) []flat {
	out := []flat{{feature: tree[0].feature, cut: tree[0].cut}}
	src := []int32{0}
	for k := 0; k < len(out); k++ {
		n := tree[src[k]]
		if n.feature < 0 {
			continue
		}
		out[k].left = int32(len(out))
		for _, c := range []int32{n.left, n.right} {
			out = append(out, flat{feature: tree[c].feature, cut: tree[c].cut})
			src = append(src, c)
		}
	}
	return out
}

// Model is a trained ensemble.
type Model struct {
	// Base is the constant log-scale score every prediction starts from.
	Base  float64
	trees [][]flat
	nfeat int
}

// Trees returns the number of trees.
func (m *Model) Trees() int { return len(m.trees) }

// Features returns the number of features the model was trained on.
func (m *Model) Features() int { return m.nfeat }

// Margin returns the model's log-scale score of row x (one value per
// feature), without the offset.
func (m *Model) Margin(x []float32) float64 {
	f := m.Base
	for _, t := range m.trees {
		n := &t[0]
		for n.feature >= 0 {
			i := n.left
			if x[n.feature] > n.cut {
				i++
			}
			n = &t[i]
		}
		f += float64(n.cut)
	}
	return f
}

// Predict returns the expected count of row x with log offset off:
// exp(off + Margin(x)).
func (m *Model) Predict(x []float32, off float64) float64 {
	return math.Exp(off + m.Margin(x))
}

// Train fits a Poisson model of y on the columns X with log offsets offset
// (nil: zero) (see the package doc).
func Train(X [][]float32, y, offset []float32, opts Options) (*Model, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("gbm options: %w", err)
	}
	n := len(y)
	if n == 0 || len(X) == 0 {
		return nil, errors.New("gbm: no rows or no features")
	}
	for j, c := range X {
		if len(c) != n {
			return nil, fmt.Errorf("gbm: feature %d has %d rows, want %d", j, len(c), n)
		}
	}
	if offset != nil && len(offset) != n {
		return nil, fmt.Errorf("gbm: %d offsets for %d rows", len(offset), n)
	}
	var sy, se float64
	for i, v := range y {
		off := 0.0
		if offset != nil {
			off = float64(offset[i])
		}
		if !(v >= 0) || math.IsInf(float64(v), 0) || math.IsNaN(off) || math.IsInf(off, 0) {
			return nil, fmt.Errorf("gbm: row %d: target %g, offset %g", i, v, off)
		}
		sy += float64(v)
		se += math.Exp(off)
	}
	if sy == 0 {
		return nil, errors.New("gbm: every target is zero")
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	b := newBinned(X, o.Bins, rng)
	m := &Model{Base: math.Log(sy / se), nfeat: len(X)}
	t := &trainer{o: o, b: b, y: y, grad: make([]float64, n), hess: make([]float64, n), score: make([]float64, n)}
	for i := range n {
		t.score[i] = m.Base
		if offset != nil {
			t.score[i] += float64(offset[i])
		}
	}
	rows := make([]int32, 0, n)
	for range o.Trees {
		for i := range n {
			p := math.Exp(t.score[i])
			t.grad[i], t.hess[i] = p-float64(y[i]), p
		}
		rows = rows[:0]
		for i := range n {
			if o.Subsample >= 1 || rng.Float64() < o.Subsample {
				rows = append(rows, int32(i))
			}
		}
		tree, bins := t.grow(rows)
		for i := range n {
			t.score[i] += float64(tree[t.leaf(tree, bins, i)].cut)
		}
		m.trees = append(m.trees, flatten(tree))
	}
	return m, nil
}

// binned holds every feature's bin per row (columnar) and cut points.
type binned struct {
	bins [][]uint8
	cuts [][]float32
	nb   []int
}

// newBinned bins each column at quantile cut points of a sample of at most
// 20000 values: bin(x) is the first k with x ≤ cuts[k], else len(cuts).
func newBinned(X [][]float32, maxBins int, rng *rand.Rand) *binned {
	n := len(X[0])
	const sampleN = 20000
	idx := make([]int, 0, min(n, sampleN))
	if n <= sampleN {
		for i := range n {
			idx = append(idx, i)
		}
	} else {
		for range sampleN {
			idx = append(idx, rng.IntN(n))
		}
	}
	b := &binned{bins: make([][]uint8, len(X)), cuts: make([][]float32, len(X)), nb: make([]int, len(X))}
	sample := make([]float32, 0, len(idx))
	for j, col := range X {
		sample = sample[:0]
		for _, i := range idx {
			if v := col[i]; v == v {
				sample = append(sample, v)
			}
		}
		slices.Sort(sample)
		var cuts []float32
		for k := 1; k < maxBins && len(sample) > 0; k++ {
			c := sample[min(len(sample)-1, k*len(sample)/maxBins)]
			if (len(cuts) == 0 || c > cuts[len(cuts)-1]) && c < sample[len(sample)-1] {
				cuts = append(cuts, c)
			}
		}
		b.cuts[j], b.nb[j] = cuts, len(cuts)+1
		bs := make([]uint8, n)
		for i, v := range col {
			if v == v {
				k, _ := slices.BinarySearch(cuts, v)
				bs[i] = uint8(k)
			}
		}
		b.bins[j] = bs
	}
	return b
}

type trainer struct {
	o                 Options
	b                 *binned
	y                 []float32
	grad, hess, score []float64
}

// hist is one node's gradient, hessian and row count per feature and bin.
type hist [][]bin

type bin struct {
	g, h float64
	n    int
}

func (t *trainer) newHist() hist {
	h := make(hist, len(t.b.bins))
	for j := range h {
		h[j] = make([]bin, t.b.nb[j])
	}
	return h
}

// build fills h from rows, features split over the workers.
func (t *trainer) build(h hist, rows []int32) {
	one := func(j int) {
		hj, bs := h[j], t.b.bins[j]
		clear(hj)
		for _, i := range rows {
			e := &hj[bs[i]]
			e.g += t.grad[i]
			e.h += t.hess[i]
			e.n++
		}
	}
	if t.o.Workers <= 1 || len(rows) < 4096 {
		for j := range h {
			one(j)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range t.o.Workers {
		wg.Go(func() {
			for j := range next {
				one(j)
			}
		})
	}
	for j := range h {
		next <- j
	}
	close(next)
	wg.Wait()
}

// split is a node's best split.
type split struct {
	feature int
	bin     int
	gain    float64
}

func (t *trainer) best(h hist, g, hs float64, n int) split {
	lam := t.o.Lambda
	parent := g * g / (hs + lam)
	s := split{feature: -1}
	for j, hj := range h {
		var gl, hl float64
		var nl int
		for k := 0; k < len(hj)-1; k++ {
			gl, hl, nl = gl+hj[k].g, hl+hj[k].h, nl+hj[k].n
			if nl < t.o.MinLeaf {
				continue
			}
			if n-nl < t.o.MinLeaf {
				break
			}
			gr, hr := g-gl, hs-hl
			gain := gl*gl/(hl+lam) + gr*gr/(hr+lam) - parent
			if gain > s.gain+1e-12 {
				s = split{feature: j, bin: k, gain: gain}
			}
		}
	}
	return s
}

// grow grows one tree on rows; bins are its splits' bins (rows go left
// when their bin is at most the split's).
func (t *trainer) grow(rows []int32) ([]node, []uint8) {
	var tree []node
	var bins []uint8
	var rec func(rows []int32, h hist, depth int) int32
	rec = func(rows []int32, h hist, depth int) int32 {
		var g, hs float64
		for _, e := range h[0] {
			g, hs = g+e.g, hs+e.h
		}
		id := int32(len(tree))
		tree = append(tree, node{feature: -1})
		bins = append(bins, 0)
		var s split
		if depth < t.o.Depth && len(rows) >= 2*t.o.MinLeaf {
			s = t.best(h, g, hs, len(rows))
		} else {
			s.feature = -1
		}
		if s.feature < 0 {
			v := -g / (hs + t.o.Lambda)
			v = max(-t.o.MaxDelta, min(t.o.MaxDelta, v))
			tree[id].cut = float32(t.o.LearningRate * v)
			return id
		}
		// Partition rows in place: left (bin ≤ s.bin) first.
		bs := t.b.bins[s.feature]
		l := 0
		for r := range rows {
			if int(bs[rows[r]]) <= s.bin {
				rows[l], rows[r] = rows[r], rows[l]
				l++
			}
		}
		left, right := rows[:l], rows[l:]
		small := left
		if len(right) < len(left) {
			small = right
		}
		hs2 := t.newHist()
		t.build(hs2, small)
		for j := range h {
			for k := range h[j] {
				h[j][k].g -= hs2[j][k].g
				h[j][k].h -= hs2[j][k].h
				h[j][k].n -= hs2[j][k].n
			}
		}
		hl, hr := hs2, h
		if len(right) < len(left) {
			hl, hr = h, hs2
		}
		tree[id].feature, bins[id] = int32(s.feature), uint8(s.bin)
		tree[id].cut = t.b.cuts[s.feature][s.bin]
		li := rec(left, hl, depth+1)
		ri := rec(right, hr, depth+1)
		tree[id].left, tree[id].right = li, ri
		return id
	}
	h := t.newHist()
	t.build(h, rows)
	rec(rows, h, 0)
	return tree, bins
}

// leaf returns the leaf of training row i in tree (split bins bins).
func (t *trainer) leaf(tree []node, bins []uint8, i int) int32 {
	k := int32(0)
	for tree[k].feature >= 0 {
		n := &tree[k]
		if t.b.bins[n.feature][i] <= bins[k] {
			k = n.left
		} else {
			k = n.right
		}
	}
	return k
}

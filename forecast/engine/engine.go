// Package engine forecasts many series in parallel with bounded memory:
// columnar batches of series come from a Source (Arrow record batches from
// DuckDB, see RecordSource), are forecast on one goroutine per core with
// per-worker scratch memory (package model), and leave as columnar Outputs
// through a sink.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/forecast/model"
)

// Batch is a columnar block of daily demand series: series i has key
// Keys[i] and days Values[Offsets[i]:Offsets[i+1]] (oldest first).
// Optional columns are nil when absent.
type Batch struct {
	Keys    []int64
	Offsets []int32 // len(Keys)+1, non-decreasing, Offsets[0] = 0
	Values  []float32
	// Censored, Promo and Closed, when not nil, parallel Values (see
	// model.Series).
	Censored, Promo, Closed []bool
	// ClosedAhead, when not nil, holds each series' closed forecast days
	// (model.Series.ClosedAhead; series of one store may share a slice).
	ClosedAhead [][]bool
	// Season, when not nil, holds 7 prior weekday indices per series
	// (model.Series.Season), series-major.
	Season []float32
	// Protection, when not nil, holds each series' protection window in
	// days (lead time + review period): the output then carries
	// SigmaWindow, the backtest estimate of the error spread over that many
	// days.
	Protection []int32
}

// Len returns the number of series.
func (b *Batch) Len() int { return len(b.Keys) }

// Validate checks the batch's shape.
func (b *Batch) Validate() error {
	n := len(b.Keys)
	if len(b.Offsets) != n+1 {
		return fmt.Errorf("batch of %d series with %d offsets", n, len(b.Offsets))
	}
	if b.Offsets[0] != 0 || int(b.Offsets[n]) != len(b.Values) {
		return fmt.Errorf("offsets span %d..%d over %d values", b.Offsets[0], b.Offsets[n], len(b.Values))
	}
	for i := range n {
		if b.Offsets[i+1] < b.Offsets[i] {
			return fmt.Errorf("series %d: offsets decrease", b.Keys[i])
		}
	}
	if b.Censored != nil && len(b.Censored) != len(b.Values) {
		return fmt.Errorf("%d censored flags for %d values", len(b.Censored), len(b.Values))
	}
	if b.Promo != nil && len(b.Promo) != len(b.Values) {
		return fmt.Errorf("%d promotion flags for %d values", len(b.Promo), len(b.Values))
	}
	if b.Closed != nil && len(b.Closed) != len(b.Values) {
		return fmt.Errorf("%d closed flags for %d values", len(b.Closed), len(b.Values))
	}
	if b.ClosedAhead != nil && len(b.ClosedAhead) != n {
		return fmt.Errorf("closed forecast days for %d series of %d", len(b.ClosedAhead), n)
	}
	if b.Season != nil && len(b.Season) != 7*n {
		return fmt.Errorf("%d season indices for %d series: want 7 each", len(b.Season), n)
	}
	if b.Protection != nil && len(b.Protection) != n {
		return fmt.Errorf("%d protection windows for %d series", len(b.Protection), n)
	}
	return nil
}

// series returns series i of the batch as a model.Series.
func (b *Batch) series(i int) model.Series {
	lo, hi := b.Offsets[i], b.Offsets[i+1]
	s := model.Series{Values: b.Values[lo:hi]}
	if b.Censored != nil {
		s.Censored = b.Censored[lo:hi]
	}
	if b.Promo != nil {
		s.Promo = b.Promo[lo:hi]
	}
	if b.Season != nil {
		s.Season = b.Season[7*i : 7*i+7]
	}
	if b.Closed != nil {
		s.Closed = b.Closed[lo:hi]
	}
	if b.ClosedAhead != nil {
		s.ClosedAhead = b.ClosedAhead[i]
	}
	return s
}

// Source yields batches of series.
//
// Contract: Next returns the next batch, or io.EOF after the last one; it is
// called from one goroutine at a time. The engine reads a returned batch
// until the batch's Output has been handed to the sink and never writes to
// it, so a source must not reuse a batch's slices for a later batch.
type Source interface {
	Next(ctx context.Context) (*Batch, error)
}

// Output is the forecast of one batch, columnar, in the batch's series
// order. Per-series rows of the wide columns: Forecast[i*Days : (i+1)*Days],
// Params[i*4 : i*4+4], CandidateRMSSE[i*model.NumKinds : (i+1)*model.NumKinds].
type Output struct {
	// Seq is the batch's position in the source (0-based): outputs reach
	// the sink in completion order, not source order.
	Seq  int
	Keys []int64
	// Days is the number of forecast days per series.
	Days    int
	Status  []model.Status
	Model   []model.Kind
	Members []model.Members
	// Params are the chosen models' parameters (model.Result.Params).
	Params []float32
	// RMSSE (backtest, NaN without one), Scale, Sigma (error σ per day),
	// Bias, and SigmaWindow (error σ over the series' protection window;
	// NaN when the batch has no Protection column or no backtest).
	RMSSE, Scale, Sigma, Bias, SigmaWindow []float64
	Forecast                               []float32
	CandidateRMSSE                         []float32
}

// Len returns the number of series.
func (o *Output) Len() int { return len(o.Keys) }

func (o *Output) reset(seq, n, days int) {
	o.Seq, o.Days = seq, days
	o.Keys = resize(o.Keys, n)
	o.Status = resize(o.Status, n)
	o.Model = resize(o.Model, n)
	o.Members = resize(o.Members, n)
	o.Params = resize(o.Params, 4*n)
	o.RMSSE = resize(o.RMSSE, n)
	o.Scale = resize(o.Scale, n)
	o.Sigma = resize(o.Sigma, n)
	o.Bias = resize(o.Bias, n)
	o.SigmaWindow = resize(o.SigmaWindow, n)
	o.Forecast = resize(o.Forecast, days*n)
	o.CandidateRMSSE = resize(o.CandidateRMSSE, model.NumKinds*n)
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Options configure Fit.
type Options struct {
	// Model configures the forecasting of each series.
	Model model.Options
	// Workers is the number of forecasting goroutines (default GOMAXPROCS).
	Workers int
	// InFlight bounds the batches read but not yet handed to the sink
	// (default 2 × Workers): memory is about InFlight batches and outputs.
	InFlight int
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.InFlight <= 0 {
		o.InFlight = 2 * o.Workers
	}
	return o
}

// Summary describes a Fit run.
type Summary struct {
	Series, Batches int
	// Chosen counts the series per chosen model (by Kind); ByStatus per
	// model.Status.
	Chosen   [model.NumKinds]int
	ByStatus [3]int
	// MeanRMSSE is the mean backtest RMSSE over the series that had one.
	MeanRMSSE float64
	// Fits counts candidate model fits (series × candidates, plus refits).
	Fits    int64
	Elapsed time.Duration
}

// Fit forecasts every series of src with opts.Workers goroutines and hands
// each batch's Output to sink. Sink is called from one goroutine at a time;
// it must not keep the Output after it returns (the engine reuses it). The
// first error — from the source, a series, the sink or ctx — stops the run
// and is returned.
func Fit(ctx context.Context, src Source, opts Options, sink func(*Output) error) (Summary, error) {
	opts = opts.withDefaults()
	start := time.Now()
	mo := opts.Model.WithDefaults()
	if _, err := model.NewScratch(mo); err != nil {
		return Summary{}, err
	}
	type job struct {
		seq int
		b   *Batch
	}
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job)
	outs := make(chan *Output)
	free := make(chan *Output, opts.InFlight)
	slots := make(chan struct{}, opts.InFlight)
	// Reader: one batch at a time, at most InFlight outstanding.
	g.Go(func() error {
		defer close(jobs)
		for seq := 0; ; seq++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			b, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read series batch %d: %w", seq, err)
			}
			if err := b.Validate(); err != nil {
				return fmt.Errorf("series batch %d: %w", seq, err)
			}
			select {
			case jobs <- job{seq, b}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	var workers sync.WaitGroup
	var fits atomic.Int64
	for range opts.Workers {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			sc, err := model.NewScratch(mo)
			if err != nil {
				return err
			}
			var res model.Result
			for j := range jobs {
				var o *Output
				select {
				case o = <-free:
				default:
					o = new(Output)
				}
				n, err := fitBatch(sc, &res, j.b, j.seq, o)
				fits.Add(n)
				if err != nil {
					return err
				}
				select {
				case outs <- o:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	go func() {
		workers.Wait()
		close(outs)
	}()
	var sum Summary
	var rmsseSum float64
	var rmsseN int
	g.Go(func() error {
		for o := range outs {
			if err := ctx.Err(); err != nil {
				return err
			}
			sum.Batches++
			sum.Series += o.Len()
			for i := range o.Len() {
				sum.Chosen[o.Model[i]]++
				sum.ByStatus[o.Status[i]]++
				if r := o.RMSSE[i]; !math.IsNaN(r) {
					rmsseSum += r
					rmsseN++
				}
			}
			if err := sink(o); err != nil {
				return fmt.Errorf("forecast sink, batch %d: %w", o.Seq, err)
			}
			select {
			case free <- o:
			default:
			}
			<-slots
		}
		return nil
	})
	err := g.Wait()
	// Drain so the closer goroutine finishes (workers exit on ctx).
	for range outs {
	}
	if err != nil {
		return Summary{}, err
	}
	if rmsseN > 0 {
		sum.MeanRMSSE = rmsseSum / float64(rmsseN)
	}
	sum.Fits = fits.Load()
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// fitBatch forecasts every series of b into o and returns the number of
// model fits made.
func fitBatch(sc *model.Scratch, res *model.Result, b *Batch, seq int, o *Output) (int64, error) {
	opts := sc.Options()
	days := opts.ForecastDays
	n := b.Len()
	o.reset(seq, n, days)
	copy(o.Keys, b.Keys)
	var fits int64
	for i := range n {
		if err := sc.Fit(b.series(i), res); err != nil {
			return fits, fmt.Errorf("series %d: %w", b.Keys[i], err)
		}
		if res.Status == model.Selected {
			fits += int64(len(opts.Candidates)) + 1
		}
		o.Status[i] = res.Status
		o.Model[i] = res.Model
		o.Members[i] = res.Members
		for k, p := range res.Params {
			o.Params[4*i+k] = float32(p)
		}
		o.RMSSE[i], o.Scale[i], o.Sigma[i], o.Bias[i] = res.RMSSE, res.Scale, res.Sigma, res.Bias
		o.SigmaWindow[i] = math.NaN()
		if b.Protection != nil && res.Status == model.Selected {
			o.SigmaWindow[i] = model.WindowSigma(res.Residuals, opts.Horizon, int(b.Protection[i]))
		}
		f := o.Forecast[i*days : (i+1)*days]
		for h, v := range res.Forecast {
			f[h] = float32(v)
		}
		c := o.CandidateRMSSE[i*model.NumKinds : (i+1)*model.NumKinds]
		for k, v := range res.CandidateRMSSE {
			c[k] = float32(v)
		}
	}
	return fits, nil
}

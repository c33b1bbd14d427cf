package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Column names RecordSource reads by default.
const (
	ColSeriesID   = "series_id"
	ColDay        = "day"
	ColDemand     = "demand"
	ColCensored   = "censored"
	ColPromo      = "promo"
	ColSeason     = "season"
	ColProtection = "protection_days"
)

// RecordOptions configure a RecordSource. Empty names mean the defaults
// (the Col* constants).
type RecordOptions struct {
	SeriesID, Day, Demand, Censored, Promo, Season, Protection string
	// BatchSeries is the number of series per Batch (default 1024).
	BatchSeries int
}

func (o RecordOptions) withDefaults() RecordOptions {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.SeriesID, ColSeriesID)
	def(&o.Day, ColDay)
	def(&o.Demand, ColDemand)
	def(&o.Censored, ColCensored)
	def(&o.Promo, ColPromo)
	def(&o.Season, ColSeason)
	def(&o.Protection, ColProtection)
	if o.BatchSeries <= 0 {
		o.BatchSeries = 1024
	}
	return o
}

// RecordSource is a Source reading Arrow record batches (such as DuckDB's
// Arrow query results) in one of two layouts, chosen by the type of the
// demand column:
//
//   - List layout, one row per series: series_id (integer), demand
//     LIST<number>, and optionally censored LIST<bool>, promo LIST<bool>
//     (each as long as demand), season LIST<number> (7 weekday indices, see
//     model.Series.Season) and protection_days (integer).
//   - Long layout, one row per series-day: series_id (integer), day
//     (integer or DATE), demand (number), and optionally censored (bool)
//     and promo (bool); rows ordered by series_id, then day. A series may
//     span records. Days missing between two rows of a series are zero
//     demand, neither censored nor promoted.
//
// Null demand counts as 0 and null flags as false. Values are copied out of
// the records, which are released as soon as they have been read.
type RecordSource struct {
	rr   array.RecordReader
	opts RecordOptions
	list bool
	cols columns
	out  *Batch // batch being assembled
	done bool
	// Long layout: the series being assembled.
	open    bool
	curID   int64
	curDay  int64
	pending []*Batch
}

type columns struct {
	id, day, demand, censored, promo, season, protection int // -1: absent
}

// NewRecordSource returns a source over rr. It takes a reference to rr and
// releases it when the source reaches the end or Close is called.
func NewRecordSource(rr array.RecordReader, opts RecordOptions) (*RecordSource, error) {
	opts = opts.withDefaults()
	sc := rr.Schema()
	find := func(name string, required bool) (int, error) {
		idx := sc.FieldIndices(name)
		switch {
		case len(idx) == 1:
			return idx[0], nil
		case len(idx) > 1:
			return -1, fmt.Errorf("column %q appears %d times", name, len(idx))
		case required:
			return -1, fmt.Errorf("no column %q", name)
		}
		return -1, nil
	}
	var c columns
	var errs []error
	must := func(dst *int, name string, required bool) {
		i, err := find(name, required)
		errs = append(errs, err)
		*dst = i
	}
	must(&c.id, opts.SeriesID, true)
	must(&c.demand, opts.Demand, true)
	must(&c.censored, opts.Censored, false)
	must(&c.promo, opts.Promo, false)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("series records: %w", err)
	}
	s := &RecordSource{rr: rr, opts: opts}
	if !isInteger(sc.Field(c.id).Type) {
		return nil, fmt.Errorf("series records: column %q is %s: want an integer", opts.SeriesID, sc.Field(c.id).Type)
	}
	switch dt := sc.Field(c.demand).Type.(type) {
	case arrow.ListLikeType:
		s.list = true
		if !isNumber(dt.Elem()) {
			return nil, fmt.Errorf("series records: column %q is %s: want a list of numbers", opts.Demand, dt)
		}
		for _, f := range []struct {
			i    int
			name string
		}{{c.censored, opts.Censored}, {c.promo, opts.Promo}} {
			if f.i < 0 {
				continue
			}
			if lt, ok := sc.Field(f.i).Type.(arrow.ListLikeType); !ok || lt.Elem().ID() != arrow.BOOL {
				return nil, fmt.Errorf("series records: column %q is %s: want a list of booleans", f.name, sc.Field(f.i).Type)
			}
		}
		must(&c.season, opts.Season, false)
		must(&c.protection, opts.Protection, false)
		if c.season >= 0 {
			if lt, ok := sc.Field(c.season).Type.(arrow.ListLikeType); !ok || !isNumber(lt.Elem()) {
				return nil, fmt.Errorf("series records: column %q is %s: want a list of numbers", opts.Season, sc.Field(c.season).Type)
			}
		}
		if c.protection >= 0 && !isInteger(sc.Field(c.protection).Type) {
			return nil, fmt.Errorf("series records: column %q is %s: want an integer", opts.Protection, sc.Field(c.protection).Type)
		}
	default:
		if !isNumber(dt) {
			return nil, fmt.Errorf("series records: column %q is %s: want a number or a list of numbers", opts.Demand, dt)
		}
		must(&c.day, opts.Day, true)
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("series records: %w", err)
		}
		if t := sc.Field(c.day).Type; !isInteger(t) && t.ID() != arrow.DATE32 {
			return nil, fmt.Errorf("series records: column %q is %s: want an integer or a date", opts.Day, t)
		}
		for _, f := range []struct {
			i    int
			name string
		}{{c.censored, opts.Censored}, {c.promo, opts.Promo}} {
			if f.i >= 0 && sc.Field(f.i).Type.ID() != arrow.BOOL {
				return nil, fmt.Errorf("series records: column %q is %s: want a boolean", f.name, sc.Field(f.i).Type)
			}
		}
		c.season, c.protection = -1, -1
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("series records: %w", err)
	}
	s.cols = c
	rr.Retain()
	return s, nil
}

// Close releases the record reader (idempotent).
func (s *RecordSource) Close() {
	if s.rr != nil {
		s.rr.Release()
		s.rr = nil
	}
}

// Next implements Source.
func (s *RecordSource) Next(ctx context.Context) (*Batch, error) {
	for {
		if len(s.pending) > 0 {
			b := s.pending[0]
			s.pending = s.pending[1:]
			return b, nil
		}
		if s.done {
			return nil, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.rr == nil || !s.rr.Next() {
			var err error
			if s.rr != nil {
				err = s.rr.Err()
			}
			s.Close()
			if err != nil {
				return nil, fmt.Errorf("read series records: %w", err)
			}
			s.done = true
			s.finishSeries()
			s.flush()
			continue
		}
		rec := s.rr.RecordBatch()
		var err error
		if s.list {
			err = s.addList(rec)
		} else {
			err = s.addLong(rec)
		}
		if err != nil {
			s.Close()
			s.done = true
			return nil, err
		}
	}
}

func (s *RecordSource) batch() *Batch {
	if s.out == nil {
		s.out = &Batch{Offsets: []int32{0}}
		if s.cols.censored >= 0 {
			s.out.Censored = []bool{}
		}
		if s.cols.promo >= 0 {
			s.out.Promo = []bool{}
		}
		if s.cols.season >= 0 {
			s.out.Season = []float32{}
		}
		if s.cols.protection >= 0 {
			s.out.Protection = []int32{}
		}
	}
	return s.out
}

// flush queues the batch being assembled, if it holds any series.
func (s *RecordSource) flush() {
	if s.out != nil && s.out.Len() > 0 {
		s.pending = append(s.pending, s.out)
	}
	s.out = nil
}

func (s *RecordSource) addList(rec arrow.RecordBatch) error {
	c := &s.cols
	ids := rec.Column(c.id)
	demand, ok := rec.Column(c.demand).(array.ListLike)
	if !ok {
		return fmt.Errorf("series records: demand column is %T", rec.Column(c.demand))
	}
	var cens, promo, season array.ListLike
	if c.censored >= 0 {
		cens = rec.Column(c.censored).(array.ListLike)
	}
	if c.promo >= 0 {
		promo = rec.Column(c.promo).(array.ListLike)
	}
	if c.season >= 0 {
		season = rec.Column(c.season).(array.ListLike)
	}
	for r := range int(rec.NumRows()) {
		if ids.IsNull(r) {
			return errors.New("series records: null series id")
		}
		b := s.batch()
		id := intAt(ids, r)
		b.Keys = append(b.Keys, id)
		lo, hi := demand.ValueOffsets(r)
		if demand.IsNull(r) {
			lo, hi = 0, 0
		}
		n := int(hi - lo)
		b.Values = appendNumbers(b.Values, demand.ListValues(), int(lo), int(hi))
		for _, f := range []struct {
			l   array.ListLike
			dst *[]bool
			col string
		}{{cens, &b.Censored, s.opts.Censored}, {promo, &b.Promo, s.opts.Promo}} {
			if f.l == nil {
				continue
			}
			flo, fhi := f.l.ValueOffsets(r)
			switch {
			case f.l.IsNull(r):
				for range n {
					*f.dst = append(*f.dst, false)
				}
			case int(fhi-flo) != n:
				return fmt.Errorf("series %d: %d %s flags for %d days", id, fhi-flo, f.col, n)
			default:
				*f.dst = appendBools(*f.dst, f.l.ListValues(), int(flo), int(fhi))
			}
		}
		if season != nil {
			slo, shi := season.ValueOffsets(r)
			switch {
			case season.IsNull(r):
				b.Season = append(b.Season, 1, 1, 1, 1, 1, 1, 1)
			case shi-slo != 7:
				return fmt.Errorf("series %d: %d season indices: want 7", id, shi-slo)
			default:
				b.Season = appendNumbers(b.Season, season.ListValues(), int(slo), int(shi))
			}
		}
		if c.protection >= 0 {
			col := rec.Column(c.protection)
			var p int32
			if !col.IsNull(r) {
				p = int32(intAt(col, r))
			}
			b.Protection = append(b.Protection, p)
		}
		if len(b.Values) > 1<<31-1 {
			return fmt.Errorf("series %d: batch over 2^31 values", id)
		}
		b.Offsets = append(b.Offsets, int32(len(b.Values)))
		if b.Len() >= s.opts.BatchSeries {
			s.flush()
		}
	}
	return nil
}

func (s *RecordSource) addLong(rec arrow.RecordBatch) error {
	c := &s.cols
	ids, days, demand := rec.Column(c.id), rec.Column(c.day), rec.Column(c.demand)
	var cens, promo *array.Boolean
	if c.censored >= 0 {
		cens = rec.Column(c.censored).(*array.Boolean)
	}
	if c.promo >= 0 {
		promo = rec.Column(c.promo).(*array.Boolean)
	}
	for r := range int(rec.NumRows()) {
		if ids.IsNull(r) || days.IsNull(r) {
			return errors.New("series records: null series id or day")
		}
		id, day := intAt(ids, r), intAt(days, r)
		if !s.open || id != s.curID {
			if s.open && id < s.curID {
				return fmt.Errorf("series records: series %d after %d: want rows ordered by series", id, s.curID)
			}
			s.finishSeries()
			b := s.batch()
			b.Keys = append(b.Keys, id)
			s.open, s.curID, s.curDay = true, id, day-1
		}
		b := s.out
		if day <= s.curDay {
			return fmt.Errorf("series %d: day %d after day %d: want rows ordered by day, once each", id, day, s.curDay)
		}
		for gap := s.curDay + 1; gap < day; gap++ {
			b.Values = append(b.Values, 0)
			if b.Censored != nil {
				b.Censored = append(b.Censored, false)
			}
			if b.Promo != nil {
				b.Promo = append(b.Promo, false)
			}
		}
		s.curDay = day
		b.Values = append(b.Values, numAt(demand, r))
		if cens != nil {
			b.Censored = append(b.Censored, cens.IsValid(r) && cens.Value(r))
		}
		if promo != nil {
			b.Promo = append(b.Promo, promo.IsValid(r) && promo.Value(r))
		}
		if len(b.Values) > 1<<31-1 {
			return fmt.Errorf("series %d: batch over 2^31 values", id)
		}
	}
	return nil
}

// finishSeries closes the open long-layout series.
func (s *RecordSource) finishSeries() {
	if !s.open {
		return
	}
	s.open = false
	b := s.out
	b.Offsets = append(b.Offsets, int32(len(b.Values)))
	if b.Len() >= s.opts.BatchSeries {
		s.flush()
	}
}

func isInteger(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32:
		return true
	}
	return false
}

func isNumber(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return isInteger(t)
}

// intAt returns integer (or DATE32) element i of a.
func intAt(a arrow.Array, i int) int64 {
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Uint32:
		return int64(a.Value(i))
	case *array.Uint16:
		return int64(a.Value(i))
	case *array.Uint8:
		return int64(a.Value(i))
	case *array.Date32:
		return int64(a.Value(i))
	}
	return 0
}

// numAt returns numeric element i of a as float32 (0 when null).
func numAt(a arrow.Array, i int) float32 {
	if a.IsNull(i) {
		return 0
	}
	switch a := a.(type) {
	case *array.Float32:
		return a.Value(i)
	case *array.Float64:
		return float32(a.Value(i))
	}
	return float32(intAt(a, i))
}

// appendNumbers appends elements [lo, hi) of numeric array a to dst (nulls
// as 0), without a per-element type switch for the common types.
func appendNumbers(dst []float32, a arrow.Array, lo, hi int) []float32 {
	if a.NullN() == 0 {
		switch a := a.(type) {
		case *array.Float32:
			return append(dst, a.Float32Values()[lo:hi]...)
		case *array.Float64:
			for _, v := range a.Float64Values()[lo:hi] {
				dst = append(dst, float32(v))
			}
			return dst
		case *array.Int64:
			for _, v := range a.Int64Values()[lo:hi] {
				dst = append(dst, float32(v))
			}
			return dst
		case *array.Int32:
			for _, v := range a.Int32Values()[lo:hi] {
				dst = append(dst, float32(v))
			}
			return dst
		}
	}
	for i := lo; i < hi; i++ {
		dst = append(dst, numAt(a, i))
	}
	return dst
}

func appendBools(dst []bool, a arrow.Array, lo, hi int) []bool {
	b := a.(*array.Boolean)
	for i := lo; i < hi; i++ {
		dst = append(dst, b.IsValid(i) && b.Value(i))
	}
	return dst
}

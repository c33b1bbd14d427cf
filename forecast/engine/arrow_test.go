package engine

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shelflake/shelflake/forecast/model"
)

// drain reads every batch of src.
func drain(t *testing.T, src Source) []*Batch {
	t.Helper()
	var out []*Batch
	for {
		b, err := src.Next(t.Context())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

type listSeries struct {
	id      int64
	demand  []float64
	cens    []bool
	promo   []bool
	season  []float32 // nil: null
	protect int32
}

func listRecord(mem memory.Allocator, rows []listSeries) arrow.RecordBatch {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "series_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "demand", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
		{Name: "censored", Type: arrow.ListOf(arrow.FixedWidthTypes.Boolean)},
		{Name: "promo", Type: arrow.ListOf(arrow.FixedWidthTypes.Boolean)},
		{Name: "season", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "protection_days", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	for _, r := range rows {
		rb.Field(0).(*array.Int64Builder).Append(r.id)
		l := rb.Field(1).(*array.ListBuilder)
		l.Append(true)
		l.ValueBuilder().(*array.Float64Builder).AppendValues(r.demand, nil)
		for k, flags := range [][]bool{r.cens, r.promo} {
			lb := rb.Field(2 + k).(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.BooleanBuilder).AppendValues(flags, nil)
		}
		s := rb.Field(4).(*array.ListBuilder)
		if r.season == nil {
			s.AppendNull()
		} else {
			s.Append(true)
			s.ValueBuilder().(*array.Float32Builder).AppendValues(r.season, nil)
		}
		rb.Field(5).(*array.Int32Builder).Append(r.protect)
	}
	return rb.NewRecordBatch()
}

func reader(t *testing.T, recs ...arrow.RecordBatch) array.RecordReader {
	t.Helper()
	rr, err := array.NewRecordReader(recs[0].Schema(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	return rr
}

func TestRecordSourceReadsTheListLayout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	week := []float32{1, 1, 1, 1, 1, 2, 2}
	rows := []listSeries{
		{1, []float64{1, 2, 3}, []bool{false, true, false}, []bool{false, false, true}, week, 9},
		{2, []float64{4}, []bool{true}, []bool{false}, nil, 3},
		{3, nil, nil, nil, week, 0},
	}
	more := []listSeries{{4, []float64{5, 6}, []bool{false, false}, []bool{true, true}, week, 12}}
	rr := reader(t, listRecord(mem, rows), listRecord(mem, more))
	src, err := NewRecordSource(rr, RecordOptions{BatchSeries: 2})
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got := drain(t, src)
	// Batches of two series; the second record's series joins the first
	// record's last one.
	if len(got) != 2 {
		t.Fatalf("%d batches", len(got))
	}
	b0, b1 := got[0], got[1]
	if !slices.Equal(b0.Keys, []int64{1, 2}) || !slices.Equal(b0.Offsets, []int32{0, 3, 4}) ||
		!slices.Equal(b0.Values, []float32{1, 2, 3, 4}) || !slices.Equal(b0.Censored, []bool{false, true, false, true}) ||
		!slices.Equal(b0.Promo, []bool{false, false, true, false}) || !slices.Equal(b0.Protection, []int32{9, 3}) {
		t.Errorf("batch 0: %+v", b0)
	}
	if !slices.Equal(b0.Season[:7], week) || !slices.Equal(b0.Season[7:], []float32{1, 1, 1, 1, 1, 1, 1}) {
		t.Errorf("batch 0 season (a null season is neutral): %v", b0.Season)
	}
	if !slices.Equal(b1.Keys, []int64{3, 4}) || !slices.Equal(b1.Offsets, []int32{0, 0, 2}) || !slices.Equal(b1.Values, []float32{5, 6}) ||
		!slices.Equal(b1.Promo, []bool{true, true}) {
		t.Errorf("batch 1: %+v", b1)
	}
}

type longRow struct {
	id       int32
	day      arrow.Date32
	demand   int64
	censored bool
}

func longRecord(mem memory.Allocator, rows []longRow) arrow.RecordBatch {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "sid", Type: arrow.PrimitiveTypes.Int32},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "demand", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "censored", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	for _, r := range rows {
		rb.Field(0).(*array.Int32Builder).Append(r.id)
		rb.Field(1).(*array.Date32Builder).Append(r.day)
		if r.demand < 0 {
			rb.Field(2).(*array.Int64Builder).AppendNull()
		} else {
			rb.Field(2).(*array.Int64Builder).Append(r.demand)
		}
		rb.Field(3).(*array.BooleanBuilder).Append(r.censored)
	}
	return rb.NewRecordBatch()
}

func TestRecordSourceReadsTheLongLayout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d := arrow.Date32(20458)
	rr := reader(t,
		longRecord(mem, []longRow{{5, d, 1, false}, {5, d + 1, 2, true}, {7, d, 3, false}}),
		// Series 7 continues in the next record, with a two-day gap and a
		// null demand.
		longRecord(mem, []longRow{{7, d + 3, 4, false}, {7, d + 4, -1, true}}),
		longRecord(mem, []longRow{{9, d + 10, 6, false}}),
	)
	src, err := NewRecordSource(rr, RecordOptions{SeriesID: "sid"})
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got := drain(t, src)
	if len(got) != 1 {
		t.Fatalf("%d batches", len(got))
	}
	b := got[0]
	want := &Batch{
		Keys:     []int64{5, 7, 9},
		Offsets:  []int32{0, 2, 7, 8},
		Values:   []float32{1, 2, 3, 0, 0, 4, 0, 6},
		Censored: []bool{false, true, false, false, false, false, true, false},
	}
	if !slices.Equal(b.Keys, want.Keys) || !slices.Equal(b.Offsets, want.Offsets) || !slices.Equal(b.Values, want.Values) ||
		!slices.Equal(b.Censored, want.Censored) || b.Promo != nil || b.Season != nil {
		t.Errorf("got %+v\nwant %+v", b, want)
	}
}

func TestRecordSourceRefusesWhatItCannotRead(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d := arrow.Date32(1)
	cases := []struct {
		name string
		recs func() []arrow.RecordBatch
		opts RecordOptions
		want string
	}{
		{"no series column", func() []arrow.RecordBatch {
			return []arrow.RecordBatch{longRecord(mem, []longRow{{1, d, 1, false}})}
		}, RecordOptions{}, `no column "series_id"`},
		{"days out of order", func() []arrow.RecordBatch {
			return []arrow.RecordBatch{longRecord(mem, []longRow{{1, d + 1, 1, false}, {1, d, 1, false}})}
		}, RecordOptions{SeriesID: "sid"}, "want rows ordered by day"},
		{"series out of order", func() []arrow.RecordBatch {
			return []arrow.RecordBatch{longRecord(mem, []longRow{{2, d, 1, false}, {1, d, 1, false}})}
		}, RecordOptions{SeriesID: "sid"}, "want rows ordered by series"},
		{"flags of another length", func() []arrow.RecordBatch {
			return []arrow.RecordBatch{listRecord(mem, []listSeries{{1, []float64{1, 2}, []bool{true}, []bool{false, false}, nil, 0}})}
		}, RecordOptions{}, "1 censored flags for 2 days"},
		{"a season of 3 days", func() []arrow.RecordBatch {
			return []arrow.RecordBatch{listRecord(mem, []listSeries{{1, []float64{1}, []bool{true}, []bool{false}, []float32{1, 2, 3}, 0}})}
		}, RecordOptions{}, "3 season indices"},
		{"a string demand", func() []arrow.RecordBatch {
			b := array.NewStringBuilder(mem)
			defer b.Release()
			b.Append("x")
			s := b.NewArray()
			defer s.Release()
			i := array.NewInt64Builder(mem)
			defer i.Release()
			i.Append(1)
			id := i.NewArray()
			defer id.Release()
			sc := arrow.NewSchema([]arrow.Field{{Name: "series_id", Type: arrow.PrimitiveTypes.Int64}, {Name: "demand", Type: arrow.BinaryTypes.String}}, nil)
			return []arrow.RecordBatch{array.NewRecordBatch(sc, []arrow.Array{id, s}, 1)}
		}, RecordOptions{}, "want a number or a list of numbers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rr := reader(t, c.recs()...)
			defer rr.Release()
			src, err := NewRecordSource(rr, c.opts)
			if err == nil {
				defer src.Close()
				for err == nil {
					_, err = src.Next(t.Context())
				}
			}
			if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestFitReadsArrowEndToEnd(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// Every series of makeBatches as list rows, split over two records.
	batches := makeBatches(2, 30)
	var rows [][]listSeries
	for _, b := range batches {
		var rs []listSeries
		for i := range b.Len() {
			lo, hi := b.Offsets[i], b.Offsets[i+1]
			d := make([]float64, 0, hi-lo)
			for _, v := range b.Values[lo:hi] {
				d = append(d, float64(v))
			}
			rs = append(rs, listSeries{b.Keys[i], d, b.Censored[lo:hi], b.Promo[lo:hi], b.Season[7*i : 7*i+7], b.Protection[i]})
		}
		rows = append(rows, rs)
	}
	rr := reader(t, listRecord(mem, rows[0]), listRecord(mem, rows[1]))
	src, err := NewRecordSource(rr, RecordOptions{BatchSeries: 16})
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fromArrow := map[int64]row{}
	if _, err := Fit(context.Background(), src, Options{Workers: 2}, func(o *Output) error {
		collect(o, fromArrow)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	direct := map[int64]row{}
	if _, err := Fit(t.Context(), &sliceSource{batches: batches}, Options{Workers: 2}, func(o *Output) error {
		collect(o, direct)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(fromArrow) != 60 || len(direct) != 60 {
		t.Fatalf("%d series from Arrow, %d direct", len(fromArrow), len(direct))
	}
	for k, a := range fromArrow {
		d := direct[k]
		if a.kind != d.kind || !slices.Equal(a.forecast, d.forecast) {
			t.Fatalf("series %d: from Arrow %v %v, direct %v %v", k, a.kind, a.forecast[:3], d.kind, d.forecast[:3])
		}
		if a.status == model.Selected && a.sigmaW != d.sigmaW {
			t.Fatalf("series %d: window σ %v vs %v", k, a.sigmaW, d.sigmaW)
		}
	}
}

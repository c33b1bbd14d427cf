package lake

import (
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// columnPlan writes rows of a flat row type (every column a top-level
// struct field of a supported Go type) straight into a parquet writer's
// column buffers, one column at a time, with explicit definition levels: an
// optional column's zero value is written as null (definition level 0), any
// other value as present (level 1), the same values parquet-go's
// Schema.Deconstruct produces (lake's TestColumnPlanMatchesDeconstruct)
// without building a parquet.Row per row. The partition column gets its
// constant value on every row.
//
// Fields are read by their offset in the struct, after their Go types were
// checked against the column types once, in newColumnPlan.
type columnPlan struct {
	cols []columnOf
	// vals holds one column's values of a batch; reused.
	vals []parquet.Value
}

// columnOf is how one column's values come out of a row.
type columnOf struct {
	kind     fieldKind
	offset   uintptr
	optional bool
	konst    parquet.Value // kind constant: the value of every row
}

type fieldKind int

const (
	fieldString fieldKind = iota
	fieldInt32
	fieldInt64
	fieldBool
	fieldFloat64
	fieldTimeMicros
	fieldTimeMillis
	fieldTimeNanos
	constant
)

var goTimeType = reflect.TypeOf(time.Time{})

// newColumnPlan returns the plan of rows of T in files of schema sch, or nil
// when T or sch has anything it does not handle (nested or repeated
// columns, other Go types); such tables take the Deconstruct path.
func newColumnPlan[T any](sch *parquet.Schema) *columnPlan {
	rt := reflect.TypeOf((*T)(nil)).Elem()
	if rt.Kind() != reflect.Struct || !valueLayoutHolds() {
		return nil
	}
	byName := map[string]reflect.StructField{}
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag, ok := f.Tag.Lookup("parquet")
		if !ok || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		byName[name] = f
	}
	fields := sch.Fields()
	if len(sch.Columns()) != len(fields) {
		return nil // a nested column
	}
	p := &columnPlan{cols: make([]columnOf, len(fields))}
	for i, f := range fields {
		if !f.Leaf() || f.Repeated() {
			return nil
		}
		if pf, ok := f.(partitionField); ok {
			p.cols[i] = columnOf{kind: constant, konst: parquet.Int32Value(int32(pf.value.Int())).Level(0, 0, i)}
			continue
		}
		sf, ok := byName[f.Name()]
		if !ok {
			return nil
		}
		c, ok := columnKind(sf.Type, f.Type())
		if !ok {
			return nil
		}
		c.offset = sf.Offset
		c.optional = f.Optional()
		if c.optional && c.kind != fieldString && c.kind != fieldInt32 && c.kind != fieldInt64 {
			return nil
		}
		p.cols[i] = c
	}
	return p
}

// columnKind matches a Go type to a Parquet column type.
func columnKind(gt reflect.Type, pt parquet.Type) (columnOf, bool) {
	if gt == goTimeType {
		lt := pt.LogicalType()
		if pt.Kind() != parquet.Int64 || lt == nil {
			return columnOf{}, false
		}
		ts, ok := lt.Value.(*format.TimestampType)
		if !ok {
			return columnOf{}, false
		}
		switch ts.Unit.Value.(type) {
		case *format.MicroSeconds:
			return columnOf{kind: fieldTimeMicros}, true
		case *format.MilliSeconds:
			return columnOf{kind: fieldTimeMillis}, true
		case *format.NanoSeconds:
			return columnOf{kind: fieldTimeNanos}, true
		}
		return columnOf{}, false
	}
	switch {
	case gt.Kind() == reflect.String && pt.Kind() == parquet.ByteArray:
		return columnOf{kind: fieldString}, true
	case gt.Kind() == reflect.Int32 && pt.Kind() == parquet.Int32:
		return columnOf{kind: fieldInt32}, true
	case gt.Kind() == reflect.Int64 && pt.Kind() == parquet.Int64:
		return columnOf{kind: fieldInt64}, true
	case gt.Kind() == reflect.Bool && pt.Kind() == parquet.Boolean:
		return columnOf{kind: fieldBool}, true
	case gt.Kind() == reflect.Float64 && pt.Kind() == parquet.Double:
		return columnOf{kind: fieldFloat64}, true
	}
	return columnOf{}, false
}

// values fills p.vals with column col's values of rows and returns them.
// String values point into the rows' strings: they are valid while rows
// are (the column buffers copy them).
func planValues[T any](p *columnPlan, col int, rows []T) []parquet.Value {
	c := &p.cols[col]
	if cap(p.vals) < len(rows) {
		p.vals = make([]parquet.Value, len(rows))
	}
	vals := p.vals[:len(rows)]
	if c.kind == constant {
		for i := range vals {
			vals[i] = c.konst
		}
		return vals
	}
	// Present values of an optional column have definition level 1.
	def := 0
	if c.optional {
		def = 1
	}
	null := parquet.Value{}.Level(0, 0, col)
	base := unsafe.Pointer(unsafe.SliceData(rows))
	size := unsafe.Sizeof(rows[0])
	at := func(i int) unsafe.Pointer { return unsafe.Add(base, uintptr(i)*size+c.offset) }
	out := unsafe.Slice((*valueWords)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals))
	// One loop per kind: the switch is decided once per column, not per
	// row, and each value is its column's template with its data words set.
	switch c.kind {
	case fieldString:
		t := asWords(parquet.ByteArrayValue(nil).Level(0, def, col))
		for i := range out {
			s := *(*string)(at(i))
			if len(s) == 0 && c.optional {
				vals[i] = null
				continue
			}
			out[i] = t
			out[i].ptr, out[i].u64 = unsafe.StringData(s), uint64(len(s))
		}
	case fieldInt32:
		t := asWords(parquet.Int32Value(0).Level(0, def, col))
		for i := range out {
			n := *(*int32)(at(i))
			if n == 0 && c.optional {
				vals[i] = null
				continue
			}
			out[i] = t
			out[i].u64 = uint64(n) // sign-extended, as parquet-go stores it
		}
	case fieldInt64:
		t := asWords(parquet.Int64Value(0).Level(0, def, col))
		for i := range out {
			n := *(*int64)(at(i))
			if n == 0 && c.optional {
				vals[i] = null
				continue
			}
			out[i] = t
			out[i].u64 = uint64(n)
		}
	case fieldBool:
		for i := range vals {
			vals[i] = parquet.BooleanValue(*(*bool)(at(i))).Level(0, def, col)
		}
	case fieldFloat64:
		for i := range vals {
			vals[i] = parquet.DoubleValue(*(*float64)(at(i))).Level(0, def, col)
		}
	case fieldTimeMicros, fieldTimeMillis, fieldTimeNanos:
		t := asWords(parquet.Int64Value(0).Level(0, def, col))
		for i := range out {
			tm := (*time.Time)(at(i))
			var n int64
			switch c.kind {
			case fieldTimeMicros:
				n = tm.UnixMicro()
			case fieldTimeMillis:
				n = tm.UnixMilli()
			default:
				n = tm.UnixNano()
			}
			out[i] = t
			out[i].u64 = uint64(n)
		}
	}
	return vals
}

// valueWords is parquet.Value's memory layout (a data pointer, a data word,
// then kind and levels). planValues builds each value of a column from a
// template made by parquet-go's own constructors, setting only the data
// words; valueLayoutHolds checks, when a plan is made, that the layout is
// still this one, and the plan is not used otherwise.
type valueWords struct {
	ptr  *byte
	u64  uint64
	tail uint64 // kind, definition and repetition levels, column index
}

func asWords(v parquet.Value) valueWords { return *(*valueWords)(unsafe.Pointer(&v)) }

// valueLayoutHolds reports whether values built as planValues builds them
// equal parquet-go's.
func valueLayoutHolds() bool {
	if unsafe.Sizeof(parquet.Value{}) != unsafe.Sizeof(valueWords{}) {
		return false
	}
	s := []byte("abc")
	for _, c := range []struct{ got, want parquet.Value }{
		{fromWords(asWords(parquet.Int64Value(0).Level(0, 1, 3)), nil, 1<<40+7), parquet.Int64Value(1<<40+7).Level(0, 1, 3)},
		{fromWords(asWords(parquet.Int32Value(0).Level(0, 0, 5)), nil, 0xFFFFFFFFFFFFFFF7), parquet.Int32Value(-9).Level(0, 0, 5)},
		{fromWords(asWords(parquet.ByteArrayValue(nil).Level(0, 1, 2)), &s[0], 3), parquet.ByteArrayValue(s).Level(0, 1, 2)},
	} {
		if !parquet.Equal(c.got, c.want) || c.got.Column() != c.want.Column() ||
			c.got.DefinitionLevel() != c.want.DefinitionLevel() || c.got.RepetitionLevel() != c.want.RepetitionLevel() ||
			c.got.Kind() != c.want.Kind() {
			return false
		}
	}
	return true
}

func fromWords(t valueWords, ptr *byte, u64 uint64) parquet.Value {
	t.ptr, t.u64 = ptr, u64
	return *(*parquet.Value)(unsafe.Pointer(&t))
}

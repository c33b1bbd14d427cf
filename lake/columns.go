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
	if rt.Kind() != reflect.Struct {
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
	for i := range rows {
		f := unsafe.Add(unsafe.Pointer(&rows[i]), c.offset)
		var v parquet.Value
		switch c.kind {
		case fieldString:
			s := *(*string)(f)
			if len(s) == 0 && c.optional {
				vals[i] = null
				continue
			}
			v = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
		case fieldInt32:
			n := *(*int32)(f)
			if n == 0 && c.optional {
				vals[i] = null
				continue
			}
			v = parquet.Int32Value(n)
		case fieldInt64:
			n := *(*int64)(f)
			if n == 0 && c.optional {
				vals[i] = null
				continue
			}
			v = parquet.Int64Value(n)
		case fieldBool:
			v = parquet.BooleanValue(*(*bool)(f))
		case fieldFloat64:
			v = parquet.DoubleValue(*(*float64)(f))
		case fieldTimeMicros:
			v = parquet.Int64Value((*time.Time)(f).UnixMicro())
		case fieldTimeMillis:
			v = parquet.Int64Value((*time.Time)(f).UnixMilli())
		case fieldTimeNanos:
			v = parquet.Int64Value((*time.Time)(f).UnixNano())
		}
		vals[i] = v.Level(0, def, col)
	}
	return vals
}

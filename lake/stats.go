package lake

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// statsStringPrefix is how many characters of a string column's minimum go
// into Delta stats (Delta's own default, dataSkippingStringPrefixLength).
// A longer maximum cannot be cut without ceasing to be an upper bound, so a
// column whose maximum is longer has no min/max stats (readers then treat
// the file as possibly matching, which is always correct).
const statsStringPrefix = 32

// statsFromMetadata computes a file's Delta stats from its Parquet footer
// (the column-chunk statistics parquet-go computed while writing), skipping
// the column named skip (the partition column, if it were in the file).
//
// Values follow the Delta convention: dates "YYYY-MM-DD", timestamps RFC
// 3339 UTC with milliseconds (a maximum rounded up), decimals and integers
// as JSON numbers, strings as strings (see stringBound). Nested struct
// columns nest as JSON objects. Repeated columns have no entry; booleans,
// binary and other types have a nullCount but no bounds.
func statsFromMetadata(sch *parquet.Schema, md *format.FileMetaData, skip string) (*delta.Stats, error) {
	st := &delta.Stats{
		NumRecords: md.NumRows,
		MinValues:  map[string]any{},
		MaxValues:  map[string]any{},
		NullCount:  map[string]any{},
	}
	for _, path := range sch.Columns() {
		leaf, ok := sch.Lookup(path...)
		if !ok {
			return nil, fmt.Errorf("stats: column %v not in schema", path)
		}
		if leaf.MaxRepetitionLevel > 0 || (len(path) == 1 && path[0] == skip) {
			continue
		}
		typ := leaf.Node.Type()
		var (
			nulls       int64
			lo, hi      parquet.Value
			have, known = false, true
		)
		for i := range md.RowGroups {
			rg := &md.RowGroups[i]
			if leaf.ColumnIndex >= len(rg.Columns) {
				return nil, fmt.Errorf("stats: row group %d has %d columns, want column %d", i, len(rg.Columns), leaf.ColumnIndex)
			}
			cm := &rg.Columns[leaf.ColumnIndex].MetaData
			s := &cm.Statistics
			nulls += s.NullCount
			if cm.NumValues-s.NullCount <= 0 {
				continue // only nulls in this chunk: no bounds to merge
			}
			mn, okMin := statValue(typ.Kind(), s.MinValue)
			mx, okMax := statValue(typ.Kind(), s.MaxValue)
			if !okMin || !okMax {
				known = false
				continue
			}
			if !have || typ.Compare(mn, lo) < 0 {
				lo = mn.Clone()
			}
			if !have || typ.Compare(mx, hi) > 0 {
				hi = mx.Clone()
			}
			have = true
		}
		setPath(st.NullCount, path, nulls)
		if !have || !known {
			continue
		}
		jlo, okLo := statJSON(typ, lo, false)
		jhi, okHi := statJSON(typ, hi, true)
		if okLo && okHi {
			setPath(st.MinValues, path, jlo)
			setPath(st.MaxValues, path, jhi)
		}
	}
	return st, nil
}

// statValue decodes a PLAIN-encoded statistics value of the physical kind k.
func statValue(k parquet.Kind, b []byte) (parquet.Value, bool) {
	switch k {
	case parquet.Int32:
		if len(b) != 4 {
			return parquet.Value{}, false
		}
		return parquet.Int32Value(int32(binary.LittleEndian.Uint32(b))), true
	case parquet.Int64:
		if len(b) != 8 {
			return parquet.Value{}, false
		}
		return parquet.Int64Value(int64(binary.LittleEndian.Uint64(b))), true
	case parquet.Float:
		if len(b) != 4 {
			return parquet.Value{}, false
		}
		return parquet.FloatValue(math.Float32frombits(binary.LittleEndian.Uint32(b))), true
	case parquet.Double:
		if len(b) != 8 {
			return parquet.Value{}, false
		}
		return parquet.DoubleValue(math.Float64frombits(binary.LittleEndian.Uint64(b))), true
	case parquet.ByteArray:
		if b == nil {
			return parquet.Value{}, false
		}
		return parquet.ByteArrayValue(b), true
	}
	return parquet.Value{}, false
}

// statJSON converts a bound to its Delta stats JSON value. upper says the
// value is a maximum (it may only be rounded up). It reports false for
// types Delta keeps no min/max of, and for values that cannot be bounds.
func statJSON(typ parquet.Type, v parquet.Value, upper bool) (any, bool) {
	var lt format.LogicalTypeValue
	if l := typ.LogicalType(); l != nil {
		lt = l.Value
	}
	switch t := lt.(type) {
	case *format.DateType:
		if v.Kind() != parquet.Int32 {
			return nil, false
		}
		return schema.Date(v.Int32()).String(), true
	case *format.TimestampType:
		if v.Kind() != parquet.Int64 {
			return nil, false
		}
		return timestampJSON(v.Int64(), t.Unit, upper)
	case *format.DecimalType:
		var unscaled int64
		switch v.Kind() {
		case parquet.Int32:
			unscaled = int64(v.Int32())
		case parquet.Int64:
			unscaled = v.Int64()
		default:
			return nil, false // byte-array decimals: none in our tables
		}
		return json.Number(decimalText(unscaled, int(t.Scale))), true
	case *format.StringType, *format.EnumType:
		return stringBound(v.ByteArray(), upper)
	case *format.IntType:
		if !t.IsSigned {
			switch v.Kind() {
			case parquet.Int32:
				return json.Number(strconv.FormatUint(uint64(uint32(v.Int32())), 10)), true
			case parquet.Int64:
				return json.Number(strconv.FormatUint(uint64(v.Int64()), 10)), true
			}
			return nil, false
		}
	case nil:
		if typ.Kind() == parquet.ByteArray {
			return nil, false // raw binary: Delta keeps no bounds
		}
	default:
		return nil, false // JSON, UUID, TIME, BSON...: no bounds
	}
	switch v.Kind() {
	case parquet.Int32:
		return json.Number(strconv.FormatInt(int64(v.Int32()), 10)), true
	case parquet.Int64:
		return json.Number(strconv.FormatInt(v.Int64(), 10)), true
	case parquet.Float:
		f := float64(v.Float())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 32)), true
	case parquet.Double:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
	}
	return nil, false
}

// timestampJSON formats a timestamp bound with millisecond precision in UTC,
// as Delta writes stats. A minimum is rounded down; a maximum with sub-
// millisecond digits is rounded up so it stays an upper bound.
func timestampJSON(n int64, unit format.TimeUnit, upper bool) (any, bool) {
	var per int64 // units per millisecond
	switch unit.Value.(type) {
	case *format.MilliSeconds:
		per = 1
	case *format.MicroSeconds:
		per = 1_000
	case *format.NanoSeconds:
		per = 1_000_000
	default:
		return nil, false
	}
	ms := n / per
	if n%per != 0 {
		if n < 0 {
			ms-- // floor for negative values
		}
		if upper {
			ms++
		}
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), true
}

// decimalText formats unscaled × 10^-scale as a plain decimal number.
func decimalText(unscaled int64, scale int) string {
	if scale <= 0 {
		return strconv.FormatInt(unscaled, 10)
	}
	neg := unscaled < 0
	u := uint64(unscaled)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	for len(digits) <= scale {
		digits = "0" + digits
	}
	s := digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

// stringBound returns a string bound: a minimum is cut to its first
// statsStringPrefix characters (a prefix is never greater); a longer maximum
// is dropped, and so is invalid UTF-8.
func stringBound(b []byte, upper bool) (any, bool) {
	if !utf8.Valid(b) {
		return nil, false
	}
	if utf8.RuneCount(b) <= statsStringPrefix {
		return string(b), true
	}
	if upper {
		return nil, false
	}
	n := 0
	for i := range string(b) {
		if n == statsStringPrefix {
			return string(b[:i]), true
		}
		n++
	}
	return string(b), true
}

// setPath stores v at path in nested maps, creating the inner maps.
func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		inner, ok := m[p].(map[string]any)
		if !ok {
			inner = map[string]any{}
			m[p] = inner
		}
		m = inner
	}
	m[path[len(path)-1]] = v
}

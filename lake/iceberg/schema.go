package iceberg

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shelflake/shelflake/lake/delta"
)

// PartitionFieldID is the field id of the identity(dt) partition field.
const PartitionFieldID = 1000

// Field is one column of an Iceberg schema.
type Field struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Type     string `json:"type"`
	Doc      string `json:"doc,omitempty"`
}

// Schema is an Iceberg struct schema with its id.
type Schema struct {
	Type     string  `json:"type"`
	SchemaID int     `json:"schema-id"`
	Fields   []Field `json:"fields"`
}

// field returns the field called name.
func (s *Schema) field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

var decimalType = regexp.MustCompile(`^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// SchemaFromDelta converts a Delta schemaString into an Iceberg schema. The
// field id of a column is its position in the Delta schema plus one (Delta
// columns are only ever appended, so ids stay stable); the Parquet writer
// gives the data files' columns the same ids. Nested types are refused.
func SchemaFromDelta(schemaString string, id int) (Schema, error) {
	var ds struct {
		Fields []struct {
			Name     string          `json:"name"`
			Type     json.RawMessage `json:"type"`
			Nullable bool            `json:"nullable"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(schemaString), &ds); err != nil {
		return Schema{}, fmt.Errorf("delta schemaString: %w", err)
	}
	s := Schema{Type: "struct", SchemaID: id}
	for i, f := range ds.Fields {
		var dtype string
		if err := json.Unmarshal(f.Type, &dtype); err != nil {
			return Schema{}, fmt.Errorf("column %s: nested type %s is not supported", f.Name, f.Type)
		}
		it, err := icebergType(dtype)
		if err != nil {
			return Schema{}, fmt.Errorf("column %s: %w", f.Name, err)
		}
		s.Fields = append(s.Fields, Field{ID: i + 1, Name: f.Name, Required: !f.Nullable, Type: it})
	}
	return s, nil
}

func icebergType(dtype string) (string, error) {
	switch dtype {
	case "string":
		return "string", nil
	case "integer", "short", "byte":
		return "int", nil
	case "long":
		return "long", nil
	case "double":
		return "double", nil
	case "float":
		return "float", nil
	case "boolean":
		return "boolean", nil
	case "binary":
		return "binary", nil
	case "date":
		return "date", nil
	case "timestamp":
		return "timestamptz", nil
	case "timestamp_ntz":
		return "timestamp", nil
	}
	if m := decimalType.FindStringSubmatch(dtype); m != nil {
		return "decimal(" + m[1] + ", " + m[2] + ")", nil
	}
	return "", fmt.Errorf("delta type %q has no Iceberg equivalent here", dtype)
}

// decimalScale returns the scale of an Iceberg decimal type.
func decimalScale(t string) (int, bool) {
	m := decimalType.FindStringSubmatch(strings.ReplaceAll(t, " ", ""))
	if m == nil {
		return 0, false
	}
	s, err := strconv.Atoi(m[2])
	return s, err == nil
}

// EncodeBound serializes a Delta statistics value (a json.Number or string
// from add.stats) of an Iceberg type per the spec's binary single-value
// serialization: int/date 4 bytes and long/timestamps 8 bytes little-endian,
// double IEEE 754 little-endian, decimal the unscaled value as two's
// complement big-endian in the fewest bytes, string UTF-8. ok is false for
// types without bounds (boolean, binary) or values that do not parse.
func EncodeBound(typ string, v any) (b []byte, ok bool) {
	s := fmt.Sprint(v)
	switch {
	case typ == "int":
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, false
		}
		return binary.LittleEndian.AppendUint32(nil, uint32(int32(n))), true
	case typ == "long":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, false
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(n)), true
	case typ == "double":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return nil, false
		}
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)), true
	case typ == "float":
		f, err := strconv.ParseFloat(s, 32)
		if err != nil || math.IsNaN(f) {
			return nil, false
		}
		return binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(f))), true
	case typ == "date":
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, false
		}
		return binary.LittleEndian.AppendUint32(nil, uint32(int32(d.Unix()/86400))), true
	case typ == "timestamptz" || typ == "timestamp":
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, false
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(t.UnixMicro())), true
	case typ == "string":
		if _, isStr := v.(string); !isStr {
			return nil, false
		}
		return []byte(s), true
	case strings.HasPrefix(typ, "decimal"):
		scale, ok := decimalScale(typ)
		if !ok {
			return nil, false
		}
		return decimalBytes(s, scale)
	}
	return nil, false
}

// decimalBytes returns the unscaled value of the decimal string s at scale
// as minimal two's complement big-endian bytes.
func decimalBytes(s string, scale int) ([]byte, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !r.IsInt() {
		return nil, false
	}
	return twosComplement(r.Num()), true
}

func twosComplement(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n-1 in bits, inverted.
	m := new(big.Int).Neg(n)
	m.Sub(m, big.NewInt(1))
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

// dateDays parses a "YYYY-MM-DD" partition value into days since the epoch.
func dateDays(s string) (int32, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("partition value %q: %w", s, err)
	}
	return int32(d.Unix() / 86400), nil
}

// fileStats converts an add action's statistics into the Iceberg data
// file's counts and bounds (by field id). The partition column (when
// partitioned) gets its value as both bounds and no nulls.
func fileStats(sch *Schema, partition string, a *delta.Add) (records int64, vc, nc []kvLong, lo, hi []kvBytes, err error) {
	st, err := a.ParseStats()
	if err != nil {
		return 0, nil, nil, nil, nil, err
	}
	if st == nil {
		return 0, nil, nil, nil, nil, fmt.Errorf("add %s carries no stats (numRecords is required for Iceberg)", a.Path)
	}
	records = st.NumRecords
	for _, f := range sch.Fields {
		if f.Name == partition {
			pv, ok := a.PartitionValues[partition]
			if !ok || pv == "" {
				continue
			}
			d, err := dateDays(pv)
			if err != nil {
				return 0, nil, nil, nil, nil, err
			}
			b := binary.LittleEndian.AppendUint32(nil, uint32(d))
			vc = append(vc, kvLong{int32(f.ID), records})
			nc = append(nc, kvLong{int32(f.ID), 0})
			lo = append(lo, kvBytes{int32(f.ID), b})
			hi = append(hi, kvBytes{int32(f.ID), b})
			continue
		}
		n, hasNulls := st.NullCount[f.Name]
		if hasNulls {
			nulls, err := strconv.ParseInt(fmt.Sprint(n), 10, 64)
			if err == nil {
				vc = append(vc, kvLong{int32(f.ID), records})
				nc = append(nc, kvLong{int32(f.ID), nulls})
			}
		}
		if v, ok := st.MinValues[f.Name]; ok {
			if b, ok := EncodeBound(f.Type, v); ok {
				lo = append(lo, kvBytes{int32(f.ID), b})
			}
		}
		if v, ok := st.MaxValues[f.Name]; ok {
			if b, ok := EncodeBound(f.Type, v); ok {
				hi = append(hi, kvBytes{int32(f.ID), b})
			}
		}
	}
	return records, vc, nc, lo, hi, nil
}

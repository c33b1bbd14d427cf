package delta

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// ColumnTypes returns the Delta type name of every top-level column of a
// schemaString whose type is primitive ("string", "long", "date",
// "decimal(18,4)", "timestamp", …). Struct, array and map columns are
// omitted (they cannot be partition columns).
func ColumnTypes(schemaString string) (map[string]string, error) {
	var st struct {
		Type   string `json:"type"`
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(schemaString), &st); err != nil {
		return nil, fmt.Errorf("parse schemaString: %w", err)
	}
	if st.Type != "struct" {
		return nil, fmt.Errorf("parse schemaString: top-level type %q, want struct", st.Type)
	}
	out := make(map[string]string, len(st.Fields))
	for _, f := range st.Fields {
		var name string
		if json.Unmarshal(f.Type, &name) == nil {
			out[f.Name] = name
		}
	}
	return out, nil
}

// ParsePartitionValue parses a serialized partition value of Delta type typ
// (see the protocol's Partition Value Serialization). An empty raw value is
// null and returns (nil, nil). Results by type:
//
//	string                      string
//	byte, short, integer, long  int64
//	float, double               float64
//	boolean                     bool
//	date                        time.Time (UTC midnight)
//	timestamp, timestamp_ntz    time.Time (UTC; "YYYY-MM-DD hh:mm:ss[.ffffff]"
//	                            without zone is read as UTC, or ISO 8601)
//	decimal(p,s)                *big.Rat
//	binary                      []byte
func ParsePartitionValue(typ, raw string) (any, error) {
	if raw == "" {
		return nil, nil
	}
	v, err := parsePartitionValue(typ, raw)
	if err != nil {
		return nil, fmt.Errorf("partition value %q as %s: %w", raw, typ, err)
	}
	return v, nil
}

func parsePartitionValue(typ, raw string) (any, error) {
	switch typ {
	case "string":
		return raw, nil
	case "byte":
		return strconv.ParseInt(raw, 10, 8)
	case "short":
		return strconv.ParseInt(raw, 10, 16)
	case "integer":
		return strconv.ParseInt(raw, 10, 32)
	case "long":
		return strconv.ParseInt(raw, 10, 64)
	case "float":
		return strconv.ParseFloat(raw, 32)
	case "double":
		return strconv.ParseFloat(raw, 64)
	case "boolean":
		return strconv.ParseBool(raw)
	case "binary":
		return []byte(raw), nil
	case "date":
		return time.Parse("2006-01-02", raw)
	case "timestamp", "timestamp_ntz":
		for _, layout := range []string{
			"2006-01-02 15:04:05.999999999",
			"2006-01-02T15:04:05.999999999Z07:00",
			"2006-01-02T15:04:05.999999999",
		} {
			if t, err := time.Parse(layout, raw); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, fmt.Errorf("not a timestamp")
	}
	if strings.HasPrefix(typ, "decimal") {
		r, ok := new(big.Rat).SetString(raw)
		if !ok {
			return nil, fmt.Errorf("not a decimal")
		}
		return r, nil
	}
	return nil, fmt.Errorf("unsupported partition column type")
}

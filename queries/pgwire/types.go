package pgwire

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgtype"
)

// Postgres type OIDs of the result columns (pg_type.oid).
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidFloat4      = 700
	oidFloat8      = 701
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
	oidUnknown     = 705
)

// column is a result column as the protocol describes it.
type column struct {
	name string
	oid  uint32
	size int16 // pg_type.typlen
	mod  int32 // atttypmod: numeric (precision<<16 | scale) + 4, else -1
}

// columnOf maps a DuckDB type name (DECIMAL(18,4), TIMESTAMP WITH TIME
// ZONE, …) to its Postgres column. Types without a Postgres equivalent
// here are text, written as DuckDB prints them.
func columnOf(name, duckType string) column {
	t := strings.ToUpper(strings.TrimSpace(duckType))
	c := column{name: name, oid: oidText, size: -1, mod: -1}
	switch {
	case t == "BOOLEAN":
		c.oid, c.size = oidBool, 1
	case t == "TINYINT" || t == "SMALLINT" || t == "UTINYINT":
		c.oid, c.size = oidInt2, 2
	case t == "INTEGER" || t == "USMALLINT":
		c.oid, c.size = oidInt4, 4
	case t == "BIGINT" || t == "UINTEGER":
		c.oid, c.size = oidInt8, 8
	case t == "HUGEINT" || t == "UBIGINT" || t == "UHUGEINT":
		c.oid = oidNumeric
	case t == "FLOAT":
		c.oid, c.size = oidFloat4, 4
	case t == "DOUBLE":
		c.oid, c.size = oidFloat8, 8
	case strings.HasPrefix(t, "DECIMAL"):
		c.oid = oidNumeric
		var p, s int32
		if _, err := fmt.Sscanf(t, "DECIMAL(%d,%d)", &p, &s); err == nil {
			c.mod = p<<16 | s + 4
		}
	case t == "VARCHAR":
		c.oid = oidText
	case t == "DATE":
		c.oid, c.size = oidDate, 4
	case t == "TIME":
		c.oid, c.size = oidTime, 8
	case t == "TIMESTAMP" || t == "TIMESTAMP_MS" || t == "TIMESTAMP_S" || t == "TIMESTAMP_NS":
		c.oid, c.size = oidTimestamp, 8
	case t == "TIMESTAMPTZ" || t == "TIMESTAMP WITH TIME ZONE":
		c.oid, c.size = oidTimestamptz, 8
	case t == "INTERVAL":
		c.oid, c.size = oidInterval, 16
	case t == "BLOB":
		c.oid = oidBytea
	case t == "UUID":
		c.oid, c.size = oidUUID, 16
	}
	return c
}

// duckTypeName names a prepared statement's DuckDB type as columnOf
// expects it.
func duckTypeName(t duckdb.Type, info duckdb.TypeInfo) string {
	switch t {
	case duckdb.TYPE_BOOLEAN:
		return "BOOLEAN"
	case duckdb.TYPE_TINYINT:
		return "TINYINT"
	case duckdb.TYPE_UTINYINT:
		return "UTINYINT"
	case duckdb.TYPE_SMALLINT:
		return "SMALLINT"
	case duckdb.TYPE_USMALLINT:
		return "USMALLINT"
	case duckdb.TYPE_INTEGER:
		return "INTEGER"
	case duckdb.TYPE_UINTEGER:
		return "UINTEGER"
	case duckdb.TYPE_BIGINT:
		return "BIGINT"
	case duckdb.TYPE_UBIGINT:
		return "UBIGINT"
	case duckdb.TYPE_HUGEINT:
		return "HUGEINT"
	case duckdb.TYPE_FLOAT:
		return "FLOAT"
	case duckdb.TYPE_DOUBLE:
		return "DOUBLE"
	case duckdb.TYPE_DECIMAL:
		if info != nil {
			d := info.Details()
			if dd, ok := d.(*duckdb.DecimalDetails); ok {
				return fmt.Sprintf("DECIMAL(%d,%d)", dd.Width, dd.Scale)
			}
		}
		return "DECIMAL"
	case duckdb.TYPE_VARCHAR:
		return "VARCHAR"
	case duckdb.TYPE_DATE:
		return "DATE"
	case duckdb.TYPE_TIME:
		return "TIME"
	case duckdb.TYPE_TIMESTAMP, duckdb.TYPE_TIMESTAMP_MS, duckdb.TYPE_TIMESTAMP_S, duckdb.TYPE_TIMESTAMP_NS:
		return "TIMESTAMP"
	case duckdb.TYPE_TIMESTAMP_TZ:
		return "TIMESTAMPTZ"
	case duckdb.TYPE_INTERVAL:
		return "INTERVAL"
	case duckdb.TYPE_BLOB:
		return "BLOB"
	case duckdb.TYPE_UUID:
		return "UUID"
	}
	return "VARCHAR"
}

// encoder writes result values in text or binary format. Binary encodings
// come from pgx's pgtype (the reference Go implementation of Postgres'
// wire formats); text is written here as Postgres prints it.
type encoder struct{ m *pgtype.Map }

func newEncoder() encoder { return encoder{m: pgtype.NewMap()} }

// encode appends v (as scanned from DuckDB) for column c in format (0
// text, 1 binary); nil is SQL NULL.
func (e encoder) encode(c column, format int16, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if format == 0 {
		return []byte(textOf(c, v)), nil
	}
	switch c.oid {
	case oidNumeric:
		n, err := numericOf(v)
		if err != nil {
			return nil, err
		}
		return e.m.Encode(c.oid, 1, n, nil)
	case oidInt2:
		i, err := intOf(v)
		if err != nil || i < math.MinInt16 || i > math.MaxInt16 {
			return nil, fmt.Errorf("int2 value %v", v)
		}
		return e.m.Encode(c.oid, 1, int16(i), nil)
	case oidInt4:
		i, err := intOf(v)
		if err != nil || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, fmt.Errorf("int4 value %v", v)
		}
		return e.m.Encode(c.oid, 1, int32(i), nil)
	case oidInt8:
		i, err := intOf(v)
		if err != nil {
			return nil, err
		}
		return e.m.Encode(c.oid, 1, i, nil)
	case oidBool, oidFloat4, oidFloat8, oidBytea:
		return e.m.Encode(c.oid, 1, v, nil)
	case oidDate, oidTimestamptz:
		if t, ok := v.(time.Time); ok {
			return e.m.Encode(c.oid, 1, t, nil)
		}
	case oidTimestamp:
		if t, ok := v.(time.Time); ok {
			return e.m.Encode(c.oid, 1, pgtype.Timestamp{Time: t.UTC(), Valid: true}, nil)
		}
	}
	// text, varchar and everything written as text: the same bytes.
	return []byte(textOf(c, v)), nil
}

func intOf(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case int:
		return int64(x), nil
	}
	return 0, fmt.Errorf("value %v (%T) is not an integer", v, v)
}

// numericOf converts DuckDB's decimal and wide integers to pgtype.Numeric.
func numericOf(v any) (pgtype.Numeric, error) {
	switch x := v.(type) {
	case duckdb.Decimal:
		if x.Value == nil {
			return pgtype.Numeric{}, nil
		}
		return pgtype.Numeric{Int: new(big.Int).Set(x.Value), Exp: -int32(x.Scale), Valid: true}, nil
	case *big.Int:
		return pgtype.Numeric{Int: x, Valid: true}, nil
	case uint64:
		return pgtype.Numeric{Int: new(big.Int).SetUint64(x), Valid: true}, nil
	case float64:
		var n pgtype.Numeric
		return n, n.Scan(strconv.FormatFloat(x, 'f', -1, 64))
	}
	if i, err := intOf(v); err == nil {
		return pgtype.Numeric{Int: big.NewInt(i), Valid: true}, nil
	}
	return pgtype.Numeric{}, fmt.Errorf("value %v (%T) is not a number", v, v)
}

// decimalText prints unscaled·10^-scale exactly: "12.3400".
func decimalText(unscaled *big.Int, scale int) string {
	s := new(big.Int).Abs(unscaled).String()
	neg := unscaled.Sign() < 0
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// textOf is v in Postgres' text format for column c.
func textOf(c column, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		if c.oid == oidBytea {
			return `\x` + fmt.Sprintf("%x", x)
		}
		return string(x)
	case bool:
		if x {
			return "t"
		}
		return "f"
	case float32:
		return formatFloat(float64(x), 32)
	case float64:
		return formatFloat(x, 64)
	case duckdb.Decimal:
		return decimalText(x.Value, int(x.Scale))
	case *big.Int:
		return x.String()
	case time.Time:
		switch c.oid {
		case oidDate:
			return x.Format("2006-01-02")
		case oidTime:
			return x.Format("15:04:05.999999")
		case oidTimestamp:
			return x.Format("2006-01-02 15:04:05.999999")
		default:
			return x.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
		}
	case duckdb.Interval:
		return fmt.Sprintf("%d mons %d days %d microseconds", x.Months, x.Days, x.Micros)
	}
	if i, err := intOf(v); err == nil {
		return strconv.FormatInt(i, 10)
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// decodeParam turns a bound parameter (text or binary, of the type the
// client or the statement declared) into a value DuckDB binds.
func (e encoder) decodeParam(oid uint32, format int16, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	if format == 0 {
		// DuckDB casts text to the parameter's type itself, exactly
		// (numeric, dates), as Postgres does for untyped literals.
		return string(b), nil
	}
	t, ok := e.m.TypeForOID(oid)
	if !ok {
		return nil, fmt.Errorf("binary parameter of type oid %d is not supported; send it as text", oid)
	}
	v, err := t.Codec.DecodeValue(e.m, oid, format, b)
	if err != nil {
		return nil, fmt.Errorf("binary parameter of type %s: %w", t.Name, err)
	}
	switch x := v.(type) {
	case pgtype.Numeric:
		tv, err := x.Value()
		return tv, err
	case pgtype.Time, pgtype.Interval:
		return nil, fmt.Errorf("binary parameter of type %s is not supported; send it as text", t.Name)
	}
	return v, nil
}

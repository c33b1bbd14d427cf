package lake

import (
	"database/sql"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/shelflake/shelflake/schema"
)

// openDuckDB returns an in-memory DuckDB closed at the end of the test.
func openDuckDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatalf("open duckdb: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sqlList is a DuckDB list literal of file paths.
func sqlList(paths []string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = sqlString(p)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// column is one column of a row type: its Parquet name, Go field index, and
// whether it is optional.
type column struct {
	name     string
	field    int
	optional bool
	typ      reflect.Type
}

func columnsOf(typ reflect.Type) []column {
	var cols []column
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("parquet")
		if !f.IsExported() || tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		name := parts[0]
		if name == "" {
			name = f.Name
		}
		c := column{name: name, field: i, typ: f.Type}
		for _, p := range parts[1:] {
			if p == "optional" {
				c.optional = true
			}
		}
		cols = append(cols, c)
	}
	return cols
}

var (
	moneyType = reflect.TypeFor[schema.Money]()
	dateType  = reflect.TypeFor[schema.Date]()
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

// duckType is the DuckDB type a Go field of a lake row must read back as.
func duckType(t reflect.Type) string {
	switch t {
	case moneyType:
		return "DECIMAL(18,4)"
	case dateType:
		return "DATE"
	case timeType:
		return "TIMESTAMP WITH TIME ZONE"
	case bytesType:
		return "BLOB"
	}
	switch t.Kind() {
	case reflect.String:
		return "VARCHAR"
	case reflect.Int32:
		return "INTEGER"
	case reflect.Int64:
		return "BIGINT"
	case reflect.Bool:
		return "BOOLEAN"
	case reflect.Float64:
		return "DOUBLE"
	}
	return "?" + t.String()
}

// duckExpr renders column c in DuckDB as canonical text (see goText).
func duckExpr(c column) string {
	q := `"` + c.name + `"`
	var e string
	switch c.typ {
	case timeType:
		e = "CAST(epoch_us(" + q + ") AS VARCHAR)"
	case bytesType:
		e = "hex(" + q + ")"
	default:
		e = "CAST(" + q + " AS VARCHAR)"
	}
	return "coalesce(" + e + ", 'NULL')"
}

// goText renders field value v of column c as the text duckExpr yields.
func goText(c column, v reflect.Value) string {
	switch c.typ {
	case moneyType:
		return decimalText(v.Int(), schema.MoneyScale)
	case dateType:
		return schema.Date(v.Int()).String()
	case timeType:
		return strconv.FormatInt(v.Interface().(time.Time).UnixMicro(), 10)
	case bytesType:
		if c.optional && v.IsNil() {
			return "NULL"
		}
		return strings.ToUpper(hex.EncodeToString(v.Bytes()))
	}
	switch c.typ.Kind() {
	case reflect.String:
		if c.optional && v.String() == "" {
			return "NULL"
		}
		return v.String()
	case reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprintf("?%v", v.Interface())
}

// checkDuckDB reads the files with DuckDB's read_parquet and asserts that
// every column has the DuckDB type its Go type maps to and that the rows,
// in file order, equal want exactly, value by value.
func checkDuckDB[T any](t *testing.T, db *sql.DB, paths []string, want []T) {
	t.Helper()
	cols := columnsOf(reflect.TypeFor[T]())
	src := "read_parquet(" + sqlList(paths) + ", filename = true, file_row_number = true)"

	types := map[string]string{}
	rs, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM " + src + ")")
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	for rs.Next() {
		var n, ty string
		if err := rs.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		types[n] = ty
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	for _, c := range cols {
		if got, want := types[c.name], duckType(c.typ); got != want {
			t.Errorf("column %s: DuckDB type %q, want %q", c.name, got, want)
		}
	}

	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = duckExpr(c)
	}
	order := make([]string, len(paths))
	for i, p := range paths {
		order[i] = fmt.Sprintf("WHEN %s THEN %d", sqlString(p), i)
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + src +
		" ORDER BY CASE filename " + strings.Join(order, " ") + " END, file_row_number"
	rs, err = db.Query(q)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer rs.Close()
	got := make([]string, len(cols))
	ptrs := make([]any, len(cols))
	for i := range got {
		ptrs[i] = &got[i]
	}
	n := 0
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		if n >= len(want) {
			n++
			continue
		}
		v := reflect.ValueOf(want[n])
		for i, c := range cols {
			if w := goText(c, v.Field(c.field)); got[i] != w {
				t.Errorf("row %d column %s: DuckDB read %q, want %q", n, c.name, got[i], w)
			}
		}
		n++
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("DuckDB read %d rows, want %d", n, len(want))
	}
}

package queries

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// Format is an output format of query results.
type Format string

// Output formats.
const (
	// FormatTable is an aligned text table for people (psql-like).
	FormatTable Format = "table"
	// FormatCSV is RFC 4180 CSV with a header row; NULL is an empty field.
	FormatCSV Format = "csv"
	// FormatJSON is a JSON array of objects, one object per line.
	FormatJSON Format = "json"
	// FormatJSONL is one JSON object per line.
	FormatJSONL Format = "jsonl"
	// FormatParquet is a Parquet file written by DuckDB (Session.CopyTo).
	FormatParquet Format = "parquet"
)

// Formats lists the output formats.
func Formats() []Format {
	return []Format{FormatTable, FormatCSV, FormatJSON, FormatJSONL, FormatParquet}
}

// ParseFormat returns the format called s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if strings.EqualFold(s, string(f)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("format %q: want table, csv, json, jsonl or parquet", s)
}

// ResultColumn describes a column of a result.
type ResultColumn struct {
	Name string
	// Type is DuckDB's type name (INTEGER, DECIMAL(18,4), TIMESTAMPTZ, …).
	Type string
}

// ResultWriter receives query results as they stream: Begin once per
// result, Row for each row, End after the last. Row must not keep vals
// beyond the call. A ResultWriter may receive several results in turn.
type ResultWriter interface {
	Begin(cols []ResultColumn) error
	Row(vals []any) error
	End() error
}

// WriterOptions tune the text writers.
type WriterOptions struct {
	// TableBuffer is how many rows the table format holds to size its
	// columns before it starts writing (default 1000); later rows are
	// written as they come, in the widths found.
	TableBuffer int
	// MaxWidth is the widest a table column gets, in characters (default
	// 60); longer values are cut with "…". CSV and JSON never cut.
	MaxWidth int
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.TableBuffer <= 0 {
		o.TableBuffer = 1000
	}
	if o.MaxWidth <= 0 {
		o.MaxWidth = 60
	}
	return o
}

// NewWriter returns a ResultWriter writing format f to w. Parquet is not a
// stream format: write it with Session.CopyTo.
func NewWriter(w io.Writer, f Format, o WriterOptions) (ResultWriter, error) {
	o = o.withDefaults()
	switch f {
	case FormatTable:
		return &tableWriter{w: bufio.NewWriter(w), o: o}, nil
	case FormatCSV:
		return &csvWriter{bw: bufio.NewWriter(w)}, nil
	case FormatJSON, FormatJSONL:
		return &jsonWriter{w: bufio.NewWriter(w), lines: f == FormatJSONL}, nil
	case FormatParquet:
		return nil, fmt.Errorf("parquet results are written to a file (CopyTo), not streamed")
	}
	return nil, fmt.Errorf("format %q: unknown", f)
}

// tableWriter writes an aligned table: header, rule, rows, row count. An
// EXPLAIN result (explain_key, explain_value) is written as the plan text.
type tableWriter struct {
	w       *bufio.Writer
	o       WriterOptions
	explain bool
	cols    []ResultColumn
	right   []bool
	widths  []int
	buf     [][]string
	started bool // header written, rows stream
	rows    int64
	results int
}

func (t *tableWriter) Begin(cols []ResultColumn) error {
	if t.results > 0 {
		if err := t.w.WriteByte('\n'); err != nil {
			return err
		}
	}
	t.results++
	t.cols, t.buf, t.started, t.rows = cols, t.buf[:0], false, 0
	t.explain = len(cols) == 2 && cols[0].Name == "explain_key" && cols[1].Name == "explain_value"
	t.right = make([]bool, len(cols))
	for i, c := range cols {
		t.right[i] = numericType(c.Type)
	}
	return nil
}

func (t *tableWriter) Row(vals []any) error {
	if t.explain {
		plan, _ := vals[1].(string)
		_, err := t.w.WriteString(strings.TrimRight(plan, "\n") + "\n")
		return err
	}
	cells := make([]string, len(vals))
	for i, v := range vals {
		cells[i] = tableCell(v, t.cols[i].Type, t.o.MaxWidth)
	}
	t.rows++
	if t.started {
		return t.line(cells)
	}
	t.buf = append(t.buf, cells)
	if len(t.buf) >= t.o.TableBuffer {
		return t.flushBuffer()
	}
	return nil
}

// flushBuffer sizes the columns from the buffered rows and writes them.
func (t *tableWriter) flushBuffer() error {
	t.widths = make([]int, len(t.cols))
	head := make([]string, len(t.cols))
	for i, c := range t.cols {
		head[i] = cut(escapeText(c.Name), t.o.MaxWidth)
		t.widths[i] = utf8.RuneCountInString(head[i])
	}
	for _, r := range t.buf {
		for i, c := range r {
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(c))
		}
	}
	right := t.right
	t.right = make([]bool, len(t.cols)) // headers are left-aligned
	if err := t.line(head); err != nil {
		return err
	}
	t.right = right
	for i, w := range t.widths {
		if i > 0 {
			t.w.WriteByte('+')
		}
		t.w.WriteString(strings.Repeat("-", w+2))
	}
	t.w.WriteByte('\n')
	for _, r := range t.buf {
		if err := t.line(r); err != nil {
			return err
		}
	}
	t.buf = t.buf[:0]
	t.started = true
	return nil
}

func (t *tableWriter) line(cells []string) error {
	for i, c := range cells {
		if i > 0 {
			t.w.WriteByte('|')
		}
		pad := max(0, t.widths[i]-utf8.RuneCountInString(c))
		t.w.WriteByte(' ')
		if t.right[i] {
			t.w.WriteString(strings.Repeat(" ", pad))
			t.w.WriteString(c)
		} else {
			t.w.WriteString(c)
			if i < len(cells)-1 {
				t.w.WriteString(strings.Repeat(" ", pad))
			}
		}
		if i < len(cells)-1 {
			t.w.WriteByte(' ')
		}
	}
	_, err := t.w.WriteString("\n")
	return err
}

func (t *tableWriter) End() error {
	if t.explain {
		return t.w.Flush()
	}
	if !t.started {
		if err := t.flushBuffer(); err != nil {
			return err
		}
	}
	unit := "rows"
	if t.rows == 1 {
		unit = "row"
	}
	fmt.Fprintf(t.w, "(%d %s)\n", t.rows, unit)
	return t.w.Flush()
}

// csvWriter writes RFC 4180 CSV with a header per result.
type csvWriter struct {
	bw      *bufio.Writer
	w       *csv.Writer
	cols    []ResultColumn
	rec     []string
	results int
}

func (c *csvWriter) Begin(cols []ResultColumn) error {
	if c.results > 0 {
		if err := c.bw.WriteByte('\n'); err != nil {
			return err
		}
	}
	c.results++
	c.w = csv.NewWriter(c.bw)
	c.cols = cols
	c.rec = make([]string, len(cols))
	for i, col := range cols {
		c.rec[i] = col.Name
	}
	return c.w.Write(c.rec)
}

func (c *csvWriter) Row(vals []any) error {
	for i, v := range vals {
		if v == nil {
			c.rec[i] = ""
			continue
		}
		c.rec[i] = textValue(v, c.cols[i].Type)
	}
	return c.w.Write(c.rec)
}

func (c *csvWriter) End() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// jsonWriter writes an array of objects (one per line), or JSON lines.
type jsonWriter struct {
	w     *bufio.Writer
	lines bool
	cols  []ResultColumn
	keys  [][]byte
	rows  int64
	buf   []byte
}

func (j *jsonWriter) Begin(cols []ResultColumn) error {
	j.cols, j.rows = cols, 0
	j.keys = make([][]byte, len(cols))
	for i, c := range cols {
		k, err := json.Marshal(c.Name)
		if err != nil {
			return err
		}
		j.keys[i] = append(k, ':')
	}
	if !j.lines {
		_, err := j.w.WriteString("[\n")
		return err
	}
	return nil
}

func (j *jsonWriter) Row(vals []any) error {
	b := j.buf[:0]
	if j.rows > 0 && !j.lines {
		b = append(b, ",\n"...)
	}
	j.rows++
	b = append(b, '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, j.keys[i]...)
		var err error
		if b, err = appendJSONValue(b, v, j.cols[i].Type); err != nil {
			return fmt.Errorf("column %s: %w", j.cols[i].Name, err)
		}
	}
	b = append(b, '}')
	if j.lines {
		b = append(b, '\n')
	}
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonWriter) End() error {
	if !j.lines {
		if j.rows > 0 {
			j.w.WriteByte('\n')
		}
		j.w.WriteString("]\n")
	}
	return j.w.Flush()
}

// numericType reports whether DuckDB type typ is a number (right-aligned).
func numericType(typ string) bool {
	switch typ {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
		"UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "BIGNUM":
		return true
	}
	return strings.HasPrefix(typ, "DECIMAL")
}

// tableCell is v as a table shows it: NULL, control characters escaped,
// cut at width.
func tableCell(v any, typ string, width int) string {
	if v == nil {
		return "NULL"
	}
	return cut(escapeText(textValue(v, typ)), width)
}

// cut shortens s to width characters, the last being "…".
func cut(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// escapeText makes control characters visible (\n, \t, \r, \xNN).
func escapeText(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Time layouts of the text formats, by DuckDB type.
const (
	layoutDate        = "2006-01-02"
	layoutTime        = "15:04:05.999999"
	layoutTimeTZ      = "15:04:05.999999-07:00"
	layoutTimestamp   = "2006-01-02 15:04:05.999999"
	layoutTimestampNS = "2006-01-02 15:04:05.999999999"
	layoutTimestampTZ = "2006-01-02 15:04:05.999999-07"
)

// textValue renders a non-NULL value of DuckDB type typ as text (table and
// CSV): decimals with all their scale digits, dates as YYYY-MM-DD,
// timestamps with time zone in UTC ("2026-03-01 09:15:30.5+00"), nested
// values as JSON.
func textValue(v any, typ string) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint8:
		return strconv.FormatUint(uint64(x), 10)
	case uint16:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float32:
		return formatFloat(float64(x), 32)
	case float64:
		return formatFloat(x, 64)
	case *big.Int:
		return x.String()
	case duckdb.Decimal:
		return decimalText(x)
	case time.Time:
		return timeText(x, typ)
	case duckdb.Interval:
		return intervalText(x)
	case []byte:
		if typ == "UUID" && len(x) == 16 {
			u := duckdb.UUID(x)
			return u.String()
		}
		return blobText(x)
	}
	b, err := appendJSONValue(nil, v, typ)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0 || math.Abs(f) >= 1e-4 && math.Abs(f) < 1e15:
		return strconv.FormatFloat(f, 'f', -1, bits)
	}
	return strconv.FormatFloat(f, 'e', -1, bits)
}

// decimalText renders d exactly, with all its scale digits ("12.3400").
func decimalText(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	s := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + s
	}
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	return sign + s[:len(s)-scale] + "." + s[len(s)-scale:]
}

func timeText(t time.Time, typ string) string {
	switch typ {
	case "DATE":
		return t.Format(layoutDate)
	case "TIME", "TIME_NS":
		return t.Format(layoutTime)
	case "TIMETZ", "TIME WITH TIME ZONE":
		return t.Format(layoutTimeTZ)
	case "TIMESTAMP_NS":
		return t.Format(layoutTimestampNS)
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS":
		return t.Format(layoutTimestamp)
	}
	return t.UTC().Format(layoutTimestampTZ) // TIMESTAMPTZ and anything else
}

// intervalText renders an interval as DuckDB does: "1 year 2 months 3 days
// 04:05:06.5".
func intervalText(iv duckdb.Interval) string {
	var parts []string
	plural := func(n int64, unit string) {
		if n == 0 {
			return
		}
		s := strconv.FormatInt(n, 10) + " " + unit
		if n != 1 && n != -1 {
			s += "s"
		}
		parts = append(parts, s)
	}
	plural(int64(iv.Months/12), "year")
	plural(int64(iv.Months%12), "month")
	plural(int64(iv.Days), "day")
	if iv.Micros != 0 || len(parts) == 0 {
		us := iv.Micros
		sign := ""
		if us < 0 {
			sign, us = "-", -us
		}
		h, m, sec, frac := us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000
		s := fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, sec)
		if frac != 0 {
			s += strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// blobText renders bytes as DuckDB does: printable ASCII as is, other bytes
// as \xNN.
func blobText(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '\\' {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, `\x%02X`, c)
		}
	}
	return s.String()
}

// appendJSONValue appends v as JSON: numbers as numbers (decimals exactly),
// NaN and infinities as null, times as strings (dates YYYY-MM-DD, instants
// RFC 3339 in UTC), bytes and intervals as their text, nested values
// nested.
func appendJSONValue(b []byte, v any, typ string) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, *big.Int:
		return append(b, textValue(x, typ)...), nil
	case float32:
		return appendJSONFloat(b, float64(x), 32), nil
	case float64:
		return appendJSONFloat(b, x, 64), nil
	case duckdb.Decimal:
		return append(b, decimalText(x)...), nil
	case time.Time:
		switch typ {
		case "DATE", "TIME", "TIME_NS", "TIMETZ", "TIME WITH TIME ZONE":
			return appendJSONString(b, timeText(x, typ)), nil
		case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
			return appendJSONString(b, x.Format("2006-01-02T15:04:05.999999999")), nil
		}
		return appendJSONString(b, x.UTC().Format(time.RFC3339Nano)), nil
	case duckdb.Interval, []byte:
		return appendJSONString(b, textValue(x, typ)), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, e, ""); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSONValue(b, x[k], ""); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case duckdb.OrderedMap:
		keys, vals := x.Keys(), x.Values()
		b = append(b, '{')
		for i := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, textValue(keys[i], ""))
			b = append(b, ':')
			var err error
			if b, err = appendJSONValue(b, vals[i], ""); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case duckdb.Union:
		return appendJSONValue(b, x.Value, "")
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value of type %T: %w", v, err)
	}
	return append(b, j...), nil
}

func appendJSONFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return append(b, formatFloat(f, bits)...)
}

func appendJSONString(b []byte, s string) []byte {
	j, _ := json.Marshal(s) // strings always marshal
	return append(b, j...)
}

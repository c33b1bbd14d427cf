package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/schema"
)

//go:embed report.html.tmpl
var pageTemplate string

// WriteHTML renders the report as one self-contained HTML page: inline CSS
// and SVG only, every value from the lake escaped by html/template.
func (r *Report) WriteHTML(w io.Writer) error {
	t, err := template.New("page").Funcs(funcs()).Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := t.Execute(bw, page{Report: r, AllTables: sortedTables(r.Tables)}); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// page is the template's data: the report and what the template derives.
type page struct {
	*Report
	AllTables []queries.TableInfo
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"time":   fmtTime,
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"lag":    fmtLag,
		"int":    fmtInt,
		"money":  fmtMoney,
		"qty":    fmtQty,
		"opt":    fmtOpt,
		"date":   func(d schema.Date) string { return d.String() },
		"bytes":  fmtBytes,
		"plural": plural,
		"add":    func(a, b int) int { return a + b },
		"sub":    func(a, b num) num { return a - b },
		"pct":    func(f float64) float64 { return 100 * f },
	}
}

// fmtTime formats an instant in UTC to the minute; "—" when unknown.
// (The page's <time> elements carry it to the nanosecond.)
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// fmtLag formats how long ago something was: "3 h 12 min", "2 d 4 h"; a
// negative lag (a clock ahead of the report) reads "in the future".
func fmtLag(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d d %d h", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// fmtInt formats an integer with thousands separators: 1,234,567.
func fmtInt(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtMoney formats an amount to the cent with thousands separators, then
// the currency: "12,345.60 USD".
func fmtMoney(m schema.Money, currency string) string {
	c := m.Cents()
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	s := sign + fmtInt(c/100) + "." + fmt.Sprintf("%02d", c%100)
	if currency != "" {
		s += " " + currency
	}
	return s
}

// fmtOpt formats an optional float with one decimal; "—" when nil.
func fmtOpt(p *float64) string {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return "—"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// plural returns "1 line" or "3 lines".
func plural(n any, word string) string {
	s := fmtInt(n)
	if s != "1" {
		word += "s"
	}
	return s + " " + word
}

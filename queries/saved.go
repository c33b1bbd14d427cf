package queries

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/shelflake/shelflake/schema"
)

//go:embed *.sql
var savedFS embed.FS

// ParamType is the type of a saved query's parameter.
type ParamType string

// Parameter types. Values are validated and bound as typed parameters
// ($name), never spliced into the SQL.
const (
	ParamInt       ParamType = "int"       // int64, optionally within a range
	ParamFloat     ParamType = "float"     // finite float64, optionally within a range
	ParamDate      ParamType = "date"      // YYYY-MM-DD; default "latest" binds NULL
	ParamTimestamp ParamType = "timestamp" // RFC 3339; default "now" binds NULL
	ParamString    ParamType = "string"    // up to 256 printable characters
	ParamBool      ParamType = "bool"      // true/false/1/0
)

// Param is a parameter of a saved query, declared in its header:
//
//	-- param: NAME TYPE [MIN..MAX] [= DEFAULT] [: what it means]
//
// A parameter without a default is required. The default "latest" of a
// date and "now" of a timestamp bind NULL, which the query resolves (the
// newest dt, the current time).
type Param struct {
	Name       string
	Type       ParamType
	Default    string
	HasDefault bool
	// Min and Max bound int and float values when HasRange.
	Min, Max float64
	HasRange bool
	Doc      string
}

// Saved is a saved query: one SQL statement in queries/<name>.sql with a
// header comment block saying what it answers and its parameters.
type Saved struct {
	Name string
	// Answers is the question the query answers.
	Answers string
	Params  []Param
	// Tables lists the lake tables it reads.
	Tables []string
	// Requires lists tables that must be in the lake for the query to mean
	// anything (tables written by a later stage); RunSaved refuses to run
	// without them.
	Requires []string
	// SQL is the whole file, header included.
	SQL string
}

var (
	headerLine = regexp.MustCompile(`^--\s*([a-z]+):\s*(.*)$`)
	paramDecl  = regexp.MustCompile(`^([a-z_][a-z0-9_]*)\s+(int|float|date|timestamp|string|bool)(?:\s+(-?[0-9.]+)\.\.(-?[0-9.]+))?(?:\s*=\s*([^:]*?))?\s*(?::\s*(.*))?$`)
	paramUse   = regexp.MustCompile(`\$([a-z_][a-z0-9_]*)`)
)

// SavedQueries returns every saved query, by name.
func SavedQueries() ([]*Saved, error) {
	paths, err := fs.Glob(savedFS, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []*Saved
	for _, p := range paths {
		b, err := savedFS.ReadFile(p)
		if err != nil {
			return nil, err
		}
		q, err := parseSaved(string(b))
		if err != nil {
			return nil, fmt.Errorf("saved query %s: %w", p, err)
		}
		if q.Name+".sql" != p {
			return nil, fmt.Errorf("saved query %s is named %q", p, q.Name)
		}
		out = append(out, q)
	}
	return out, nil
}

// LookupSaved returns the saved query called name.
func LookupSaved(name string) (*Saved, error) {
	all, err := SavedQueries()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(all))
	for i, q := range all {
		if q.Name == name {
			return q, nil
		}
		names[i] = q.Name
	}
	return nil, fmt.Errorf("no saved query %q (there are: %s)", name, strings.Join(names, ", "))
}

// parseSaved parses a saved query's header block (the leading comment
// lines) and keeps the whole text as its SQL.
func parseSaved(text string) (*Saved, error) {
	q := &Saved{SQL: text}
	var last *string
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if !strings.HasPrefix(line, "--") {
			break
		}
		m := headerLine.FindStringSubmatch(line)
		if m == nil {
			// continuation: "--   more text"
			if more := strings.TrimSpace(strings.TrimPrefix(line, "--")); more != "" && last != nil {
				*last += " " + more
			}
			continue
		}
		key, val := m[1], strings.TrimSpace(m[2])
		switch key {
		case "name":
			q.Name, last = val, &q.Name
		case "answers":
			q.Answers, last = val, &q.Answers
		case "param":
			p, err := parseParam(val)
			if err != nil {
				return nil, err
			}
			q.Params = append(q.Params, p)
			last = &q.Params[len(q.Params)-1].Doc
		case "tables":
			q.Tables, last = splitList(val), nil
		case "requires":
			q.Requires, last = splitList(val), nil
		default:
			if last != nil { // "-- note: …" inside a paragraph reads as text
				*last += " " + strings.TrimSpace(strings.TrimPrefix(line, "--"))
			}
		}
	}
	if q.Name == "" || q.Answers == "" {
		return nil, errors.New("header needs -- name: and -- answers:")
	}
	if !validTableName(q.Name) {
		return nil, fmt.Errorf("name %q: want letters, digits and _", q.Name)
	}
	if stmts := ScriptStatements(text); len(stmts) != 1 {
		return nil, fmt.Errorf("%d statements, want one", len(stmts))
	}
	used := map[string]bool{}
	for _, m := range paramUse.FindAllStringSubmatch(text, -1) {
		used[m[1]] = true
	}
	for _, p := range q.Params {
		if !used[p.Name] {
			return nil, fmt.Errorf("param %s is declared but the SQL never uses $%s", p.Name, p.Name)
		}
		delete(used, p.Name)
	}
	for name := range used {
		return nil, fmt.Errorf("the SQL uses $%s, which the header does not declare", name)
	}
	return q, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseParam(decl string) (Param, error) {
	idx := paramDecl.FindStringSubmatchIndex(decl)
	if idx == nil {
		return Param{}, fmt.Errorf("param %q: want NAME TYPE [MIN..MAX] [= DEFAULT] [: doc]", decl)
	}
	m := make([]string, len(idx)/2)
	for i := range m {
		if idx[2*i] >= 0 {
			m[i] = decl[idx[2*i]:idx[2*i+1]]
		}
	}
	hasDefault := idx[10] >= 0
	p := Param{Name: m[1], Type: ParamType(m[2]), Doc: strings.TrimSpace(m[6])}
	if m[3] != "" {
		if p.Type != ParamInt && p.Type != ParamFloat {
			return Param{}, fmt.Errorf("param %s: a range needs an int or float", p.Name)
		}
		var err1, err2 error
		p.Min, err1 = strconv.ParseFloat(m[3], 64)
		p.Max, err2 = strconv.ParseFloat(m[4], 64)
		if err := errors.Join(err1, err2); err != nil || p.Min > p.Max {
			return Param{}, fmt.Errorf("param %s: range %s..%s", p.Name, m[3], m[4])
		}
		p.HasRange = true
	}
	if hasDefault {
		d := strings.TrimSpace(m[5])
		p.Default, p.HasDefault = d, true
		if _, err := p.bind(d); err != nil {
			return Param{}, fmt.Errorf("default: %w", err)
		}
	}
	return p, nil
}

// bind validates value and returns it as the typed value to bind.
func (p Param) bind(value string) (any, error) {
	switch p.Type {
	case ParamInt:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("param %s: %q is not an integer", p.Name, value)
		}
		if p.HasRange && (float64(n) < p.Min || float64(n) > p.Max) {
			return nil, fmt.Errorf("param %s: %d is outside %s..%s", p.Name, n, fmtBound(p.Min), fmtBound(p.Max))
		}
		return n, nil
	case ParamFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("param %s: %q is not a finite number", p.Name, value)
		}
		if p.HasRange && (f < p.Min || f > p.Max) {
			return nil, fmt.Errorf("param %s: %v is outside %s..%s", p.Name, f, fmtBound(p.Min), fmtBound(p.Max))
		}
		return f, nil
	case ParamDate:
		if value == "latest" {
			return nil, nil
		}
		d, err := schema.ParseDate(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("param %s: %q is not a date (YYYY-MM-DD, or latest)", p.Name, value)
		}
		return d.String(), nil
	case ParamTimestamp:
		if value == "now" {
			return nil, nil
		}
		t, ok := ParseTime(strings.TrimSpace(value))
		if !ok {
			return nil, fmt.Errorf("param %s: %q is not a time (2026-03-01T09:00:00Z, 2026-03-01 09:00:00 in UTC, a date for the end of that day in UTC, or now)", p.Name, value)
		}
		return t.UTC(), nil
	case ParamString:
		if len(value) > 256 || strings.ContainsFunc(value, func(r rune) bool { return !unicode.IsPrint(r) }) {
			return nil, fmt.Errorf("param %s: want up to 256 printable characters", p.Name)
		}
		return value, nil
	case ParamBool:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("param %s: %q is not true or false", p.Name, value)
		}
		return b, nil
	}
	return nil, fmt.Errorf("param %s: unknown type %s", p.Name, p.Type)
}

// ParseTime reads a point in time as the commands take one (--as-of, and
// timestamp parameters): RFC 3339, "YYYY-MM-DD HH:MM:SS" in UTC, or a date,
// which means the end of that day in UTC.
func ParseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateTime, s); err == nil {
		return t, true
	}
	if d, err := schema.ParseDate(s); err == nil {
		return d.AddDays(1).Time().Add(-time.Millisecond), true
	}
	return time.Time{}, false
}

func fmtBound(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Args validates values (parameter name → text, as given on the command
// line) and returns every parameter as a named argument (sql.Named) to
// bind: given values, else defaults. Unknown names and missing required
// parameters are errors.
func (q *Saved) Args(values map[string]string) ([]any, error) {
	var errs []error
	known := map[string]bool{}
	for _, p := range q.Params {
		known[p.Name] = true
	}
	var unknown []string
	for name := range values {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		errs = append(errs, fmt.Errorf("%s has no param %q (%s)", q.Name, name, q.paramNames()))
	}
	args := make([]any, 0, len(q.Params))
	for _, p := range q.Params {
		v, ok := values[p.Name]
		if !ok {
			if !p.HasDefault {
				errs = append(errs, fmt.Errorf("param %s is required", p.Name))
				continue
			}
			v = p.Default
		}
		b, err := p.bind(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		args = append(args, sql.Named(p.Name, b))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("saved query %s: %w", q.Name, err)
	}
	return args, nil
}

func (q *Saved) paramNames() string {
	if len(q.Params) == 0 {
		return "it takes none"
	}
	names := make([]string, len(q.Params))
	for i, p := range q.Params {
		names[i] = p.Name
	}
	return "params: " + strings.Join(names, ", ")
}

// Usage describes the query for people: what it answers, its parameters
// and the tables it reads.
func (q *Saved) Usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", q.Name, q.Answers)
	for _, p := range q.Params {
		fmt.Fprintf(&b, "  --param %s=%s", p.Name, p.Type)
		if p.HasRange {
			fmt.Fprintf(&b, " (%s..%s)", fmtBound(p.Min), fmtBound(p.Max))
		}
		if p.HasDefault {
			fmt.Fprintf(&b, ", default %s", p.Default)
		} else {
			b.WriteString(", required")
		}
		if p.Doc != "" {
			fmt.Fprintf(&b, ": %s", p.Doc)
		}
		b.WriteByte('\n')
	}
	if len(q.Tables) > 0 {
		fmt.Fprintf(&b, "  reads: %s\n", strings.Join(q.Tables, ", "))
	}
	return b.String()
}

// producers say which command writes the tables a saved query may require.
var producers = map[string]string{
	"sales_daily": "shelflake compact", "inventory_daily": "shelflake compact",
	"po_open": "shelflake compact", "lead_times": "shelflake compact", "stockouts": "shelflake compact",
	"replenishment_suggestions": "shelflake forecast", "forecasts": "shelflake forecast",
	"forecast_runs": "shelflake forecast", "erp_writeback_log": "shelflake forecast",
	"suggestion_outcomes": "shelflake writeback outcomes",
}

// ErrMissingTable is returned (wrapped) by RunSaved and CopySaved when a
// table the query requires is not in the lake.
var ErrMissingTable = errors.New("table not in the lake")

// check verifies the tables the query requires are in the session's lake.
func (s *Session) check(q *Saved) error {
	for _, name := range q.Requires {
		if t, ok := s.Table(name); !ok || !t.Present {
			hint := ""
			if p, ok := producers[name]; ok {
				hint = " (" + p + " writes it)"
			}
			return fmt.Errorf("saved query %s reads %s, which the lake does not have yet%s: %w", q.Name, name, hint, ErrMissingTable)
		}
	}
	return nil
}

// RunSaved runs saved query q with the given parameter values (see Args)
// and streams its result to w.
func (s *Session) RunSaved(ctx context.Context, w ResultWriter, q *Saved, values map[string]string) (Stats, error) {
	args, err := q.Args(values)
	if err != nil {
		return Stats{}, err
	}
	if err := s.check(q); err != nil {
		return Stats{}, err
	}
	st, err := s.Query(ctx, w, q.SQL, args...)
	if err != nil {
		return st, fmt.Errorf("saved query %s: %w", q.Name, err)
	}
	return st, nil
}

// CopySaved writes the result of saved query q to path in format f (see
// CopyTo) and returns the rows written.
func (s *Session) CopySaved(ctx context.Context, path string, f Format, q *Saved, values map[string]string) (int64, error) {
	args, err := q.Args(values)
	if err != nil {
		return 0, err
	}
	if err := s.check(q); err != nil {
		return 0, err
	}
	n, err := s.CopyTo(ctx, path, f, q.SQL, args...)
	if err != nil {
		return 0, fmt.Errorf("saved query %s: %w", q.Name, err)
	}
	return n, nil
}

package queries

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/shelflake/shelflake/schema"
)

// capture is a ResultWriter keeping what it is given.
type capture struct {
	cols  []ResultColumn
	rows  [][]any
	begun int
	ended int
}

func (c *capture) Begin(cols []ResultColumn) error {
	c.cols = cols
	c.rows = nil
	c.begun++
	return nil
}

func (c *capture) Row(vals []any) error {
	c.rows = append(c.rows, slices.Clone(vals))
	return nil
}

func (c *capture) End() error {
	c.ended++
	return nil
}

func (c *capture) names() []string {
	out := make([]string, len(c.cols))
	for i, col := range c.cols {
		out[i] = col.Name
	}
	return out
}

// floatTolerance bounds the difference of floats computed by DuckDB and Go
// (the same operations on doubles; aggregates may sum in another order).
const floatTolerance = 1e-6

// equalValue compares a value DuckDB returned with an expected one (see
// result).
func equalValue(want, got any) bool {
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	switch w := want.(type) {
	case int64:
		n, ok := asInt(got)
		return ok && n == w
	case float64:
		switch g := got.(type) {
		case float64:
			return math.Abs(g-w) <= floatTolerance
		case duckdb.Decimal:
			return math.Abs(g.Float64()-w) <= floatTolerance
		}
		n, ok := asInt(got)
		return ok && math.Abs(float64(n)-w) <= floatTolerance
	case schema.Money:
		g, ok := got.(duckdb.Decimal)
		if !ok || g.Scale > schema.MoneyScale {
			return false
		}
		v := new(big.Int).Mul(g.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(schema.MoneyScale-g.Scale)), nil))
		return v.IsInt64() && v.Int64() == int64(w)
	case schema.Date:
		g, ok := got.(time.Time)
		return ok && schema.DateOf(g.UTC()) == w
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	case time.Duration:
		g, ok := got.(duckdb.Interval)
		if !ok {
			return false
		}
		d := time.Duration(g.Months)*30*24*time.Hour + time.Duration(g.Days)*24*time.Hour + time.Duration(g.Micros)*time.Microsecond
		return d == w.Truncate(time.Microsecond)
	case string, bool:
		return want == got
	}
	return false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case *big.Int:
		return x.Int64(), x.IsInt64()
	}
	return 0, false
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case duckdb.Decimal:
		return decimalText(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%v", v)
}

// compareResult reports every difference between got and want.
func compareResult(t *testing.T, got *capture, want result) {
	t.Helper()
	if !slices.Equal(got.names(), want.cols) {
		t.Fatalf("columns %v, want %v", got.names(), want.cols)
	}
	if len(got.rows) != len(want.rows) {
		t.Errorf("%d rows, want %d", len(got.rows), len(want.rows))
	}
	bad := 0
	for i := range min(len(got.rows), len(want.rows)) {
		for j, c := range want.cols {
			if !equalValue(want.rows[i][j], got.rows[i][j]) {
				if bad++; bad <= 10 {
					t.Errorf("row %d %s = %s, want %s (row %v)", i+1, c, show(got.rows[i][j]), show(want.rows[i][j]), want.rows[i])
				}
			}
		}
	}
}

func TestSavedQueriesAnswerWhatGoComputesFromTheSameRows(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	last := f.latestPOSDay()
	if last != f.last {
		t.Fatalf("newest POS day %s, want the world's last day %s", last, f.last)
	}
	var lastInv, lastPO, lastReject schema.Date
	for i := range f.inv {
		lastInv = max(lastInv, f.inv[i].BusinessDate)
	}
	for i := range f.po {
		lastPO = max(lastPO, f.po[i].BusinessDate)
	}
	for i := range f.rejects {
		lastReject = max(lastReject, f.rejects[i].BusinessDate)
	}
	mid := f.last.AddDays(-9)
	now := time.Date(2026, time.July, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		query  string
		params map[string]string
		want   func() result
	}{
		{"sell-through over the default 28 days", "sell_through", nil, func() result { return expectSellThrough(f, 28, last) }},
		{"sell-through over a week ending earlier", "sell_through", map[string]string{"days": "7", "as_of": mid.String()},
			func() result { return expectSellThrough(f, 7, mid) }},
		{"top movers of the chain", "top_movers", nil, func() result { return expectTopMovers(f, 28, last, 20, "") }},
		{"top five movers of one store over two weeks", "top_movers", map[string]string{"days": "14", "limit": "5", "store": "S0002"},
			func() result { return expectTopMovers(f, 14, last, 5, "S0002") }},
		{"bottom movers of the chain", "bottom_movers", nil, func() result { return expectBottomMovers(f, 28, last, 20, "") }},
		{"bottom movers of one store, earlier", "bottom_movers", map[string]string{"days": "7", "limit": "6", "store": "S0003", "as_of": mid.String()},
			func() result { return expectBottomMovers(f, 7, mid, 6, "S0003") }},
		{"promotion performance", "promotion_performance", nil, func() result { return expectPromotionPerformance(f, 91, last) }},
		{"promotion performance of the last two weeks, earlier", "promotion_performance", map[string]string{"days": "14", "as_of": mid.String()},
			func() result { return expectPromotionPerformance(f, 14, mid) }},
		{"stockout days and lost sales", "stockout_days", nil, func() result { return expectStockoutDays(f, 28, last) }},
		{"stockout days over the whole world", "stockout_days", map[string]string{"days": "40"}, func() result { return expectStockoutDays(f, 40, last) }},
		{"days of cover", "days_of_cover", nil, func() result { return expectDaysOfCover(f, 28, last) }},
		{"days of cover earlier with a short rate window", "days_of_cover", map[string]string{"days": "7", "as_of": mid.String()},
			func() result { return expectDaysOfCover(f, 7, mid) }},
		{"late purchase orders", "late_pos", nil, func() result { return expectLatePOs(f, lastPO, 0) }},
		{"late purchase orders with grace, earlier", "late_pos", map[string]string{"as_of": mid.String(), "grace_days": "2"},
			func() result { return expectLatePOs(f, mid, 2) }},
		{"supplier lead-time reliability", "supplier_lead_time_reliability", nil, func() result { return expectLeadTimes(f, 90, lastPO) }},
		{"supplier lead-time reliability of three weeks of orders", "supplier_lead_time_reliability", map[string]string{"days": "21", "as_of": mid.String()},
			func() result { return expectLeadTimes(f, 21, mid) }},
		{"inventory accuracy", "inventory_accuracy", nil, func() result { return expectInventoryAccuracy(f, 7, lastInv, 0) }},
		{"inventory accuracy over two weeks with tolerance", "inventory_accuracy", map[string]string{"days": "14", "tolerance": "2"},
			func() result { return expectInventoryAccuracy(f, 14, lastInv, 2) }},
		{"data freshness", "data_freshness", map[string]string{"now": now.Format(time.RFC3339)}, func() result { return expectFreshness(f, now) }},
		{"rejects by reason", "rejects_by_reason", nil, func() result { return expectRejects(f, 7, lastReject) }},
		{"rejects by reason over the whole world", "rejects_by_reason", map[string]string{"days": "60"}, func() result { return expectRejects(f, 60, lastReject) }},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.query] = true
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := LookupSaved(c.query)
			if err != nil {
				t.Fatal(err)
			}
			var got capture
			if _, err := s.RunSaved(t.Context(), &got, q, c.params); err != nil {
				t.Fatal(err)
			}
			want := c.want()
			if len(want.rows) == 0 {
				t.Fatal("the expected answer is empty: the case tests nothing")
			}
			compareResult(t, &got, want)
		})
	}
	qs, err := SavedQueries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if !covered[q.Name] && len(q.Requires) == 0 {
			t.Errorf("saved query %s has no test case", q.Name)
		}
	}
}

func TestInventoryAccuracyFindsTheAlteredReports(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	q, err := LookupSaved("inventory_accuracy")
	if err != nil {
		t.Fatal(err)
	}
	var got capture
	if _, err := s.RunSaved(t.Context(), &got, q, nil); err != nil {
		t.Fatal(err)
	}
	// The world itself has no shrink: the only variances are the reports
	// the fixture altered (3 units lost at the end, 2 counted too many at
	// the start, so 2 fewer than expected at the end).
	want := map[locSKU]int64{}
	for _, a := range f.altered {
		if a.day == f.last {
			want[locSKU{a.store, a.sku}] += a.delta
		} else {
			want[locSKU{a.store, a.sku}] -= a.delta
		}
	}
	gotVar := map[locSKU]int64{}
	for _, r := range got.rows {
		v, _ := asInt(r[7])
		gotVar[locSKU{r[0].(string), r[1].(string)}] = v
	}
	if len(gotVar) != len(want) {
		t.Errorf("variances %v, want %v", gotVar, want)
	}
	for k, v := range want {
		if gotVar[k] != v {
			t.Errorf("%s/%s variance %d, want %d", k.loc, k.sku, gotVar[k], v)
		}
	}
}

func TestSavedQueryHeadersDeclareWhatTheSQLUses(t *testing.T) {
	qs, err := SavedQueries()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bottom_movers", "count_list", "data_freshness", "days_of_cover", "inventory_accuracy", "late_pos",
		"open_exceptions", "promotion_performance", "rejects_by_reason", "replenishment_review", "sell_through",
		"shrink_by_category", "stockout_days", "suggestion_acceptance", "supplier_lead_time_reliability", "top_movers"}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
		if q.Answers == "" || len(q.Tables) == 0 {
			t.Errorf("%s: header lacks answers or tables", q.Name)
		}
		for _, p := range q.Params {
			if p.Doc == "" {
				t.Errorf("%s: param %s is undocumented", q.Name, p.Name)
			}
		}
		if _, err := q.Args(nil); err != nil {
			t.Errorf("%s: defaults do not bind: %v", q.Name, err)
		}
		for _, tb := range q.Tables {
			if _, ok := schema.TableByName(tb); !ok && tb != "_tables" && !slices.Contains(KnownTables, tb) {
				t.Errorf("%s reads %s, which no stage writes", q.Name, tb)
			}
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("saved queries %v, want %v", names, want)
	}
}

func TestSavedQueryParamsAreValidatedAndBoundNotSpliced(t *testing.T) {
	q, err := LookupSaved("top_movers")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		values map[string]string
		errRe  string
	}{
		{"an integer that is not one", map[string]string{"days": "28; DROP VIEW pos_lines"}, `param days: .* is not an integer`},
		{"an integer out of range", map[string]string{"days": "0"}, `param days: 0 is outside 1\.\.3660`},
		{"a date that is not one", map[string]string{"as_of": "2026-02-30"}, `param as_of: .* is not a date`},
		{"an unknown param", map[string]string{"weeks": "4"}, `top_movers has no param "weeks"`},
		{"a string with control characters", map[string]string{"store": "S1\x00"}, `param store: want up to 256 printable characters`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := q.Args(c.values)
			if err == nil || !regexp.MustCompile(c.errRe).MatchString(err.Error()) {
				t.Errorf("error %v, want one matching %s", err, c.errRe)
			}
		})
	}
	t.Run("a quote in a string is a value, not SQL", func(t *testing.T) {
		f := getFixture(t)
		s := openSession(t, f, Options{})
		var got capture
		if _, err := s.RunSaved(t.Context(), &got, q, map[string]string{"store": "x' OR '1'='1"}); err != nil {
			t.Fatal(err)
		}
		if len(got.rows) != 0 {
			t.Errorf("%d rows for a store that does not exist", len(got.rows))
		}
		if _, err := s.Query(t.Context(), &capture{}, "SELECT count(*) FROM pos_lines"); err != nil {
			t.Errorf("pos_lines is gone: %v", err)
		}
	})
	t.Run("a required param must be given", func(t *testing.T) {
		p, err := parseSaved("-- name: needs\n-- answers: x\n-- param: n int : a number\nSELECT $n\n")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Args(nil); err == nil || !strings.Contains(err.Error(), "param n is required") {
			t.Errorf("error %v", err)
		}
	})
}

func TestSavedQueryHeadersAreChecked(t *testing.T) {
	for _, c := range []struct{ name, text, errRe string }{
		{"no name", "-- answers: x\nSELECT 1\n", `needs -- name`},
		{"an undeclared parameter", "-- name: q\n-- answers: x\nSELECT $n\n", `uses \$n, which the header does not declare`},
		{"an unused parameter", "-- name: q\n-- answers: x\n-- param: n int = 1 : n\nSELECT 1\n", `param n is declared but the SQL never uses`},
		{"two statements", "-- name: q\n-- answers: x\nSELECT 1; SELECT 2;\n", `2 statements`},
		{"a bad default", "-- name: q\n-- answers: x\n-- param: n int 1..5 = 9 : n\nSELECT $n\n", `9 is outside 1\.\.5`},
		{"a range on a date", "-- name: q\n-- answers: x\n-- param: d date 1..5 : d\nSELECT $d\n", `a range needs an int or float`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSaved(c.text)
			if err == nil || !regexp.MustCompile(c.errRe).MatchString(err.Error()) {
				t.Errorf("error %v, want one matching %s", err, c.errRe)
			}
		})
	}
}

func TestReplenishmentReviewNeedsTheForecastsTable(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	q, err := LookupSaved("replenishment_review")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RunSaved(t.Context(), &capture{}, q, nil)
	if !errors.Is(err, ErrMissingTable) || !strings.Contains(err.Error(), "replenishment_suggestions") || !strings.Contains(err.Error(), "shelflake forecast") {
		t.Errorf("error %v, want one saying replenishment_suggestions is missing and who writes it", err)
	}
}

// TestTimestampParamsTakeWhatAsOfTakes: data_freshness's now accepts the
// forms --as-of does, a plain date included (the end of that day, UTC).
func TestTimestampParamsTakeWhatAsOfTakes(t *testing.T) {
	q, err := LookupSaved("data_freshness")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value string
		want  time.Time // zero: an error
	}{
		{"2026-05-05", time.Date(2026, 5, 5, 23, 59, 59, 999e6, time.UTC)},
		{"2026-05-05T10:00:00+02:00", time.Date(2026, 5, 5, 8, 0, 0, 0, time.UTC)},
		{"2026-05-05 10:00:00", time.Date(2026, 5, 5, 10, 0, 0, 0, time.UTC)},
		{"yesterday", time.Time{}},
	} {
		t.Run(c.value, func(t *testing.T) {
			args, err := q.Args(map[string]string{"now": c.value})
			if c.want.IsZero() {
				if err == nil || !strings.Contains(err.Error(), "param now:") {
					t.Fatalf("Args: %v, want an error naming the param", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got any
			for _, a := range args {
				if n, ok := a.(sql.NamedArg); ok && n.Name == "now" {
					got = n.Value
				}
			}
			if tm, ok := got.(time.Time); !ok || !tm.Equal(c.want) {
				t.Errorf("now bound to %v, want %v", got, c.want)
			}
		})
	}
}

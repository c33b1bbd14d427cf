package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

func TestFormatTotalsInMinorUnitsWithGrouping(t *testing.T) {
	for _, c := range []struct{ js, want string }{
		{`{"EUR":"9596.2886"}`, "9,596.29 EUR"},
		{`{"USD":"8503.7993","GBP":"1820.3388"}`, "1,820.34 GBP + 8,503.80 USD"},
		{`{"JPY":"1204506.5"}`, "1,204,507 JPY"},
		{`{"EUR":12.5}`, "12.50 EUR"},
		{`{}`, "none"},
		{`not json`, "not json"},
	} {
		if got := formatTotals(c.js); got != c.want {
			t.Errorf("formatTotals(%s) = %q, want %q", c.js, got, c.want)
		}
	}
}

func TestFormatModelsSortedByCount(t *testing.T) {
	for _, c := range []struct{ js, want string }{
		{`{"ses":7,"croston_sba":12,"tsb":7,"seasonal_naive":1}`, "croston_sba 12, ses 7, tsb 7, seasonal_naive 1"},
		{`{}`, "none"},
	} {
		if got := formatModels(c.js); got != c.want {
			t.Errorf("formatModels(%s) = %q, want %q", c.js, got, c.want)
		}
	}
}

// TestForecastHumanOutputHasNoRawJSON: the forecast command's report for a
// person shows amounts in the currency's minor units and the models as a
// list; --json keeps the run's exact JSON fields.
func TestForecastHumanOutputHasNoRawJSON(t *testing.T) {
	r := forecastReport{Run: schema.ForecastRunRow{
		ModelsChosen: `{"croston_sba":12,"ses":7}`,
		TotalCost:    `{"EUR":"9596.2886","JPY":"120450.5"}`,
	}}
	var out bytes.Buffer
	printForecastReport(&app{stdout: &out}, r)
	got := out.String()
	for _, want := range []string{"models chosen: croston_sba 12, ses 7\n", "cost 9,596.29 EUR + 120,451 JPY;"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.ContainsAny(got, "{}\"") {
		t.Errorf("raw JSON in the human output:\n%s", got)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ModelsChosen":"{\"croston_sba\":12,\"ses\":7}"`, `"TotalCost":"{\"EUR\":\"9596.2886\",\"JPY\":\"120450.5\"}"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("--json lacks %s:\n%s", want, b)
		}
	}
}

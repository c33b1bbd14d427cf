package reconcile

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shelflake/shelflake/schema"
)

func TestMetricsDescribeTheLastRun(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	rep := &Report{Series: 40, RecordAccuracy: 0.925, Open: map[string]int{schema.ReasonPhantomStock: 2, schema.ReasonTiming: 1},
		Queue: []schema.StockExceptionRow{
			{State: schema.ExceptionOpen, ValueAtRisk: schema.MoneyFromMinor(1250)},
			{State: schema.ExceptionAcknowledged, ValueAtRisk: schema.MoneyFromMinor(250)},
			{State: schema.ExceptionResolved, ValueAtRisk: schema.MoneyFromMinor(9999)},
		}}
	m.Observe(rep, nil, time.Unix(1700000000, 0))
	m.Observe(nil, errTest, time.Unix(1700000100, 0))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			switch {
			case m.Gauge != nil:
				got[name] = m.GetGauge().GetValue()
			case m.Counter != nil:
				got[name] = m.GetCounter().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"shelflake_reconcile_open_exceptions{phantom_stock}":  2,
		"shelflake_reconcile_open_exceptions{timing}":         1,
		"shelflake_reconcile_open_exceptions{stale_snapshot}": 0,
		"shelflake_reconcile_record_accuracy_ratio":           0.925,
		"shelflake_reconcile_value_at_risk":                   15,
		"shelflake_reconcile_series":                          40,
		"shelflake_reconcile_last_success_timestamp_seconds":  1700000000,
		"shelflake_reconcile_failures_total":                  1,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

var errTest = errString("boom")

type errString string

func (e errString) Error() string { return string(e) }

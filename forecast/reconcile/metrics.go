package reconcile

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shelflake/shelflake/schema"
)

// Metrics describe the last reconciliation run (see deploy/METRICS.md).
type Metrics struct {
	open        *prometheus.GaugeVec
	accuracy    prometheus.Gauge
	valueAtRisk prometheus.Gauge
	series      prometheus.Gauge
	lastSuccess prometheus.Gauge
	failures    prometheus.Counter
}

// NewMetrics registers the reconciliation metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		open: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shelflake_reconcile_open_exceptions",
			Help: "Unresolved stock exceptions (open or acknowledged) after the last run, by reason.",
		}, []string{"reason"}),
		accuracy: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_reconcile_record_accuracy_ratio",
			Help: "Share of store-SKUs with a closing snapshot on the last day and no open exception other than timing.",
		}),
		valueAtRisk: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_reconcile_value_at_risk",
			Help: "Sum of the unresolved exceptions' value at risk (expected lost margin over lead time), in major currency units, currencies mixed.",
		}),
		series: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_reconcile_series",
			Help: "Store-SKUs reconciled by the last run.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_reconcile_last_success_timestamp_seconds",
			Help: "Unix time the last successful reconciliation run ended.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "shelflake_reconcile_failures_total",
			Help: "Reconciliation runs that failed.",
		}),
	}
}

// Observe records a run's outcome.
func (m *Metrics) Observe(rep *Report, err error, now time.Time) {
	if err != nil {
		m.failures.Inc()
		return
	}
	for r := range priority {
		m.open.WithLabelValues(r).Set(float64(rep.Open[r]))
	}
	var v schema.Money
	for _, r := range rep.Queue {
		if r.State != schema.ExceptionResolved {
			v += r.ValueAtRisk
		}
	}
	m.valueAtRisk.Set(float64(v) / 10000)
	m.accuracy.Set(rep.RecordAccuracy)
	m.series.Set(float64(rep.Series))
	m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
}

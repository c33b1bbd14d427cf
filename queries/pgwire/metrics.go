package pgwire

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the server's Prometheus metrics (shelflake_serve_*).
type metrics struct {
	sessions prometheus.Gauge
	logins   *prometheus.CounterVec
	queries  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bytesOut prometheus.Counter
	cancels  prometheus.Counter
	// values counts result values sent, by format (text, binary).
	values *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		sessions: f.NewGauge(prometheus.GaugeOpts{Name: "shelflake_serve_sessions", Help: "Client sessions open."}),
		logins:   f.NewCounterVec(prometheus.CounterOpts{Name: "shelflake_serve_logins_total", Help: "Logins by result (ok, failed, rate_limited, no_tls)."}, []string{"result"}),
		queries:  f.NewCounterVec(prometheus.CounterOpts{Name: "shelflake_serve_queries_total", Help: "Queries run, by role."}, []string{"role"}),
		errors:   f.NewCounterVec(prometheus.CounterOpts{Name: "shelflake_serve_query_errors_total", Help: "Queries that failed or were refused, by role."}, []string{"role"}),
		refused:  f.NewCounterVec(prometheus.CounterOpts{Name: "shelflake_serve_refused_total", Help: "Statements refused (writes, settings, tables or functions the role may not use), by role."}, []string{"role"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "shelflake_serve_query_seconds", Help: "Query latency, by role.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"role"}),
		bytesOut: f.NewCounter(prometheus.CounterOpts{Name: "shelflake_serve_result_bytes_total", Help: "Bytes of result values sent."}),
		cancels:  f.NewCounter(prometheus.CounterOpts{Name: "shelflake_serve_cancels_total", Help: "Statements canceled by clients."}),
	}
	m.values = f.NewCounterVec(prometheus.CounterOpts{Name: "shelflake_serve_result_values_total", Help: "Result values sent, by wire format (text, binary)."}, []string{"format"})
	m.values.WithLabelValues("text")
	m.values.WithLabelValues("binary")
	for _, r := range []string{"ok", "failed", "rate_limited", "no_tls"} {
		m.logins.WithLabelValues(r)
	}
	return m
}

// role creates a role's series up front.
func (m *metrics) role(name string) {
	m.queries.WithLabelValues(name)
	m.errors.WithLabelValues(name)
	m.refused.WithLabelValues(name)
	m.latency.WithLabelValues(name)
}

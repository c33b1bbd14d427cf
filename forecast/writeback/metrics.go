package writeback

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics describe the last write-back of this process (deploy/METRICS.md:
// one-shot jobs push gauges of their last run to a Pushgateway). They are
// registered with the first write-back they describe, so a process that
// delivered nothing pushes none (and does not overwrite the last ones).
type Metrics struct {
	reg       prometheus.Registerer
	once      sync.Once
	lastRun   prometheus.Gauge
	documents *prometheus.GaugeVec
}

// NewMetrics returns the write-back metrics, to be registered with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics { return &Metrics{reg: reg} }

func (m *Metrics) observe(r Report) {
	m.once.Do(func() {
		f := promauto.With(m.reg)
		m.lastRun = f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_writeback_last_run_timestamp_seconds",
			Help: "Unix time the last write-back (by forecast or writeback retry) ended.",
		})
		m.documents = f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shelflake_writeback_last_run_documents",
			Help: "Document deliveries of the last write-back by result (a document counts once per channel): accepted in this run, already_accepted (skipped: accepted before), failed (rejected or retries exhausted; left for the next run).",
		}, []string{"result"})
	})
	m.documents.WithLabelValues("accepted").Set(float64(r.Accepted))
	m.documents.WithLabelValues("already_accepted").Set(float64(r.AlreadyAccepted))
	m.documents.WithLabelValues("failed").Set(float64(r.Failed + r.Rejected))
	m.lastRun.Set(float64(time.Now().UnixNano()) / 1e9)
}

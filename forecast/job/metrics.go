package job

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics describe the last forecast run of this process, as gauges (see
// deploy/METRICS.md: the run is a one-shot job that pushes them to a
// Pushgateway). The last-success timestamp is registered only once a run
// succeeds, so a failed run's push never overwrites it.
type Metrics struct {
	reg         prometheus.Registerer
	lastRun     prometheus.Gauge
	lastSuccess prometheus.Gauge
	success     prometheus.Gauge
	once        sync.Once
}

// NewMetrics registers the forecast run metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		reg: reg,
		lastRun: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_forecast_last_run_timestamp_seconds",
			Help: "Unix time the last shelflake forecast run ended, successful or not.",
		}),
		success: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_forecast_last_run_success",
			Help: "1 if the last forecast run succeeded, 0 if it failed.",
		}),
	}
}

func (m *Metrics) observe(err error, now time.Time) {
	ts := float64(now.UnixNano()) / 1e9
	m.lastRun.Set(ts)
	if err != nil {
		m.success.Set(0)
		return
	}
	m.success.Set(1)
	m.once.Do(func() {
		m.lastSuccess = promauto.With(m.reg).NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_forecast_last_success_timestamp_seconds",
			Help: "Unix time the last successful forecast run ended; pushed only by successful runs.",
		})
	})
	m.lastSuccess.Set(ts)
}

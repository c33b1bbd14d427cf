package lake

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the lake's write counters; a nil *metrics records nothing.
type metrics struct {
	files  *prometheus.CounterVec
	rows   *prometheus.CounterVec
	bytes  *prometheus.CounterVec
	encode *prometheus.HistogramVec
	upload *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	buckets := prometheus.ExponentialBuckets(0.001, 2, 16) // 1 ms … 33 s
	return &metrics{
		files: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_lake_files_written_total",
			Help: "Data files uploaded, by table (committed or not).",
		}, []string{"table"}),
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_lake_rows_written_total",
			Help: "Rows written to uploaded data files, by table.",
		}, []string{"table"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_lake_bytes_written_total",
			Help: "Bytes of uploaded data files, by table.",
		}, []string{"table"}),
		encode: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_lake_file_finish_seconds",
			Help:    "Time to finish encoding a data file (last row group and footer), by table.",
			Buckets: buckets,
		}, []string{"table"}),
		upload: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_lake_file_upload_seconds",
			Help:    "Time to upload a data file, by table.",
			Buckets: buckets,
		}, []string{"table"}),
	}
}

func (m *metrics) fileWritten(table string, rows, size int64, encode, upload time.Duration) {
	if m == nil {
		return
	}
	m.files.WithLabelValues(table).Inc()
	m.rows.WithLabelValues(table).Add(float64(rows))
	m.bytes.WithLabelValues(table).Add(float64(size))
	m.encode.WithLabelValues(table).Observe(encode.Seconds())
	m.upload.WithLabelValues(table).Observe(upload.Seconds())
}

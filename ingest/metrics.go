package ingest

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shelflake/shelflake/schema"
)

// metrics are the ingester's Prometheus series (prefix shelflake_ingest_).
type metrics struct {
	lag             *prometheus.GaugeVec   // topic, partition
	records         *prometheus.CounterVec // topic
	bytes           *prometheus.CounterVec // topic
	skipped         *prometheus.CounterVec // topic
	rows            *prometheus.CounterVec // table
	files           *prometheus.CounterVec // table
	fileBytes       *prometheus.CounterVec // table
	rejects         *prometheus.CounterVec // topic, reason
	dlq             *prometheus.CounterVec // topic
	flushDur        *prometheus.HistogramVec
	commitDur       *prometheus.HistogramVec
	commits         *prometheus.CounterVec // table, kind (data|txn_only)
	commitConflicts *prometheus.CounterVec // table
	commitErrors    *prometheus.CounterVec // table
	fenced          *prometheus.CounterVec // table
	rewinds         prometheus.Counter
	bufferBytes     prometheus.Gauge
	bufferLimit     prometheus.Gauge
	paused          prometheus.Gauge
	// brokerUnreachable counts failed probes of the seed brokers at start.
	brokerUnreachable prometheus.Counter
	// offsetGap and offsetRegressions count what checkGaps finds, by topic.
	offsetGap         *prometheus.CounterVec
	offsetRegressions *prometheus.CounterVec
	assigned          prometheus.Gauge
	freshness         *freshness
}

func newMetrics(reg prometheus.Registerer, now func() time.Time) *metrics {
	f := promauto.With(reg)
	durBuckets := prometheus.ExponentialBuckets(0.001, 2, 16) // 1ms … 32s
	m := &metrics{
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shelflake_ingest_lag_records",
			Help: "Records of the partition not yet committed to the lake: high watermark minus the lowest offset any of its tables needs next.",
		}, []string{"topic", "partition"}),
		records: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_records_consumed_total",
			Help: "Kafka records consumed (re-reads after a restart or rewind included).",
		}, []string{"topic"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_bytes_consumed_total",
			Help: "Bytes of record keys and values consumed.",
		}, []string{"topic"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_records_skipped_total",
			Help: "Records consumed that every table already held (re-read after a restart or rewind).",
		}, []string{"topic"}),
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_rows_written_total",
			Help: "Rows committed to the lake.",
		}, []string{"table"}),
		files: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_files_written_total",
			Help: "Data files committed to the lake.",
		}, []string{"table"}),
		fileBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_file_bytes_written_total",
			Help: "Bytes of data files committed to the lake.",
		}, []string{"table"}),
		rejects: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_rejects_total",
			Help: "Records that failed decoding or validation, by reason (counted when first seen by the rejects table).",
		}, []string{"topic", "reason"}),
		dlq: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_dlq_produced_total",
			Help: "Rejected records produced to the dead-letter topic.",
		}, []string{"topic"}),
		flushDur: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_ingest_flush_duration_seconds",
			Help:    "Time to encode and upload a table flush's files.",
			Buckets: durBuckets,
		}, []string{"table"}),
		commitDur: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_ingest_commit_duration_seconds",
			Help:    "Time of a Delta commit, retries included.",
			Buckets: durBuckets,
		}, []string{"table"}),
		commits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_commits_total",
			Help: "Delta commits, kind data (with files) or txn_only (offsets only).",
		}, []string{"table", "kind"}),
		commitConflicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_commit_conflicts_total",
			Help: "Commit attempts that failed without being fenced and were retried (object store errors or unresolved races).",
		}, []string{"table"}),
		commitErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_commit_errors_total",
			Help: "Flushes abandoned after every commit attempt failed; the ingester rewound to the lake's offsets.",
		}, []string{"table"}),
		fenced: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_fenced_commits_total",
			Help: "Commits refused by fencing: another writer had committed those offsets (this instance was a zombie for them).",
		}, []string{"table"}),
		rewinds: f.NewCounter(prometheus.CounterOpts{
			Name: "shelflake_ingest_rewinds_total",
			Help: "Times the ingester dropped its buffers and rewound its partitions to the offsets the lake holds.",
		}),
		bufferBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_ingest_buffer_bytes",
			Help: "Estimated memory of rows buffered or being flushed.",
		}),
		bufferLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_ingest_buffer_limit_bytes",
			Help: "The buffer memory budget (--max-buffer-bytes).",
		}),
		offsetGap: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_offset_gap_records_total",
			Help: "Records deleted from a topic (retention) before ingest read them: never in the lake.",
		}, []string{"topic"}),
		offsetRegressions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_ingest_offset_regressions_total",
			Help: "Partitions found ending below the lake's offset (topic recreated or truncated).",
		}, []string{"topic"}),
		brokerUnreachable: f.NewCounter(prometheus.CounterOpts{
			Name: "shelflake_ingest_broker_unreachable_total",
			Help: "Failed attempts to reach the seed brokers before consuming (each is logged with its cause).",
		}),
		paused: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_ingest_fetch_paused",
			Help: "1 while fetching is paused because the buffer budget is full.",
		}),
		assigned: f.NewGauge(prometheus.GaugeOpts{
			Name: "shelflake_ingest_assigned_partitions",
			Help: "Partitions this instance owns.",
		}),
		freshness: &freshness{now: now, newest: map[string]time.Time{}},
	}
	m.freshness.desc = prometheus.NewDesc("shelflake_ingest_freshness_seconds",
		"Now minus the newest event time committed to the table.", []string{"table"}, nil)
	reg.MustRegister(m.freshness)
	for _, t := range schema.Tables() {
		m.rows.WithLabelValues(t.Name)
		m.fenced.WithLabelValues(t.Name)
		m.commitConflicts.WithLabelValues(t.Name)
	}
	return m
}

func partLabel(p int32) string { return strconv.Itoa(int(p)) }

// freshness is a collector computing now − newest committed event time per
// table at scrape time.
type freshness struct {
	desc   *prometheus.Desc
	now    func() time.Time
	mu     sync.Mutex
	newest map[string]time.Time
}

func (f *freshness) observe(table string, t time.Time) {
	if t.IsZero() {
		return
	}
	f.mu.Lock()
	if t.After(f.newest[table]) {
		f.newest[table] = t
	}
	f.mu.Unlock()
}

func (f *freshness) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *freshness) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	for table, t := range f.newest {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, now.Sub(t).Seconds(), table)
	}
}

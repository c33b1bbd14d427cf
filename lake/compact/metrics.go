package compact

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shelflake/shelflake/schema"
)

// metrics are the compactor's Prometheus metrics; a nil *metrics records
// nothing.
type metrics struct {
	filesBefore   *prometheus.CounterVec
	filesAfter    *prometheus.CounterVec
	bytesBefore   *prometheus.CounterVec
	bytesAfter    *prometheus.CounterVec
	rowsIn        *prometheus.CounterVec
	rowsOut       *prometheus.CounterVec
	partitions    *prometheus.CounterVec
	spilledRuns   *prometheus.CounterVec
	conflicts     *prometheus.CounterVec
	errors        *prometheus.CounterVec
	taskDuration  *prometheus.HistogramVec
	passDuration  *prometheus.HistogramVec
	lastSuccess   *prometheus.GaugeVec
	liveFiles     *prometheus.GaugeVec
	liveBytes     *prometheus.GaugeVec
	unifiedParts  *prometheus.CounterVec
	unifiedRows   *prometheus.CounterVec
	unifiedFenced *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	buckets := prometheus.ExponentialBuckets(0.01, 2, 16) // 10 ms … 5.5 min
	m := &metrics{
		filesBefore: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_files_before_total",
			Help: "Data files rewritten (removed) by committed compactions, by table.",
		}, []string{"table"}),
		filesAfter: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_files_after_total",
			Help: "Data files written (added) by committed compactions, by table.",
		}, []string{"table"}),
		bytesBefore: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_bytes_before_total",
			Help: "Bytes of the data files rewritten by committed compactions, by table.",
		}, []string{"table"}),
		bytesAfter: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_bytes_after_total",
			Help: "Bytes of the data files written by committed compactions, by table.",
		}, []string{"table"}),
		rowsIn: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_rows_in_total",
			Help: "Rows read by committed compactions, by table.",
		}, []string{"table"}),
		rowsOut: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_rows_out_total",
			Help: "Rows written by committed compactions (rows in minus duplicates), by table.",
		}, []string{"table"}),
		partitions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_partitions_total",
			Help: "Partitions rewritten and committed, by table.",
		}, []string{"table"}),
		spilledRuns: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_spilled_runs_total",
			Help: "Sorted runs spilled to local disk because a partition exceeded the memory budget, by table.",
		}, []string{"table"}),
		conflicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_conflicts_total",
			Help: "Rewrite commits refused because a concurrent commit removed the same files (then re-planned), by table.",
		}, []string{"table"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_compact_errors_total",
			Help: "Partition rewrites or unified builds that failed (cancellations not counted), by table.",
		}, []string{"table"}),
		taskDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_compact_partition_duration_seconds",
			Help:    "Time to rewrite and commit one partition, by table.",
			Buckets: buckets,
		}, []string{"table"}),
		passDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_compact_pass_duration_seconds",
			Help:    "Time of one pass, by stage (compact: raw tables, unified: unified tables).",
			Buckets: buckets,
		}, []string{"stage"}),
		lastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shelflake_compact_last_success_timestamp_seconds",
			Help: "Unix time of the end of the last pass without errors, by stage.",
		}, []string{"stage"}),
		liveFiles: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shelflake_compact_table_files",
			Help: "Live data files of a table after the last pass.",
		}, []string{"table"}),
		liveBytes: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shelflake_compact_table_bytes",
			Help: "Bytes of a table's live data files after the last pass.",
		}, []string{"table"}),
		unifiedParts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_unified_partitions_rebuilt_total",
			Help: "dt partitions of unified tables rebuilt, by table.",
		}, []string{"table"}),
		unifiedRows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_unified_rows_written_total",
			Help: "Rows written to unified tables, by table.",
		}, []string{"table"}),
		unifiedFenced: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_unified_fenced_total",
			Help: "Unified builds refused because another builder committed the same source versions first, by table.",
		}, []string{"table"}),
	}
	for _, t := range schema.AllTables() {
		for _, c := range []*prometheus.CounterVec{m.filesBefore, m.filesAfter, m.bytesBefore, m.bytesAfter,
			m.rowsIn, m.rowsOut, m.partitions, m.spilledRuns, m.conflicts, m.errors,
			m.unifiedParts, m.unifiedRows, m.unifiedFenced} {
			c.WithLabelValues(t.Name)
		}
	}
	return m
}

func (m *metrics) committed(table string, r TaskReport) {
	if m == nil {
		return
	}
	m.filesBefore.WithLabelValues(table).Add(float64(r.InputFiles))
	m.filesAfter.WithLabelValues(table).Add(float64(r.OutputFiles))
	m.bytesBefore.WithLabelValues(table).Add(float64(r.InputBytes))
	m.bytesAfter.WithLabelValues(table).Add(float64(r.OutputBytes))
	m.rowsIn.WithLabelValues(table).Add(float64(r.RowsIn))
	m.rowsOut.WithLabelValues(table).Add(float64(r.RowsOut))
	m.partitions.WithLabelValues(table).Inc()
	m.spilledRuns.WithLabelValues(table).Add(float64(r.SpilledRuns))
	m.taskDuration.WithLabelValues(table).Observe(r.Duration.Seconds())
}

func (m *metrics) conflict(table string) {
	if m != nil {
		m.conflicts.WithLabelValues(table).Inc()
	}
}

func (m *metrics) failed(table string) {
	if m != nil {
		m.errors.WithLabelValues(table).Inc()
	}
}

func (m *metrics) live(table string, files int, bytes int64) {
	if m != nil {
		m.liveFiles.WithLabelValues(table).Set(float64(files))
		m.liveBytes.WithLabelValues(table).Set(float64(bytes))
	}
}

func (m *metrics) unified(table string, partitions int, rows int64) {
	if m != nil {
		m.unifiedParts.WithLabelValues(table).Add(float64(partitions))
		m.unifiedRows.WithLabelValues(table).Add(float64(rows))
	}
}

func (m *metrics) fenced(table string) {
	if m != nil {
		m.unifiedFenced.WithLabelValues(table).Inc()
	}
}

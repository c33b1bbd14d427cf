package ingest

import (
	"context"
	"testing"
	"time"
)

// BenchmarkIngest measures ingest end to end (embedded broker over TCP →
// decode → Parquet → local lake, exactly-once commits) against a
// consume-only baseline on the same records in the same run. Run it with
// -benchtime 1x: one iteration ingests the whole topic.
//
//	go test -tags duckdb_arrow -run '^$' -bench BenchmarkIngest -benchtime 1x ./ingest/
func BenchmarkIngest(b *testing.B) {
	for b.Loop() {
		res, err := RunBench(context.Background(), BenchConfig{
			Dir:               b.TempDir(),
			FreshnessRate:     10_000,
			FreshnessDuration: 10 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(res.Bytes)
		b.ReportMetric(res.MBPerS, "MB/s")
		b.ReportMetric(res.MBPerSPerCore, "MB/cpu-s")
		b.ReportMetric(res.ConsumeOnlyMBPerS, "consume-only-MB/s")
		b.ReportMetric(res.RatioToConsumeOnly, "ratio")
		b.ReportMetric(res.LinesPerS, "lines/s")
		b.ReportMetric(float64(res.IngestPeakHeapBytes)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(res.FreshnessP50S, "fresh-p50-s")
		b.ReportMetric(res.FreshnessP99S, "fresh-p99-s")
		b.Logf("%+v", res)
	}
}

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

// TestBackfillCommitsEveryRecordOnce drains a year of daily history (one
// flush cannot hold it: MaxFlushDates is 16) through the broker into a lake
// and checks that every record is in it once, every day has its partition,
// and the backlog was committed in more than one commit per table.
func TestBackfillCommitsEveryRecordOnce(t *testing.T) {
	tests := []struct {
		name          string
		pairs, years  int
		maxFlushDates int
	}{
		{"one year, 16 dates a flush", 2, 1, 16},
		{"two years, default bound", 1, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := RunBackfillBench(context.Background(), BackfillConfig{
				Pairs: tc.pairs, Years: tc.years, MaxFlushDates: tc.maxFlushDates, Dir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows["pos_lines"] != res.POSRecords || res.Rows["inventory_snapshots"] != res.InventoryRecords {
				t.Errorf("rows %v, want pos_lines %d and inventory_snapshots %d", res.Rows, res.POSRecords, res.InventoryRecords)
			}
			if res.DatesInLake["pos_lines"] != res.Dates {
				t.Errorf("pos_lines has %d dates, want %d", res.DatesInLake["pos_lines"], res.Dates)
			}
			if res.Commits <= 2 {
				t.Errorf("%d commits for %d dates of two tables: want a chain of bounded commits", res.Commits, res.Dates)
			}
		})
	}
}

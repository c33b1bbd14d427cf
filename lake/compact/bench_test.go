package compact

import (
	"context"
	"testing"
	"time"
)

// BenchmarkQueryRawVsCompacted reports the analyst query's speedup after
// compaction and compaction's throughput (see BenchQuery). Scale with
// -benchtime=1x; it is one measurement per iteration.
func BenchmarkQueryRawVsCompacted(b *testing.B) {
	for b.Loop() {
		res, err := BenchQuery(context.Background(), BenchOptions{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.RawSeconds, "raw_s")
		b.ReportMetric(res.CompactedSeconds, "compacted_s")
		b.ReportMetric(res.Speedup, "speedup")
		b.ReportMetric(float64(res.FilesBefore), "files_before")
		b.ReportMetric(float64(res.FilesAfter), "files_after")
		b.ReportMetric(res.CompactMBPerSecPerCore, "MB/s/core")
		b.Logf("%+v", res)
	}
}

func TestBenchQueryAnswersTheSameOnASmallWorld(t *testing.T) {
	res, err := BenchQuery(context.Background(), BenchOptions{Dir: t.TempDir(), Stores: 2, SKUs: 10, Days: 8, QueryDays: 7, FlushEvery: 30 * time.Minute, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResultRows == 0 || res.FilesAfter >= res.FilesBefore || res.CompactMB <= 0 || res.RawSeconds <= 0 || res.CompactedSeconds <= 0 {
		t.Errorf("result %+v", res)
	}
}

package compact

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema/world"
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
		b.ReportMetric(res.CompactMBPerCPUSecond, "MB/cpu-s")
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

// BenchmarkCompactSmallFiles compacts a world written as ingest's small
// files and reports MB of input per CPU-second (getrusage).
func BenchmarkCompactSmallFiles(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		l := openLake(b, dir)
		st, err := loadWorld(context.Background(), l, worldLoad{Config: world.Config{Seed: 1, Stores: 10, SKUs: 100, Days: 10},
			FlushEvery: 2 * time.Minute, TruthDir: dir + "/truth"})
		if err != nil {
			b.Fatal(err)
		}
		c, err := New(l, Options{TempDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		cpu0 := cpuTime()
		rep, err := c.Compact(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		cpu := (cpuTime() - cpu0).Seconds()
		b.ReportMetric(float64(rep.BytesBefore)/1e6/cpu, "MB/cpu-s")
		b.ReportMetric(float64(rep.FilesBefore), "files")
		b.Logf("files %d -> %d, %.1f MB, %.2f cpu-s, %s wall, load files %v", rep.FilesBefore, rep.FilesAfter, float64(rep.BytesBefore)/1e6, cpu, rep.Duration, st.Files)
	}
}

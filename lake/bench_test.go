package lake

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
	"github.com/shelflake/shelflake/schema"
)

// BenchmarkEncodePOSLines measures Parquet encoding of pos_lines rows into
// one in-memory file (no upload): MB/s is of Parquet output; rows/s and the
// bytes per row are reported too.
func BenchmarkEncodePOSLines(b *testing.B) {
	b.Run("zstd default", func(b *testing.B) { benchmarkEncode(b, WriteOptions{}) })
	b.Run("zstd fastest", func(b *testing.B) { benchmarkEncode(b, WriteOptions{FastCompression: true}) })
}

func benchmarkEncode(b *testing.B, o WriteOptions) {
	const n = 200_000
	rows := posLineRows(1, n, day1)
	tb := schema.TablePOSLines()
	o.SpillBytes = 1 << 30
	o = o.withDefaults()
	enc, err := newFileEncoder[schema.PosLineRow](tb.Schema, tb.PartitionColumn, o)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.close()
	var size int64
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		if err := enc.reset(); err != nil {
			b.Fatal(err)
		}
		for rest := rows; len(rest) > 0; rest = rest[min(len(rest), 4096):] {
			if err := enc.write(rest[:min(len(rest), 4096)]); err != nil {
				b.Fatal(err)
			}
		}
		f, err := enc.finish()
		if err != nil {
			b.Fatal(err)
		}
		size = f.Size
		b.SetBytes(size)
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(n)*float64(b.N)/el, "rows/s")
	b.ReportMetric(float64(n)*float64(b.N)/(cpuTime()-cpu).Seconds(), "rows/cpu-s")
	b.ReportMetric(float64(size)/n, "B/row")
}

// cpuTime is the process's user+system CPU time: throughput per CPU second
// is what matters on a shared 2-core machine where wall time is noisy.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriteFilesLocal measures WriteFiles end to end into a local lake:
// encode, upload (temp file, fsync, rename), stats.
func BenchmarkWriteFilesLocal(b *testing.B) {
	const n = 200_000
	rows := posLineRows(1, n, day1)
	l, _ := localLake(b)
	tb := schema.TablePOSLines()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	var size int64
	for i := 0; i < b.N; i++ {
		adds, err := WriteFiles(b.Context(), l, tb, day1, rows, WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		size = adds[0].Size
		b.SetBytes(size)
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(n)*float64(b.N)/(cpuTime()-cpu).Seconds(), "rows/cpu-s")
}

// BenchmarkUpload measures uploading one written data file (about 32 MiB of
// pos_lines) to a local lake and to versitygw over loopback.
func BenchmarkUpload(b *testing.B) {
	tb := schema.TablePOSLines()
	rows := posLineRows(2, 850_000, day1)
	o := WriteOptions{SpillBytes: 1 << 30}.withDefaults()
	enc, err := newFileEncoder[schema.PosLineRow](tb.Schema, tb.PartitionColumn, o)
	if err != nil {
		b.Fatal(err)
	}
	if err := enc.write(rows); err != nil {
		b.Fatal(err)
	}
	f, err := enc.finish()
	if err != nil {
		b.Fatal(err)
	}
	var file bytes.Buffer
	r, _ := f.open()
	if _, err := file.ReadFrom(r); err != nil {
		b.Fatal(err)
	}
	enc.close()
	data := file.Bytes()

	run := func(b *testing.B, bucket objstore.Bucket) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			key := fmt.Sprintf("bench/upload-%d.parquet", i)
			if err := bucket.Put(b.Context(), key, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = bucket.Delete(b.Context(), key)
			b.StartTimer()
		}
	}
	b.Run("local", func(b *testing.B) {
		l, _ := localLake(b)
		run(b, l.Bucket())
	})
	b.Run("versitygw", func(b *testing.B) {
		srv := objtest.StartVersity(b)
		run(b, s3Lake(b, srv, "bench", Options{}).Bucket())
	})
}

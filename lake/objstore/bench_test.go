package objstore_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

// benchBuckets returns the stores to benchmark: a Local bucket and versitygw
// with the production part size and concurrency.
func benchBuckets(b *testing.B) map[string]objstore.Bucket {
	srv := objtest.StartVersity(b)
	return map[string]objstore.Bucket{
		"local": newLocal(b),
		"s3": srv.NewBucket(b, srv.Bucket, func(o *objstore.S3Options) {
			o.PartSize = objstore.DefaultS3PartSize
			o.Concurrency = objstore.DefaultS3Concurrency
		}),
	}
}

// BenchmarkPut measures upload throughput (MB/s) of whole objects.
func BenchmarkPut(b *testing.B) {
	buckets := benchBuckets(b)
	for _, name := range []string{"local", "s3"} {
		for _, size := range []int{8 << 20, 64 << 20} {
			data := randBytes(uint64(size), size)
			b.Run(fmt.Sprintf("%s/%dMiB", name, size>>20), func(b *testing.B) {
				bk := buckets[name]
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := bk.Put(b.Context(), "bench/put", bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkGet measures download throughput of a 64 MiB object.
func BenchmarkGet(b *testing.B) {
	buckets := benchBuckets(b)
	const size = 64 << 20
	for _, name := range []string{"local", "s3"} {
		bk := buckets[name]
		if err := bk.Put(b.Context(), "bench/get", bytes.NewReader(randBytes(1, size))); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				rc, err := bk.Get(b.Context(), "bench/get")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				if err := rc.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPutIfAbsent measures the latency of small conditional writes, the
// cost of one Delta commit's log entry.
func BenchmarkPutIfAbsent(b *testing.B) {
	buckets := benchBuckets(b)
	data := bytes.Repeat([]byte("x"), 2048)
	for _, name := range []string{"local", "s3"} {
		i := 0 // keys stay unique across the runs of the sub-benchmark
		b.Run(name, func(b *testing.B) {
			bk := buckets[name]
			for b.Loop() {
				if err := bk.PutIfAbsent(b.Context(), fmt.Sprintf("bench/pia/%s/%09d", b.Name(), i), data); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Operation label values of the metered bucket's metrics.
const (
	OpPut         = "put"
	OpPutIfAbsent = "put_if_absent"
	OpGet         = "get"
	OpGetRange    = "get_range"
	OpStat        = "stat"
	OpList        = "list"
	OpDelete      = "delete"
)

var allOps = []string{OpPut, OpPutIfAbsent, OpGet, OpGetRange, OpStat, OpList, OpDelete}

// bucketMetrics are the metrics of one metered bucket.
type bucketMetrics struct {
	ops          *prometheus.CounterVec
	failures     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	bytesWritten prometheus.Counter
	bytesRead    prometheus.Counter
}

func newBucketMetrics(reg prometheus.Registerer) *bucketMetrics {
	f := promauto.With(reg)
	m := &bucketMetrics{
		ops: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_objstore_operations_total",
			Help: "Object store operations, by operation.",
		}, []string{"operation"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_objstore_operation_failures_total",
			Help: "Object store operations that failed, by operation; not counted: cancellations, a missing object on reads, an existing object on put-if-absent.",
		}, []string{"operation"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_objstore_operation_duration_seconds",
			Help:    "Duration of object store operations, by operation; reads until the reader is closed.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"operation"}),
		bytesWritten: f.NewCounter(prometheus.CounterOpts{
			Name: "shelflake_objstore_bytes_written_total",
			Help: "Bytes of objects written successfully.",
		}),
		bytesRead: f.NewCounter(prometheus.CounterOpts{
			Name: "shelflake_objstore_bytes_read_total",
			Help: "Bytes read from objects.",
		}),
	}
	for _, op := range allOps {
		m.ops.WithLabelValues(op)
		m.failures.WithLabelValues(op)
		m.duration.WithLabelValues(op)
	}
	return m
}

// observe records one finished operation.
func (m *bucketMetrics) observe(op string, start time.Time, err error) {
	m.ops.WithLabelValues(op).Inc()
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !expectedErr(op, err) {
		m.failures.WithLabelValues(op).Inc()
	}
}

// expectedErr reports errors that are outcomes rather than failures.
func expectedErr(op string, err error) bool {
	switch {
	case errors.Is(err, context.Canceled):
		return true
	case errors.Is(err, ErrNotExist):
		return op == OpGet || op == OpGetRange || op == OpStat
	case errors.Is(err, ErrExists):
		return op == OpPutIfAbsent
	}
	return false
}

// metered wraps a Bucket with metrics.
type metered struct {
	b Bucket
	m *bucketMetrics
}

// NewMetered returns b with Prometheus metrics registered on reg (nil: not
// registered): shelflake_objstore_operations_total,
// _operation_failures_total and _operation_duration_seconds by operation,
// and _bytes_written_total and _bytes_read_total. Reads are observed when
// their reader is closed. The metrics are registered with promauto, which
// panics on a duplicate registration: meter a second bucket on one
// registry through prometheus.WrapRegistererWith with a distinguishing label.
func NewMetered(b Bucket, reg prometheus.Registerer) Bucket {
	return &metered{b: b, m: newBucketMetrics(reg)}
}

func (w *metered) String() string { return w.b.String() }
func (w *metered) Close() error   { return w.b.Close() }

// LocalFile passes through to the wrapped bucket.
func (w *metered) LocalFile(key string) (string, bool) {
	if lf, ok := w.b.(LocalFiles); ok {
		return lf.LocalFile(key)
	}
	return "", false
}

func (w *metered) Put(ctx context.Context, key string, r io.Reader) error {
	start := time.Now()
	// A seekable reader (a file, a bytes.Reader) is passed through unwrapped so
	// the S3 uploader can read its parts in place instead of buffering them;
	// its size is what remains from the current offset.
	if s, ok := r.(io.ReadSeeker); ok {
		size, err := remaining(s)
		if err != nil {
			w.m.observe(OpPut, start, err)
			return fmt.Errorf("put %s: size of body: %w", key, err)
		}
		err = w.b.Put(ctx, key, r)
		if err == nil {
			w.m.bytesWritten.Add(float64(size))
		}
		w.m.observe(OpPut, start, err)
		return err
	}
	cr := &countingReader{r: r}
	err := w.b.Put(ctx, key, cr)
	if err == nil {
		w.m.bytesWritten.Add(float64(cr.n))
	}
	w.m.observe(OpPut, start, err)
	return err
}

// remaining returns how many bytes s holds past its current offset, leaving
// the offset where it was.
func remaining(s io.Seeker) (int64, error) {
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := s.Seek(cur, io.SeekStart); err != nil {
		return 0, err
	}
	return end - cur, nil
}

func (w *metered) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := w.b.PutIfAbsent(ctx, key, data)
	if err == nil {
		w.m.bytesWritten.Add(float64(len(data)))
	}
	w.m.observe(OpPutIfAbsent, start, err)
	return err
}

func (w *metered) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := w.b.Get(ctx, key)
	if err != nil {
		w.m.observe(OpGet, start, err)
		return nil, err
	}
	return &meteredReader{rc: rc, m: w.m, op: OpGet, start: start}, nil
}

func (w *metered) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := w.b.GetRange(ctx, key, offset, length)
	if err != nil {
		w.m.observe(OpGetRange, start, err)
		return nil, err
	}
	return &meteredReader{rc: rc, m: w.m, op: OpGetRange, start: start}, nil
}

func (w *metered) Stat(ctx context.Context, key string) (Attributes, error) {
	start := time.Now()
	a, err := w.b.Stat(ctx, key)
	w.m.observe(OpStat, start, err)
	return a, err
}

func (w *metered) List(ctx context.Context, prefix string, fn func(Attributes) error) error {
	start := time.Now()
	var fnErr error
	err := w.b.List(ctx, prefix, func(a Attributes) error {
		fnErr = fn(a)
		return fnErr
	})
	if err != nil && fnErr != nil && errors.Is(err, fnErr) {
		w.m.observe(OpList, start, nil) // stopped by the caller, not a failure
	} else {
		w.m.observe(OpList, start, err)
	}
	return err
}

func (w *metered) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := w.b.Delete(ctx, key)
	w.m.observe(OpDelete, start, err)
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// meteredReader counts bytes read and observes the read on Close.
type meteredReader struct {
	rc    io.ReadCloser
	m     *bucketMetrics
	op    string
	start time.Time
	err   error // first read error other than EOF
	once  sync.Once
}

func (r *meteredReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.m.bytesRead.Add(float64(n))
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func (r *meteredReader) Close() error {
	err := r.rc.Close()
	r.once.Do(func() { r.m.observe(r.op, r.start, errors.Join(r.err, err)) })
	return err
}

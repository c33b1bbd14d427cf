package lake

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// countingBucket records every ranged and whole GET.
type countingBucket struct {
	objstore.Bucket
	mu     sync.Mutex
	ranges [][2]int64 // offset, length
	gets   int
}

func (c *countingBucket) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.ranges = append(c.ranges, [2]int64{off, n})
	c.mu.Unlock()
	return c.Bucket.GetRange(ctx, key, off, n)
}

func (c *countingBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Bucket.Get(ctx, key)
}

func (c *countingBucket) reset() (ranges [][2]int64, gets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ranges, gets = c.ranges, c.gets
	c.ranges, c.gets = nil, 0
	return ranges, gets
}

// skuOnly reads one column of pos_lines.
type skuOnly struct {
	SKU string `parquet:"sku"`
}

func TestRangedReaderFetchesOnlyWhatItReads(t *testing.T) {
	ctx := t.Context()
	l, _ := localLake(t)
	tb := schema.TablePOSLines()
	rows := posLineRows(21, 200_000, day1)
	adds, err := WriteFiles(ctx, l, tb, day1, rows, WriteOptions{RowGroupRows: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := DataKey(tb.Name, adds[0].Path)
	size := adds[0].Size
	cb := &countingBucket{Bucket: l.Bucket()}

	f, err := OpenParquet(ctx, cb, key, size)
	if err != nil {
		t.Fatal(err)
	}
	ranges, gets := cb.reset()
	if gets != 0 || len(ranges) != 1 {
		t.Errorf("opening made %d GETs and %d ranged GETs %v, want one ranged GET (footer and page index)", gets, len(ranges), ranges)
	}
	if len(f.RowGroups()) != 4 || f.NumRows() != int64(len(rows)) {
		t.Fatalf("file has %d row groups and %d rows", len(f.RowGroups()), f.NumRows())
	}

	rr, err := OpenRowsIn[skuOnly](ctx, cb, key, size)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]skuOnly, 4096)
	var got []string
	for {
		n, err := rr.Read(buf)
		for _, r := range buf[:n] {
			got = append(got, r.SKU)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rr.Close()
	ranges, gets = cb.reset()
	if len(got) != len(rows) {
		t.Fatalf("read %d skus, want %d", len(got), len(rows))
	}
	for i := range rows {
		if got[i] != rows[i].SKU {
			t.Fatalf("row %d: sku %q, want %q", i, got[i], rows[i].SKU)
		}
	}
	var fetched int64
	for _, r := range ranges {
		fetched += r[1]
	}
	// The sku column chunks, the footer and one buffer's overshoot per
	// chunk: far less than the file.
	var skuBytes int64
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if slices.Equal(c.MetaData.PathInSchema, []string{"sku"}) {
				skuBytes += c.MetaData.TotalCompressedSize
			}
		}
	}
	t.Logf("file %d bytes, sku column %d bytes; reading it fetched %d bytes in %d ranged GETs", size, skuBytes, fetched, len(ranges))
	if gets != 0 {
		t.Errorf("%d whole-object GETs, want none", gets)
	}
	if limit := skuBytes + 4*readBufferSize + 256<<10; fetched > limit {
		t.Errorf("reading one column fetched %d bytes, more than that column's %d bytes plus buffers (%d)", fetched, skuBytes, limit)
	}
	if fetched >= size/2 {
		t.Errorf("reading one column fetched %d of the file's %d bytes", fetched, size)
	}
}

func TestObjectReaderAtFollowsTheReaderAtContract(t *testing.T) {
	ctx := t.Context()
	l, _ := localLake(t)
	data := []byte("0123456789")
	if err := l.Bucket().Put(ctx, "x/obj", bytesReader(data)); err != nil {
		t.Fatal(err)
	}
	r := NewObjectReaderAt(ctx, l.Bucket(), "x/obj", int64(len(data)))
	for _, c := range []struct {
		name    string
		off     int64
		n       int
		want    string
		wantEOF bool
	}{
		{"a read inside the object", 2, 3, "234", false},
		{"a read up to the end", 7, 3, "789", false},
		{"a read past the end returns what there is and EOF", 8, 5, "89", true},
		{"a read at the end returns EOF", 10, 1, "", true},
	} {
		p := make([]byte, c.n)
		n, err := r.ReadAt(p, c.off)
		if string(p[:n]) != c.want || errors.Is(err, io.EOF) != c.wantEOF || (err != nil && !errors.Is(err, io.EOF)) {
			t.Errorf("%s: ReadAt(%d, %d) = %q, %v", c.name, c.n, c.off, p[:n], err)
		}
	}
	short := NewObjectReaderAt(ctx, l.Bucket(), "x/obj", 20) // claims more than there is
	if _, err := short.ReadAt(make([]byte, 15), 0); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("reading an object shorter than its stated size: %v, want an error other than EOF", err)
	}
	missing := NewObjectReaderAt(ctx, l.Bucket(), "x/none", 5)
	if _, err := missing.ReadAt(make([]byte, 2), 0); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("reading a missing object: %v, want ErrNotExist", err)
	}
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func TestSmallFilesAreReadWithOneGet(t *testing.T) {
	ctx := t.Context()
	l, _ := localLake(t)
	tb := schema.TablePOSLines()
	rows := posLineRows(22, 3000, day1)
	adds, err := WriteFiles(ctx, l, tb, day1, rows, WriteOptions{RowGroupRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := DataKey(tb.Name, adds[0].Path)
	cb := &countingBucket{Bucket: l.Bucket()}
	got, err := ReadRowsIn[schema.PosLineRow](ctx, cb, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) || !rowsEqual(got[2999], rows[2999]) {
		t.Fatalf("read %d rows, want %d equal to those written", len(got), len(rows))
	}
	ranges, gets := cb.reset()
	if gets != 1 || len(ranges) != 0 {
		t.Errorf("reading a %d-byte file made %d GETs and %d ranged GETs, want one GET", adds[0].Size, gets, len(ranges))
	}
}

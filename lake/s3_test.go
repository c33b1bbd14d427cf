package lake

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
	"github.com/shelflake/shelflake/schema"
)

// s3Lake opens a lake under prefix of the test server's bucket, with the
// server's credentials and fast retries.
func s3Lake(t testing.TB, srv *objtest.S3Server, prefix string, opts Options) *Lake {
	t.Helper()
	u, err := url.Parse(srv.URI)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + prefix
	so := srv.Options(srv.Bucket)
	opts.Open = append(opts.Open, objstore.WithS3Options(func(o *objstore.S3Options) {
		o.Credentials = so.Credentials
		o.RetryBaseDelay = so.RetryBaseDelay
		o.RetryMaxBackoff = so.RetryMaxBackoff
	}))
	l, err := Open(t.Context(), u.String(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestS3Lake(t *testing.T) {
	srv := objtest.StartVersity(t)
	ctx := t.Context()
	tb := schema.TablePOSLines()
	cacheDir := t.TempDir()
	const cacheBound = 64 << 10
	l := s3Lake(t, srv, "lake", Options{CacheDir: cacheDir, CacheBytes: cacheBound})
	if s := l.String(); !strings.HasPrefix(s, "s3://"+srv.Bucket) {
		t.Errorf("lake named %q", s)
	}
	byDay := lakeWithThreeDays(t, l)

	t.Run("a second lake over the same prefix opens the table, not a new one", func(t *testing.T) {
		l2 := s3Lake(t, srv, "lake", Options{})
		dt, err := l2.Table(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version() != 3 {
			t.Errorf("version %d, want the 3 appends", snap.Version())
		}
	})

	t.Run("objects are under the lake prefix with hive-style keys", func(t *testing.T) {
		var keys []string
		err := filepath.WalkDir(filepath.Join(srv.Dir, srv.Bucket), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
				rel, _ := filepath.Rel(filepath.Join(srv.Dir, srv.Bucket), p)
				keys = append(keys, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) < 4 {
			t.Fatalf("%d data objects in the bucket, want at least 4", len(keys))
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "lake/pos_lines/dt=2026-03-0") || !strings.Contains(k, "/part-") {
				t.Errorf("object %s is not lake/pos_lines/dt=YYYY-MM-DD/part-<uuid>.parquet", k)
			}
		}
	})

	dt, err := delta.NewTable(l.Bucket(), "pos_lines", delta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("rows read back through ranged GETs", func(t *testing.T) {
		for _, f := range snap.FilesInRange("dt", days[0].String(), days[0].String()) {
			rows, err := ReadRows[schema.PosLineRow](ctx, l, f.Key)
			if err != nil {
				t.Fatal(err)
			}
			want := byDay[days[0]]
			if len(rows) != len(want) {
				t.Fatalf("read %d rows, want %d", len(rows), len(want))
			}
			for i := range want {
				if !rowsEqual(rows[i], want[i]) {
					t.Fatalf("row %d differs", i)
				}
			}
		}
	})

	t.Run("DuckDB reads the snapshot through the local cache", func(t *testing.T) {
		files, release, err := l.LocalFiles(ctx, tb.Name, snap, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if len(files) != snap.NumFiles() {
			t.Fatalf("%d local files, snapshot has %d", len(files), snap.NumFiles())
		}
		var cached int64
		for _, f := range files {
			if !strings.HasPrefix(f.Path, cacheDir) {
				t.Errorf("file %s at %s, want a copy in the cache %s", f.Key, f.Path, cacheDir)
			}
			st, err := os.Stat(f.Path)
			if err != nil || st.Size() != f.Size {
				t.Errorf("cached %s: %v, size %d want %d", f.Key, err, st.Size(), f.Size)
			}
			cached += f.Size
		}
		if cached <= cacheBound {
			t.Fatalf("files take %d bytes, want more than the cache bound %d for this test", cached, cacheBound)
		}
		scan, err := DuckDBScan(tb, files)
		if err != nil {
			t.Fatal(err)
		}
		db := openDuckDB(t)
		var n int
		var total string
		if err := db.QueryRow("SELECT count(*), CAST(sum(line_total) AS VARCHAR) FROM ("+scan+")").Scan(&n, &total); err != nil {
			t.Fatal(err)
		}
		var want schema.Money
		wantN := 0
		for _, rows := range byDay {
			for _, r := range rows {
				want += r.LineTotal
			}
			wantN += len(rows)
		}
		if n != wantN || total != decimalText(int64(want), 4) {
			t.Errorf("DuckDB counted %d rows summing %s, want %d summing %s", n, total, wantN, decimalText(int64(want), 4))
		}
		var rows []schema.PosLineRow
		for _, d := range days {
			rows = append(rows, byDay[d]...)
		}
		// Exact values, file by file: a day's files hold its rows in order.
		var paths []string
		for _, d := range days {
			for _, f := range files {
				if f.PartitionValues["dt"] == d.String() {
					paths = append(paths, f.Path)
				}
			}
		}
		checkDuckDB(t, db, paths, rows)
	})

	t.Run("pruning by dt fetches only that day's files", func(t *testing.T) {
		d := days[2]
		files, release, err := l.LocalFiles(ctx, tb.Name, snap, &d, &d)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if len(files) != 1 || files[0].PartitionValues["dt"] != d.String() {
			t.Errorf("files of dt=%s: %+v", d, files)
		}
	})

	t.Run("files left out by their add action are not fetched", func(t *testing.T) {
		cache := t.TempDir()
		l2 := s3Lake(t, srv, "lake", Options{CacheDir: cache})
		d := days[1] // several files
		all := snap.FilesInRange("dt", d.String(), d.String())
		if len(all) < 2 {
			t.Fatalf("%d files on %s: the test needs several", len(all), d)
		}
		skip := all[0].Key
		files, release, err := l2.LocalFilesWhere(ctx, tb.Name, snap, &d, &d, func(f delta.File) bool { return f.Key != skip })
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if len(files) != len(all)-1 || slices.ContainsFunc(files, func(f LocalFile) bool { return f.Key == skip }) {
			t.Errorf("%d files kept of %d, or the left-out one among them", len(files), len(all))
		}
		var copies int
		err = filepath.WalkDir(cache, func(_ string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(e.Name(), ".parquet") {
				copies++
			}
			return err
		})
		if err != nil || copies != len(files) {
			t.Errorf("the cache holds %d Parquet copies (%v), want the %d kept files", copies, err, len(files))
		}
	})

	t.Run("a default cache is a temporary directory that Close removes", func(t *testing.T) {
		l2 := s3Lake(t, srv, "lake", Options{})
		files, release, err := l2.LocalFiles(ctx, tb.Name, snap, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		release()
		dir := filepath.Dir(files[0].Path)
		if _, err := os.Stat(dir); err != nil {
			t.Fatal(err)
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("cache directory %s still there after Close: %v", dir, err)
		}
	})

	t.Run("released copies are evicted down to the cache bound", func(t *testing.T) {
		entries, err := os.ReadDir(cacheDir)
		if err != nil {
			t.Fatal(err)
		}
		var size int64
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				size += fi.Size()
			}
		}
		// The cache keeps its most recent file even past the bound.
		if size > cacheBound && len(entries) > 1 {
			t.Errorf("cache holds %d bytes in %d files after release, bound %d", size, len(entries), cacheBound)
		}
	})
}

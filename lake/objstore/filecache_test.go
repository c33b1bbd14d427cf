package objstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func TestFileCache(t *testing.T) {
	srv := objtest.StartVersity(t)
	srv.CreateBucket(t, "cache")
	s3b := srv.NewBucket(t, "cache")
	reg := prometheus.NewRegistry()
	b := objstore.NewMetered(s3b, reg)
	gets := func() float64 { return metric(t, reg, "shelflake_objstore_operations_total", "get") }
	put := func(t *testing.T, key string, data []byte) {
		t.Helper()
		if err := s3b.Put(t.Context(), key, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	fileHolds := func(t *testing.T, path string, want []byte) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s holds %d bytes, want %d", path, len(got), len(want))
		}
	}
	kib := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 1024) }

	t.Run("a miss downloads once and a hit reuses the file", func(t *testing.T) {
		c, err := objstore.NewFileCache(t.TempDir(), 1<<20, b)
		if err != nil {
			t.Fatal(err)
		}
		put(t, "t/dt=2024-01-01/part-1.parquet", kib(0))
		before := gets()
		p1, err := c.LocalPath(t.Context(), "t/dt=2024-01-01/part-1.parquet")
		if err != nil {
			t.Fatal(err)
		}
		fileHolds(t, p1, kib(0))
		if filepath.Ext(p1) != ".parquet" {
			t.Fatalf("cached file %s lost the key's extension", p1)
		}
		p2, err := c.LocalPath(t.Context(), "t/dt=2024-01-01/part-1.parquet")
		if err != nil {
			t.Fatal(err)
		}
		if p1 != p2 {
			t.Fatalf("second lookup gave %s, want %s", p2, p1)
		}
		if n := gets() - before; n != 1 {
			t.Fatalf("%v downloads for two lookups, want 1", n)
		}
	})

	t.Run("an overwritten object gets a new file by its etag", func(t *testing.T) {
		c, err := objstore.NewFileCache(t.TempDir(), 1<<20, b)
		if err != nil {
			t.Fatal(err)
		}
		put(t, "etag/obj", []byte("version one"))
		p1, err := c.LocalPath(t.Context(), "etag/obj")
		if err != nil {
			t.Fatal(err)
		}
		put(t, "etag/obj", []byte("version two!"))
		p2, err := c.LocalPath(t.Context(), "etag/obj")
		if err != nil {
			t.Fatal(err)
		}
		if p1 == p2 {
			t.Fatal("same cached file after the object changed")
		}
		fileHolds(t, p2, []byte("version two!"))
	})

	t.Run("a missing key reports ErrNotExist", func(t *testing.T) {
		c, err := objstore.NewFileCache(t.TempDir(), 1<<20, b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.LocalPath(t.Context(), "no/such/key"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("err = %v, want ErrNotExist", err)
		}
	})

	t.Run("least recently used files are evicted beyond the bound", func(t *testing.T) {
		dir := t.TempDir()
		c, err := objstore.NewFileCache(dir, 3*1024, b) // room for three files
		if err != nil {
			t.Fatal(err)
		}
		paths := map[int]string{}
		for i := range 5 {
			put(t, fmt.Sprintf("lru/%d", i), kib(i))
		}
		for _, i := range []int{0, 1, 2, 0, 3, 4} { // 0 is used again before 3 and 4 arrive
			p, err := c.LocalPath(t.Context(), fmt.Sprintf("lru/%d", i))
			if err != nil {
				t.Fatal(err)
			}
			paths[i] = p
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("file just returned for lru/%d is gone: %v", i, err)
			}
		}
		if c.Size() > 3*1024 {
			t.Fatalf("cache holds %d bytes, bound 3072", c.Size())
		}
		for i, wantKept := range map[int]bool{0: true, 1: false, 2: false, 3: true, 4: true} {
			_, err := os.Stat(paths[i])
			if kept := err == nil; kept != wantKept {
				t.Errorf("lru/%d kept = %v, want %v", i, kept, wantKept)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 3 {
			t.Fatalf("cache dir holds %d files, want 3", len(entries))
		}
	})

	t.Run("held files are not evicted until released", func(t *testing.T) {
		c, err := objstore.NewFileCache(t.TempDir(), 2*1024, b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			put(t, fmt.Sprintf("pin/%d", i), kib(i))
		}
		var held []string
		var releases []func()
		for i := range 4 {
			p, release, err := c.Acquire(t.Context(), fmt.Sprintf("pin/%d", i))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, p)
			releases = append(releases, release)
		}
		for i, p := range held {
			fileHolds(t, p, kib(i)) // all four present, over the bound
		}
		for _, r := range releases {
			r()
			r() // idempotent
		}
		if c.Size() > 2*1024 {
			t.Fatalf("after release the cache holds %d bytes, bound 2048", c.Size())
		}
	})

	t.Run("concurrent lookups of one key download it once", func(t *testing.T) {
		c, err := objstore.NewFileCache(t.TempDir(), 64<<20, b)
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("concurrent "), 300_000)
		put(t, "conc/obj", data)
		before := gets()
		var wg sync.WaitGroup
		paths := make([]string, 8)
		errs := make([]error, 8)
		for i := range 8 {
			wg.Go(func() { paths[i], errs[i] = c.LocalPath(t.Context(), "conc/obj") })
		}
		wg.Wait()
		for i := range 8 {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if paths[i] != paths[0] {
				t.Fatalf("lookups returned different files %s and %s", paths[i], paths[0])
			}
		}
		fileHolds(t, paths[0], data)
		if n := gets() - before; n != 1 {
			t.Fatalf("%v downloads for 8 concurrent lookups, want 1", n)
		}
	})

	t.Run("a restarted cache reuses its files and drops partial downloads", func(t *testing.T) {
		dir := t.TempDir()
		c, err := objstore.NewFileCache(dir, 1<<20, b)
		if err != nil {
			t.Fatal(err)
		}
		put(t, "restart/obj", kib(7))
		p, err := c.LocalPath(t.Context(), "restart/obj")
		if err != nil {
			t.Fatal(err)
		}
		partial := filepath.Join(dir, ".tmp-12345")
		if err := os.WriteFile(partial, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := gets()
		c2, err := objstore.NewFileCache(dir, 1<<20, b)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := c2.LocalPath(t.Context(), "restart/obj")
		if err != nil {
			t.Fatal(err)
		}
		if p2 != p || gets() != before {
			t.Fatalf("restarted cache: path %s (was %s), %v downloads; want the old file, none", p2, p, gets()-before)
		}
		if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("partial download survived a restart: %v", err)
		}
		if c2.Size() != 1024 {
			t.Fatalf("restarted cache size %d, want 1024", c2.Size())
		}
	})
}

func TestFileCacheOfLocalBucketCopiesNothing(t *testing.T) {
	l := newLocal(t)
	if err := l.Put(t.Context(), "t/part-0.parquet", strings.NewReader("local data")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    objstore.Bucket
		key  string
		want string
	}{
		{"a local bucket", l, "t/part-0.parquet", l.Path("t/part-0.parquet")},
		{"a metered local bucket", objstore.NewMetered(l, nil), "t/part-0.parquet", l.Path("t/part-0.parquet")},
		{"a prefixed local bucket", mustPrefixed(t, l, "t"), "part-0.parquet", l.Path("t/part-0.parquet")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c, err := objstore.NewFileCache(dir, 1024, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.LocalPath(t.Context(), tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if p != tc.want {
				t.Fatalf("path %s, want the object's own %s", p, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("cache dir holds %d files, want none", len(entries))
			}
			if _, err := c.LocalPath(t.Context(), "t/missing"); !errors.Is(err, objstore.ErrNotExist) {
				t.Fatalf("missing key: %v, want ErrNotExist", err)
			}
		})
	}
}

func mustPrefixed(t *testing.T, b objstore.Bucket, prefix string) objstore.Bucket {
	t.Helper()
	p, err := objstore.NewPrefixed(b, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

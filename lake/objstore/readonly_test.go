package objstore_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore"
)

func TestOpenExistingCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, uri, want string
	}{
		{"a missing directory", filepath.Join(dir, "missing"), "does not exist"},
		{"a missing directory as a file URI", "file://" + filepath.Join(dir, "missing2"), "does not exist"},
		{"a path under a file", filepath.Join(file, "sub"), "does not exist"},
		{"a file", file, "is a file, not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := objstore.Open(t.Context(), tc.uri, objstore.Existing())
			if err == nil {
				b.Close()
				t.Fatalf("Open(%q, Existing) succeeded", tc.uri)
			}
			if !errors.Is(err, objstore.ErrNoRoot) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrNoRoot saying %q", err, tc.want)
			}
			for _, p := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "missing2")} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s exists after Open(Existing): %v", p, err)
				}
			}
		})
	}
	b, err := objstore.Open(t.Context(), dir, objstore.Existing())
	if err != nil {
		t.Fatalf("an existing directory: %v", err)
	}
	b.Close()
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	local, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Put(t.Context(), "a/b", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	ro := objstore.NewReadOnly(local)
	defer ro.Close()
	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"put", func() error { return ro.Put(t.Context(), "a/c", strings.NewReader("y")) }},
		{"put-if-absent", func() error { return ro.PutIfAbsent(t.Context(), "a/d", []byte("y")) }},
		{"delete", func() error { return ro.Delete(t.Context(), "a/b") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(); !errors.Is(err, objstore.ErrReadOnly) {
				t.Fatalf("err = %v, want ErrReadOnly", err)
			}
		})
	}
	entries, err := os.ReadDir(filepath.Join(dir, "a"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("after refused writes: %v, %v; want only a/b", entries, err)
	}
	rc, err := ro.Get(t.Context(), "a/b")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "x" {
		t.Fatalf("Get = %q", got)
	}
	if p, ok := ro.LocalFile("a/b"); !ok || p != filepath.Join(dir, "a", "b") {
		t.Fatalf("LocalFile = %q, %v", p, ok)
	}
}

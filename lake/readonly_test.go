package lake

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// treeOf lists every path under dir (nil when dir does not exist).
func treeOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenWithoutALakeCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	if err := os.WriteFile(file, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	notLake := filepath.Join(dir, "notlake")
	for _, d := range []string{empty, filepath.Join(notLake, "pos_lines", "dt=2026-01-01")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := treeOf(t, dir)
	for _, tc := range []struct {
		name, uri, want string
	}{
		{"a missing directory", filepath.Join(dir, "lak"), "no _delta_log under " + filepath.Join(dir, "lak") + ": " + filepath.Join(dir, "lak") + " does not exist"},
		{"a missing directory as a file URI", "file://" + filepath.Join(dir, "lak2"), "does not exist"},
		{"a file", file, "no _delta_log under " + file + ": " + file + " is a file, not a directory"},
		{"an empty directory", empty, "no _delta_log under " + empty + "/*/"},
		{"a directory of other files", notLake, "no _delta_log under " + notLake + "/*/"},
	} {
		for _, mode := range []struct {
			name string
			opts Options
		}{{"read-only", Options{ReadOnly: true}}, {"must exist", Options{MustExist: true}}} {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				l, err := Open(t.Context(), tc.uri, mode.opts)
				if err == nil {
					l.Close()
					t.Fatalf("Open(%q) succeeded", tc.uri)
				}
				msg := err.Error()
				if !errors.Is(err, ErrNoLake) || !strings.HasPrefix(msg, "no shelflake lake at "+tc.uri+" (") ||
					!strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
					t.Fatalf("err = %q, want ErrNoLake at %s saying %q", msg, tc.uri, tc.want)
				}
				if after := treeOf(t, dir); !slicesEqual(after, before) {
					t.Fatalf("Open created %v", after)
				}
			})
		}
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

func TestReadOnlyLakeReadsAndRefusesWrites(t *testing.T) {
	ctx := t.Context()
	w, b := localLake(t)
	rows := posLineRows(7, 50, day1)
	commitRows(t, w, schema.TablePOSLines(), day1, rows, WriteOptions{})
	before := treeOf(t, b.Root())

	l, err := Open(ctx, b.Root(), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.ReadOnly() {
		t.Fatal("ReadOnly() = false")
	}
	dt, err := l.Table(ctx, schema.TablePOSLines())
	if err != nil {
		t.Fatalf("an existing table: %v", err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil || len(snap.Files()) != 1 {
		t.Fatalf("snapshot: %v files, %v", len(snap.Files()), err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"Table of a missing table", func() error {
			_, err := l.Table(ctx, schema.TablePromotions())
			return err
		}, delta.ErrTableNotFound},
		{"writing files", func() error {
			_, err := WriteFiles(ctx, l, schema.TablePOSLines(), day1, rows, WriteOptions{})
			return err
		}, objstore.ErrReadOnly},
		{"a commit", func() error {
			_, err := dt.Commit(ctx, snap, delta.Txn{Adds: []delta.Add{snap.Files()[0].Add}})
			return err
		}, objstore.ErrReadOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if after := treeOf(t, b.Root()); !slicesEqual(after, before) {
				t.Fatalf("the lake changed: %v", after)
			}
		})
	}
	must, err := Open(ctx, b.Root(), Options{MustExist: true})
	if err != nil {
		t.Fatalf("MustExist on a lake: %v", err)
	}
	defer must.Close()
	if _, err := must.Table(ctx, schema.TablePromotions()); err != nil {
		t.Fatalf("MustExist still creates tables: %v", err)
	}
}

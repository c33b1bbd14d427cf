package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandsRefuseAPathWithoutALake runs every command that needs an
// existing lake on a mistyped path, a file and an empty directory: each
// fails with one line naming where it looked, prints nothing on stdout and
// creates nothing.
func TestCommandsRefuseAPathWithoutALake(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "passwd")
	if err := os.WriteFile(file, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	outbox := filepath.Join(root, "outbox")
	commands := []struct {
		name string
		args []string
	}{
		{"sql -c", []string{"sql", "-c", "select count(*) from pos_lines"}},
		{"sql --query", []string{"sql", "--query", "top_skus"}},
		{"report", []string{"report", "--out", filepath.Join(root, "report.html")}},
		{"ingest watermarks", []string{"ingest", "watermarks"}},
		{"rejects replay --dry-run", []string{"rejects", "replay", "--dry-run"}},
		{"rejects replay", []string{"rejects", "replay"}},
		{"writeback retry", []string{"writeback", "retry", "--outbox", outbox}},
		{"vacuum", []string{"vacuum"}},
		{"compact", []string{"compact"}},
		{"forecast", []string{"forecast", "--as-of", "2026-03-05"}},
	}
	paths := []struct {
		name, lake, want string
	}{
		{"a typo", filepath.Join(root, "lak"), filepath.Join(root, "lak") + " does not exist"},
		{"a file", file, file + " is a file, not a directory"},
		{"an empty directory", empty, "no _delta_log under " + empty + "/*/"},
	}
	if fi, err := os.Stat("/etc/passwd"); err == nil && !fi.IsDir() {
		paths = append(paths, struct{ name, lake, want string }{"/etc/passwd", "/etc/passwd", "/etc/passwd is a file, not a directory"})
	}
	for _, c := range commands {
		for _, p := range paths {
			t.Run(c.name+"/"+p.name, func(t *testing.T) {
				args := append(append([]string{}, c.args...), "--lake", p.lake)
				out, errOut, err := sqlCLI(t, "", args...)
				if err == nil {
					t.Fatalf("%v succeeded:\n%s", args, out)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "no shelflake lake at "+p.lake+" (") || !strings.Contains(msg, p.want) ||
					!strings.Contains(msg, "check --lake") || strings.Contains(msg, "\n") {
					t.Fatalf("error %q: want one line \"no shelflake lake at %s (… %s …)\"", msg, p.lake, p.want)
				}
				if out != "" || errOut != "" {
					t.Fatalf("printed before failing: stdout %q, stderr %q", out, errOut)
				}
				for _, q := range []string{filepath.Join(root, "lak"), outbox, filepath.Join(root, "report.html")} {
					if _, err := os.Stat(q); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("%s exists afterwards (%v)", q, err)
					}
				}
				if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
					t.Fatalf("the empty directory now holds %v (%v)", entries, err)
				}
			})
		}
	}
}

// TestForecastNeedsItsInputsBeforeCreatingAnything: on a lake without
// sales_daily the forecast says to compact first and writes no table.
func TestForecastNeedsItsInputsBeforeCreatingAnything(t *testing.T) {
	dir, _ := sqlLake(t) // pos_lines only
	before, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, _, runErr := sqlCLI(t, "", "forecast", "--lake", dir, "--as-of", "2026-03-05")
	after, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("the lake went from %v to %v", before, after)
	}
	if runErr == nil || !strings.Contains(runErr.Error(), "no sales_daily table: run shelflake compact --unified first") {
		t.Fatalf("err = %v, want the missing sales_daily named", runErr)
	}
	// The existing lake still reads.
	out, _, err := sqlCLI(t, "", "sql", "--lake", dir, "-c", "select count(*) as n from pos_lines", "--format", "csv")
	if err != nil || !strings.Contains(out, "7") {
		t.Fatalf("sql on the lake: %q, %v", out, err)
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadFlagsFailWithOneLineAndWriteNothing: each bad flag fails before
// any work with one line naming the flag and what to give, and prints and
// creates nothing.
func TestBadFlagsFailWithOneLineAndWriteNothing(t *testing.T) {
	t.Setenv("SHELFLAKE_BROKERS", "")
	lakeDir, _ := sqlLake(t)
	out := filepath.Join(t.TempDir(), "gen")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"gen --days 0", []string{"gen", "--out", out, "--days", "0"}, "--days 0: want 1..20000"},
		{"gen --stores 0", []string{"gen", "--out", out, "--stores", "0"}, "--stores 0: want 1..1000000"},
		{"gen --skus -1", []string{"gen", "--out", out, "--skus", "-1"}, "--skus -1: want 1..10000000"},
		{"gen --dcs 9", []string{"gen", "--out", out, "--dcs", "9"}, "--dcs 9: want 1..4, or 0 for one per 8 stores"},
		{"rejects replay --from after --to", []string{"rejects", "replay", "--lake", lakeDir, "--from", "2026-03-05", "--to", "2026-03-01"},
			"--from 2026-03-05 is not before --to 2026-03-01"},
		{"vacuum --retention 1m", []string{"vacuum", "--lake", lakeDir, "--retention", "1m"},
			"--retention 1m0s is below 1h0m0s: readers of older snapshots may fail; add --allow-short-retention"},
		{"vacuum --retention -1h", []string{"vacuum", "--lake", lakeDir, "--retention", "-1h", "--allow-short-retention"},
			"--retention -1h0m0s: want a duration ≥ 0"},
		{"report --out into a missing directory", []string{"report", "--lake", lakeDir, "--out", filepath.Join(missing, "r.html")},
			"--out " + filepath.Join(missing, "r.html") + ": no directory " + missing + ": create it first"},
		{"sql --out into a missing directory", []string{"sql", "--lake", lakeDir, "-c", "select 1", "--out", filepath.Join(missing, "q.csv")},
			"no directory " + missing + ": create it first"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadDir(lakeDir)
			stdout, stderr, err := sqlCLI(t, "", c.args...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", stdout)
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), ".tmp-") {
				t.Fatalf("error %q, want one line with %q", err, c.want)
			}
			if stdout != "" || stderr != "" {
				t.Errorf("printed before failing: stdout %q, stderr %q", stdout, stderr)
			}
			for _, p := range []string{out, missing} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists afterwards", p)
				}
			}
			if after, _ := os.ReadDir(lakeDir); len(after) != len(before) {
				t.Errorf("the lake went from %d to %d entries", len(before), len(after))
			}
		})
	}
}

// TestOutputFilesAreWorldReadable: --out files are 0644 like any other
// file a command writes, not CreateTemp's 0600.
func TestOutputFilesAreWorldReadable(t *testing.T) {
	lakeDir, _ := sqlLake(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		file string
	}{
		{"report", []string{"report", "--lake", lakeDir}, "r.html"},
		{"sql csv", []string{"sql", "--lake", lakeDir, "-c", "select 1 as a", "--format", "csv"}, "q.csv"},
		{"sql parquet", []string{"sql", "--lake", lakeDir, "-c", "select 1 as a", "--format", "parquet"}, "q.parquet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			if _, stderr, err := sqlCLI(t, "", append(c.args, "--out", path)...); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("%s is %v, want -rw-r--r--", path, fi.Mode().Perm())
			}
		})
	}
}

// TestRejectsReplayDryRunSaysSo: a dry run says it wrote nothing even when
// nothing passes.
func TestRejectsReplayDryRunSaysSo(t *testing.T) {
	lakeDir, _ := reportLake(t, false) // four rejects that still fail
	for _, c := range []struct {
		name string
		args []string
		want bool
	}{
		{"a dry run", []string{"--dry-run"}, true},
		{"a replay", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, stderr, err := sqlCLI(t, "", append([]string{"rejects", "replay", "--lake", lakeDir}, c.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if got := strings.HasPrefix(out, "dry run: nothing written\n"); got != c.want {
				t.Errorf("output starts with the dry-run line: %v, want %v:\n%s", got, c.want, out)
			}
		})
	}
}

// TestOldFlagNamesStillWork: one name per concept (--duckdb-memory,
// --sort-memory, --horizon), and the names of earlier releases still work
// without being shown in help.
func TestOldFlagNamesStillWork(t *testing.T) {
	for _, tc := range []struct {
		cmd      []string
		old, now string
	}{
		{[]string{"sql"}, "memory-limit", "duckdb-memory"},
		{[]string{"report"}, "memory-limit", "duckdb-memory"},
		{[]string{"report"}, "horizon-days", "horizon"},
		{[]string{"compact"}, "memory", "sort-memory"},
		{[]string{"forecast"}, "duckdb-memory", "duckdb-memory"},
	} {
		t.Run(strings.Join(tc.cmd, " ")+" --"+tc.old, func(t *testing.T) {
			var out, errb bytes.Buffer
			root := newRootCmd(&out, &errb)
			c, _, err := root.Find(tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			value := "3"
			if strings.Contains(tc.now, "memory") {
				value = "1GB"
			}
			if err := c.ParseFlags([]string{"--" + tc.old, value}); err != nil {
				t.Fatalf("--%s: %v", tc.old, err)
			}
			f := c.Flags().Lookup(tc.now)
			if f == nil || !f.Changed {
				t.Fatalf("--%s did not set --%s", tc.old, tc.now)
			}
			if tc.old != tc.now && strings.Contains(c.Flags().FlagUsages(), "--"+tc.old+" ") {
				t.Errorf("help still shows --%s", tc.old)
			}
		})
	}
}

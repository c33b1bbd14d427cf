package main

import (
	"strings"
	"testing"
)

// TestSQLTimeTravelOutOfRange: a version or time the lake does not have
// fails with the range it has, and prints nothing else.
func TestSQLTimeTravelOutOfRange(t *testing.T) {
	dir, _ := sqlLake(t) // pos_lines versions 0..2, committed 2026-03-04T08:00:00Z..
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"a date before the first commit", []string{"--as-of", "2020-01-01"}, []string{
			"--as-of 2020-01-01 is before the lake's first commit (2026-03-04T08:00:00Z)",
			"versions of pos_lines: 0..2, 2026-03-04T08:00:00Z..2026-03-04T"}},
		{"a time before the first commit", []string{"--as-of", "2026-03-04T07:59:59Z"}, []string{
			"--as-of 2026-03-04T07:59:59Z is before the lake's first commit (2026-03-04T08:00:00Z)"}},
		{"a version past the last", []string{"--version", "999"}, []string{
			"--version 999: pos_lines has versions 0..2 (2026-03-04T08:00:00Z..2026-03-04T"}},
		{"one table's version past the last", []string{"--version", "pos_lines=3"}, []string{
			"--version pos_lines=3: pos_lines has versions 0..2 (2026-03-04T08:00:00Z..2026-03-04T"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"sql", "--lake", dir, "-c", "SELECT count(*) AS n FROM pos_lines"}, c.args...)
			out, errOut, err := sqlCLI(t, "", args...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "\n") || out != "" || errOut != "" {
				t.Errorf("want one line and nothing printed; err %q, stdout %q, stderr %q", err, out, errOut)
			}
		})
	}
}

package main

import (
	"strings"
	"testing"
)

// TestWatermarksDefaultToEveryGroup: the report lake was ingested as group
// g1; without --group (and SHELFLAKE_GROUP) ingest watermarks and the
// report's freshness show its watermarks; a --group that never ingested
// shows none.
func TestWatermarksDefaultToEveryGroup(t *testing.T) {
	t.Setenv("SHELFLAKE_GROUP", "")
	dir, eventTime := reportLake(t, false)
	for _, c := range []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{"ingest watermarks without --group", []string{"ingest", "watermarks", "--lake", dir},
			[]string{"pos_lines  g1     " + "pos.transactions", "pos_lines is complete up to"}, nil},
		{"ingest watermarks as JSON", []string{"ingest", "watermarks", "--lake", dir, "--json"},
			[]string{`"group": "g1"`}, nil},
		{"ingest watermarks of another group", []string{"ingest", "watermarks", "--lake", dir, "--group", "shelflake-ingest"},
			nil, []string{"pos_lines  "}},
		{"report without --group", []string{"report", "--lake", dir, "--out", "-"},
			[]string{fmtReportTime(eventTime)}, []string{"No ingest watermarks were read"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, logs, err := reportCLI(t, c.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, logs)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

package compact

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

const mib = 1 << 20

// file is a live file of dt, size bytes, modified ageMin minutes before
// planNow, holding rows rows (-1: no stats).
func file(dt string, name string, size int64, ageMin int, rows int64) delta.File {
	rel := "dt=" + dt + "/" + name + ".parquet"
	if dt == "" {
		rel = name + ".parquet"
	}
	a := delta.Add{
		Path:             rel,
		PartitionValues:  map[string]string{"dt": dt},
		Size:             size,
		ModificationTime: planNow.Add(-time.Duration(ageMin) * time.Minute).UnixMilli(),
		DataChange:       true,
	}
	if rows >= 0 {
		a.Stats = fmt.Sprintf(`{"numRecords":%d}`, rows)
	}
	return delta.File{Add: a, RelPath: rel, Key: "pos_lines/" + rel}
}

var planNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func TestPlan(t *testing.T) {
	opts := PlanOptions{TargetFileSize: 100 * mib, MinFiles: 4, QuietAfter: time.Hour, MaxTaskBytes: 1000 * mib}
	type want struct {
		dt     string
		inputs []string
		reason string
		rows   int64
		outs   int
	}
	many := func(dt string, n int, size int64, ageMin int) []delta.File {
		var fs []delta.File
		for i := range n {
			fs = append(fs, file(dt, fmt.Sprintf("f%02d", i), size, ageMin-i, 10))
		}
		return fs
	}
	names := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%02d", prefix, i))
		}
		return out
	}
	cases := []struct {
		name  string
		opts  PlanOptions
		files []delta.File
		want  []want
	}{
		{
			name:  "A partition being written with fewer small files than the minimum is left alone",
			files: many("2026-03-02", 3, mib, 5),
		},
		{
			name:  "A partition with the minimum number of small files is compacted, oldest first",
			files: many("2026-03-02", 4, mib, 5),
			want:  []want{{dt: "2026-03-02", inputs: []string{"f00", "f01", "f02", "f03"}, reason: ReasonManyFiles, rows: 40, outs: 1}},
		},
		{
			name: "Small files that together fill a target file are compacted though fewer than the minimum",
			files: []delta.File{
				file("2026-03-02", "a", 40*mib, 1, 5), file("2026-03-02", "b", 35*mib, 2, 5), file("2026-03-02", "c", 30*mib, 3, 5),
			},
			want: []want{{dt: "2026-03-02", inputs: []string{"c", "b", "a"}, reason: ReasonSmallTotal, rows: 15, outs: 2}},
		},
		{
			name: "A quiet partition with two small files is compacted",
			files: []delta.File{
				file("2026-03-01", "a", mib, 61, 1), file("2026-03-01", "b", mib, 90, 2),
			},
			want: []want{{dt: "2026-03-01", inputs: []string{"b", "a"}, reason: ReasonQuiet, rows: 3, outs: 1}},
		},
		{
			name:  "A single small file is never rewritten, however old",
			files: []delta.File{file("2026-02-01", "a", mib, 10000, 1)},
		},
		{
			name: "Files of the target size stay out of the rewrite",
			files: append(many("2026-03-02", 4, mib, 5),
				file("2026-03-02", "big", 90*mib, 500, 99)),
			want: []want{{dt: "2026-03-02", inputs: []string{"f00", "f01", "f02", "f03"}, reason: ReasonManyFiles, rows: 40, outs: 1}},
		},
		{
			name: "Compaction output is not rewritten when the rewrite would not reduce the file count",
			files: []delta.File{
				file("2026-03-01", "out1", 74*mib, 600, 1), file("2026-03-01", "out2", 74*mib, 600, 1),
			},
		},
		{
			name:  "A partition over the task limit is rewritten oldest files first, up to the limit",
			opts:  PlanOptions{TargetFileSize: 100 * mib, MinFiles: 4, MaxTaskBytes: 25 * mib},
			files: many("2026-03-02", 8, 10*mib, 20),
			want:  []want{{dt: "2026-03-02", inputs: []string{"f00", "f01"}, reason: ReasonManyFiles, rows: 20, outs: 1}},
		},
		{
			name: "Files without a date partition are ignored",
			files: append(many("", 6, mib, 5),
				many("not-a-date", 6, mib, 5)...),
		},
		{
			name: "A file without stats makes the row count unknown",
			files: append(many("2026-03-02", 3, mib, 5),
				file("2026-03-02", "nostats", mib, 1, -1)),
			want: []want{{dt: "2026-03-02", inputs: []string{"f00", "f01", "f02", "nostats"}, reason: ReasonManyFiles, rows: -1, outs: 1}},
		},
		{
			name: "Tasks of several partitions come ordered by date",
			files: append(append(many("2026-03-02", 4, mib, 5), many("2026-02-27", 2, mib, 600)...),
				many("2026-03-01", 5, mib, 30)...),
			want: []want{
				{dt: "2026-02-27", inputs: []string{"f00", "f01"}, reason: ReasonQuiet, rows: 20, outs: 1},
				{dt: "2026-03-01", inputs: names("f", 5), reason: ReasonManyFiles, rows: 50, outs: 1},
				{dt: "2026-03-02", inputs: []string{"f00", "f01", "f02", "f03"}, reason: ReasonManyFiles, rows: 40, outs: 1},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.opts != (PlanOptions{}) {
				o = tc.opts
			}
			in := slices.Clone(tc.files)
			tasks := Plan("pos_lines", in, planNow, o)
			var got []want
			for _, task := range tasks {
				w := want{dt: task.DT.String(), reason: task.Reason, rows: task.InputRows, outs: task.Outputs}
				var bytes int64
				for _, f := range task.Inputs {
					w.inputs = append(w.inputs, strings.TrimSuffix(f.RelPath[strings.LastIndex(f.RelPath, "/")+1:], ".parquet"))
					bytes += f.Size
				}
				if bytes != task.InputBytes {
					t.Errorf("task %s: InputBytes %d, inputs sum to %d", w.dt, task.InputBytes, bytes)
				}
				if task.Table != "pos_lines" {
					t.Errorf("task table %q", task.Table)
				}
				got = append(got, w)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("plan:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestPlanOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    PlanOptions
		ok   bool
	}{
		{"The zero value is valid", PlanOptions{}, true},
		{"A minimum of one file is refused: it would rewrite single files forever", PlanOptions{MinFiles: 1}, false},
		{"Negative sizes are refused", PlanOptions{TargetFileSize: -1}, false},
		{"A negative quiet period is refused", PlanOptions{QuietAfter: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.validate(); (err == nil) != tc.ok {
				t.Errorf("validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// The planner's date comes from the partition value, never the clock.
func TestPlanDatesComeFromPartitionValues(t *testing.T) {
	tasks := Plan("pos_lines", []delta.File{file("2024-02-29", "a", mib, 100, 1), file("2024-02-29", "b", mib, 100, 1)}, planNow, PlanOptions{})
	if len(tasks) != 1 || tasks[0].DT != schema.NewDate(2024, 2, 29) {
		t.Fatalf("tasks %+v", tasks)
	}
}

func TestNumRecordsReadsTheStatsOfAnyWriter(t *testing.T) {
	tests := []struct {
		stats string
		want  int64
		ok    bool
	}{
		{`{"numRecords":42,"minValues":{"a":1}}`, 42, true},
		{`{"numRecords":7}`, 7, true},
		{`{"minValues":{"a":1},"numRecords":9}`, 9, true}, // another writer's order
		{`{"numRecords":-1}`, -1, true},                   // not a count: the full parse decides
		{``, 0, false},
		{`{"numRecords":`, 0, false},
	}
	for _, tc := range tests {
		n, ok := numRecords(&delta.Add{Path: "p", Stats: tc.stats})
		if n != tc.want || ok != tc.ok {
			t.Errorf("numRecords(%q) = %d, %v; want %d, %v", tc.stats, n, ok, tc.want, tc.ok)
		}
	}
}

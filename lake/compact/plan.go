package compact

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// PlanOptions decide which partitions are worth rewriting. The zero value of
// a field means its default.
type PlanOptions struct {
	// TargetFileSize is the size of the files compaction writes. Default
	// lake.DefaultTargetFileSize (128 MiB).
	TargetFileSize int64
	// SmallFileSize: a file smaller than this is a candidate for rewriting;
	// larger ones are left alone. Default ¾ of TargetFileSize.
	SmallFileSize int64
	// MinFiles: a partition with at least this many small files is compacted.
	// Default 10.
	MinFiles int
	// QuietAfter: a partition with at least two small files, none of them
	// modified for this long, is compacted (a day ingest has finished with).
	// Default 1 hour.
	QuietAfter time.Duration
	// MaxTaskBytes bounds the input of one partition's rewrite; a partition
	// with more small data is rewritten oldest files first, the rest in a
	// later pass. Default 8 GiB.
	MaxTaskBytes int64
}

// Defaults of PlanOptions.
const (
	DefaultMinFiles     = 10
	DefaultQuietAfter   = time.Hour
	DefaultMaxTaskBytes = 8 << 30
)

func (o PlanOptions) withDefaults() PlanOptions {
	if o.TargetFileSize == 0 {
		o.TargetFileSize = lake.DefaultTargetFileSize
	}
	if o.SmallFileSize == 0 {
		o.SmallFileSize = o.TargetFileSize / 4 * 3
	}
	if o.MinFiles == 0 {
		o.MinFiles = DefaultMinFiles
	}
	if o.QuietAfter == 0 {
		o.QuietAfter = DefaultQuietAfter
	}
	if o.MaxTaskBytes == 0 {
		o.MaxTaskBytes = DefaultMaxTaskBytes
	}
	return o
}

func (o PlanOptions) validate() error {
	var errs []error
	if o.TargetFileSize < 0 {
		errs = append(errs, fmt.Errorf("target file size %d < 0", o.TargetFileSize))
	}
	if o.SmallFileSize < 0 {
		errs = append(errs, fmt.Errorf("small file size %d < 0", o.SmallFileSize))
	}
	if o.MinFiles < 0 || o.MinFiles == 1 {
		errs = append(errs, fmt.Errorf("min files %d: want 2 or more", o.MinFiles))
	}
	if o.QuietAfter < 0 {
		errs = append(errs, fmt.Errorf("quiet after %s < 0", o.QuietAfter))
	}
	if o.MaxTaskBytes < 0 {
		errs = append(errs, fmt.Errorf("max task bytes %d < 0", o.MaxTaskBytes))
	}
	return errors.Join(errs...)
}

// Reasons a partition is compacted (Task.Reason).
const (
	ReasonManyFiles  = "many small files"
	ReasonSmallTotal = "small files fill a target file"
	ReasonQuiet      = "quiet partition with small files"
)

// Task is the rewrite of one partition of one table: its Inputs are read,
// sorted by the table's sort key, de-duplicated by its natural key, and
// written as files of the target size that replace them in one commit.
type Task struct {
	Table string
	// DT is the partition's date.
	DT schema.Date
	// Inputs are the files to rewrite, oldest first.
	Inputs []delta.File
	// InputBytes sums the inputs' sizes; InputRows their numRecords (-1 when
	// some file has no stats).
	InputBytes int64
	InputRows  int64
	// Outputs is the expected number of output files:
	// ⌈InputBytes / TargetFileSize⌉.
	Outputs int
	// Reason says why the partition qualified (Reason* constants).
	Reason string
}

// Plan decides, from a table's live files alone, which partitions to
// rewrite. It is pure: no I/O, no clock (now is the caller's).
//
// Per dt partition, the small files (size < SmallFileSize) qualify when
//   - there are at least MinFiles of them (ReasonManyFiles), or
//   - at least two of them together reach TargetFileSize (ReasonSmallTotal), or
//   - at least two of them and none modified within QuietAfter of now
//     (ReasonQuiet);
//
// and then only if the rewrite reduces the number of files (⌈bytes/target⌉
// outputs < inputs), so compaction's own output is never rewritten again
// unless new files arrive. At most MaxTaskBytes of input per partition,
// oldest files first. Files whose dt is not a date are left alone. Tasks come
// ordered by dt.
func Plan(table string, files []delta.File, now time.Time, o PlanOptions) []Task {
	o = o.withDefaults()
	byDT := map[schema.Date][]delta.File{}
	for _, f := range files {
		if f.Size >= o.SmallFileSize || f.Key == "" {
			continue
		}
		d, err := schema.ParseDate(f.PartitionValues[schema.PartitionColumn])
		if err != nil {
			continue
		}
		byDT[d] = append(byDT[d], f)
	}
	var tasks []Task
	for d, small := range byDT {
		if t, ok := planPartition(table, d, small, now, o); ok {
			tasks = append(tasks, t)
		}
	}
	slices.SortFunc(tasks, func(a, b Task) int { return cmp.Compare(a.DT, b.DT) })
	return tasks
}

// planPartition decides on one partition's small files.
func planPartition(table string, d schema.Date, small []delta.File, now time.Time, o PlanOptions) (Task, bool) {
	if len(small) < 2 {
		return Task{}, false
	}
	slices.SortFunc(small, func(a, b delta.File) int {
		return cmp.Or(cmp.Compare(a.ModificationTime, b.ModificationTime), cmp.Compare(a.RelPath, b.RelPath))
	})
	var total, newest int64
	for _, f := range small {
		total += f.Size
		newest = max(newest, f.ModificationTime)
	}
	var reason string
	switch {
	case len(small) >= o.MinFiles:
		reason = ReasonManyFiles
	case total >= o.TargetFileSize:
		reason = ReasonSmallTotal
	case now.Sub(time.UnixMilli(newest)) >= o.QuietAfter:
		reason = ReasonQuiet
	default:
		return Task{}, false
	}
	t := Task{Table: table, DT: d, Reason: reason}
	for _, f := range small {
		if len(t.Inputs) >= 2 && t.InputBytes+f.Size > o.MaxTaskBytes {
			break
		}
		t.Inputs = append(t.Inputs, f)
		t.InputBytes += f.Size
	}
	t.Outputs = int((t.InputBytes + o.TargetFileSize - 1) / o.TargetFileSize)
	t.Outputs = max(t.Outputs, 1)
	if t.Outputs >= len(t.Inputs) {
		return Task{}, false
	}
	t.InputRows = 0
	for _, f := range t.Inputs {
		n, ok := numRecords(&f.Add)
		if !ok {
			t.InputRows = -1
			break
		}
		t.InputRows += n
	}
	return t, true
}

// numRecords returns a file's numRecords statistic. Writers put it first in
// the stats JSON (ours always do), where it is read without decoding the
// rest, which is most of a small file's planning cost; otherwise the whole
// statistics are parsed.
func numRecords(a *delta.Add) (int64, bool) {
	const prefix = `{"numRecords":`
	if s, ok := strings.CutPrefix(a.Stats, prefix); ok {
		end := strings.IndexAny(s, ",}")
		if end > 0 {
			if n, err := strconv.ParseInt(s[:end], 10, 64); err == nil && n >= 0 {
				return n, true
			}
		}
	}
	st, err := a.ParseStats()
	if err != nil || st == nil {
		return 0, false
	}
	return st.NumRecords, true
}

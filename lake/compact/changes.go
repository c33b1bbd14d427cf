package compact

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// logReadConcurrency bounds parallel reads of commit files.
const logReadConcurrency = 8

// errFullRebuild: the changes cannot be told apart (a metadata change, or a
// log that cannot be read back): rebuild everything.
var errFullRebuild = errors.New("full rebuild needed")

// changedDates returns the dt partitions whose data changed in the commits
// from version from through latest.Version(): those with an add or remove
// marked dataChange (compaction's rewrites are not, unless they dropped
// duplicates). With more than maxWalk
// commits, or commits no longer readable, it compares the snapshot at
// from−1 with latest instead (any difference in a partition's files counts).
// When neither works every partition of latest counts.
func changedDates(ctx context.Context, tab *delta.Table, latest *delta.Snapshot, from, maxWalk int64) (map[schema.Date]bool, error) {
	to := latest.Version()
	if from > to {
		return map[schema.Date]bool{}, nil
	}
	if to-from+1 <= maxWalk {
		set, err := walkCommits(ctx, tab, from, to)
		if err == nil {
			return set, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, objstore.ErrNotExist) && !errors.Is(err, errFullRebuild) {
			return nil, err
		}
		if errors.Is(err, errFullRebuild) {
			return everyDate(latest), nil
		}
	}
	old, err := tab.SnapshotAt(ctx, from-1)
	if errors.Is(err, delta.ErrVersionNotFound) {
		return everyDate(latest), nil
	}
	if err != nil {
		return nil, err
	}
	if old.Metadata().SchemaString != latest.Metadata().SchemaString {
		return everyDate(latest), nil
	}
	return diffDates(old.Files(), latest.Files()), nil
}

// walkCommits reads commits from..to and collects the partitions of their
// data-changing adds and removes.
func walkCommits(ctx context.Context, tab *delta.Table, from, to int64) (map[schema.Date]bool, error) {
	n := to - from + 1
	perCommit := make([][]string, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(logReadConcurrency)
	for i := range n {
		v := from + i
		g.Go(func() error {
			key := fmt.Sprintf("%s_delta_log/%020d.json", tab.Prefix(), v)
			rc, err := tab.Bucket().Get(gctx, key)
			if err != nil {
				return fmt.Errorf("read commit %d of %s: %w", v, tab, err)
			}
			acts, err := delta.DecodeActions(rc)
			cerr := rc.Close()
			if err != nil {
				return fmt.Errorf("decode commit %d of %s: %w", v, tab, err)
			}
			if cerr != nil {
				return fmt.Errorf("read commit %d of %s: %w", v, tab, cerr)
			}
			var dts []string
			for _, a := range acts {
				switch {
				case a.Metadata != nil && v > 0:
					return fmt.Errorf("commit %d of %s changes the metadata: %w", v, tab, errFullRebuild)
				case a.Add != nil && a.Add.DataChange:
					dts = append(dts, a.Add.PartitionValues[schema.PartitionColumn])
				case a.Remove != nil && a.Remove.DataChange:
					dts = append(dts, a.Remove.PartitionValues[schema.PartitionColumn])
				}
			}
			perCommit[i] = dts
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	set := map[schema.Date]bool{}
	for _, dts := range perCommit {
		for _, s := range dts {
			d, err := schema.ParseDate(s)
			if err != nil {
				return nil, fmt.Errorf("partition value %q: %w", s, errFullRebuild)
			}
			set[d] = true
		}
	}
	return set, nil
}

// diffDates returns the partitions whose set of files differs between two
// snapshots' file lists.
func diffDates(old, cur []delta.File) map[schema.Date]bool {
	files := func(fs []delta.File) map[string]string {
		m := make(map[string]string, len(fs))
		for _, f := range fs {
			m[f.RelPath] = f.PartitionValues[schema.PartitionColumn]
		}
		return m
	}
	o, c := files(old), files(cur)
	set := map[schema.Date]bool{}
	mark := func(s string) {
		if d, err := schema.ParseDate(s); err == nil {
			set[d] = true
		}
	}
	for p, dt := range o {
		if _, ok := c[p]; !ok {
			mark(dt)
		}
	}
	for p, dt := range c {
		if _, ok := o[p]; !ok {
			mark(dt)
		}
	}
	return set
}

func everyDate(s *delta.Snapshot) map[schema.Date]bool {
	set := map[schema.Date]bool{}
	addDates(set, s.Files())
	return set
}

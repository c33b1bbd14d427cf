package delta

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/objstore"
)

// VacuumReport says what Vacuum did.
type VacuumReport struct {
	// Version is the latest table version when vacuum started.
	Version int64
	// Cutoff is now − retention.
	Cutoff time.Time
	// ProtectedFrom is the oldest version whose files were protected: the
	// version current at Cutoff (time travel to any time ≥ Cutoff lands on
	// it or a later one).
	ProtectedFrom int64
	// Deleted lists the deleted data files (bucket keys), DeletedBytes their
	// total size.
	Deleted      []string
	DeletedBytes int64
	// Kept counts unreferenced files kept because they are younger than the
	// cutoff (in-flight uploads, recent removals).
	Kept int
}

// Vacuum deletes data files under the table prefix that no snapshot within
// the retention window references:
//
//   - protected are the files live at the version current at now−retention
//     (the newest version committed at or before it, or the oldest
//     reconstructible version when all are newer) and every file added by a
//     later version — so SnapshotAsOf any time ≥ now−retention still finds
//     its files — and the live files of the latest version;
//   - of the rest, a file is deleted only if its LastModified is before
//     now−retention (never-committed orphans, uploads in flight are younger)
//     and any tombstone for it has a deletionTimestamp before now−retention.
//
// It lists the table's data prefix (skipping _delta_log/ and other hidden
// directories, those starting with '_' or '.'), which only vacuum does.
// retention must exceed the longest time between a data file's upload and
// its commit.
//
// The top-level metadata/ directory holds Iceberg metadata published beside
// the log (lake/iceberg, as Delta UniForm does) and is never vacuumed.
func (t *Table) Vacuum(ctx context.Context, retention time.Duration, now time.Time) (VacuumReport, error) {
	return t.VacuumKeeping(ctx, retention, now, nil)
}

// VacuumKeeping is Vacuum that also keeps the files in keep (table-relative,
// decoded paths), e.g. those an Iceberg snapshot still lists.
func (t *Table) VacuumKeeping(ctx context.Context, retention time.Duration, now time.Time, keep map[string]bool) (VacuumReport, error) {
	rep, err := t.vacuum(ctx, retention, now, keep)
	if err != nil {
		return rep, fmt.Errorf("vacuum %s: %w", t, err)
	}
	return rep, nil
}

func (t *Table) vacuum(ctx context.Context, retention time.Duration, now time.Time, keep map[string]bool) (VacuumReport, error) {
	if retention < 0 {
		return VacuumReport{}, fmt.Errorf("negative retention %s", retention)
	}
	cutoff := now.Add(-retention)
	rep := VacuumReport{Cutoff: cutoff}
	latest, err := t.Snapshot(ctx)
	if err != nil {
		return rep, err
	}
	if err := checkWritable(*latest.st.protocol, *latest.st.metadata); err != nil {
		return rep, err
	}
	rep.Version = latest.Version()

	l, err := t.listLog(ctx)
	if err != nil {
		return rep, err
	}
	vc, err := t.versionAsOf(ctx, l, cutoff)
	if errors.Is(err, ErrVersionNotFound) {
		vs := travelVersions(l)
		if len(vs) == 0 {
			return rep, fmt.Errorf("%w: no reconstructible version", ErrVersionNotFound)
		}
		vc, err = vs[0], nil
	}
	if err != nil {
		return rep, err
	}
	if vc > latest.Version() {
		vc = latest.Version()
	}
	rep.ProtectedFrom = vc

	protected := map[string]bool{}
	old, err := t.SnapshotAt(ctx, vc)
	if err != nil {
		return rep, err
	}
	for _, e := range old.st.files {
		protected[e.path] = true
	}
	for _, e := range latest.st.files {
		protected[e.path] = true
	}
	// Every file added after vc: read the commits in bounded chunks.
	const chunk = 256
	for from := vc + 1; from <= latest.Version(); from += chunk {
		to := min(from+chunk-1, latest.Version())
		later, err := t.readCommits(ctx, from, to)
		if err != nil {
			return rep, fmt.Errorf("read commits %d to %d: %w", from, to, err)
		}
		for _, acts := range later {
			for _, a := range acts {
				if a.Add != nil {
					p, err := DecodePath(a.Add.Path)
					if err != nil {
						return rep, err
					}
					protected[p] = true
				}
			}
		}
	}
	cutoffMs := cutoff.UnixMilli()
	recentTomb := map[string]bool{}
	for _, r := range latest.st.tombstones {
		if r.DeletionTimestamp == nil || *r.DeletionTimestamp >= cutoffMs {
			if p, err := DecodePath(r.Path); err == nil {
				recentTomb[p] = true
			}
		}
	}

	var victims []objstore.Attributes
	err = t.bucket.List(ctx, t.prefix, func(a objstore.Attributes) error {
		rel := strings.TrimPrefix(a.Key, t.prefix)
		if hiddenPath(rel) || strings.HasPrefix(rel, "metadata/") || protected[rel] || keep[rel] {
			return nil
		}
		if !a.LastModified.Before(cutoff) || recentTomb[rel] {
			rep.Kept++
			return nil
		}
		victims = append(victims, a)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("list %s: %w", t.prefix, err)
	}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.opts.ReadConcurrency)
	for _, a := range victims {
		g.Go(func() error {
			if err := t.bucket.Delete(gctx, a.Key); err != nil {
				return fmt.Errorf("delete %s: %w", a.Key, err)
			}
			mu.Lock()
			rep.Deleted = append(rep.Deleted, a.Key)
			rep.DeletedBytes += a.Size
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	sort.Strings(rep.Deleted)
	t.opts.Logger.Info("vacuumed", "table", t.name, "version", rep.Version, "deleted", len(rep.Deleted), "bytes", rep.DeletedBytes, "kept", rep.Kept)
	return rep, err
}

// hiddenPath reports whether a table-relative path lies in a hidden
// directory or is a hidden file (a segment starting with '_' or '.'), which
// the protocol reserves: _delta_log, _change_data, temporary files.
func hiddenPath(rel string) bool {
	for seg := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

package iceberg

import (
	"context"
	"fmt"
	"strings"

	"github.com/shelflake/shelflake/lake/objstore"
)

// ReferencedFiles returns the table-relative paths of the data files that
// any snapshot retained in the table's current Iceberg metadata lists (an
// empty set for a table without Iceberg metadata). Vacuum keeps them: an
// Iceberg reader time-travelling to a retained snapshot still finds its
// files.
func ReferencedFiles(ctx context.Context, b objstore.Bucket, prefix string) (map[string]bool, error) {
	out := map[string]bool{}
	v, found, err := LatestVersion(ctx, b, prefix)
	if err != nil || !found {
		return out, err
	}
	m, err := ReadMetadata(ctx, b, prefix, v)
	if err != nil {
		return nil, err
	}
	seen := map[string]*manifestState{}
	for _, s := range m.Snapshots {
		ms, err := snapshotManifests(ctx, b, m, prefix, s, seen)
		if err != nil {
			return nil, fmt.Errorf("iceberg snapshot %d of %s: %w", s.SnapshotID, prefix, err)
		}
		for _, mf := range ms {
			for _, e := range mf.entries {
				if e.Status == statusDeleted {
					continue
				}
				if rel, ok := strings.CutPrefix(e.DataFile.FilePath, m.Location+"/"); ok {
					out[rel] = true
				}
			}
		}
	}
	return out, nil
}

package writeback

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// OutboxPrefix is where forecast runs keep their documents in the lake's
// bucket: <OutboxPrefix>dt=<as-of>/<run id>/<document key>.json. It is not a
// Delta table; forecast_runs names the run whose documents count.
const OutboxPrefix = "outbox/replenishment_suggestions/"

// outboxConcurrency bounds parallel object reads and writes.
const outboxConcurrency = 8

// OutboxDir returns the key prefix of a run's documents.
func OutboxDir(asOf schema.Date, runID string) string {
	return OutboxPrefix + "dt=" + asOf.String() + "/" + runID + "/"
}

// PutDocuments stores the documents of run runID in b (overwriting: until
// the run is recorded complete they are drafts that a retried run may
// replace; afterwards nothing writes them again).
func PutDocuments(ctx context.Context, b objstore.Bucket, asOf schema.Date, runID string, docs []*Document) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(outboxConcurrency)
	dir := OutboxDir(asOf, runID)
	for _, d := range docs {
		g.Go(func() error {
			raw, err := d.Marshal()
			if err != nil {
				return err
			}
			key := dir + d.ExternalRef + ".json"
			if err := b.Put(ctx, key, bytes.NewReader(raw)); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// LoadDocuments reads and validates the documents of run runID, ordered by
// key.
func LoadDocuments(ctx context.Context, b objstore.Bucket, asOf schema.Date, runID string) ([]*Document, error) {
	dir := OutboxDir(asOf, runID)
	var keys []string
	err := b.List(ctx, dir, func(a objstore.Attributes) error {
		if strings.HasSuffix(a.Key, ".json") && !strings.Contains(a.Key[len(dir):], "/") {
			keys = append(keys, a.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox of run %s: %w", runID, err)
	}
	slices.Sort(keys)
	docs := make([]*Document, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(outboxConcurrency)
	for i, k := range keys {
		g.Go(func() error {
			rc, err := b.Get(gctx, k)
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			raw, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("outbox: read %s: %w", k, err)
			}
			d, err := ParseDocument(raw)
			if err != nil {
				return fmt.Errorf("outbox %s: %w", k, err)
			}
			if d.ExternalRef+".json" != k[len(dir):] || d.AsOf != asOf || d.RunID != runID {
				return fmt.Errorf("outbox %s: holds document %s of run %s as of %s", k, d.ExternalRef, d.RunID, d.AsOf)
			}
			docs[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return docs, nil
}

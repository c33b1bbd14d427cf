package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/objstore"
)

// openLake opens --lake for a command that needs a lake to be there: it
// sets opts.MustExist (readers also set opts.ReadOnly), so a mistyped path
// fails with one line naming where it looked, and nothing is created.
func openLake(ctx context.Context, uri string, opts lake.Options) (*lake.Lake, error) {
	opts.MustExist = true
	l, err := lake.Open(ctx, uri, opts)
	if errors.Is(err, lake.ErrNoLake) {
		return nil, fmt.Errorf("%w: check --lake (shelflake ingest or shelflake demo create a lake)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("open lake %s: %w", objstore.RedactURI(uri), err)
	}
	return l, nil
}

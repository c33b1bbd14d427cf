// Package laketest helps tests read what a lake holds.
package laketest

import (
	"context"
	"testing"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// Rows reads every live row of table desc in its latest snapshot, as T
// (any struct whose parquet tags name columns of the table).
func Rows[T any](t testing.TB, ctx context.Context, l *lake.Lake, desc *schema.Table) []T {
	t.Helper()
	dt, err := l.Table(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, f := range snap.Files() {
		rows, err := lake.ReadRows[T](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
	return out
}

package job

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// Reconciliation feedback. When the lake has stock_exceptions (written by
// `shelflake reconcile`, package forecast/reconcile) and
// Options.NoReconciliation is false, the run reads its latest queue on or
// before the as-of date and, for each store-SKU with an unresolved
// phantom_stock, negative_on_hand, stale_snapshot, receipt_mismatch,
// overstated_after_count or unexplained_loss exception:
//
//   - the days of a phantom_stock exception (first_seen up to the day
//     before the queue's date) count as stockout days: censored demand, not
//     zero demand;
//   - its stock position takes the reconciled expected_on_hand in place of
//     the record, unless inventory_daily has a newer day than the queue's
//     evidence.
//
// The series' suggestion line then carries the reason code "reconciled"
// after its own. The views stockouts and inventory_daily are replaced by
// the same rows plus the reconciliation's (DuckDB UNION ALL BY NAME).

// reconciledReasons are the exception reasons whose estimate replaces the
// record.
const reconciledReasons = `'phantom_stock', 'negative_on_hand', 'stale_snapshot', 'receipt_mismatch', 'overstated_after_count', 'unexplained_loss'`

const reconciledSQL = `
CREATE OR REPLACE TEMP TABLE reconciled AS
SELECT location_id, sku, reason, expected_on_hand, first_seen, last_seen, dt
FROM stock_exceptions
WHERE dt = (SELECT max(dt) FROM stock_exceptions) AND state <> 'resolved' AND reason IN (` + reconciledReasons + `);
ALTER VIEW stockouts RENAME TO stockouts_lake;
CREATE TEMP VIEW stockouts AS
SELECT * FROM stockouts_lake
UNION ALL BY NAME
SELECT r.location_id, r.sku, CAST(g.d AS DATE) AS dt
FROM reconciled r, LATERAL (SELECT unnest(range(r.first_seen, r.dt, INTERVAL 1 DAY)) AS d) g
WHERE r.reason = 'phantom_stock';
ALTER VIEW inventory_daily RENAME TO inventory_daily_lake;
CREATE TEMP VIEW inventory_daily AS
SELECT * FROM inventory_daily_lake
UNION ALL BY NAME
SELECT location_id, sku, CAST(dt - 1 AS DATE) AS dt, TIMESTAMPTZ '9999-12-31 00:00:00+00' AS as_of,
	expected_on_hand AS on_hand, CAST(0 AS BIGINT) AS allocated
FROM reconciled;`

// applyReconciliation installs the feedback and returns the reconciled
// store-SKUs ("location/sku"), none when the lake has no stock_exceptions,
// and records the queue's version and id in versions and ids: it is one of
// the run's inputs (its run id changes with it), and a shard reads the
// version its --train step read.
func (r *runner) applyReconciliation(ctx context.Context, db *sql.DB, versions map[string]int64, ids map[string]string) (map[string]bool, error) {
	last := r.o.AsOf
	t := schema.TableStockExceptions()
	files, v, id, release, err := r.localFiles(ctx, input{table: t, to: &last, skip: r.o.NoReconciliation})
	if err != nil {
		return nil, err
	}
	defer release()
	versions[t.Name], ids[t.Name] = v, id
	if len(files) == 0 {
		return nil, nil
	}
	scan, err := lake.DuckDBScan(t, files)
	if err != nil {
		return nil, err
	}
	// The files are read into the reconciled table before release.
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TEMP VIEW stock_exceptions AS "+scan); err != nil {
		return nil, fmt.Errorf("view of %s: %w", t.Name, err)
	}
	if _, err := db.ExecContext(ctx, reconciledSQL); err != nil {
		return nil, fmt.Errorf("reconciliation feedback: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT DISTINCT location_id, sku FROM reconciled")
	if err != nil {
		return nil, fmt.Errorf("reconciliation feedback: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var loc, sku string
		if err := rows.Scan(&loc, &sku); err != nil {
			return nil, fmt.Errorf("reconciliation feedback: %w", err)
		}
		out[loc+"/"+sku] = true
	}
	r.log.Info("reconciliation feedback", "store_skus", len(out))
	return out, rows.Err()
}

// withReconciled appends the reason code "reconciled" to reasons when the
// series' inputs came from the reconciliation.
func (r *runner) withReconciled(loc, sku, reasons string) string {
	if !r.reconciled[loc+"/"+sku] {
		return reasons
	}
	if reasons == "" {
		return "reconciled"
	}
	return reasons + ",reconciled"
}

// withReconciledList is withReconciled for a document line's codes.
func (r *runner) withReconciledList(loc, sku string, reasons []string) []string {
	if !r.reconciled[loc+"/"+sku] {
		return reasons
	}
	return append(reasons, "reconciled")
}

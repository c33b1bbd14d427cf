package schema

import (
	"time"

	"github.com/parquet-go/parquet-go"
)

// Reconciliation table names: what `shelflake reconcile` writes (package
// forecast/reconcile).
const (
	TableNameStockExceptions = "stock_exceptions"
)

// Exception reasons (StockExceptionRow.Reason).
const (
	// ReasonTiming: the record lagged the POS (a late batch, a sale after
	// the snapshot's cut-off) and caught up, or is expected to.
	ReasonTiming = "timing"
	// ReasonReceiptMismatch: a PO line booked a receipt and the on hand did
	// not move by it.
	ReasonReceiptMismatch = "receipt_mismatch"
	// ReasonUnexplainedLoss: a count found less than the record (shrink),
	// valued at cost.
	ReasonUnexplainedLoss = "unexplained_loss"
	// ReasonNegativeOnHand: the record shows negative stock.
	ReasonNegativeOnHand = "negative_on_hand"
	// ReasonStaleSnapshot: the published on hand did not change for days
	// while the item sold.
	ReasonStaleSnapshot = "stale_snapshot"
	// ReasonOverstatedAfterCount: the record rose above what the last count
	// (or agreeing snapshot) and POS explain with no receipt or return
	// booked, and stayed there: units on record the shelf never got.
	ReasonOverstatedAfterCount = "overstated_after_count"
	// ReasonPhantomStock: the record shows stock but a run of zero-sales
	// days is improbable at the item's rate: the shelf is likely empty.
	ReasonPhantomStock = "phantom_stock"
)

// Exception states (StockExceptionRow.State).
const (
	ExceptionOpen         = "open"
	ExceptionAcknowledged = "acknowledged"
	ExceptionResolved     = "resolved"
)

// StockExceptionRow is one row of stock_exceptions: the state of one
// store-SKU exception as of dt. Each reconciliation run writes the whole
// queue as its dt partition (replacing a rerun's): every open or
// acknowledged exception, and those resolved that day. A store-SKU has at
// most one unresolved exception; ExceptionID stays the same across runs
// while the problem stays open.
type StockExceptionRow struct {
	DT          Date   `parquet:"-"`
	ExceptionID string `parquet:"exception_id"`
	LocationID  string `parquet:"location_id,dict"`
	SKU         string `parquet:"sku,dict"`
	Reason      string `parquet:"reason,dict"`
	State       string `parquet:"state,dict"`
	// Evidence says in one line what was seen (units, days, probability).
	Evidence string `parquet:"evidence"`
	// RecordOnHand is the latest published on hand; ExpectedOnHand the
	// reconciled estimate (what the shelf most likely holds).
	RecordOnHand   int64 `parquet:"record_on_hand"`
	ExpectedOnHand int64 `parquet:"expected_on_hand"`
	// VarianceUnits is record minus expected (positive: record overstated).
	VarianceUnits int64 `parquet:"variance_units"`
	// Probability is, for phantom stock, the Poisson probability of the
	// zero-sales run at the item's rate (null otherwise).
	Probability *float64 `parquet:"probability,optional"`
	// RatePerDay is the item's recent selling rate on open in-stock days.
	RatePerDay float64 `parquet:"rate_per_day"`
	Currency   string  `parquet:"currency,dict"`
	// ValueAtRisk is the expected lost margin over the lead time (rate ×
	// lead time × (price − cost)) while the problem stays; LossValue the
	// units lost valued at cost (unexplained loss, receipt shortfall).
	ValueAtRisk Money `parquet:"value_at_risk,decimal(4:18)"`
	LossValue   Money `parquet:"loss_value,decimal(4:18)"`
	// LossUnits are the units LossValue counts.
	LossUnits int64 `parquet:"loss_units"`
	// FirstSeen is the business date the problem was first seen (onset);
	// LastSeen the latest date with evidence; AgeDays dt − FirstSeen.
	FirstSeen Date  `parquet:"first_seen,date"`
	LastSeen  Date  `parquet:"last_seen,date"`
	AgeDays   int32 `parquet:"age_days"`
	// ResolvedBy says why a resolved exception closed: count (a count
	// settled it), cleared (the evidence went away: sales resumed, the
	// snapshot moved) or planner.
	ResolvedBy string    `parquet:"resolved_by,optional,dict"`
	RunAt      time.Time `parquet:"run_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt: the as-of date of the run.
func (r *StockExceptionRow) PartitionDate() Date { return r.DT }

// TableStockExceptions describes stock_exceptions.
func TableStockExceptions() *Table {
	return &Table{
		Name:            TableNameStockExceptions,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(StockExceptionRow{}),
		SortKey:         []string{"location_id", "sku"},
		NaturalKey:      []string{"location_id", "sku", "exception_id"},
		Description:     "the stock exception queue as of dt: one row per open, acknowledged or newly resolved store-SKU exception with its reason, evidence and value at risk; dt = as-of date of the reconciliation run",
	}
}

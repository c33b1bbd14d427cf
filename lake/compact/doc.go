// Package compact turns the lake ingest writes into the lake analysts and the
// forecast read: it compacts the raw tables' small files into large files
// sorted by each table's sort key and de-duplicated by its natural key, and
// maintains the unified tables (sales_daily, inventory_daily, po_open,
// lead_times, stockouts) incrementally with DuckDB. It also vacuums the lake
// and benchmarks what compaction buys a query.
//
// Planning is pure (Plan: a table's live files in, tasks out); the Compactor
// executes the tasks — streaming rows through a bounded sort buffer spilled
// to local disk, writing with lake.NewTableWriter, committing Delta rewrites
// that re-plan on conflict — and runs passes once or as a service. The
// Builder rebuilds the unified tables' dt partitions whose source data
// changed since the source version they record. UNIFIED.md in this
// directory defines the policy, every unified column and the commit
// protocol.
package compact

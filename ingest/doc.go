// Package ingest streams shelflake's input topics (POS transactions and the
// ERP feeds) from Kafka into the lake's Delta tables, exactly once.
//
// # Pipeline
//
// One franz-go client consumes the five input topics in one consumer group.
// The poll loop decodes and validates each record with schema's Decoder and
// appends its rows to the buffer of its table (pos_lines,
// inventory_snapshots, purchase_order_lines, item_locations, promotions),
// grouped by business-date partition (dt), or, when it fails, to the rejects
// table and the dead-letter topic. Late and out-of-order events simply land in their own
// dt. A table is flushed when its oldest unflushed progress is
// Options.FlushInterval old (the freshness bound); sooner when its buffer
// reaches Options.FileBytes, when memory runs short, when partitions are
// revoked, at shutdown, and when the partitions are drained (a poll came back
// empty: the end of a backlog or a quiet stream need not wait the whole
// interval; such idle flushes wait for progress a twentieth of the interval
// old, so a trickle makes at most twenty commits per interval). A flush
// writes one Parquet file (or more, past the lake's size target) per date
// it holds, uploads them, and then makes one Delta commit adding them.
// Flushes run in the background (files of several flushes are encoded at
// once, up to Options.FlushWorkers), and the commits of one table go in
// order. Freshness and file size are separate concerns: the files are small
// (zstd's fastest level), and compaction makes them big later.
//
// # Fencing: how exactly-once works
//
// Every table keeps, per topic-partition it is fed by, a Delta txn action
// with appId "<group>/<topic>/<partition>" (see AppID) whose version is the
// next offset of that partition the table has not seen: every record below
// it has its rows (if any) in the table, every record at or above it has
// none. A flush commit carries, for every partition it covers, the fence
// range [From, To): From is the version the ingester believes the table is
// at, To the offset after the last record it saw. The lake accepts the commit
// only if each appId is at exactly From (or, for a partition the table has
// never seen, a First fence, only if the appId is still absent), and moves it
// to To in the same atomic commit that adds the files. So:
//
//   - Rows and offsets commit together; a crash between upload and commit
//     leaves orphan files (vacuum removes them) and no offsets.
//   - A zombie (an ingester that lost its partitions but still runs) and a
//     replay after a crash both try to commit a range whose From is behind
//     the table: refused with ErrFenced. The ingester then counts
//     shelflake_ingest_fenced_commits_total, drops all its buffers, does not
//     retry that commit, reloads the versions from the lake and rewinds its
//     partitions to them (it loses the partitions at its next heartbeat if it
//     really is a zombie; if it is the owner and the zombie got there first,
//     it carries on after the zombie's commit).
//   - A commit attempt that failed for another reason (object store errors)
//     is retried Options.CommitAttempts times; a retry refused by fencing is
//     checked against the lake (if every appId is exactly at To, the earlier
//     attempt landed). After the last attempt the ingester rewinds as above.
//
// To keep the tables of a partition in step, a table's commit advances the
// txn of every partition whose records it has seen since its last commit,
// even when none of them produced a row for it (a txn-only commit, with no
// add action): the rejects table moves forward over valid records, and a
// data table over rejected ones. Without this, a table with no rows from a
// partition would pin that partition's resume offset at its start. Txn-only
// commits are made on the same flush schedule as data commits, so a topic
// that flows costs its data table and the rejects table one commit each per
// flush interval. A data table's flush commits after the rejects flush
// sealed with it: the rejects table is never behind its data tables, so
// the verdict on every record past the data table's txn (rejected or not)
// is durable before the data table passes it.
//
// # Resuming
//
// On assignment (franz-go's AdjustFetchOffsetsFn, after waiting for this
// instance's own flushes still in flight) each partition resumes from the
// lowest txn version over the tables it feeds (its data table and rejects),
// read from the latest snapshots, not from the group's committed offset. Each
// table then skips the records below its own version, so nothing is written
// twice and nothing is skipped, even when a crash came between the commits of
// two tables. Between the data table's version and the rejects table's, the
// rejects table's verdicts stand, whatever this build's decoder says: an
// offset it holds is not written to the data table, and an offset it does not
// hold that the decoder now refuses becomes a late rejects row (verdict.go).
// So a decoder change across a crash neither loses a record nor puts it in
// both tables. Offsets are committed to the consumer group after the lake
// commits (the minimum over the partition's tables), for lag monitoring by
// standard tools only. Revoked partitions are flushed and committed before
// the rebalance proceeds (BlockRebalanceOnPoll and OnPartitionsRevoked); lost
// partitions' buffers are dropped.
//
// # Memory
//
// Buffers are accounted by an estimate of their rows' memory (record bytes
// plus the row structs). Options.MaxBufferBytes bounds buffered plus
// in-flight rows: a table is flushed when its buffer reaches
// Options.FileBytes (at most an eighth of the budget), the largest buffer is
// flushed once the buffers hold half of the budget, and while buffered plus
// in-flight rows reach it every owned partition's fetching is paused
// (PauseFetchPartitions), resumed below three quarters. One fetch is at most
// a thirty-second of the budget in compressed bytes (FetchMaxBytes), which
// bounds the overshoot. Beyond the budget an ingester needs a fixed overhead
// (the runtime, franz-go's buffers, the Parquet encoders of the files being
// written, the tables' Delta snapshots): the command sets the Go runtime's
// soft memory limit to the budget plus 64 MiB (unless GOMEMLIMIT is set), so
// the heap stays near its live size.
//
// # Rejects and the dead-letter topics
//
// A record that fails decoding or validation is counted by reason
// (shelflake_ingest_rejects_total) and kept twice: a row in the rejects table
// (topic, partition, offset, key and value byte for byte, error, reason,
// field; fenced like every table, with its own txn per source partition, so
// it holds every reject exactly once) and a record on "<topic>.dlq" with the
// original key, value, headers and timestamp plus the headers
// shelflake.error, shelflake.reason, shelflake.field,
// shelflake.source.topic, shelflake.source.partition and
// shelflake.source.offset. The dead letters of a rejects flush are produced
// (and acknowledged, with franz-go's idempotent producer) before the flush
// commits, so none is lost; a crash or a fenced zombie between the two makes
// a later flush produce them again: the DLQ topic is at least once, and its
// consumers deduplicate on the source headers. The rejects table is the
// exactly-once record. Records the rejects table already holds are never
// produced again.
//
// # Watermarks: is yesterday final?
//
// Every commit's commitInfo carries "shelflake.ingest": {"group", "trigger",
// "watermarks": [{"topic", "partition", "from", "offset", "eventTime",
// "drainedAt"}]}: per partition the table now holds every record below
// offset; eventTime is the newest event time (POS event_time, inventory
// as_of, PO, item and promotion updated_at) of its rows from that partition;
// drainedAt, when present, is a time before which every record of the
// partition had been produced below offset (the ingester lists the end
// offsets every flush interval; a partition it has consumed to a listed end
// is drained as of the listing). Producers send each store's or location's events in order within
// a partition and after they happen, so a partition is complete up to the
// later of eventTime and drainedAt, minus the producers' allowed lateness; a
// table is complete up to the minimum of that over its partitions (a quiet
// partition does not hold it back: it is drained), and never later than the
// newest event time the table holds. "Complete up to" is an event time, never
// the wall clock: a table whose newest event is last May and whose
// partitions are all drained is complete up to that event, not up to today. Watermarks reads them
// back, one row per table, topic and partition (commit metadata surfaced as
// a table; `shelflake ingest watermarks` prints it), and Complete folds them.
//
// # Inventory snapshots
//
// inventory_snapshots keeps every row of every snapshot (snapshot_id, kind,
// snapshot_rows, as_of). A full snapshot replaces what its location had, so
// "current on hand" is read from one full snapshot per location, never a mix
// of two: the latest full snapshot of the location that is complete (its
// distinct SKUs number snapshot_rows; a snapshot's records may straddle two
// flushes, so an incomplete one is skipped until the rest is committed),
// updated per SKU by the partial snapshots taken after it. In DuckDB SQL:
//
//	WITH snaps AS (
//	  SELECT location_id, snapshot_id, kind, max(as_of) AS as_of,
//	         count(DISTINCT sku) AS n, max(snapshot_rows) AS want
//	  FROM inventory_snapshots GROUP BY ALL),
//	latest AS (
//	  SELECT location_id, arg_max(snapshot_id, as_of) AS snapshot_id, max(as_of) AS as_of
//	  FROM snaps WHERE kind = 'full' AND n = want GROUP BY location_id),
//	rows AS (
//	  SELECT i.* FROM inventory_snapshots i JOIN latest l USING (location_id)
//	  WHERE i.snapshot_id = l.snapshot_id OR (i.kind = 'partial' AND i.as_of > l.as_of))
//	SELECT location_id, sku, arg_max(on_hand, as_of) AS on_hand
//	FROM rows GROUP BY ALL
//
// Compaction builds inventory_daily by the same rule.
//
// # Replaying rejects
//
// ReplayRejects (`shelflake rejects replay`) re-validates the rejects of a
// time range with this build's decoders and writes those that now pass to
// their table, with their original source partition and offset; a fence on
// "<group>/replay/<topic>" and a check of the (src_partition, src_offset)
// the table already holds make it write each record once, however often or
// concurrently it runs.
//
// # Observability
//
// Metrics (prefix shelflake_ingest_): lag_records per partition, records,
// bytes and skipped per topic, rows, files and file bytes written per table,
// rejects by topic and reason, dlq_produced, flush and commit duration
// histograms, commits by kind, commit_conflicts, commit_errors,
// fenced_commits, rewinds, buffer bytes and limit, fetch_paused,
// assigned_partitions, and freshness_seconds (now minus the newest event
// time committed, per table). Handler serves /metrics, /healthz and /readyz.
//
// # Benchmark
//
// RunBench is the end-to-end benchmark (BenchmarkIngest and `shelflake
// bench ingest` run it): an embedded broker holding synthetic POS
// transactions, a consume-only baseline over the same records, ingest into a
// fresh local lake with exactly-once commits, and the freshness of a steady
// stream.
package ingest

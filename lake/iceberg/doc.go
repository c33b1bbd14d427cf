// Package iceberg publishes an Iceberg v2 view of shelflake's Delta tables
// over the same Parquet files, so Iceberg engines (Snowflake, Athena,
// BigQuery, Trino, Spark, icebird, …) read every table without a copy.
//
// Contract:
//
//   - The Delta log stays the truth. Iceberg metadata is derived from it
//     after each successful Delta commit (Publisher.AfterCommit, installed as
//     delta.Options.AfterCommit) and never the other way round: an Iceberg
//     snapshot lists exactly the live files of one Delta version, so it
//     never lists a file Delta has not committed or has removed.
//   - Keys, under each table's prefix: metadata/v<N>.metadata.json (N is the
//     Delta version it mirrors, written with put-if-absent, so two
//     processes publishing the same version agree on one file),
//     metadata/version-hint.text (N, for Hadoop-style readers, written after
//     the metadata and possibly lagging), and the Avro manifest lists
//     (snap-*.avro) and manifests (*-m-*.avro) they reference.
//   - One Iceberg snapshot per Delta version: snapshot-id = sequence-number
//     = the Delta version, summary "delta.version"; appends are "append"
//     snapshots, compaction rewrites "replace" (or "overwrite" when rows were
//     dropped), removals "delete", commits without file changes "replace"
//     with nothing added. table-uuid is the Delta table id; field ids are
//     the Delta columns' positions plus one (the data files carry the same
//     Parquet field ids); the partition spec is identity(dt) with field id
//     1000, or none for an unpartitioned table.
//   - Data files carry record_count, file_size_in_bytes, value_counts,
//     null_value_counts and lower/upper bounds (the spec's single-value
//     serialization) taken from the Delta add action's stats.
//   - Publishing is incremental: the Publisher keeps the last published
//     manifests of each table in memory; a commit writes one manifest for
//     its adds, rewrites only the manifests holding files it removes, and
//     merges the carried manifests once there are more than MaxManifests.
//   - A publication that fails (or a process that dies between its Delta
//     commit and the metadata) leaves the Delta commit standing; the next
//     commit of any publishing process, or Sync (`shelflake iceberg sync`),
//     catches up one snapshot per missed Delta version.
//   - Only tables that already have metadata are kept up (unless
//     Options.Always); Sync starts a table's history at its latest version.
//   - The metadata keeps the last MaxSnapshots snapshots; Delta vacuum
//     keeps every file one of them lists (ReferencedFiles) and never
//     touches metadata/.
package iceberg

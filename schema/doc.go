// Package schema defines shelflake's input streams (the JSON documents producers
// put on Kafka) and its lake tables (the rows written to Parquet), with strict
// decoders that name the failing field path.
//
// Money is exact: [Money] is a signed decimal with four fractional digits held in
// an int64. Business dates are explicit calendar dates ([Date]); event times keep
// the zone the producer sent.
//
// Streams: [POSTransaction], [InventoryRecord], [PurchaseOrderLine],
// [ItemLocation] and [Promotion], decoded by a [Decoder] (one per goroutine)
// or [DecodePOS] and friends; a refusal is a [*DecodeError] with a stable
// Reason code. Producers validate against the JSON Schemas returned by
// [JSONSchema].
//
// Lake tables: one row struct per table ([PosLineRow], [InventoryRow],
// [POLineRow], [ItemLocationRow], [PromotionRow], [RejectRow]) whose parquet
// struct tags are the Parquet schema; [Table] describes each (see [Tables])
// and derives the Delta schemaString from it. Every table is partitioned by dt, a date that is the
// row's PartitionDate and lives only in the file path and the Delta log.
package schema

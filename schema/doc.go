// Package schema defines shelflake's input streams (the JSON documents producers
// put on Kafka) and its lake tables (the rows written to Parquet), with strict
// decoders that name the failing field path.
//
// Money is exact: [Money] is a signed decimal with four fractional digits held in
// an int64. Business dates are explicit calendar dates ([Date]); event times keep
// the zone the producer sent.
package schema

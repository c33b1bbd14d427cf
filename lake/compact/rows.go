package compact

import (
	"cmp"
	"strings"
	"time"
	"unsafe"

	"github.com/shelflake/shelflake/schema"
)

// rowKind is what compaction needs to know of a raw table's row type T.
type rowKind[T any] struct {
	// compare orders rows as compaction writes them: the table's sort key,
	// then its natural key, then newest first (ingested_at, src_partition,
	// src_offset descending), so of rows sharing a natural key (and the sort
	// key, as resends do) the newest comes first.
	compare func(a, b *T) int
	// sameKey reports whether a and b have the same natural key.
	sameKey func(a, b *T) bool
	// size estimates the memory a row holds (struct and string bytes).
	size func(a *T) int64
}

// stringOverhead is a rough per-string allocation overhead (header, malloc
// size class rounding) for memory estimates.
const stringOverhead = 16

func strBytes(ss ...string) int64 {
	var n int64
	for _, s := range ss {
		n += int64(len(s)) + stringOverhead
	}
	return n
}

func timeCompare(a, b time.Time) int { return a.Compare(b) }

// newestFirst orders lineage descending: a later ingest (then a later
// source position) sorts first.
func newestFirst(aAt, bAt time.Time, aPart, bPart int32, aOff, bOff int64) int {
	return cmp.Or(
		timeCompare(bAt, aAt),
		cmp.Compare(bPart, aPart),
		cmp.Compare(bOff, aOff),
	)
}

var posKind = rowKind[schema.PosLineRow]{
	compare: func(a, b *schema.PosLineRow) int {
		return cmp.Or(
			strings.Compare(a.StoreID, b.StoreID),
			strings.Compare(a.SKU, b.SKU),
			timeCompare(a.EventTime, b.EventTime),
			strings.Compare(a.TransactionID, b.TransactionID),
			cmp.Compare(a.LineNo, b.LineNo),
			newestFirst(a.IngestedAt, b.IngestedAt, a.SrcPartition, b.SrcPartition, a.SrcOffset, b.SrcOffset),
		)
	},
	sameKey: func(a, b *schema.PosLineRow) bool {
		return a.TransactionID == b.TransactionID && a.LineNo == b.LineNo
	},
	size: func(a *schema.PosLineRow) int64 {
		return int64(unsafe.Sizeof(*a)) + strBytes(a.TransactionID, a.StoreID, a.RegisterID, a.TxnType,
			a.Currency, a.CustomerID, a.SKU, a.PromotionID)
	},
}

var inventoryKind = rowKind[schema.InventoryRow]{
	compare: func(a, b *schema.InventoryRow) int {
		return cmp.Or(
			strings.Compare(a.LocationID, b.LocationID),
			strings.Compare(a.SKU, b.SKU),
			timeCompare(a.AsOf, b.AsOf),
			newestFirst(a.IngestedAt, b.IngestedAt, a.SrcPartition, b.SrcPartition, a.SrcOffset, b.SrcOffset),
		)
	},
	sameKey: func(a, b *schema.InventoryRow) bool {
		return a.LocationID == b.LocationID && a.SKU == b.SKU && a.AsOf.Equal(b.AsOf)
	},
	size: func(a *schema.InventoryRow) int64 {
		return int64(unsafe.Sizeof(*a)) + strBytes(a.SnapshotID, a.Kind, a.LocationID, a.SKU)
	},
}

var poLineKind = rowKind[schema.POLineRow]{
	compare: func(a, b *schema.POLineRow) int {
		return cmp.Or(
			strings.Compare(a.LocationID, b.LocationID),
			strings.Compare(a.SKU, b.SKU),
			timeCompare(a.UpdatedAt, b.UpdatedAt),
			strings.Compare(a.POID, b.POID),
			cmp.Compare(a.LineNo, b.LineNo),
			newestFirst(a.IngestedAt, b.IngestedAt, a.SrcPartition, b.SrcPartition, a.SrcOffset, b.SrcOffset),
		)
	},
	sameKey: func(a, b *schema.POLineRow) bool {
		return a.POID == b.POID && a.LineNo == b.LineNo && a.UpdatedAt.Equal(b.UpdatedAt)
	},
	size: func(a *schema.POLineRow) int64 {
		return int64(unsafe.Sizeof(*a)) + strBytes(a.POID, a.SupplierID, a.LocationID, a.SKU, a.Status, a.Currency)
	},
}

var itemLocationKind = rowKind[schema.ItemLocationRow]{
	compare: func(a, b *schema.ItemLocationRow) int {
		return cmp.Or(
			strings.Compare(a.LocationID, b.LocationID),
			strings.Compare(a.SKU, b.SKU),
			timeCompare(a.UpdatedAt, b.UpdatedAt),
			newestFirst(a.IngestedAt, b.IngestedAt, a.SrcPartition, b.SrcPartition, a.SrcOffset, b.SrcOffset),
		)
	},
	sameKey: func(a, b *schema.ItemLocationRow) bool {
		return a.LocationID == b.LocationID && a.SKU == b.SKU && a.UpdatedAt.Equal(b.UpdatedAt)
	},
	size: func(a *schema.ItemLocationRow) int64 {
		return int64(unsafe.Sizeof(*a)) + strBytes(a.SKU, a.LocationID, a.Description, a.Category,
			a.Department, a.SupplierID, a.Currency)
	},
}

var promotionKind = rowKind[schema.PromotionRow]{
	compare: func(a, b *schema.PromotionRow) int {
		return cmp.Or(
			strings.Compare(a.SKU, b.SKU),
			strings.Compare(a.PromotionID, b.PromotionID),
			strings.Compare(a.LocationID, b.LocationID), // "" (null: chain-wide) first
			timeCompare(a.UpdatedAt, b.UpdatedAt),
			newestFirst(a.IngestedAt, b.IngestedAt, a.SrcPartition, b.SrcPartition, a.SrcOffset, b.SrcOffset),
		)
	},
	sameKey: func(a, b *schema.PromotionRow) bool {
		return a.PromotionID == b.PromotionID && a.SKU == b.SKU && a.LocationID == b.LocationID &&
			a.UpdatedAt.Equal(b.UpdatedAt)
	},
	size: func(a *schema.PromotionRow) int64 {
		return int64(unsafe.Sizeof(*a)) + strBytes(a.PromotionID, a.SKU, a.LocationID, a.Status)
	},
}

var rejectKind = rowKind[schema.RejectRow]{
	compare: func(a, b *schema.RejectRow) int {
		return cmp.Or(
			strings.Compare(a.Topic, b.Topic),
			cmp.Compare(a.Partition, b.Partition),
			cmp.Compare(a.Offset, b.Offset),
			timeCompare(b.ReceivedAt, a.ReceivedAt),
		)
	},
	sameKey: func(a, b *schema.RejectRow) bool {
		return a.Topic == b.Topic && a.Partition == b.Partition && a.Offset == b.Offset
	},
	size: func(a *schema.RejectRow) int64 {
		return int64(unsafe.Sizeof(*a)) + strBytes(a.Topic, a.Error, a.Reason, a.Field) +
			int64(len(a.Key)+len(a.Value)) + 2*stringOverhead
	},
}

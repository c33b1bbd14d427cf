package schema

import (
	"time"

	"github.com/parquet-go/parquet-go"
)

// TopicPromotion is the ERP's promotion calendar stream (the fifth input
// stream), keyed by sku.
const TopicPromotion = "erp.promotions"

// TableNamePromotions is the lake table of erp.promotions.
const TableNamePromotions = "promotions"

// PromotionStatus is the state of a planned promotion.
type PromotionStatus string

// Promotion statuses.
const (
	PromotionPlanned   PromotionStatus = "planned"
	PromotionCancelled PromotionStatus = "cancelled"
)

// Promotion is one item's planned price promotion, as the ERP publishes it
// on erp.promotions ahead of time, keyed by sku. A retailer plans
// promotions weeks ahead; the forecast reads the calendar as known on its
// as-of date to lift demand on the promotion's days.
//
// The promotion runs on the business dates StartDate..EndDate, both
// included, at LocationID, or at every location when LocationID is empty (a
// chain-wide promotion). DiscountPct is the percent taken off the shelf
// price (1..99). A later document with the same (promotion_id, sku,
// location_id) replaces an earlier one: a changed date range, a changed
// discount, or status cancelled. UpdatedAt carries the publisher's zone;
// its local date is the row's partition.
type Promotion struct {
	SchemaVersion int             `json:"schema_version"`
	PromotionID   string          `json:"promotion_id"`
	SKU           string          `json:"sku"`
	LocationID    string          `json:"location_id,omitempty"`
	StartDate     Date            `json:"start_date"`
	EndDate       Date            `json:"end_date"`
	DiscountPct   int             `json:"discount_pct"`
	Status        PromotionStatus `json:"status"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// PromotionRow is one row of promotions: one published state of an item's
// promotion. LocationID is empty (null) for a chain-wide promotion.
type PromotionRow struct {
	PromotionID           string    `parquet:"promotion_id,dict"`
	SKU                   string    `parquet:"sku,dict"`
	LocationID            string    `parquet:"location_id,optional,dict"`
	StartDate             Date      `parquet:"start_date,date"`
	EndDate               Date      `parquet:"end_date,date"`
	DiscountPct           int32     `parquet:"discount_pct"`
	Status                string    `parquet:"status,dict"`
	UpdatedAt             time.Time `parquet:"updated_at,timestamp(microsecond)"`
	UpdatedAtUTCOffsetMin int32     `parquet:"updated_at_utc_offset_min"`
	BusinessDate          Date      `parquet:"business_date,date"`
	SrcPartition          int32     `parquet:"src_partition"`
	SrcOffset             int64     `parquet:"src_offset"`
	IngestedAt            time.Time `parquet:"ingested_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt partition value: the local date of
// updated_at (the day the ERP published this state).
func (r *PromotionRow) PartitionDate() Date { return r.BusinessDate }

// TablePromotions describes promotions.
func TablePromotions() *Table {
	return &Table{
		Name:            TableNamePromotions,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(PromotionRow{}),
		SortKey:         []string{"sku", "promotion_id", "location_id", "updated_at"},
		NaturalKey:      []string{"promotion_id", "sku", "location_id", "updated_at"},
		Description:     "one row per published state of an item's promotion (location_id null: chain-wide); dt = local date of updated_at",
	}
}

// AppendRows appends p's promotions row to dst.
func (p *Promotion) AppendRows(dst []PromotionRow, src Source) []PromotionRow {
	return append(dst, PromotionRow{
		PromotionID:           p.PromotionID,
		SKU:                   p.SKU,
		LocationID:            p.LocationID,
		StartDate:             p.StartDate,
		EndDate:               p.EndDate,
		DiscountPct:           int32(p.DiscountPct),
		Status:                string(p.Status),
		UpdatedAt:             p.UpdatedAt,
		UpdatedAtUTCOffsetMin: utcOffsetMin(p.UpdatedAt),
		BusinessDate:          DateOf(p.UpdatedAt),
		SrcPartition:          src.Partition,
		SrcOffset:             src.Offset,
		IngestedAt:            src.IngestedAt,
	})
}

package schema

import (
	"time"

	"github.com/parquet-go/parquet-go"
)

// Lake table names.
const (
	TableNamePOSLines           = "pos_lines"
	TableNameInventorySnapshots = "inventory_snapshots"
	TableNamePurchaseOrderLines = "purchase_order_lines"
	TableNameItemLocations      = "item_locations"
	TableNameRejects            = "rejects"
)

// PartitionColumn is the Delta partition column of every lake table: a date
// (the row's business date) written in the file path as dt=YYYY-MM-DD and in
// the add action's partitionValues, never inside the Parquet files.
const PartitionColumn = "dt"

// Source is where a row came from: the Kafka record's partition and offset,
// and when ingest read it. Every lake row carries it (columns src_partition,
// src_offset, ingested_at) so a row can be traced to its record.
type Source struct {
	Partition  int32
	Offset     int64
	IngestedAt time.Time
}

// Struct tags below drive the Parquet schema (parquet.SchemaOf) and, through
// it, the Delta schema string (Table.DeltaSchemaString):
//
//   - money is Money (int64) tagged decimal(4:18): DECIMAL(18,4) on INT64
//     (scale first, then precision, in parquet-go's tag);
//   - dates are Date (int32 days since the epoch) tagged date: INT32 DATE;
//   - instants are time.Time tagged timestamp(microsecond): INT64
//     TIMESTAMP(MICROS, isAdjustedToUTC=true); the producer's zone offset is
//     kept beside it in an *_utc_offset_min column;
//   - optional marks a nullable column; the Go zero value ("" or nil) is
//     written as null;
//   - dict asks for dictionary encoding on low-cardinality strings.
//
// Compression is chosen by the writer (lake), not here.

// PosLineRow is one row of pos_lines: one POS transaction line with its
// transaction's header fields repeated.
type PosLineRow struct {
	TransactionID     string    `parquet:"transaction_id"`
	LineNo            int32     `parquet:"line_no"`
	StoreID           string    `parquet:"store_id,dict"`
	RegisterID        string    `parquet:"register_id,dict"`
	TxnType           string    `parquet:"txn_type,dict"`
	BusinessDate      Date      `parquet:"business_date,date"`
	EventTime         time.Time `parquet:"event_time,timestamp(microsecond)"`
	EventUTCOffsetMin int32     `parquet:"event_utc_offset_min"`
	Currency          string    `parquet:"currency,dict"`
	CustomerID        string    `parquet:"customer_id,optional"`
	TxnTotal          Money     `parquet:"txn_total,decimal(4:18)"`
	SKU               string    `parquet:"sku,dict"`
	Quantity          int64     `parquet:"quantity"`
	UnitPrice         Money     `parquet:"unit_price,decimal(4:18)"`
	Discount          Money     `parquet:"discount,decimal(4:18)"`
	Tax               Money     `parquet:"tax,decimal(4:18)"`
	LineTotal         Money     `parquet:"line_total,decimal(4:18)"`
	PromotionID       string    `parquet:"promotion_id,optional,dict"`
	SrcPartition      int32     `parquet:"src_partition"`
	SrcOffset         int64     `parquet:"src_offset"`
	IngestedAt        time.Time `parquet:"ingested_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt partition value: its business date.
func (r *PosLineRow) PartitionDate() Date { return r.BusinessDate }

// InventoryRow is one row of inventory_snapshots.
type InventoryRow struct {
	SnapshotID       string    `parquet:"snapshot_id"`
	Kind             string    `parquet:"kind,dict"`
	SnapshotRows     int32     `parquet:"snapshot_rows"`
	LocationID       string    `parquet:"location_id,dict"`
	SKU              string    `parquet:"sku,dict"`
	OnHand           int64     `parquet:"on_hand"`
	Allocated        int64     `parquet:"allocated"`
	InTransit        int64     `parquet:"in_transit"`
	AsOf             time.Time `parquet:"as_of,timestamp(microsecond)"`
	AsOfUTCOffsetMin int32     `parquet:"as_of_utc_offset_min"`
	BusinessDate     Date      `parquet:"business_date,date"`
	SrcPartition     int32     `parquet:"src_partition"`
	SrcOffset        int64     `parquet:"src_offset"`
	IngestedAt       time.Time `parquet:"ingested_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt partition value: the local date of as_of.
func (r *InventoryRow) PartitionDate() Date { return r.BusinessDate }

// POLineRow is one row of purchase_order_lines: one state of a PO line.
type POLineRow struct {
	POID                  string    `parquet:"po_id"`
	LineNo                int32     `parquet:"line_no"`
	SupplierID            string    `parquet:"supplier_id,dict"`
	LocationID            string    `parquet:"location_id,dict"`
	SKU                   string    `parquet:"sku,dict"`
	QtyOrdered            int64     `parquet:"qty_ordered"`
	QtyReceived           int64     `parquet:"qty_received"`
	Status                string    `parquet:"status,dict"`
	OrderDate             Date      `parquet:"order_date,date"`
	ExpectedDate          Date      `parquet:"expected_date,date"`
	UpdatedAt             time.Time `parquet:"updated_at,timestamp(microsecond)"`
	UpdatedAtUTCOffsetMin int32     `parquet:"updated_at_utc_offset_min"`
	UnitCost              Money     `parquet:"unit_cost,decimal(4:18)"`
	Currency              string    `parquet:"currency,dict"`
	BusinessDate          Date      `parquet:"business_date,date"`
	SrcPartition          int32     `parquet:"src_partition"`
	SrcOffset             int64     `parquet:"src_offset"`
	IngestedAt            time.Time `parquet:"ingested_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt partition value: the local date of
// updated_at.
func (r *POLineRow) PartitionDate() Date { return r.BusinessDate }

// ItemLocationRow is one row of item_locations: one state of an item's
// replenishment parameters at a location.
type ItemLocationRow struct {
	SKU                   string    `parquet:"sku,dict"`
	LocationID            string    `parquet:"location_id,dict"`
	Description           string    `parquet:"description"`
	Category              string    `parquet:"category,dict"`
	Department            string    `parquet:"department,dict"`
	SupplierID            string    `parquet:"supplier_id,dict"`
	LeadTimeDays          int32     `parquet:"lead_time_days"`
	ReviewPeriodDays      int32     `parquet:"review_period_days"`
	CasePack              int32     `parquet:"case_pack"`
	MOQ                   int32     `parquet:"moq"`
	UnitCost              Money     `parquet:"unit_cost,decimal(4:18)"`
	UnitPrice             Money     `parquet:"unit_price,decimal(4:18)"`
	Currency              string    `parquet:"currency,dict"`
	ServiceLevel          float64   `parquet:"service_level"`
	Active                bool      `parquet:"active"`
	UpdatedAt             time.Time `parquet:"updated_at,timestamp(microsecond)"`
	UpdatedAtUTCOffsetMin int32     `parquet:"updated_at_utc_offset_min"`
	BusinessDate          Date      `parquet:"business_date,date"`
	SrcPartition          int32     `parquet:"src_partition"`
	SrcOffset             int64     `parquet:"src_offset"`
	IngestedAt            time.Time `parquet:"ingested_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt partition value: the local date of
// updated_at.
func (r *ItemLocationRow) PartitionDate() Date { return r.BusinessDate }

// RejectRow is one row of rejects: a Kafka record ingest could not decode,
// kept byte for byte with the reason.
type RejectRow struct {
	Topic        string    `parquet:"topic,dict"`
	Partition    int32     `parquet:"partition"`
	Offset       int64     `parquet:"offset"`
	Key          []byte    `parquet:"key,optional"`
	Value        []byte    `parquet:"value"`
	Error        string    `parquet:"error"`
	Reason       string    `parquet:"reason,dict"`
	Field        string    `parquet:"field,optional"`
	ReceivedAt   time.Time `parquet:"received_at,timestamp(microsecond)"`
	BusinessDate Date      `parquet:"business_date,date"`
}

// PartitionDate returns the row's dt partition value: the UTC date of
// received_at.
func (r *RejectRow) PartitionDate() Date { return r.BusinessDate }

// Table describes one lake table. Its Parquet schema comes from the row
// struct's tags, and its Delta schema string from the Parquet schema plus the
// dt partition column, so one Go definition drives both.
type Table struct {
	// Name is the table's name and its directory under the lake root.
	Name string
	// PartitionColumn is the Delta partition column ("dt"), of type date.
	PartitionColumn string
	// Schema is the Parquet schema of the data files (without dt).
	Schema *parquet.Schema
	// SortKey is the column order rows are sorted by within a file.
	SortKey []string
	// NaturalKey identifies a row; compaction deduplicates on it.
	NaturalKey []string
	// Description says what a row is.
	Description string
}

// TablePOSLines describes pos_lines.
func TablePOSLines() *Table {
	return &Table{
		Name:            TableNamePOSLines,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(PosLineRow{}),
		SortKey:         []string{"store_id", "sku", "event_time"},
		NaturalKey:      []string{"transaction_id", "line_no"},
		Description:     "one row per POS transaction line, header fields repeated; dt = business_date",
	}
}

// TableInventorySnapshots describes inventory_snapshots.
func TableInventorySnapshots() *Table {
	return &Table{
		Name:            TableNameInventorySnapshots,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(InventoryRow{}),
		SortKey:         []string{"location_id", "sku", "as_of"},
		NaturalKey:      []string{"location_id", "sku", "as_of"},
		Description:     "one row per SKU of an ERP inventory snapshot; dt = local date of as_of",
	}
}

// TablePurchaseOrderLines describes purchase_order_lines.
func TablePurchaseOrderLines() *Table {
	return &Table{
		Name:            TableNamePurchaseOrderLines,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(POLineRow{}),
		SortKey:         []string{"location_id", "sku", "updated_at"},
		NaturalKey:      []string{"po_id", "line_no", "updated_at"},
		Description:     "one row per state of a purchase order line; dt = local date of updated_at",
	}
}

// TableItemLocations describes item_locations.
func TableItemLocations() *Table {
	return &Table{
		Name:            TableNameItemLocations,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(ItemLocationRow{}),
		SortKey:         []string{"location_id", "sku", "updated_at"},
		NaturalKey:      []string{"location_id", "sku", "updated_at"},
		Description:     "one row per state of an item's parameters at a location; dt = local date of updated_at",
	}
}

// TableRejects describes rejects.
func TableRejects() *Table {
	return &Table{
		Name:            TableNameRejects,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(RejectRow{}),
		SortKey:         []string{"topic", "partition", "offset"},
		NaturalKey:      []string{"topic", "partition", "offset"},
		Description:     "one row per Kafka record that failed to decode, kept byte for byte; dt = UTC date of received_at",
	}
}

// Tables returns every lake table, in a fixed order.
func Tables() []*Table {
	return []*Table{
		TablePOSLines(),
		TableInventorySnapshots(),
		TablePurchaseOrderLines(),
		TableItemLocations(),
		TablePromotions(),
		TableRejects(),
	}
}

// TableByName returns the lake table called name.
func TableByName(name string) (*Table, bool) {
	switch name {
	case TableNamePOSLines:
		return TablePOSLines(), true
	case TableNameInventorySnapshots:
		return TableInventorySnapshots(), true
	case TableNamePurchaseOrderLines:
		return TablePurchaseOrderLines(), true
	case TableNameItemLocations:
		return TableItemLocations(), true
	case TableNamePromotions:
		return TablePromotions(), true
	case TableNameRejects:
		return TableRejects(), true
	}
	return nil, false
}

// TableForTopic returns the lake table an input topic's records go to (by the
// default topic names).
func TableForTopic(topic string) (*Table, bool) {
	switch topic {
	case TopicPOS:
		return TablePOSLines(), true
	case TopicInventory:
		return TableInventorySnapshots(), true
	case TopicPurchaseOrder:
		return TablePurchaseOrderLines(), true
	case TopicItemLocation:
		return TableItemLocations(), true
	case TopicPromotion:
		return TablePromotions(), true
	}
	return nil, false
}

// utcOffsetMin returns t's zone offset in minutes east of UTC.
func utcOffsetMin(t time.Time) int32 {
	_, off := t.Zone()
	return int32(off / 60)
}

// AppendRows appends one pos_lines row per line of t to dst and returns the
// extended slice. t should have passed decoding (DecodePOS validates it).
func (t *POSTransaction) AppendRows(dst []PosLineRow, src Source) []PosLineRow {
	off := utcOffsetMin(t.EventTime)
	for i := range t.Lines {
		l := &t.Lines[i]
		dst = append(dst, PosLineRow{
			TransactionID:     t.TransactionID,
			LineNo:            int32(l.LineNo),
			StoreID:           t.StoreID,
			RegisterID:        t.RegisterID,
			TxnType:           string(t.Type),
			BusinessDate:      t.BusinessDate,
			EventTime:         t.EventTime,
			EventUTCOffsetMin: off,
			Currency:          t.Currency,
			CustomerID:        t.CustomerID,
			TxnTotal:          t.Total,
			SKU:               l.SKU,
			Quantity:          l.Quantity,
			UnitPrice:         l.UnitPrice,
			Discount:          l.Discount,
			Tax:               l.Tax,
			LineTotal:         l.LineTotal,
			PromotionID:       l.PromotionID,
			SrcPartition:      src.Partition,
			SrcOffset:         src.Offset,
			IngestedAt:        src.IngestedAt,
		})
	}
	return dst
}

// AppendRows appends r's inventory_snapshots row to dst.
func (r *InventoryRecord) AppendRows(dst []InventoryRow, src Source) []InventoryRow {
	return append(dst, InventoryRow{
		SnapshotID:       r.SnapshotID,
		Kind:             string(r.Kind),
		SnapshotRows:     int32(r.SnapshotRows),
		LocationID:       r.LocationID,
		SKU:              r.SKU,
		OnHand:           r.OnHand,
		Allocated:        r.Allocated,
		InTransit:        r.InTransit,
		AsOf:             r.AsOf,
		AsOfUTCOffsetMin: utcOffsetMin(r.AsOf),
		BusinessDate:     DateOf(r.AsOf),
		SrcPartition:     src.Partition,
		SrcOffset:        src.Offset,
		IngestedAt:       src.IngestedAt,
	})
}

// AppendRows appends l's purchase_order_lines row to dst.
func (l *PurchaseOrderLine) AppendRows(dst []POLineRow, src Source) []POLineRow {
	return append(dst, POLineRow{
		POID:                  l.POID,
		LineNo:                int32(l.LineNo),
		SupplierID:            l.SupplierID,
		LocationID:            l.LocationID,
		SKU:                   l.SKU,
		QtyOrdered:            l.QtyOrdered,
		QtyReceived:           l.QtyReceived,
		Status:                string(l.Status),
		OrderDate:             l.OrderDate,
		ExpectedDate:          l.ExpectedDate,
		UpdatedAt:             l.UpdatedAt,
		UpdatedAtUTCOffsetMin: utcOffsetMin(l.UpdatedAt),
		UnitCost:              l.UnitCost,
		Currency:              l.Currency,
		BusinessDate:          DateOf(l.UpdatedAt),
		SrcPartition:          src.Partition,
		SrcOffset:             src.Offset,
		IngestedAt:            src.IngestedAt,
	})
}

// AppendRows appends il's item_locations row to dst.
func (il *ItemLocation) AppendRows(dst []ItemLocationRow, src Source) []ItemLocationRow {
	return append(dst, ItemLocationRow{
		SKU:                   il.SKU,
		LocationID:            il.LocationID,
		Description:           il.Description,
		Category:              il.Category,
		Department:            il.Department,
		SupplierID:            il.SupplierID,
		LeadTimeDays:          int32(il.LeadTimeDays),
		ReviewPeriodDays:      int32(il.ReviewPeriodDays),
		CasePack:              int32(il.CasePack),
		MOQ:                   int32(il.MOQ),
		UnitCost:              il.UnitCost,
		UnitPrice:             il.UnitPrice,
		Currency:              il.Currency,
		ServiceLevel:          il.ServiceLevel,
		Active:                il.Active,
		UpdatedAt:             il.UpdatedAt,
		UpdatedAtUTCOffsetMin: utcOffsetMin(il.UpdatedAt),
		BusinessDate:          DateOf(il.UpdatedAt),
		SrcPartition:          src.Partition,
		SrcOffset:             src.Offset,
		IngestedAt:            src.IngestedAt,
	})
}

// NewRejectRow builds the rejects row of a record that failed to decode with
// err: Reason and Field come from the *DecodeError in err's chain (see
// ReasonOf and FieldOf), Error is err's full message, and BusinessDate is the
// UTC date of receivedAt. key and value are kept, not copied; a nil key is
// written as null.
func NewRejectRow(topic string, partition int32, offset int64, key, value []byte, err error, receivedAt time.Time) RejectRow {
	reason, field := ReasonOf(err), FieldOf(err)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return RejectRow{
		Topic:        topic,
		Partition:    partition,
		Offset:       offset,
		Key:          key,
		Value:        value,
		Error:        msg,
		Reason:       reason,
		Field:        field,
		ReceivedAt:   receivedAt,
		BusinessDate: DateOf(receivedAt.UTC()),
	}
}

package schema

import "time"

// Topic names of the input streams (defaults; ingest can rename them). The
// fifth, TopicPromotion, is with its types in promotion.go.
const (
	TopicPOS           = "pos.transactions"
	TopicInventory     = "erp.inventory"
	TopicPurchaseOrder = "erp.purchase_orders"
	TopicItemLocation  = "erp.item_locations"
)

// Topics lists the input streams in a fixed order.
var Topics = []string{TopicPOS, TopicInventory, TopicPurchaseOrder, TopicItemLocation, TopicPromotion}

// CurrentVersion is the schema_version every stream is at today.
const CurrentVersion = 1

// TxnType is the kind of a POS transaction.
type TxnType string

const (
	TxnSale   TxnType = "sale"
	TxnReturn TxnType = "return"
	TxnVoid   TxnType = "void"
)

// POSTransaction is one document on pos.transactions, keyed by store_id.
//
// Amount rules: every line has line_total = sign × (|quantity| × unit_price −
// discount + tax), sign = −1 for returns and +1 otherwise; discount and tax are
// magnitudes (never negative). Sales and voids have positive quantities, returns
// negative ones. The transaction total is the sum of line totals, and tenders
// sum to the total; each within one cent per line of rounding.
type POSTransaction struct {
	SchemaVersion int       `json:"schema_version"`
	TransactionID string    `json:"transaction_id"`
	StoreID       string    `json:"store_id"`
	RegisterID    string    `json:"register_id"`
	Type          TxnType   `json:"type"`
	BusinessDate  Date      `json:"business_date"`
	EventTime     time.Time `json:"event_time"`
	Currency      string    `json:"currency"`
	CustomerID    string    `json:"customer_id,omitempty"`
	Total         Money     `json:"total"`
	Tenders       []Tender  `json:"tenders"`
	Lines         []POSLine `json:"lines"`
}

// Tender is one means of payment of a transaction.
type Tender struct {
	Type   string `json:"type"` // cash, card, gift_card, store_credit, other
	Amount Money  `json:"amount"`
}

// POSLine is one item line of a POS transaction.
type POSLine struct {
	LineNo      int    `json:"line_no"`
	SKU         string `json:"sku"`
	Quantity    int64  `json:"quantity"`
	UnitPrice   Money  `json:"unit_price"`
	Discount    Money  `json:"discount"`
	Tax         Money  `json:"tax"`
	LineTotal   Money  `json:"line_total"`
	PromotionID string `json:"promotion_id,omitempty"`
}

// SnapshotKind says whether an inventory snapshot replaces all of a location's
// stock (full) or updates some SKUs (partial).
type SnapshotKind string

const (
	SnapshotFull    SnapshotKind = "full"
	SnapshotPartial SnapshotKind = "partial"
)

// InventoryRecord is one row of an ERP inventory snapshot on erp.inventory, keyed
// by location_id. All rows of one snapshot share snapshot_id, kind and as_of;
// snapshot_rows is how many rows the snapshot has, so a reader knows when a full
// snapshot is complete.
type InventoryRecord struct {
	SchemaVersion int          `json:"schema_version"`
	SnapshotID    string       `json:"snapshot_id"`
	Kind          SnapshotKind `json:"kind"`
	SnapshotRows  int          `json:"snapshot_rows"`
	LocationID    string       `json:"location_id"`
	SKU           string       `json:"sku"`
	OnHand        int64        `json:"on_hand"`
	Allocated     int64        `json:"allocated"`
	InTransit     int64        `json:"in_transit"`
	AsOf          time.Time    `json:"as_of"`
}

// POStatus is the state of a purchase order line.
type POStatus string

const (
	POOpen              POStatus = "open"
	POPartiallyReceived POStatus = "partially_received"
	POReceived          POStatus = "received"
	POCancelled         POStatus = "cancelled"
)

// PurchaseOrderLine is one state of a PO line on erp.purchase_orders, keyed by
// location_id. A line is sent again whenever it changes; updated_at orders them.
type PurchaseOrderLine struct {
	SchemaVersion int       `json:"schema_version"`
	POID          string    `json:"po_id"`
	LineNo        int       `json:"line_no"`
	SupplierID    string    `json:"supplier_id"`
	LocationID    string    `json:"location_id"`
	SKU           string    `json:"sku"`
	QtyOrdered    int64     `json:"qty_ordered"`
	QtyReceived   int64     `json:"qty_received"`
	Status        POStatus  `json:"status"`
	OrderDate     Date      `json:"order_date"`
	ExpectedDate  Date      `json:"expected_date"`
	UpdatedAt     time.Time `json:"updated_at"`
	UnitCost      Money     `json:"unit_cost"`
	Currency      string    `json:"currency"`
}

// ItemLocation carries an item's replenishment parameters at one location, on
// erp.item_locations, keyed by location_id. ServiceLevel is the target
// probability of not stocking out in a cycle (0 < s < 1); it is a ratio, not
// money, so a float is exact enough.
type ItemLocation struct {
	SchemaVersion    int       `json:"schema_version"`
	SKU              string    `json:"sku"`
	LocationID       string    `json:"location_id"`
	Description      string    `json:"description"`
	Category         string    `json:"category"`
	Department       string    `json:"department"`
	SupplierID       string    `json:"supplier_id"`
	LeadTimeDays     int       `json:"lead_time_days"`
	ReviewPeriodDays int       `json:"review_period_days"`
	CasePack         int       `json:"case_pack"`
	MOQ              int       `json:"moq"`
	UnitCost         Money     `json:"unit_cost"`
	UnitPrice        Money     `json:"unit_price"`
	Currency         string    `json:"currency"`
	ServiceLevel     float64   `json:"service_level"`
	Active           bool      `json:"active"`
	UpdatedAt        time.Time `json:"updated_at"`
}

package schema

import (
	"time"

	"github.com/parquet-go/parquet-go"
)

// Unified table names: the tables compaction derives from the raw tables
// (package lake/compact, whose UNIFIED.md defines every column).
const (
	TableNameSalesDaily     = "sales_daily"
	TableNameInventoryDaily = "inventory_daily"
	TableNamePOOpen         = "po_open"
	TableNameLeadTimes      = "lead_times"
	TableNameStockouts      = "stockouts"
)

// The unified row types follow the raw tables' conventions (see the comment
// above PosLineRow): Money as DECIMAL(18,4), Date as DATE, instants as
// TIMESTAMP(MICROS, UTC). Their dt partition value is the DT field, tagged
// parquet:"-": it lives in the file path and the Delta log, not in the file.

// SalesDailyRow is one row of sales_daily: a store's sales of a SKU on one
// business date (dt), from its POS lines de-duplicated by (transaction_id,
// line_no), voids excluded. Amounts are in the store's currency, tax
// excluded.
type SalesDailyRow struct {
	DT       Date   `parquet:"-"`
	StoreID  string `parquet:"store_id,dict"`
	SKU      string `parquet:"sku,dict"`
	Currency string `parquet:"currency,dict"`
	// UnitsSold sums the quantities of sale lines.
	UnitsSold int64 `parquet:"units_sold"`
	// UnitsReturned sums the quantities of return lines, as a positive number.
	UnitsReturned int64 `parquet:"units_returned"`
	// GrossSales sums quantity × unit_price over sale lines.
	GrossSales Money `parquet:"gross_sales,decimal(4:18)"`
	// Discounts sums the discounts of sale lines.
	Discounts Money `parquet:"discounts,decimal(4:18)"`
	// Returns sums |quantity| × unit_price − discount over return lines.
	Returns Money `parquet:"returns,decimal(4:18)"`
	// NetSales is GrossSales − Discounts − Returns.
	NetSales Money `parquet:"net_sales,decimal(4:18)"`
	// Transactions counts the distinct sale transactions with a line of the
	// SKU.
	Transactions int64 `parquet:"transactions"`
}

// PartitionDate returns the row's dt: the business date.
func (r *SalesDailyRow) PartitionDate() Date { return r.DT }

// InventoryDailyRow is one row of inventory_daily: a location's stock of a
// SKU at the end of dt, from that day's snapshots (see UNIFIED.md: the latest
// complete full snapshot of the day, later partial rows of the day on top).
type InventoryDailyRow struct {
	DT         Date   `parquet:"-"`
	LocationID string `parquet:"location_id,dict"`
	SKU        string `parquet:"sku,dict"`
	OnHand     int64  `parquet:"on_hand"`
	Allocated  int64  `parquet:"allocated"`
	InTransit  int64  `parquet:"in_transit"`
	// AsOf is the time of the snapshot row the state comes from.
	AsOf time.Time `parquet:"as_of,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt.
func (r *InventoryDailyRow) PartitionDate() Date { return r.DT }

// POOpenRow is one row of po_open: the purchase order quantity still open at
// the end of dt for a location, SKU and supplier.
type POOpenRow struct {
	DT         Date   `parquet:"-"`
	LocationID string `parquet:"location_id,dict"`
	SKU        string `parquet:"sku,dict"`
	SupplierID string `parquet:"supplier_id,dict"`
	// QtyOpen sums qty_ordered − qty_received over the open and partially
	// received lines.
	QtyOpen int64 `parquet:"qty_open"`
	// NextExpectedDate is the earliest expected_date of those lines.
	NextExpectedDate Date `parquet:"next_expected_date,date"`
	// OpenLines counts those lines.
	OpenLines int64 `parquet:"open_lines"`
}

// PartitionDate returns the row's dt.
func (r *POOpenRow) PartitionDate() Date { return r.DT }

// LeadTimeRow is one row of lead_times: a purchase order line that reached
// received; dt is its received date.
type LeadTimeRow struct {
	DT           Date   `parquet:"-"`
	SupplierID   string `parquet:"supplier_id,dict"`
	LocationID   string `parquet:"location_id,dict"`
	SKU          string `parquet:"sku,dict"`
	POID         string `parquet:"po_id"`
	LineNo       int32  `parquet:"line_no"`
	OrderDate    Date   `parquet:"order_date,date"`
	ExpectedDate Date   `parquet:"expected_date,date"`
	// ReceivedDate is the local date of the line's first received state.
	ReceivedDate Date `parquet:"received_date,date"`
	// LeadTimeDays is ReceivedDate − OrderDate.
	LeadTimeDays int32 `parquet:"lead_time_days"`
	QtyOrdered   int64 `parquet:"qty_ordered"`
	QtyReceived  int64 `parquet:"qty_received"`
}

// PartitionDate returns the row's dt: the received date.
func (r *LeadTimeRow) PartitionDate() Date { return r.DT }

// StockoutRow is one row of stockouts: a location and SKU whose on hand in
// inventory_daily was zero or less at the end of dt, so demand that day was
// censored.
type StockoutRow struct {
	DT         Date   `parquet:"-"`
	LocationID string `parquet:"location_id,dict"`
	SKU        string `parquet:"sku,dict"`
}

// PartitionDate returns the row's dt.
func (r *StockoutRow) PartitionDate() Date { return r.DT }

// TableSalesDaily describes sales_daily.
func TableSalesDaily() *Table {
	return &Table{
		Name:            TableNameSalesDaily,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(SalesDailyRow{}),
		SortKey:         []string{"store_id", "sku"},
		NaturalKey:      []string{"store_id", "sku"},
		Description:     "one row per store, SKU and business date (dt): sales, returns and amounts from de-duplicated POS lines, voids excluded",
	}
}

// TableInventoryDaily describes inventory_daily.
func TableInventoryDaily() *Table {
	return &Table{
		Name:            TableNameInventoryDaily,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(InventoryDailyRow{}),
		SortKey:         []string{"location_id", "sku"},
		NaturalKey:      []string{"location_id", "sku"},
		Description:     "one row per location, SKU and date (dt): stock at the end of the day from the latest complete full snapshot and later partial rows",
	}
}

// TablePOOpen describes po_open.
func TablePOOpen() *Table {
	return &Table{
		Name:            TableNamePOOpen,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(POOpenRow{}),
		SortKey:         []string{"location_id", "sku", "supplier_id"},
		NaturalKey:      []string{"location_id", "sku", "supplier_id"},
		Description:     "one row per location, SKU, supplier and date (dt) with purchase order quantity open at the end of the day",
	}
}

// TableLeadTimes describes lead_times.
func TableLeadTimes() *Table {
	return &Table{
		Name:            TableNameLeadTimes,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(LeadTimeRow{}),
		SortKey:         []string{"location_id", "supplier_id", "sku", "po_id", "line_no"},
		NaturalKey:      []string{"po_id", "line_no"},
		Description:     "one row per purchase order line that reached received; dt = received date",
	}
}

// TableStockouts describes stockouts.
func TableStockouts() *Table {
	return &Table{
		Name:            TableNameStockouts,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(StockoutRow{}),
		SortKey:         []string{"location_id", "sku"},
		NaturalKey:      []string{"location_id", "sku"},
		Description:     "one row per location, SKU and date (dt) whose end-of-day on hand in inventory_daily was zero or less",
	}
}

// UnifiedTables returns every unified table, in a fixed order. Tables
// returns the raw tables only.
func UnifiedTables() []*Table {
	return []*Table{
		TableSalesDaily(),
		TableInventoryDaily(),
		TablePOOpen(),
		TableLeadTimes(),
		TableStockouts(),
	}
}

// UnifiedTableByName returns the unified table called name.
func UnifiedTableByName(name string) (*Table, bool) {
	for _, t := range UnifiedTables() {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// LookupTable returns the raw or unified table called name.
func LookupTable(name string) (*Table, bool) {
	if t, ok := TableByName(name); ok {
		return t, true
	}
	return UnifiedTableByName(name)
}

// AllTables returns the raw tables (Tables) followed by the unified tables
// (UnifiedTables).
func AllTables() []*Table {
	return append(Tables(), UnifiedTables()...)
}

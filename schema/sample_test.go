package schema

import "time"

// Valid sample documents shared by the tests and benchmarks.

func samplePOS() POSTransaction {
	paris := time.FixedZone("", 2*3600)
	lines := []POSLine{
		{LineNo: 1, SKU: "SKU-000123", Quantity: 2, UnitPrice: 34990, Discount: 0, Tax: 5598, LineTotal: 75578},
		{LineNo: 2, SKU: "SKU-004711", Quantity: 1, UnitPrice: 129900, Discount: 13000, Tax: 18704, LineTotal: 135604, PromotionID: "PROMO-17"},
		{LineNo: 3, SKU: "SKU-000042", Quantity: 6, UnitPrice: 8950, Discount: 0, Tax: 3759, LineTotal: 57459},
	}
	var total Money
	for _, l := range lines {
		total += l.LineTotal
	}
	return POSTransaction{
		SchemaVersion: 1,
		TransactionID: "S012-R03-20250601-000187",
		StoreID:       "S012",
		RegisterID:    "S012-R03",
		Type:          TxnSale,
		BusinessDate:  NewDate(2025, 6, 1),
		EventTime:     time.Date(2025, 6, 1, 17, 42, 13, 250_000_000, paris),
		Currency:      "EUR",
		CustomerID:    "LOY-88812",
		Total:         total,
		Tenders:       []Tender{{Type: "card", Amount: total - 200000}, {Type: "cash", Amount: 200000}},
		Lines:         lines,
	}
}

func sampleReturn() POSTransaction {
	return POSTransaction{
		SchemaVersion: 1,
		TransactionID: "S001-R01-20250602-000003",
		StoreID:       "S001",
		RegisterID:    "S001-R01",
		Type:          TxnReturn,
		BusinessDate:  NewDate(2025, 6, 2),
		EventTime:     time.Date(2025, 6, 2, 9, 5, 0, 0, time.UTC),
		Currency:      "USD",
		Total:         -21600,
		Tenders:       []Tender{{Type: "card", Amount: -21600}},
		Lines: []POSLine{
			{LineNo: 1, SKU: "SKU-1", Quantity: -1, UnitPrice: 20000, Tax: 1600, LineTotal: -21600},
		},
	}
}

func sampleInventory() InventoryRecord {
	return InventoryRecord{
		SchemaVersion: 1,
		SnapshotID:    "INV-DC01-20250601",
		Kind:          SnapshotFull,
		SnapshotRows:  200,
		LocationID:    "DC01",
		SKU:           "SKU-000123",
		OnHand:        -3,
		Allocated:     12,
		InTransit:     48,
		AsOf:          time.Date(2025, 6, 1, 23, 59, 0, 0, time.FixedZone("", -4*3600)),
	}
}

func samplePO() PurchaseOrderLine {
	return PurchaseOrderLine{
		SchemaVersion: 1,
		POID:          "PO-2025-000981",
		LineNo:        4,
		SupplierID:    "SUP-07",
		LocationID:    "S012",
		SKU:           "SKU-000123",
		QtyOrdered:    120,
		QtyReceived:   48,
		Status:        POPartiallyReceived,
		OrderDate:     NewDate(2025, 5, 20),
		ExpectedDate:  NewDate(2025, 6, 3),
		UpdatedAt:     time.Date(2025, 6, 1, 8, 15, 30, 0, time.FixedZone("", 5*3600+30*60)),
		UnitCost:      17455,
		Currency:      "EUR",
	}
}

func sampleItemLocation() ItemLocation {
	return ItemLocation{
		SchemaVersion:    1,
		SKU:              "SKU-000123",
		LocationID:       "S012",
		Description:      "Espresso beans 1 kg \"Crema\" — dark roast",
		Category:         "coffee",
		Department:       "grocery",
		SupplierID:       "SUP-07",
		LeadTimeDays:     9,
		ReviewPeriodDays: 7,
		CasePack:         6,
		MOQ:              12,
		UnitCost:         17455,
		UnitPrice:        34990,
		Currency:         "EUR",
		ServiceLevel:     0.975,
		Active:           true,
		UpdatedAt:        time.Date(2025, 5, 30, 6, 0, 0, 0, time.UTC),
	}
}

// samplePromotion is a chain-wide promotion (no location_id).
func samplePromotion() Promotion {
	return Promotion{
		SchemaVersion: 1,
		PromotionID:   "PR-0042-03",
		SKU:           "SKU-000123",
		StartDate:     NewDate(2025, 7, 7),
		EndDate:       NewDate(2025, 7, 13),
		DiscountPct:   20,
		Status:        PromotionPlanned,
		UpdatedAt:     time.Date(2025, 6, 2, 9, 30, 0, 0, time.FixedZone("", 2*3600)),
	}
}

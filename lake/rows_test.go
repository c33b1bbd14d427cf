package lake

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// Test rows of every lake table, deterministic for a seed. They cover
// negative and fractional money, several business dates, instants in
// several zones with microseconds, nulls in optional columns and empty
// strings where a column is required.

var testZones = []*time.Location{
	time.UTC,
	time.FixedZone("CET", 3600),
	time.FixedZone("EDT", -4*3600),
	time.FixedZone("IST", 5*3600+1800),
}

func testInstant(r *rand.Rand, day schema.Date) time.Time {
	loc := testZones[r.IntN(len(testZones))]
	sec := r.IntN(86400)
	usec := r.IntN(1_000_000)
	return day.In(loc).Add(time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond)
}

func testMoney(r *rand.Rand, neg bool) schema.Money {
	m := schema.Money(r.Int64N(10_000_000)) // up to 1000.0000, all four digits used
	if neg && r.IntN(4) == 0 {
		m = -m
	}
	return m
}

func posLineRows(seed uint64, n int, day schema.Date) []schema.PosLineRow {
	r := rand.New(rand.NewPCG(seed, 1))
	rows := make([]schema.PosLineRow, n)
	for i := range rows {
		t := testInstant(r, day)
		_, off := t.Zone()
		row := schema.PosLineRow{
			TransactionID:     fmt.Sprintf("T%08d", i/3),
			LineNo:            int32(i%3 + 1),
			StoreID:           fmt.Sprintf("S%03d", r.IntN(20)),
			RegisterID:        fmt.Sprintf("R%02d", r.IntN(8)),
			TxnType:           []string{"sale", "return", "void"}[r.IntN(3)],
			BusinessDate:      day,
			EventTime:         t,
			EventUTCOffsetMin: int32(off / 60),
			Currency:          "EUR",
			TxnTotal:          testMoney(r, true),
			SKU:               fmt.Sprintf("SKU-%05d", r.IntN(5000)),
			Quantity:          int64(r.IntN(10) - 2),
			UnitPrice:         testMoney(r, false),
			Discount:          testMoney(r, false),
			Tax:               testMoney(r, false),
			LineTotal:         testMoney(r, true),
			SrcPartition:      int32(r.IntN(4)),
			SrcOffset:         int64(i),
			IngestedAt:        t.Add(time.Duration(r.IntN(5000)) * time.Millisecond).UTC(),
		}
		if r.IntN(3) == 0 {
			row.CustomerID = fmt.Sprintf("C%06d", r.IntN(100000))
		}
		if r.IntN(5) == 0 {
			row.PromotionID = fmt.Sprintf("P%02d", r.IntN(30))
		}
		rows[i] = row
	}
	return rows
}

func inventoryRows(seed uint64, n int, day schema.Date) []schema.InventoryRow {
	r := rand.New(rand.NewPCG(seed, 2))
	rows := make([]schema.InventoryRow, n)
	for i := range rows {
		t := testInstant(r, day)
		_, off := t.Zone()
		rows[i] = schema.InventoryRow{
			SnapshotID:       fmt.Sprintf("SNAP-%04d", i/50),
			Kind:             []string{"full", "partial"}[r.IntN(2)],
			SnapshotRows:     50,
			LocationID:       fmt.Sprintf("L%03d", r.IntN(30)),
			SKU:              fmt.Sprintf("SKU-%05d", r.IntN(5000)),
			OnHand:           int64(r.IntN(500)),
			Allocated:        int64(r.IntN(20)),
			InTransit:        int64(r.IntN(100)),
			AsOf:             t,
			AsOfUTCOffsetMin: int32(off / 60),
			BusinessDate:     day,
			SrcPartition:     int32(r.IntN(4)),
			SrcOffset:        int64(i),
			IngestedAt:       t.Add(time.Second).UTC(),
		}
	}
	return rows
}

func poLineRows(seed uint64, n int, day schema.Date) []schema.POLineRow {
	r := rand.New(rand.NewPCG(seed, 3))
	rows := make([]schema.POLineRow, n)
	for i := range rows {
		t := testInstant(r, day)
		_, off := t.Zone()
		ordered := int64(r.IntN(200) + 1)
		rows[i] = schema.POLineRow{
			POID:                  fmt.Sprintf("PO-%06d", i/4),
			LineNo:                int32(i%4 + 1),
			SupplierID:            fmt.Sprintf("SUP%02d", r.IntN(12)),
			LocationID:            fmt.Sprintf("L%03d", r.IntN(30)),
			SKU:                   fmt.Sprintf("SKU-%05d", r.IntN(5000)),
			QtyOrdered:            ordered,
			QtyReceived:           r.Int64N(ordered + 1),
			Status:                []string{"open", "partially_received", "received", "cancelled"}[r.IntN(4)],
			OrderDate:             day.AddDays(-r.IntN(30)),
			ExpectedDate:          day.AddDays(r.IntN(30)),
			UpdatedAt:             t,
			UpdatedAtUTCOffsetMin: int32(off / 60),
			UnitCost:              testMoney(r, false),
			Currency:              "USD",
			BusinessDate:          day,
			SrcPartition:          int32(r.IntN(4)),
			SrcOffset:             int64(i),
			IngestedAt:            t.Add(time.Second).UTC(),
		}
	}
	return rows
}

func itemLocationRows(seed uint64, n int, day schema.Date) []schema.ItemLocationRow {
	r := rand.New(rand.NewPCG(seed, 4))
	rows := make([]schema.ItemLocationRow, n)
	for i := range rows {
		t := testInstant(r, day)
		_, off := t.Zone()
		rows[i] = schema.ItemLocationRow{
			SKU:                   fmt.Sprintf("SKU-%05d", i),
			LocationID:            fmt.Sprintf("L%03d", r.IntN(30)),
			Description:           fmt.Sprintf("Item %d — crème brûlée, 250 g", i),
			Category:              fmt.Sprintf("CAT%02d", r.IntN(10)),
			Department:            fmt.Sprintf("DEP%d", r.IntN(4)),
			SupplierID:            fmt.Sprintf("SUP%02d", r.IntN(12)),
			LeadTimeDays:          int32(r.IntN(20) + 1),
			ReviewPeriodDays:      int32(r.IntN(7) + 1),
			CasePack:              int32([]int{1, 6, 12, 24}[r.IntN(4)]),
			MOQ:                   int32(r.IntN(10)),
			UnitCost:              testMoney(r, false),
			UnitPrice:             testMoney(r, false),
			Currency:              "GBP",
			ServiceLevel:          []float64{0.9, 0.95, 0.975, 0.99}[r.IntN(4)],
			Active:                r.IntN(5) != 0,
			UpdatedAt:             t,
			UpdatedAtUTCOffsetMin: int32(off / 60),
			BusinessDate:          day,
			SrcPartition:          int32(r.IntN(4)),
			SrcOffset:             int64(i),
			IngestedAt:            t.Add(time.Second).UTC(),
		}
	}
	return rows
}

func rejectRows(seed uint64, n int, day schema.Date) []schema.RejectRow {
	r := rand.New(rand.NewPCG(seed, 5))
	rows := make([]schema.RejectRow, n)
	for i := range rows {
		t := testInstant(r, day).UTC()
		row := schema.RejectRow{
			Topic:        schema.Topics[r.IntN(len(schema.Topics))],
			Partition:    int32(r.IntN(4)),
			Offset:       int64(i),
			Value:        []byte(fmt.Sprintf(`{"bad":%d,"bin":"\u0000\u00ff"}`, i)),
			Error:        "lines[0].unit_price: negative",
			Reason:       schema.Reasons()[r.IntN(len(schema.Reasons()))],
			ReceivedAt:   t,
			BusinessDate: day,
		}
		if r.IntN(2) == 0 {
			row.Key = []byte{0, 1, 2, byte(i)}
		}
		if r.IntN(2) == 0 {
			row.Field = "lines[0].unit_price"
		}
		rows[i] = row
	}
	return rows
}

package schema

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchDocs returns n realistic documents of each stream: 20 stores, 5000
// SKUs, POS transactions of one to five lines (three on average), varied
// prices, ids and times.
func benchDocs(n int) map[string][][]byte {
	r := rand.New(rand.NewPCG(7, 7))
	sku := func() string { return fmt.Sprintf("SKU-%06d", r.IntN(5000)) }
	store := func() string { return fmt.Sprintf("S%03d", 1+r.IntN(20)) }
	zone := time.FixedZone("", 2*3600)
	start := time.Date(2025, 6, 1, 8, 0, 0, 0, zone)
	docs := map[string][][]byte{}
	add := func(topic string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		docs[topic] = append(docs[topic], b)
	}
	for i := range n {
		at := start.Add(time.Duration(r.IntN(30*24*3600)) * time.Second)
		s := store()
		t := POSTransaction{
			SchemaVersion: 1, TransactionID: fmt.Sprintf("%s-R%02d-%s-%06d", s, 1+r.IntN(8), at.Format("20060102"), i),
			StoreID: s, RegisterID: fmt.Sprintf("%s-R%02d", s, 1+r.IntN(8)), Type: TxnSale,
			BusinessDate: DateOf(at), EventTime: at, Currency: "EUR", Tenders: []Tender{},
		}
		if r.IntN(3) == 0 {
			t.CustomerID = fmt.Sprintf("LOY-%07d", r.IntN(1e6))
		}
		for ln := range 1 + r.IntN(5) {
			l := POSLine{LineNo: ln + 1, SKU: sku(), Quantity: int64(1 + r.IntN(4)), UnitPrice: Money(100 * (50 + r.IntN(5000)))}
			gross := l.UnitPrice.Mul(l.Quantity)
			if r.IntN(5) == 0 {
				l.Discount = gross / 10 / 100 * 100
				l.PromotionID = fmt.Sprintf("PROMO-%d", r.IntN(40))
			}
			l.Tax = (gross - l.Discount) * 19 / 100
			l.LineTotal = gross - l.Discount + l.Tax
			t.Lines = append(t.Lines, l)
			t.Total += l.LineTotal
		}
		t.Tenders = append(t.Tenders, Tender{Type: "card", Amount: t.Total})
		add(TopicPOS, t)
		add(TopicInventory, InventoryRecord{
			SchemaVersion: 1, SnapshotID: fmt.Sprintf("INV-%s-%s", s, at.Format("20060102")), Kind: SnapshotFull,
			SnapshotRows: 5000, LocationID: s, SKU: sku(), OnHand: int64(r.IntN(200) - 5),
			Allocated: int64(r.IntN(10)), InTransit: int64(r.IntN(50)), AsOf: at,
		})
		ordered := int64(12 * (1 + r.IntN(20)))
		add(TopicPurchaseOrder, PurchaseOrderLine{
			SchemaVersion: 1, POID: fmt.Sprintf("PO-2025-%06d", i/4), LineNo: 1 + i%4, SupplierID: fmt.Sprintf("SUP-%02d", r.IntN(30)),
			LocationID: s, SKU: sku(), QtyOrdered: ordered, QtyReceived: ordered / 2, Status: POPartiallyReceived,
			OrderDate: DateOf(at), ExpectedDate: DateOf(at).AddDays(3 + r.IntN(10)), UpdatedAt: at,
			UnitCost: Money(100 * (20 + r.IntN(3000))), Currency: "EUR",
		})
		add(TopicItemLocation, ItemLocation{
			SchemaVersion: 1, SKU: sku(), LocationID: s, Description: fmt.Sprintf("Item %d, assorted — %d pack", r.IntN(5000), 1+r.IntN(12)),
			Category: fmt.Sprintf("cat-%02d", r.IntN(40)), Department: fmt.Sprintf("dept-%d", r.IntN(8)),
			SupplierID: fmt.Sprintf("SUP-%02d", r.IntN(30)), LeadTimeDays: 2 + r.IntN(20), ReviewPeriodDays: 7,
			CasePack: 6, MOQ: 12, UnitCost: Money(100 * (20 + r.IntN(3000))), UnitPrice: Money(100 * (50 + r.IntN(5000))),
			Currency: "EUR", ServiceLevel: 0.95, Active: true, UpdatedAt: at,
		})
		promoStart := DateOf(at).AddDays(35 + r.IntN(14))
		p := Promotion{
			SchemaVersion: 1, PromotionID: fmt.Sprintf("PR-%04d-%02d", r.IntN(400), 1+r.IntN(12)), SKU: sku(),
			StartDate: promoStart, EndDate: promoStart.AddDays(r.IntN(14)), DiscountPct: 5 * (1 + r.IntN(10)),
			Status: PromotionPlanned, UpdatedAt: at,
		}
		if r.IntN(4) == 0 {
			p.LocationID = s
		}
		if r.IntN(10) == 0 {
			p.Status = PromotionCancelled
		}
		add(TopicPromotion, p)
	}
	return docs
}

// BenchmarkDecode measures decode+validate per stream on one core, with a
// reused Decoder (as ingest uses it): MB/s of JSON and records/s.
func BenchmarkDecode(b *testing.B) {
	docs := benchDocs(4096)
	for _, topic := range Topics {
		set := docs[topic]
		var size int64
		for _, doc := range set {
			size += int64(len(doc))
		}
		b.Run(topic, func(b *testing.B) {
			var d Decoder
			b.SetBytes(size / int64(len(set)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				doc := set[i%len(set)]
				i++
				var err error
				switch topic {
				case TopicPOS:
					_, err = d.POS(doc)
				case TopicInventory:
					_, err = d.Inventory(doc)
				case TopicPurchaseOrder:
					_, err = d.PurchaseOrder(doc)
				case TopicItemLocation:
					_, err = d.ItemLocation(doc)
				case TopicPromotion:
					_, err = d.Promotion(doc)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkDecodeEncodingJSON is the reference: encoding/json into the same
// types (no validation beyond types).
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	docs := benchDocs(4096)
	for _, topic := range Topics {
		set := docs[topic]
		var size int64
		for _, doc := range set {
			size += int64(len(doc))
		}
		b.Run(topic, func(b *testing.B) {
			b.SetBytes(size / int64(len(set)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := json.Unmarshal(set[i%len(set)], newOf(topic)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func TestBenchmarkDocumentsAreValid(t *testing.T) {
	var d Decoder
	for topic, set := range benchDocs(200) {
		for _, doc := range set {
			if _, err := decodeAny(&d, topic, doc); err != nil {
				t.Fatalf("%s: %v\n%s", topic, err, doc)
			}
		}
	}
}

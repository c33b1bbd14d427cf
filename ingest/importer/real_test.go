package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/sharedtest"
	"github.com/shelflake/shelflake/schema/world"
)

func TestImportOnlineRetailReconcilesAndEveryRecordDecodes(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the 541,909-row export")
	}
	f, err := os.Open(sharedtest.OnlineRetail(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Preset("online-retail")
	if err != nil {
		t.Fatal(err)
	}
	var sink world.MemSink
	var rejects bytes.Buffer
	var progressed int64
	c, err := Import(context.Background(), bufio.NewReader(zr), m, &sink, Options{
		Name: "online_retail.csv.gz", Rejects: &rejects, Progress: func(n int64) { progressed = n },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("counts: %+v", c)

	// Reconciliation: the exact identity, and the file's known row count.
	if c.Rows != 541_909 || !c.Reconciles() || progressed != c.Rows {
		t.Fatalf("rows %d, lines %d + rejected %d = %d, progress %d", c.Rows, c.Lines, c.RejectedRows(), c.Lines+c.RejectedRows(), progressed)
	}
	if int64(len(sink.Records)) != c.Transactions || c.Transactions != c.Sales+c.Returns {
		t.Fatalf("%d records, counts say %d transactions (%d sales + %d returns)", len(sink.Records), c.Transactions, c.Sales, c.Returns)
	}
	// Each kind of dirt the README lists is found, in plausible numbers.
	for _, tc := range []struct {
		r      Reason
		lo, hi int64
	}{
		{ReasonBadDebt, 3, 3},                 // A563185..A563187
		{ReasonNonMerchandise, 2_900, 2_995},  // 2,995 rows of 33 codes, less the A rows' B
		{ReasonStockAdjustment, 1_000, 1_336}, // non-C negative quantities
		{ReasonZeroPrice, 500, 2_515},         // what is left of the zero prices
		{ReasonDuplicate, 4_000, 5_268},       // exact duplicates not rejected for another reason
	} {
		if n := c.Rejected[tc.r]; n < tc.lo || n > tc.hi {
			t.Errorf("%s: %d rows, want %d..%d", tc.r, n, tc.lo, tc.hi)
		}
	}
	for _, r := range []Reason{ReasonUnparseable, ReasonZeroQuantity, ReasonPositiveReturn, ReasonNegativePrice, ReasonOutOfRange} {
		if n := c.Rejected[r]; n != 0 {
			t.Errorf("%s: %d rows, want none in this file", r, n)
		}
	}
	if n := int64(bytes.Count(rejects.Bytes(), []byte("\n"))); n != c.RejectedRows() {
		t.Errorf("rejects file has %d lines, counts say %d", n, c.RejectedRows())
	}

	// Every record passes the strict decoder, and the known facts hold.
	var d schema.Decoder
	byID := map[string]schema.POSTransaction{}
	var lines, qty int64
	for i, rec := range sink.Records {
		txn, err := d.POS(rec.Value)
		if err != nil {
			t.Fatalf("record %d: %v\n%s", i, err, rec.Value)
		}
		if rec.Topic != schema.TopicPOS || string(rec.Key) != txn.StoreID {
			t.Fatalf("record %d: topic %s key %s, store %s", i, rec.Topic, rec.Key, txn.StoreID)
		}
		if _, dup := byID[txn.TransactionID]; dup {
			t.Fatalf("transaction id %s twice", txn.TransactionID)
		}
		byID[txn.TransactionID] = txn
		lines += int64(len(txn.Lines))
		for _, l := range txn.Lines {
			qty += l.Quantity
		}
	}
	if lines != c.Lines || qty != c.Quantity {
		t.Errorf("records hold %d lines, quantity %d; counts say %d, %d", lines, qty, c.Lines, c.Quantity)
	}
	sale, ret := byID["541431"], byID["C541433"]
	if sale.Type != schema.TxnSale || len(sale.Lines) != 1 || sale.Lines[0].SKU != "23166" || sale.Lines[0].Quantity != 74_215 {
		t.Errorf("541431: %+v", sale)
	}
	if ret.Type != schema.TxnReturn || len(ret.Lines) != 1 || ret.Lines[0].SKU != "23166" || ret.Lines[0].Quantity != -74_215 ||
		ret.Total != -sale.Total || sale.Total != mustMoney(t, "77183.60") {
		t.Errorf("C541433: %+v (sale total %s)", ret, sale.Total)
	}
	first := byID["536365"]
	if first.StoreID != "united-kingdom" || first.Currency != "GBP" || first.CustomerID != "17850" ||
		first.BusinessDate.String() != "2010-12-01" || first.EventTime.Format("2006-01-02T15:04:05Z07:00") != "2010-12-01T08:26:00Z" {
		t.Errorf("536365: %+v", first)
	}
	// Summer time: local wall time with the +01:00 offset.
	if tx, ok := byID["581587"]; !ok || tx.StoreID != "france" {
		t.Errorf("581587 (last row): %+v", tx)
	}
	var summer schema.POSTransaction
	for _, tx := range byID {
		if tx.BusinessDate.String() == "2011-07-01" {
			summer = tx
			break
		}
	}
	if _, off := summer.EventTime.Zone(); off != 3600 {
		t.Errorf("a 2011-07-01 transaction has offset %d s, want 3600: %+v", off, summer)
	}
	// 542806 is interleaved with C542805 in the file: its later rows are a
	// second transaction.
	if c.Split != 1 || len(byID["542806"].Lines)+len(byID["542806#2"].Lines) != 39 {
		t.Errorf("split %d; 542806: %d + %d lines", c.Split, len(byID["542806"].Lines), len(byID["542806#2"].Lines))
	}
	// A rejected row line names its reason.
	var rr rejectedRow
	if err := json.Unmarshal(bytes.SplitN(rejects.Bytes(), []byte("\n"), 2)[0], &rr); err != nil || rr.Line < 2 || rr.Reason == "" || len(rr.Row) != 8 {
		t.Errorf("first rejected row %+v: %v", rr, err)
	}
}

func mustMoney(t testing.TB, s string) schema.Money {
	t.Helper()
	m, err := schema.ParseMoney([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

const header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

func preset(t testing.TB) Mapping {
	t.Helper()
	m, err := Preset("online-retail")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// importString imports header+body with the preset and checks what every
// import must satisfy: reconciliation and strict decoding.
func importString(t *testing.T, body string, opts Options) (Counts, []schema.POSTransaction, []rejectedRow) {
	t.Helper()
	return importWith(t, preset(t), header+body, opts)
}

// importWith imports in with m and checks what every import must satisfy:
// reconciliation and strict decoding.
func importWith(t *testing.T, m Mapping, in string, opts Options) (Counts, []schema.POSTransaction, []rejectedRow) {
	t.Helper()
	var sink world.MemSink
	var rej bytes.Buffer
	opts.Rejects = &rej
	c, err := Import(context.Background(), strings.NewReader(in), m, &sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Reconciles() {
		t.Fatalf("rows %d != lines %d + rejected %d", c.Rows, c.Lines, c.RejectedRows())
	}
	var txns []schema.POSTransaction
	for _, r := range sink.Records {
		tx, err := schema.DecodePOS(r.Value)
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Value)
		}
		txns = append(txns, tx)
	}
	var rows []rejectedRow
	for _, l := range bytes.Split(bytes.TrimSpace(rej.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var r rejectedRow
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return c, txns, rows
}

func TestEachKindOfDirtHasItsOutcome(t *testing.T) {
	const sale = "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
	for _, tc := range []struct {
		name   string
		row    string
		reason Reason // "" : accepted
		typ    schema.TxnType
	}{
		{"sale", sale, "", schema.TxnSale},
		{"cancellation is a return", "C536379,22556,PLASTERS IN TIN,-12,2010-12-01 09:41:00,1.65,14527,United Kingdom\n", "", schema.TxnReturn},
		{"missing customer is fine", "536414,22139,,56,2010-12-01 11:52:00,1.25,,United Kingdom\n", "", schema.TxnSale},
		{"quoted description with commas", "542806,84247G,\"DECOUPAGE,GREETING CARD,\",24,2011-02-01 11:20:00,0.42,12836,United Kingdom\n", "", schema.TxnSale},
		{"bad debt", "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,,United Kingdom\n", ReasonBadDebt, ""},
		{"postage", "536370,POST,POSTAGE,3,2010-12-01 08:45:00,18.0,12583,France\n", ReasonNonMerchandise, ""},
		{"manual on a cancellation", "C556445,M,Manual,-1,2011-06-10 15:31:00,38970.0,15098,United Kingdom\n", ReasonNonMerchandise, ""},
		{"voucher", "569716,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,2011-10-06 08:17:00,17.02,,United Kingdom\n", ReasonNonMerchandise, ""},
		{"stock adjustment", "536589,21777,,-10,2010-12-01 16:50:00,0.0,,United Kingdom\n", ReasonStockAdjustment, ""},
		{"zero price", "536414,22139,,56,2010-12-01 11:52:00,0.0,,United Kingdom\n", ReasonZeroPrice, ""},
		{"zero quantity", "536365,85123A,X,0,2010-12-01 08:26:00,2.55,17850,United Kingdom\n", ReasonZeroQuantity, ""},
		{"positive return", "C536379,22556,X,12,2010-12-01 09:41:00,1.65,14527,United Kingdom\n", ReasonPositiveReturn, ""},
		{"negative price", "536365,85123A,X,6,2010-12-01 08:26:00,-2.55,17850,United Kingdom\n", ReasonNegativePrice, ""},
		{"price with 5 decimals", "536365,85123A,X,6,2010-12-01 08:26:00,2.55001,17850,United Kingdom\n", ReasonUnparseable, ""},
		{"bad quantity", "536365,85123A,X,six,2010-12-01 08:26:00,2.55,17850,United Kingdom\n", ReasonUnparseable, ""},
		{"bad date", "536365,85123A,X,6,01/12/2010 08:26,2.55,17850,United Kingdom\n", ReasonUnparseable, ""},
		{"empty invoice", ",85123A,X,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n", ReasonUnparseable, ""},
		{"no country", "536365,85123A,X,6,2010-12-01 08:26:00,2.55,17850, \n", ReasonUnparseable, ""},
		{"short row", "536365,85123A,X,6\n", ReasonUnparseable, ""},
		{"bad quoting", "536365,85123A,X \"Y\" Z,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n", ReasonUnparseable, ""},
		{"line total too big", "536365,85123A,X,9000000000000000,2010-12-01 08:26:00,99999.99,17850,United Kingdom\n", ReasonOutOfRange, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, txns, rej := importString(t, tc.row, Options{})
			if tc.reason == "" {
				if len(txns) != 1 || txns[0].Type != tc.typ || c.Lines != 1 || len(rej) != 0 {
					t.Fatalf("want one %s line; got %+v, rejected %+v", tc.typ, txns, rej)
				}
				return
			}
			if len(txns) != 0 || c.Rejected[tc.reason] != 1 || len(rej) != 1 || rej[0].Reason != tc.reason || rej[0].Line != 2 || rej[0].Detail == "" {
				t.Fatalf("want one %s rejection at line 2; got %+v, %+v, %+v", tc.reason, txns, c.Rejected, rej)
			}
		})
	}
}

func TestDuplicatesAreDroppedUnlessKept(t *testing.T) {
	body := "536409,22866,HAND WARMER SCOTTY DOG DESIGN,1,2010-12-01 11:45:00,2.1,17908,United Kingdom\n" +
		"536409,22866,HAND WARMER SCOTTY DOG DESIGN,1,2010-12-01 11:45:00,2.1,17908,United Kingdom\n" +
		"536409,22900,SET 2 TEA TOWELS I LOVE LONDON ,1,2010-12-01 11:45:00,2.95,17908,United Kingdom\n"
	c, txns, rej := importString(t, body, Options{})
	if c.Rejected[ReasonDuplicate] != 1 || len(txns) != 1 || len(txns[0].Lines) != 2 || rej[0].Line != 3 {
		t.Fatalf("dropped: %+v %+v %+v", c, txns, rej)
	}
	c, txns, _ = importString(t, body, Options{KeepDuplicates: true})
	if c.RejectedRows() != 0 || len(txns) != 1 || len(txns[0].Lines) != 3 || txns[0].Total != mustMoney(t, "7.15") {
		t.Fatalf("kept: %+v %+v", c, txns)
	}
}

func TestInvoicesGroupIntoTransactions(t *testing.T) {
	body := "536365,85123A,A,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n" +
		"536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.0,17850,United Kingdom\n" + // rejected: does not break the run
		"536365,71053,B,6,2010-12-01 08:27:00,3.39,17850,United Kingdom\n" + // a minute later: same transaction
		"C536366,22633,C,-2,2010-12-01 08:28:00,1.85,17850,United Kingdom\n" +
		"536365,84406B,D,8,2010-12-01 08:29:00,2.75,17850,United Kingdom\n" + // comes back: a second transaction
		"536367,84879,E,32,2011-07-01 10:00:00,1.69,,EIRE\n"
	c, txns, _ := importString(t, body, Options{})
	type want struct {
		id, store string
		typ       schema.TxnType
		lines     int
		total     string
		time      string
	}
	wants := []want{
		{"536365", "united-kingdom", schema.TxnSale, 2, "35.64", "2010-12-01T08:26:00Z"},
		{"C536366", "united-kingdom", schema.TxnReturn, 1, "-3.70", "2010-12-01T08:28:00Z"},
		{"536365#2", "united-kingdom", schema.TxnSale, 1, "22.00", "2010-12-01T08:29:00Z"},
		{"536367", "eire", schema.TxnSale, 1, "54.08", "2011-07-01T10:00:00+01:00"},
	}
	if len(txns) != len(wants) || c.Split != 1 || c.Sales != 3 || c.Returns != 1 || c.Quantity != 6+6-2+8+32 {
		t.Fatalf("counts %+v, %d transactions", c, len(txns))
	}
	for i, w := range wants {
		tx := txns[i]
		if tx.TransactionID != w.id || tx.StoreID != w.store || tx.Type != w.typ || len(tx.Lines) != w.lines ||
			tx.Total != mustMoney(t, w.total) || tx.EventTime.Format("2006-01-02T15:04:05Z07:00") != w.time ||
			tx.Tenders[0].Amount != tx.Total {
			t.Errorf("transaction %d: %+v, want %+v", i, tx, w)
		}
	}
	if txns[3].CustomerID != "" || txns[0].CustomerID != "17850" {
		t.Errorf("customers %q, %q", txns[0].CustomerID, txns[3].CustomerID)
	}
}

func TestBadInputIsOneLineNamingFileLineAndColumn(t *testing.T) {
	m := preset(t)
	for _, tc := range []struct {
		name, input string
		want        string
	}{
		{"missing column", "InvoiceNo,StockCode,Description,InvoiceDate,UnitPrice,CustomerID,Country\n1,2,3,4,5,6,7\n",
			`x.csv:1: column "Quantity" (mapping quantity) is not in the header`},
		{"empty", "", "x.csv:1: empty file"},
		{"duplicate column", "InvoiceNo,InvoiceNo\n", `x.csv:1: column "InvoiceNo" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink world.MemSink
			_, err := Import(context.Background(), strings.NewReader(tc.input), m, &sink, Options{Name: "x.csv"})
			var ie *InputError
			if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want %s...", err, tc.want)
			}
			if len(sink.Records) != 0 {
				t.Fatal("records written")
			}
		})
	}
}

func TestReadMapping(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       string // error substring, "" : ok
	}{
		{"override a column", `{"store":"Region"}`, ""},
		{"unknown key", `{"stor":"Region"}`, `unknown field "stor"`},
		{"bad zone", `{"time_zone":"Mars/Olympus"}`, `time_zone "Mars/Olympus" is not a known IANA zone`},
		{"bad currency", `{"currency":"XXY"}`, `currency "XXY" is not an ISO 4217 code`},
		{"bad regexp", `{"merchandise":"["}`, `merchandise "[" is not a valid regexp`},
		{"unset", `{"sku":""}`, `"sku" is not set`},
		{"return prefix without invoices", `{"invoice":""}`, `"return_prefix" and "adjustment_prefix" need an "invoice" column`},
		{"no price", `{"unit_price":""}`, `give "default_unit_price"`},
		{"price twice", `{"default_unit_price":"1"}`, `"unit_price" and "default_unit_price" are both set`},
		{"bad default price", `{"unit_price":"","default_unit_price":"0"}`, `default_unit_price "0": want a positive plain decimal`},
		{"no store", `{"store":""}`, `give "default_store"`},
		{"store twice", `{"default_store":"Main"}`, `"store" and "default_store" are both set`},
		{"syntax", "{\n\"store\": ,}", "m.json:2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadMapping(strings.NewReader(tc.json), "m.json", preset(t))
			if tc.want == "" {
				if err != nil || m.Store != "Region" || m.Invoice != "InvoiceNo" {
					t.Fatalf("%+v, %v", m, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Preset("nope"); err == nil || !strings.Contains(err.Error(), "online-retail") {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"United Kingdom": "united-kingdom", "EIRE": "eire", "  Channel Islands ": "channel-islands",
		"RSA": "rsa", "European Community": "european-community", "Côte d'Ivoire": "c-te-d-ivoire", "--": "",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAMappingFileAloneReadsAnotherExport(t *testing.T) {
	const mapping = `{"invoice":"receipt","sku":"item","quantity":"qty","time":"ts","unit_price":"price",
		"store":"shop","time_layout":"02/01/2006 15:04","time_zone":"Europe/Paris","currency":"EUR",
		"register":"till","store_prefix":"fr-","return_prefix":"R","merchandise":"^SKU"}`
	m, err := ReadMapping(strings.NewReader(mapping), "m.json", Mapping{})
	if err != nil {
		t.Fatal(err)
	}
	in := "shop,receipt,item,qty,price,ts\n" +
		"Lyon 2,100,SKU1,2,1.5,31/03/2024 23:30\n" +
		"Lyon 2,100,SKU2,1,0.25,31/03/2024 23:30\n" +
		"Lyon 2,R101,SKU1,-1,1.5,01/04/2024 09:00\n" +
		"Lyon 2,102,BAG,1,0.10,01/04/2024 09:05\n"
	var sink world.MemSink
	c, err := Import(context.Background(), strings.NewReader(in), m, &sink, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != 4 || c.Lines != 3 || c.Rejected[ReasonNonMerchandise] != 1 || len(sink.Records) != 2 {
		t.Fatalf("%+v, %d records", c, len(sink.Records))
	}
	tx, err := schema.DecodePOS(sink.Records[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if tx.StoreID != "fr-lyon-2" || tx.RegisterID != "till" || tx.Currency != "EUR" || tx.CustomerID != "" ||
		tx.BusinessDate.String() != "2024-03-31" || tx.EventTime.Format(time.RFC3339) != "2024-03-31T23:30:00+02:00" ||
		tx.Total != mustMoney(t, "3.25") {
		t.Errorf("%+v", tx)
	}
	if rt, err := schema.DecodePOS(sink.Records[1].Value); err != nil || rt.Type != schema.TxnReturn || rt.Total != mustMoney(t, "-1.50") {
		t.Errorf("%+v, %v", rt, err)
	}
}

func TestCancelledImportStops(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for i := range 3 * progressEvery {
		b.WriteString("5" + strconv.Itoa(100000+i) + ",85123A,X,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	c, err := Import(ctx, strings.NewReader(b.String()), preset(t), &world.MemSink{}, Options{Progress: func(int64) {
		calls++
		cancel()
	}})
	if !errors.Is(err, context.Canceled) || c.Rows >= 3*progressEvery || calls == 0 {
		t.Fatalf("err %v after %d rows, %d progress calls", err, c.Rows, calls)
	}
}

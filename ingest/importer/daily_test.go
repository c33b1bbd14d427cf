package importer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

func importDaily(t *testing.T, m Mapping, in string) (Counts, []schema.POSTransaction) {
	t.Helper()
	c, txns, _ := importWith(t, m, in, Options{})
	return c, txns
}

// An export of daily totals (a row per store, item and day, no invoices,
// no prices) imports: the rows of one store and day, in whatever order,
// are one transaction named by the store, the day and its first line; a
// negative total is that day's returns; zero rows are counted and left
// out.
func TestDailyTotalsImport(t *testing.T) {
	const byStoreDay = "date,store,item,sales\n" +
		"2013-01-01,1,1,13\n" +
		"2013-01-01,1,2,0\n" +
		"2013-01-01,1,3,4\n" +
		"2013-01-01,1,4,-2\n" +
		"2013-01-01,2,1,7\n" +
		"2013-01-02,1,1,5\n"
	// The same rows ordered by item, then store and day.
	const byItem = "date,store,item,sales\n" +
		"2013-01-01,1,1,13\n" +
		"2013-01-02,1,1,5\n" +
		"2013-01-01,2,1,7\n" +
		"2013-01-01,1,2,0\n" +
		"2013-01-01,1,3,4\n" +
		"2013-01-01,1,4,-2\n"
	for _, tc := range []struct {
		name     string
		in       string
		txns     int
		firstIDs []string
	}{
		{"ordered by store and day", byStoreDay, 4,
			[]string{"store-1-2013-01-01-L2", "store-1-2013-01-01-L5", "store-2-2013-01-01-L6", "store-1-2013-01-02-L7"}},
		// Rows of a store-day are gathered from anywhere in the file; the
		// records come out by day.
		{"ordered by item", byItem, 4,
			[]string{"store-1-2013-01-01-L2", "store-1-2013-01-01-L7", "store-2-2013-01-01-L4", "store-1-2013-01-02-L3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, txns := importDaily(t, dailyTotalsMapping(), tc.in)
			if c.Rows != 6 || c.Lines != 5 || c.Rejected[ReasonZeroQuantity] != 1 || c.Returns != 1 ||
				c.Quantity != 13+4-2+7+5 || int(c.Transactions) != tc.txns || len(txns) != tc.txns {
				t.Fatalf("counts %+v, %d transactions", c, len(txns))
			}
			ids := map[string]bool{}
			var units, returned int64
			for _, tx := range txns {
				if ids[tx.TransactionID] {
					t.Errorf("transaction id %s twice", tx.TransactionID)
				}
				ids[tx.TransactionID] = true
				if tx.Currency != "USD" || tx.RegisterID != "export" || tx.EventTime.Location().String() != "UTC" {
					t.Errorf("%+v", tx)
				}
				for _, l := range tx.Lines {
					if l.UnitPrice != mustMoney(t, "1") {
						t.Errorf("%s line %d: unit price %s, want the default 1", tx.TransactionID, l.LineNo, l.UnitPrice)
					}
					units += l.Quantity
					if tx.Type == schema.TxnReturn {
						returned += l.Quantity
					}
				}
			}
			if units != c.Quantity || returned != -2 {
				t.Errorf("units %d, returned %d", units, returned)
			}
			for i, id := range tc.firstIDs {
				if txns[i].TransactionID != id {
					t.Errorf("transaction %d is %s, want %s", i, txns[i].TransactionID, id)
				}
			}
			// The same file imports to the same ids (a rerun is deduplicated
			// downstream, not doubled).
			_, again := importDaily(t, dailyTotalsMapping(), tc.in)
			for i := range again {
				if again[i].TransactionID != txns[i].TransactionID {
					t.Fatalf("rerun: transaction %d is %s, was %s", i, again[i].TransactionID, txns[i].TransactionID)
				}
			}
		})
	}
}

// A one-store export with prices: default_store names the store.
func TestDailyTotalsOfOneStore(t *testing.T) {
	m := dailyTotalsMapping()
	m.Store, m.StorePrefix, m.DefaultStore = "", "", "Main Street"
	m.DefaultUnitPrice, m.UnitPrice = "", "price"
	c, txns := importDaily(t, m, "date,item,sales,price\n2024-02-29,A1,3,2.50\n2024-02-29,A2,1,0\n")
	if c.Lines != 1 || c.Rejected[ReasonZeroPrice] != 1 || len(txns) != 1 {
		t.Fatalf("%+v", c)
	}
	if tx := txns[0]; tx.StoreID != "main-street" || tx.Total != mustMoney(t, "7.50") || tx.BusinessDate.String() != "2024-02-29" {
		t.Errorf("%+v", tx)
	}
}

// A European export: semicolons between fields, a decimal comma and dots
// between thousands; a price whose dots do not group thousands is refused,
// never read a hundred times too high.
func TestSemicolonsAndDecimalCommas(t *testing.T) {
	m := dailyTotalsMapping()
	m.Delimiter, m.DecimalComma, m.DefaultUnitPrice, m.UnitPrice = ";", true, "", "prix"
	in := "date;store;item;sales;prix\n" +
		"2024-03-01;Lyon;A;2;2,50\n" +
		"2024-03-01;Lyon;B;1;1.234,5\n" +
		"2024-03-01;Lyon;C;1;7\n" +
		"2024-03-01;Lyon;D;1;2.50\n" +
		"2024-03-01;Lyon;E;1;1,2,3\n"
	var sink world.MemSink
	var rej strings.Builder
	c, err := Import(t.Context(), strings.NewReader(in), m, &sink, Options{Rejects: &rej})
	if err != nil {
		t.Fatal(err)
	}
	if c.Lines != 3 || c.Rejected[ReasonUnparseable] != 2 || len(sink.Records) != 1 {
		t.Fatalf("%+v\n%s", c, rej.String())
	}
	tx, err := schema.DecodePOS(sink.Records[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Total != mustMoney(t, "1246.50") {
		t.Errorf("total %s, want 2×2.50 + 1234.50 + 7", tx.Total)
	}
	if !strings.Contains(rej.String(), `column prix: \"2.50\" is not a decimal with a decimal comma`) {
		t.Errorf("rejects:\n%s", rej.String())
	}
	for _, tc := range []struct {
		delim string
		comma bool
		want  string
	}{
		{";;", false, `delimiter ";;": want one character`},
		{`"`, false, `delimiter "\"": want one character`},
		{"", true, `decimal_comma with the delimiter ","`},
	} {
		m := dailyTotalsMapping()
		m.Delimiter, m.DecimalComma = tc.delim, tc.comma
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("delimiter %q, decimal comma %v: %v, want %q", tc.delim, tc.comma, err, tc.want)
		}
	}
}

// A store-day of 2,500 items becomes three transactions of at most 1,000
// lines, none lost.
func TestALargeStoreDayIsCut(t *testing.T) {
	var b strings.Builder
	b.WriteString("date,store,item,sales\n")
	for i := range 2500 {
		fmt.Fprintf(&b, "2024-01-02,1,%d,1\n", i)
	}
	c, txns := importDaily(t, dailyTotalsMapping(), b.String())
	if c.Lines != 2500 || len(txns) != 3 {
		t.Fatalf("%+v, %d transactions", c, len(txns))
	}
	for i, want := range []struct {
		id    string
		lines int
	}{{"store-1-2024-01-02-L2", 1000}, {"store-1-2024-01-02-L1002", 1000}, {"store-1-2024-01-02-L2002", 500}} {
		if txns[i].TransactionID != want.id || len(txns[i].Lines) != want.lines {
			t.Errorf("transaction %d: %s with %d lines, want %s with %d", i, txns[i].TransactionID, len(txns[i].Lines), want.id, want.lines)
		}
	}
}

// Past Options.TotalsMemory the open store-days are emitted and new ones
// begin: more, smaller transactions, no line lost, ids still unique.
func TestDailyTotalsWithinAMemoryBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("date,store,item,sales\n")
	for item := range 50 {
		for day := range 20 {
			fmt.Fprintf(&b, "2024-01-%02d,1,%d,1\n", day+1, item)
		}
	}
	for _, tc := range []struct {
		name   string
		memory int64
		most   int
	}{
		{"everything held", 0, 20},
		{"a few store-days held", 2000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, txns, _ := importWith(t, dailyTotalsMapping(), b.String(), Options{TotalsMemory: tc.memory})
			if c.Lines != 1000 || len(txns) > tc.most || len(txns) < 20 {
				t.Fatalf("%+v, %d transactions, want 20 to %d", c, len(txns), tc.most)
			}
			ids := map[string]bool{}
			for _, tx := range txns {
				if ids[tx.TransactionID] {
					t.Fatalf("transaction id %s twice", tx.TransactionID)
				}
				ids[tx.TransactionID] = true
			}
			if tc.memory == 0 && len(txns) != 20 {
				t.Errorf("%d transactions, want one per day", len(txns))
			}
			if tc.memory > 0 && len(txns) <= 20 {
				t.Errorf("%d transactions: the bound never emitted early", len(txns))
			}
		})
	}
}

// The store-item-daily preset reads date,store,item,sales as
// dailyTotalsMapping does; a mapping file over it can fix the zone and
// currency.
func TestStoreItemDailyPreset(t *testing.T) {
	m, err := Preset("store-item-daily")
	if err != nil {
		t.Fatal(err)
	}
	if m != dailyTotalsMapping() {
		t.Fatalf("preset %+v\nwant %+v", m, dailyTotalsMapping())
	}
	m, err = ReadMapping(strings.NewReader(`{"time_zone": "Europe/Berlin", "currency": "EUR"}`), "m.json", m)
	if err != nil {
		t.Fatal(err)
	}
	c, txns := importDaily(t, m, "date,store,item,sales\n2013-01-01,1,1,13\n2013-01-01,1,2,11\n")
	if c.Lines != 2 || len(txns) != 1 {
		t.Fatalf("%+v, %d transactions", c, len(txns))
	}
	if _, off := txns[0].EventTime.Zone(); txns[0].Currency != "EUR" || txns[0].StoreID != "store-1" || off != 3600 {
		t.Fatalf("%+v %+v", c, txns)
	}
}

package importer

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// FuzzDecodeRow feeds arbitrary CSV rows to the row decoder: it must never
// panic, and a row it accepts must make a transaction the strict decoder
// accepts.
func FuzzDecodeRow(f *testing.F) {
	for _, s := range []string{
		"536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
		"C541433,23166,MEDIUM CERAMIC TOP STORAGE JAR,-74215,2011-01-18 10:17:00,1.04,12346,United Kingdom",
		"A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,,United Kingdom",
		"536589,21777,,-10,2010-12-01 16:50:00,0.0,,United Kingdom",
		"536365,85123A,X,9223372036854775807,2010-03-28 01:30:00,99999999999999.9999,1,?",
	} {
		f.Add(s)
	}
	fuzzRows(f, mustPreset(f), header, ",")
}

// FuzzDecodeDailyTotalsRow is FuzzDecodeRow for an export of daily totals:
// no invoice, no price column, a negative quantity a return.
func FuzzDecodeDailyTotalsRow(f *testing.F) {
	for _, s := range []string{
		"2013-01-01,1,1,13", "2013-01-02,1,1,-2", "2013-01-03,10,50,0", "2013-13-01,1,1,3", "2013-01-01,,1,3",
		"2013-01-01,1,1,9223372036854775807",
	} {
		f.Add(s)
	}
	fuzzRows(f, dailyTotalsMapping(), "date,store,item,sales", ",")
}

// FuzzDecodeDecimalCommaRow is FuzzDecodeRow for a semicolon-separated
// export with decimal commas.
func FuzzDecodeDecimalCommaRow(f *testing.F) {
	for _, s := range []string{
		"2024-03-01;Lyon;A;2;2,50", "2024-03-01;Lyon;B;1;1.234,5", "2024-03-01;Lyon;D;1;2.50",
		"2024-03-01;Lyon;E;-1;1,2,3", "2024-03-01;Lyon;F;1;-1.000.000,9999", "2024-03-01;Lyon;G;1;.5",
	} {
		f.Add(s)
	}
	m := dailyTotalsMapping()
	m.Delimiter, m.DecimalComma, m.DefaultUnitPrice, m.UnitPrice = ";", true, "", "prix"
	fuzzRows(f, m, "date;store;item;sales;prix", ";")
}

func fuzzRows(f *testing.F, m Mapping, header, sep string) {
	c, err := m.compile()
	if err != nil {
		f.Fatal(err)
	}
	cols, err := c.resolve(strings.Split(strings.TrimSpace(header), sep))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		rec := strings.Split(line, sep)
		r, rej := c.decode(rec, &cols)
		if rej.reason != "" {
			if rej.detail == "" {
				t.Fatalf("%s without a detail", rej.reason)
			}
			return
		}
		st := &run{im: &Importer{c: c, cols: cols}, closed: map[string]int{}}
		g := st.open(&r, 2, nil)
		if rej := st.add(g, &r, rec); rej.reason != "" {
			return
		}
		g.txn.Tenders = []schema.Tender{{Type: schema.TenderOther, Amount: g.txn.Total}}
		b, err := json.Marshal(&g.txn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := schema.DecodePOS(b); err != nil {
			t.Fatalf("accepted row %q makes a record the decoder refuses: %v\n%s", line, err, b)
		}
	})
}

// dailyTotalsMapping reads date,store,item,sales: one row per store, item
// and day, no invoices and no prices.
func dailyTotalsMapping() Mapping {
	return Mapping{SKU: "item", Quantity: "sales", Time: "date", Store: "store", StorePrefix: "store-",
		DefaultUnitPrice: "1", TimeLayout: time.DateOnly, TimeZone: "UTC", Currency: "USD", Register: "export",
		Merchandise: "."}
}

func mustPreset(t testing.TB) Mapping {
	m, err := Preset("online-retail")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

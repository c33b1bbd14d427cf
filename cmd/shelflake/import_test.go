package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/sharedtest"
)

func TestImportOnlineRetailToJSONLReconciles(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the 541,909-row export")
	}
	dir := t.TempDir()
	out, rej := filepath.Join(dir, "pos.jsonl"), filepath.Join(dir, "rejects.jsonl")
	stdout, err := runCLI(t, context.Background(), "import", "--preset", "online-retail", sharedtest.OnlineRetail(t), "--out", out, "--rejects", rej)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rows in                    541909", "reconciliation             541909 = 531172 + 10737: ok",
		"23196 transactions", "duplicate_row", "non_merchandise", "stock_adjustment", "zero_price", "bad_debt_adjustment"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	lines := readLines(t, out)
	if len(lines) != 23196 {
		t.Fatalf("%d records, want 23196", len(lines))
	}
	var d schema.Decoder
	for i, l := range lines {
		if _, err := d.POS(l); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if n := len(readLines(t, rej)); n != 10737 {
		t.Errorf("%d rejected rows in the file, want 10737", n)
	}
}

const smallExport = `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.0,17850,United Kingdom
536370,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583,France
C536379,22556,PLASTERS IN TIN CIRCUS PARADE ,-12,2010-12-01 09:41:00,1.65,14527,United Kingdom
536589,21777,,-10,2010-12-01 16:50:00,0.0,,United Kingdom
`

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImportGzipToDirAndBroker(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "export.csv.gz")
	if err := os.WriteFile(in, gzipped(t, smallExport), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startTestBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	out := filepath.Join(dir, "out")
	stdout, err := runCLI(t, ctx, "import", "--preset", "online-retail", in, "--out", out, "--brokers", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "reconciliation                  5 = 3 + 2: ok") {
		t.Errorf("summary:\n%s", stdout)
	}
	lines := readLines(t, filepath.Join(out, schema.TopicPOS+".jsonl"))
	if len(lines) != 3 {
		t.Fatalf("%d records in the file, want 3", len(lines))
	}
	want := map[string]string{} // value → key
	for _, l := range lines {
		tx, err := schema.DecodePOS(l)
		if err != nil {
			t.Fatal(err)
		}
		want[string(l)] = tx.StoreID
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(schema.TopicPOS), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for n := 0; n < len(lines); {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if k, ok := want[string(r.Value)]; !ok || k != string(r.Key) {
				t.Errorf("consumed key %s value %s: not among the file's records", r.Key, r.Value)
			}
			delete(want, string(r.Value))
		})
	}
}

func TestImportBadInputCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	noQty := filepath.Join(dir, "noqty.csv")
	badMap := filepath.Join(dir, "map.json")
	for p, s := range map[string]string{
		good:   smallExport,
		noQty:  strings.Replace(smallExport, "Quantity", "Qty", 1),
		badMap: `{"time_zone": "Europe/Londn"}`,
	} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing column", []string{"--preset", "online-retail", noQty}, noQty + `:1: column "Quantity" (mapping quantity) is not in the header`},
		{"bad mapping", []string{"--preset", "online-retail", "--mapping", badMap, good}, "mapping " + badMap + `: time_zone "Europe/Londn" is not a known IANA zone`},
		{"no mapping", []string{good}, "say how to read the columns"},
		{"no such file", []string{"--preset", "online-retail", filepath.Join(dir, "nope.csv")}, "open input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, rej := filepath.Join(dir, "out-"+tc.name), filepath.Join(dir, "rej-"+tc.name+".jsonl")
			_, err := runCLI(t, context.Background(), append([]string{"import", "--out", out, "--rejects", rej}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line with %q", err, tc.want)
			}
			for _, p := range []string{out, rej, rej + ".tmp"} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s exists after bad input", p)
				}
			}
		})
	}
}

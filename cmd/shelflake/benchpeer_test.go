package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/schema"
)

// EnvPeer names the peer binary the tests run (`make test` builds it into
// bin/benthos-peer); without it the test builds the peer module itself.
const envPeer = "SHELFLAKE_PEER"

func peerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envPeer); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("$%s: %v (make tools builds it)", envPeer, err)
		}
		return p
	}
	bin := filepath.Join(t.TempDir(), "benthos-peer")
	if err := buildPeer(context.Background(), filepath.Join("..", "..", "tools", "peer"), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// peerDoc is a POS transaction document as the POS feed carries it; bad
// makes its total a value no coercion to integer minor units accepts.
func peerDoc(n int, bad bool) []byte {
	total := "12.34"
	if bad {
		total = `"twelve"`
	}
	return fmt.Appendf(nil, `{"schema_version":1,"transaction_id":"S%03d-R01-2025-06-01-%09d","store_id":"S%03d","register_id":"S%03d-R01","type":"sale",`+
		`"business_date":"2025-06-01","event_time":"2025-06-01T10:11:12.5+02:00","currency":"EUR","customer_id":"LOY-%d","total":%s,`+
		`"tenders":[{"type":"card","amount":12.34}],"lines":[{"line_no":1,"sku":"SKU-%06d","quantity":2,"unit_price":5.5,"discount":0,"tax":1.34,"line_total":12.34,"promotion_id":"PROMO-7"},`+
		`{"line_no":2,"sku":"SKU-000002","quantity":-1,"unit_price":0.5,"discount":0.05,"tax":0,"line_total":-0.45}]}`,
		n%7, n, n%7, n%7, n, total, n%500)
}

// TestBenchPeer runs the peer (Benthos) on documents in the embedded broker:
// every clean document becomes a row, a batch becomes one Parquet file, and
// a document the mapping cannot coerce is dropped (its batch still encodes),
// which the run reports as fewer rows than records.
func TestBenchPeer(t *testing.T) {
	bin := peerBinary(t)
	for _, tc := range []struct {
		name    string
		docs    int
		bad     []int // indexes of documents with a wrong-typed total
		wantErr string
	}{
		{name: "clean", docs: 3000},
		{name: "one wrong type", docs: 3000, bad: []int{1234}, wantErr: "2999 rows in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			broker := startTestBroker(t)
			cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var nbytes int64
			for i := range tc.docs {
				doc := peerDoc(i, slices.Contains(tc.bad, i))
				nbytes += int64(len(doc))
				cl.Produce(ctx, &kgo.Record{Topic: schema.TopicPOS, Key: []byte{byte(i % 7)}, Value: doc}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			fig, err := runPeer(ctx, bin, broker, work, int64(tc.docs), nbytes, slog.New(slog.DiscardHandler))
			// Every output file is Parquet whatever the case: a batch
			// holding the bad document was not passed through raw.
			files, rows, cerr := countParquet(filepath.Join(work, "peer-out"))
			if cerr != nil {
				t.Fatal(cerr)
			}
			if want := int64(tc.docs - len(tc.bad)); rows != want {
				t.Fatalf("%d rows in the peer's files, want %d", rows, want)
			}
			// 3 partitions and batches of peerBatch or a period: a few
			// files, never one per message.
			if files == 0 || files > tc.docs/10 {
				t.Fatalf("%d Parquet files for %d documents", files, tc.docs)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fig.Rows != int64(tc.docs) || fig.Files != files || fig.CPUSeconds <= 0 || fig.MBPerCPUSecond <= 0 {
				t.Fatalf("figures %+v", fig)
			}
		})
	}
}

// TestBenchIngestPeer runs `bench ingest --peer` end to end on a few
// thousand of the bench's own POS transactions: the peer's files hold
// exactly the records shelflake ingested, and both figures are reported.
func TestBenchIngestPeer(t *testing.T) {
	bin := peerBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := runCLI(t, ctx, "bench", "ingest", "--peer", bin, "--transactions", "4000", "--partitions", "4",
		"--freshness-rate", "-1", "--backfill-years", "0", "--dir", t.TempDir(), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Transactions  int64        `json:"transactions"`
		MBPerSPerCore float64      `json:"mb_per_s_per_core"`
		Peer          *peerFigures `json:"peer"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p := res.Peer
	if p == nil || res.Transactions != 4000 || p.Records != 4000 || p.Rows != 4000 || p.Files == 0 || p.Files > 400 {
		t.Fatalf("figures: %s", out)
	}
	if p.MBPerCPUSecond <= 0 || math.Abs(p.Ratio-res.MBPerSPerCore/p.MBPerCPUSecond) > 1e-9 {
		t.Fatalf("peer %g MB per CPU-second, ratio %g, ours %g", p.MBPerCPUSecond, p.Ratio, res.MBPerSPerCore)
	}
}

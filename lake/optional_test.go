package lake

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// TestOptionalColumnsStayNullAcrossBatches guards against parquet-go's typed
// write path storing an absent optional value as a present empty string once
// a writer has seen batches of several sizes (as ingest's flushes hand it):
// DuckDB must read every absent customer_id and promotion_id as NULL.
func TestOptionalColumnsStayNullAcrossBatches(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tab := schema.TablePOSLines()
	dt := schema.NewDate(2026, 1, 5)
	for _, tc := range []struct {
		name  string
		rows  int
		batch func(k int) int
	}{
		{"one batch", 3000, func(int) int { return 3000 }},
		{"batches of one to four rows", 3000, func(k int) int { return 1 + k%4 }},
		{"batches of one row", 500, func(int) int { return 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := make([]schema.PosLineRow, tc.rows)
			var wantCust, wantPromo int
			for i := range rows {
				rows[i] = schema.PosLineRow{TransactionID: fmt.Sprint(i), LineNo: 1, StoreID: "S1", RegisterID: "R1",
					TxnType: "sale", BusinessDate: dt, EventTime: time.Unix(1767600000, 0), Currency: "USD", SKU: "K1"}
				if i%3 == 1 {
					rows[i].CustomerID = "C" + fmt.Sprint(i)
					wantCust++
				}
				if i%5 == 2 {
					rows[i].PromotionID = "P1"
					wantPromo++
				}
			}
			w, err := NewTableWriter[schema.PosLineRow](l, tab, dt, WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < len(rows); {
				e := min(len(rows), k+tc.batch(k))
				if err := w.Write(ctx, rows[k:e]); err != nil {
					t.Fatal(err)
				}
				k = e
			}
			adds, err := w.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tab.Name, adds[0].Path)
			var cust, promo, emptyCust, emptyPromo int
			if err := db.QueryRow(`SELECT count(customer_id), count(promotion_id),
				count(*) FILTER (WHERE customer_id = ''), count(*) FILTER (WHERE promotion_id = '')
				FROM read_parquet(?)`, path).Scan(&cust, &promo, &emptyCust, &emptyPromo); err != nil {
				t.Fatal(err)
			}
			if cust != wantCust || promo != wantPromo || emptyCust != 0 || emptyPromo != 0 {
				t.Fatalf("customer_id: %d present (%d empty), want %d; promotion_id: %d present (%d empty), want %d",
					cust, emptyCust, wantCust, promo, emptyPromo, wantPromo)
			}
		})
	}
}

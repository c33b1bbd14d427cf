package lake

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/schema"
)

// TestDataFilesCarryFieldIDs: every top-level column of a data file has the
// Parquet field id position+1, the Iceberg field id of the column (its
// position in the Delta schema plus one), and the rows read back unchanged.
func TestDataFilesCarryFieldIDs(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	l, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	day := schema.NewDate(2026, 3, 1)
	tb := schema.TablePOSLines()
	rows := []schema.PosLineRow{{TransactionID: "T1", LineNo: 2, StoreID: "S1", TxnType: "sale", BusinessDate: day,
		EventTime: day.Time().Add(time.Hour).UTC(), Currency: "USD", SKU: "K", Quantity: 3, CustomerID: "C9"}}
	adds, err := WriteFiles(ctx, l, tb, day, rows, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, tb.Name, adds[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	want := tb.Schema.Fields()
	got := pf.Schema().Fields()
	if len(got) != len(want) {
		t.Fatalf("%d columns, want %d", len(got), len(want))
	}
	for i, c := range got {
		if c.Name() != want[i].Name() || c.ID() != i+1 {
			t.Errorf("column %d: %s id %d, want %s id %d", i, c.Name(), c.ID(), want[i].Name(), i+1)
		}
	}
	back, err := parquet.Read[schema.PosLineRow](f, st.Size())
	if err != nil || len(back) != 1 || back[0].CustomerID != "C9" || back[0].Quantity != 3 || back[0].PromotionID != "" {
		t.Errorf("read back %+v, %v", back, err)
	}
}

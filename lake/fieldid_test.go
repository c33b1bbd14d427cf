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
	var want []string
	for _, f := range tb.Schema.Fields() {
		want = append(want, f.Name())
	}
	want = append(want, "dt") // the partition column, materialised
	got := pf.Schema().Fields()
	if len(got) != len(want) {
		t.Fatalf("%d columns, want %d", len(got), len(want))
	}
	for i, c := range got {
		if c.Name() != want[i] || c.ID() != i+1 {
			t.Errorf("column %d: %s id %d, want %s id %d", i, c.Name(), c.ID(), want[i], i+1)
		}
	}
	dtCol := pf.Schema().Fields()[len(want)-1]
	if dtCol.Type().String() != parquet.Date().Type().String() || !dtCol.Required() {
		t.Errorf("dt column type %v (required %v), want a required DATE", dtCol.Type(), dtCol.Required())
	}
	vals := make([]parquet.Value, 1)
	rg := pf.RowGroups()[0]
	if n, err := rg.ColumnChunks()[len(want)-1].Pages().ReadPage(); err != nil {
		t.Fatal(err)
	} else if _, err := n.Values().ReadValues(vals); err != nil && err.Error() != "EOF" {
		t.Fatal(err)
	} else if vals[0].Int32() != int32(day) {
		t.Errorf("dt value %v, want %d (%s)", vals[0], int32(day), day)
	}
	back, err := parquet.Read[schema.PosLineRow](f, st.Size())
	if err != nil || len(back) != 1 || back[0].CustomerID != "C9" || back[0].Quantity != 3 || back[0].PromotionID != "" {
		t.Errorf("read back %+v, %v", back, err)
	}
}

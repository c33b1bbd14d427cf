package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// wantColumns is the contract other packages rely on: every table's columns,
// in order, with their Delta types and nullability (dt last).
var wantColumns = map[string][]DeltaField{
	TableNamePOSLines: {
		{Name: "transaction_id", Type: "string"}, {Name: "line_no", Type: "integer"},
		{Name: "store_id", Type: "string"}, {Name: "register_id", Type: "string"},
		{Name: "txn_type", Type: "string"}, {Name: "business_date", Type: "date"},
		{Name: "event_time", Type: "timestamp"}, {Name: "event_utc_offset_min", Type: "integer"},
		{Name: "currency", Type: "string"}, {Name: "customer_id", Type: "string", Nullable: true},
		{Name: "txn_total", Type: "decimal(18,4)"}, {Name: "sku", Type: "string"},
		{Name: "quantity", Type: "long"}, {Name: "unit_price", Type: "decimal(18,4)"},
		{Name: "discount", Type: "decimal(18,4)"}, {Name: "tax", Type: "decimal(18,4)"},
		{Name: "line_total", Type: "decimal(18,4)"}, {Name: "promotion_id", Type: "string", Nullable: true},
		{Name: "src_partition", Type: "integer"}, {Name: "src_offset", Type: "long"},
		{Name: "ingested_at", Type: "timestamp"}, {Name: "dt", Type: "date"},
	},
	TableNameInventorySnapshots: {
		{Name: "snapshot_id", Type: "string"}, {Name: "kind", Type: "string"},
		{Name: "snapshot_rows", Type: "integer"}, {Name: "location_id", Type: "string"},
		{Name: "sku", Type: "string"}, {Name: "on_hand", Type: "long"},
		{Name: "allocated", Type: "long"}, {Name: "in_transit", Type: "long"},
		{Name: "as_of", Type: "timestamp"}, {Name: "as_of_utc_offset_min", Type: "integer"},
		{Name: "business_date", Type: "date"}, {Name: "src_partition", Type: "integer"},
		{Name: "src_offset", Type: "long"}, {Name: "ingested_at", Type: "timestamp"},
		{Name: "dt", Type: "date"},
	},
	TableNamePurchaseOrderLines: {
		{Name: "po_id", Type: "string"}, {Name: "line_no", Type: "integer"},
		{Name: "supplier_id", Type: "string"}, {Name: "location_id", Type: "string"},
		{Name: "sku", Type: "string"}, {Name: "qty_ordered", Type: "long"},
		{Name: "qty_received", Type: "long"}, {Name: "status", Type: "string"},
		{Name: "order_date", Type: "date"}, {Name: "expected_date", Type: "date"},
		{Name: "updated_at", Type: "timestamp"}, {Name: "updated_at_utc_offset_min", Type: "integer"},
		{Name: "unit_cost", Type: "decimal(18,4)"}, {Name: "currency", Type: "string"},
		{Name: "business_date", Type: "date"}, {Name: "src_partition", Type: "integer"},
		{Name: "src_offset", Type: "long"}, {Name: "ingested_at", Type: "timestamp"},
		{Name: "dt", Type: "date"},
	},
	TableNameItemLocations: {
		{Name: "sku", Type: "string"}, {Name: "location_id", Type: "string"},
		{Name: "description", Type: "string"}, {Name: "category", Type: "string"},
		{Name: "department", Type: "string"}, {Name: "supplier_id", Type: "string"},
		{Name: "lead_time_days", Type: "integer"}, {Name: "review_period_days", Type: "integer"},
		{Name: "case_pack", Type: "integer"}, {Name: "moq", Type: "integer"},
		{Name: "unit_cost", Type: "decimal(18,4)"}, {Name: "unit_price", Type: "decimal(18,4)"},
		{Name: "currency", Type: "string"}, {Name: "service_level", Type: "double"},
		{Name: "active", Type: "boolean"}, {Name: "updated_at", Type: "timestamp"},
		{Name: "updated_at_utc_offset_min", Type: "integer"}, {Name: "business_date", Type: "date"},
		{Name: "src_partition", Type: "integer"}, {Name: "src_offset", Type: "long"},
		{Name: "ingested_at", Type: "timestamp"}, {Name: "dt", Type: "date"},
	},
	TableNamePromotions: {
		{Name: "promotion_id", Type: "string"}, {Name: "sku", Type: "string"},
		{Name: "location_id", Type: "string", Nullable: true}, {Name: "start_date", Type: "date"},
		{Name: "end_date", Type: "date"}, {Name: "discount_pct", Type: "integer"},
		{Name: "status", Type: "string"}, {Name: "updated_at", Type: "timestamp"},
		{Name: "updated_at_utc_offset_min", Type: "integer"}, {Name: "business_date", Type: "date"},
		{Name: "src_partition", Type: "integer"}, {Name: "src_offset", Type: "long"},
		{Name: "ingested_at", Type: "timestamp"}, {Name: "dt", Type: "date"},
	},
	TableNameRejects: {
		{Name: "topic", Type: "string"}, {Name: "partition", Type: "integer"},
		{Name: "offset", Type: "long"}, {Name: "key", Type: "binary", Nullable: true},
		{Name: "value", Type: "binary"}, {Name: "error", Type: "string"},
		{Name: "reason", Type: "string"}, {Name: "field", Type: "string", Nullable: true},
		{Name: "received_at", Type: "timestamp"}, {Name: "business_date", Type: "date"},
		{Name: "dt", Type: "date"},
	},
}

func TestDeltaSchemaStringHasEveryColumnWithItsType(t *testing.T) {
	tables := Tables()
	if len(tables) != len(wantColumns) {
		t.Fatalf("Tables() has %d tables, want %d", len(tables), len(wantColumns))
	}
	for _, tb := range tables {
		t.Run(tb.Name, func(t *testing.T) {
			s, err := tb.DeltaSchemaString()
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Type   string `json:"type"`
				Fields []struct {
					Name     string          `json:"name"`
					Type     json.RawMessage `json:"type"`
					Nullable *bool           `json:"nullable"`
					Metadata map[string]any  `json:"metadata"`
				} `json:"fields"`
			}
			dec := json.NewDecoder(strings.NewReader(s))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("schemaString is not the Delta struct JSON: %v\n%s", err, s)
			}
			if got.Type != "struct" {
				t.Errorf("type = %q, want struct", got.Type)
			}
			want := wantColumns[tb.Name]
			if len(got.Fields) != len(want) {
				t.Fatalf("%d fields, want %d: %s", len(got.Fields), len(want), s)
			}
			for i, f := range got.Fields {
				var typ string
				if err := json.Unmarshal(f.Type, &typ); err != nil {
					t.Errorf("field %s: type %s is not a primitive type name", f.Name, f.Type)
				}
				if f.Name != want[i].Name || typ != want[i].Type {
					t.Errorf("field %d = %s %s, want %s %s", i, f.Name, typ, want[i].Name, want[i].Type)
				}
				if f.Nullable == nil || *f.Nullable != want[i].Nullable {
					t.Errorf("field %s: nullable = %v, want %v", f.Name, f.Nullable, want[i].Nullable)
				}
				if f.Metadata == nil {
					t.Errorf("field %s: metadata missing", f.Name)
				}
			}
			if !slices.Equal(tb.PartitionColumns(), []string{"dt"}) {
				t.Errorf("partition columns = %v", tb.PartitionColumns())
			}
			// Keys name real columns.
			for _, k := range slices.Concat(tb.SortKey, tb.NaturalKey) {
				if _, ok := tb.Schema.Lookup(k); !ok {
					t.Errorf("key column %s is not in the schema", k)
				}
			}
			if _, ok := tb.Schema.Lookup("dt"); ok {
				t.Errorf("dt is stored inside the Parquet files; it must only be a partition value")
			}
			byName, ok := TableByName(tb.Name)
			if !ok || byName.Name != tb.Name || byName.Schema != tb.Schema {
				t.Errorf("TableByName(%q) = %v, %v", tb.Name, byName, ok)
			}
		})
	}
	if _, ok := TableByName("nope"); ok {
		t.Errorf("TableByName found a table that does not exist")
	}
}

func TestParquetLogicalTypesAreDateDecimalAndTimestampMicros(t *testing.T) {
	for _, tb := range Tables() {
		for _, f := range tb.Schema.Fields() {
			lt := f.Type().LogicalType()
			name := f.Name()
			switch {
			case name == "business_date" || strings.HasSuffix(name, "_date"):
				if f.Type().Kind() != parquet.Int32 || lt == nil || lt.String() != "DATE" {
					t.Errorf("%s.%s: %v %v, want int32 DATE", tb.Name, name, f.Type().Kind(), lt)
				}
			case slices.Contains([]string{"txn_total", "unit_price", "discount", "tax", "line_total", "unit_cost"}, name):
				if f.Type().Kind() != parquet.Int64 || lt == nil || lt.String() != "DECIMAL(18,4)" {
					t.Errorf("%s.%s: %v %v, want int64 DECIMAL(18,4)", tb.Name, name, f.Type().Kind(), lt)
				}
			case slices.Contains([]string{"event_time", "as_of", "updated_at", "ingested_at", "received_at"}, name):
				if f.Type().Kind() != parquet.Int64 || lt == nil || lt.String() != "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)" {
					t.Errorf("%s.%s: %v %v, want int64 TIMESTAMP(MICROS, UTC)", tb.Name, name, f.Type().Kind(), lt)
				}
			}
		}
	}
}

func sampleRows(t *testing.T) ([]PosLineRow, []InventoryRow, []POLineRow, []ItemLocationRow, []PromotionRow, []RejectRow) {
	t.Helper()
	paris := time.FixedZone("", 2*3600)
	src := Source{Partition: 3, Offset: 41, IngestedAt: time.Date(2025, 6, 2, 0, 30, 0, 0, time.UTC)}
	txn := samplePOS()
	pos := txn.AppendRows(nil, src)
	inv := sampleInventory()
	inv.AsOf = time.Date(2025, 6, 1, 23, 30, 0, 0, time.FixedZone("", -5*3600)) // 04:30 UTC on June 2
	po := samplePO()
	po.UpdatedAt = time.Date(2025, 6, 2, 1, 0, 0, 0, paris) // still June 1 in UTC
	il := sampleItemLocation()
	chainWide := samplePromotion()
	chainWide.UpdatedAt = time.Date(2025, 6, 2, 1, 30, 0, 0, paris) // still June 1 in UTC
	atStore := samplePromotion()
	atStore.LocationID = "S012"
	atStore.Status = PromotionCancelled
	prs := chainWide.AppendRows(nil, src)
	prs = atStore.AppendRows(prs, src)
	err := &DecodeError{Path: "lines[2].unit_price", Reason: ReasonInvalidValue, Msg: "negative"}
	rej := []RejectRow{
		NewRejectRow(TopicPOS, 1, 7, []byte("S001"), []byte(`{"broken"`), err, time.Date(2025, 6, 1, 23, 0, 0, 0, time.FixedZone("", -3*3600))),
		NewRejectRow(TopicInventory, 0, 8, nil, []byte{}, &DecodeError{Reason: ReasonMalformedJSON, Msg: "unexpected end of JSON"}, src.IngestedAt),
	}
	return pos, inv.AppendRows(nil, src), po.AppendRows(nil, src), il.AppendRows(nil, src), prs, rej
}

func TestAppendRowsCarryHeaderLineageAndLocalBusinessDate(t *testing.T) {
	pos, inv, po, il, prs, rej := sampleRows(t)
	txn := samplePOS()
	if len(pos) != len(txn.Lines) {
		t.Fatalf("%d pos rows, want %d", len(pos), len(txn.Lines))
	}
	for i, r := range pos {
		l := txn.Lines[i]
		if r.TransactionID != txn.TransactionID || r.LineNo != int32(l.LineNo) || r.SKU != l.SKU ||
			r.TxnTotal != txn.Total || r.LineTotal != l.LineTotal || r.BusinessDate != txn.BusinessDate ||
			r.SrcPartition != 3 || r.SrcOffset != 41 || r.PromotionID != l.PromotionID {
			t.Errorf("row %d = %+v does not carry its line and header", i, r)
		}
		if r.EventUTCOffsetMin != 120 {
			t.Errorf("row %d: offset %d min, want 120", i, r.EventUTCOffsetMin)
		}
		if r.PartitionDate() != txn.BusinessDate {
			t.Errorf("row %d: dt %v, want %v", i, r.PartitionDate(), txn.BusinessDate)
		}
	}
	if got, want := inv[0].PartitionDate(), NewDate(2025, 6, 1); got != want || inv[0].AsOfUTCOffsetMin != -300 {
		t.Errorf("inventory dt %v offset %d, want local date %v and -300", got, inv[0].AsOfUTCOffsetMin, want)
	}
	if got, want := po[0].PartitionDate(), NewDate(2025, 6, 2); got != want {
		t.Errorf("po dt %v, want local date %v", got, want)
	}
	if got, want := il[0].PartitionDate(), DateOf(sampleItemLocation().UpdatedAt); got != want {
		t.Errorf("item_location dt %v, want %v", got, want)
	}
	if got, want := prs[0].PartitionDate(), NewDate(2025, 6, 2); got != want || prs[0].UpdatedAtUTCOffsetMin != 120 {
		t.Errorf("promotion dt %v offset %d, want local date %v and 120", got, prs[0].UpdatedAtUTCOffsetMin, want)
	}
	sp := samplePromotion()
	if r := prs[0]; r.PromotionID != sp.PromotionID || r.SKU != sp.SKU || r.LocationID != "" ||
		r.StartDate != sp.StartDate || r.EndDate != sp.EndDate || r.DiscountPct != 20 || r.Status != "planned" ||
		r.SrcPartition != 3 || r.SrcOffset != 41 || !r.IngestedAt.Equal(time.Date(2025, 6, 2, 0, 30, 0, 0, time.UTC)) {
		t.Errorf("chain-wide promotion row = %+v", r)
	}
	if r := prs[1]; r.LocationID != "S012" || r.Status != "cancelled" {
		t.Errorf("promotion row at a store = %+v", r)
	}
	if got, want := rej[0].PartitionDate(), NewDate(2025, 6, 2); got != want {
		t.Errorf("reject dt %v, want the UTC date %v", got, want)
	}
	if rej[0].Reason != ReasonInvalidValue || rej[0].Field != "lines[2].unit_price" || rej[0].Error != "lines[2].unit_price: negative" {
		t.Errorf("reject row = %+v", rej[0])
	}
}

// writeRead writes rows with parquet-go's generic writer and reads them back.
func writeRead[T any](t *testing.T, rows []T) []T {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := parquet.Read[T](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRowsRoundTripThroughParquet(t *testing.T) {
	pos, inv, po, il, prs, rej := sampleRows(t)
	check := func(name string, got, want any) {
		t.Helper()
		// Times come back in UTC: compare instants, then everything else.
		if !reflect.DeepEqual(normTimes(got), normTimes(want)) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", name, got, want)
		}
	}
	check("pos_lines", writeRead(t, pos), pos)
	check("inventory_snapshots", writeRead(t, inv), inv)
	check("purchase_order_lines", writeRead(t, po), po)
	check("item_locations", writeRead(t, il), il)
	check("promotions", writeRead(t, prs), prs)
	gotRej := writeRead(t, rej)
	// An absent key is written as null and read back as nil.
	if gotRej[1].Key != nil || gotRej[1].Field != "" {
		t.Errorf("reject without key/field read back as %q / %q", gotRej[1].Key, gotRej[1].Field)
	}
	gotRej[1].Value = []byte{} // required binary: empty reads back as empty or nil
	rej[1].Key = nil
	check("rejects", gotRej, rej)
}

// normTimes returns v with every time.Time field (recursively in slices and
// structs) converted to UTC, so DeepEqual compares instants.
func normTimes(v any) any {
	rv := reflect.ValueOf(v)
	out := reflect.New(rv.Type()).Elem()
	out.Set(rv)
	if rv.Kind() == reflect.Slice {
		out.Set(reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len()))
		reflect.Copy(out, rv)
		for i := range out.Len() {
			normStruct(out.Index(i))
		}
	}
	return out.Interface()
}

func normStruct(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if tm, ok := f.Interface().(time.Time); ok {
			f.Set(reflect.ValueOf(tm.UTC()))
		}
	}
}

func TestReasonOfAndFieldOf(t *testing.T) {
	de := &DecodeError{Path: "lines[0].sku", Reason: ReasonMissingField, Msg: "missing"}
	wrapped := errors.Join(errors.New("context"), de)
	if ReasonOf(wrapped) != ReasonMissingField || FieldOf(wrapped) != "lines[0].sku" {
		t.Errorf("ReasonOf/FieldOf do not look through wrapping: %q %q", ReasonOf(wrapped), FieldOf(wrapped))
	}
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != ReasonMalformedJSON {
		t.Errorf("ReasonOf fallbacks wrong")
	}
	if !slices.Contains(Reasons(), ReasonOf(de)) {
		t.Errorf("Reasons() lacks %s", ReasonOf(de))
	}
}

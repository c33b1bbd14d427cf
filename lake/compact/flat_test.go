package compact

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// parquetGoRows reads a data file's bytes with parquet-go's GenericReader
// (the path compaction takes when flatDecoder cannot).
func parquetGoRows[T any](t *testing.T, data []byte, key string) []T {
	t.Helper()
	rs, err := decodeWhole[T](data, delta.File{Add: delta.Add{Path: key, Size: int64(len(data))}, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// checkFlatTable decodes every live file of a table with flatDecoder and
// with parquet-go and wants the same rows, decoded without falling back.
func checkFlatTable[T any](t *testing.T, l *lake.Lake, tb *schema.Table) {
	t.Helper()
	ctx := context.Background()
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dec := newFlatDecoder[T]()
	if dec == nil {
		t.Fatalf("no flat decoder for %s", tb.Name)
	}
	if snap.NumFiles() == 0 {
		t.Fatalf("%s has no files", tb.Name)
	}
	rows := 0
	for _, f := range snap.Files() {
		data, err := fetchWhole(ctx, l, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.decode(data)
		if err != nil {
			t.Fatalf("%s: flat decode: %v", f.Key, err)
		}
		want := parquetGoRows[T](t, data, f.Key)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: flat decode differs from parquet-go:\n got %+v\nwant %+v", f.Key, got, want)
		}
		rows += len(got)
	}
	if rows == 0 {
		t.Fatalf("%s: no rows read", tb.Name)
	}
}

func TestFlatDecoderReadsIngestFilesAsParquetGoDoes(t *testing.T) {
	// Ingest's small files of every raw table a world fills, resends
	// included (optional columns null and not, dictionary and plain
	// strings, booleans, doubles, timestamps).
	l, _, _ := loadSmall(t, smallWorld, 6*time.Hour, 5)
	tests := []struct {
		table *schema.Table
		check func(*testing.T, *lake.Lake, *schema.Table)
	}{
		{schema.TablePOSLines(), checkFlatTable[schema.PosLineRow]},
		{schema.TableInventorySnapshots(), checkFlatTable[schema.InventoryRow]},
		{schema.TablePurchaseOrderLines(), checkFlatTable[schema.POLineRow]},
		{schema.TableItemLocations(), checkFlatTable[schema.ItemLocationRow]},
		{schema.TablePromotions(), checkFlatTable[schema.PromotionRow]},
	}
	for _, tt := range tests {
		t.Run(tt.table.Name, func(t *testing.T) { tt.check(t, l, tt.table) })
	}
}

// manyPosRows returns n rows whose values vary enough to fill several
// pages per column, with nulls in the optional columns.
func manyPosRows(n int, dt schema.Date) []schema.PosLineRow {
	rows := make([]schema.PosLineRow, n)
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := range rows {
		r := &rows[i]
		r.TransactionID = fmt.Sprintf("txn-%09d-%s", i/3, "with-some-length-to-fill-pages")
		r.LineNo = int32(i%3 + 1)
		r.StoreID = fmt.Sprintf("S%03d", i%17)
		r.RegisterID = fmt.Sprintf("R%d", i%5)
		r.TxnType = []string{"sale", "return", "void"}[i%3]
		r.BusinessDate = dt
		r.EventTime = base.Add(time.Duration(i)*time.Second + time.Duration(i%1000)*time.Microsecond).UTC()
		r.EventUTCOffsetMin = int32(60 * (i % 3))
		r.Currency = "EUR"
		if i%4 != 0 {
			r.CustomerID = fmt.Sprintf("C%07d", i*7919%1000003)
		}
		r.TxnTotal = schema.Money(i * 131)
		r.SKU = fmt.Sprintf("SKU-%05d", i*31%4099)
		r.Quantity = int64(i%9 - 2)
		r.UnitPrice = schema.Money(1000 + i%777)
		r.Discount = schema.Money(i % 50)
		r.Tax = schema.Money(i % 70)
		r.LineTotal = schema.Money(i * 3)
		if i%11 == 0 {
			r.PromotionID = fmt.Sprintf("P%02d", i%13)
		}
		r.SrcPartition = int32(i % 4)
		r.SrcOffset = int64(i)
		r.IngestedAt = r.EventTime.Add(time.Second)
	}
	return rows
}

func TestFlatDecoderReadsManyPagesAndRowGroups(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, t.TempDir())
	dt := schema.DateOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	in := manyPosRows(40_000, dt)
	for _, o := range []lake.WriteOptions{
		{RowGroupRows: 15_000},
		{FastCompression: true},
	} {
		adds, err := lake.WriteFiles(ctx, l, schema.TablePOSLines(), dt, in, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(adds) != 1 {
			t.Fatalf("%d files", len(adds))
		}
		key, err := lake.DataKey(schema.TableNamePOSLines, adds[0].Path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := fetchWhole(ctx, l, delta.File{Add: adds[0], Key: key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := newFlatDecoder[schema.PosLineRow]().decode(data)
		if err != nil {
			t.Fatalf("options %+v: %v", o, err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Fatalf("options %+v: rows differ from those written", o)
		}
		if want := parquetGoRows[schema.PosLineRow](t, data, key); !reflect.DeepEqual(got, want) {
			t.Fatalf("options %+v: rows differ from parquet-go's", o)
		}
		if o.RowGroupRows > 0 && len(pf.RowGroups()) < 2 {
			t.Errorf("options %+v: %d row groups, the test wants several", o, len(pf.RowGroups()))
		}
	}
}

// TestFlatDecoderLeavesOtherFilesToParquetGo: files the decoder does not
// handle (another page version, cut short, corrupt) go through parquet-go,
// which reads them or reports the error; other writers' files it handles
// it reads as parquet-go does.
func TestFlatDecoderLeavesOtherFilesToParquetGo(t *testing.T) {
	dt := schema.DateOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	in := manyPosRows(300, dt)
	write := func(opts ...parquet.WriterOption) []byte {
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[schema.PosLineRow](&buf, opts...)
		if _, err := w.Write(in); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		flat bool // the flat decoder reads it
	}{
		{"data page v2", write(parquet.DataPageVersion(2), parquet.Compression(&parquet.Zstd)), false},
		{"snappy, v1, plain strings", write(parquet.DataPageVersion(1), parquet.Compression(&parquet.Snappy)), true},
	}
	f := delta.File{Key: "t/part.parquet"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := newFlatDecoder[schema.PosLineRow]()
			flat, ferr := dec.decode(tt.data)
			got, err := decodeWhole(tt.data, f, dec)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(in) {
				t.Fatalf("%d rows, want %d", len(got), len(in))
			}
			if want := parquetGoRows[schema.PosLineRow](t, tt.data, f.Key); !reflect.DeepEqual(got, want) {
				t.Fatal("rows differ from parquet-go's")
			}
			if (ferr == nil) != tt.flat {
				t.Fatalf("flat decode: %v", ferr)
			}
			if ferr == nil && !reflect.DeepEqual(flat, got) {
				t.Fatal("the flat decoder decoded other rows")
			}
		})
	}
	t.Run("cut short", func(t *testing.T) {
		data := write(parquet.DataPageVersion(1))
		dec := newFlatDecoder[schema.PosLineRow]()
		for _, n := range []int{0, 4, 11, len(data) / 2, len(data) - 9, len(data) - 1} {
			if _, err := dec.decode(data[:n]); err == nil {
				t.Errorf("%d of %d bytes decoded", n, len(data))
			}
			if _, err := decodeWhole(data[:n], f, dec); err == nil {
				t.Errorf("%d of %d bytes read", n, len(data))
			}
		}
		// Every byte of the footer (and some of the pages) changed in turn:
		// no panic escapes, and a decode that succeeds returns the file's
		// row count.
		footer := len(data) - 8 - int(binary.LittleEndian.Uint32(data[len(data)-8:]))
		for i := range data {
			if i < footer && i%7 != 0 {
				continue
			}
			c := bytes.Clone(data)
			c[i] ^= 0x5a
			if rs, err := dec.decode(c); err == nil && len(rs) != len(in) {
				t.Fatalf("byte %d changed: %d rows", i, len(rs))
			}
		}
	})
	t.Run("not a flat row type", func(t *testing.T) {
		if newFlatDecoder[schema.RejectRow]() != nil {
			t.Error("a decoder for RejectRow ([]byte columns)")
		}
	})
}

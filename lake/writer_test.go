package lake

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go/format"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

var day1 = schema.NewDate(2026, time.March, 1)

// localLake opens a lake over a local bucket in a fresh directory.
func localLake(t testing.TB) (*Lake, *objstore.Local) {
	t.Helper()
	b, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, b
}

// localPaths maps a table's adds to the local store's file paths.
func localPaths(t testing.TB, b *objstore.Local, table string, adds []delta.Add) []string {
	t.Helper()
	paths := make([]string, len(adds))
	for i, a := range adds {
		k, err := DataKey(table, a.Path)
		if err != nil {
			t.Fatal(err)
		}
		paths[i] = b.Path(k)
	}
	return paths
}

func TestEveryTableReadsBackExactly(t *testing.T) {
	db := openDuckDB(t)
	const n = 3000
	t.Run("pos_lines rows read back exactly", func(t *testing.T) {
		roundTrip(t, db, schema.TablePOSLines(), posLineRows(1, n, day1))
	})
	t.Run("inventory_snapshots rows read back exactly", func(t *testing.T) {
		roundTrip(t, db, schema.TableInventorySnapshots(), inventoryRows(1, n, day1))
	})
	t.Run("purchase_order_lines rows read back exactly", func(t *testing.T) {
		roundTrip(t, db, schema.TablePurchaseOrderLines(), poLineRows(1, n, day1))
	})
	t.Run("item_locations rows read back exactly", func(t *testing.T) {
		roundTrip(t, db, schema.TableItemLocations(), itemLocationRows(1, n, day1))
	})
	t.Run("rejects rows read back exactly", func(t *testing.T) {
		roundTrip(t, db, schema.TableRejects(), rejectRows(1, n, day1))
	})
	t.Run("pos_lines rows with fast compression read back exactly", func(t *testing.T) {
		roundTrip(t, db, schema.TablePOSLines(), posLineRows(2, n, day1), WriteOptions{FastCompression: true})
	})
}

// roundTrip writes rows as one file of partition day1 and checks the add
// action, the stats against the rows, DuckDB's reading, and ReadRows.
func roundTrip[T any](t *testing.T, db *sql.DB, tb *schema.Table, rows []T, opts ...WriteOptions) {
	ctx := t.Context()
	l, b := localLake(t)
	var o WriteOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	adds, err := WriteFiles(ctx, l, tb, day1, rows, o)
	if err != nil {
		t.Fatalf("write files: %v", err)
	}
	if len(adds) != 1 {
		t.Fatalf("wrote %d files, want 1", len(adds))
	}
	a := adds[0]
	rel, _ := delta.DecodePath(a.Path)
	if !strings.HasPrefix(rel, "dt=2026-03-01/part-") || !strings.HasSuffix(rel, ".parquet") {
		t.Errorf("add path %q, want dt=2026-03-01/part-<uuid>.parquet", a.Path)
	}
	if got := a.PartitionValues; len(got) != 1 || got["dt"] != "2026-03-01" {
		t.Errorf("partition values %v, want dt=2026-03-01", got)
	}
	if !a.DataChange {
		t.Error("an ingest write has dataChange=false, want true")
	}
	key, err := DataKey(tb.Name, a.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, tb.Name+"/dt=2026-03-01/") {
		t.Errorf("key %q is not under %s/dt=2026-03-01/", key, tb.Name)
	}
	st, err := os.Stat(b.Path(key))
	if err != nil {
		t.Fatalf("uploaded file: %v", err)
	}
	if st.Size() != a.Size {
		t.Errorf("add size %d, file size %d", a.Size, st.Size())
	}
	if d := time.Since(time.UnixMilli(a.ModificationTime)); d < 0 || d > time.Minute {
		t.Errorf("modification time %d is not about now", a.ModificationTime)
	}
	checkStats(t, a, rows)
	checkDuckDB(t, db, []string{b.Path(key)}, rows)

	got, err := ReadRows[T](ctx, l, key)
	if err != nil {
		t.Fatalf("read rows: %v", err)
	}
	if len(got) != len(rows) {
		t.Fatalf("read %d rows, want %d", len(got), len(rows))
	}
	for i := range rows {
		if !rowsEqual(got[i], rows[i]) {
			t.Fatalf("row %d read back as %+v, want %+v", i, got[i], rows[i])
		}
	}
}

// rowsEqual compares two rows field by field; times by instant.
func rowsEqual[T any](a, b T) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		fa, fb := va.Field(i), vb.Field(i)
		if fa.Type() == timeType {
			if !fa.Interface().(time.Time).Equal(fb.Interface().(time.Time)) {
				return false
			}
			continue
		}
		if fa.Type() == bytesType {
			if !bytes.Equal(fa.Bytes(), fb.Bytes()) || (fa.IsNil() != fb.IsNil() && isOptionalField(va.Type().Field(i))) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			return false
		}
	}
	return true
}

func isOptionalField(f reflect.StructField) bool {
	return strings.Contains(f.Tag.Get("parquet"), ",optional")
}

// statText renders a value as Delta stats hold it, or ok=false for a type
// without min/max stats.
func statText(c column, v reflect.Value, upper bool) (string, bool) {
	switch c.typ {
	case moneyType:
		return decimalText(v.Int(), schema.MoneyScale), true
	case dateType:
		return schema.Date(v.Int()).String(), true
	case timeType:
		tm := v.Interface().(time.Time).UTC()
		ms := tm.Truncate(time.Millisecond)
		if upper && !ms.Equal(tm) {
			ms = ms.Add(time.Millisecond)
		}
		return ms.Format("2006-01-02T15:04:05.000Z"), true
	case bytesType:
		return "", false
	}
	switch c.typ.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), true
	}
	return "", false
}

// isNull says whether a field value is written as null.
func isNull(c column, v reflect.Value) bool {
	if !c.optional {
		return false
	}
	switch c.typ.Kind() {
	case reflect.String:
		return v.String() == ""
	case reflect.Slice:
		return v.IsNil()
	}
	return false
}

// checkStats computes each column's min, max and null count from the rows in
// Go and compares them with the add's stats.
func checkStats[T any](t *testing.T, a delta.Add, rows []T) {
	t.Helper()
	st, err := a.ParseStats()
	if err != nil || st == nil {
		t.Fatalf("stats %q: %v", a.Stats, err)
	}
	if st.NumRecords != int64(len(rows)) {
		t.Errorf("numRecords %d, want %d", st.NumRecords, len(rows))
	}
	for _, c := range columnsOf(reflect.TypeFor[T]()) {
		var (
			nulls    int64
			lo, hi   reflect.Value
			have     bool
			less     = lessFunc(c)
			anyValue bool
		)
		for i := range rows {
			v := reflect.ValueOf(rows[i]).Field(c.field)
			if isNull(c, v) {
				nulls++
				continue
			}
			anyValue = true
			if !have || less(v, lo) {
				lo = v
			}
			if !have || less(hi, v) {
				hi = v
			}
			have = true
		}
		if got := fmt.Sprint(st.NullCount[c.name]); got != strconv.FormatInt(nulls, 10) {
			t.Errorf("column %s: nullCount %s, want %d", c.name, got, nulls)
		}
		wantLo, okLo := "", false
		wantHi, okHi := "", false
		if anyValue {
			wantLo, okLo = statText(c, lo, false)
			wantHi, okHi = statText(c, hi, true)
		}
		if okLo && c.typ.Kind() == reflect.String && utf8.RuneCountInString(wantLo) > 32 {
			wantLo = string([]rune(wantLo)[:32])
		}
		if okHi && c.typ.Kind() == reflect.String && utf8.RuneCountInString(wantHi) > 32 {
			okLo, okHi = false, false // no bounds when the maximum cannot be cut
		}
		gotLo, hasLo := st.MinValues[c.name]
		gotHi, hasHi := st.MaxValues[c.name]
		if hasLo != (okLo && okHi) || hasHi != (okLo && okHi) {
			t.Errorf("column %s: has min %v max %v, want bounds %v", c.name, hasLo, hasHi, okLo && okHi)
			continue
		}
		if !hasLo {
			continue
		}
		if fmt.Sprint(gotLo) != wantLo {
			t.Errorf("column %s: min %v, want %s", c.name, gotLo, wantLo)
		}
		if fmt.Sprint(gotHi) != wantHi {
			t.Errorf("column %s: max %v, want %s", c.name, gotHi, wantHi)
		}
	}
	if _, ok := st.NullCount["dt"]; ok {
		t.Error("stats hold the partition column dt")
	}
}

// lessFunc orders values of column c as Parquet does.
func lessFunc(c column) func(a, b reflect.Value) bool {
	switch {
	case c.typ == timeType:
		return func(a, b reflect.Value) bool { return a.Interface().(time.Time).Before(b.Interface().(time.Time)) }
	case c.typ == bytesType:
		return func(a, b reflect.Value) bool { return bytes.Compare(a.Bytes(), b.Bytes()) < 0 }
	case c.typ.Kind() == reflect.String:
		return func(a, b reflect.Value) bool { return a.String() < b.String() }
	case c.typ.Kind() == reflect.Float64:
		return func(a, b reflect.Value) bool { return a.Float() < b.Float() }
	case c.typ.Kind() == reflect.Bool:
		return func(a, b reflect.Value) bool { return !a.Bool() && b.Bool() }
	}
	return func(a, b reflect.Value) bool { return a.Int() < b.Int() }
}

func TestMoneyDatesAndInstantsAreExactInDuckDB(t *testing.T) {
	ctx := t.Context()
	l, b := localLake(t)
	cet := time.FixedZone("CET", 3600)
	row := schema.PosLineRow{
		TransactionID: "T1", LineNo: 1, StoreID: "S001", RegisterID: "R1", TxnType: "sale",
		BusinessDate: day1,
		EventTime:    time.Date(2026, time.March, 1, 10, 15, 30, 123456000, cet),
		Currency:     "EUR",
		TxnTotal:     -1, // -0.0001
		SKU:          "SKU-1", Quantity: 3,
		UnitPrice:  123400,            // 12.34
		Discount:   1,                 // 0.0001
		Tax:        99999999999999999, // 9999999999999.9999, the DECIMAL(18,4) maximum
		LineTotal:  -12345678901234,   // -1234567890.1234
		IngestedAt: time.Date(2026, time.March, 1, 9, 15, 31, 0, time.UTC),
	}
	tb := schema.TablePOSLines()
	adds, err := WriteFiles(ctx, l, tb, day1, []schema.PosLineRow{row}, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := localPaths(t, b, tb.Name, adds)[0]
	db := openDuckDB(t)
	var (
		price, total, tax, lineTotal, discount string
		priceOK, dateOK, instantOK, zoneOK     bool
		typPrice, typDate, typTime             string
	)
	err = db.QueryRow(`SELECT
		CAST(unit_price AS VARCHAR), CAST(txn_total AS VARCHAR), CAST(tax AS VARCHAR),
		CAST(line_total AS VARCHAR), CAST(discount AS VARCHAR),
		unit_price = 12.34::DECIMAL(18,4),
		business_date = DATE '2026-03-01',
		event_time = TIMESTAMPTZ '2026-03-01 10:15:30.123456+01:00',
		event_time = TIMESTAMPTZ '2026-03-01 09:15:30.123456+00:00',
		typeof(unit_price), typeof(business_date), typeof(event_time)
		FROM read_parquet(?)`, path).Scan(&price, &total, &tax, &lineTotal, &discount,
		&priceOK, &dateOK, &instantOK, &zoneOK, &typPrice, &typDate, &typTime)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"unit_price", price, "12.3400"},
		{"txn_total", total, "-0.0001"},
		{"tax", tax, "9999999999999.9999"},
		{"line_total", lineTotal, "-1234567890.1234"},
		{"discount", discount, "0.0001"},
		{"typeof(unit_price)", typPrice, "DECIMAL(18,4)"},
		{"typeof(business_date)", typDate, "DATE"},
		{"typeof(event_time)", typTime, "TIMESTAMP WITH TIME ZONE"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !priceOK || !dateOK || !instantOK || !zoneOK {
		t.Errorf("price equal %v, date equal %v, instant equal %v (same instant in UTC %v), want all true",
			priceOK, dateOK, instantOK, zoneOK)
	}
}

func TestFilesRollAtTargetSize(t *testing.T) {
	ctx := t.Context()
	l, b := localLake(t)
	tb := schema.TablePOSLines()
	rows := posLineRows(7, 40_000, day1)
	const target = 256 << 10
	o := WriteOptions{TargetFileSize: target, RowGroupRows: 4096}
	w, err := NewTableWriter[schema.PosLineRow](l, tb, day1, o)
	if err != nil {
		t.Fatal(err)
	}
	// Uneven batches, as ingest and compaction hand them over.
	for rest := rows; len(rest) > 0; {
		n := min(len(rest), 1+len(rest)%7777)
		if err := w.Write(ctx, rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if w.Rows() != int64(len(rows)) {
		t.Errorf("writer counted %d rows, want %d", w.Rows(), len(rows))
	}
	adds, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(adds) < 3 {
		t.Fatalf("%d files for %d rows at a %d-byte target, want several", len(adds), len(rows), target)
	}
	var total int64
	seen := map[string]bool{}
	for i, a := range adds {
		if seen[a.Path] {
			t.Errorf("path %s used twice", a.Path)
		}
		seen[a.Path] = true
		st, err := a.ParseStats()
		if err != nil {
			t.Fatal(err)
		}
		total += st.NumRecords
		// The writer rolls once its upper-bound estimate passes the target,
		// checked every 1024 rows: a file ends up near the target, never far
		// beyond it.
		if a.Size > 2*target {
			t.Errorf("file %d is %d bytes, more than twice the %d target", i, a.Size, target)
		}
		if i < len(adds)-1 && a.Size < target/4 {
			t.Errorf("file %d is %d bytes, far below the %d target although more rows followed", i, a.Size, target)
		}
	}
	if total != int64(len(rows)) {
		t.Errorf("files hold %d rows, want %d", total, len(rows))
	}
	checkDuckDB(t, openDuckDB(t), localPaths(t, b, tb.Name, adds), rows)
}

func TestFileLayout(t *testing.T) {
	ctx := t.Context()
	l, _ := localLake(t)
	tb := schema.TablePOSLines()
	rows := posLineRows(3, 10_000, day1)
	adds, err := WriteFiles(ctx, l, tb, day1, rows, WriteOptions{RowGroupRows: 3000, SortedBy: []string{"store_id"}})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := DataKey(tb.Name, adds[0].Path)
	f, err := OpenParquet(ctx, l.Bucket(), key, adds[0].Size)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	if got := len(md.RowGroups); got != 4 {
		t.Errorf("%d row groups for 10,000 rows at 3,000 per group, want 4", got)
	}
	if v, ok := f.Lookup("shelflake.format"); !ok || v != FormatVersion {
		t.Errorf("key/value metadata shelflake.format = %q, %v; want %q", v, ok, FormatVersion)
	}
	for i, rg := range md.RowGroups {
		if len(rg.SortingColumns) != 1 {
			t.Errorf("row group %d: sorting columns %v, want store_id", i, rg.SortingColumns)
		}
		for j, c := range rg.Columns {
			name := strings.Join(c.MetaData.PathInSchema, ".")
			if c.MetaData.Codec != format.Zstd {
				t.Errorf("row group %d column %s: codec %v, want ZSTD", i, name, c.MetaData.Codec)
			}
			if c.ColumnIndexOffset <= 0 || c.OffsetIndexOffset <= 0 {
				t.Errorf("row group %d column %s: no page index", i, name)
			}
			if c.MetaData.Statistics.MinValue == nil && c.MetaData.Statistics.NullCount != rg.NumRows {
				t.Errorf("row group %d column %d %s: no statistics", i, j, name)
			}
		}
	}
	if n := len(f.ColumnIndexes()); n != 4*len(md.RowGroups[0].Columns) {
		t.Errorf("%d column indexes read, want one per column chunk", n)
	}
}

func TestLargeFilesSpillToDiskAndLeaveNothingBehind(t *testing.T) {
	ctx := t.Context()
	l, b := localLake(t)
	tmp := t.TempDir()
	tb := schema.TablePOSLines()
	rows := posLineRows(11, 20_000, day1)
	adds, err := WriteFiles(ctx, l, tb, day1, rows, WriteOptions{SpillBytes: 32 << 10, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if len(adds) != 1 || adds[0].Size <= 32<<10 {
		t.Fatalf("want one file larger than the 32 KiB spill threshold, got %d files", len(adds))
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	checkDuckDB(t, openDuckDB(t), localPaths(t, b, tb.Name, adds), rows)
}

func TestNoRowsWritesNoFiles(t *testing.T) {
	l, _ := localLake(t)
	adds, err := WriteFiles[schema.PosLineRow](t.Context(), l, schema.TablePOSLines(), day1, nil, WriteOptions{})
	if err != nil || len(adds) != 0 {
		t.Fatalf("write of no rows = %d adds, %v; want none", len(adds), err)
	}
}

func TestRewriteFilesCarryNoDataChange(t *testing.T) {
	l, _ := localLake(t)
	adds, err := WriteFiles(t.Context(), l, schema.TablePOSLines(), day1, posLineRows(1, 10, day1), WriteOptions{Rewrite: true})
	if err != nil {
		t.Fatal(err)
	}
	if adds[0].DataChange {
		t.Error("a rewrite's add has dataChange=true, want false")
	}
}

// failingBucket fails Put after okPuts successful ones.
type failingBucket struct {
	objstore.Bucket
	okPuts atomic.Int32
}

var errInjected = errors.New("injected put failure")

func (f *failingBucket) Put(ctx context.Context, key string, r io.Reader) error {
	if f.okPuts.Add(-1) < 0 {
		_, _ = io.Copy(io.Discard, r)
		return errInjected
	}
	return f.Bucket.Put(ctx, key, r)
}

func TestFailedWriteDeletesWhatItUploaded(t *testing.T) {
	ctx := t.Context()
	local, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fb := &failingBucket{Bucket: local}
	fb.okPuts.Store(2)
	l, err := New(fb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb := schema.TablePOSLines()
	_, err = WriteFiles(ctx, l, tb, day1, posLineRows(5, 20_000, day1), WriteOptions{TargetFileSize: 128 << 10})
	if !errors.Is(err, errInjected) {
		t.Fatalf("write error %v, want the injected failure", err)
	}
	var keys []string
	if err := local.List(ctx, "", func(a objstore.Attributes) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("objects left after a failed write: %v", keys)
	}
}

func TestAbortAfterCloseDeletesTheFiles(t *testing.T) {
	ctx := t.Context()
	l, b := localLake(t)
	w, err := NewTableWriter[schema.PosLineRow](l, schema.TablePOSLines(), day1, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, posLineRows(1, 100, day1)); err != nil {
		t.Fatal(err)
	}
	adds, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := localPaths(t, b, "pos_lines", adds)[0]
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there after abort: %v", err)
	}
	if err := w.Write(ctx, posLineRows(1, 1, day1)); err == nil {
		t.Error("write after abort succeeded")
	}
}

func TestDataKeyRefusesPathsOutsideTheTable(t *testing.T) {
	for _, c := range []struct {
		path string
		ok   bool
	}{
		{"dt=2026-03-01/part-1.parquet", true},
		{"dt%3D2026-03-01/part%201.parquet", true},
		{"s3://other/x.parquet", false},
		{"/abs/x.parquet", false},
		{"../other/x.parquet", false},
		{"dt=2026-03-01/../../x.parquet", false},
		{"%zz", false},
	} {
		k, err := DataKey("pos_lines", c.path)
		if (err == nil) != c.ok {
			t.Errorf("DataKey(%q) = %q, %v; want ok %v", c.path, k, err, c.ok)
		}
	}
}

func TestARowOfAnotherDateIsRefused(t *testing.T) {
	l, _ := localLake(t)
	rows := posLineRows(1, 10, day1)
	rows[7].BusinessDate = day1.AddDays(1)
	_, err := WriteFiles(t.Context(), l, schema.TablePOSLines(), day1, rows, WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), "row 7 belongs to dt=2026-03-02") {
		t.Fatalf("writing a row of 2026-03-02 into dt=2026-03-01: %v, want a refusal", err)
	}
}

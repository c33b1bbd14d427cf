package queries

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
	"github.com/shelflake/shelflake/schema"
)

// count runs a query returning one integer.
func count(t testing.TB, s *Session, q string) int64 {
	t.Helper()
	var n int64
	if err := s.Conn().QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func rowsUpTo[T any, PT interface {
	*T
	dated
}](rows []T, day schema.Date) int64 {
	var n int64
	for i := range rows {
		if PT(&rows[i]).PartitionDate() <= day {
			n++
		}
	}
	return n
}

func (f *fixture) rowsUpTo(table string, day schema.Date) int64 {
	switch table {
	case schema.TableNamePOSLines:
		return rowsUpTo(f.pos, day)
	case schema.TableNameInventorySnapshots:
		return rowsUpTo(f.inv, day)
	case schema.TableNamePurchaseOrderLines:
		return rowsUpTo(f.po, day)
	case schema.TableNameItemLocations:
		return rowsUpTo(f.items, day)
	case schema.TableNamePromotions:
		return rowsUpTo(f.promos, day)
	case schema.TableNameRejects:
		return rowsUpTo(f.rejects, day)
	}
	panic("unknown table " + table)
}

func TestViewsReadEveryTableAtItsLatestVersion(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	for _, tb := range rawTables() {
		info, ok := s.Table(tb.Name)
		if !ok {
			t.Fatalf("no view of %s", tb.Name)
		}
		vs := f.versions[tb.Name]
		want := f.rowsUpTo(tb.Name, f.last.AddDays(100))
		if got := count(t, s, "SELECT count(*) FROM "+tb.Name); got != want {
			t.Errorf("%s: %d rows, want %d", tb.Name, got, want)
		}
		if !info.Present || !info.Latest || info.Version != int64(len(vs)-1) || info.Records != want || !info.CommitTime.Equal(vs[len(vs)-1].committed) {
			t.Errorf("%s: info %+v, want version %d with %d records committed at %s", tb.Name, info, len(vs)-1, want, vs[len(vs)-1].committed)
		}
		var version, records int64
		if err := s.Conn().QueryRowContext(t.Context(), "SELECT version, records FROM _tables WHERE table_name = ?", tb.Name).Scan(&version, &records); err != nil {
			t.Fatal(err)
		}
		if version != info.Version || records != want {
			t.Errorf("_tables says %s is version %d with %d records", tb.Name, version, records)
		}
		if n := count(t, s, fmt.Sprintf("SELECT count(*) FROM _commits WHERE table_name = '%s'", tb.Name)); n != int64(len(vs)) {
			t.Errorf("_commits holds %d commits of %s, want %d", n, tb.Name, len(vs))
		}
		if n := count(t, s, fmt.Sprintf("SELECT sum(records_added) FROM _commits WHERE table_name = '%s'", tb.Name)); n != want {
			t.Errorf("_commits adds %d records to %s, want %d", n, tb.Name, want)
		}
	}
	if n := count(t, s, "SELECT count(*) - count(DISTINCT (transaction_id, line_no)) FROM pos_lines"); n != int64(f.resent) || n == 0 {
		t.Errorf("pos_lines holds %d resent lines, want the fixture's %d", n, f.resent)
	}
	if _, ok := s.Table("sales_daily"); ok {
		t.Error("a view of sales_daily, which neither the lake nor this build has")
	}
}

func TestTimeTravelShowsOlderVersions(t *testing.T) {
	f := getFixture(t)
	pos := schema.TableNamePOSLines
	t.Run("one table pinned to a version", func(t *testing.T) {
		s := openSession(t, f, Options{Versions: map[string]int64{pos: 2}})
		if got, want := count(t, s, "SELECT count(*) FROM pos_lines"), f.rowsUpTo(pos, f.versions[pos][2].lastDay); got != want {
			t.Errorf("pos_lines at version 2: %d rows, want %d", got, want)
		}
		info, _ := s.Table(pos)
		if info.Version != 2 || info.Latest {
			t.Errorf("pos_lines info %+v", info)
		}
		inv := schema.TableNameInventorySnapshots
		if got, want := count(t, s, "SELECT count(*) FROM inventory_snapshots"), f.rowsUpTo(inv, f.last.AddDays(100)); got != want {
			t.Errorf("inventory_snapshots (not pinned): %d rows, want all %d", got, want)
		}
		if n := count(t, s, "SELECT max(version) FROM _commits WHERE table_name = 'pos_lines'"); n != 2 {
			t.Errorf("_commits of pos_lines goes up to version %d, want 2", n)
		}
	})
	t.Run("every table pinned to a version", func(t *testing.T) {
		s := openSession(t, f, Options{Versions: map[string]int64{PinAll: 1}})
		for _, tb := range rawTables() {
			info, _ := s.Table(tb.Name)
			if info.Version != 1 {
				t.Errorf("%s at version %d, want 1", tb.Name, info.Version)
			}
			if got, want := count(t, s, "SELECT count(*) FROM "+tb.Name), f.rowsUpTo(tb.Name, f.versions[tb.Name][1].lastDay); got != want {
				t.Errorf("%s at version 1: %d rows, want %d", tb.Name, got, want)
			}
		}
	})
	t.Run("as of a time between commits", func(t *testing.T) {
		at := f.versions[pos][2].committed.Add(30 * time.Minute)
		s := openSession(t, f, Options{AsOf: at})
		for _, tb := range rawTables() {
			want := int64(0)
			for v, fv := range f.versions[tb.Name] {
				if !fv.committed.After(at) {
					want = int64(v)
				}
			}
			info, _ := s.Table(tb.Name)
			if info.Version != want || info.Latest {
				t.Errorf("%s as of %s: version %d, want %d", tb.Name, at, info.Version, want)
			}
			if got, wantRows := count(t, s, "SELECT count(*) FROM "+tb.Name), f.rowsUpTo(tb.Name, f.versions[tb.Name][want].lastDay); got != wantRows {
				t.Errorf("%s as of %s: %d rows, want %d", tb.Name, at, got, wantRows)
			}
		}
		// A saved query sees the older lake: its answer is the one the
		// rows of the first two batches give.
		old := *f
		end := f.versions[pos][2].lastDay
		old.pos = filterRows(f.pos, end)
		old.items = filterRows(f.items, end)
		q, err := LookupSaved("top_movers")
		if err != nil {
			t.Fatal(err)
		}
		var got capture
		if _, err := s.RunSaved(t.Context(), &got, q, map[string]string{"days": "7"}); err != nil {
			t.Fatal(err)
		}
		compareResult(t, &got, expectTopMovers(&old, 7, end, 20, ""))
	})
	t.Run("as of a time before the lake existed is an error giving the range", func(t *testing.T) {
		l, err := lake.Open(t.Context(), f.lakeDir, lake.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		s, err := Open(t.Context(), l, Options{AsOf: fixtureClock.Add(-time.Hour)})
		if err == nil {
			s.Close()
			t.Fatal("no error")
		}
		var ae *AsOfError
		if !errors.As(err, &ae) || !errors.Is(err, delta.ErrVersionNotFound) || !ae.First.Equal(fixtureClock) {
			t.Fatalf("err = %v, want an AsOfError with the first commit at %s", err, fixtureClock)
		}
		for _, w := range []string{"is before the lake's first commit (" + fixtureClock.UTC().Format(time.RFC3339) + ")",
			"versions of pos_lines: 0..", "versions of rejects: 0.."} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	})
	t.Run("a version that does not exist is an error naming the table", func(t *testing.T) {
		l, err := lake.Open(t.Context(), f.lakeDir, lake.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for _, c := range []struct {
			versions map[string]int64
			want     []string
		}{
			{map[string]int64{pos: 99}, []string{"pos_lines has no version 99: versions 0..4, "}},
			{map[string]int64{"sales_daily": 1}, []string{"the lake has no table sales_daily"}},
			{map[string]int64{PinAll: 4, schema.TableNameItemLocations: 7}, []string{"item_locations", "7"}},
		} {
			s, err := Open(t.Context(), l, Options{Versions: c.versions})
			if err == nil {
				s.Close()
				t.Errorf("versions %v: no error", c.versions)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("versions %v: error %q does not say %q", c.versions, err, w)
				}
			}
		}
	})
}

func filterRows[T any, PT interface {
	*T
	dated
}](rows []T, day schema.Date) []T {
	var out []T
	for i := range rows {
		if PT(&rows[i]).PartitionDate() <= day {
			out = append(out, rows[i])
		}
	}
	return out
}

func TestDTRangeReadsOnlyThosePartitions(t *testing.T) {
	f := getFixture(t)
	from, to := f.first.AddDays(10), f.first.AddDays(12)
	s := openSession(t, f, Options{From: &from, To: &to})
	want := f.rowsUpTo(schema.TableNamePOSLines, to) - f.rowsUpTo(schema.TableNamePOSLines, from.AddDays(-1))
	if got := count(t, s, "SELECT count(*) FROM pos_lines"); got != want {
		t.Errorf("%d rows in dt %s..%s, want %d", got, from, to, want)
	}
	if info, _ := s.Table(schema.TableNamePOSLines); info.Files != 3 {
		t.Errorf("%d files, want one per day", info.Files)
	}
}

// posRows returns n simple pos_lines rows of day d, ids from prefix.
func posRows(prefix string, d schema.Date, n int) []schema.PosLineRow {
	rows := make([]schema.PosLineRow, n)
	at := d.Time().Add(12 * time.Hour)
	for i := range rows {
		rows[i] = schema.PosLineRow{
			TransactionID: fmt.Sprintf("%s-%05d", prefix, i), LineNo: 1, StoreID: "S0001", RegisterID: "R01",
			TxnType: "sale", BusinessDate: d, EventTime: at, Currency: "USD", TxnTotal: 10_000,
			SKU: fmt.Sprintf("SKU%06d", i%7), Quantity: 1, UnitPrice: 10_000, LineTotal: 10_000,
			SrcOffset: int64(i), IngestedAt: at,
		}
	}
	return rows
}

// commitPOS writes rows as one file of partition d and commits it.
func commitPOS(t testing.TB, l *lake.Lake, d schema.Date, rows []schema.PosLineRow) {
	t.Helper()
	ctx := t.Context()
	tb := schema.TablePOSLines()
	adds, err := lake.WriteFiles(ctx, l, tb, d, rows, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Adds: adds}); err != nil {
		t.Fatal(err)
	}
}

// compactPOS rewrites every live file of pos_lines into one, as compaction
// does (remove + add, dataChange false).
func compactPOS(t testing.TB, l *lake.Lake, d schema.Date) {
	t.Helper()
	ctx := t.Context()
	tb := schema.TablePOSLines()
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []schema.PosLineRow
	var removes []delta.Remove
	for _, f := range snap.Files() {
		rows, err := lake.ReadRows[schema.PosLineRow](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
		removes = append(removes, delta.RemoveOf(f.Add, time.Time{}, false))
	}
	adds, err := lake.WriteFiles(ctx, l, tb, d, all, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range adds {
		adds[i].DataChange = false
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Rewrite, Adds: adds, Removes: removes, Operation: "OPTIMIZE"}); err != nil {
		t.Fatal(err)
	}
}

func openLake(t testing.TB, dir string) *lake.Lake {
	t.Helper()
	l, err := lake.Open(t.Context(), dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func openOver(t testing.TB, l *lake.Lake, opts Options) *Session {
	t.Helper()
	s, err := Open(t.Context(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestACompactionNeverShowsARowTwice(t *testing.T) {
	dir := t.TempDir()
	l := openLake(t, dir)
	d := schema.NewDate(2026, time.March, 2)
	for i := range 3 {
		commitPOS(t, l, d, posRows(fmt.Sprintf("T%d", i), d, 100))
	}
	before := openOver(t, l, Options{})
	if n := count(t, before, "SELECT count(*) FROM pos_lines"); n != 300 {
		t.Fatalf("%d rows before compaction, want 300", n)
	}

	compactPOS(t, l, d)
	glob := filepath.Join(dir, "pos_lines", "*", "*.parquet")
	if n := count(t, before, "SELECT count(*) FROM read_parquet('"+glob+"')"); n != 600 {
		t.Fatalf("the directory holds %d rows, want 600: the old files and the compacted one", n)
	}
	if n := count(t, before, "SELECT count(*) FROM pos_lines"); n != 300 {
		t.Errorf("a session opened before the compaction sees %d rows, want 300", n)
	}
	if err := before.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	info, _ := before.Table(schema.TableNamePOSLines)
	if n := count(t, before, "SELECT count(*) FROM pos_lines"); n != 300 || info.Files != 1 || info.Operation != "OPTIMIZE" {
		t.Errorf("refreshed: %d rows in %d files (%s), want 300 in the compacted file", n, info.Files, info.Operation)
	}
	after := openOver(t, l, Options{})
	if n := count(t, after, "SELECT count(DISTINCT transaction_id) FROM pos_lines"); n != 300 {
		t.Errorf("a session opened after the compaction sees %d rows, want 300", n)
	}

	// Appends after a session opened wait for Refresh (one snapshot per
	// view, not whatever is in the directory).
	commitPOS(t, l, d, posRows("T9", d, 5))
	if n := count(t, after, "SELECT count(*) FROM pos_lines"); n != 300 {
		t.Errorf("%d rows before refresh, want 300", n)
	}
	if err := after.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, after, "SELECT count(*) FROM pos_lines"); n != 305 {
		t.Errorf("%d rows after refresh, want 305", n)
	}
}

func TestEmptyAndAbsentTablesHaveTypedViews(t *testing.T) {
	l := openLake(t, t.TempDir())
	if _, err := l.Table(t.Context(), schema.TablePOSLines()); err != nil { // version 0, no files
		t.Fatal(err)
	}
	s := openOver(t, l, Options{})
	for _, c := range []struct {
		table   string
		present bool
	}{{schema.TableNamePOSLines, true}, {schema.TableNameRejects, false}} {
		info, ok := s.Table(c.table)
		if !ok || info.Present != c.present || info.Files != 0 {
			t.Errorf("%s: info %+v", c.table, info)
		}
		if n := count(t, s, "SELECT count(*) FROM "+c.table); n != 0 {
			t.Errorf("%s: %d rows", c.table, n)
		}
	}
	var money, ts, dt string
	err := s.Conn().QueryRowContext(t.Context(),
		"SELECT (SELECT data_type FROM information_schema.columns WHERE table_name = 'pos_lines' AND column_name = 'line_total'), "+
			"(SELECT data_type FROM information_schema.columns WHERE table_name = 'rejects' AND column_name = 'received_at'), "+
			"(SELECT data_type FROM information_schema.columns WHERE table_name = 'rejects' AND column_name = 'dt')").Scan(&money, &ts, &dt)
	if err != nil {
		t.Fatal(err)
	}
	if money != "DECIMAL(18,4)" || ts != "TIMESTAMP WITH TIME ZONE" || dt != "DATE" {
		t.Errorf("column types %s, %s, %s", money, ts, dt)
	}
	// Saved queries over raw tables run on an empty lake.
	q, err := LookupSaved("sell_through")
	if err != nil {
		t.Fatal(err)
	}
	var got capture
	if _, err := s.RunSaved(t.Context(), &got, q, nil); err != nil || len(got.rows) != 0 {
		t.Errorf("sell_through on an empty lake: %d rows, %v", len(got.rows), err)
	}
}

// createTable creates a Delta table that this build's schema does not
// define, and commits Parquet files DuckDB writes from selects, one per dt.
func createTable(t testing.TB, l *lake.Lake, s *Session, name, schemaString string, selects map[string]string) {
	t.Helper()
	ctx := t.Context()
	dt, err := delta.NewTable(l.Bucket(), name, delta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.CreateTable(ctx, delta.NewMetadata(schemaString, []string{"dt"}, nil, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := l.Bucket().(objstore.LocalFiles).LocalFile(name)
	var adds []delta.Add
	for day, sel := range selects {
		dir := "dt=" + day
		if day == "" { // a null partition value
			dir = "dt=__HIVE_DEFAULT_PARTITION__"
		}
		rel := dir + "/part-" + day + ".parquet"
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CopyTo(ctx, path, FormatParquet, sel); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := delta.NewAdd(rel, map[string]string{"dt": day}, st.Size(), st.ModTime(), nil)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, a)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Adds: adds}); err != nil {
		t.Fatal(err)
	}
}

func TestTablesUnknownToThisBuildReadFromTheirDeltaSchema(t *testing.T) {
	l := openLake(t, t.TempDir())
	scratch := openOver(t, l, Options{})
	const schemaString = `{"type":"struct","fields":[` +
		`{"name":"location_id","type":"string","nullable":false,"metadata":{}},` +
		`{"name":"sku","type":"string","nullable":false,"metadata":{}},` +
		`{"name":"suggested_qty","type":"long","nullable":false,"metadata":{}},` +
		`{"name":"unit_cost","type":"decimal(18,4)","nullable":false,"metadata":{}},` +
		`{"name":"dt","type":"date","nullable":false,"metadata":{}}]}`
	createTable(t, l, scratch, "replenishment_suggestions", schemaString, map[string]string{
		"2026-03-02": "SELECT 'S0001' AS location_id, 'SKU000001' AS sku, 12::BIGINT AS suggested_qty, 1.2500::DECIMAL(18,4) AS unit_cost",
		"2026-03-09": "SELECT * FROM (VALUES ('S0002', 'SKU000002', 24::BIGINT, 3.5000::DECIMAL(18,4)), ('S0001', 'SKU000003', 6::BIGINT, 0.9900::DECIMAL(18,4))) v(location_id, sku, suggested_qty, unit_cost)",
	})
	s := openOver(t, l, Options{})
	info, ok := s.Table("replenishment_suggestions")
	if !ok || !info.Present || info.Files != 2 || info.Records != -1 {
		t.Fatalf("info %+v", info)
	}
	q, err := LookupSaved("replenishment_review")
	if err != nil {
		t.Fatal(err)
	}
	var got capture
	if _, err := s.RunSaved(t.Context(), &got, q, nil); err != nil {
		t.Fatal(err)
	}
	d := schema.NewDate(2026, time.March, 9)
	compareResult(t, &got, result{
		cols: []string{"location_id", "sku", "suggested_qty", "unit_cost", "dt"},
		rows: [][]any{
			{"S0001", "SKU000003", int64(6), schema.Money(9900), d},
			{"S0002", "SKU000002", int64(24), schema.Money(35000), d},
		},
	})
}

func TestNullPartitionValuesReadAsNull(t *testing.T) {
	l := openLake(t, t.TempDir())
	scratch := openOver(t, l, Options{})
	const schemaString = `{"type":"struct","fields":[` +
		`{"name":"n","type":"integer","nullable":false,"metadata":{}},` +
		`{"name":"dt","type":"date","nullable":true,"metadata":{}}]}`
	createTable(t, l, scratch, "forecasts", schemaString, map[string]string{
		"2026-03-02": "SELECT 1::INTEGER AS n",
		"":           "SELECT 2::INTEGER AS n UNION ALL SELECT 3",
	})
	s := openOver(t, l, Options{})
	var got capture
	if _, err := s.Query(t.Context(), &got, "SELECT n, dt FROM forecasts ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	compareResult(t, &got, result{cols: []string{"n", "dt"}, rows: [][]any{
		{int64(1), schema.NewDate(2026, time.March, 2)}, {int64(2), nil}, {int64(3), nil},
	}})
}

func TestQueryErrorsNameTheViewThatFailed(t *testing.T) {
	dir := t.TempDir()
	l := openLake(t, dir)
	days := []schema.Date{schema.NewDate(2026, time.March, 2), schema.NewDate(2026, time.March, 3)}
	for _, d := range days {
		commitPOS(t, l, d, posRows("T"+d.String(), d, 10))
	}
	dt, err := l.Table(t.Context(), schema.TablePOSLines())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	files := snap.Files()
	path := func(i int) string { p, _ := l.Bucket().(objstore.LocalFiles).LocalFile(files[i].Key); return p }

	t.Run("a file gone at query time", func(t *testing.T) {
		s := openOver(t, l, Options{})
		if err := os.Rename(path(1), path(1)+".away"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(path(1)+".away", path(1))
		_, err := s.Query(t.Context(), &capture{}, "SELECT count(*) FROM pos_lines")
		var ve *ViewError
		if !errors.As(err, &ve) || ve.View != "pos_lines" || ve.Version != 2 || !strings.Contains(err.Error(), "view pos_lines (version 2)") {
			t.Errorf("error %v, want one naming view pos_lines at version 2", err)
		}
	})
	t.Run("a file that is not Parquet when the view is made", func(t *testing.T) {
		orig, err := os.ReadFile(path(0))
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(path(0), orig, 0o644)
		if err := os.WriteFile(path(0), []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), l, Options{})
		if err == nil {
			s.Close()
			t.Fatal("no error")
		}
		if !strings.Contains(err.Error(), "create view pos_lines over version 2 (2 files)") {
			t.Errorf("error %v, want one naming the view, its version and files", err)
		}
	})
}

func TestSessionOverS3FetchesTheSnapshotFiles(t *testing.T) {
	srv := objtest.StartVersity(t)
	u, err := url.Parse(srv.URI)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/lake"
	so := srv.Options(srv.Bucket)
	l, err := lake.Open(t.Context(), u.String(), lake.Options{CacheDir: t.TempDir(), Open: []objstore.OpenOption{
		objstore.WithS3Options(func(o *objstore.S3Options) { o.Credentials = so.Credentials }),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	d := schema.NewDate(2026, time.March, 2)
	commitPOS(t, l, d, posRows("A", d, 50))
	commitPOS(t, l, d.AddDays(1), posRows("B", d.AddDays(1), 70))
	s := openOver(t, l, Options{})
	if n := count(t, s, "SELECT count(*) FROM pos_lines"); n != 120 {
		t.Errorf("%d rows, want 120", n)
	}
	if n := count(t, s, "SELECT count(*) FROM pos_lines WHERE dt = DATE '2026-03-03'"); n != 70 {
		t.Errorf("%d rows on 2026-03-03, want 70", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSessionCloseReleasesItsFiles checks Close is safe twice and leaves no
// temporary directory.
func TestSessionCloseRemovesItsTemporaryDirectory(t *testing.T) {
	l := openLake(t, t.TempDir())
	s, err := Open(context.Background(), l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.tempDir
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s still there: %v", dir, err)
	}
}

package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestTableIsCreatedOnceAcrossConcurrentOpeners(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	tb := schema.TablePOSLines()
	const openers = 6
	var (
		wg  sync.WaitGroup
		ids = make([]string, openers)
	)
	for i := range openers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Open(ctx, dir, Options{}) // one lake per "process"
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Close()
			dt, err := l.Table(ctx, tb)
			if err != nil {
				t.Errorf("opener %d: %v", i, err)
				return
			}
			snap, err := dt.Snapshot(ctx)
			if err != nil {
				t.Errorf("opener %d: %v", i, err)
				return
			}
			ids[i] = snap.Metadata().ID
		}()
	}
	wg.Wait()
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("openers saw table ids %v, want one table", ids)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "pos_lines", "_delta_log"))
	if err != nil {
		t.Fatal(err)
	}
	var commits []string
	for _, e := range entries {
		commits = append(commits, e.Name())
	}
	if !slices.Equal(commits, []string{"00000000000000000000.json"}) {
		t.Errorf("log holds %v, want only version 0", commits)
	}

	// A fresh reader of the Delta log sees the table as created.
	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	dt, err := delta.NewTable(b, "pos_lines", delta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tb.DeltaSchemaString()
	md := snap.Metadata()
	if snap.Version() != 0 || md.SchemaString != want || !slices.Equal(md.PartitionColumns, []string{"dt"}) || md.Name != "pos_lines" {
		t.Errorf("created table: version %d, metadata %+v", snap.Version(), md)
	}
	if p := snap.Protocol(); p.MinReaderVersion != 1 || p.MinWriterVersion != 2 {
		t.Errorf("protocol %+v, want reader 1 writer 2", p)
	}
}

func TestTableRefusesASchemaThatDiffers(t *testing.T) {
	ctx := t.Context()
	l, b := localLake(t)
	other := schema.TableRejects()
	otherSchema, _ := other.DeltaSchemaString()
	dt, err := delta.NewTable(b, "pos_lines", delta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.CreateTable(ctx, delta.NewMetadata(otherSchema, []string{"dt"}, nil, day1.Time())); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Table(ctx, schema.TablePOSLines()); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("opening pos_lines over a rejects-shaped table: %v, want ErrSchemaMismatch", err)
	}
}

func TestExistingTableOpensOnlyWhatExists(t *testing.T) {
	ctx := t.Context()
	l, b := localLake(t)
	tb := schema.TablePromotions()
	if _, err := l.ExistingTable(ctx, tb); !errors.Is(err, delta.ErrTableNotFound) {
		t.Fatalf("a table the lake lacks: %v, want ErrTableNotFound", err)
	}
	var keys []string
	if err := b.List(ctx, "promotions/", func(a objstore.Attributes) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil || len(keys) != 0 {
		t.Fatalf("opening a missing table wrote %v (%v)", keys, err)
	}
	if _, err := l.Table(ctx, tb); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(ctx, b.Root(), Options{}) // another reader, nothing cached
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.ExistingTable(ctx, tb); err != nil {
		t.Errorf("an existing table: %v", err)
	}
	// A table of another shape under the name is refused, not read.
	other, _ := schema.TableRejects().DeltaSchemaString()
	dt, err := delta.NewTable(b, "pos_lines", delta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.CreateTable(ctx, delta.NewMetadata(other, []string{"dt"}, nil, day1.Time())); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.ExistingTable(ctx, schema.TablePOSLines()); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("pos_lines over a rejects-shaped table: %v, want ErrSchemaMismatch", err)
	}
}

// commitRows writes rows of partition dt and commits them as one append.
func commitRows[T any](t testing.TB, l *Lake, tb *schema.Table, dt schema.Date, rows []T, o WriteOptions) []delta.Add {
	t.Helper()
	ctx := context.Background()
	table, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	adds, err := WriteFiles(ctx, l, tb, dt, rows, o)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := table.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := table.Commit(ctx, snap, delta.Txn{Adds: adds}); err != nil {
		t.Fatal(err)
	}
	return adds
}

// days are three consecutive business dates.
var days = []schema.Date{day1, day1.AddDays(1), day1.AddDays(2)}

// lakeWithThreeDays commits three partitions of pos_lines, two files in the
// middle one, and returns the rows by day.
func lakeWithThreeDays(t testing.TB, l *Lake) map[schema.Date][]schema.PosLineRow {
	tb := schema.TablePOSLines()
	byDay := map[schema.Date][]schema.PosLineRow{}
	for i, d := range days {
		rows := posLineRows(uint64(10+i), 2000, d)
		byDay[d] = rows
		o := WriteOptions{}
		if i == 1 {
			o.TargetFileSize = 40 << 10 // several files
		}
		commitRows(t, l, tb, d, rows, o)
	}
	return byDay
}

func TestCommittedFilesAreTheSnapshotsLiveFiles(t *testing.T) {
	ctx := t.Context()
	l, _ := localLake(t)
	tb := schema.TablePOSLines()
	byDay := lakeWithThreeDays(t, l)

	// A fresh Delta reader, not the lake's cached table.
	dt, err := delta.NewTable(l.Bucket(), "pos_lines", delta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != 3 {
		t.Errorf("version %d after three appends, want 3", snap.Version())
	}
	if n, ok := snap.NumRecords(); !ok || n != 6000 {
		t.Errorf("snapshot counts %d records (%v), want 6000", n, ok)
	}
	for _, f := range snap.Files() {
		rows, err := ReadRows[schema.PosLineRow](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		d, err := schema.ParseDate(f.PartitionValues["dt"])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.BusinessDate != d {
				t.Fatalf("file %s of dt=%s holds a row of %s", f.Key, d, r.BusinessDate)
			}
		}
	}
	mid := days[1]
	files, release, err := l.LocalFiles(ctx, tb.Name, snap, &mid, &mid)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if len(files) < 2 {
		t.Fatalf("%d files for the middle day, want several", len(files))
	}
	var n int64
	for _, f := range files {
		if f.PartitionValues["dt"] != mid.String() {
			t.Errorf("file %s of dt=%s returned for dt=%s", f.Key, f.PartitionValues["dt"], mid)
		}
		if _, err := os.Stat(f.Path); err != nil {
			t.Errorf("local path of %s: %v", f.Key, err)
		}
		n += f.NumRecords
	}
	if n != int64(len(byDay[mid])) {
		t.Errorf("middle day files hold %d records, want %d", n, len(byDay[mid]))
	}
	all, _, err := l.LocalFiles(ctx, tb.Name, snap, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != snap.NumFiles() {
		t.Errorf("%d local files, snapshot has %d", len(all), snap.NumFiles())
	}
	from := days[1]
	open, _, err := l.LocalFiles(ctx, tb.Name, snap, &from, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != len(all)-1 {
		t.Errorf("%d files from day 2 on, want all but day 1's one (%d)", len(open), len(all)-1)
	}
}

func TestDuckDBScanAddsThePartitionColumn(t *testing.T) {
	ctx := t.Context()
	l, _ := localLake(t)
	tb := schema.TablePOSLines()
	byDay := lakeWithThreeDays(t, l)
	table, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := table.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	files, release, err := l.LocalFiles(ctx, tb.Name, snap, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	scan, err := DuckDBScan(tb, files)
	if err != nil {
		t.Fatal(err)
	}
	db := openDuckDB(t)
	if _, err := db.Exec("CREATE VIEW pos_lines AS " + scan); err != nil {
		t.Fatalf("create view: %v\n%s", err, scan)
	}
	rs, err := db.Query(`SELECT CAST(dt AS VARCHAR), count(*), CAST(sum(line_total) AS VARCHAR),
		count(*) FILTER (WHERE dt <> business_date) FROM pos_lines GROUP BY dt ORDER BY dt`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var got []string
	for rs.Next() {
		var d, sum string
		var n, wrong int
		if err := rs.Scan(&d, &n, &sum, &wrong); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d %s %d", d, n, sum, wrong))
	}
	var want []string
	for _, d := range days {
		var sum schema.Money
		for _, r := range byDay[d] {
			sum += r.LineTotal
		}
		want = append(want, fmt.Sprintf("%s %d %s 0", d, len(byDay[d]), decimalText(int64(sum), 4)))
	}
	if !slices.Equal(got, want) {
		t.Errorf("per-day count and sum through the view:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checkColumnsMatchTable(t, db, "pos_lines", tb)
}

func TestDuckDBScanOfAnEmptyTableHasTheColumns(t *testing.T) {
	tb := schema.TablePurchaseOrderLines()
	scan, err := DuckDBScan(tb, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := openDuckDB(t)
	if _, err := db.Exec("CREATE VIEW po AS " + scan); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM po").Scan(&n); err != nil || n != 0 {
		t.Fatalf("empty view has %d rows, %v", n, err)
	}
	checkColumnsMatchTable(t, db, "po", tb)
}

// checkColumnsMatchTable asserts a DuckDB relation's columns are the table's
// Delta columns, in order, with the matching DuckDB types.
func checkColumnsMatchTable(t *testing.T, db *sql.DB, rel string, tb *schema.Table) {
	t.Helper()
	rs, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE " + rel + ")")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var got []string
	for rs.Next() {
		var n, ty string
		if err := rs.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		got = append(got, n+" "+ty)
	}
	fields, _ := tb.DeltaFields()
	var want []string
	for _, f := range fields {
		ty := duckTypes[f.Type]
		if strings.HasPrefix(f.Type, "decimal(") {
			ty = strings.ToUpper(f.Type)
		}
		if ty == "TIMESTAMPTZ" {
			ty = "TIMESTAMP WITH TIME ZONE"
		}
		want = append(want, f.Name+" "+ty)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s columns:\n%s\nwant\n%s", rel, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestOpenWithARegistererMetersTheBucketAndTheWrites(t *testing.T) {
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	l, err := Open(ctx, "file://"+t.TempDir(), Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.HasPrefix(l.String(), "file://") {
		t.Errorf("lake named %q, want its file:// URI", l.String())
	}
	commitRows(t, l, schema.TablePOSLines(), day1, posLineRows(1, 100, day1), WriteOptions{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] += c.GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"shelflake_lake_rows_written_total":  100,
		"shelflake_lake_files_written_total": 1,
		"shelflake_delta_commits_total":      1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if got["shelflake_objstore_operations_total"] == 0 {
		t.Error("the bucket is not metered")
	}
}

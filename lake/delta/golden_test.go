package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema/sharedtest"
)

// goldenDir returns ../shared/delta-golden (see sharedtest.Path).
func goldenDir(t testing.TB) string {
	t.Helper()
	return filepath.Dir(sharedtest.Path(t, "delta-golden", "snapshot-data0"))
}

// goldenTable opens a golden table read-only through a local bucket rooted
// at the golden directory.
func goldenTable(t testing.TB, name string) *Table {
	t.Helper()
	b, err := objstore.NewLocal(goldenDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := NewTable(b, name, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// copyGolden copies a golden table into a temporary local bucket (under the
// same prefix), for tests that damage it.
func copyGolden(t testing.TB, name string) (*Table, *objstore.Local) {
	t.Helper()
	src := filepath.Join(goldenDir(t), name)
	root := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, name, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := objstore.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := NewTable(b, name, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tbl, b
}

type colRow struct {
	Col1 *int32  `parquet:"col1,optional"`
	Col2 *string `parquet:"col2,optional"`
}

type idRow struct {
	ID *int64 `parquet:"id,optional"`
}

// readParquet reads every row of the live files of s with parquet-go.
func readParquet[T any](t testing.TB, tbl *Table, s *Snapshot) []T {
	t.Helper()
	var out []T
	for _, f := range s.Files() {
		rc, err := tbl.Bucket().Get(context.Background(), f.Key)
		if err != nil {
			t.Fatalf("live file %s: %v", f.Key, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) != f.Size {
			t.Errorf("file %s has %d bytes, the log says %d", f.Key, len(data), f.Size)
		}
		rows, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("read %s: %v", f.Key, err)
		}
		out = append(out, rows...)
	}
	return out
}

func col2Values(rows []colRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d:%s", *r.Col1, *r.Col2))
	}
	sort.Strings(out)
	return out
}

func expectCol2(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%d:%s-%d", i, prefix, i))
	}
	return sortStrings(out)
}

func ids(rows []idRow) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, *r.ID)
	}
	slices.Sort(out)
	return out
}

func idRange(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func sortedInt64(parts ...[]int64) []int64 {
	out := slices.Concat(parts...)
	slices.Sort(out)
	return out
}

func relPaths(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.RelPath)
	}
	return out
}

// Expected answers: GoldenTables.scala (how each table was written) and the
// kernel's LogReplaySuite / DeltaTableReadsSuite assertions.
func TestGoldenSnapshotsListTheFilesAndRowsSparkWrote(t *testing.T) {
	data0 := expectCol2("data-0", 10)
	data1 := expectCol2("data-1", 10)
	data2 := expectCol2("data-2", 10)
	data3 := expectCol2("data-3", 20)
	cases := []struct {
		table   string
		version int64
		files   int
		rows    []string
	}{
		{"snapshot-data0", 0, 2, data0},
		{"snapshot-data1", 1, 4, sortStrings(slices.Concat(data0, data1))},
		{"snapshot-data2", 2, 2, data2},
		{"snapshot-data3", 3, 4, sortStrings(slices.Concat(data2, data3))},
		{"snapshot-data2-deleted", 4, 3, data3},
		{"snapshot-repartitioned", 5, 2, data3},
		{"snapshot-vacuumed", 5, 2, data3},
	}
	for _, c := range cases {
		t.Run(c.table, func(t *testing.T) {
			tbl := goldenTable(t, c.table)
			s, err := tbl.Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if s.Version() != c.version {
				t.Errorf("version %d, want %d", s.Version(), c.version)
			}
			if s.NumFiles() != c.files {
				t.Errorf("%d live files, want %d: %v", s.NumFiles(), c.files, relPaths(s.Files()))
			}
			got := col2Values(readParquet[colRow](t, tbl, s))
			if !slices.Equal(got, c.rows) {
				t.Errorf("rows\n got %v\nwant %v", got, c.rows)
			}
		})
	}
}

func sortStrings(s []string) []string { sort.Strings(s); return s }

func TestGoldenTimeTravelByVersionReplaysEachAppend(t *testing.T) {
	// snapshot-data2-deleted holds the whole history of the snapshot-* tables.
	tbl := goldenTable(t, "snapshot-data2-deleted")
	data0 := expectCol2("data-0", 10)
	want := map[int64][]string{
		0: data0,
		1: sortStrings(slices.Concat(data0, expectCol2("data-1", 10))),
		2: expectCol2("data-2", 10),
		3: sortStrings(slices.Concat(expectCol2("data-2", 10), expectCol2("data-3", 20))),
		4: expectCol2("data-3", 20),
	}
	for v := int64(0); v <= 4; v++ {
		s, err := tbl.SnapshotAt(t.Context(), v)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if got := col2Values(readParquet[colRow](t, tbl, s)); !slices.Equal(got, want[v]) {
			t.Errorf("version %d rows\n got %v\nwant %v", v, got, want[v])
		}
	}
	if _, err := tbl.SnapshotAt(t.Context(), 5); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("version 5 of a 4-version table: got %v, want ErrVersionNotFound", err)
	}
	// Commit timestamps are commitInfo.timestamp; version 2 was written at
	// 1603723970832.
	s, err := tbl.SnapshotAsOf(t.Context(), time.UnixMilli(1603723971000))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != 2 {
		t.Errorf("as of 1603723971000: version %d, want 2", s.Version())
	}
	if _, err := tbl.SnapshotAsOf(t.Context(), time.UnixMilli(1603723967000)); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("before the first commit: got %v, want ErrVersionNotFound", err)
	}
}

func TestGoldenVacuumedTableReferencesOnlyFilesStillPresent(t *testing.T) {
	tbl := goldenTable(t, "snapshot-vacuumed")
	s, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	err = tbl.Bucket().List(t.Context(), tbl.Prefix(), func(a objstore.Attributes) error {
		rel := strings.TrimPrefix(a.Key, tbl.Prefix())
		if strings.HasSuffix(rel, ".parquet") && !hiddenPath(rel) {
			onDisk = append(onDisk, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := relPaths(s.Files()); !slices.Equal(got, onDisk) {
		t.Errorf("live files %v, files on disk %v", got, onDisk)
	}
	// The repartition commit removed three files with dataChange=false.
	if n := len(s.Tombstones()); n != 9 {
		t.Errorf("%d tombstones, want 9 (4 overwritten, 2 deleted, 3 repartitioned)", n)
	}
}

func TestGoldenCheckpointTables(t *testing.T) {
	cases := []struct {
		name    string
		table   string
		version int64
		files   []string // nil: check ids instead
		ids     []int64
	}{
		{
			name: "checkpoint at 10 plus four JSON commits ends with file 15", table: "checkpoint",
			version: 14, files: []string{"15"},
		},
		{
			name: "inserts and deletes across a checkpoint", table: "basic-with-inserts-deletes-checkpoint",
			version: 13, ids: sortedInt64(idRange(0, 5), idRange(10, 15), idRange(20, 25), idRange(30, 35), idRange(40, 45), idRange(50, 66)),
		},
		{
			name: "two-part checkpoint at version 1", table: "multi-part-checkpoint",
			version: 1, ids: sortedInt64([]int64{0}, idRange(0, 30)),
		},
		{
			name: "log starting from checkpoints", table: "only-checkpoint-files",
			version: 2, ids: sortedInt64(idRange(5, 10), idRange(0, 20)),
		},
		{
			name: "corrupted-last-checkpoint as stored", table: "corrupted-last-checkpoint",
			version: 10, files: []string{"0", "1", "10", "2", "3", "4", "5", "6", "7", "8", "9"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := goldenTable(t, c.table)
			s, err := tbl.Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if s.Version() != c.version {
				t.Errorf("version %d, want %d", s.Version(), c.version)
			}
			if c.files != nil {
				if got := relPaths(s.Files()); !slices.Equal(got, c.files) {
					t.Errorf("files %v, want %v", got, c.files)
				}
				return
			}
			if got := ids(readParquet[idRow](t, tbl, s)); !slices.Equal(got, c.ids) {
				t.Errorf("ids\n got %v\nwant %v", got, c.ids)
			}
		})
	}
}

func TestGoldenCheckpointTableTimeTravelAcrossTheCheckpoint(t *testing.T) {
	// Version v of "checkpoint" holds exactly the file named v+1.
	tbl := goldenTable(t, "checkpoint")
	for _, v := range []int64{0, 5, 9, 10, 11, 14} {
		s, err := tbl.SnapshotAt(t.Context(), v)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		want := []string{fmt.Sprint(v + 1)}
		if got := relPaths(s.Files()); !slices.Equal(got, want) {
			t.Errorf("version %d: files %v, want %v", v, got, want)
		}
	}
}

func TestGoldenUntrustworthyLastCheckpointFallsBackToListing(t *testing.T) {
	want := []string{"0", "1", "10", "2", "3", "4", "5", "6", "7", "8", "9"}
	cases := []struct {
		name   string
		damage func(t *testing.T, b *objstore.Local)
	}{
		{"an empty _last_checkpoint", putLast("")},
		{"a _last_checkpoint that is not JSON", putLast("{\"version\":10,\"si")},
		{"a _last_checkpoint naming a version that does not exist", putLast(`{"version":99,"size":13}`)},
		{"a _last_checkpoint naming a version without a checkpoint", putLast(`{"version":5,"size":13}`)},
		{"a _last_checkpoint naming parts that do not exist", putLast(`{"version":10,"size":13,"parts":3}`)},
		{"a _last_checkpoint without a version", putLast(`{"size":13}`)},
		{"no _last_checkpoint", func(t *testing.T, b *objstore.Local) {
			if err := b.Delete(t.Context(), "corrupted-last-checkpoint/_delta_log/_last_checkpoint"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a truncated checkpoint file", func(t *testing.T, b *objstore.Local) {
			key := "corrupted-last-checkpoint/_delta_log/00000000000000000010.checkpoint.parquet"
			if err := b.Put(t.Context(), key, strings.NewReader("PAR1 truncated")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, b := copyGolden(t, "corrupted-last-checkpoint")
			c.damage(t, b)
			s, err := tbl.Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if s.Version() != 10 {
				t.Errorf("version %d, want 10", s.Version())
			}
			if got := relPaths(s.Files()); !slices.Equal(got, want) {
				t.Errorf("files %v, want %v", got, want)
			}
			s5, err := tbl.SnapshotAt(t.Context(), 5)
			if err != nil {
				t.Fatal(err)
			}
			if s5.NumFiles() != 6 {
				t.Errorf("version 5: %d files, want 6", s5.NumFiles())
			}
		})
	}
}

func putLast(content string) func(t *testing.T, b *objstore.Local) {
	return func(t *testing.T, b *objstore.Local) {
		if err := b.Put(t.Context(), "corrupted-last-checkpoint/_delta_log/_last_checkpoint", strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGoldenPartitionValuesOfManyTypesParse(t *testing.T) {
	tbl := goldenTable(t, "data-reader-partition-values")
	s, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	md := s.Metadata()
	types, err := ColumnTypes(md.SchemaString)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.PartitionColumns) != 12 {
		t.Fatalf("partition columns %v, want 12", md.PartitionColumns)
	}
	ts := time.Date(2021, 9, 8, 11, 11, 11, 0, time.UTC)
	date := time.Date(2021, 9, 8, 0, 0, 0, 0, time.UTC)
	want := map[string][]any{ // per file i = 0, 1, then the null row
		"as_int":             {int64(0), int64(1), nil},
		"as_long":            {int64(0), int64(1), nil},
		"as_byte":            {int64(0), int64(1), nil},
		"as_short":           {int64(0), int64(1), nil},
		"as_boolean":         {true, false, nil},
		"as_float":           {0.0, 1.0, nil},
		"as_double":          {0.0, 1.0, nil},
		"as_string":          {"0", "1", nil},
		"as_string_lit_null": {"null", "null", nil},
		"as_date":            {date, date, nil},
		"as_timestamp":       {ts, ts, nil},
		"as_big_decimal":     {big.NewRat(0, 1), big.NewRat(1, 1), nil},
	}
	files := s.Files() // sorted: as_int=0…, as_int=1…, as_int=__HIVE_DEFAULT_PARTITION__…
	if len(files) != 3 {
		t.Fatalf("%d files, want 3", len(files))
	}
	for i, f := range files {
		for _, col := range md.PartitionColumns {
			raw, ok := f.PartitionValues[col]
			if !ok {
				t.Errorf("file %d lacks partition column %s", i, col)
				continue
			}
			got, err := ParsePartitionValue(types[col], raw)
			if err != nil {
				t.Errorf("file %d column %s: %v", i, col, err)
				continue
			}
			if !equalValue(got, want[col][i]) {
				t.Errorf("file %d column %s (%s): got %v (%T), want %v", i, col, types[col], got, got, want[col][i])
			}
		}
		// The log path is URI-encoded; its decoded form is the file's key.
		if _, err := tbl.Bucket().Stat(t.Context(), f.Key); err != nil {
			t.Errorf("file %d: decoded path %q: %v", i, f.RelPath, err)
		}
	}
	// Partition pruning from the log: only the as_int=1 file.
	if got := s.FilesInRange("as_int", "1", "1"); len(got) != 1 || got[0].PartitionValues["as_int"] != "1" {
		t.Errorf("FilesInRange(as_int, 1, 1) = %v", relPaths(got))
	}
	if got := s.FilesWhere(func(pv map[string]string) bool { return pv["as_date"] == "" }); len(got) != 1 {
		t.Errorf("null as_date: %d files, want 1", len(got))
	}
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *big.Rat:
		y, ok := b.(*big.Rat)
		return ok && x.Cmp(y) == 0
	}
	return a == b
}

func TestGoldenStatsOfAllTypesParse(t *testing.T) {
	tbl := goldenTable(t, "data-skipping-basic-stats-all-types")
	s, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	files := s.Files()
	if len(files) != 1 {
		t.Fatalf("%d files, want 1", len(files))
	}
	st, err := files[0].ParseStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.NumRecords != 1 {
		t.Errorf("numRecords %d, want 1", st.NumRecords)
	}
	for _, m := range []map[string]any{st.MinValues, st.MaxValues} {
		if fmt.Sprint(m["as_int"]) != "0" || fmt.Sprint(m["as_long"]) != "0" || m["as_string"] != "0" ||
			m["as_date"] != "2000-01-01" || m["as_timestamp"] != "2000-01-01T00:00:00.000-08:00" ||
			fmt.Sprint(m["as_double"]) != "0.0" || fmt.Sprint(m["as_big_decimal"]) != "0" {
			t.Errorf("bounds %v", m)
		}
	}
	if len(st.NullCount) != 10 {
		t.Errorf("nullCount has %d columns, want 10: %v", len(st.NullCount), st.NullCount)
	}
	if n, ok := s.NumRecords(); !ok || n != 1 {
		t.Errorf("NumRecords = %d, %v; want 1, true", n, ok)
	}
	if got := readParquet[struct {
		AsInt *int32 `parquet:"as_int,optional"`
	}](t, tbl, s); len(got) != 1 {
		t.Errorf("%d rows, want 1", len(got))
	}
}

func TestGoldenCommitInfoFields(t *testing.T) {
	tbl := goldenTable(t, "deltalog-commit-info")
	s, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ci := s.CommitInfo()
	if ci == nil {
		t.Fatal("no commitInfo")
	}
	if ts, ok := ci.Timestamp(); !ok || ts.UnixMilli() != 1540415658000 {
		t.Errorf("timestamp %v", ts)
	}
	if !s.Timestamp().Equal(time.UnixMilli(1540415658000)) {
		t.Errorf("snapshot timestamp %v", s.Timestamp())
	}
	checks := map[string]string{
		"userId": "user_0", "userName": "username_0", "operation": "WRITE", "clusterId": "cluster_id_0",
		"isolationLevel": "default", "userMetadata": "foo",
	}
	for k, want := range checks {
		if got := ci.String(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if rv, ok := ci.Int64("readVersion"); !ok || rv != -1 {
		t.Errorf("readVersion %d", rv)
	}
	if ci["isBlindAppend"] != true {
		t.Errorf("isBlindAppend %v", ci["isBlindAppend"])
	}
	if op, _ := ci["operationParameters"].(map[string]any); op["test"] != "test" {
		t.Errorf("operationParameters %v", ci["operationParameters"])
	}
	if job, _ := ci["job"].(map[string]any); job["jobId"] != "job_id_0" {
		t.Errorf("job %v", ci["job"])
	}
	if nb, _ := ci["notebook"].(map[string]any); nb["notebookId"] != "notebook_id_0" {
		t.Errorf("notebook %v", ci["notebook"])
	}
	// The metaData action of this table has no schemaString; the file "abc" is live.
	if got := relPaths(s.Files()); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("files %v", got)
	}
}

func TestGoldenSpecialCharactersInPathsReconcile(t *testing.T) {
	tbl := goldenTable(t, "log-replay-special-characters")
	s0, err := tbl.SnapshotAt(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	files := s0.Files()
	if len(files) != 1 || files[0].RelPath != "special p@#h" || files[0].Path != "special%20p@%23h" {
		t.Fatalf("version 0 files %+v", files)
	}
	if files[0].Key != "log-replay-special-characters/special p@#h" {
		t.Errorf("key %q", files[0].Key)
	}
	s, err := tbl.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != 1 || s.NumFiles() != 0 {
		t.Errorf("latest: version %d with %d files, want version 1 with 0 (the remove cancels the add)", s.Version(), s.NumFiles())
	}
	if tomb := s.Tombstones(); len(tomb) != 1 || tomb[0].Size == nil || *tomb[0].Size != 100 {
		t.Errorf("tombstones %+v", tomb)
	}
}

func TestGoldenUnsupportedProtocolIsRefused(t *testing.T) {
	tbl := goldenTable(t, "deltalog-invalid-protocol-version")
	_, err := tbl.Snapshot(t.Context())
	if !errors.Is(err, ErrUnsupportedProtocol) {
		t.Fatalf("got %v, want ErrUnsupportedProtocol", err)
	}
	if !strings.Contains(err.Error(), "reader version 99") {
		t.Errorf("error %q does not name the reader version", err)
	}
}

package queries

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// typesQuery returns rows of most DuckDB types, NULLs, quotes, commas, a
// line break, Unicode and a value longer than the table format's cut.
const typesQuery = `SELECT * FROM (VALUES
  (1::INTEGER, 'plain', 12.3400::DECIMAL(18,4), DATE '2026-03-01', TIMESTAMPTZ '2026-03-01 09:15:30.5+00',
   0.25::DOUBLE, true, [1, 2]::INTEGER[], {'a': 1, 'b': 'x'}, INTERVAL '1 day 2 hours', '\x00ab'::BLOB, 9999999999999::BIGINT),
  (-2, 'quote "and" comma, ok', -0.0001::DECIMAL(18,4), DATE '1999-12-31', TIMESTAMPTZ '2026-03-29 01:00:00+00',
   1e-7, false, []::INTEGER[], {'a': NULL, 'b': 'y'}, INTERVAL '3 months', ''::BLOB, NULL),
  (NULL, 'line' || chr(10) || 'break, then a value long enough to be cut by the table format', NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 'ünïcode ✓', 0::DECIMAL(18,4), DATE '2026-12-31', TIMESTAMPTZ '2026-12-31 23:59:59.999999+00',
   -1234567.5, true, [NULL, 3]::INTEGER[], {'a': 2, 'b': NULL}, INTERVAL '-90 seconds', 'x'::BLOB, -1::BIGINT)
) t(id, label, amount, day, ts, ratio, flag, list, obj, span, bytes, big)
ORDER BY id NULLS LAST`

// scratchSession is a session over an empty lake, for queries that need no
// lake data.
func scratchSession(t testing.TB) *Session {
	t.Helper()
	return openOver(t, openLake(t, t.TempDir()), Options{CommitHistory: -1})
}

// render runs query through a writer of format f and returns the output.
func render(t *testing.T, s *Session, f Format, o WriterOptions, query string) string {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, f, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(t.Context(), w, query); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestOutputFormatsMatchTheirGoldenFiles(t *testing.T) {
	s := scratchSession(t)
	for _, c := range []struct {
		file   string
		format Format
		opts   WriterOptions
		query  string
	}{
		{"types.table", FormatTable, WriterOptions{MaxWidth: 30}, typesQuery},
		{"types.csv", FormatCSV, WriterOptions{}, typesQuery},
		{"types.json", FormatJSON, WriterOptions{}, typesQuery},
		{"types.jsonl", FormatJSONL, WriterOptions{}, typesQuery},
		{"streamed.table", FormatTable, WriterOptions{TableBuffer: 2}, "SELECT repeat('x', range::INTEGER) AS xs, range AS n FROM range(5)"},
		{"empty.table", FormatTable, WriterOptions{}, "SELECT 1 AS a, 'b' AS b WHERE false"},
		{"empty.json", FormatJSON, WriterOptions{}, "SELECT 1 AS a WHERE false"},
		{"two_results.csv", FormatCSV, WriterOptions{}, "SELECT 1 AS a; CREATE TEMP TABLE x AS SELECT 2 AS b; SELECT * FROM x"},
		{"two_results.table", FormatTable, WriterOptions{}, "SELECT 1 AS a; SELECT 'two' AS b"},
	} {
		t.Run(c.file, func(t *testing.T) {
			golden(t, c.file, render(t, s, c.format, c.opts, c.query))
		})
	}
}

func TestJSONOutputIsValidAndExact(t *testing.T) {
	s := scratchSession(t)
	out := render(t, s, FormatJSON, WriterOptions{}, typesQuery)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	// rows are ordered by id: -2, 1, 4, NULL
	if a := rows[1]["amount"]; a != json.Number("12.3400") {
		t.Errorf("decimal %v, want 12.3400 exactly", a)
	}
	if b := rows[1]["big"]; b != json.Number("9999999999999") {
		t.Errorf("bigint %v", b)
	}
	if d := rows[1]["day"]; d != "2026-03-01" {
		t.Errorf("date %v", d)
	}
	if at := rows[1]["ts"]; at != "2026-03-01T09:15:30.5Z" {
		t.Errorf("timestamp %v", at)
	}
	if rows[0]["big"] != nil || rows[3]["id"] != nil {
		t.Errorf("NULLs %v %v", rows[0]["big"], rows[3]["id"])
	}
	jl := render(t, s, FormatJSONL, WriterOptions{}, typesQuery)
	lines := strings.Split(strings.TrimSuffix(jl, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d JSON lines", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("invalid JSON line %s", l)
		}
	}
}

func TestParquetOutputReadsBack(t *testing.T) {
	s := scratchSession(t)
	path := filepath.Join(t.TempDir(), "out.parquet")
	const q = "SELECT range AS id, (range * 1.25)::DECIMAL(18,4) AS amount, DATE '2026-01-01' + range::INTEGER AS day, 'r' || range AS label FROM range(5000)"
	n, err := s.CopyTo(t.Context(), path, FormatParquet, q+";")
	if err != nil {
		t.Fatal(err)
	}
	if n != 5000 {
		t.Errorf("%d rows written, want 5000", n)
	}
	// DuckDB reads back the same rows.
	if d := count(t, s, "SELECT count(*) FROM (("+q+") EXCEPT ALL (SELECT * FROM read_parquet('"+path+"')))"); d != 0 {
		t.Errorf("%d rows differ", d)
	}
	// parquet-go reads it too: a standard file with the columns and types.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != 5000 {
		t.Errorf("parquet-go reads %d rows", pf.NumRows())
	}
	var names []string
	for _, c := range pf.Schema().Fields() {
		names = append(names, c.Name())
	}
	if strings.Join(names, ",") != "id,amount,day,label" {
		t.Errorf("columns %v", names)
	}
	if lt := pf.Schema().Fields()[1].Type().LogicalType(); lt == nil || !strings.HasPrefix(lt.String(), "DECIMAL(") || !strings.HasSuffix(lt.String(), ",4)") {
		t.Errorf("amount's logical type %v, want DECIMAL(…,4)", lt)
	}

	if _, err := s.CopyTo(t.Context(), path, FormatParquet, "SELECT 1; SELECT 2"); err == nil || !strings.Contains(err.Error(), "want one query") {
		t.Errorf("two statements: error %v", err)
	}
}

// spyWriter wraps a ResultWriter and notes how much output reached the
// underlying buffer before End.
type spyWriter struct {
	ResultWriter
	out         *bytes.Buffer
	rows        int
	beforeEnd   int
	firstOutput int // rows handed over when output first appeared
}

func (s *spyWriter) Row(v []any) error {
	s.rows++
	if err := s.ResultWriter.Row(v); err != nil {
		return err
	}
	if s.firstOutput == 0 && s.out.Len() > 0 {
		s.firstOutput = s.rows
	}
	return nil
}

func (s *spyWriter) End() error {
	s.beforeEnd = s.out.Len()
	return s.ResultWriter.End()
}

func TestLargeResultsStreamRowByRow(t *testing.T) {
	s := scratchSession(t)
	const rows = 200_000
	for _, f := range []Format{FormatTable, FormatCSV, FormatJSON} {
		t.Run(string(f), func(t *testing.T) {
			var out bytes.Buffer
			w, err := NewWriter(&out, f, WriterOptions{TableBuffer: 100})
			if err != nil {
				t.Fatal(err)
			}
			spy := &spyWriter{ResultWriter: w, out: &out}
			st, err := s.Query(t.Context(), spy, "SELECT range AS n, 'row ' || range AS label FROM range(200000)")
			if err != nil {
				t.Fatal(err)
			}
			if st.Rows != rows || spy.rows != rows {
				t.Fatalf("%d rows, want %d", st.Rows, rows)
			}
			// Output flows while rows arrive: the writer holds at most its
			// table buffer and one bufio buffer, never the result.
			if spy.firstOutput == 0 || spy.firstOutput > 1000 {
				t.Errorf("first output after %d rows", spy.firstOutput)
			}
			if spy.beforeEnd < out.Len()-8192 {
				t.Errorf("%d of %d bytes were written only at the end", out.Len()-spy.beforeEnd, out.Len())
			}
		})
	}
}

func TestTableFormatShowsPlansAsText(t *testing.T) {
	s := scratchSession(t)
	out := render(t, s, FormatTable, WriterOptions{}, "EXPLAIN SELECT sum(range) FROM range(10)")
	if !strings.Contains(out, "\n") || !strings.Contains(out, "RANGE") || strings.Contains(out, `\n`) || strings.Contains(out, "explain_value") {
		t.Errorf("plan:\n%s", out)
	}
}

func TestTableFormatCutsOnlyWideValues(t *testing.T) {
	s := scratchSession(t)
	out := render(t, s, FormatTable, WriterOptions{MaxWidth: 10}, "SELECT 'short' AS a, 'a value that is long' AS b")
	if !strings.Contains(out, "a value t…") || !strings.Contains(out, "short") {
		t.Errorf("output:\n%s", out)
	}
	csv := render(t, s, FormatCSV, WriterOptions{MaxWidth: 10}, "SELECT 'a value that is long' AS b")
	if !strings.Contains(csv, "a value that is long") {
		t.Errorf("CSV cut a value:\n%s", csv)
	}
}

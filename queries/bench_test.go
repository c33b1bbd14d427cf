package queries

import (
	"io"
	"testing"
)

// BenchmarkWriters measures how fast each format writes a query's rows
// (an integer, a decimal, a date, a timestamp and a string per row), DuckDB
// included: the rate a large result streams out of `shelflake sql`.
func BenchmarkWriters(b *testing.B) {
	s := scratchSession(b)
	const rows = 100_000
	const q = `SELECT range AS id, (range * 0.0125)::DECIMAL(18,4) AS amount, DATE '2026-01-01' + (range % 365)::INTEGER AS day,
	TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(range) AS ts, 'store ' || (range % 100) AS label FROM range(100000)`
	for _, f := range []Format{FormatTable, FormatCSV, FormatJSON} {
		b.Run(string(f), func(b *testing.B) {
			for b.Loop() {
				w, err := NewWriter(io.Discard, f, WriterOptions{})
				if err != nil {
					b.Fatal(err)
				}
				st, err := s.Query(b.Context(), w, q)
				if err != nil || st.Rows != rows {
					b.Fatal(st, err)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkSavedQueries runs each saved query on the test world's lake
// (3 stores, 20 SKUs, 40 days; 40 small files per raw table).
func BenchmarkSavedQueries(b *testing.B) {
	f := getFixture(b)
	s := openSession(b, f, Options{})
	qs, err := SavedQueries()
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range qs {
		if len(q.Requires) > 0 {
			continue
		}
		b.Run(q.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.RunSaved(b.Context(), &capture{}, q, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenSession measures opening a session over the test world's
// lake: snapshots, file lists, views and the _commits history.
func BenchmarkOpenSession(b *testing.B) {
	f := getFixture(b)
	l := openLake(b, f.lakeDir)
	for b.Loop() {
		s, err := Open(b.Context(), l, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

package queries

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Stats describe one statement run.
type Stats struct {
	// Rows is the number of result rows written (0 for statements without
	// a result).
	Rows int64
	// Result is false for statements without a result (DDL, SET, …).
	Result  bool
	Elapsed time.Duration
}

// noResultKeywords start statements whose only result is DuckDB's "Count"
// or "Success" column, which the writers leave out.
var noResultKeywords = map[string]bool{
	"CREATE": true, "DROP": true, "ALTER": true, "SET": true, "RESET": true,
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "ABORT": true, "END": true,
	"START": true, "TRANSACTION": true, "LOAD": true, "INSTALL": true,
	"ATTACH": true, "DETACH": true, "USE": true, "CHECKPOINT": true,
	"FORCE": true, "VACUUM": true, "ANALYZE": true, "PREPARE": true,
	"DEALLOCATE": true, "EXPORT": true, "IMPORT": true, "COMMENT": true,
}

// Query runs one statement on the session's connection and streams its
// result to w, a row at a time: the writer sees each row as DuckDB hands it
// over and nothing keeps the result in Go (DuckDB holds it within its
// memory limit, spilling to the session's temporary directory). Statements
// without a result (DDL, SET, …) write nothing. args bind the statement's
// parameters ($name with sql.Named, or ? and $1 by position). A failure
// reading a view's files names the view (Explain).
func (s *Session) Query(ctx context.Context, w ResultWriter, stmt string, args ...any) (Stats, error) {
	start := time.Now()
	var st Stats
	rows, err := s.conn.QueryContext(ctx, stmt, args...)
	if err != nil {
		return st, s.Explain(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return st, s.Explain(err)
	}
	cols := make([]ResultColumn, len(types))
	for i, t := range types {
		cols[i] = ResultColumn{Name: t.Name(), Type: t.DatabaseTypeName()}
	}
	if len(cols) == 0 || noResultKeywords[firstKeyword(stmt)] && len(cols) == 1 && (cols[0].Name == "Count" || cols[0].Name == "Success") {
		for rows.Next() {
		}
		st.Elapsed = time.Since(start)
		return st, s.Explain(rows.Err())
	}
	st.Result = true
	if err := w.Begin(cols); err != nil {
		return st, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return st, fmt.Errorf("row %d: %w", st.Rows+1, err)
		}
		if err := w.Row(vals); err != nil {
			return st, fmt.Errorf("write row %d: %w", st.Rows+1, err)
		}
		st.Rows++
	}
	if err := rows.Err(); err != nil {
		return st, s.Explain(err)
	}
	if err := w.End(); err != nil {
		return st, err
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// Run runs the statements of script (see SplitStatements; a last statement
// without a semicolon counts) in turn, writing their results to w. It stops
// at the first error, which says which statement failed.
func (s *Session) Run(ctx context.Context, w ResultWriter, script string) ([]Stats, error) {
	stmts := ScriptStatements(script)
	out := make([]Stats, 0, len(stmts))
	for i, stmt := range stmts {
		st, err := s.Query(ctx, w, stmt)
		if err != nil {
			if len(stmts) > 1 {
				return out, fmt.Errorf("statement %d of %d: %w", i+1, len(stmts), err)
			}
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}

// ScriptStatements returns every statement of script (SplitStatements),
// including a last one that lacks its semicolon.
func ScriptStatements(script string) []string {
	stmts, rest := SplitStatements(script)
	if r := strings.TrimSpace(rest); !onlyComments(r) {
		stmts = append(stmts, r)
	}
	return stmts
}

// CopyTo writes the result of query (one statement returning rows: SELECT,
// WITH, FROM, VALUES, …) to the local file path in format f (parquet, csv
// or json) with DuckDB's COPY, which streams the rows into the file without
// holding the result. Parquet files are zstd-compressed. It returns the
// number of rows written. args bind the query's parameters.
func (s *Session) CopyTo(ctx context.Context, path string, f Format, query string, args ...any) (int64, error) {
	var opts string
	switch f {
	case FormatParquet:
		opts = "FORMAT parquet, COMPRESSION zstd"
	case FormatCSV:
		opts = "FORMAT csv, HEADER true"
	case FormatJSON:
		opts = "FORMAT json, ARRAY true"
	case FormatJSONL:
		opts = "FORMAT json"
	default:
		return 0, fmt.Errorf("copy to %s: format %q cannot be written by DuckDB", path, f)
	}
	q := strings.TrimSpace(query)
	for strings.HasSuffix(q, ";") {
		q = strings.TrimSpace(strings.TrimSuffix(q, ";"))
	}
	if stmts := ScriptStatements(q); len(stmts) != 1 {
		return 0, fmt.Errorf("copy to %s: want one query, got %d statements", path, len(stmts))
	}
	var n int64
	err := s.conn.QueryRowContext(ctx, "COPY (\n"+q+"\n) TO "+quoteString(path)+" ("+opts+")", args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("copy to %s: %w", path, s.Explain(err))
	}
	return n, nil
}

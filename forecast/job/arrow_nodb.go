//go:build !duckdb_arrow

package job

import (
	"context"
	"database/sql"
	"errors"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// withArrow needs DuckDB's Arrow interface, built with -tags duckdb_arrow
// (as the Makefile does).
func withArrow(*sql.Conn, func(query func(ctx context.Context, q string) (array.RecordReader, error)) error) error {
	return errors.New("forecast: built without the duckdb_arrow tag; rebuild with -tags duckdb_arrow")
}

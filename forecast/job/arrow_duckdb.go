//go:build duckdb_arrow

package job

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// withArrow runs fn with DuckDB's Arrow interface on conn: the record
// readers it returns stream the query's result in DuckDB's data chunks and
// must be consumed and released inside fn.
func withArrow(conn *sql.Conn, fn func(query func(ctx context.Context, q string) (array.RecordReader, error)) error) error {
	return conn.Raw(func(dc any) error {
		dconn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("duckdb connection is %T", dc)
		}
		ar, err := duckdb.NewArrowFromConn(dconn)
		if err != nil {
			return fmt.Errorf("duckdb arrow: %w", err)
		}
		return fn(func(ctx context.Context, q string) (array.RecordReader, error) {
			return ar.QueryContext(ctx, q)
		})
	})
}

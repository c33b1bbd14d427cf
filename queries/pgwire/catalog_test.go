package pgwire

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCatalogShowsOnlyTheRole checks that a role's catalog lists its own
// tables and columns and nothing of the lake's full views or other roles.
func TestCatalogShowsOnlyTheRole(t *testing.T) {
	ts := startServer(t)
	for _, tc := range []struct {
		user, sql string
		want      []string // rows, joined by ","
	}{
		{"ana", "SELECT nspname FROM pg_catalog.pg_namespace ORDER BY 1", []string{"role_analyst"}},
		{"ana", "SELECT relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
			[]string{"_commits", "_tables", "item_locations", "pos_lines"}},
		{"ana", "SELECT count(*) FROM information_schema.columns WHERE column_name = 'customer_id'", []string{"0"}},
		{"ana", "SELECT count(*) FROM pg_attribute WHERE attname = 'customer_id'", []string{"0"}},
		{"ana", "SELECT table_schema || '.' || table_name || ':' || table_type FROM information_schema.tables WHERE table_name = 'pos_lines'", []string{"role_analyst.pos_lines:BASE TABLE"}},
		{"bob", "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1", []string{"_commits", "_tables", "item_locations"}},
		{"admin", "SELECT count(*) FROM information_schema.columns WHERE table_name = 'pos_lines' AND column_name = 'customer_id'", []string{"1"}},
		{"ana", "SELECT t.typname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid WHERE c.relname = 'pos_lines' AND a.attname IN ('unit_price', 'business_date', 'event_time', 'quantity', 'line_no', 'store_id') ORDER BY a.attname",
			[]string{"date", "timestamptz", "int4", "int8", "varchar", "numeric"}},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			c := ts.connect(t, tc.user)
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeDescribeExec} {
				rows, err := c.Query(t.Context(), "SELECT CAST(x AS VARCHAR) FROM ("+tc.sql+") AS q(x)", mode)
				if err != nil {
					t.Fatal(err)
				}
				got, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("%v: got %v, want %v", mode, got, tc.want)
				}
			}
		})
	}
}

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
		{"ana", "SELECT nspname FROM pg_catalog.pg_namespace ORDER BY 1", []string{"pg_catalog", "role_analyst"}},
		{"ana", "SELECT relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
			[]string{"_commits", "_tables", "item_locations", "pos_lines"}},
		{"ana", "SELECT count(*) FROM information_schema.columns WHERE column_name = 'customer_id'", []string{"0"}},
		{"ana", "SELECT count(*) FROM pg_attribute WHERE attname = 'customer_id'", []string{"0"}},
		{"ana", "SELECT table_schema || '.' || table_name || ':' || table_type FROM information_schema.tables WHERE table_name = 'pos_lines'", []string{"role_analyst.pos_lines:BASE TABLE"}},
		{"bob", "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1", []string{"_commits", "_tables", "item_locations"}},
		{"admin", "SELECT count(*) FROM information_schema.columns WHERE table_name = 'pos_lines' AND column_name = 'customer_id'", []string{"1"}},
		// The tables clients read to describe a relation: only the role's
		// relations, empty where lake views have nothing.
		{"bob", "SELECT count(*) FROM pg_catalog.pg_class WHERE relname IN ('pos_lines', 'pg_policy', 'pg_roles', 'information_schema_tables')", []string{"0"}},
		{"bob", "SELECT count(*) FROM pg_catalog.pg_type WHERE typrelid <> 0 AND typrelid NOT IN (SELECT oid FROM pg_catalog.pg_class)", []string{"0"}},
		{"bob", "SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname LIKE 'role_%' AND n.nspname <> 'role_buyer'", []string{"0"}},
		{"bob", "SELECT count(*) FROM pg_catalog.pg_description WHERE objoid NOT IN (SELECT oid FROM pg_catalog.pg_class)", []string{"0"}},
		{"bob", "SELECT (SELECT count(*) FROM pg_catalog.pg_constraint) + (SELECT count(*) FROM pg_catalog.pg_index) + (SELECT count(*) FROM pg_catalog.pg_attrdef) + (SELECT count(*) FROM pg_catalog.pg_depend) + (SELECT count(*) FROM pg_catalog.pg_policy) + (SELECT count(*) FROM pg_catalog.pg_inherits) + (SELECT count(*) FROM pg_catalog.pg_trigger) + (SELECT count(*) FROM pg_catalog.pg_indexes WHERE schemaname LIKE 'role_%')", []string{"0"}},
		{"bob", "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'pg_%' AND table_schema = current_schema()", []string{"0"}},
		{"bob", "SELECT rolname FROM pg_catalog.pg_roles", []string{"shelflake"}},
		{"ana", "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'pos_lines'::regclass AND a.attname IN ('unit_price', 'event_time') ORDER BY 1", []string{"numeric(18,4)", "timestamp with time zone"}},
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

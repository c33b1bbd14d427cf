package pgwire

import (
	"net"
	"os"
	"testing"
)

// sqlalchemyScript reflects the lake as Superset does, through
// SQLAlchemy's PostgreSQL dialect (psycopg2): schemas, tables, views,
// columns with their types (pg_attribute, format_type, pg_attrdef,
// pg_description, pg_sequence), primary and foreign keys, indexes (pg_index
// joined on ANY(indkey), unnest/generate_subscripts), unique and check
// constraints, the table comment and has_table, then a bound query.
const sqlalchemyScript = `
import sys, urllib.parse, sqlalchemy as sa
host, port, user, pw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
e = sa.create_engine("postgresql+psycopg2://%s:%s@%s:%s/lake?sslmode=require" % (user, urllib.parse.quote(pw), host, port))
insp = sa.inspect(e)
s = insp.default_schema_name
print("schemas", insp.get_schema_names(), s)
print("tables", sorted(insp.get_table_names(schema=s)), insp.get_view_names(schema=s))
for t in sorted(insp.get_table_names(schema=s)):
    if t.startswith("_"):
        continue
    cols = insp.get_columns(t, schema=s)
    print(t, " ".join("%s:%s" % (c["name"], c["type"]) for c in cols if c["name"] in ("customer_id", "unit_price", "business_date", "event_time", "quantity", "sku")))
    print(t, insp.get_pk_constraint(t, schema=s)["constrained_columns"], insp.get_foreign_keys(t, schema=s), insp.get_indexes(t, schema=s),
        insp.get_unique_constraints(t, schema=s), insp.get_check_constraints(t, schema=s), insp.get_table_comment(t, schema=s)["text"])
print("has", insp.has_table("pos_lines", schema=s), insp.has_table("item_locations", schema=s))
with e.connect() as c:
    print("rows", c.execute(sa.text("SELECT count(*) FROM item_locations WHERE sku = :p"), {"p": "SKU-1"}).scalar())
`

func TestSQLAlchemyReflection(t *testing.T) {
	py := needTool(t, "/usr/bin/python3")
	if out, err := run(t, nil, py, "-c", "import sqlalchemy, psycopg2"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-sqlalchemy is missing (make deps): %s", out)
		}
		t.Skipf("python3-sqlalchemy is missing (make deps): %s", out)
	}
	ts := tlsServer(t)
	host, port, _ := net.SplitHostPort(ts.addr)
	for _, tc := range []struct{ user, want string }{
		{"ana", "schemas ['role_analyst'] role_analyst\ntables ['_commits', '_tables', 'item_locations', 'pos_lines'] []\n" +
			"item_locations sku:VARCHAR unit_price:NUMERIC(18, 4) business_date:DATE\nitem_locations [] [] [] [] [] None\n" +
			"pos_lines business_date:DATE event_time:TIMESTAMP sku:VARCHAR quantity:BIGINT unit_price:NUMERIC(18, 4)\npos_lines [] [] [] [] [] None\n" +
			"has True True\nrows 1\n"},
		{"bob", "schemas ['role_buyer'] role_buyer\ntables ['_commits', '_tables', 'item_locations'] []\n" +
			"item_locations sku:VARCHAR unit_price:NUMERIC(18, 4) business_date:DATE\nitem_locations [] [] [] [] [] None\nhas False True\nrows 1\n"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			out, err := run(t, nil, py, "-c", sqlalchemyScript, host, port, tc.user, testPassword)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if out != tc.want {
				t.Errorf("SQLAlchemy printed\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
}

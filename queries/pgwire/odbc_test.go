package pgwire

import (
	"net"
	"os"
	"testing"
)

// odbcScript reads through psqlODBC (pyodbc on unixODBC) configured as
// Tableau configures it: UseDeclareFetch=1;Fetch=100 makes the driver
// read every result through DECLARE … CURSOR WITH HOLD and FETCH 100 (three
// FETCHes for 250 rows), and the catalog calls SQLTables and SQLColumns
// read pg_class, pg_namespace, pg_attribute, pg_type and pg_attrdef.
const odbcScript = `
import sys, pyodbc
host, port, user, pw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
c = pyodbc.connect("DRIVER={PostgreSQL Unicode};SERVER=%s;PORT=%s;DATABASE=lake;UID=%s;PWD={%s};SSLmode=require;UseDeclareFetch=1;Fetch=100" % (host, port, user, pw), timeout=30)
cur = c.cursor()
if user == "ana":
    cur.execute("SELECT transaction_id, unit_price, business_date, quantity FROM pos_lines WHERE quantity >= ? ORDER BY 1", 1)
    for r in cur.fetchall():
        print("|".join(str(v) for v in r))
    cur.execute("SELECT count(*), sum(x) FROM (SELECT x FROM range(250) t(x)) q")
    print("agg", cur.fetchone())
    cur.execute("SELECT x FROM range(250) t(x) ORDER BY x")
    rows = cur.fetchall()
    print("rows", len(rows), rows[0][0], rows[-1][0])
print("tables", " ".join(t.table_schem + "." + t.table_name for t in cur.tables(tableType="TABLE")))
print("columns", " ".join(col.column_name + ":" + col.type_name for col in cur.columns(table="pos_lines") if col.column_name in ("customer_id", "unit_price", "business_date", "event_time")))
try:
    cur.execute("SELECT customer_id FROM pos_lines")
    cur.fetchall()
    print("LEAK")
except pyodbc.Error as e:
    print("refused", e.args[0])
c.rollback()
try:
    cur.execute("DELETE FROM pos_lines")
    print("WROTE")
except pyodbc.Error as e:
    print("refused", e.args[0])
c.rollback()
c.close()
`

func TestPsqlODBC(t *testing.T) {
	py := needTool(t, "/usr/bin/python3")
	if out, err := run(t, nil, py, "-c", "import pyodbc; pyodbc.drivers().index('PostgreSQL Unicode')"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-pyodbc or odbc-postgresql is missing (make deps): %s", out)
		}
		t.Skipf("python3-pyodbc or odbc-postgresql is missing (make deps): %s", out)
	}
	ts := tlsServer(t)
	host, port, _ := net.SplitHostPort(ts.addr)
	for _, tc := range []struct{ user, want string }{
		{"ana", "T1|12.5000|2026-05-04|2\nT2|3.9900|2026-05-04|1\nT3|1.0000|2026-05-05|3\nagg (250, Decimal('31125'))\nrows 250 0 249\n" +
			"tables role_analyst._commits role_analyst._tables role_analyst.item_locations role_analyst.pos_lines\n" +
			"columns business_date:date event_time:timestamptz unit_price:numeric\nrefused 42703\nrefused 25006\n"},
		{"bob", "tables role_buyer._commits role_buyer._tables role_buyer.item_locations\ncolumns \nrefused 42501\nrefused 25006\n"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			out, err := run(t, nil, py, "-c", odbcScript, host, port, tc.user, testPassword)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if out != tc.want {
				t.Errorf("psqlODBC printed\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
}

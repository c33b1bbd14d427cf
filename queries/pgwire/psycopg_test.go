package pgwire

import (
	"net"
	"os"
	"strings"
	"testing"
)

// psycopgScript drives psycopg 3 over the extended protocol: parameters of
// each type the lake stores (DECIMAL(18,4), DATE, TIMESTAMPTZ, text,
// bigint) sent in text (%t) and in binary (%b), results read in text and in
// binary, unprepared and as named prepared statements (prepare=True), and
// server-side named cursors (DECLARE with parameters, Describe of the
// cursor, FETCH FORWARD in the cursor's format).
const psycopgScript = `
import sys, datetime, decimal, psycopg
host, port, pw = sys.argv[1], sys.argv[2], sys.argv[3]
c = psycopg.connect(host=host, port=port, dbname="lake", user="ana", password=pw, sslmode="require", connect_timeout=30)
params = (decimal.Decimal("3.9900"), datetime.date(2026, 5, 4), datetime.datetime(2026, 5, 4, 11, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), "S0001", 1)
q = "SELECT transaction_id, unit_price, business_date, event_time, quantity FROM pos_lines WHERE unit_price >= %(p)s AND business_date >= %(p)s AND event_time > %(p)s AND store_id = %(p)s AND quantity >= %(p)s ORDER BY 1"
def show(rows):
    return ";".join("|".join(str(v) for v in r) for r in rows)
for p in ("t", "b"):
    qp = q.replace("%(p)s", "%" + p)
    for binary in (False, True):
        for prepare in (False, True):
            cur = c.cursor(binary=binary)
            for _ in range(3):
                cur.execute(qp, params, prepare=prepare)
                rows = cur.fetchall()
            print(p, "binary" if binary else "text", "prepared" if prepare else "unprepared", show(rows))
        c.commit()
        sc = c.cursor(name="by one", binary=binary)
        sc.itersize = 1
        sc.execute(qp, params)
        print(p, "named", "binary" if binary else "text", show([sc.fetchone()]), show(sc.fetchmany(5)), show(sc.fetchall()))
        sc.close()
        c.commit()
        print(p, "iterated", ",".join(r[0] for r in c.cursor(name="iter", binary=binary).execute(qp, params)))
        c.commit()
try:
    c.cursor(name="hidden").execute("SELECT customer_id FROM pos_lines WHERE quantity > %s", (0,)).fetchall()
    print("LEAK")
except psycopg.Error as e:
    print("refused", e.sqlstate)
c.rollback()
try:
    c.execute("DELETE FROM pos_lines WHERE quantity > %b", (0,))
    print("WROTE")
except psycopg.Error as e:
    print("refused", e.sqlstate)
c.rollback()
c.close()
`

func TestPsycopg3(t *testing.T) {
	py := needTool(t, "/usr/bin/python3")
	if out, err := run(t, nil, py, "-c", "import psycopg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-psycopg is missing (make deps): %s", out)
		}
		t.Skipf("python3-psycopg is missing (make deps): %s", out)
	}
	ts := tlsServer(t)
	host, port, _ := net.SplitHostPort(ts.addr)
	before := counterValue(t, ts, "shelflake_serve_result_values_total", "binary")
	out, err := run(t, nil, py, "-c", psycopgScript, host, port, testPassword)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	const t1 = "T1|12.5000|2026-05-04|2026-05-04 10:00:00+00:00|2"
	const t2 = "T2|3.9900|2026-05-04|2026-05-04 10:00:00+00:00|1"
	var want strings.Builder
	for _, p := range []string{"t", "b"} {
		for _, f := range []string{"text", "binary"} {
			want.WriteString(p + " " + f + " unprepared " + t1 + ";" + t2 + "\n")
			want.WriteString(p + " " + f + " prepared " + t1 + ";" + t2 + "\n")
			want.WriteString(p + " named " + f + " " + t1 + " " + t2 + " \n")
			want.WriteString(p + " iterated T1,T2\n")
		}
	}
	want.WriteString("refused 42703\nrefused 25006\n")
	if out != want.String() {
		t.Errorf("psycopg printed\n%s\nwant\n%s", out, want.String())
	}
	if n := counterValue(t, ts, "shelflake_serve_result_values_total", "binary"); n == before {
		t.Error("psycopg received no value in binary format")
	}
}

package pgwire

import (
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool returns the path of a client the Makefile's deps target
// installs; without it the test skips, except under CI where it fails.
func needTool(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		if _, serr := os.Stat(path); serr == nil {
			return path
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: run make deps", path)
		}
		t.Skipf("%s is missing: run make deps", path)
	}
	return p
}

func tlsServer(t *testing.T) *testServer {
	cfg, _, err := SelfSignedTLS([]string{"127.0.0.1"}, tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, func(o *Options) { o.TLS = cfg; o.RequireTLS = true })
}

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPsql(t *testing.T) {
	psql := needTool(t, "psql")
	ts := tlsServer(t)
	host, port, _ := net.SplitHostPort(ts.addr)
	conn := func(user, sslmode string) string {
		return "host=" + host + " port=" + port + " dbname=lake user=" + user + " sslmode=" + sslmode + " connect_timeout=30"
	}
	env := []string{"PGPASSWORD=" + testPassword, "PGCONNECT_TIMEOUT=30", "PSQLRC=/dev/null"}
	for _, tc := range []struct {
		name, user, sslmode, sql string
		env                      []string
		want                     string // in the output
		fail                     bool
	}{
		{name: "query", user: "ana", sslmode: "require", sql: "SELECT transaction_id, unit_price, business_date FROM pos_lines ORDER BY 1",
			want: "T1|12.5000|2026-05-04\nT2|3.9900|2026-05-04\nT3|1.0000|2026-05-05"},
		{name: "time travel", user: "ana", sslmode: "require", sql: "SET shelflake.version = 1; SELECT count(*) FROM pos_lines", want: "2"},
		{name: "transaction", user: "ana", sslmode: "require", sql: "BEGIN READ ONLY; SELECT count(*) FROM item_locations; COMMIT", want: "1"},
		{name: "list tables", user: "ana", sslmode: "require", sql: `\dt`, want: "role_analyst|item_locations|table|shelflake\nrole_analyst|pos_lines|table|shelflake"},
		{name: "list schemas", user: "ana", sslmode: "require", sql: `\dn`, want: "role_analyst|shelflake"},
		{name: "list databases", user: "ana", sslmode: "require", sql: `\l`, want: "UTF8"},
		{name: "version", user: "ana", sslmode: "require", sql: "SELECT version()", want: "PostgreSQL 16.4"},
		{name: "cursor", user: "ana", sslmode: "require", sql: "BEGIN; DECLARE c CURSOR FOR SELECT transaction_id FROM pos_lines ORDER BY 1; FETCH 2 FROM c; FETCH NEXT FROM c; CLOSE c; COMMIT",
			want: "T1\nT2\nT3\n"},
		{name: "cursor with hold", user: "ana", sslmode: "require", sql: "DECLARE h CURSOR WITH HOLD FOR SELECT transaction_id FROM pos_lines ORDER BY 1; FETCH 1 FROM h; BEGIN; COMMIT; FETCH ALL IN h; FETCH h",
			want: "DECLARE CURSOR\nT1\nBEGIN\nCOMMIT\nT2\nT3\n"},
		{name: "cursor over a hidden column", user: "ana", sslmode: "require", sql: "BEGIN; DECLARE c CURSOR FOR SELECT customer_id FROM pos_lines", want: "customer_id", fail: true},
		{name: "copy csv", user: "ana", sslmode: "require", sql: `\copy (SELECT transaction_id, unit_price, quantity > 1 AS many, '' AS empty, NULL AS none FROM pos_lines ORDER BY 1) TO STDOUT CSV HEADER`,
			want: "transaction_id,unit_price,many,empty,none\nT1,12.5000,t,\"\",\nT2,3.9900,f,\"\",\nT3,1.0000,t,\"\",\n"},
		{name: "copy text", user: "ana", sslmode: "require", sql: "COPY pos_lines (transaction_id, quantity) TO STDOUT", want: "T1\t2\n"},
		{name: "copy of a hidden column", user: "ana", sslmode: "require", sql: "COPY pos_lines (customer_id) TO STDOUT", want: "customer_id", fail: true},
		{name: "copy of the full view", user: "ana", sslmode: "require", sql: "COPY main.pos_lines TO STDOUT", want: "permission denied", fail: true},
		{name: "copy to a file", user: "ana", sslmode: "require", sql: "COPY pos_lines TO '/tmp/pgwire-copy.csv'", want: "only COPY", fail: true},
		{name: "hidden column", user: "ana", sslmode: "require", sql: "SELECT customer_id FROM pos_lines", want: "customer_id", fail: true},
		{name: "write", user: "ana", sslmode: "require", sql: "DELETE FROM pos_lines", want: "read-only", fail: true},
		{name: "wrong password", user: "ana", sslmode: "require", sql: "SELECT 1", env: []string{"PGPASSWORD=nope"}, want: "password authentication failed", fail: true},
		{name: "no TLS", user: "ana", sslmode: "disable", sql: "SELECT 1", want: "requires TLS", fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, append(env, tc.env...), psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", conn(tc.user, tc.sslmode), "-c", tc.sql)
			if tc.fail != (err != nil) {
				t.Fatalf("err %v, want failure %v: %s", err, tc.fail, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output %q lacks %q", out, tc.want)
			}
		})
	}
}

const psycopg2Script = `
import sys, psycopg2
host, port, pw = sys.argv[1], sys.argv[2], sys.argv[3]
c = psycopg2.connect(host=host, port=port, dbname="lake", user="ana", password=pw, sslmode="require", connect_timeout=30)
cur = c.cursor()
cur.execute("SELECT transaction_id, unit_price, business_date, event_time, quantity FROM pos_lines WHERE quantity >= %s ORDER BY 1", (2,))
for r in cur.fetchall():
    print("|".join(str(v) for v in r))
print(c.server_version)
named = c.cursor(name="by one")
named.itersize = 1
named.execute("SELECT transaction_id FROM pos_lines ORDER BY 1")
print("cursor", ",".join(r[0] for r in named))
named.close()
c.commit()
try:
    cur.execute("SELECT customer_id FROM pos_lines")
    print("LEAK")
except psycopg2.Error as e:
    print("refused", e.pgcode)
c.rollback()
try:
    cur.execute("CREATE TABLE x (a int)")
    print("WROTE")
except psycopg2.Error as e:
    print("refused", e.pgcode)
c.rollback()
c.close()
`

func TestPsycopg2(t *testing.T) {
	py := needTool(t, "/usr/bin/python3")
	if out, err := run(t, nil, py, "-c", "import psycopg2"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-psycopg2 is missing (make deps): %s", out)
		}
		t.Skipf("python3-psycopg2 is missing (make deps): %s", out)
	}
	ts := tlsServer(t)
	host, port, _ := net.SplitHostPort(ts.addr)
	out, err := run(t, nil, py, "-c", psycopg2Script, host, port, testPassword)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "T1|12.5000|2026-05-04|2026-05-04 10:00:00+00:00|2\nT3|1.0000|2026-05-05|2026-05-05 10:00:00+00:00|3\n160004\ncursor T1,T2,T3\nrefused 42703\nrefused 25006\n"
	if out != want {
		t.Errorf("psycopg2 printed\n%s\nwant\n%s", out, want)
	}
}

// jdbcProgram runs one prepared statement past pgjdbc's prepareThreshold
// (5), so that later runs use a server-side statement and binary results,
// reads with a fetch size (portal suspension), and asks DatabaseMetaData.
const jdbcProgram = `
import java.sql.*;
import java.util.Properties;

public class PgwireClient {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.setProperty("user", "ana");
    p.setProperty("password", args[1]);
    p.setProperty("sslmode", "require");
    p.setProperty("prepareThreshold", "5");
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://" + args[0] + "/lake", p)) {
      String prev = null;
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT transaction_id, unit_price, business_date, event_time, quantity, line_no, CAST(quantity AS DOUBLE) / 2, quantity > 1 FROM pos_lines WHERE quantity >= ? ORDER BY 1")) {
        for (int i = 0; i < 8; i++) {
          ps.setInt(1, 2);
          StringBuilder sb = new StringBuilder();
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              sb.append(rs.getString(1)).append('|').append(rs.getBigDecimal(2)).append('|').append(rs.getDate(3))
                .append('|').append(rs.getTimestamp(4).toInstant()).append('|').append(rs.getLong(5))
                .append('|').append(rs.getInt(6)).append('|').append(rs.getDouble(7)).append('|').append(rs.getBoolean(8)).append(';');
            }
          }
          if (prev != null && !prev.equals(sb.toString())) {
            System.out.println("CHANGED at run " + i + ": " + sb);
          }
          prev = sb.toString();
        }
      }
      System.out.println(prev);
      DatabaseMetaData md = c.getMetaData();
      StringBuilder tables = new StringBuilder();
      try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE"})) {
        while (rs.next()) tables.append(rs.getString("TABLE_SCHEM")).append('.').append(rs.getString("TABLE_NAME")).append(' ');
      }
      System.out.println("tables " + tables.toString().trim());
      StringBuilder cols = new StringBuilder();
      try (ResultSet rs = md.getColumns(null, null, "pos_lines", "%")) {
        while (rs.next()) {
          String name = rs.getString("COLUMN_NAME");
          if (name.equals("customer_id") || name.equals("unit_price") || name.equals("business_date")) cols.append(name).append(':').append(rs.getInt("DATA_TYPE")).append(' ');
        }
      }
      System.out.println("columns " + cols.toString().trim());
      System.out.println("product " + md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.setFetchSize(1);
        int n = 0;
        try (ResultSet rs = st.executeQuery("SELECT transaction_id FROM pos_lines")) {
          while (rs.next()) n++;
        }
        System.out.println("fetched " + n);
      }
      c.commit();
      try (Statement st = c.createStatement()) {
        st.executeQuery("SELECT customer_id FROM pos_lines");
        System.out.println("LEAK");
      } catch (SQLException e) {
        System.out.println("refused " + e.getSQLState());
      }
      c.rollback();
      try (Statement st = c.createStatement()) {
        st.executeUpdate("DELETE FROM pos_lines");
        System.out.println("WROTE");
      } catch (SQLException e) {
        System.out.println("refused " + e.getSQLState());
      }
    }
  }
}
`

func TestPgJDBC(t *testing.T) {
	jar := "/usr/share/java/postgresql.jar"
	needTool(t, jar)
	javac := needTool(t, "javac")
	java := needTool(t, "java")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "PgwireClient.java"), []byte(jdbcProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, javac, "-cp", jar, "-d", dir, filepath.Join(dir, "PgwireClient.java")); err != nil {
		t.Fatalf("javac: %v: %s", err, out)
	}
	ts := tlsServer(t)
	out, err := run(t, []string{"TZ=UTC"}, java, "-Duser.timezone=UTC", "-cp", jar+string(os.PathListSeparator)+dir, "PgwireClient", ts.addr, testPassword)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "T1|12.5000|2026-05-04|2026-05-04T10:00:00Z|2|1|1.0|true;T3|1.0000|2026-05-05|2026-05-05T10:00:00Z|3|1|1.5|true;\ntables role_analyst._commits role_analyst._tables role_analyst.item_locations role_analyst.pos_lines\ncolumns business_date:91 unit_price:2\nproduct PostgreSQL 16\nfetched 3\nrefused 42703\nrefused 25006\n"
	if out != want {
		t.Errorf("pgjdbc printed\n%s\nwant\n%s", out, want)
	}
	if n := counterValue(t, ts, "shelflake_serve_result_values_total", "binary"); n == 0 {
		t.Error("pgjdbc received no value in binary format past prepareThreshold")
	}
}

// counterValue reads a counter of the server's registry by its one label.
func counterValue(t *testing.T, ts *testServer, name, label string) float64 {
	t.Helper()
	mfs, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

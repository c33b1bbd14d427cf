package pgwire

import (
	"net"
	"strings"
	"testing"
)

// TestPsqlDescribe runs psql's \d and \d+ (psql reads pg_class,
// pg_attribute, pg_policy, pg_statistic_ext, pg_publication, pg_inherits,
// … for them): a role sees its table's columns with Postgres types, never a
// hidden column, and no table of another role.
func TestPsqlDescribe(t *testing.T) {
	psql := needTool(t, "psql")
	ts := startServer(t)
	host, port, _ := net.SplitHostPort(ts.addr)
	env := []string{"PGPASSWORD=" + testPassword, "PGCONNECT_TIMEOUT=30", "PSQLRC=/dev/null"}
	for _, tc := range []struct {
		user, cmd string
		want      []string // lines of the output
		absent    []string // substrings the output must not have
		fail      bool
	}{
		{user: "ana", cmd: `\d pos_lines`, want: []string{
			"transaction_id|character varying|||", "line_no|integer|||", "business_date|date|||",
			"event_time|timestamp with time zone|||", "quantity|bigint|||", "unit_price|numeric(18,4)|||"},
			absent: []string{"customer_id"}},
		{user: "ana", cmd: `\d+ pos_lines`, want: []string{"unit_price|numeric(18,4)||||extended|||", "dt|date||||plain|||"}, absent: []string{"customer_id", "???"}},
		{user: "admin", cmd: `\d pos_lines`, want: []string{"customer_id|character varying|||"}},
		{user: "bob", cmd: `\d item_locations`, want: []string{"sku|character varying|||"}},
		{user: "bob", cmd: `\d pos_lines`, want: []string{`Did not find any relation named "pos_lines".`}, fail: true},
		{user: "bob", cmd: `\d`, want: []string{"role_buyer|item_locations|table|shelflake"}, absent: []string{"pos_lines", "role_analyst", "pg_policy"}},
		{user: "ana", cmd: `\d+`, want: []string{"role_analyst|pos_lines|table|shelflake|permanent||"}, absent: []string{"pg_", "information_schema"}},
	} {
		t.Run(tc.user+" "+tc.cmd, func(t *testing.T) {
			out, err := run(t, env, psql, "-X", "-At", "-v", "ON_ERROR_STOP=1",
				"host="+host+" port="+port+" dbname=lake user="+tc.user+" sslmode=disable connect_timeout=30", "-c", tc.cmd)
			if tc.fail != (err != nil) {
				t.Fatalf("err %v, want failure %v: %s", err, tc.fail, out)
			}
			lines := strings.Split(out, "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, w)
				}
				if !found {
					t.Errorf("output lacks a line %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%s", a, out)
				}
			}
		})
	}
}

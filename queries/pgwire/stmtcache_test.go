package pgwire

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestVerdictsPerRole: a statement one role was allowed is still refused
// to another role after it, whatever the order: verdicts are kept per role.
func TestVerdictsPerRole(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name       string
		sql        string
		allowed    string // user the statement runs for
		refused    string // user who must still be refused
		refusedFor string // SQLSTATE
	}{
		{"other role's table", "SELECT count(*) FROM pos_lines", "admin", "bob", "42501"},
		{"hidden column", "SELECT count(customer_id) FROM pos_lines", "admin", "ana", "42703"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, no := ts.connect(t, tc.allowed), ts.connect(t, tc.refused)
			for range 2 { // the second time from the verdicts kept
				var n int64
				if err := ok.QueryRow(ctx, tc.sql).Scan(&n); err != nil {
					t.Fatalf("%s: %v", tc.allowed, err)
				}
				err := no.QueryRow(ctx, tc.sql).Scan(&n)
				if code := pgCode(err); code != tc.refusedFor {
					t.Errorf("%s: %v (SQLSTATE %q), want %s", tc.refused, err, code, tc.refusedFor)
				}
			}
		})
	}
}

// TestPreparedPortalsInterleaved: two portals of one prepared statement
// read alternately, and the statement closed while a portal of it is
// suspended: every portal still returns every row, in order.
func TestPreparedPortalsInterleaved(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "admin")
	pc := c.PgConn()
	ctx := t.Context()
	if _, err := pc.Exec(ctx, "BEGIN").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Prepare(ctx, "s1", "SELECT transaction_id FROM pos_lines WHERE quantity > $1 ORDER BY transaction_id", nil); err != nil {
		t.Fatal(err)
	}
	fe := pc.Frontend()
	fe.SendBind(&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1", Parameters: [][]byte{[]byte("-1000")}})
	fe.SendExecute(&pgproto3.Execute{Portal: "p1", MaxRows: 1})
	fe.SendBind(&pgproto3.Bind{DestinationPortal: "p2", PreparedStatement: "s1", Parameters: [][]byte{[]byte("-1000")}})
	fe.SendExecute(&pgproto3.Execute{Portal: "p2", MaxRows: 1})
	fe.SendBind(&pgproto3.Bind{DestinationPortal: "p3", PreparedStatement: "s1", Parameters: [][]byte{[]byte("-1000")}})
	fe.SendExecute(&pgproto3.Execute{Portal: "p3", MaxRows: 1})
	fe.SendClose(&pgproto3.Close{ObjectType: 'S', Name: "s1"})
	fe.SendExecute(&pgproto3.Execute{Portal: "p3"})
	fe.SendExecute(&pgproto3.Execute{Portal: "p1"})
	fe.SendExecute(&pgproto3.Execute{Portal: "p2"})
	fe.SendSync(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			got = append(got, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			t.Fatalf("error %s: %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			// p1, p2, p3 one row each; then p3, p1, p2 the rest.
			want := []string{"T1", "T1", "T1", "T2", "T3", "T2", "T3", "T2", "T3"}
			if len(got) != len(want) {
				t.Fatalf("rows %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("rows %v, want %v", got, want)
				}
			}
			if _, err := pc.Exec(ctx, "COMMIT").ReadAll(); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestPreparedNameTaken: a Parse under a name in use is refused (42P05)
// and the statement already there keeps working.
func TestPreparedNameTaken(t *testing.T) {
	ts := startServer(t)
	pc := ts.connect(t, "admin").PgConn()
	ctx := t.Context()
	if _, err := pc.Prepare(ctx, "s1", "SELECT count(*) FROM pos_lines", nil); err != nil {
		t.Fatal(err)
	}
	_, err := pc.Prepare(ctx, "s1", "SELECT 1", nil)
	if code := pgCode(err); code != "42P05" {
		t.Fatalf("second Parse of s1: %v (SQLSTATE %q), want 42P05", err, code)
	}
	for range 2 {
		res := pc.ExecPrepared(ctx, "s1", nil, nil, nil).Read()
		if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "3" {
			t.Fatalf("s1: %v %q, want one row 3", res.Err, res.Rows)
		}
	}
}

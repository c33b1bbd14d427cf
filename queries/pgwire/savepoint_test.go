package pgwire

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSavepoints runs a transaction's savepoints as ODBC drivers send them:
// ROLLBACK TO returns a failed transaction to a working one, RELEASE and
// unknown names behave as in Postgres, and none of it outside a
// transaction.
func TestSavepoints(t *testing.T) {
	ts := startServer(t)
	for _, tc := range []struct {
		name  string
		stmts []string
		want  []string // per statement: the command tag, or the SQLSTATE of its error
	}{
		{"rollback to after an error", []string{"BEGIN", "SAVEPOINT a", "SELECT customer_id FROM pos_lines", "SELECT 1", "ROLLBACK TO SAVEPOINT a", "SELECT count(*) FROM pos_lines", "RELEASE a", "COMMIT"},
			[]string{"BEGIN", "SAVEPOINT", "42703", "25P02", "ROLLBACK", "SELECT 1", "RELEASE", "COMMIT"}},
		{"nested and released", []string{"BEGIN", "SAVEPOINT a", "SAVEPOINT \"B\"", "RELEASE SAVEPOINT a", "ROLLBACK TO \"B\"", "ROLLBACK"},
			[]string{"BEGIN", "SAVEPOINT", "SAVEPOINT", "RELEASE", "3B001", "ROLLBACK"}},
		{"outside a transaction", []string{"SAVEPOINT a", "ROLLBACK TO a", "RELEASE a"}, []string{"25P01", "25P01", "25P01"}},
		{"a write stays refused", []string{"BEGIN", "SAVEPOINT a", "DELETE FROM pos_lines", "ROLLBACK TO a", "COMMIT"}, []string{"BEGIN", "SAVEPOINT", "25006", "ROLLBACK", "COMMIT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.connect(t, "ana")
			for i, s := range tc.stmts {
				got := ""
				tag, err := c.Exec(t.Context(), s, pgx.QueryExecModeSimpleProtocol)
				if err != nil {
					got = pgCode(err)
				} else {
					got = tag.String()
				}
				if got != tc.want[i] {
					t.Errorf("%s: got %s, want %s (%v)", s, got, tc.want[i], err)
				}
			}
			if c.PgConn().TxStatus() != 'I' {
				t.Errorf("transaction status %c after the test", c.PgConn().TxStatus())
			}
		})
	}
}

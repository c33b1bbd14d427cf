package pgwire

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestTypesBothFormats reads every stored type in text (simple protocol)
// and binary (pgx's extended protocol asks binary for each of them).
func TestTypesBothFormats(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "admin")
	const q = `SELECT unit_price, business_date, event_time, store_id, quantity, line_no, CAST(quantity AS DOUBLE) / 2 AS half, quantity > 1 AS many
		FROM pos_lines WHERE transaction_id = 'T1'`
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			var (
				price pgtype.Numeric
				day   time.Time
				at    time.Time
				store string
				qty   int64
				line  int32
				half  float64
				many  bool
			)
			if err := c.QueryRow(t.Context(), q, mode).Scan(&price, &day, &at, &store, &qty, &line, &half, &many); err != nil {
				t.Fatal(err)
			}
			pv, _ := price.Value()
			if pv != "12.5000" && pv != "12.5" {
				t.Errorf("unit_price = %v, want 12.5000", pv)
			}
			if !day.Equal(day1.Time()) {
				t.Errorf("business_date = %v, want %v", day, day1)
			}
			if want := day1.Time().Add(10 * time.Hour); !at.Equal(want) {
				t.Errorf("event_time = %v, want %v", at, want)
			}
			if store != "S0001" || qty != 2 || line != 1 || half != 1 || !many {
				t.Errorf("got %q %d %d %v %v", store, qty, line, half, many)
			}
		})
	}
}

func TestParametersAndDescribe(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "admin")
	sd, err := c.Prepare(t.Context(), "byqty", "SELECT transaction_id, quantity FROM pos_lines WHERE quantity >= $1 AND business_date <= $2 ORDER BY transaction_id")
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.ParamOIDs) != 2 || len(sd.Fields) != 2 {
		t.Fatalf("described %d params, %d fields", len(sd.ParamOIDs), len(sd.Fields))
	}
	rows, err := c.Query(t.Context(), "byqty", int64(2), day2.Time())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var id string
		var q int64
		err := r.Scan(&id, &q)
		return id, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != "T1" || ids[1] != "T3" {
		t.Errorf("ids = %v, want [T1 T3]", ids)
	}
}

// TestPortalSuspended drives Execute with a row limit on a named portal.
func TestPortalSuspended(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "admin")
	pc := c.PgConn()
	ctx := t.Context()
	if _, err := pc.Exec(ctx, "BEGIN").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Prepare(ctx, "s1", "SELECT transaction_id FROM pos_lines ORDER BY transaction_id", nil); err != nil {
		t.Fatal(err)
	}
	// pgconn has no portal API: build the messages by hand.
	fe := pc.Frontend()
	fe.SendBind(&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1"})
	fe.SendExecute(&pgproto3.Execute{Portal: "p1", MaxRows: 2})
	fe.SendExecute(&pgproto3.Execute{Portal: "p1", MaxRows: 2})
	fe.SendSync(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	suspended, completed := 0, 0
	for {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			got = append(got, string(m.Values[0]))
		case *pgproto3.PortalSuspended:
			suspended++
		case *pgproto3.CommandComplete:
			completed++
			if string(m.CommandTag) != "SELECT 3" {
				t.Errorf("tag %q, want SELECT 3", m.CommandTag)
			}
		case *pgproto3.ErrorResponse:
			t.Fatalf("error %s: %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			if m.TxStatus != 'T' {
				t.Errorf("tx status %c, want T", m.TxStatus)
			}
			if len(got) != 3 || got[0] != "T1" || got[2] != "T3" || suspended != 1 || completed != 1 {
				t.Errorf("rows %v, %d suspended, %d completed", got, suspended, completed)
			}
			if _, err := pc.Exec(ctx, "COMMIT").ReadAll(); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

func TestTransactionStatusAndErrors(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "admin")
	pc := c.PgConn()
	ctx := t.Context()
	for _, tc := range []struct {
		sql    string
		code   string
		status byte
	}{
		{"BEGIN READ ONLY", "", 'T'},
		{"SELECT CAST('x' AS INTEGER)", "22P02", 'E'},
		{"SELECT 1", "25P02", 'E'},
		{"ROLLBACK", "", 'I'},
		{"SELECT * FROM no_such_table", "42P01", 'I'},
		{"SELEC 1", "42601", 'I'},
		{"SET application_name = 'tableau'", "", 'I'},
		{"SHOW application_name", "", 'I'},
		{"DISCARD ALL", "", 'I'},
		{"SET memory_limit = '1TB'", "42501", 'I'},
		{"COMMIT", "", 'I'},
	} {
		_, err := pc.Exec(ctx, tc.sql).ReadAll()
		if got := pgCode(err); got != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.sql, got, err, tc.code)
		}
		if got := pc.TxStatus(); got != tc.status {
			t.Errorf("%s: status %c, want %c", tc.sql, got, tc.status)
		}
	}
}

func TestCancelRequest(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "admin")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, "SELECT count(*) FROM range(10000000000) a, range(100000) b", pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	// Cancel until the query ends: the first request may land before the
	// query runs.
	for {
		if err := c.PgConn().CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if pgCode(err) != "57014" {
				t.Fatalf("err %v, want 57014", err)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

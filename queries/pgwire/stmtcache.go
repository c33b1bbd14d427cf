package pgwire

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
)

// This file holds what makes a statement through the server cost what it
// costs in process: a statement is checked by the guard once per
// snapshot, role and text (not once per session), and the DuckDB prepared
// statement made at Parse to describe it is the one Execute runs (not
// prepared a second time).

// maxVerdicts bounds the guard verdicts a snapshot keeps; past it,
// statements are checked every time.
const maxVerdicts = 4096

// verdicts caches the guard's verdict on the statements it allowed: the
// SQL DuckDB runs, by role and statement text. A verdict depends only on
// the text, the role and the snapshot's names, so it holds for the
// snapshot's life. Refusals are not kept: they are checked again.
type verdicts struct {
	mu sync.Mutex
	m  map[string]string
}

func verdictKey(role, stmt string) string { return role + "\x00" + stmt }

func (v *verdicts) get(role, stmt string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	q, ok := v.m[verdictKey(role, stmt)]
	return q, ok
}

func (v *verdicts) put(role, stmt, exec string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]string{}
	}
	if len(v.m) < maxVerdicts {
		v.m[verdictKey(role, stmt)] = exec
	}
}

// check runs the guard on stmt for the connection's role, or returns the
// verdict the snapshot s already has for it.
func (c *conn) check(ctx context.Context, s *snapshot, d *sql.Conn, stmt string) (string, error) {
	if q, ok := s.verdicts.get(c.role.Name, stmt); ok {
		return q, nil
	}
	q, err := (&guard{role: c.role, others: s.names}).check(ctx, d, stmt)
	if err != nil {
		return "", err
	}
	s.verdicts.put(c.role.Name, stmt, q)
	return q, nil
}

// duckStmt is a DuckDB prepared statement kept from Parse for Execute,
// valid on the connection it was prepared on.
type duckStmt struct {
	st *duckdb.Stmt
	on *sql.Conn
	// open is the result being read from st; DuckDB runs one at a time.
	open *stmtRows
	// closing: close st once open is closed.
	closing bool
}

// release closes the statement, once its result (if any) is closed.
func (ds *duckStmt) release() {
	if ds == nil || ds.closing {
		return
	}
	ds.closing = true
	if ds.open == nil {
		_ = ds.st.Close()
	}
}

// query runs the statement with args on d (its connection).
func (ds *duckStmt) query(ctx context.Context, d *sql.Conn, args []any) (*stmtRows, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv := driver.NamedValue{Ordinal: i + 1, Value: a}
		// As database/sql would: DuckDB's own check, else the default
		// conversion.
		if err := (&duckdb.Conn{}).CheckNamedValue(&nv); errors.Is(err, driver.ErrSkip) {
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return nil, err
			}
			nv.Value = v
		} else if err != nil {
			return nil, err
		}
		named[i] = nv
	}
	var rows driver.Rows
	err := d.Raw(func(any) error {
		var err error
		rows, err = ds.st.QueryContext(ctx, named)
		return err
	})
	if err != nil {
		return nil, err
	}
	r := &stmtRows{ctx: ctx, rows: rows, owner: ds, cur: make([]driver.Value, len(rows.Columns()))}
	ds.open = r
	return r, nil
}

// rowSource is a result read row by row: *sql.Rows or *stmtRows.
type rowSource interface {
	Next() bool
	Err() error
	Close() error
	Scan(dest ...any) error
}

// stmtRows reads the result of a kept prepared statement, as *sql.Rows
// would: Next stops with the context's error once it is canceled.
type stmtRows struct {
	ctx    context.Context
	rows   driver.Rows
	owner  *duckStmt
	cur    []driver.Value
	err    error
	closed bool
}

func (r *stmtRows) Next() bool {
	if r.closed || r.err != nil {
		return false
	}
	if err := r.ctx.Err(); err != nil {
		r.err = err
		return false
	}
	if err := r.rows.Next(r.cur); err != nil {
		if !errors.Is(err, io.EOF) {
			r.err = err
		}
		return false
	}
	return true
}

func (r *stmtRows) Err() error { return r.err }

// Scan copies the current row into dest, which are *any.
func (r *stmtRows) Scan(dest ...any) error {
	if len(dest) != len(r.cur) {
		return errors.New("scan: wrong number of columns")
	}
	for i, d := range dest {
		p, ok := d.(*any)
		if !ok {
			return errors.New("scan: want *any")
		}
		if b, ok := r.cur[i].([]byte); ok {
			*p = bytes.Clone(b)
			continue
		}
		*p = r.cur[i]
	}
	return nil
}

func (r *stmtRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.rows.Close()
	r.owner.open = nil
	if r.owner.closing {
		_ = r.owner.st.Close()
	}
	return err
}

// columnsOf returns the result columns of rows.
func columnsOf(rows driver.Rows) []column {
	names := rows.Columns()
	cols := make([]column, len(names))
	tn, _ := rows.(driver.RowsColumnTypeDatabaseTypeName)
	for i, n := range names {
		t := ""
		if tn != nil {
			t = tn.ColumnTypeDatabaseTypeName(i)
		}
		cols[i] = columnOf(n, t)
	}
	return cols
}

// releaseStmts closes the kept prepared statements of connection d.
func (c *conn) releaseStmts(d *sql.Conn) {
	for _, p := range c.stmts {
		if p.ds != nil && p.ds.on == d {
			p.ds.release()
			p.ds = nil
		}
	}
}

// closeDuck closes the session's DuckDB connection, after reading what
// suspended portals still hold and closing the statements prepared on it.
func (c *conn) closeDuck() {
	if c.duck == nil {
		return
	}
	if err := c.parkPortals(); err != nil {
		c.log.Warn("reading a suspended portal before closing its connection", "err", err)
	}
	c.releaseStmts(c.duck)
	c.duck.Close()
	c.duck, c.duckOf = nil, nil
}

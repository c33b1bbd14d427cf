package pgwire

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgproto3"
)

// prepared is a parsed statement (extended protocol).
type prepared struct {
	query  string
	exec   string // the SQL DuckDB runs, once the guard passed it
	kind   stmtKind
	words  []string
	params []uint32 // parameter type OIDs
	cols   []column // result columns; nil: no rows
	// ds is the DuckDB statement Parse prepared, which Execute runs.
	ds *duckStmt
}

// portal is a bound statement, possibly suspended mid-result.
type portal struct {
	stmt    *prepared
	args    []any
	formats []int16
	// rows is the open result of a suspended portal; buffered holds its
	// remaining rows once another statement needed the connection.
	rows     rowSource
	buffered [][]any
	cols     []column
	sent     int64
	started  bool
	done     bool
	// cancel ends the context the portal's rows are read under.
	cancel context.CancelFunc
}

func (p *portal) close() {
	if p.rows != nil {
		p.rows.Close()
		p.rows = nil
	}
	if p.cancel != nil {
		p.cancel()
	}
}

// conn is one client connection.
type conn struct {
	srv  *Server
	nc   net.Conn
	be   *pgproto3.Backend
	log  *slog.Logger
	enc  encoder
	user string
	role *Role

	pid, key uint32

	latest  *snapshot // the snapshot queries outside a transaction last used
	travel  *snapshot // time travel (SET shelflake.as_of / version), owned
	txSnap  *snapshot // pinned by BEGIN
	duck    *sql.Conn // connection of duckSnap
	duckOf  *snapshot
	tx      byte // 'I', 'T' or 'E'
	params  map[string]string
	asOf    string
	version string
	stmts   map[string]*prepared
	portals map[string]*portal
	cursors map[string]*cursor
	// savepoints are the open transaction's, oldest first.
	savepoints []string

	mu        sync.Mutex
	cancelRun context.CancelFunc
}

// reportedParams are sent as ParameterStatus at startup and when SET.
var reportedParams = []string{"application_name", "client_encoding", "DateStyle", "integer_datetimes",
	"IntervalStyle", "is_superuser", "server_encoding", "server_version", "session_authorization",
	"standard_conforming_strings", "TimeZone"}

// settable are the session parameters clients may SET (Postgres' names,
// lower case); they change nothing in DuckDB. Everything else is refused.
var settable = map[string]bool{
	"application_name": true, "client_encoding": true, "datestyle": true, "timezone": true,
	"extra_float_digits": true, "search_path": true, "statement_timeout": true, "lock_timeout": true,
	"idle_in_transaction_session_timeout": true, "intervalstyle": true, "bytea_output": true,
	"client_min_messages": true, "default_transaction_read_only": true, "jit": true,
	"standard_conforming_strings": true, "default_transaction_isolation": true, "session characteristics": true,
	"transaction": true, "names": true, "time zone": true, "shelflake.as_of": true, "shelflake.version": true,
	"geqo": true, "work_mem": true, "row_security": true,
}

func (c *conn) defaults() {
	c.params = map[string]string{
		"application_name": "", "client_encoding": "UTF8", "DateStyle": "ISO, MDY", "integer_datetimes": "on",
		"IntervalStyle": "postgres", "is_superuser": "off", "server_encoding": "UTF8",
		"server_version": ServerVersion, "session_authorization": c.user,
		"standard_conforming_strings": "on", "TimeZone": "UTC", "extra_float_digits": "1",
		"search_path": `"$user", public`, "transaction_isolation": "serializable",
		"transaction_read_only": "on", "default_transaction_read_only": "on",
	}
}

// paramName returns the canonical spelling of a parameter name.
func (c *conn) paramName(name string) string {
	for k := range c.params {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return strings.ToLower(name)
}

// serve runs the protocol after startup and authentication.
func (c *conn) serve(ctx context.Context) error {
	defer c.closeAll()
	c.tx = 'I'
	c.stmts = map[string]*prepared{}
	c.portals = map[string]*portal{}
	c.cursors = map[string]*cursor{}
	c.be.Send(&pgproto3.AuthenticationOk{})
	for _, p := range reportedParams {
		c.be.Send(&pgproto3.ParameterStatus{Name: p, Value: c.params[p]})
	}
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: binary.BigEndian.AppendUint32(nil, c.key)})
	c.ready()
	if err := c.be.Flush(); err != nil {
		return err
	}
	skipToSync := false
	for {
		msg, err := c.be.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		if skipToSync {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				continue
			}
			skipToSync = false
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			c.simpleQuery(ctx, m.String)
			c.endImplicit()
			c.ready()
		case *pgproto3.Parse:
			err = c.parse(ctx, m)
		case *pgproto3.Bind:
			err = c.bind(m)
		case *pgproto3.Describe:
			err = c.describe(m)
		case *pgproto3.Execute:
			err = c.execute(ctx, m)
		case *pgproto3.Sync:
			c.endImplicit()
			c.ready()
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				c.dropStmt(m.Name)
			} else {
				c.closePortal(m.Name)
			}
			c.be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Flush:
		case *pgproto3.Terminate:
			_ = c.be.Flush()
			return nil
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// No COPY FROM is ever started; ignore stray copy messages.
		default:
			c.sendError(refuse(codeProtocol, "unexpected message %T", msg))
		}
		if err != nil {
			c.sendError(err)
			if c.tx == 'T' {
				c.tx = 'E'
			}
			skipToSync = true
		}
		if err := c.be.Flush(); err != nil {
			return err
		}
	}
}

func (c *conn) ready() { c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.tx}) }

// endImplicit ends what an implicit transaction holds: outside BEGIN,
// portals live until Sync.
func (c *conn) endImplicit() {
	if c.tx != 'I' {
		return
	}
	for name := range c.portals {
		c.closePortal(name)
	}
}

func (c *conn) closePortal(name string) {
	if p, ok := c.portals[name]; ok {
		p.close()
		delete(c.portals, name)
	}
}

func (c *conn) closeAll() {
	for name := range c.portals {
		c.closePortal(name)
	}
	c.closeCursors(true)
	c.closeDuck()
	for _, s := range []*snapshot{c.latest, c.travel, c.txSnap} {
		if s != nil {
			s.release()
		}
	}
}

// snapshotFor returns the snapshot the next statement reads: the pinned one
// in a transaction, the time-travel one, or the server's latest.
func (c *conn) snapshotFor() *snapshot {
	switch {
	case c.txSnap != nil:
		return c.txSnap
	case c.travel != nil:
		return c.travel
	}
	s := c.srv.current()
	if c.latest != s {
		if c.latest != nil {
			// Nothing may still read the old snapshot when it closes.
			if err := c.parkPortals(); err != nil {
				c.log.Warn("reading a suspended portal before a snapshot change", "err", err)
			}
			if c.duckOf == c.latest {
				c.closeDuck()
			}
			c.latest.release()
		}
		c.latest = s
	} else {
		s.release()
	}
	return c.latest
}

// duckConn returns the DuckDB connection for the next statement, parking
// suspended portals (their remaining rows move to memory) first: DuckDB
// runs one result at a time per connection.
func (c *conn) duckConn(ctx context.Context) (*sql.Conn, error) {
	if err := c.parkPortals(); err != nil {
		return nil, err
	}
	s := c.snapshotFor()
	if c.duck != nil && c.duckOf == s {
		return c.duck, nil
	}
	c.closeDuck()
	d, err := s.conn(ctx, c.role)
	if err != nil {
		return nil, err
	}
	c.duck, c.duckOf = d, s
	return d, nil
}

func (c *conn) parkPortals() error {
	all := make([]*portal, 0, len(c.portals)+len(c.cursors))
	for _, p := range c.portals {
		all = append(all, p)
	}
	for _, cur := range c.cursors {
		all = append(all, cur.portal)
	}
	for _, p := range all {
		if p.rows == nil {
			continue
		}
		for p.rows.Next() {
			vals, err := scanRow(p.rows, len(p.cols))
			if err != nil {
				return err
			}
			p.buffered = append(p.buffered, vals)
		}
		err := p.rows.Err()
		p.rows.Close()
		p.rows = nil
		if err != nil {
			return err
		}
	}
	return nil
}

// runCtx returns a context for one statement that CancelRequest cancels.
func (c *conn) runCtx(ctx context.Context) (context.Context, func()) {
	rctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.cancelRun = cancel
	c.mu.Unlock()
	return rctx, func() {
		c.mu.Lock()
		c.cancelRun = nil
		c.mu.Unlock()
		cancel()
	}
}

// cancel cancels the running statement, if any (CancelRequest).
func (c *conn) cancel() {
	c.mu.Lock()
	if c.cancelRun != nil {
		c.cancelRun()
	}
	c.mu.Unlock()
}

// simpleQuery runs a Query message: each statement in turn, stopping at
// the first error.
func (c *conn) simpleQuery(ctx context.Context, q string) {
	stmts := splitStatements(q)
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, s := range stmts {
		kind, words := classify(s)
		p := &prepared{query: s, kind: kind, words: words}
		pt := &portal{stmt: p}
		err := c.run(ctx, p, pt, 0, true)
		pt.close()
		if err != nil {
			c.sendError(err)
			if c.tx == 'T' {
				c.tx = 'E'
			}
			return
		}
	}
}

// run executes a statement (or continues a suspended portal), sending
// RowDescription first when describe is set.
func (c *conn) run(ctx context.Context, p *prepared, pt *portal, maxRows int64, describe bool) error {
	if c.tx == 'E' && p.kind != kindRollback && p.kind != kindCommit && !(p.kind == kindSavepoint && p.words[0] == "ROLLBACK") {
		return refuse(codeInFailedTx, "current transaction is aborted, commands ignored until end of transaction block")
	}
	start := time.Now()
	switch p.kind {
	case kindEmpty:
		c.be.Send(&pgproto3.EmptyQueryResponse{})
		return nil
	case kindSet:
		return c.set(ctx, p)
	case kindShow:
		return c.show(p, describe)
	case kindCopy:
		return c.copyOut(ctx, p.query)
	case kindSavepoint:
		return c.savepoint(p)
	case kindDeclare:
		return c.declare(ctx, p.query, pt.args)
	case kindFetch:
		return c.fetch(p.query, pt.formats, describe)
	case kindClose:
		return c.closeCursor(p.query)
	case kindBegin:
		if c.tx == 'I' {
			s := c.snapshotFor()
			s.acquire()
			c.txSnap, c.tx = s, 'T'
		}
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("BEGIN")})
		return nil
	case kindCommit, kindRollback:
		tag := "COMMIT"
		if p.kind == kindRollback || c.tx == 'E' {
			tag = "ROLLBACK"
		}
		c.endTx()
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
		return nil
	case kindDiscard:
		tag := strings.Join(p.words[:min(2, len(p.words))], " ")
		if len(p.words) > 0 && p.words[0] == "DISCARD" {
			for name := range c.stmts {
				c.dropStmt(name)
			}
			c.setTravel(nil, "", "")
			c.defaults()
		}
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
		return nil
	}
	defer func() {
		c.mu.Lock()
		c.cancelRun = nil
		c.mu.Unlock()
		c.srv.metrics.latency.WithLabelValues(c.role.Name).Observe(time.Since(start).Seconds())
	}()
	c.srv.metrics.queries.WithLabelValues(c.role.Name).Inc()
	if !pt.started {
		if err := c.startPortal(ctx, p, pt); err != nil {
			return err
		}
		if describe {
			c.be.Send(rowDescription(pt.cols, pt.formats))
		}
	}
	c.mu.Lock()
	c.cancelRun = pt.cancel
	c.mu.Unlock()
	return c.sendRows(pt, maxRows)
}

func (c *conn) countRefusal(err error) {
	var r *refusal
	if errors.As(err, &r) && r.code == codeInsufficientPri || errors.As(err, &r) && r.code == codeReadOnly {
		c.srv.metrics.refused.WithLabelValues(c.role.Name).Inc()
		c.log.Info("statement refused", "user", c.user, "role", c.role.Name, "reason", r.msg)
	}
}

// sendRows sends up to maxRows rows (0: all) of pt, then CommandComplete
// or PortalSuspended.
func (c *conn) sendRows(pt *portal, maxRows int64) error { return c.sendRowsTagged(pt, maxRows, false) }

// sendRowsTagged sends up to maxRows rows; for a cursor's FETCH (fetch
// set) it ends with CommandComplete "FETCH n" whether or not rows remain.
func (c *conn) sendRowsTagged(pt *portal, maxRows int64, fetch bool) error {
	var n int64
	next := func() ([]any, bool, error) {
		if pt.rows != nil {
			if pt.rows.Next() {
				v, err := scanRow(pt.rows, len(pt.cols))
				return v, err == nil, err
			}
			err := pt.rows.Err()
			pt.rows.Close()
			pt.rows = nil
			return nil, false, err
		}
		if len(pt.buffered) > 0 {
			v := pt.buffered[0]
			pt.buffered = pt.buffered[1:]
			return v, true, nil
		}
		return nil, false, nil
	}
	// Counted here and added to the metrics once, not per value.
	var nText, nBinary, nBytes int
	defer func() {
		c.srv.metrics.values.WithLabelValues("text").Add(float64(nText))
		c.srv.metrics.values.WithLabelValues("binary").Add(float64(nBinary))
		c.srv.metrics.bytesOut.Add(float64(nBytes))
	}()
	for maxRows <= 0 || n < maxRows {
		vals, ok, err := next()
		if err != nil {
			return c.queryError(err)
		}
		if !ok {
			pt.done = true
			tag := "SELECT " + strconv.FormatInt(pt.sent, 10)
			if fetch {
				tag = "FETCH " + strconv.FormatInt(n, 10)
			}
			c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
			return nil
		}
		row := make([][]byte, len(vals))
		for i, v := range vals {
			f := formatOf(pt.formats, i)
			if f == 1 {
				nBinary++
			} else {
				nText++
			}
			b, err := c.enc.encode(pt.cols[i], f, v)
			if err != nil {
				return refuse(codeInternal, "column %s row %d: %v", pt.cols[i].name, pt.sent+1, err)
			}
			row[i] = b
			nBytes += len(b)
		}
		c.be.Send(&pgproto3.DataRow{Values: row})
		n++
		pt.sent++
	}
	if fetch {
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("FETCH " + strconv.FormatInt(n, 10))})
		return nil
	}
	c.be.Send(&pgproto3.PortalSuspended{})
	return nil
}

func scanRow(rows rowSource, n int) ([]any, error) {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return vals, nil
}

func formatOf(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return 0
}

func rowDescription(cols []column, formats []int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, c := range cols {
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.name), DataTypeOID: c.oid,
			DataTypeSize: c.size, TypeModifier: c.mod, Format: formatOf(formats, i)}
	}
	return rd
}

func (c *conn) endTx() {
	c.closeCursors(false)
	for name := range c.portals {
		c.closePortal(name)
	}
	if c.txSnap != nil {
		// WITH HOLD cursors keep their rows (materialized here, as
		// Postgres does at COMMIT); nothing reads the snapshot after.
		if err := c.parkPortals(); err != nil {
			c.log.Warn("materializing held cursors", "err", err)
		}
		if c.duckOf == c.txSnap {
			c.closeDuck()
		}
		c.txSnap.release()
		c.txSnap = nil
	}
	c.tx, c.savepoints = 'I', nil
}

// parse handles Parse: checks the statement and learns its parameter and
// result types from DuckDB's prepared statement.
func (c *conn) parse(ctx context.Context, m *pgproto3.Parse) error {
	kind, words := classify(m.Query)
	p := &prepared{query: strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m.Query), ";")), kind: kind, words: words, params: m.ParameterOIDs}
	if kind == kindShow && len(words) > 1 {
		p.cols = []column{{name: strings.ToLower(words[1]), oid: oidText, size: -1, mod: -1}}
	}
	if kind == kindQuery {
		rctx, done := c.runCtx(ctx)
		defer done()
		d, err := c.duckConn(rctx)
		if err != nil {
			return c.queryError(err)
		}
		q, err := c.check(rctx, c.duckOf, d, p.query)
		if err != nil {
			c.countRefusal(err)
			return c.queryError(err)
		}
		p.exec = q
		if err := describeStmt(rctx, d, p, true); err != nil {
			return c.queryError(err)
		}
	}
	if kind == kindDeclare {
		if err := c.parseDeclare(ctx, p); err != nil {
			return err
		}
	}
	if m.Name != "" {
		if _, ok := c.stmts[m.Name]; ok {
			p.ds.release()
			return refuse("42P05", "prepared statement %q already exists", m.Name)
		}
	}
	c.dropStmt(m.Name)
	c.stmts[m.Name] = p
	c.be.Send(&pgproto3.ParseComplete{})
	return nil
}

// describeStmt prepares p.exec in DuckDB for its parameter and column
// types; with keep, p keeps the prepared statement for Execute.
func describeStmt(ctx context.Context, d *sql.Conn, p *prepared, keep bool) error {
	return d.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("duckdb connection cannot prepare")
		}
		ds, err := pc.PrepareContext(ctx, p.exec)
		if err != nil {
			return err
		}
		st, ok := ds.(*duckdb.Stmt)
		if !ok {
			ds.Close()
			return fmt.Errorf("prepared statement is %T", ds)
		}
		if keep {
			defer func() {
				if p.ds == nil {
					st.Close()
				}
			}()
		} else {
			defer st.Close()
		}
		n := st.NumInput()
		params := make([]uint32, n)
		for i := range n {
			if i < len(p.params) && p.params[i] != 0 {
				params[i] = p.params[i]
				continue
			}
			t, err := st.ParamType(i + 1)
			if err != nil || t == duckdb.TYPE_INVALID || t == duckdb.TYPE_ANY {
				params[i] = oidText
				continue
			}
			params[i] = columnOf("", duckTypeName(t, nil)).oid
		}
		p.params = params
		cn, err := st.ColumnCount()
		if err != nil {
			return err
		}
		p.cols = make([]column, cn)
		for i := range cn {
			name, _ := st.ColumnName(i)
			t, err := st.ColumnType(i)
			if err != nil {
				return err
			}
			info, _ := st.ColumnTypeInfo(i)
			p.cols[i] = columnOf(name, duckTypeName(t, info))
		}
		if keep {
			p.ds = &duckStmt{st: st, on: d}
		}
		return nil
	})
}

func (c *conn) bind(m *pgproto3.Bind) error {
	p, ok := c.stmts[m.PreparedStatement]
	if !ok {
		return refuse("26000", "prepared statement %q does not exist", m.PreparedStatement)
	}
	if len(m.Parameters) != len(p.params) && p.kind == kindQuery {
		return refuse(codeProtocol, "bind message supplies %d parameters, but prepared statement %q requires %d", len(m.Parameters), m.PreparedStatement, len(p.params))
	}
	args := make([]any, len(m.Parameters))
	for i, b := range m.Parameters {
		oid := uint32(oidText)
		if i < len(p.params) {
			oid = p.params[i]
		}
		v, err := c.enc.decodeParam(oid, formatOf(m.ParameterFormatCodes, i), b)
		if err != nil {
			return refuse("22P03", "parameter $%d: %v", i+1, err)
		}
		args[i] = v
	}
	if m.DestinationPortal != "" {
		if _, ok := c.portals[m.DestinationPortal]; ok {
			return refuse("42P03", "portal %q already exists", m.DestinationPortal)
		}
	}
	c.closePortal(m.DestinationPortal)
	c.portals[m.DestinationPortal] = &portal{stmt: p, args: args, formats: m.ResultFormatCodes}
	c.be.Send(&pgproto3.BindComplete{})
	return nil
}

func (c *conn) describe(m *pgproto3.Describe) error {
	if m.ObjectType == 'S' {
		p, ok := c.stmts[m.Name]
		if !ok {
			return refuse("26000", "prepared statement %q does not exist", m.Name)
		}
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: p.params})
		if p.cols == nil {
			c.be.Send(&pgproto3.NoData{})
		} else {
			c.be.Send(rowDescription(p.cols, nil))
		}
		return nil
	}
	pt, ok := c.portals[m.Name]
	if !ok {
		// A cursor is a portal too (psycopg describes its cursors so).
		if cur, ok := c.cursors[m.Name]; ok {
			c.be.Send(rowDescription(cur.portal.cols, nil))
			return nil
		}
		return refuse("34000", "portal %q does not exist", m.Name)
	}
	if pt.stmt.kind == kindFetch {
		cur, err := c.fetchCursor(pt.stmt.query)
		if err != nil {
			return err
		}
		c.be.Send(rowDescription(cur.portal.cols, pt.formats))
		return nil
	}
	if pt.stmt.cols == nil {
		c.be.Send(&pgproto3.NoData{})
	} else {
		c.be.Send(rowDescription(pt.stmt.cols, pt.formats))
	}
	return nil
}

func (c *conn) execute(ctx context.Context, m *pgproto3.Execute) error {
	pt, ok := c.portals[m.Portal]
	if !ok {
		return refuse("34000", "portal %q does not exist", m.Portal)
	}
	if pt.done {
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 0")})
		return nil
	}
	err := c.run(ctx, pt.stmt, pt, int64(m.MaxRows), false)
	if err == nil && pt.started && len(pt.cols) != len(pt.stmt.cols) {
		return refuse(codeInternal, "result columns changed since Parse")
	}
	return err
}

// queryError turns an error into what the client receives.
func (c *conn) queryError(err error) error {
	if err == nil {
		return nil
	}
	c.srv.metrics.errors.WithLabelValues(c.role.Name).Inc()
	return err
}

// sendError sends an ErrorResponse with the error's SQLSTATE.
func (c *conn) sendError(err error) {
	code, msg := sqlState(err)
	c.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg})
}

// sqlState classifies an error: a refusal carries its code; DuckDB's error
// types map to the nearest Postgres class.
func sqlState(err error) (string, string) {
	var r *refusal
	if errors.As(err, &r) {
		return r.code, r.msg
	}
	if errors.Is(err, context.Canceled) {
		return codeCanceled, "canceling statement due to user request"
	}
	msg := err.Error()
	var de *duckdb.Error
	if errors.As(err, &de) {
		switch de.Type {
		case duckdb.ErrorTypeInterrupt:
			return codeCanceled, "canceling statement due to user request"
		case duckdb.ErrorTypeCatalog:
			if strings.Contains(msg, "does not exist") && strings.Contains(msg, "Table") {
				return codeUndefinedTable, msg
			}
			if strings.Contains(msg, "does not exist") && strings.Contains(msg, "unction") {
				return "42883", msg
			}
			return codeUndefinedObject, msg
		case duckdb.ErrorTypeBinder:
			if strings.Contains(msg, "not found") && strings.Contains(msg, "olumn") {
				return "42703", msg
			}
			return "42P18", msg
		case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
			return codeSyntax, msg
		case duckdb.ErrorTypeConversion, duckdb.ErrorTypeInvalidInput:
			return "22P02", msg
		case duckdb.ErrorTypeDivideByZero:
			return "22012", msg
		case duckdb.ErrorTypeOutOfRange:
			return "22003", msg
		case duckdb.ErrorTypePermission:
			return codeInsufficientPri, msg
		case duckdb.ErrorTypeOutOfMemory:
			return "53200", msg
		case duckdb.ErrorTypeNotImplemented:
			return codeFeature, msg
		case duckdb.ErrorTypeInvalidType, duckdb.ErrorTypeMismatchType:
			return "42804", msg
		}
	}
	return codeInternal, msg
}

// startPortal checks p with the guard (once) and starts its query for pt;
// CancelRequest cancels it until the portal closes.
func (c *conn) startPortal(ctx context.Context, p *prepared, pt *portal) error {
	var rctx context.Context
	rctx, pt.cancel = context.WithCancel(ctx)
	c.mu.Lock()
	c.cancelRun = pt.cancel
	c.mu.Unlock()
	d, err := c.duckConn(rctx)
	if err != nil {
		return c.queryError(err)
	}
	if p.exec == "" {
		q, err := c.check(rctx, c.duckOf, d, p.query)
		if err != nil {
			c.countRefusal(err)
			return c.queryError(err)
		}
		p.exec = q
	}
	if ds := p.ds; ds != nil && ds.on == d && ds.open == nil && !ds.closing {
		rows, err := ds.query(rctx, d, pt.args)
		if err != nil {
			return c.queryError(err)
		}
		pt.cols, pt.rows, pt.started = columnsOf(rows.rows), rows, true
		return nil
	}
	rows, err := d.QueryContext(rctx, p.exec, pt.args...)
	if err != nil {
		return c.queryError(err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		return c.queryError(err)
	}
	pt.cols = make([]column, len(types))
	for i, t := range types {
		pt.cols[i] = columnOf(t.Name(), t.DatabaseTypeName())
	}
	pt.rows, pt.started = rows, true
	return nil
}

// dropStmt forgets the prepared statement name, closing its DuckDB
// statement.
func (c *conn) dropStmt(name string) {
	if p, ok := c.stmts[name]; ok {
		p.ds.release()
		p.ds = nil
		delete(c.stmts, name)
	}
}

package pgwire

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// cursor is a DECLAREd cursor: a portal read by FETCH (simple query
// protocol), kept past COMMIT when declared WITH HOLD.
type cursor struct {
	portal *portal
	hold   bool
}

var (
	declareRE = regexp.MustCompile(`(?is)^\s*DECLARE\s+("(?:[^"]|"")+"|[a-z_][a-z0-9_]*)\s+((?:BINARY\s+|ASENSITIVE\s+|INSENSITIVE\s+|NO\s+SCROLL\s+|SCROLL\s+)*)CURSOR\s+(?:(WITH|WITHOUT)\s+HOLD\s+)?FOR\s+(.+)$`)
	closeRE   = regexp.MustCompile(`(?is)^\s*CLOSE\s+("(?:[^"]|"")+"|[a-z_][a-z0-9_]*)\s*;?\s*$`)
	fetchRE   = regexp.MustCompile(`(?is)^\s*FETCH\s+(?:(NEXT|FORWARD\s+ALL|FORWARD\s+\d+|FORWARD|ALL|\d+)\s+)?(?:FROM\s+|IN\s+)?("(?:[^"]|"")+"|[a-z_][a-z0-9_]*)\s*;?\s*$`)
)

// cursorName is a cursor's name as written, unquoted.
func cursorName(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return strings.ToLower(s)
}

// declare opens a cursor: the query goes through the guard, its rows are
// read by FETCH. Through the extended protocol, the query's parameters
// are the DECLARE's (args).
func (c *conn) declare(ctx context.Context, stmt string, args []any) error {
	m := declareRE.FindStringSubmatch(stripComments(stmt))
	if m == nil {
		return refuse(codeSyntax, "DECLARE: want DECLARE name [NO SCROLL] CURSOR [WITH HOLD] FOR query")
	}
	name, opts, hold, query := cursorName(m[1]), strings.ToUpper(m[2]), strings.EqualFold(m[3], "WITH"), m[4]
	if strings.Contains(opts, "BINARY") {
		return refuse(codeFeature, "binary cursors are not supported")
	}
	if !hold && c.tx == 'I' {
		return refuse("25P01", "DECLARE CURSOR can only be used in transaction blocks")
	}
	if _, ok := c.cursors[name]; ok {
		return refuse("42P03", "cursor %q already exists", name)
	}
	kind, words := classify(query)
	if kind != kindQuery {
		return refuse(codeSyntax, "DECLARE … FOR: want a query")
	}
	p := &prepared{query: strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(query), ";")), kind: kind, words: words}
	pt := &portal{stmt: p, args: args}
	// Start the query without sending anything: run with a zero-row
	// budget would send PortalSuspended, so start it by hand.
	if err := c.startPortal(ctx, p, pt); err != nil {
		return err
	}
	c.cursors[name] = &cursor{portal: pt, hold: hold}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("DECLARE CURSOR")})
	return nil
}

// parseDeclare gives a DECLARE parsed through the extended protocol the
// parameters of its query.
func (c *conn) parseDeclare(ctx context.Context, p *prepared) error {
	m := declareRE.FindStringSubmatch(stripComments(p.query))
	if m == nil {
		return nil // refused when it runs
	}
	kind, words := classify(m[4])
	if kind != kindQuery {
		return nil
	}
	q := &prepared{query: strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[4]), ";")), kind: kind, words: words, params: p.params}
	rctx, done := c.runCtx(ctx)
	defer done()
	d, err := c.duckConn(rctx)
	if err != nil {
		return c.queryError(err)
	}
	if q.exec, err = c.check(rctx, c.duckOf, d, q.query); err != nil {
		c.countRefusal(err)
		return c.queryError(err)
	}
	if err := describeStmt(rctx, d, q, false); err != nil {
		return c.queryError(err)
	}
	p.params = q.params
	return nil
}

// fetchCursor parses a FETCH statement: the cursor and the row count (0:
// all).
func (c *conn) fetchCursor(stmt string) (*cursor, error) {
	cur, _, err := c.parseFetch(stmt)
	return cur, err
}

func (c *conn) parseFetch(stmt string) (*cursor, int64, error) {
	m := fetchRE.FindStringSubmatch(stripComments(stmt))
	if m == nil {
		return nil, 0, refuse(codeFeature, "FETCH: want FETCH [NEXT | n | ALL | FORWARD n | FORWARD ALL] [FROM] name (no scrolling)")
	}
	count := int64(1)
	switch how := strings.ToUpper(strings.Join(strings.Fields(m[1]), " ")); {
	case how == "" || how == "NEXT" || how == "FORWARD":
	case how == "ALL" || how == "FORWARD ALL":
		count = 0
	default:
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(how, "FORWARD")), 10, 64)
		if err != nil || n < 0 {
			return nil, 0, refuse(codeSyntax, "FETCH %s: want a row count", how)
		}
		if n == 0 {
			return nil, 0, refuse(codeFeature, "FETCH 0 is not supported")
		}
		count = n
	}
	cur, ok := c.cursors[cursorName(m[2])]
	if !ok {
		return nil, 0, refuse("34000", "cursor %q does not exist", cursorName(m[2]))
	}
	return cur, count, nil
}

// fetch sends the next rows of a cursor in formats (the extended
// protocol's Bind; nil: text), with their description first when describe
// is set (the simple query protocol).
func (c *conn) fetch(stmt string, formats []int16, describe bool) error {
	cur, count, err := c.parseFetch(stmt)
	if err != nil {
		return err
	}
	cur.portal.formats = formats
	if describe {
		c.be.Send(rowDescription(cur.portal.cols, formats))
	}
	if cur.portal.done {
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("FETCH 0")})
		return nil
	}
	return c.sendRowsTagged(cur.portal, count, true)
}

// closeCursor runs CLOSE name | CLOSE ALL.
func (c *conn) closeCursor(stmt string) error {
	m := closeRE.FindStringSubmatch(stripComments(stmt))
	if m == nil {
		return refuse(codeSyntax, "CLOSE: want CLOSE name or CLOSE ALL")
	}
	if strings.EqualFold(m[1], "ALL") {
		c.closeCursors(true)
	} else {
		name := cursorName(m[1])
		cur, ok := c.cursors[name]
		if !ok {
			return refuse("34000", "cursor %q does not exist", name)
		}
		cur.portal.close()
		delete(c.cursors, name)
	}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("CLOSE CURSOR")})
	return nil
}

// closeCursors closes the cursors a transaction's end closes (all with
// held set).
func (c *conn) closeCursors(held bool) {
	for name, cur := range c.cursors {
		if held || !cur.hold {
			cur.portal.close()
			delete(c.cursors, name)
		}
	}
}

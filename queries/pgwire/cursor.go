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
// read by FETCH.
func (c *conn) declare(ctx context.Context, stmt string) error {
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
	pt := &portal{stmt: p}
	// Start the query without sending anything: run with a zero-row
	// budget would send PortalSuspended, so start it by hand.
	if err := c.startPortal(ctx, p, pt); err != nil {
		return err
	}
	c.cursors[name] = &cursor{portal: pt, hold: hold}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("DECLARE CURSOR")})
	return nil
}

// fetch sends the next rows of a cursor, with their description.
func (c *conn) fetch(stmt string) error {
	m := fetchRE.FindStringSubmatch(stripComments(stmt))
	if m == nil {
		return refuse(codeFeature, "FETCH: want FETCH [NEXT | n | ALL | FORWARD n | FORWARD ALL] [FROM] name (no scrolling)")
	}
	count := int64(1)
	switch how := strings.ToUpper(strings.Join(strings.Fields(m[1]), " ")); {
	case how == "" || how == "NEXT" || how == "FORWARD":
	case how == "ALL" || how == "FORWARD ALL":
		count = 0
	default:
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(how, "FORWARD")), 10, 64)
		if err != nil || n < 0 {
			return refuse(codeSyntax, "FETCH %s: want a row count", how)
		}
		if n == 0 {
			return refuse(codeFeature, "FETCH 0 is not supported")
		}
		count = n
	}
	cur, ok := c.cursors[cursorName(m[2])]
	if !ok {
		return refuse("34000", "cursor %q does not exist", cursorName(m[2]))
	}
	c.be.Send(rowDescription(cur.portal.cols, nil))
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

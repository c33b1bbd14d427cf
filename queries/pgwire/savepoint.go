package pgwire

import (
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

var savepointRE = regexp.MustCompile(`(?is)^\s*(SAVEPOINT|RELEASE(?:\s+SAVEPOINT)?|ROLLBACK(?:\s+(?:WORK|TRANSACTION))?\s+TO(?:\s+SAVEPOINT)?)\s+("(?:[^"]|"")+"|[a-z_][a-z0-9_]*)\s*;?\s*$`)

// isSavepoint reports whether a statement starting with words is
// SAVEPOINT, RELEASE or ROLLBACK … TO.
func isSavepoint(words []string) bool {
	switch {
	case len(words) == 0:
		return false
	case words[0] == "SAVEPOINT" || words[0] == "RELEASE":
		return true
	case words[0] == "ROLLBACK":
		return len(words) > 1 && words[1] == "TO" || len(words) > 2 && words[2] == "TO"
	}
	return false
}

// savepoint runs SAVEPOINT name, RELEASE [SAVEPOINT] name and ROLLBACK
// [WORK | TRANSACTION] TO [SAVEPOINT] name (ODBC drivers wrap each
// statement of a transaction in one). Nothing is ever written, so a
// savepoint only marks where ROLLBACK TO returns a failed transaction to a
// working one; the transaction keeps its snapshot, and cursors declared
// after the savepoint stay open.
func (c *conn) savepoint(p *prepared) error {
	m := savepointRE.FindStringSubmatch(stripComments(p.query))
	if m == nil {
		return refuse(codeSyntax, "want SAVEPOINT name, RELEASE [SAVEPOINT] name or ROLLBACK TO [SAVEPOINT] name")
	}
	verb := strings.ToUpper(strings.Fields(m[1])[0])
	name := cursorName(m[2])
	if c.tx == 'I' {
		what := verb
		if verb == "ROLLBACK" {
			what = "ROLLBACK TO SAVEPOINT"
		}
		return refuse("25P01", "%s can only be used in transaction blocks", what)
	}
	if verb == "SAVEPOINT" {
		c.savepoints = append(c.savepoints, name)
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SAVEPOINT")})
		return nil
	}
	i := slices.Index(c.savepoints, name)
	for j := len(c.savepoints) - 1; j >= 0; j-- { // the latest of that name
		if c.savepoints[j] == name {
			i = j
			break
		}
	}
	if i < 0 {
		return refuse("3B001", "savepoint %q does not exist", name)
	}
	if verb == "RELEASE" {
		c.savepoints = c.savepoints[:i]
		c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("RELEASE")})
		return nil
	}
	c.savepoints = c.savepoints[:i+1]
	c.tx = 'T'
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("ROLLBACK")})
	return nil
}

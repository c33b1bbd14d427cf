package pgwire

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// copySpec is a parsed COPY … TO STDOUT.
type copySpec struct {
	query     string // the rows to copy
	csv       bool
	header    bool
	delimiter string
}

// parseCopy parses COPY (query) TO STDOUT [options] and COPY table
// [(columns)] TO STDOUT [options]; options are CSV, HEADER, DELIMITER 'c'
// or the parenthesized (FORMAT csv, HEADER [true], DELIMITER 'c'). Any
// other COPY (FROM, TO a file or program) is refused.
func parseCopy(stmt string) (*copySpec, error) {
	s := strings.TrimSpace(stripComments(stmt))
	if len(s) < 4 || !strings.EqualFold(s[:4], "COPY") {
		return nil, refuse(codeSyntax, "COPY: want COPY (query) TO STDOUT")
	}
	s = strings.TrimSpace(s[4:])
	spec := &copySpec{delimiter: "\t"}
	if strings.HasPrefix(s, "(") {
		end := matchParen(s)
		if end < 0 {
			return nil, refuse(codeSyntax, "COPY: unbalanced parentheses")
		}
		spec.query, s = s[1:end], strings.TrimSpace(s[end+1:])
	} else {
		i := strings.IndexAny(s, " \t\n(")
		if i < 0 {
			return nil, refuse(codeSyntax, "COPY %s: want TO STDOUT", s)
		}
		table, rest := s[:i], strings.TrimSpace(s[i:])
		cols := "*"
		if strings.HasPrefix(rest, "(") {
			end := matchParen(rest)
			if end < 0 {
				return nil, refuse(codeSyntax, "COPY: unbalanced parentheses")
			}
			cols, rest = rest[1:end], strings.TrimSpace(rest[end+1:])
		}
		spec.query, s = "SELECT "+cols+" FROM "+table, rest
	}
	words := strings.Fields(s)
	if len(words) < 2 || !strings.EqualFold(words[0], "TO") || !strings.EqualFold(words[1], "STDOUT") {
		return nil, refuse(codeReadOnly, "COPY: only COPY … TO STDOUT is allowed here (no files, programs or COPY FROM)")
	}
	opts := strings.TrimSpace(s[strings.Index(s, words[1])+len(words[1]):])
	opts = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(opts, "WITH"), "with"))
	opts = strings.Trim(opts, "() ;")
	toks := strings.FieldsFunc(opts, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
	for i := 0; i < len(toks); i++ {
		switch strings.ToUpper(toks[i]) {
		case "CSV":
			spec.csv = true
		case "BINARY":
			return nil, refuse(codeFeature, "COPY … BINARY is not supported: use text or CSV")
		case "FORMAT":
			if i+1 < len(toks) {
				i++
				switch strings.ToLower(strings.Trim(toks[i], "'")) {
				case "csv":
					spec.csv = true
				case "text":
				default:
					return nil, refuse(codeFeature, "COPY FORMAT %s is not supported: use text or csv", toks[i])
				}
			}
		case "HEADER":
			spec.header = true
			if i+1 < len(toks) {
				switch strings.ToLower(toks[i+1]) {
				case "true", "on", "1":
					i++
				case "false", "off", "0":
					spec.header = false
					i++
				}
			}
		case "DELIMITER":
			if i+1 < len(toks) {
				i++
				d := unquote(toks[i])
				if len(d) != 1 {
					return nil, refuse(codeInvalidParam, "COPY delimiter must be a single one-byte character")
				}
				spec.delimiter = d
			}
		}
	}
	if spec.csv && spec.delimiter == "\t" && !strings.Contains(strings.ToUpper(opts), "DELIMITER") {
		spec.delimiter = ","
	}
	return spec, nil
}

// matchParen returns the index of the parenthesis closing s[0], skipping
// quoted strings and identifiers; -1 if none.
func matchParen(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// copyOut runs a COPY … TO STDOUT: the query goes through the guard like
// any other, its rows go out as CopyData in text or CSV format.
func (c *conn) copyOut(ctx context.Context, stmt string) error {
	spec, err := parseCopy(stmt)
	if err != nil {
		c.countRefusal(err)
		return err
	}
	rctx, done := c.runCtx(ctx)
	defer done()
	d, err := c.duckConn(rctx)
	if err != nil {
		return c.queryError(err)
	}
	q, err := c.check(rctx, c.duckOf, d, spec.query)
	if err != nil {
		c.countRefusal(err)
		return c.queryError(err)
	}
	rows, err := d.QueryContext(rctx, q)
	if err != nil {
		return c.queryError(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return c.queryError(err)
	}
	cols := make([]column, len(types))
	for i, t := range types {
		cols[i] = columnOf(t.Name(), t.DatabaseTypeName())
	}
	c.be.Send(&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: make([]uint16, len(cols))})
	var line []byte
	if spec.header {
		line = line[:0]
		for i, col := range cols {
			if i > 0 {
				line = append(line, spec.delimiter...)
			}
			line = appendCopyField(line, spec, col.name, false)
		}
		c.be.Send(&pgproto3.CopyData{Data: append(line, '\n')})
	}
	var n int64
	for rows.Next() {
		vals, err := scanRow(rows, len(cols))
		if err != nil {
			return c.queryError(err)
		}
		line = line[:0]
		for i, v := range vals {
			if i > 0 {
				line = append(line, spec.delimiter...)
			}
			if v == nil {
				if !spec.csv {
					line = append(line, `\N`...)
				}
				continue
			}
			line = appendCopyField(line, spec, textOf(cols[i], v), true)
		}
		line = append(line, '\n')
		c.srv.metrics.bytesOut.Add(float64(len(line)))
		c.be.Send(&pgproto3.CopyData{Data: append([]byte(nil), line...)})
		n++
	}
	if err := rows.Err(); err != nil {
		return c.queryError(err)
	}
	c.be.Send(&pgproto3.CopyDone{})
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("COPY " + strconv.FormatInt(n, 10))})
	return nil
}

// appendCopyField appends one non-null value: text format escapes
// backslash, tab, newline and carriage return; CSV quotes values holding
// the delimiter, a quote or a line break, and empty strings (an unquoted
// empty field is NULL).
func appendCopyField(b []byte, spec *copySpec, v string, value bool) []byte {
	if !spec.csv {
		for i := 0; i < len(v); i++ {
			switch ch := v[i]; {
			case ch == '\\':
				b = append(b, `\\`...)
			case ch == '\t':
				b = append(b, `\t`...)
			case ch == '\n':
				b = append(b, `\n`...)
			case ch == '\r':
				b = append(b, `\r`...)
			case ch == spec.delimiter[0]:
				b = append(b, '\\', ch)
			default:
				b = append(b, ch)
			}
		}
		return b
	}
	if (value && v == "") || strings.ContainsAny(v, spec.delimiter+"\"\n\r") {
		return append(append(b, '"'), append([]byte(strings.ReplaceAll(v, `"`, `""`)), '"')...)
	}
	return append(b, v...)
}

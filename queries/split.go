package queries

import "strings"

// SplitStatements splits a SQL script into its complete statements: text
// ending with a semicolon outside string literals, quoted identifiers,
// comments and dollar-quoted strings. Statements are returned trimmed and
// without their semicolon; statements holding nothing but white space and
// comments are dropped. rest is the text after the last complete statement
// (an unfinished statement, or white space), for a prompt to keep reading.
//
// It understands what DuckDB's parser does: '…' strings with ” escapes,
// E'…' strings with backslash escapes, "…" identifiers with "" escapes,
// -- line comments, nested /* */ block comments, and $tag$…$tag$ strings
// ($name and $1 are parameters, not quotes).
func SplitStatements(script string) (stmts []string, rest string) {
	start := 0
	i := 0
	n := len(script)
	for i < n {
		c := script[i]
		switch {
		case c == ';':
			if s := strings.TrimSpace(script[start:i]); !onlyComments(s) {
				stmts = append(stmts, s)
			}
			i++
			start = i
			continue
		case c == '\'':
			escapes := i > 0 && (script[i-1] == 'E' || script[i-1] == 'e') && (i < 2 || !isIdentByte(script[i-2]))
			i = skipQuoted(script, i+1, '\'', escapes)
			continue
		case c == '"':
			i = skipQuoted(script, i+1, '"', false)
			continue
		case c == '-' && i+1 < n && script[i+1] == '-':
			if j := strings.IndexByte(script[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = n
			}
			continue
		case c == '/' && i+1 < n && script[i+1] == '*':
			i = skipBlockComment(script, i+2)
			continue
		case c == '$' && (i == 0 || !isIdentByte(script[i-1])):
			if tag, ok := dollarTag(script[i:]); ok {
				if j := strings.Index(script[i+len(tag):], tag); j >= 0 {
					i += len(tag) + j + len(tag)
				} else {
					i = n
				}
				continue
			}
		}
		i++
	}
	return stmts, script[start:]
}

// skipQuoted returns the index after the quote closing a literal that
// starts at i (just after the opening quote); a doubled quote is an escaped
// one, and with escapes a backslash escapes the next byte. Unterminated:
// len(s).
func skipQuoted(s string, i int, q byte, escapes bool) int {
	for i < len(s) {
		switch s[i] {
		case '\\':
			if escapes {
				i += 2
				continue
			}
		case q:
			if i+1 < len(s) && s[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(s)
}

// skipBlockComment returns the index after the */ closing a (possibly
// nested) block comment whose body starts at i.
func skipBlockComment(s string, i int) int {
	depth := 1
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(s)
}

// dollarTag returns the opening tag of a dollar-quoted string at the start
// of s ("$$" or "$name$"), and false for a parameter such as $1 or $days.
func dollarTag(s string) (string, bool) {
	j := 1
	for j < len(s) && isIdentByte(s[j]) {
		j++
	}
	if j < len(s) && s[j] == '$' {
		if j > 1 && s[1] >= '0' && s[1] <= '9' {
			return "", false // $1$ is not a tag
		}
		return s[:j+1], true
	}
	return "", false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// onlyComments reports whether s (trimmed) holds no SQL: nothing, or only
// comments and white space.
func onlyComments(s string) bool {
	i := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return true
			}
			i += j + 1
		case strings.HasPrefix(s[i:], "/*"):
			i = skipBlockComment(s, i+2)
		default:
			return false
		}
	}
	return true
}

// firstKeyword returns the statement's first word, upper-cased, after
// leading comments and opening parentheses.
func firstKeyword(stmt string) string {
	s := stmt
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v(")
		switch {
		case strings.HasPrefix(s, "--"):
			j := strings.IndexByte(s, '\n')
			if j < 0 {
				return ""
			}
			s = s[j+1:]
			continue
		case strings.HasPrefix(s, "/*"):
			s = s[skipBlockComment(s, 2):]
			continue
		}
		break
	}
	j := 0
	for j < len(s) && isIdentByte(s[j]) {
		j++
	}
	return strings.ToUpper(s[:j])
}

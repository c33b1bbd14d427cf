package queries

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitStatementsEndsStatementsOnlyAtRealSemicolons(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    string
		stmts []string
		rest  string
	}{
		{"two statements and an unfinished one", "SELECT 1; SELECT 2;\nSELECT", []string{"SELECT 1", "SELECT 2"}, "\nSELECT"},
		{"a semicolon in a string", "SELECT 'a;b'; SELECT 'it''s;'", []string{"SELECT 'a;b'"}, " SELECT 'it''s;'"},
		{"a semicolon in a quoted identifier", `SELECT 1 AS "x;y";`, []string{`SELECT 1 AS "x;y"`}, ""},
		{"a semicolon in a line comment", "SELECT 1 -- no; not here\n;", []string{"SELECT 1 -- no; not here"}, ""},
		{"a semicolon in a nested block comment", "SELECT /* a /* b; */ c; */ 1;", []string{"SELECT /* a /* b; */ c; */ 1"}, ""},
		{"a semicolon in a dollar-quoted string", "SELECT $x$ a; b $x$; SELECT $$;$$;", []string{"SELECT $x$ a; b $x$", "SELECT $$;$$"}, ""},
		{"parameters are not dollar quotes", "SELECT $days, $1 + $as_of;", []string{"SELECT $days, $1 + $as_of"}, ""},
		{"an escape string with a backslash quote", `SELECT E'a\';b';`, []string{`SELECT E'a\';b'`}, ""},
		{"a plain string keeps backslashes", `SELECT 'a\'; SELECT 2;`, []string{`SELECT 'a\'`, "SELECT 2"}, ""},
		{"empty and comment-only statements are dropped", " ; -- c\n; /* d */ ;SELECT 3;", []string{"SELECT 3"}, ""},
		{"an unterminated string swallows the rest", "SELECT 'abc; SELECT 1;", nil, "SELECT 'abc; SELECT 1;"},
		{"an unterminated comment swallows the rest", "SELECT /* 1; 2;", nil, "SELECT /* 1; 2;"},
	} {
		t.Run(c.name, func(t *testing.T) {
			stmts, rest := SplitStatements(c.in)
			if !slices.Equal(stmts, c.stmts) || rest != c.rest {
				t.Errorf("SplitStatements(%q) = %q, %q; want %q, %q", c.in, stmts, rest, c.stmts, c.rest)
			}
		})
	}
}

func TestFirstKeywordSkipsCommentsAndParentheses(t *testing.T) {
	for in, want := range map[string]string{
		"select 1":                      "SELECT",
		"  -- lead\n/* x */ (WITH a AS": "WITH",
		"create table t (a int)":        "CREATE",
		"-- only a comment":             "",
	} {
		if got := firstKeyword(in); got != want {
			t.Errorf("firstKeyword(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSplitStatements checks that splitting never panics, that statements
// are never empty, and that statements joined again (each on its own line,
// so a trailing comment cannot swallow the separator) split into the same
// statements.
func FuzzSplitStatements(f *testing.F) {
	for _, s := range []string{
		"SELECT 1; SELECT 2;", "SELECT 'a;b' -- c;\n;", "SELECT $t$;$t$; SELECT $1;", "/* /* */ */;", "E'\\';';",
		`SELECT "a""b;";`, "SELECT 1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		stmts, rest := SplitStatements(script)
		if !strings.HasSuffix(script, rest) {
			t.Fatalf("rest %q is not the end of %q", rest, script)
		}
		for _, s := range stmts {
			if s == "" || onlyComments(s) {
				t.Fatalf("empty statement from %q", script)
			}
		}
		again, rest2 := SplitStatements(strings.Join(stmts, "\n;\n") + "\n;")
		if !slices.Equal(again, stmts) || strings.TrimSpace(rest2) != "" {
			t.Fatalf("re-split %q gives %q (rest %q), want %q", script, again, rest2, stmts)
		}
	})
}

package pgwire

import (
	"strings"
	"testing"
)

func TestParseCopy(t *testing.T) {
	for _, tc := range []struct {
		stmt      string
		query     string
		csv, head bool
		delim     string
		code      string
	}{
		{stmt: "COPY (SELECT 1) TO STDOUT", query: "SELECT 1", delim: "\t"},
		{stmt: "copy ( SELECT ')' ) to stdout with (format csv, header true)", query: " SELECT ')' ", csv: true, head: true, delim: ","},
		{stmt: "COPY t (a, b) TO STDOUT CSV HEADER DELIMITER ';'", query: "SELECT a, b FROM t", csv: true, head: true, delim: ";"},
		{stmt: "COPY t TO STDOUT (FORMAT text, HEADER false)", query: "SELECT * FROM t", delim: "\t"},
		{stmt: "COPY t FROM STDIN", code: codeReadOnly},
		{stmt: "COPY t TO '/tmp/x'", code: codeReadOnly},
		{stmt: "COPY t TO PROGRAM 'rm -rf /'", code: codeReadOnly},
		{stmt: "COPY (SELECT 1 TO STDOUT", code: codeSyntax},
		{stmt: "COPY t TO STDOUT BINARY", code: codeFeature},
	} {
		spec, err := parseCopy(tc.stmt)
		if tc.code != "" {
			if code, _ := sqlState(err); code != tc.code {
				t.Errorf("%s: %v, want %s", tc.stmt, err, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.stmt, err)
			continue
		}
		if spec.query != tc.query || spec.csv != tc.csv || spec.header != tc.head || spec.delimiter != tc.delim {
			t.Errorf("%s: %+v", tc.stmt, spec)
		}
	}
}

func TestParseSet(t *testing.T) {
	for _, tc := range []struct {
		stmt, name, value string
		reset             bool
	}{
		{"SET application_name = 'Tableau ''23'", "application_name", "Tableau '23", false},
		{"SET SESSION TimeZone TO 'UTC'", "TimeZone", "UTC", false},
		{"set time zone 'Europe/Paris'", "time zone", "Europe/Paris", false},
		{"SET extra_float_digits = 3", "extra_float_digits", "3", false},
		{"RESET shelflake.as_of", "shelflake.as_of", "", true},
		{"SET shelflake.version = DEFAULT", "shelflake.version", "", true},
		{"SET NAMES 'UTF8'", "client_encoding", "UTF8", false},
	} {
		name, value, reset, err := parseSet(tc.stmt)
		if err != nil || name != tc.name || value != tc.value || reset != tc.reset {
			t.Errorf("%s: %q %q %v %v", tc.stmt, name, value, reset, err)
		}
	}
}

func TestCatalogText(t *testing.T) {
	for in, want := range map[string]string{
		"WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default": "WHERE c.relname ~ '^(t)$'",
		"d.classoid = 'pg_class'::regclass":                                         "d.classoid = (SELECT min(oid) FROM pg_catalog.pg_class WHERE relname = 'pg_class')",
		"c.reloftype::pg_catalog.regtype::pg_catalog.text":                          "c.reloftype::BIGINT::text",
		"SELECT 1": "SELECT 1",
	} {
		if got := prepareCatalogText(in); got != want {
			t.Errorf("%s:\n got %s\nwant %s", in, got, want)
		}
	}
}

// FuzzStatementParsers: the server's own statement parsers never panic,
// and a COPY they accept always names rows to copy.
func FuzzStatementParsers(f *testing.F) {
	for _, s := range []string{"COPY (SELECT 1) TO STDOUT CSV", "SET a = 'b'", "RESET ALL", "SHOW x", "COPY t (a) TO STDOUT",
		"select 1 OPERATOR(pg_catalog.~) 'x'", "/* c */ -- d\nBEGIN", "COPY ((()", "SET", "'x'::regclass"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		classify(s)
		splitStatements(s)
		_, _, _, _ = parseSet(s)
		prepareCatalogText(s)
		if spec, err := parseCopy(s); err == nil && strings.TrimSpace(spec.query) == "" && !strings.Contains(s, "()") {
			t.Errorf("%q: accepted with no query", s)
		}
	})
}

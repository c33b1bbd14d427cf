package pgwire

import (
	"strings"
	"testing"
)

// TestPrepareCatalogText checks the text rewrites of clients' catalog
// queries, one per Postgres-only construct.
func TestPrepareCatalogText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1 FROM pg_catalog.pg_class WHERE relname OPERATOR(pg_catalog.~) '^x$' COLLATE pg_catalog.default`,
			`SELECT 1 FROM pg_catalog.pg_class WHERE relname ~ '^x$'`},
		{`SELECT x FROM pg_policy WHERE oid = any (pol.polroles)`, `SELECT x FROM pg_policy WHERE list_contains(pol.polroles, oid)`},
		{`SELECT 1 FROM pg_catalog.generate_series(0, pg_catalog.array_upper(a::pg_catalog.int2[], 1)) s, pg_attribute`,
			`SELECT 1 FROM pg_catalog.generate_series(0, pg_catalog.array_upper(a::int2[], 1)) s(s), pg_attribute`},
		{`SELECT unnest(ix.indkey) attnum FROM pg_index ix`, `SELECT unnest(ix.indkey) attnum FROM pg_index ix`},
		{`SELECT 1 FROM pg_catalog.unnest(x) WHERE true`, `SELECT 1 FROM pg_catalog.unnest(x) WHERE true`},
		{`SELECT json_build_object('a', 1) FROM pg_class`, `SELECT json_object('a', 1) FROM pg_class`},
		{`SELECT FORMAT('%I.%I', a, b), format('{}', c) FROM pg_class`, `SELECT printf('%s.%s', a, b), format('{}', c) FROM pg_class`},
		{`SELECT 1 FROM pg_rewrite WHERE rulename <> '_RETURN'::name`, `SELECT 1 FROM pg_rewrite WHERE rulename <> '_RETURN'::VARCHAR`},
		{`SELECT c.oid::pg_catalog.regclass FROM pg_class c`, `SELECT c.oid::BIGINT FROM pg_class c`},
		{`SELECT 'pos_lines'::regclass`, `SELECT (SELECT min(oid) FROM pg_catalog.pg_class WHERE relname = 'pos_lines')`},
		{`SELECT x = any (y), format('%s', 1) FROM t`, `SELECT x = any (y), format('%s', 1) FROM t`}, // not a catalog query
	} {
		if got := prepareCatalogText(tc.in); got != tc.want {
			t.Errorf("%s\ngot  %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// FuzzPrepareCatalogText: the rewrites never panic, leave queries that are
// not catalog queries alone, and leave no OPERATOR(pg_catalog.…) behind.
func FuzzPrepareCatalogText(f *testing.F) {
	for _, s := range []string{"SELECT 1 FROM pg_catalog.generate_series(1, (2)) s", "SELECT x OPERATOR(pg_catalog.~) 'a' FROM pg_class",
		"SELECT format('%I''%L', a) FROM pg_x", "SELECT 'a'::regclass", "FROM unnest(x) AS", "FROM generate_series((((1)))) q("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := prepareCatalogText(q)
		lq := strings.ToLower(q)
		if !strings.Contains(lq, "pg_") && !strings.Contains(lq, "::reg") && !strings.Contains(lq, "json_build") && out != q {
			t.Fatalf("%q rewritten to %q", q, out)
		}
		if operatorRe.MatchString(out) {
			t.Fatalf("%q left %q", q, out)
		}
	})
}

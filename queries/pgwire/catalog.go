package pgwire

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The catalog a role sees. DuckDB has a pg_catalog and an
// information_schema of its own, which list every schema of the database
// (the lake's full views, other roles' schemas). Each role's schema gets
// filtered copies of the catalog tables clients read, and the guard points
// a query's references to pg_catalog.pg_class & co. at them; the role's
// lake views are listed as tables (relkind 'r', BASE TABLE), which is what
// BI tools browse. Unqualified references find them first by the search
// path. Functions clients call that DuckDB lacks (or answers as DuckDB,
// like version()) are macros in the role's schema (never
// current_database(): DuckDB's own catalog views filter by it).

// catalogViews are pg_catalog tables that get a filtered copy, by name.
var catalogViews = append([]string{"pg_class", "pg_namespace", "pg_attribute", "pg_tables", "pg_views", "pg_database"},
	func() []string { _, names := moreCatalogSQL(&Role{}); return names }()...)

// infoViews are information_schema views that get a filtered copy, named
// information_schema_<name> in the role's schema.
var infoViews = []string{"tables", "columns", "schemata", "views"}

// catalogSQL returns the statements creating role r's catalog in its
// schema.
func catalogSQL(r *Role) []string {
	s := quoteIdent(r.schema())
	lit := quoteString(r.schema())
	visible := "(" + lit + ", 'pg_catalog', 'information_schema')"
	nsOids := "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname IN " + visible + ")"
	roleNs := "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = " + lit + ")"
	var names []string
	for _, v := range catalogViews {
		names = append(names, quoteString(v))
	}
	hiddenList := "(" + strings.Join(names, ", ") + ")"
	hiddenRel := "relname IN " + hiddenList + " OR relname LIKE 'information_schema_%'"
	more, _ := moreCatalogSQL(r)
	return append([]string{
		fmt.Sprintf(`CREATE VIEW %s.pg_namespace AS SELECT * FROM pg_catalog.pg_namespace WHERE nspname IN %s
			UNION ALL BY NAME SELECT %d::BIGINT AS oid, 'pg_catalog' AS nspname, 0::BIGINT AS nspowner WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')`, s, visible, pgCatalogNamespace),
		fmt.Sprintf(`CREATE VIEW %s.pg_class AS SELECT * REPLACE (CASE WHEN relnamespace = %s AND relkind = 'v' THEN 'r' ELSE relkind END AS relkind, NULL::VARCHAR[] AS reloptions,
			false AS relispartition, 'd' AS relreplident, NULL::BIGINT AS relam), false AS relforcerowsecurity
			FROM pg_catalog.pg_class WHERE relnamespace IN %s AND NOT (relnamespace = %s AND (%s))`, s, roleNs, nsOids, roleNs, hiddenRel),
		fmt.Sprintf(`CREATE VIEW %s.pg_attribute AS SELECT a.* REPLACE (%s AS atttypid,
			CASE WHEN dc.data_type LIKE 'DECIMAL%%' THEN (dc.numeric_precision * 65536 + dc.numeric_scale + 4)::INTEGER ELSE -1 END AS atttypmod,
			CASE WHEN dc.data_type IN ('VARCHAR', 'BLOB') OR dc.data_type LIKE 'DECIMAL%%' THEN 'x' ELSE 'p' END AS attstorage, -1 AS attstattarget,
			(CASE WHEN dc.data_type = 'BOOLEAN' THEN 1 WHEN dc.data_type IN ('TINYINT', 'SMALLINT', 'UTINYINT') THEN 2
				WHEN dc.data_type IN ('INTEGER', 'USMALLINT', 'FLOAT', 'DATE') THEN 4 WHEN dc.data_type IN ('BIGINT', 'UINTEGER', 'DOUBLE', 'TIME') OR dc.data_type LIKE 'TIMESTAMP%%' THEN 8
				WHEN dc.data_type = 'UUID' THEN 16 ELSE -1 END)::SMALLINT AS attlen)
			FROM pg_catalog.pg_attribute a JOIN duckdb_columns() dc ON a.attrelid = dc.table_oid AND a.attnum = dc.column_index
			WHERE a.attrelid IN (SELECT oid FROM %s.pg_class)`, s, pgTypeCase("dc.data_type"), s),
		fmt.Sprintf(`CREATE VIEW %s.pg_tables AS SELECT c.relname AS tablename, n.nspname AS schemaname, 'shelflake' AS tableowner, NULL::VARCHAR AS tablespace,
			false AS hasindexes, false AS hasrules, false AS hastriggers, false AS rowsecurity
			FROM %s.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r'`, s, s),
		fmt.Sprintf("CREATE VIEW %s.pg_views AS SELECT * FROM pg_catalog.pg_views WHERE schemaname IN ('pg_catalog', 'information_schema')", s),
		fmt.Sprintf(`CREATE VIEW %s.pg_database AS SELECT *, 'C' AS datcollate, 'C' AS datctype, NULL::VARCHAR AS daticulocale, 'c' AS datlocprovider,
			NULL::VARCHAR[] AS datacl, 6 AS encoding, 'shelflake' AS datdba FROM pg_catalog.pg_database WHERE datname = current_database()`, s),
		fmt.Sprintf(`CREATE VIEW %s.information_schema_tables AS SELECT * REPLACE ('lake' AS table_catalog,
			CASE WHEN table_schema = %s THEN 'BASE TABLE' ELSE table_type END AS table_type)
			FROM information_schema.tables WHERE table_schema IN %s AND NOT (table_schema = %s AND (table_name IN %s OR table_name LIKE 'information_schema_%%'))`, s, lit, visible, lit, hiddenList),
		fmt.Sprintf(`CREATE VIEW %s.information_schema_columns AS SELECT * REPLACE ('lake' AS table_catalog, 'pg_catalog' AS udt_schema, `+udtName("data_type")+` AS udt_name,
			coalesce(is_identity, 'NO') AS is_identity, coalesce(is_generated, 'NEVER') AS is_generated) FROM information_schema.columns
			WHERE table_schema IN %s AND NOT (table_schema = %s AND (table_name IN %s OR table_name LIKE 'information_schema_%%'))`, s, visible, lit, hiddenList),
		fmt.Sprintf("CREATE VIEW %s.information_schema_schemata AS SELECT * REPLACE ('lake' AS catalog_name) FROM information_schema.schemata WHERE schema_name IN %s", s, visible),
		fmt.Sprintf("CREATE VIEW %s.information_schema_views AS SELECT * FROM information_schema.views WHERE table_schema IN ('pg_catalog', 'information_schema')", s),
		fmt.Sprintf("CREATE MACRO %s.version() AS 'PostgreSQL %s (shelflake, DuckDB)'", s, ServerVersion),
		fmt.Sprintf("CREATE MACRO %s.pg_get_userbyid(id) AS 'shelflake'", s),
		fmt.Sprintf("CREATE MACRO %s.pg_encoding_to_char(id) AS 'UTF8'", s),
		fmt.Sprintf("CREATE MACRO %s.has_table_privilege(a, b) AS true, (a, b, c) AS true", s),
		fmt.Sprintf("CREATE MACRO %s.has_schema_privilege(a, b) AS true, (a, b, c) AS true", s),
		fmt.Sprintf("CREATE MACRO %s.pg_get_expr(e, r) AS NULL::VARCHAR, (e, r, p) AS NULL::VARCHAR", s),
		fmt.Sprintf("CREATE MACRO %s.pg_get_partkeydef(id) AS NULL", s),
		fmt.Sprintf("CREATE MACRO %s.pg_relation_is_publishable(id) AS false", s),
	}, more...)
}

var (
	operatorRe = regexp.MustCompile(`(?i)OPERATOR\s*\(\s*pg_catalog\s*\.\s*([^\s)]+)\s*\)`)
	collateRe  = regexp.MustCompile(`(?i)\s+COLLATE\s+pg_catalog\s*\.\s*"?default"?`)
	regclassRe = regexp.MustCompile(`(?i)'([a-z_][a-z0-9_.]*)'\s*::\s*(pg_catalog\s*\.\s*)?regclass`)
	regCastRe  = regexp.MustCompile(`(?i)::\s*(pg_catalog\s*\.\s*)?(regclass|regtype|regproc|regnamespace|oid)\b`)
	typeCastRe = regexp.MustCompile(`(?i)::\s*pg_catalog\s*\.\s*([a-z_][a-z0-9_]*)`)
	// FROM generate_series(…) s (or unnest) as the first FROM item: in
	// Postgres s also names the column.
	seriesAliasRe = regexp.MustCompile(`(?i)\bFROM\s+(?:pg_catalog\s*\.\s*)?(?:generate_series|unnest)\s*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\s+(?:AS\s+)?([a-z_][a-z0-9_]*)`)
	// x = ANY (array_column): DuckDB plans it as a correlated UNNEST, which
	// it cannot bind inside a subquery.
	anyColumnRe = regexp.MustCompile(`(?i)([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\s*=\s*any\s*\(\s*([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\s*\)`)
	// format('…%s…', …) is Postgres' format, DuckDB's printf (DuckDB's
	// format takes {}).
	formatRe = regexp.MustCompile(`(?i)\b(?:pg_catalog\s*\.\s*)?format\s*\(\s*'((?:[^']|'')*%(?:[^']|'')*)'`)
	// ::name, ::"char", ::bpchar: Postgres' catalog string types.
	nameCastRe = regexp.MustCompile(`(?i)::\s*(?:pg_catalog\s*\.\s*)?(?:name\b|"char"|bpchar\b)`)
	// json_build_object/array(…) are DuckDB's json_object/array(…).
	jsonBuildRe = regexp.MustCompile(`(?i)\b(?:pg_catalog\s*\.\s*)?json_build_(object|array)\s*\(`)
)

// prepareCatalogText rewrites Postgres syntax DuckDB does not parse, as
// clients' catalog queries use it: OPERATOR(pg_catalog.~) → ~, COLLATE
// pg_catalog.default dropped, 'name'::regclass → the relation's oid,
// ::regtype & co → ::BIGINT, x = ANY (column) → list_contains(column, x),
// ::name → ::VARCHAR, json_build_object → json_object, format('%s', …) → printf('%s', …).
func prepareCatalogText(q string) string {
	if lq := strings.ToLower(q); !strings.Contains(lq, "pg_") && !strings.Contains(lq, "::reg") && !strings.Contains(lq, "json_build") {
		return q
	}
	q = operatorRe.ReplaceAllString(q, "$1")
	q = collateRe.ReplaceAllString(q, "")
	q = regclassRe.ReplaceAllStringFunc(q, func(m string) string {
		name := regclassRe.FindStringSubmatch(m)[1]
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		return "(SELECT min(oid) FROM pg_catalog.pg_class WHERE relname = " + quoteString(name) + ")"
	})
	q = anyColumnRe.ReplaceAllString(q, "list_contains($2, $1)")
	q = jsonBuildRe.ReplaceAllString(q, "json_${1}(")
	q = formatRe.ReplaceAllStringFunc(q, func(m string) string {
		f := formatRe.FindStringSubmatch(m)[1]
		// %I of a simple name is the name; %L is the quoted literal.
		f = strings.NewReplacer("%I", "%s", "%L", "''%s''").Replace(f)
		return "printf('" + f + "'"
	})
	q = nameCastRe.ReplaceAllString(q, "::VARCHAR")
	q = regCastRe.ReplaceAllString(q, "::BIGINT")
	q = typeCastRe.ReplaceAllString(q, "::$1")
	return aliasSeries(q)
}

// notAliases are keywords that may follow a FROM item without an alias.
var notAliases = []string{"where", "join", "on", "left", "right", "inner", "full", "cross", "natural", "order", "group", "limit", "offset", "union", "except", "intersect", "having", "window", "with", "using", "lateral"}

// aliasSeries turns generate_series(…) s into generate_series(…) s(s).
func aliasSeries(q string) string {
	var b strings.Builder
	last := 0
	for _, m := range seriesAliasRe.FindAllStringSubmatchIndex(q, -1) {
		alias := q[m[2]:m[3]]
		rest := strings.TrimLeft(q[m[1]:], " \t\r\n")
		if slices.Contains(notAliases, strings.ToLower(alias)) || strings.HasPrefix(rest, "(") {
			continue
		}
		b.WriteString(q[last:m[1]])
		b.WriteString("(" + alias + ")")
		last = m[1]
	}
	b.WriteString(q[last:])
	return b.String()
}

// rewriteCatalog points references to the catalog tables the role has
// copies of at them, and calls of pg_catalog.f at f (the role's macros or
// DuckDB's own); it reports whether it changed the tree.
func rewriteCatalog(n any, role *Role) bool {
	changed := false
	switch x := n.(type) {
	case map[string]any:
		if typ, _ := x["type"].(string); typ == "BASE_TABLE" {
			schemaName, _ := x["schema_name"].(string)
			name, _ := x["table_name"].(string)
			lname := strings.ToLower(name)
			switch strings.ToLower(schemaName) {
			case "pg_catalog":
				for _, v := range catalogViews {
					if lname == v {
						x["schema_name"], x["catalog_name"], changed = role.schema(), "", true
					}
				}
			case "information_schema":
				for _, v := range infoViews {
					if lname == v {
						x["schema_name"], x["table_name"], x["catalog_name"], changed = role.schema(), "information_schema_"+v, "", true
					}
				}
			}
		}
		if class, _ := x["class"].(string); class == "FUNCTION" {
			if s, _ := x["schema"].(string); strings.EqualFold(s, "pg_catalog") {
				x["schema"], x["catalog"], changed = "", "", true
			}
		}
		for _, v := range x {
			if rewriteCatalog(v, role) {
				changed = true
			}
		}
	case []any:
		for _, v := range x {
			if rewriteCatalog(v, role) {
				changed = true
			}
		}
	}
	return changed
}

// udtName is SQL mapping a DuckDB type name (expr) to the name of the
// Postgres type pgTypeCase gives it (information_schema.columns.udt_name).
func udtName(expr string) string {
	names := []struct {
		oid  int
		name string
	}{{oidBool, "bool"}, {oidInt2, "int2"}, {oidInt4, "int4"}, {oidInt8, "int8"}, {oidNumeric, "numeric"}, {oidFloat4, "float4"},
		{oidFloat8, "float8"}, {oidDate, "date"}, {oidTime, "time"}, {oidTimestamptz, "timestamptz"}, {oidTimestamp, "timestamp"},
		{oidInterval, "interval"}, {oidBytea, "bytea"}, {oidUUID, "uuid"}, {oidVarchar, "varchar"}}
	var b strings.Builder
	b.WriteString("CASE " + strings.ReplaceAll(pgTypeCase(expr), "%", "%%"))
	for _, n := range names {
		fmt.Fprintf(&b, " WHEN %d THEN '%s'", n.oid, n.name)
	}
	b.WriteString(" END")
	return b.String()
}

// pgTypeCase is SQL mapping a DuckDB type name (expr) to the Postgres type
// oid columnOf gives it, for the catalog's atttypid; strings are varchar
// (DuckDB's pg_type has no text).
func pgTypeCase(expr string) string {
	return fmt.Sprintf(`CASE WHEN %[1]s = 'BOOLEAN' THEN %[2]d WHEN %[1]s IN ('TINYINT', 'SMALLINT', 'UTINYINT') THEN %[3]d
		WHEN %[1]s IN ('INTEGER', 'USMALLINT') THEN %[4]d WHEN %[1]s IN ('BIGINT', 'UINTEGER') THEN %[5]d
		WHEN %[1]s IN ('HUGEINT', 'UBIGINT', 'UHUGEINT') OR %[1]s LIKE 'DECIMAL%%' THEN %[6]d
		WHEN %[1]s = 'FLOAT' THEN %[7]d WHEN %[1]s = 'DOUBLE' THEN %[8]d WHEN %[1]s = 'DATE' THEN %[9]d
		WHEN %[1]s = 'TIME' THEN %[10]d WHEN %[1]s LIKE 'TIMESTAMP WITH TIME ZONE' OR %[1]s = 'TIMESTAMPTZ' THEN %[11]d
		WHEN %[1]s LIKE 'TIMESTAMP%%' THEN %[12]d WHEN %[1]s = 'INTERVAL' THEN %[13]d WHEN %[1]s = 'BLOB' THEN %[14]d
		WHEN %[1]s = 'UUID' THEN %[15]d ELSE %[16]d END`, expr,
		oidBool, oidInt2, oidInt4, oidInt8, oidNumeric, oidFloat4, oidFloat8, oidDate, oidTime, oidTimestamptz,
		oidTimestamp, oidInterval, oidBytea, oidUUID, oidVarchar)
}

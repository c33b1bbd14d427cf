package pgwire

import (
	"fmt"
	"strings"
)

// The rest of the catalog clients read when they describe a table (psql's
// \d, BI tools' schema browsers): the pg_catalog tables DuckDB has get
// copies restricted to the role's relations; those it lacks (policies,
// inheritance, triggers, publications, extended statistics, …) are empty
// tables of Postgres' columns, since lake views have none of them. pg_roles
// and pg_user list one role, the owner every relation shows
// (pg_get_userbyid).

// emptyCatalog are the catalog tables DuckDB lacks, with the columns
// clients read, created empty in every role's schema.
var emptyCatalog = []struct{ name, cols string }{
	{"pg_policy", "oid BIGINT, polname VARCHAR, polrelid BIGINT, polcmd VARCHAR, polpermissive BOOLEAN, polroles BIGINT[], polqual VARCHAR, polwithcheck VARCHAR"},
	{"pg_policies", "schemaname VARCHAR, tablename VARCHAR, policyname VARCHAR, permissive VARCHAR, roles VARCHAR[], cmd VARCHAR, qual VARCHAR, with_check VARCHAR"},
	{"pg_inherits", "inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER, inhdetachpending BOOLEAN"},
	{"pg_trigger", "oid BIGINT, tgrelid BIGINT, tgparentid BIGINT, tgname VARCHAR, tgfoid BIGINT, tgtype INTEGER, tgenabled VARCHAR, tgisinternal BOOLEAN, tgconstrrelid BIGINT, tgconstrindid BIGINT, tgconstraint BIGINT, tgdeferrable BOOLEAN, tginitdeferred BOOLEAN, tgnargs INTEGER, tgattr VARCHAR, tgargs BLOB, tgqual VARCHAR, tgoldtable VARCHAR, tgnewtable VARCHAR"},
	{"pg_publication", "oid BIGINT, pubname VARCHAR, pubowner BIGINT, puballtables BOOLEAN, pubinsert BOOLEAN, pubupdate BOOLEAN, pubdelete BOOLEAN, pubtruncate BOOLEAN, pubviaroot BOOLEAN"},
	{"pg_publication_rel", "oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, prattrs SMALLINT[]"},
	{"pg_publication_namespace", "oid BIGINT, pnpubid BIGINT, pnnspid BIGINT"},
	{"pg_statistic_ext", "oid BIGINT, stxrelid BIGINT, stxname VARCHAR, stxnamespace BIGINT, stxowner BIGINT, stxstattarget INTEGER, stxkeys VARCHAR, stxkind VARCHAR[], stxexprs VARCHAR"},
	{"pg_statistic_ext_data", "stxoid BIGINT, stxdinherit BOOLEAN, stxdndistinct VARCHAR, stxddependencies VARCHAR, stxdmcv VARCHAR, stxdexpr VARCHAR"},
	{"pg_rewrite", "oid BIGINT, rulename VARCHAR, ev_class BIGINT, ev_type VARCHAR, ev_enabled VARCHAR, is_instead BOOLEAN, ev_qual VARCHAR, ev_action VARCHAR"},
	{"pg_partitioned_table", "partrelid BIGINT, partstrat VARCHAR, partnatts INTEGER, partdefid BIGINT, partattrs VARCHAR, partclass VARCHAR, partcollation VARCHAR, partexprs VARCHAR"},
	{"pg_foreign_table", "ftrelid BIGINT, ftserver BIGINT, ftoptions VARCHAR[]"},
	{"pg_foreign_server", "oid BIGINT, srvname VARCHAR, srvowner BIGINT, srvfdw BIGINT, srvtype VARCHAR, srvversion VARCHAR, srvacl VARCHAR[], srvoptions VARCHAR[]"},
	{"pg_foreign_data_wrapper", "oid BIGINT, fdwname VARCHAR, fdwowner BIGINT, fdwhandler BIGINT, fdwvalidator BIGINT, fdwacl VARCHAR[], fdwoptions VARCHAR[]"},
	{"pg_matviews", "schemaname VARCHAR, matviewname VARCHAR, matviewowner VARCHAR, tablespace VARCHAR, hasindexes BOOLEAN, ispopulated BOOLEAN, definition VARCHAR"},
	{"pg_range", "rngtypid BIGINT, rngsubtype BIGINT, rngmultitypid BIGINT, rngcollation BIGINT, rngsubopc BIGINT, rngcanonical BIGINT, rngsubdiff BIGINT"},
	{"pg_extension", "oid BIGINT, extname VARCHAR, extowner BIGINT, extnamespace BIGINT, extrelocatable BOOLEAN, extversion VARCHAR, extconfig BIGINT[], extcondition VARCHAR[]"},
	{"pg_shdescription", "objoid BIGINT, classoid BIGINT, description VARCHAR"},
	{"pg_seclabel", "objoid BIGINT, classoid BIGINT, objsubid INTEGER, provider VARCHAR, label VARCHAR"},
	{"pg_auth_members", "oid BIGINT, roleid BIGINT, member BIGINT, grantor BIGINT, admin_option BOOLEAN"},
	{"pg_event_trigger", "oid BIGINT, evtname VARCHAR, evtevent VARCHAR, evtowner BIGINT, evtfoid BIGINT, evtenabled VARCHAR, evttags VARCHAR[]"},
	{"pg_stat_user_tables", "relid BIGINT, schemaname VARCHAR, relname VARCHAR, seq_scan BIGINT, n_live_tup BIGINT, n_dead_tup BIGINT"},
}

// pgCatalogNamespace is the oid of pg_catalog in pg_namespace (Postgres'),
// which DuckDB's pg_namespace lacks.
const pgCatalogNamespace = 11

// ownerOid is the oid pg_roles gives the one role relations are owned by
// (Postgres' bootstrap superuser's).
const ownerOid = 10

// moreCatalogSQL returns the statements creating the rest of role r's
// catalog (see catalogSQL) and the names of the tables they create.
func moreCatalogSQL(r *Role) (stmts, names []string) {
	s := quoteIdent(r.schema())
	visible := "(" + quoteString(r.schema()) + ", 'pg_catalog', 'information_schema')"
	nsOids := "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname IN " + visible + ")"
	rels := "(SELECT oid FROM " + s + ".pg_class)"
	add := func(name, sql string, args ...any) {
		names = append(names, name)
		stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s.%s AS ", s, name)+fmt.Sprintf(sql, args...))
	}
	for _, e := range emptyCatalog {
		var cols []string
		for _, c := range strings.Split(e.cols, ", ") {
			name, typ, _ := strings.Cut(c, " ")
			cols = append(cols, "NULL::"+typ+" AS "+name)
		}
		add(e.name, "SELECT %s WHERE false", strings.Join(cols, ", "))
	}
	// Copies of DuckDB's tables, restricted to what the role may see.
	add("pg_attrdef", "SELECT * FROM pg_catalog.pg_attrdef WHERE adrelid IN %s", rels)
	add("pg_constraint", "SELECT * FROM pg_catalog.pg_constraint WHERE conrelid IN %s", rels)
	add("pg_index", "SELECT *, NULL::VARCHAR AS indnullsnotdistinct FROM pg_catalog.pg_index WHERE indrelid IN %s", rels)
	add("pg_indexes", "SELECT * FROM pg_catalog.pg_indexes WHERE schemaname IN %s", visible)
	add("pg_description", "SELECT * FROM pg_catalog.pg_description WHERE objoid IN %s", rels)
	add("pg_depend", "SELECT * FROM pg_catalog.pg_depend WHERE false")
	add("pg_sequence", "SELECT * FROM pg_catalog.pg_sequence WHERE false")
	add("pg_sequences", "SELECT * FROM pg_catalog.pg_sequences WHERE false")
	add("pg_proc", "SELECT * FROM pg_catalog.pg_proc WHERE pronamespace IN %s", nsOids)
	// DuckDB's types live in its system schema main: pg_catalog here, as
	// in Postgres (Npgsql loads the types of pg_namespace's schemas); text
	// (the oid of strings DuckDB does not type) joins them.
	pgCatalogOid := fmt.Sprint(pgCatalogNamespace)
	add("pg_type", `SELECT * REPLACE (coalesce(typtypmod, -1)::INTEGER AS typtypmod, coalesce(typbasetype, 0)::BIGINT AS typbasetype,
			coalesce(typndims, 0)::INTEGER AS typndims, coalesce(typnotnull, false) AS typnotnull, CASE WHEN typnamespace IN (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'main') THEN %[3]s ELSE typnamespace END AS typnamespace)
		FROM pg_catalog.pg_type WHERE oid IS NOT NULL AND (typrelid = 0 OR typrelid IS NULL OR typrelid IN %[1]s)
		UNION ALL BY NAME SELECT %[2]d::BIGINT AS oid, 'text' AS typname, %[3]s AS typnamespace, -1::SMALLINT AS typlen, false AS typbyval, 'b' AS typtype,
			'S' AS typcategory, true AS typisdefined, 0::BIGINT AS typrelid, 0::BIGINT AS typelem, -1::INTEGER AS typtypmod, 0::BIGINT AS typbasetype, 0::INTEGER AS typndims, false AS typnotnull
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid = %[2]d)`, rels, oidText, pgCatalogOid)
	add("pg_roles", `SELECT %d::BIGINT AS oid, 'shelflake' AS rolname, false AS rolsuper, true AS rolinherit, false AS rolcreaterole,
		false AS rolcreatedb, true AS rolcanlogin, false AS rolreplication, -1 AS rolconnlimit, '********' AS rolpassword,
		NULL::TIMESTAMPTZ AS rolvaliduntil, false AS rolbypassrls, NULL::VARCHAR[] AS rolconfig`, ownerOid)
	add("pg_user", `SELECT 'shelflake' AS usename, %d::BIGINT AS usesysid, false AS usecreatedb, false AS usesuper, false AS userepl,
		false AS usebypassrls, '********' AS passwd, NULL::TIMESTAMPTZ AS valuntil, NULL::VARCHAR[] AS useconfig`, ownerOid)
	// Functions describing objects the role's relations do not have, and
	// format_type of the Postgres oids pg_attribute gives (DuckDB's
	// names its own types).
	for _, m := range []string{
		fmt.Sprintf(`format_type(id, typmod) AS CASE id WHEN %d THEN 'boolean' WHEN %d THEN 'smallint' WHEN %d THEN 'integer'
			WHEN %d THEN 'bigint' WHEN %d THEN CASE WHEN typmod >= 4 THEN 'numeric(' || ((typmod - 4) // 65536) || ',' || ((typmod - 4) %% 65536) || ')' ELSE 'numeric' END
			WHEN %d THEN 'real' WHEN %d THEN 'double precision' WHEN %d THEN 'date' WHEN %d THEN 'time without time zone'
			WHEN %d THEN 'timestamp with time zone' WHEN %d THEN 'timestamp without time zone' WHEN %d THEN 'interval'
			WHEN %d THEN 'bytea' WHEN %d THEN 'uuid' WHEN %d THEN 'character varying' WHEN %d THEN 'text'
			ELSE (SELECT min(typname) FROM pg_catalog.pg_type WHERE oid = id) END`,
			oidBool, oidInt2, oidInt4, oidInt8, oidNumeric, oidFloat4, oidFloat8, oidDate, oidTime, oidTimestamptz,
			oidTimestamp, oidInterval, oidBytea, oidUUID, oidVarchar, oidText),
		"pg_get_statisticsobjdef_columns(id) AS NULL::VARCHAR",
		"pg_get_indexdef(id) AS NULL::VARCHAR, (id, col, pretty) AS NULL::VARCHAR",
		"pg_get_triggerdef(id) AS NULL::VARCHAR, (id, pretty) AS NULL::VARCHAR",
		"pg_get_ruledef(id) AS NULL::VARCHAR, (id, pretty) AS NULL::VARCHAR",
		"obj_description(id) AS NULL::VARCHAR, (id, cat) AS NULL::VARCHAR",
		"col_description(id, col) AS NULL::VARCHAR",
		"shobj_description(id, cat) AS NULL::VARCHAR",
		"pg_table_size(id) AS NULL::BIGINT",
		"pg_relation_size(id) AS NULL::BIGINT, (id, fork) AS NULL::BIGINT",
		"pg_total_relation_size(id) AS NULL::BIGINT",
		"pg_get_serial_sequence(t, c) AS NULL::VARCHAR",
		"pg_get_function_result(id) AS NULL::VARCHAR",
		"pg_get_function_arguments(id) AS NULL::VARCHAR",
		"pg_get_function_identity_arguments(id) AS NULL::VARCHAR",
		"array_upper(a, d) AS len(a)",
		"array_lower(a, d) AS CASE WHEN len(a) > 0 THEN 1 END",
		"pg_stat_get_numscans(id) AS 0::BIGINT",
		"pg_is_in_recovery() AS false",
		"pg_backend_pid() AS 0",
		"pg_postmaster_start_time() AS NULL::TIMESTAMPTZ",
		"pg_tablespace_location(id) AS NULL::VARCHAR",
	} {
		stmts = append(stmts, fmt.Sprintf("CREATE MACRO %s.%s", s, m))
	}
	return stmts, names
}

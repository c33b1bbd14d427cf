package pgwire

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Connect-time and schema-browsing statements of BI tools that cannot run
// here, sent as the tools send them. Each must run and answer with the
// role's tables and columns only.

// npgsqlTypesBatch is what Npgsql (the driver Power BI uses for
// PostgreSQL) sends in one simple Query on its first connection to load
// the server's types: src/Npgsql/PostgresDatabaseInfo.cs
// (LoadBackendTypes: version, GenerateLoadTypesQuery with ranges and
// multiranges, GenerateLoadCompositeTypesQuery, GenerateLoadEnumFieldsQuery
// with enumsortorder), npgsql/npgsql.
const npgsqlTypesBatch = `SELECT version();

SELECT ns.nspname, t.oid, t.typname, t.typtype, t.typnotnull, t.elemtypoid
FROM (
    -- Arrays have typtype=b - this subquery identifies them by their typreceive and converts their typtype to a
    -- We first do this for the type (innerest-most subquery), and then for its element type
    -- This also returns the array element, range subtype and domain base type as elemtypoid
    SELECT
        typ.oid, typ.typnamespace, typ.typname, typ.typtype, typ.typrelid, typ.typnotnull, typ.relkind,
        elemtyp.oid AS elemtypoid, elemtyp.typname AS elemtypname, elemcls.relkind AS elemrelkind,
        CASE WHEN elemproc.proname='array_recv' THEN 'a' ELSE elemtyp.typtype END AS elemtyptype
    FROM (
        SELECT typ.oid, typnamespace, typname, typrelid, typnotnull, relkind, typelem AS elemoid,
            CASE WHEN proc.proname='array_recv' THEN 'a' ELSE typ.typtype END AS typtype,
            CASE
                WHEN proc.proname='array_recv' THEN typ.typelem
                WHEN typ.typtype='r' THEN rngsubtype
                WHEN typ.typtype='m' THEN (SELECT rngtypid FROM pg_range WHERE rngmultitypid = typ.oid)
                WHEN typ.typtype='d' THEN typ.typbasetype
            END AS elemtypoid
        FROM pg_type AS typ
        LEFT JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
        LEFT JOIN pg_proc AS proc ON proc.oid = typ.typreceive
        LEFT JOIN pg_range ON (pg_range.rngtypid = typ.oid)
    ) AS typ
    LEFT JOIN pg_type AS elemtyp ON elemtyp.oid = elemtypoid
    LEFT JOIN pg_class AS elemcls ON (elemcls.oid = elemtyp.typrelid)
    LEFT JOIN pg_proc AS elemproc ON elemproc.oid = elemtyp.typreceive
) AS t
JOIN pg_namespace AS ns ON (ns.oid = typnamespace)
WHERE
    typtype IN ('b', 'r', 'm', 'e', 'd') OR -- Base, range, multirange, enum, domain
    (typtype = 'c' AND relkind='c') OR -- User-defined free-standing composites (not table composites) by default
    (typtype = 'p' AND typname IN ('record', 'void')) OR -- Some special supported pseudo-types
    (typtype = 'a' AND (  -- Array of...
        elemtyptype IN ('b', 'r', 'm', 'e', 'd') OR -- Array of base, range, multirange, enum, domain
        (elemtyptype = 'p' AND elemtypname IN ('record', 'void')) OR -- Arrays of special supported pseudo-types
        (elemtyptype = 'c' AND elemrelkind='c') -- Array of user-defined free-standing composites (not table composites) by default
    ))
ORDER BY CASE
       WHEN typtype IN ('b', 'e', 'p') THEN 0           -- First base types, enums, pseudo-types
       WHEN typtype = 'r' THEN 1                        -- Ranges after
       WHEN typtype = 'm' THEN 2                        -- Multiranges after
       WHEN typtype = 'c' THEN 3                        -- Composites after
       WHEN typtype = 'd' AND elemtyptype <> 'a' THEN 4 -- Domains over non-arrays after
       WHEN typtype = 'a' THEN 5                        -- Arrays after
       WHEN typtype = 'd' AND elemtyptype = 'a' THEN 6  -- Domains over arrays last
END;

-- Load field definitions for (free-standing) composite types
SELECT typ.oid, att.attname, att.atttypid
FROM pg_type AS typ
JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
WHERE
  (typ.typtype = 'c' AND cls.relkind='c') AND
  attnum > 0 AND     -- Don't load system attributes
  NOT attisdropped
ORDER BY typ.oid, att.attnum;

-- Load enum fields
SELECT pg_type.oid, enumlabel
FROM pg_enum
JOIN pg_type ON pg_type.oid=enumtypid
ORDER BY oid, enumsortorder;
`

// TestNpgsqlTypeLoading runs Npgsql's type-loading batch: four results,
// the version first, then base types including those the lake's columns
// have (Npgsql cannot read a column whose type it did not load).
func TestNpgsqlTypeLoading(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "ana")
	results, err := c.PgConn().Exec(t.Context(), npgsqlTypesBatch).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 4 {
		t.Fatalf("%d results, want 4", len(results))
	}
	if v := string(results[0].Rows[0][0]); !strings.HasPrefix(v, "PostgreSQL 16") {
		t.Errorf("version %q", v)
	}
	types := map[string]string{} // typname → oid
	for _, r := range results[1].Rows {
		// Npgsql reads every column but elemtypoid as non-null.
		if len(r) != 6 || len(r[1]) == 0 || r[1][0] == '0' || r[0] == nil || r[2] == nil || len(r[3]) != 1 || len(r[4]) != 1 {
			t.Fatalf("type row %q: want 6 columns, an oid and non-null names, typtype and typnotnull", r)
		}
		types[string(r[2])] = string(r[1])
	}
	for name, oid := range map[string]string{"numeric": "1700", "date": "1082", "timestamptz": "1184", "varchar": "1043", "int8": "20", "int4": "23", "bool": "16", "float8": "701"} {
		if types[name] != oid {
			t.Errorf("type %s: oid %q, want %s (types: %v)", name, types[name], oid, types)
		}
	}
}

// Metabase's PostgreSQL driver (src/metabase/driver/postgres.clj,
// metabase/metabase): get-tables-sql as HoneySQL renders it for sync
// (describe-database, with the schemas to sync as a parameter),
// describe-fields-sql (information_schema.columns with udt_name, primary
// keys from table_constraints, col_description of format('%I.%I')::regclass,
// materialized views' columns from pg_attribute), the enum types query, and
// db-default-timezone.
const (
	metabaseFields   = `SELECT "c"."column_name" AS "name", CASE WHEN "c"."udt_schema" IN ('public', 'pg_catalog') THEN FORMAT('%s', "c"."udt_name") ELSE FORMAT('"%s"."%s"', "c"."udt_schema", "c"."udt_name") END AS "database-type", "c"."ordinal_position" - 1 AS "database-position", "c"."table_schema" AS "table-schema", "c"."table_name" AS "table-name", "pk"."column_name" IS NOT NULL AS "pk?", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST("c"."table_schema" AS TEXT), CAST("c"."table_name" AS TEXT)) AS REGCLASS) AS OID), "c"."ordinal_position") AS "field-comment", (("column_default" IS NULL) OR (LOWER("column_default") = 'null')) AND ("is_nullable" = 'NO') AND NOT ((("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO')) AS "database-required", (("column_default" IS NOT NULL) AND ("column_default" LIKE '%nextval(%')) OR ("is_identity" <> 'NO') AS "database-is-auto-increment" FROM "information_schema"."columns" AS "c" LEFT JOIN (SELECT "tc"."table_schema", "tc"."table_name", "kc"."column_name" FROM "information_schema"."table_constraints" AS "tc" INNER JOIN "information_schema"."key_column_usage" AS "kc" ON ("tc"."constraint_name" = "kc"."constraint_name") AND ("tc"."table_schema" = "kc"."table_schema") AND ("tc"."table_name" = "kc"."table_name") WHERE "tc"."constraint_type" = 'PRIMARY KEY') AS "pk" ON ("c"."table_schema" = "pk"."table_schema") AND ("c"."table_name" = "pk"."table_name") AND ("c"."column_name" = "pk"."column_name") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND ("c"."table_schema" IN ($1)) UNION ALL SELECT "pa"."attname" AS "name", CASE WHEN "ptn"."nspname" IN ('public', 'pg_catalog') THEN FORMAT('%s', "pt"."typname") ELSE FORMAT('"%s"."%s"', "ptn"."nspname", "pt"."typname") END AS "database-type", "pa"."attnum" - 1 AS "database-position", "pn"."nspname" AS "table-schema", "pc"."relname" AS "table-name", FALSE AS "pk?", NULL AS "field-comment", FALSE AS "database-required", FALSE AS "database-is-auto-increment" FROM "pg_catalog"."pg_class" AS "pc" INNER JOIN "pg_catalog"."pg_namespace" AS "pn" ON "pn"."oid" = "pc"."relnamespace" INNER JOIN "pg_catalog"."pg_attribute" AS "pa" ON "pa"."attrelid" = "pc"."oid" INNER JOIN "pg_catalog"."pg_type" AS "pt" ON "pt"."oid" = "pa"."atttypid" INNER JOIN "pg_catalog"."pg_namespace" AS "ptn" ON "ptn"."oid" = "pt"."typnamespace" WHERE ("pc"."relkind" = 'm') AND ("pa"."attnum" >= 1) AND ("pn"."nspname" IN ($1)) ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC`
	metabaseTables   = `SELECT n.nspname AS schema, c.relname AS name, CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS type, d.description AS description, stat.n_live_tup AS estimated_row_count FROM pg_catalog.pg_class AS c INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid LEFT JOIN pg_catalog.pg_description AS d ON (c.oid = d.objoid) AND (d.objsubid = 0) AND (d.classoid = 'pg_class'::regclass) LEFT JOIN pg_stat_user_tables AS stat ON (n.nspname = stat.schemaname) AND (c.relname = stat.relname) WHERE (c.relnamespace = n.oid) AND (n.nspname !~ '^pg_') AND (n.nspname <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND (n.nspname IN ($1)) ORDER BY type ASC, schema ASC, name ASC`
	metabaseEnums    = `SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)`
	metabaseTimezone = `show timezone;`
)

func TestMetabaseSync(t *testing.T) {
	ts := startServer(t)
	for _, tc := range []struct {
		user, schema string
		tables       string
		fields       map[string]string // table.column → database-type
	}{
		{"ana", "role_analyst", "role_analyst._commits:TABLE,role_analyst._tables:TABLE,role_analyst.item_locations:TABLE,role_analyst.pos_lines:TABLE",
			map[string]string{"pos_lines.unit_price": "numeric", "pos_lines.business_date": "date", "pos_lines.event_time": "timestamptz", "pos_lines.quantity": "int8", "pos_lines.sku": "varchar", "item_locations.sku": "varchar"}},
		{"bob", "role_buyer", "role_buyer._commits:TABLE,role_buyer._tables:TABLE,role_buyer.item_locations:TABLE", map[string]string{"item_locations.sku": "varchar"}},
		{"bob", "role_analyst", "", nil},
	} {
		t.Run(tc.user+" "+tc.schema, func(t *testing.T) {
			c := ts.connect(t, tc.user)
			rows, err := c.Query(t.Context(), metabaseTables, tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				v, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, v[0].(string)+"."+v[1].(string)+":"+v[2].(string))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tc.tables {
				t.Errorf("tables %v, want %s", got, tc.tables)
			}
			rows, err = c.Query(t.Context(), metabaseFields, tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			fields := map[string]string{}
			for rows.Next() {
				v, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				fields[v[4].(string)+"."+v[0].(string)] = v[1].(string)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			for col, typ := range tc.fields {
				if fields[col] != typ {
					t.Errorf("field %s: type %q, want %q", col, fields[col], typ)
				}
			}
			for col := range fields {
				if strings.HasSuffix(col, ".customer_id") && tc.user != "admin" || tc.tables == "" {
					t.Errorf("field %s listed for %s", col, tc.user)
				}
			}
			for _, q := range []string{metabaseEnums, metabaseTimezone} {
				rows, err := c.Query(t.Context(), q, pgx.QueryExecModeDescribeExec)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		})
	}
}

// DBeaver's PostgreSQL plugin (plugins/org.jkiss.dbeaver.ext.postgresql,
// dbeaver/dbeaver: PostgreDataSource, PostgreSchema, PostgreTableBase,
// PostgreTableReal) browsing a schema and a table: $1 is the schema's oid
// (namespace queries) or the table's (table queries), as DBeaver binds
// them.
var dbeaverSchema = []string{
	`SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname`,
	`SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=current_database()`,
	`SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a left join pg_catalog.pg_shdescription pd on a.oid = pd.objoid ORDER BY a.rolname`,
	`SELECT t.oid,t.*,pg_tablespace_location(t.oid) loc FROM pg_catalog.pg_tablespace t ORDER BY t.oid`,
	`SHOW TRANSACTION ISOLATION LEVEL`,
	`SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=$1 AND c.relkind not in ('i','I','c')`,
	`select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size FROM pg_class c WHERE c.relnamespace=$1`,
}

var dbeaverTable = []string{
	`SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description FROM pg_catalog.pg_attribute a INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid) LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum) LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid) WHERE NOT a.attisdropped AND c.oid=$1 ORDER BY a.attnum`,
	`SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy FROM pg_catalog.pg_constraint c INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass WHERE c.conrelid=$1 ORDER BY c.oid`,
	`SELECT i.*,c.relnamespace FROM pg_catalog.pg_inherits i,pg_catalog.pg_class c WHERE i.inhrelid=$1 AND c.oid=i.inhparent ORDER BY i.inhseqno`,
	`SELECT DISTINCT connamespace FROM pg_catalog.pg_constraint WHERE confrelid=$1`,
	`SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid WHERE i.indrelid=$1 ORDER BY c.relname`,
	`SELECT x.oid,x.*,p.pronamespace as func_schema_id,d.description FROM pg_catalog.pg_trigger x LEFT OUTER JOIN pg_catalog.pg_proc p ON p.oid=x.tgfoid LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=x.oid AND d.objsubid=0 WHERE x.tgrelid = $1 AND NOT x.tgisinternal`,
	`SELECT r.oid,r.*, pg_get_ruledef(r.oid) AS definition FROM pg_rewrite r WHERE r.ev_class=$1 AND r.rulename <> '_RETURN'::name`,
	`SELECT pg_catalog.pg_total_relation_size($1) as total_rel_size,pg_catalog.pg_relation_size($1) as rel_size`,
	`select * from pg_catalog.pg_policies where schemaname=current_schema() and tablename='pos_lines'`,
}

func TestDBeaverBrowse(t *testing.T) {
	ts := startServer(t)
	c := ts.connect(t, "ana")
	var nsOid, tableOid int64
	if err := c.QueryRow(t.Context(), "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = current_schema()").Scan(&nsOid); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(t.Context(), "SELECT 'pos_lines'::regclass::oid").Scan(&tableOid); err != nil {
		t.Fatal(err)
	}
	// pgjdbc binds setLong as int8 (oid 20) in the Parse.
	run := func(q string, arg int64) [][][]byte {
		t.Helper()
		var args [][]byte
		var oids []uint32
		if strings.Contains(q, "$1") {
			args, oids = [][]byte{[]byte(strconv.FormatInt(arg, 10))}, []uint32{20}
		}
		res := c.PgConn().ExecParams(t.Context(), q, args, oids, nil, nil).Read()
		if res.Err != nil {
			t.Fatalf("%s: %v", q, res.Err)
		}
		return res.Rows
	}
	for _, q := range dbeaverSchema {
		rows := run(q, nsOid)
		if strings.Contains(q, "c.*,d.description") {
			var names []string
			for _, r := range rows {
				names = append(names, string(r[2])) // oid, then pg_class.oid, relname
			}
			slices.Sort(names)
			if strings.Join(names, ",") != "_commits,_tables,item_locations,pos_lines" {
				t.Errorf("relations of the schema: %v", names)
			}
			for _, n := range names {
				if strings.HasPrefix(n, "pg_") || strings.HasPrefix(n, "information_schema") {
					t.Errorf("catalog table %s listed as the role's", n)
				}
			}
		}
	}
	for _, q := range dbeaverTable {
		rows := run(q, tableOid)
		if strings.Contains(q, "a.*") {
			if len(rows) != 21 { // pos_lines without customer_id
				t.Errorf("%d columns of pos_lines, want 21", len(rows))
			}
			for _, r := range rows {
				if string(r[2]) == "customer_id" {
					t.Error("customer_id listed")
				}
			}
		}
	}
}

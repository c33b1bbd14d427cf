package pgwire

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/shelflake/shelflake/queries"
)

// stmtKind is how the server runs a statement.
type stmtKind int

const (
	kindEmpty     stmtKind = iota // only whitespace and comments
	kindQuery                     // a query DuckDB runs after the guard allowed it
	kindSet                       // SET name = value / SET name TO value / RESET
	kindShow                      // SHOW name
	kindBegin                     // BEGIN / START TRANSACTION
	kindCommit                    // COMMIT / END
	kindRollback                  // ROLLBACK / ABORT
	kindDiscard                   // DISCARD ALL, DEALLOCATE, CLOSE
	kindCopy                      // COPY … TO STDOUT
	kindDeclare                   // DECLARE name CURSOR … FOR query
	kindFetch                     // FETCH [n] FROM name
	kindClose                     // CLOSE name | ALL
	kindSavepoint                 // SAVEPOINT, RELEASE, ROLLBACK TO
)

// classify says what kind of statement stmt is, by its first keywords.
func classify(stmt string) (stmtKind, []string) {
	words := keywords(stmt, 4)
	if len(words) == 0 {
		return kindEmpty, nil
	}
	if isSavepoint(words) {
		return kindSavepoint, words
	}
	switch words[0] {
	case "SELECT", "WITH", "VALUES", "FROM", "TABLE", "(":
		return kindQuery, words
	case "SET", "RESET":
		return kindSet, words
	case "SHOW":
		return kindShow, words
	case "BEGIN", "START":
		return kindBegin, words
	case "COMMIT", "END":
		return kindCommit, words
	case "ROLLBACK", "ABORT":
		return kindRollback, words
	case "DISCARD", "DEALLOCATE", "UNLISTEN":
		return kindDiscard, words
	case "COPY":
		return kindCopy, words
	case "DECLARE":
		return kindDeclare, words
	case "FETCH":
		return kindFetch, words
	case "CLOSE":
		return kindClose, words
	}
	// Everything else goes to the guard, which refuses what is not a query
	// (or reports DuckDB's syntax error).
	return kindQuery, words
}

// keywords returns up to n leading words of stmt, upper-cased, after
// comments.
func keywords(stmt string, n int) []string {
	s := stripComments(stmt)
	var out []string
	for len(out) < n {
		s = strings.TrimLeft(s, " \t\r\n;")
		if s == "" {
			break
		}
		if s[0] == '(' {
			out = append(out, "(")
			s = s[1:]
			continue
		}
		end := strings.IndexFunc(s, func(r rune) bool {
			return !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		})
		if end == 0 {
			break
		}
		if end < 0 {
			end = len(s)
		}
		out = append(out, strings.ToUpper(s[:end]))
		s = s[end:]
	}
	return out
}

// stripComments removes leading -- and /* */ comments.
func stripComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			return s
		}
	}
}

// splitStatements splits a simple-query string into statements.
func splitStatements(q string) []string {
	var out []string
	for _, s := range queries.ScriptStatements(q) {
		s = strings.TrimSpace(s)
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// refusal is an error the server refuses a statement with: a SQLSTATE and
// a message.
type refusal struct {
	code string
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func refuse(code, format string, args ...any) *refusal {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

// SQLSTATE codes the server answers with.
const (
	codeReadOnly        = "25006" // read_only_sql_transaction
	codeInsufficientPri = "42501" // insufficient_privilege
	codeSyntax          = "42601" // syntax_error
	codeFeature         = "0A000" // feature_not_supported
	codeUndefinedObject = "42704" // undefined_object
	codeInvalidParam    = "22023" // invalid_parameter_value
	codeInFailedTx      = "25P02" // in_failed_sql_transaction
	codeAuthFailed      = "28P01" // invalid_password
	codeInvalidAuth     = "28000" // invalid_authorization_specification
	codeProtocol        = "08P01" // protocol_violation
	codeCanceled        = "57014" // query_canceled
	codeInternal        = "XX000"
	codeTooMany         = "53300" // too_many_connections
)

// catalogSchemas are the schemas whose tables every role may read: the
// catalog clients query (DuckDB's own pg_catalog and information_schema).
var catalogSchemas = []string{"pg_catalog", "information_schema"}

// allowedTableFunctions are the table functions a query may call: none
// reads a file, the catalog outside the role's schema, or a setting.
var allowedTableFunctions = []string{"generate_series", "range", "unnest", "generate_subscripts"}

// deniedFunctions are scalar functions a query may not call: they read the
// environment, the server's settings or files.
var deniedFunctions = []string{"getenv", "current_setting", "read_text", "read_blob", "query", "query_table", "sql_auto_complete"}

// deniedCatalogTables are catalog tables that show the server's settings
// (paths, limits) rather than the role's objects.
var deniedCatalogTables = []string{"pg_settings", "pg_prepared_statements"}

// guard checks that a query only reads what the role may read: DuckDB
// parses it (json_serialize_sql accepts SELECT statements only: anything
// else is refused), then every table it names must be one of the role's
// views (unqualified or in the role's schema), a CTE of the query, or a
// catalog table; every table function must be on allowedTableFunctions;
// no scalar function may be on deniedFunctions.
type guard struct {
	role *Role
	// others are every name in the database that is not the role's: the
	// lake's full views and the other roles' schemas.
	others map[string]bool
}

// check parses stmt on conn (any connection of the database) and returns
// the SQL to run (the statement, with the catalog rewrites of catalog.go),
// or a *refusal for a statement the role may not run.
func (g *guard) check(ctx context.Context, conn *sql.Conn, stmt string) (string, error) {
	stmt = prepareCatalogText(stmt)
	var out string
	if err := conn.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql($1::VARCHAR) AS VARCHAR)", stmt).Scan(&out); err != nil {
		return "", fmt.Errorf("parse: %w", err)
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber() // query_location is a uint64: keep it exact for json_deserialize_sql
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("parse tree: %w", err)
	}
	if failed, _ := doc["error"].(bool); failed {
		if typ, _ := doc["error_type"].(string); typ == "not implemented" {
			return "", refuse(codeReadOnly, "shelflake serve is read-only: only queries (SELECT, WITH, VALUES) run here")
		}
		msg, _ := doc["error_message"].(string)
		return "", refuse(codeSyntax, "%s", msg)
	}
	stmts, _ := doc["statements"].([]any)
	if len(stmts) != 1 {
		return "", refuse(codeSyntax, "want one statement, got %d", len(stmts))
	}
	tree := stmts[0]
	ctes := map[string]bool{}
	collectCTEs(tree, ctes)
	for name := range ctes {
		if g.others[strings.ToLower(name)] {
			return "", refuse(codeInsufficientPri, "a CTE may not be called %q: that name is a table role %s may not read", name, g.role.Name)
		}
	}
	if err := g.walk(tree, ctes); err != nil {
		return "", err
	}
	if !rewriteCatalog(tree, g.role) {
		return stmt, nil
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("catalog rewrite: %w", err)
	}
	var q string
	if err := conn.QueryRowContext(ctx, "SELECT json_deserialize_sql($1::JSON)", string(b)).Scan(&q); err != nil {
		return "", fmt.Errorf("catalog rewrite: %w", err)
	}
	return q, nil
}

// collectCTEs adds the names of every CTE in the tree.
func collectCTEs(n any, out map[string]bool) {
	switch x := n.(type) {
	case map[string]any:
		if m, ok := x["cte_map"].(map[string]any); ok {
			if entries, ok := m["map"].([]any); ok {
				for _, e := range entries {
					if em, ok := e.(map[string]any); ok {
						if k, ok := em["key"].(string); ok {
							out[strings.ToLower(k)] = true
						}
					}
				}
			}
		}
		for _, v := range x {
			collectCTEs(v, out)
		}
	case []any:
		for _, v := range x {
			collectCTEs(v, out)
		}
	}
}

func (g *guard) walk(n any, ctes map[string]bool) error {
	switch x := n.(type) {
	case map[string]any:
		typ, _ := x["type"].(string)
		switch typ {
		case "BASE_TABLE":
			if err := g.table(x, ctes); err != nil {
				return err
			}
		case "TABLE_FUNCTION":
			if f, ok := x["function"].(map[string]any); ok {
				name, _ := f["function_name"].(string)
				if !slices.Contains(allowedTableFunctions, strings.ToLower(name)) {
					return refuse(codeInsufficientPri, "table function %s is not allowed here (allowed: %s)", name, strings.Join(allowedTableFunctions, ", "))
				}
			}
		case "SHOW_REF":
			return refuse(codeInsufficientPri, "SHOW/DESCRIBE of tables is not allowed here: use information_schema.columns")
		}
		if class, _ := x["class"].(string); class == "FUNCTION" {
			name, _ := x["function_name"].(string)
			name = strings.ToLower(name)
			if slices.Contains(deniedFunctions, name) || strings.HasPrefix(name, "duckdb_") {
				return refuse(codeInsufficientPri, "function %s is not allowed here", name)
			}
			// DuckDB's built-in functions live in schema main of its system
			// catalog (the parser writes ROW(…) as main.row); no role can
			// create functions, so main only names built-ins.
			if s, _ := x["schema"].(string); s != "" && !strings.EqualFold(s, "main") && !slices.Contains(catalogSchemas, strings.ToLower(s)) {
				return refuse(codeInsufficientPri, "function %s.%s is not allowed here", s, name)
			}
		}
		for _, v := range x {
			if err := g.walk(v, ctes); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range x {
			if err := g.walk(v, ctes); err != nil {
				return err
			}
		}
	}
	return nil
}

// table checks one table reference.
func (g *guard) table(x map[string]any, ctes map[string]bool) error {
	catalog, _ := x["catalog_name"].(string)
	schemaName, _ := x["schema_name"].(string)
	name, _ := x["table_name"].(string)
	lname := strings.ToLower(name)
	lschema := strings.ToLower(schemaName)
	full := name
	if schemaName != "" {
		full = schemaName + "." + name
	}
	if catalog != "" && !(strings.EqualFold(catalog, "memory") || strings.EqualFold(catalog, "system") && slices.Contains(catalogSchemas, lschema)) {
		return refuse(codeInsufficientPri, "table %s.%s: role %s reads only its own tables", catalog, full, g.role.Name)
	}
	switch {
	case slices.Contains(catalogSchemas, lschema) || schemaName == "" && isCatalogTable(lname):
		if strings.HasPrefix(lname, "duckdb_") || slices.Contains(deniedCatalogTables, lname) {
			return refuse(codeInsufficientPri, "table %s is not allowed here", full)
		}
		return nil
	case lschema == strings.ToLower(g.role.schema()) && (slices.Contains(catalogViews, lname) || strings.HasPrefix(lname, "information_schema_")):
		return nil
	case schemaName != "" && lschema != strings.ToLower(g.role.schema()):
		return refuse(codeInsufficientPri, "permission denied for table %s: role %s reads only its own tables", full, g.role.Name)
	}
	if g.role.hasTable(lname) || ctes[lname] && schemaName == "" {
		return nil
	}
	if g.others[lname] {
		return refuse(codeInsufficientPri, "permission denied for table %s (role %s)", name, g.role.Name)
	}
	if !validIdent(name) {
		// File paths ('data.parquet') are replacement scans in DuckDB.
		return refuse(codeInsufficientPri, "table %q: only table names are allowed here, not files", name)
	}
	return refuse(codeUndefinedTable, "relation %q does not exist", name)
}

const codeUndefinedTable = "42P01"

// isCatalogTable reports names clients use unqualified (pg_class, …).
func isCatalogTable(name string) bool {
	return strings.HasPrefix(name, "pg_")
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

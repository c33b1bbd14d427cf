package queries

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
)

// Column is one column of a lake table, as its Delta log declares it.
type Column struct {
	Name string
	// Type is the DuckDB type the view gives the column (VARCHAR,
	// DECIMAL(18,4), TIMESTAMPTZ, …).
	Type     string
	Nullable bool
	// Partition is true for a partition column (dt): its value comes from
	// the file's partition values, not from the Parquet file.
	Partition bool
}

// duckTypes maps Delta primitive types to DuckDB types.
var duckTypes = map[string]string{
	"string":        "VARCHAR",
	"long":          "BIGINT",
	"integer":       "INTEGER",
	"short":         "SMALLINT",
	"byte":          "TINYINT",
	"double":        "DOUBLE",
	"float":         "FLOAT",
	"boolean":       "BOOLEAN",
	"binary":        "BLOB",
	"date":          "DATE",
	"timestamp":     "TIMESTAMPTZ",
	"timestamp_ntz": "TIMESTAMP",
}

var deltaDecimal = regexp.MustCompile(`^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// columnsOf returns a table's columns from its Delta metadata: the
// schemaString's fields in order, partition columns marked. Nested types
// (struct, array, map) are refused: no shelflake table has them.
func columnsOf(md delta.Metadata) ([]Column, error) {
	var st struct {
		Type   string `json:"type"`
		Fields []struct {
			Name     string          `json:"name"`
			Type     json.RawMessage `json:"type"`
			Nullable bool            `json:"nullable"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(md.SchemaString), &st); err != nil {
		return nil, fmt.Errorf("schemaString: %w", err)
	}
	if st.Type != "struct" {
		return nil, fmt.Errorf("schemaString: type %q, want struct", st.Type)
	}
	cols := make([]Column, 0, len(st.Fields))
	for _, f := range st.Fields {
		var typ string
		if err := json.Unmarshal(f.Type, &typ); err != nil {
			return nil, fmt.Errorf("column %s: nested type %s is not supported", f.Name, f.Type)
		}
		dt, ok := duckTypes[typ]
		if m := deltaDecimal.FindStringSubmatch(typ); m != nil {
			dt, ok = "DECIMAL("+m[1]+","+m[2]+")", true
		}
		if !ok {
			return nil, fmt.Errorf("column %s: Delta type %q is not supported", f.Name, typ)
		}
		cols = append(cols, Column{Name: f.Name, Type: dt, Nullable: f.Nullable, Partition: slices.Contains(md.PartitionColumns, f.Name)})
	}
	for _, p := range md.PartitionColumns {
		if !slices.ContainsFunc(cols, func(c Column) bool { return c.Name == p }) {
			return nil, fmt.Errorf("partition column %s is not in the schema", p)
		}
	}
	return cols, nil
}

// scanSQL returns a SELECT over files yielding cols in order, and the
// paths DuckDB reads (for naming a view in errors). With no files it selects
// no rows of the right types, so a view over an empty table still has its
// columns.
//
// The data columns come from the Parquet files, the partition columns
// (dt) from each file's partition values, which the files do not hold. One
// read_parquet reads every file through links made in linkDir under
// hive-style names (linkDir/dt=2026-03-01/0-part-….parquet): DuckDB takes
// the partition values from the names, typed by hive_types, and prunes
// files on filters of them before opening any. A local lake's files have
// such names already and are read in place; the cached copies of a remote
// lake are not named so, and get links. (lake.DuckDBScan's UNION ALL of
// one read_parquet per dt gives the same rows, but planning a thousand
// branches takes DuckDB about a second per query; one scan takes a tenth
// of that.) Partition values that cannot be a path segment (null, or
// holding / or =) fall back to a UNION ALL per value.
//
// The view follows the schema in the Delta log (the catalog), so tables
// whose Go definition this build does not know read as well.
func scanSQL(cols []Column, files []lake.LocalFile, linkDir string) (string, []string, error) {
	if len(files) == 0 {
		typed := make([]string, len(cols))
		for i, c := range cols {
			typed[i] = "CAST(NULL AS " + c.Type + ") AS " + quoteIdent(c.Name)
		}
		return "SELECT " + strings.Join(typed, ", ") + " WHERE false", nil, nil
	}
	var parts []Column
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.Name)
		if c.Partition {
			parts = append(parts, c)
		}
	}
	hive := len(parts) > 0
	for _, f := range files {
		for _, p := range parts {
			if !hiveValue(f.PartitionValues[p.Name]) {
				hive = false
			}
		}
	}
	if !hive {
		return unionScan(cols, files), filePaths(files), nil
	}
	types := make([]string, len(parts))
	for i, p := range parts {
		types[i] = quoteString(p.Name) + ": " + p.Type
	}
	read := func(paths []string) string {
		quoted := make([]string, len(paths))
		for i, p := range paths {
			quoted[i] = quoteString(p)
		}
		return "SELECT " + strings.Join(names, ", ") + " FROM read_parquet([" + strings.Join(quoted, ", ") +
			"], hive_partitioning = true, hive_types = {" + strings.Join(types, ", ") + "})"
	}
	if hiveNamed(files, parts) { // a local lake's own files: no links needed
		return read(filePaths(files)), filePaths(files), nil
	}
	links := make([]string, len(files))
	made := map[string]bool{}
	for i, f := range files {
		dir := linkDir
		for _, p := range parts {
			dir = filepath.Join(dir, p.Name+"="+f.PartitionValues[p.Name])
		}
		if !made[dir] {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return "", nil, fmt.Errorf("link data files: %w", err)
			}
			made[dir] = true
		}
		links[i] = filepath.Join(dir, strconv.Itoa(i)+"-"+filepath.Base(f.Path))
		if err := os.Symlink(f.Path, links[i]); err != nil {
			return "", nil, fmt.Errorf("link data files: %w", err)
		}
	}
	return read(links), append(links, filePaths(files)...), nil
}

// hiveNamed reports whether every file already sits in hive-style
// directories of its partition values (…/dt=2026-03-01/part-….parquet),
// as a local lake's files do, and nothing else in its path looks like a
// partition directory of the same name.
func hiveNamed(files []lake.LocalFile, parts []Column) bool {
	for _, f := range files {
		dir := filepath.Dir(f.Path)
		for i := len(parts) - 1; i >= 0; i-- {
			if filepath.Base(dir) != parts[i].Name+"="+f.PartitionValues[parts[i].Name] {
				return false
			}
			dir = filepath.Dir(dir)
		}
		for _, p := range parts {
			if strings.Contains(filepath.ToSlash(dir)+"/", "/"+p.Name+"=") {
				return false
			}
		}
	}
	return true
}

// hiveValue reports whether a partition value can name a directory that
// DuckDB's hive partitioning reads back unchanged.
func hiveValue(v string) bool {
	if v == "" || v == "." || v == ".." || len(v) > 200 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.' || c == ':' || c == '+') {
			return false
		}
	}
	return true
}

func filePaths(files []lake.LocalFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

// unionScan is the scan as one read_parquet per partition value, joined
// with UNION ALL (the fallback of scanSQL).
func unionScan(cols []Column, files []lake.LocalFile) string {
	type group struct {
		values map[string]string
		paths  []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, f := range files {
		var key strings.Builder
		for _, c := range cols {
			if c.Partition {
				v, ok := f.PartitionValues[c.Name]
				if ok {
					key.WriteString(v)
				}
				key.WriteByte(0)
				if !ok || v == "" {
					key.WriteByte(1) // null
				}
			}
		}
		g, ok := byKey[key.String()]
		if !ok {
			g = &group{values: f.PartitionValues}
			byKey[key.String()] = g
			groups = append(groups, g)
		}
		g.paths = append(g.paths, quoteString(f.Path))
	}
	selects := make([]string, len(groups))
	for i, g := range groups {
		exprs := make([]string, len(cols))
		for j, c := range cols {
			switch v := g.values[c.Name]; {
			case !c.Partition:
				exprs[j] = quoteIdent(c.Name)
			case v == "":
				exprs[j] = "CAST(NULL AS " + c.Type + ") AS " + quoteIdent(c.Name)
			default:
				exprs[j] = "CAST(" + quoteString(v) + " AS " + c.Type + ") AS " + quoteIdent(c.Name)
			}
		}
		selects[i] = "SELECT " + strings.Join(exprs, ", ") + " FROM read_parquet([" + strings.Join(g.paths, ", ") + "])"
	}
	return strings.Join(selects, "\nUNION ALL\n")
}

// quoteIdent quotes a DuckDB identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes a DuckDB string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

package schema

import (
	"encoding/json"
	"fmt"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// DeltaField is one field of a Delta Lake struct type (PROTOCOL.md, "Schema
// Serialization Format"). Type is a primitive type name ("string", "long",
// "integer", "short", "byte", "double", "float", "boolean", "binary", "date",
// "timestamp", "decimal(p,s)").
type DeltaField struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	Nullable bool           `json:"nullable"`
	Metadata map[string]any `json:"metadata"`
}

// DeltaStruct is a Delta Lake struct type: the shape of a schemaString.
type DeltaStruct struct {
	Type   string       `json:"type"` // always "struct"
	Fields []DeltaField `json:"fields"`
}

// DeltaFields returns the table's Delta columns: the Parquet schema's columns
// in file order, then the partition column (type date, not nullable).
func (t *Table) DeltaFields() ([]DeltaField, error) {
	fields := t.Schema.Fields()
	out := make([]DeltaField, 0, len(fields)+1)
	for _, f := range fields {
		typ, err := deltaType(f)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.Name, f.Name(), err)
		}
		out = append(out, DeltaField{Name: f.Name(), Type: typ, Nullable: f.Optional(), Metadata: map[string]any{}})
	}
	if t.PartitionColumn != "" {
		out = append(out, DeltaField{Name: t.PartitionColumn, Type: "date", Nullable: false, Metadata: map[string]any{}})
	}
	return out, nil
}

// DeltaSchemaString returns the table's Delta Lake schemaString: the JSON of
// a struct type holding every Parquet column and the partition column.
func (t *Table) DeltaSchemaString() (string, error) {
	fields, err := t.DeltaFields()
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(DeltaStruct{Type: "struct", Fields: fields})
	if err != nil {
		return "", fmt.Errorf("table %s: delta schema: %w", t.Name, err)
	}
	return string(b), nil
}

// PartitionColumns returns the Delta metaData partitionColumns of the table.
func (t *Table) PartitionColumns() []string {
	if t.PartitionColumn == "" {
		return []string{}
	}
	return []string{t.PartitionColumn}
}

// deltaType maps a flat Parquet column to its Delta primitive type name.
func deltaType(n parquet.Node) (string, error) {
	if !n.Leaf() || n.Repeated() {
		return "", fmt.Errorf("only flat primitive columns are mapped to Delta types")
	}
	typ := n.Type()
	if lt := typ.LogicalType(); lt != nil && lt.Value != nil {
		switch v := lt.Value.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType, *format.UUIDType:
			return "string", nil
		case *format.DateType:
			return "date", nil
		case *format.TimestampType:
			if !v.IsAdjustedToUTC {
				return "timestamp_ntz", nil
			}
			return "timestamp", nil
		case *format.DecimalType:
			return fmt.Sprintf("decimal(%d,%d)", v.Precision, v.Scale), nil
		case *format.IntType:
			if !v.IsSigned {
				return "", fmt.Errorf("unsigned integers have no Delta type")
			}
			switch v.BitWidth {
			case 8:
				return "byte", nil
			case 16:
				return "short", nil
			case 32:
				return "integer", nil
			case 64:
				return "long", nil
			}
		}
		return "", fmt.Errorf("logical type %s has no Delta mapping", lt)
	}
	switch typ.Kind() {
	case parquet.Boolean:
		return "boolean", nil
	case parquet.Int32:
		return "integer", nil
	case parquet.Int64:
		return "long", nil
	case parquet.Float:
		return "float", nil
	case parquet.Double:
		return "double", nil
	case parquet.ByteArray:
		return "binary", nil
	}
	return "", fmt.Errorf("physical type %s has no Delta mapping", typ)
}

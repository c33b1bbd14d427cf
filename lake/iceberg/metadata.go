package iceberg

import (
	"fmt"
	"strconv"
	"strings"
)

// Metadata is an Iceberg v2 table metadata file (vN.metadata.json).
type Metadata struct {
	FormatVersion      int               `json:"format-version"`
	TableUUID          string            `json:"table-uuid"`
	Location           string            `json:"location"`
	LastSequenceNumber int64             `json:"last-sequence-number"`
	LastUpdatedMs      int64             `json:"last-updated-ms"`
	LastColumnID       int               `json:"last-column-id"`
	CurrentSchemaID    int               `json:"current-schema-id"`
	Schemas            []Schema          `json:"schemas"`
	DefaultSpecID      int               `json:"default-spec-id"`
	PartitionSpecs     []PartitionSpec   `json:"partition-specs"`
	LastPartitionID    int               `json:"last-partition-id"`
	DefaultSortOrderID int               `json:"default-sort-order-id"`
	SortOrders         []SortOrder       `json:"sort-orders"`
	Properties         map[string]string `json:"properties"`
	CurrentSnapshotID  int64             `json:"current-snapshot-id"`
	Snapshots          []Snapshot        `json:"snapshots"`
	SnapshotLog        []SnapshotLog     `json:"snapshot-log"`
	MetadataLog        []MetadataLog     `json:"metadata-log"`
	Refs               map[string]Ref    `json:"refs"`
}

// PartitionSpec is a partition spec; shelflake's is identity(dt) or none.
type PartitionSpec struct {
	SpecID int              `json:"spec-id"`
	Fields []PartitionField `json:"fields"`
}

// PartitionField is one field of a partition spec.
type PartitionField struct {
	Name      string `json:"name"`
	Transform string `json:"transform"`
	SourceID  int    `json:"source-id"`
	FieldID   int    `json:"field-id"`
}

// SortOrder is a sort order; order 0 is unsorted.
type SortOrder struct {
	OrderID int         `json:"order-id"`
	Fields  []SortField `json:"fields"`
}

// SortField is one key of a sort order.
type SortField struct {
	Transform string `json:"transform"`
	SourceID  int    `json:"source-id"`
	Direction string `json:"direction"`
	NullOrder string `json:"null-order"`
}

// Snapshot is one snapshot of the table. Summary["delta.version"] is the
// Delta version it mirrors.
type Snapshot struct {
	SnapshotID       int64             `json:"snapshot-id"`
	ParentSnapshotID *int64            `json:"parent-snapshot-id,omitempty"`
	SequenceNumber   int64             `json:"sequence-number"`
	TimestampMs      int64             `json:"timestamp-ms"`
	ManifestList     string            `json:"manifest-list"`
	Summary          map[string]string `json:"summary"`
	SchemaID         int               `json:"schema-id"`
}

// DeltaVersion returns the Delta version a snapshot mirrors.
func (s Snapshot) DeltaVersion() (int64, error) {
	v, err := strconv.ParseInt(s.Summary[SummaryDeltaVersion], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("snapshot %d: summary %s: %w", s.SnapshotID, SummaryDeltaVersion, err)
	}
	return v, nil
}

// SnapshotLog is one entry of the snapshot log.
type SnapshotLog struct {
	TimestampMs int64 `json:"timestamp-ms"`
	SnapshotID  int64 `json:"snapshot-id"`
}

// MetadataLog is one entry of the metadata log.
type MetadataLog struct {
	TimestampMs  int64  `json:"timestamp-ms"`
	MetadataFile string `json:"metadata-file"`
}

// Ref is a named snapshot reference (the main branch).
type Ref struct {
	SnapshotID int64  `json:"snapshot-id"`
	Type       string `json:"type"`
}

// SummaryDeltaVersion is the snapshot summary key holding the Delta version.
const SummaryDeltaVersion = "delta.version"

// Keys under a table prefix.
const (
	metadataDir     = "metadata/"
	versionHintName = "version-hint.text"
)

// MetadataKey returns the bucket key of table metadata version v of the
// table under prefix ("pos_lines/").
func MetadataKey(prefix string, v int64) string {
	return prefix + metadataDir + MetadataFileName(v)
}

// MetadataFileName is "v<N>.metadata.json".
func MetadataFileName(v int64) string { return "v" + strconv.FormatInt(v, 10) + ".metadata.json" }

// VersionHintKey returns the key of version-hint.text of the table.
func VersionHintKey(prefix string) string { return prefix + metadataDir + versionHintName }

// current returns the current snapshot, if any.
func (m *Metadata) current() (Snapshot, bool) {
	for _, s := range m.Snapshots {
		if s.SnapshotID == m.CurrentSnapshotID {
			return s, true
		}
	}
	return Snapshot{}, false
}

// schema returns the current schema.
func (m *Metadata) schema() (*Schema, error) {
	for i := range m.Schemas {
		if m.Schemas[i].SchemaID == m.CurrentSchemaID {
			return &m.Schemas[i], nil
		}
	}
	return nil, fmt.Errorf("metadata: current schema %d missing", m.CurrentSchemaID)
}

// Validate checks the fields the Iceberg v2 spec requires of table metadata
// and their consistency (current snapshot, schema, spec and sort order
// exist; sequence numbers do not pass last-sequence-number).
func (m *Metadata) Validate() error {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if m.FormatVersion != 2 {
		bad("format-version %d, want 2", m.FormatVersion)
	}
	if len(m.TableUUID) != 36 {
		bad("table-uuid %q is not a UUID", m.TableUUID)
	}
	if m.Location == "" {
		bad("location missing")
	}
	if _, err := m.schema(); err != nil {
		bad("%v", err)
	}
	ids := map[int]bool{}
	for _, s := range m.Schemas {
		for _, f := range s.Fields {
			if f.ID <= 0 || f.ID > m.LastColumnID {
				bad("schema %d field %s: id %d outside 1..last-column-id %d", s.SchemaID, f.Name, f.ID, m.LastColumnID)
			}
			if s.SchemaID == m.CurrentSchemaID {
				if ids[f.ID] {
					bad("field id %d used twice", f.ID)
				}
				ids[f.ID] = true
			}
		}
	}
	found := false
	for _, s := range m.PartitionSpecs {
		found = found || s.SpecID == m.DefaultSpecID
		for _, f := range s.Fields {
			if !ids[f.SourceID] || f.FieldID > m.LastPartitionID || f.FieldID < 1000 {
				bad("partition field %s: source-id %d / field-id %d invalid", f.Name, f.SourceID, f.FieldID)
			}
		}
	}
	if !found {
		bad("default-spec-id %d has no spec", m.DefaultSpecID)
	}
	found = false
	for _, o := range m.SortOrders {
		found = found || o.OrderID == m.DefaultSortOrderID
	}
	if !found {
		bad("default-sort-order-id %d has no order", m.DefaultSortOrderID)
	}
	if m.CurrentSnapshotID != -1 {
		if _, ok := m.current(); !ok {
			bad("current-snapshot-id %d not among snapshots", m.CurrentSnapshotID)
		}
		if r, ok := m.Refs["main"]; !ok || r.SnapshotID != m.CurrentSnapshotID || r.Type != "branch" {
			bad("refs.main %+v does not point at the current snapshot", r)
		}
	}
	for _, s := range m.Snapshots {
		if s.SequenceNumber > m.LastSequenceNumber {
			bad("snapshot %d sequence-number %d > last-sequence-number %d", s.SnapshotID, s.SequenceNumber, m.LastSequenceNumber)
		}
		if s.ManifestList == "" || s.Summary["operation"] == "" || s.TimestampMs <= 0 {
			bad("snapshot %d lacks manifest-list, summary.operation or timestamp-ms", s.SnapshotID)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("iceberg metadata: %s", strings.Join(errs, "; "))
	}
	return nil
}

package iceberg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
)

// Manifest entry status (the spec's status field).
const (
	statusExisting = 0
	statusAdded    = 1
	statusDeleted  = 2
)

type kvLong struct {
	Key   int32 `avro:"key"`
	Value int64 `avro:"value"`
}

type kvBytes struct {
	Key   int32  `avro:"key"`
	Value []byte `avro:"value"`
}

// dataFile is the spec's data_file struct (field ids in the Avro schema).
type dataFile struct {
	Content         int32          `avro:"content"`
	FilePath        string         `avro:"file_path"`
	FileFormat      string         `avro:"file_format"`
	Partition       partitionTuple `avro:"partition"`
	RecordCount     int64          `avro:"record_count"`
	FileSizeInBytes int64          `avro:"file_size_in_bytes"`
	ValueCounts     *[]kvLong      `avro:"value_counts"`
	NullValueCounts *[]kvLong      `avro:"null_value_counts"`
	LowerBounds     *[]kvBytes     `avro:"lower_bounds"`
	UpperBounds     *[]kvBytes     `avro:"upper_bounds"`
	SortOrderID     *int32         `avro:"sort_order_id"`
}

// partitionTuple is the partition struct: dt (days since the epoch) for an
// identity(dt) table, nothing for an unpartitioned one (the Avro record
// then has no fields and DT is ignored).
type partitionTuple struct {
	DT *int32 `avro:"dt"`
}

// entry is the spec's manifest_entry.
type entry struct {
	Status             int32    `avro:"status"`
	SnapshotID         *int64   `avro:"snapshot_id"`
	SequenceNumber     *int64   `avro:"sequence_number"`
	FileSequenceNumber *int64   `avro:"file_sequence_number"`
	DataFile           dataFile `avro:"data_file"`
}

type fieldSummary struct {
	ContainsNull bool    `avro:"contains_null"`
	ContainsNaN  *bool   `avro:"contains_nan"`
	LowerBound   *[]byte `avro:"lower_bound"`
	UpperBound   *[]byte `avro:"upper_bound"`
}

// manifestFile is the spec's manifest_file (a manifest list entry).
type manifestFile struct {
	ManifestPath       string          `avro:"manifest_path"`
	ManifestLength     int64           `avro:"manifest_length"`
	PartitionSpecID    int32           `avro:"partition_spec_id"`
	Content            int32           `avro:"content"`
	SequenceNumber     int64           `avro:"sequence_number"`
	MinSequenceNumber  int64           `avro:"min_sequence_number"`
	AddedSnapshotID    int64           `avro:"added_snapshot_id"`
	AddedFilesCount    int32           `avro:"added_files_count"`
	ExistingFilesCount int32           `avro:"existing_files_count"`
	DeletedFilesCount  int32           `avro:"deleted_files_count"`
	AddedRowsCount     int64           `avro:"added_rows_count"`
	ExistingRowsCount  int64           `avro:"existing_rows_count"`
	DeletedRowsCount   int64           `avro:"deleted_rows_count"`
	Partitions         *[]fieldSummary `avro:"partitions"`
}

func mapSchema(id, keyID, valueID int, valueType string) string {
	return fmt.Sprintf(`{"name":%q,"type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k%d_v%d","fields":[{"name":"key","type":"int","field-id":%d},{"name":"value","type":%q,"field-id":%d}]}}],"default":null,"field-id":%d}`,
		map[int]string{109: "value_counts", 110: "null_value_counts", 125: "lower_bounds", 128: "upper_bounds"}[id],
		keyID, valueID, keyID, valueType, valueID, id)
}

// manifestEntrySchema is the v2 manifest_entry Avro schema for a table
// partitioned by identity(dt) (partitioned) or unpartitioned.
func manifestEntrySchema(partitioned bool) string {
	part := `{"type":"record","name":"r102","fields":[]}`
	if partitioned {
		part = fmt.Sprintf(`{"type":"record","name":"r102","fields":[{"name":"dt","type":["null",{"type":"int","logicalType":"date"}],"default":null,"field-id":%d}]}`, PartitionFieldID)
	}
	return `{"type":"record","name":"manifest_entry","fields":[` +
		`{"name":"status","type":"int","field-id":0},` +
		`{"name":"snapshot_id","type":["null","long"],"default":null,"field-id":1},` +
		`{"name":"sequence_number","type":["null","long"],"default":null,"field-id":3},` +
		`{"name":"file_sequence_number","type":["null","long"],"default":null,"field-id":4},` +
		`{"name":"data_file","type":{"type":"record","name":"r2","fields":[` +
		`{"name":"content","type":"int","doc":"Contents of the file: 0=data, 1=position deletes, 2=equality deletes","field-id":134},` +
		`{"name":"file_path","type":"string","doc":"Location URI with FS scheme","field-id":100},` +
		`{"name":"file_format","type":"string","doc":"File format name: avro, orc, or parquet","field-id":101},` +
		`{"name":"partition","type":` + part + `,"doc":"Partition data tuple, schema based on the partition spec","field-id":102},` +
		`{"name":"record_count","type":"long","doc":"Number of records in the file","field-id":103},` +
		`{"name":"file_size_in_bytes","type":"long","doc":"Total file size in bytes","field-id":104},` +
		mapSchema(109, 119, 120, "long") + `,` +
		mapSchema(110, 121, 122, "long") + `,` +
		mapSchema(125, 126, 127, "bytes") + `,` +
		mapSchema(128, 129, 130, "bytes") + `,` +
		`{"name":"sort_order_id","type":["null","int"],"default":null,"field-id":140}` +
		`]},"field-id":2}]}`
}

const manifestFileSchema = `{"type":"record","name":"manifest_file","fields":[` +
	`{"name":"manifest_path","type":"string","field-id":500},` +
	`{"name":"manifest_length","type":"long","field-id":501},` +
	`{"name":"partition_spec_id","type":"int","field-id":502},` +
	`{"name":"content","type":"int","field-id":517},` +
	`{"name":"sequence_number","type":"long","field-id":515},` +
	`{"name":"min_sequence_number","type":"long","field-id":516},` +
	`{"name":"added_snapshot_id","type":"long","field-id":503},` +
	`{"name":"added_files_count","type":"int","field-id":504},` +
	`{"name":"existing_files_count","type":"int","field-id":505},` +
	`{"name":"deleted_files_count","type":"int","field-id":506},` +
	`{"name":"added_rows_count","type":"long","field-id":512},` +
	`{"name":"existing_rows_count","type":"long","field-id":513},` +
	`{"name":"deleted_rows_count","type":"long","field-id":514},` +
	`{"name":"partitions","type":["null",{"type":"array","items":{"type":"record","name":"r508","fields":[` +
	`{"name":"contains_null","type":"boolean","field-id":509},` +
	`{"name":"contains_nan","type":["null","boolean"],"default":null,"field-id":518},` +
	`{"name":"lower_bound","type":["null","bytes"],"default":null,"field-id":510},` +
	`{"name":"upper_bound","type":["null","bytes"],"default":null,"field-id":511}` +
	`]},"element-id":508}],"default":null,"field-id":507}]}`

// encodeManifest writes entries as a manifest (Avro object container file)
// with the metadata keys the spec requires.
func encodeManifest(sch *Schema, spec PartitionSpec, entries []entry) ([]byte, error) {
	schemaJSON, err := json.Marshal(sch)
	if err != nil {
		return nil, err
	}
	specJSON, err := json.Marshal(spec.Fields)
	if err != nil {
		return nil, err
	}
	meta := map[string][]byte{
		"schema":            schemaJSON,
		"schema-id":         []byte(strconv.Itoa(sch.SchemaID)),
		"partition-spec":    specJSON,
		"partition-spec-id": []byte(strconv.Itoa(spec.SpecID)),
		"format-version":    []byte("2"),
		"content":           []byte("data"),
	}
	return encodeOCF(manifestEntrySchema(len(spec.Fields) > 0), meta, entries)
}

// encodeManifestList writes a snapshot's manifest list.
func encodeManifestList(snapshotID int64, parent *int64, seq int64, files []manifestFile) ([]byte, error) {
	meta := map[string][]byte{
		"snapshot-id":     []byte(strconv.FormatInt(snapshotID, 10)),
		"sequence-number": []byte(strconv.FormatInt(seq, 10)),
		"format-version":  []byte("2"),
	}
	if parent != nil {
		meta["parent-snapshot-id"] = []byte(strconv.FormatInt(*parent, 10))
	}
	return encodeOCF(manifestFileSchema, meta, files)
}

func encodeOCF[T any](schema string, meta map[string][]byte, rows []T) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(schema, &buf, ocf.WithMetadata(meta), ocf.WithCodec(ocf.Null))
	if err != nil {
		return nil, fmt.Errorf("avro encoder: %w", err)
	}
	for i := range rows {
		if err := enc.Encode(rows[i]); err != nil {
			return nil, fmt.Errorf("avro encode row %d: %w", i, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("avro encoder: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeOCF reads every row of an Avro object container file written by
// encodeOCF.
func decodeOCF[T any](b []byte, what string) ([]T, error) {
	dec, err := ocf.NewDecoder(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var out []T
	for dec.HasNext() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", what, len(out), err)
		}
		out = append(out, v)
	}
	if err := dec.Error(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// parseSchemas validates the Avro schemas once (a typo is a test failure,
// not a runtime surprise).
func parseSchemas() error {
	for _, s := range []string{manifestEntrySchema(true), manifestEntrySchema(false), manifestFileSchema} {
		if _, err := avro.Parse(s); err != nil {
			return err
		}
	}
	return nil
}

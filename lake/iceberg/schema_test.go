package iceberg

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// TestEncodeBound checks the spec's single-value binary serialization
// (Appendix D) on values as Delta stats hold them.
func TestEncodeBound(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		v    any
		want string // hex; "" means no bound
	}{
		{"int", json.Number("1"), "01000000"},
		{"int", json.Number("-2"), "feffffff"},
		{"long", json.Number("258"), "0201000000000000"},
		{"double", json.Number("1.5"), "000000000000f83f"},
		{"date", "1970-01-02", "01000000"},
		{"date", "2026-03-01", "21500000"}, // day 20513
		{"timestamptz", "1970-01-01T00:00:01.5Z", "60e3160000000000"},
		{"string", "SKU-1", hex.EncodeToString([]byte("SKU-1"))},
		{"decimal(18, 4)", json.Number("12.3400"), "01e208"}, // 123400
		{"decimal(18, 4)", json.Number("-1.5000"), "c568"},   // -15000
		{"decimal(18, 4)", json.Number("0.0128"), "0080"},    // 128 needs a sign byte
		{"decimal(18, 4)", json.Number("0.0000"), "00"},
		{"boolean", true, ""},
		{"binary", "x", ""},
		{"int", "not a number", ""},
		{"string", json.Number("5"), ""},
	} {
		got, ok := EncodeBound(tc.typ, tc.v)
		if tc.want == "" {
			if ok {
				t.Errorf("%s %v: bound %x, want none", tc.typ, tc.v, got)
			}
			continue
		}
		want, _ := hex.DecodeString(tc.want)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("%s %v: %x (ok %v), want %x", tc.typ, tc.v, got, ok, want)
		}
	}
}

func TestSchemaFromDelta(t *testing.T) {
	s, err := SchemaFromDelta(testSchema, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{1, "sku", true, "string", ""}, {2, "qty", true, "long", ""}, {3, "price", false, "decimal(18, 4)", ""},
		{4, "at", true, "timestamptz", ""}, {5, "dt", true, "date", ""}}
	if len(s.Fields) != len(want) {
		t.Fatalf("fields %+v", s.Fields)
	}
	for i := range want {
		if s.Fields[i] != want[i] {
			t.Errorf("field %d: %+v, want %+v", i, s.Fields[i], want[i])
		}
	}
	if _, err := SchemaFromDelta(`{"type":"struct","fields":[{"name":"m","type":{"type":"map"},"nullable":true}]}`, 0); err == nil {
		t.Error("a nested column was accepted")
	}
	if err := parseSchemas(); err != nil {
		t.Errorf("Avro schemas: %v", err)
	}
}

// FuzzDecodeManifest: reading a manifest or manifest list from the store
// returns an error on garbage, never panics.
func FuzzDecodeManifest(f *testing.F) {
	sch, _ := SchemaFromDelta(testSchema, 0)
	d := int32(20000)
	one, two := int64(1), int64(1)
	raw, err := encodeManifest(&sch, PartitionSpec{Fields: []PartitionField{{"dt", "identity", 5, 1000}}},
		[]entry{{Status: 1, SnapshotID: &one, SequenceNumber: &two, FileSequenceNumber: &two,
			DataFile: dataFile{FilePath: "file:///x/a.parquet", FileFormat: "PARQUET", Partition: partitionTuple{DT: &d}, RecordCount: 3}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	list, err := encodeManifestList(1, nil, 1, []manifestFile{{ManifestPath: "file:///x/m.avro"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(list)
	f.Fuzz(func(t *testing.T, b []byte) {
		if es, err := decodeOCF[entry](b, "m"); err == nil && bytes.Equal(b, raw) && (len(es) != 1 || *es[0].DataFile.Partition.DT != d) {
			t.Errorf("round trip: %+v", es)
		}
		_, _ = decodeOCF[manifestFile](b, "l")
	})
}

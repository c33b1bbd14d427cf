// Package delta is shelflake's Delta Lake transaction log: reading snapshots
// (JSON commits and Parquet checkpoints, as Spark writes them), committing with
// put-if-absent, optimistic conflict resolution, fencing of Kafka offset ranges
// through txn actions, checkpoints and vacuum. FORMAT.md in this directory
// states the subset of the Delta protocol implemented.
package delta

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Protocol is the protocol action: the reader and writer versions (and, for
// reader version 3 / writer version 7, the table features) a client needs.
type Protocol struct {
	MinReaderVersion int32    `json:"minReaderVersion"`
	MinWriterVersion int32    `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// Format is the encoding of the table's data files (always parquet).
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata is the metaData action: identity, schema, partitioning and
// configuration of the table. The newest one in the log wins.
type Metadata struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	Format      Format `json:"format"`
	// SchemaString is the table schema in Delta's JSON schema serialization
	// (a Spark StructType); this package does not interpret it.
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	// CreatedTime is milliseconds since the Unix epoch; nil when absent.
	CreatedTime *int64 `json:"createdTime,omitempty"`
}

// DeletionVector is the descriptor of a deletion vector attached to a file.
// This package refuses to read tables that use them; the type exists so the
// reader can notice one.
type DeletionVector struct {
	StorageType    string `json:"storageType"`
	PathOrInlineDv string `json:"pathOrInlineDv"`
	Offset         *int32 `json:"offset,omitempty"`
	SizeInBytes    int32  `json:"sizeInBytes"`
	Cardinality    int64  `json:"cardinality"`
}

// UniqueID is the protocol's derived dvId: storageType+pathOrInlineDv[@offset].
func (dv *DeletionVector) UniqueID() string {
	if dv == nil {
		return ""
	}
	if dv.Offset != nil {
		return dv.StorageType + dv.PathOrInlineDv + "@" + strconv.Itoa(int(*dv.Offset))
	}
	return dv.StorageType + dv.PathOrInlineDv
}

// Add is the add action: a data file that becomes part of the table.
//
// Path is the file's path relative to the table root as written in the log,
// that is URI-encoded (a space is "%20"); build it with EncodePath and read it
// back with DecodePath. PartitionValues maps every partition column to its
// serialized value; an empty string means null (the protocol's rule; a JSON
// null reads as ""). Stats is the per-file statistics JSON string (see Stats).
type Add struct {
	Path             string            `json:"path"`
	PartitionValues  map[string]string `json:"partitionValues"`
	Size             int64             `json:"size"`
	ModificationTime int64             `json:"modificationTime"`
	DataChange       bool              `json:"dataChange"`
	Stats            string            `json:"stats,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	DeletionVector   *DeletionVector   `json:"deletionVector,omitempty"`
}

// Remove is the remove action: a file that leaves the table. It stays in the
// snapshot as a tombstone (for vacuum) until it expires.
type Remove struct {
	Path string `json:"path"`
	// DeletionTimestamp is milliseconds since the Unix epoch; nil when absent.
	DeletionTimestamp    *int64            `json:"deletionTimestamp,omitempty"`
	DataChange           bool              `json:"dataChange"`
	ExtendedFileMetadata bool              `json:"extendedFileMetadata,omitempty"`
	PartitionValues      map[string]string `json:"partitionValues,omitempty"`
	Size                 *int64            `json:"size,omitempty"`
	Tags                 map[string]string `json:"tags,omitempty"`
	DeletionVector       *DeletionVector   `json:"deletionVector,omitempty"`
}

// SetTransaction is the txn action: an application's progress marker. The
// newest version per AppID wins. shelflake uses it for fencing (see FenceRange).
type SetTransaction struct {
	AppID   string `json:"appId"`
	Version int64  `json:"version"`
	// LastUpdated is milliseconds since the Unix epoch; nil when absent.
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// CommitInfo is the free-form commitInfo action (provenance). Numbers decode
// as json.Number so integers stay exact.
type CommitInfo map[string]any

// Int64 returns the integer field key.
func (c CommitInfo) Int64(key string) (int64, bool) {
	switch v := c[key].(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case float64:
		return int64(v), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	}
	return 0, false
}

// String returns the string field key, or "" when absent or not a string.
func (c CommitInfo) String(key string) string {
	s, _ := c[key].(string)
	return s
}

// Operation returns commitInfo.operation.
func (c CommitInfo) Operation() string { return c.String("operation") }

// TxnID returns commitInfo.txnId, the unique id of the commit attempt.
func (c CommitInfo) TxnID() string { return c.String("txnId") }

// Timestamp returns the commit's timestamp: commitInfo.inCommitTimestamp when
// present (in-commit timestamps), otherwise commitInfo.timestamp.
func (c CommitInfo) Timestamp() (time.Time, bool) {
	if ms, ok := c.Int64("inCommitTimestamp"); ok {
		return time.UnixMilli(ms).UTC(), true
	}
	if ms, ok := c.Int64("timestamp"); ok {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

// Action is one line of a commit file: exactly one field is set. Unknown
// actions (cdc, domainMetadata, …) decode with every field nil and are ignored.
type Action struct {
	CommitInfo CommitInfo      `json:"commitInfo,omitempty"`
	Protocol   *Protocol       `json:"protocol,omitempty"`
	Metadata   *Metadata       `json:"metaData,omitempty"`
	Txn        *SetTransaction `json:"txn,omitempty"`
	Remove     *Remove         `json:"remove,omitempty"`
	Add        *Add            `json:"add,omitempty"`
}

// EncodeActions writes actions as newline-delimited JSON, one action per line,
// in the order given.
func EncodeActions(actions []Action) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode appends '\n' after each value
	enc.SetEscapeHTML(false)
	for i := range actions {
		a := actions[i]
		if a.Add != nil && a.Add.PartitionValues == nil {
			cp := *a.Add
			cp.PartitionValues = map[string]string{}
			a.Add = &cp
		}
		if a.Metadata != nil {
			cp := *a.Metadata
			if cp.Format.Options == nil {
				cp.Format.Options = map[string]string{}
			}
			if cp.PartitionColumns == nil {
				cp.PartitionColumns = []string{}
			}
			if cp.Configuration == nil {
				cp.Configuration = map[string]string{}
			}
			a.Metadata = &cp
		}
		if n := a.count(); n != 1 {
			return nil, fmt.Errorf("encode action %d: %d fields set, want exactly 1", i, n)
		}
		if err := enc.Encode(a); err != nil {
			return nil, fmt.Errorf("encode action %d: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

func (a *Action) count() int {
	n := 0
	if a.CommitInfo != nil {
		n++
	}
	if a.Protocol != nil {
		n++
	}
	if a.Metadata != nil {
		n++
	}
	if a.Txn != nil {
		n++
	}
	if a.Remove != nil {
		n++
	}
	if a.Add != nil {
		n++
	}
	return n
}

// maxLine bounds one JSON line of a commit (a huge schemaString or stats).
const maxLine = 64 << 20

// DecodeActions parses a commit file: newline-delimited JSON actions. Blank
// lines are skipped; unknown actions and fields are ignored, as the protocol
// requires.
func DecodeActions(r io.Reader) ([]Action, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var out []Action
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		a, err := decodeAction(b)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, nil
}

func decodeAction(b []byte) (Action, error) {
	var a Action
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return Action{}, err
	}
	if dec.More() {
		return Action{}, errors.New("trailing data after action")
	}
	if a.count() > 1 {
		return Action{}, errors.New("more than one action on a line")
	}
	if a.Add != nil && a.Add.Path == "" {
		return Action{}, errors.New("add without path")
	}
	if a.Remove != nil && a.Remove.Path == "" {
		return Action{}, errors.New("remove without path")
	}
	if a.Txn != nil && a.Txn.AppID == "" {
		return Action{}, errors.New("txn without appId")
	}
	return a, nil
}

// EncodePath turns a table-relative file path (slash-separated, as stored in
// the bucket) into the URI form the log's add and remove actions carry: every
// byte other than ASCII letters, digits, '-', '.', '_', '~', '=' and '/' is
// percent-encoded with upper-case hex. "dt=2024-05-01/part-1.parquet" stays as
// is; "special p@#h" becomes "special%20p%40%23h".
func EncodePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if isPathSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isPathSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '=' || c == '/'
}

// DecodePath reverses the URI encoding of a log path: every %XX becomes its
// byte ('+' stays '+'). It fails on a malformed escape.
func DecodePath(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("decode path %q: truncated escape at %d", s, i)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("decode path %q: bad escape at %d", s, i)
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hasScheme reports whether a (decoded) path is an absolute URI such as
// "s3://bucket/x" or "file:/tmp/x" rather than a table-relative path.
func hasScheme(p string) bool {
	i := strings.IndexByte(p, ':')
	if i <= 0 {
		return false
	}
	if j := strings.IndexByte(p, '/'); j >= 0 && j < i {
		return false
	}
	for k := 0; k < i; k++ {
		c := p[k]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || k > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// RemoveOf returns the remove action for a live file, carrying its partition
// values and size (extendedFileMetadata) and the deletion time.
func RemoveOf(a Add, deleted time.Time, dataChange bool) Remove {
	ts := deleted.UnixMilli()
	size := a.Size
	pv := make(map[string]string, len(a.PartitionValues))
	for k, v := range a.PartitionValues {
		pv[k] = v
	}
	return Remove{
		Path:                 a.Path,
		DeletionTimestamp:    &ts,
		DataChange:           dataChange,
		ExtendedFileMetadata: true,
		PartitionValues:      pv,
		Size:                 &size,
		DeletionVector:       a.DeletionVector,
	}
}

// NewAdd builds the add action for a data file stored at the table-relative
// path relPath (unencoded, e.g. "dt=2024-05-01/part-….parquet").
func NewAdd(relPath string, partitionValues map[string]string, size int64, modified time.Time, stats *Stats) (Add, error) {
	a := Add{
		Path:             EncodePath(relPath),
		PartitionValues:  partitionValues,
		Size:             size,
		ModificationTime: modified.UnixMilli(),
		DataChange:       true,
	}
	if a.PartitionValues == nil {
		a.PartitionValues = map[string]string{}
	}
	if stats != nil {
		s, err := stats.JSON()
		if err != nil {
			return Add{}, fmt.Errorf("add %s: %w", relPath, err)
		}
		a.Stats = s
	}
	return a, nil
}

// Stats is the per-file statistics an add action carries as a JSON string.
// Column values mirror the table schema (nested columns are nested objects);
// numbers decode as json.Number, dates and timestamps as strings.
type Stats struct {
	NumRecords  int64          `json:"numRecords"`
	MinValues   map[string]any `json:"minValues,omitempty"`
	MaxValues   map[string]any `json:"maxValues,omitempty"`
	NullCount   map[string]any `json:"nullCount,omitempty"`
	TightBounds *bool          `json:"tightBounds,omitempty"`
}

// JSON encodes the statistics for Add.Stats.
func (s *Stats) JSON() (string, error) {
	b, err := jsonMarshalNoEscape(s)
	if err != nil {
		return "", fmt.Errorf("encode stats: %w", err)
	}
	return string(b), nil
}

// ParseStats decodes Add.Stats. It returns (nil, nil) when the file carries no
// statistics.
func (a *Add) ParseStats() (*Stats, error) {
	if a.Stats == "" {
		return nil, nil
	}
	var s Stats
	dec := json.NewDecoder(strings.NewReader(a.Stats))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse stats of %s: %w", a.Path, err)
	}
	return &s, nil
}

// DecodedPath returns the add's path decoded from its URI form.
func (a *Add) DecodedPath() (string, error) { return DecodePath(a.Path) }

// jsonMarshalNoEscape is json.Marshal without HTML escaping.
func jsonMarshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

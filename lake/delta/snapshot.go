package delta

import (
	"slices"
	"sort"
	"time"
)

// Snapshot is the immutable state of a table at one version: protocol,
// metadata, live files, tombstones and txn versions. It is safe for
// concurrent use.
type Snapshot struct {
	prefix     string
	st         *state
	commitInfo CommitInfo
	timestamp  time.Time
}

// File is a live data file of a snapshot.
type File struct {
	// Add is the add action as the log holds it (Path URI-encoded).
	Add
	// RelPath is the decoded table-relative path, e.g.
	// "dt=2024-05-01/part-….parquet". For an absolute URI in the log (which
	// shelflake never writes) it is that URI, decoded.
	RelPath string
	// Key is the data file's bucket key: table prefix + RelPath. Empty when
	// RelPath is an absolute URI.
	Key string
}

// Version returns the snapshot's table version.
func (s *Snapshot) Version() int64 { return s.st.version }

// Protocol returns the table's protocol at this version.
func (s *Snapshot) Protocol() Protocol { return *s.st.protocol }

// Metadata returns the table's metadata at this version. The maps and
// slices are shared: do not modify them.
func (s *Snapshot) Metadata() Metadata { return *s.st.metadata }

// PartitionColumns returns the table's partition columns.
func (s *Snapshot) PartitionColumns() []string { return slices.Clone(s.st.metadata.PartitionColumns) }

// CommitInfo returns the commitInfo of the commit that produced this version,
// or nil when there is none (or only a checkpoint of this version survives).
func (s *Snapshot) CommitInfo() CommitInfo { return s.commitInfo }

// Timestamp returns the commit timestamp of this version (see
// Table.SnapshotAsOf for its definition), or the zero time when unknown.
func (s *Snapshot) Timestamp() time.Time { return s.timestamp }

// NumFiles returns the number of live files.
func (s *Snapshot) NumFiles() int { return len(s.st.files) }

// Files returns the live files ordered by path.
func (s *Snapshot) Files() []File { return s.FilesWhere(nil) }

// FilesWhere returns the live files whose partition values satisfy keep
// (nil keeps all), ordered by path. keep must not modify the map. This is
// partition pruning from the log alone: no bucket listing.
func (s *Snapshot) FilesWhere(keep func(partitionValues map[string]string) bool) []File {
	var out []File
	for _, e := range s.st.sortedFiles() {
		if keep != nil && !keep(e.add.PartitionValues) {
			continue
		}
		f := File{Add: *e.add, RelPath: e.path}
		if !hasScheme(e.path) {
			f.Key = s.prefix + e.path
		}
		out = append(out, f)
	}
	return out
}

// FilesInRange returns the live files whose partition column column has a
// value v with from <= v <= to, compared as strings — right for ISO dates
// ("2024-05-01") and any fixed-width value. An empty from or to leaves that
// side open. Files whose value is null ("") are excluded unless both sides
// are open.
func (s *Snapshot) FilesInRange(column, from, to string) []File {
	if from == "" && to == "" {
		return s.Files()
	}
	return s.FilesWhere(func(pv map[string]string) bool {
		v := pv[column]
		if v == "" {
			return false
		}
		return (from == "" || v >= from) && (to == "" || v <= to)
	})
}

// Tombstones returns the remove actions the snapshot still carries, ordered
// by path.
func (s *Snapshot) Tombstones() []Remove {
	out := make([]Remove, 0, len(s.st.tombstones))
	for _, r := range s.st.tombstones {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// TxnVersion returns the latest txn version recorded for appID and whether
// there is one. For a fenced Kafka partition it is the next offset to consume.
func (s *Snapshot) TxnVersion(appID string) (int64, bool) {
	t, ok := s.st.txns[appID]
	return t.Version, ok
}

// Txns returns every appId's latest txn version.
func (s *Snapshot) Txns() map[string]int64 {
	out := make(map[string]int64, len(s.st.txns))
	for k, v := range s.st.txns {
		out[k] = v.Version
	}
	return out
}

// NumRecords sums the numRecords statistic of the live files; ok is false
// when some file carries no statistics.
func (s *Snapshot) NumRecords() (n int64, ok bool) {
	ok = true
	for _, e := range s.st.files {
		st, err := e.add.ParseStats()
		if err != nil || st == nil {
			ok = false
			continue
		}
		n += st.NumRecords
	}
	return n, ok
}

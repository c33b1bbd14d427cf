package delta

import (
	"fmt"
	"maps"
	"sort"
	"sync"
)

// fileKey is the primary key of a logical file: its decoded path and the
// unique id of its deletion vector ("" when none).
type fileKey struct {
	path string
	dv   string
}

// entry is a live file with its decoded path.
type entry struct {
	add  *Add
	path string
}

// state is the reconciled table state after replaying actions up to version.
// Pure: no I/O. Once a Snapshot wraps it, it is never mutated again.
type state struct {
	version    int64
	protocol   *Protocol
	metadata   *Metadata
	files      map[fileKey]entry
	tombstones map[fileKey]*Remove
	txns       map[string]SetTransaction

	sortOnce sync.Once
	sorted   []entry
}

func newState() *state {
	return &state{
		version:    -1,
		files:      map[fileKey]entry{},
		tombstones: map[fileKey]*Remove{},
		txns:       map[string]SetTransaction{},
	}
}

// clone returns a mutable copy (maps copied; actions shared, they are never
// mutated).
func (s *state) clone() *state {
	return &state{
		version:    s.version,
		protocol:   s.protocol,
		metadata:   s.metadata,
		files:      maps.Clone(s.files),
		tombstones: maps.Clone(s.tombstones),
		txns:       maps.Clone(s.txns),
	}
}

func keyOf(path string, dv *DeletionVector) (fileKey, string, error) {
	p, err := DecodePath(path)
	if err != nil {
		return fileKey{}, "", err
	}
	return fileKey{path: p, dv: dv.UniqueID()}, p, nil
}

// apply reconciles the actions of one commit (or one checkpoint) into s,
// following the protocol's Action Reconciliation: newest protocol and
// metadata win, newest txn per appId wins, and per logical file the newest
// add or remove wins (a remove leaves a tombstone).
func (s *state) apply(actions []Action) error {
	for i := range actions {
		a := &actions[i]
		switch {
		case a.Protocol != nil:
			s.protocol = a.Protocol
		case a.Metadata != nil:
			s.metadata = a.Metadata
		case a.Txn != nil:
			s.txns[a.Txn.AppID] = *a.Txn
		case a.Add != nil:
			if a.Add.DeletionVector != nil {
				return fmt.Errorf("%w: file %s has a deletion vector", ErrUnsupportedProtocol, a.Add.Path)
			}
			k, p, err := keyOf(a.Add.Path, a.Add.DeletionVector)
			if err != nil {
				return err
			}
			s.files[k] = entry{add: a.Add, path: p}
			delete(s.tombstones, k)
		case a.Remove != nil:
			k, _, err := keyOf(a.Remove.Path, a.Remove.DeletionVector)
			if err != nil {
				return err
			}
			delete(s.files, k)
			s.tombstones[k] = a.Remove
		}
	}
	return nil
}

// sortedFiles returns the live files ordered by decoded path.
func (s *state) sortedFiles() []entry {
	s.sortOnce.Do(func() {
		out := make([]entry, 0, len(s.files))
		for _, e := range s.files {
			out = append(out, e)
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].path != out[j].path {
				return out[i].path < out[j].path
			}
			return out[i].add.DeletionVector.UniqueID() < out[j].add.DeletionVector.UniqueID()
		})
		s.sorted = out
	})
	return s.sorted
}

// validate checks that a replayed state is a table: it has a protocol and
// metadata, and the protocol is one this package can read.
func (s *state) validate() error {
	if s.protocol == nil {
		return fmt.Errorf("version %d: no protocol action found", s.version)
	}
	if s.metadata == nil {
		return fmt.Errorf("version %d: no metaData action found", s.version)
	}
	if err := checkReadable(*s.protocol); err != nil {
		return fmt.Errorf("version %d: %w", s.version, err)
	}
	return nil
}

package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/parquet-go/parquet-go"

	"github.com/shelflake/shelflake/lake/objstore"
)

// The checkpoint schema: one Parquet row per action, each action a nullable
// struct column, as the protocol's "Checkpoint Schema" and Spark write it.
// Reading tolerates extra columns (Spark writes more) and missing ones.

type cpTxn struct {
	AppID       *string `parquet:"appId,optional"`
	Version     *int64  `parquet:"version,optional"`
	LastUpdated *int64  `parquet:"lastUpdated,optional"`
}

type cpDV struct {
	StorageType    *string `parquet:"storageType,optional"`
	PathOrInlineDv *string `parquet:"pathOrInlineDv,optional"`
	Offset         *int32  `parquet:"offset,optional"`
	SizeInBytes    *int32  `parquet:"sizeInBytes,optional"`
	Cardinality    *int64  `parquet:"cardinality,optional"`
}

type cpAdd struct {
	Path             *string            `parquet:"path,optional"`
	PartitionValues  map[string]*string `parquet:"partitionValues,optional" parquet-value:",optional"`
	Size             *int64             `parquet:"size,optional"`
	ModificationTime *int64             `parquet:"modificationTime,optional"`
	DataChange       *bool              `parquet:"dataChange,optional"`
	Tags             map[string]*string `parquet:"tags,optional" parquet-value:",optional"`
	DeletionVector   *cpDV              `parquet:"deletionVector,optional"`
	Stats            *string            `parquet:"stats,optional"`
}

type cpRemove struct {
	Path                 *string            `parquet:"path,optional"`
	DeletionTimestamp    *int64             `parquet:"deletionTimestamp,optional"`
	DataChange           *bool              `parquet:"dataChange,optional"`
	ExtendedFileMetadata *bool              `parquet:"extendedFileMetadata,optional"`
	PartitionValues      map[string]*string `parquet:"partitionValues,optional" parquet-value:",optional"`
	Size                 *int64             `parquet:"size,optional"`
	DeletionVector       *cpDV              `parquet:"deletionVector,optional"`
}

type cpFormat struct {
	Provider *string            `parquet:"provider,optional"`
	Options  map[string]*string `parquet:"options,optional" parquet-value:",optional"`
}

type cpMetadata struct {
	ID               *string            `parquet:"id,optional"`
	Name             *string            `parquet:"name,optional"`
	Description      *string            `parquet:"description,optional"`
	Format           *cpFormat          `parquet:"format,optional"`
	SchemaString     *string            `parquet:"schemaString,optional"`
	PartitionColumns []string           `parquet:"partitionColumns,optional,list"`
	Configuration    map[string]*string `parquet:"configuration,optional" parquet-value:",optional"`
	CreatedTime      *int64             `parquet:"createdTime,optional"`
}

type cpProtocol struct {
	MinReaderVersion *int32   `parquet:"minReaderVersion,optional"`
	MinWriterVersion *int32   `parquet:"minWriterVersion,optional"`
	ReaderFeatures   []string `parquet:"readerFeatures,optional,list"`
	WriterFeatures   []string `parquet:"writerFeatures,optional,list"`
}

type cpRow struct {
	Txn      *cpTxn      `parquet:"txn,optional"`
	Add      *cpAdd      `parquet:"add,optional"`
	Remove   *cpRemove   `parquet:"remove,optional"`
	Metadata *cpMetadata `parquet:"metaData,optional"`
	Protocol *cpProtocol `parquet:"protocol,optional"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func i64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func strMap(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = str(v)
	}
	return out
}

func ptrMap(m map[string]string) map[string]*string {
	if m == nil {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

func (d *cpDV) action() *DeletionVector {
	if d == nil {
		return nil
	}
	dv := &DeletionVector{StorageType: str(d.StorageType), PathOrInlineDv: str(d.PathOrInlineDv), Offset: d.Offset, Cardinality: i64(d.Cardinality)}
	if d.SizeInBytes != nil {
		dv.SizeInBytes = *d.SizeInBytes
	}
	return dv
}

// action converts a checkpoint row to the action it holds (ok=false for a
// row holding none this package reads, e.g. domainMetadata).
func (r *cpRow) action() (Action, bool, error) {
	switch {
	case r.Protocol != nil:
		p := r.Protocol
		if p.MinReaderVersion == nil || p.MinWriterVersion == nil {
			return Action{}, false, errors.New("protocol row without versions")
		}
		return Action{Protocol: &Protocol{
			MinReaderVersion: *p.MinReaderVersion,
			MinWriterVersion: *p.MinWriterVersion,
			ReaderFeatures:   p.ReaderFeatures,
			WriterFeatures:   p.WriterFeatures,
		}}, true, nil
	case r.Metadata != nil:
		m := r.Metadata
		md := &Metadata{
			ID:               str(m.ID),
			Name:             str(m.Name),
			Description:      str(m.Description),
			SchemaString:     str(m.SchemaString),
			PartitionColumns: m.PartitionColumns,
			Configuration:    strMap(m.Configuration),
			CreatedTime:      m.CreatedTime,
		}
		if md.PartitionColumns == nil {
			md.PartitionColumns = []string{}
		}
		if m.Format != nil {
			md.Format = Format{Provider: str(m.Format.Provider), Options: strMap(m.Format.Options)}
		}
		return Action{Metadata: md}, true, nil
	case r.Txn != nil:
		if r.Txn.AppID == nil || r.Txn.Version == nil {
			return Action{}, false, errors.New("txn row without appId or version")
		}
		return Action{Txn: &SetTransaction{AppID: *r.Txn.AppID, Version: *r.Txn.Version, LastUpdated: r.Txn.LastUpdated}}, true, nil
	case r.Add != nil:
		a := r.Add
		if a.Path == nil {
			return Action{}, false, errors.New("add row without path")
		}
		add := &Add{
			Path:             *a.Path,
			PartitionValues:  strMap(a.PartitionValues),
			Size:             i64(a.Size),
			ModificationTime: i64(a.ModificationTime),
			DataChange:       a.DataChange != nil && *a.DataChange,
			Stats:            str(a.Stats),
			DeletionVector:   a.DeletionVector.action(),
		}
		if a.Tags != nil {
			add.Tags = strMap(a.Tags)
		}
		return Action{Add: add}, true, nil
	case r.Remove != nil:
		m := r.Remove
		if m.Path == nil {
			return Action{}, false, errors.New("remove row without path")
		}
		rm := &Remove{
			Path:                 *m.Path,
			DeletionTimestamp:    m.DeletionTimestamp,
			DataChange:           m.DataChange != nil && *m.DataChange,
			ExtendedFileMetadata: m.ExtendedFileMetadata != nil && *m.ExtendedFileMetadata,
			Size:                 m.Size,
			DeletionVector:       m.DeletionVector.action(),
		}
		if m.PartitionValues != nil {
			rm.PartitionValues = strMap(m.PartitionValues)
		}
		return Action{Remove: rm}, true, nil
	}
	return Action{}, false, nil
}

// DecodeCheckpoint reads the actions of one checkpoint Parquet file (one part
// of a multi-part checkpoint).
func DecodeCheckpoint(data []byte) ([]Action, error) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("open checkpoint parquet: %w", err)
	}
	r := parquet.NewGenericReader[cpRow](f)
	defer r.Close()
	var out []Action
	buf := make([]cpRow, 256)
	for {
		clear(buf)
		n, err := r.Read(buf)
		for i := range buf[:n] {
			a, ok, cerr := buf[i].action()
			if cerr != nil {
				return nil, fmt.Errorf("checkpoint row: %w", cerr)
			}
			if ok {
				out = append(out, a)
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read checkpoint rows: %w", err)
		}
		if n == 0 {
			return out, nil
		}
	}
}

// readCheckpoint loads the state of checkpoint c (all parts).
func (t *Table) readCheckpoint(ctx context.Context, c checkpointRef) (*state, error) {
	st := newState()
	for _, name := range c.names() {
		b, err := t.readAll(ctx, t.logPrefix+name)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint %d: %w", c.version, err)
		}
		acts, err := DecodeCheckpoint(b)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", name, err)
		}
		if err := st.apply(acts); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", name, err)
		}
	}
	st.version = c.version
	if err := st.validate(); err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", c.version, err)
	}
	return st, nil
}

// EncodeCheckpoint writes the checkpoint Parquet file of a snapshot: its
// protocol, metadata, txns, live files and the tombstones whose
// deletionTimestamp is at or after tombstoneCutoffMs (ms since the epoch). It
// returns the file and its number of actions.
func EncodeCheckpoint(s *Snapshot, tombstoneCutoffMs int64) ([]byte, int64, error) {
	st := s.st
	rows := make([]cpRow, 0, 2+len(st.txns)+len(st.files)+len(st.tombstones))
	p := st.protocol
	rows = append(rows, cpRow{Protocol: &cpProtocol{
		MinReaderVersion: &p.MinReaderVersion,
		MinWriterVersion: &p.MinWriterVersion,
		ReaderFeatures:   p.ReaderFeatures,
		WriterFeatures:   p.WriterFeatures,
	}})
	m := st.metadata
	md := &cpMetadata{
		ID:               &m.ID,
		Format:           &cpFormat{Provider: &m.Format.Provider, Options: ptrMap(m.Format.Options)},
		SchemaString:     &m.SchemaString,
		PartitionColumns: m.PartitionColumns,
		Configuration:    ptrMap(m.Configuration),
		CreatedTime:      m.CreatedTime,
	}
	if md.PartitionColumns == nil {
		md.PartitionColumns = []string{}
	}
	if md.Configuration == nil {
		md.Configuration = map[string]*string{}
	}
	if md.Format.Options == nil {
		md.Format.Options = map[string]*string{}
	}
	if m.Name != "" {
		md.Name = &m.Name
	}
	if m.Description != "" {
		md.Description = &m.Description
	}
	rows = append(rows, cpRow{Metadata: md})

	appIDs := make([]string, 0, len(st.txns))
	for id := range st.txns {
		appIDs = append(appIDs, id)
	}
	sort.Strings(appIDs)
	for _, id := range appIDs {
		tx := st.txns[id]
		rows = append(rows, cpRow{Txn: &cpTxn{AppID: &tx.AppID, Version: &tx.Version, LastUpdated: tx.LastUpdated}})
	}
	for _, e := range st.sortedFiles() {
		a := e.add
		row := &cpAdd{
			Path:             &a.Path,
			PartitionValues:  ptrMap(a.PartitionValues),
			Size:             &a.Size,
			ModificationTime: &a.ModificationTime,
			DataChange:       &a.DataChange,
			Tags:             ptrMap(a.Tags),
		}
		if row.PartitionValues == nil {
			row.PartitionValues = map[string]*string{}
		}
		if a.Stats != "" {
			row.Stats = &a.Stats
		}
		rows = append(rows, cpRow{Add: row})
	}
	tomb := s.Tombstones()
	for i := range tomb {
		r := &tomb[i]
		if r.DeletionTimestamp != nil && *r.DeletionTimestamp < tombstoneCutoffMs {
			continue
		}
		rows = append(rows, cpRow{Remove: &cpRemove{
			Path:                 &r.Path,
			DeletionTimestamp:    r.DeletionTimestamp,
			DataChange:           &r.DataChange,
			ExtendedFileMetadata: &r.ExtendedFileMetadata,
			PartitionValues:      ptrMap(r.PartitionValues),
			Size:                 r.Size,
		}})
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[cpRow](&buf,
		parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy(EngineInfo, "", ""),
	)
	if _, err := w.Write(rows); err != nil {
		return nil, 0, fmt.Errorf("write checkpoint rows: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, 0, fmt.Errorf("close checkpoint writer: %w", err)
	}
	return buf.Bytes(), int64(len(rows)), nil
}

// Checkpoint writes a classic single-file Parquet checkpoint of s
// (%020d.checkpoint.parquet, put-if-absent: an existing checkpoint of the
// same version is left alone, its content is equivalent) and then points
// _last_checkpoint at it unless that already names a newer version.
// Checkpoints never block or break commits: they are separate objects.
func (t *Table) Checkpoint(ctx context.Context, s *Snapshot) error {
	err := t.checkpoint(ctx, s)
	if err != nil {
		t.observeCheckpoint("error")
		return fmt.Errorf("checkpoint %s version %d: %w", t, s.Version(), err)
	}
	t.observeCheckpoint("ok")
	return nil
}

func (t *Table) checkpoint(ctx context.Context, s *Snapshot) error {
	if s.prefix != t.prefix {
		return fmt.Errorf("snapshot belongs to table prefix %q", s.prefix)
	}
	cutoff := t.opts.Now().Add(-t.opts.TombstoneRetention).UnixMilli()
	data, n, err := EncodeCheckpoint(s, cutoff)
	if err != nil {
		return err
	}
	ref := checkpointRef{version: s.Version()}
	key := t.logPrefix + ref.names()[0]
	if err := t.bucket.PutIfAbsent(ctx, key, data); err != nil && !errors.Is(err, objstore.ErrExists) {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if cur, ok := t.readLastCheckpoint(ctx); ok && cur.version >= ref.version {
		return nil
	}
	lc, err := json.Marshal(lastCheckpoint{
		Version:       ref.version,
		Size:          n,
		SizeInBytes:   int64(len(data)),
		NumOfAddFiles: int64(s.NumFiles()),
	})
	if err != nil {
		return err
	}
	if err := t.bucket.Put(ctx, t.lastCheckpointKey(), bytes.NewReader(lc)); err != nil {
		return fmt.Errorf("put _last_checkpoint: %w", err)
	}
	return nil
}

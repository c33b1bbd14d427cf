package iceberg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
)

// Options configure a Publisher.
type Options struct {
	// Root is the lake root as engines address it: "s3://bucket/prefix" or
	// "file:///abs/path". Table locations and file paths in the metadata
	// are Root + "/" + table. Required.
	Root string
	// Logger receives warnings of publications that failed (the Delta
	// commit stands; the next commit catches up). Default: discard.
	Logger *slog.Logger
	// MaxSnapshots bounds the snapshots (and metadata-log entries) kept in
	// the table metadata; older ones expire. Default 100.
	MaxSnapshots int
	// MaxManifests: when a snapshot would list more manifests, the ones
	// carried over are merged into one. Default 32.
	MaxManifests int
	// SortColumns returns a table's sort key (its sort order); nil: unsorted.
	SortColumns func(table string) []string
	// Always publishes every table committed to, bootstrapping tables that
	// have no Iceberg metadata yet. Without it only tables that already have
	// metadata (made by Sync) are kept up to date.
	Always bool
	// Async makes AfterCommit return at once and publish in the background
	// (one goroutine per table while it has work; commits that arrive
	// meanwhile are published together, still one snapshot per version), so
	// the committing writer does not wait for the metadata writes. Close
	// waits for the pending publications.
	Async bool
	// Registerer, when set, gets the publisher's metrics: publications by
	// result, the Delta version each table's Iceberg metadata mirrors, and
	// publication time.
	Registerer prometheus.Registerer
}

// Publisher writes Iceberg metadata after Delta commits. It keeps the last
// published state of each table in memory so a commit costs one manifest
// (plus rewrites of the manifests holding removed files), one manifest list
// and one metadata file. Safe for concurrent use.
type Publisher struct {
	opts Options

	mu      sync.Mutex
	tables  map[string]*tableState
	wg      sync.WaitGroup
	metrics *metrics
}

type metrics struct {
	published *prometheus.CounterVec
	version   *prometheus.GaugeVec
	seconds   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	f := promauto.With(reg)
	return &metrics{
		published: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_iceberg_publications_total",
			Help: "Iceberg metadata publications after Delta commits, by result (ok, error).",
		}, []string{"table", "result"}),
		version: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shelflake_iceberg_published_delta_version",
			Help: "The Delta version each table's newest Iceberg metadata mirrors.",
		}, []string{"table"}),
		seconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "shelflake_iceberg_publication_duration_seconds",
			Help:    "Time to publish a table's Iceberg metadata up to a commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
}

type manifestState struct {
	file    manifestFile
	entries []entry
}

// live returns the entries not deleted.
func (m *manifestState) live() int {
	n := 0
	for i := range m.entries {
		if m.entries[i].Status != statusDeleted {
			n++
		}
	}
	return n
}

type tableState struct {
	mu        sync.Mutex
	meta      *Metadata // last published (nil: not loaded)
	version   int64     // Delta version of meta
	manifests []*manifestState
	checked   time.Time // when a missing metadata was last seen (not Always)

	// Async: the newest snapshot to publish and whether a goroutine runs.
	qmu     sync.Mutex
	pending *delta.Snapshot
	table   *delta.Table
	running bool
}

// NewPublisher returns a publisher for the lake at opts.Root.
func NewPublisher(opts Options) (*Publisher, error) {
	if opts.Root == "" {
		return nil, errors.New("iceberg: Options.Root (the lake's URI) is required")
	}
	opts.Root = strings.TrimSuffix(opts.Root, "/")
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxSnapshots <= 0 {
		opts.MaxSnapshots = 100
	}
	if opts.MaxManifests <= 0 {
		opts.MaxManifests = 32
	}
	return &Publisher{opts: opts, tables: map[string]*tableState{}, metrics: newMetrics(opts.Registerer)}, nil
}

// AfterCommit is a delta.Options.AfterCommit hook: it publishes the table's
// Iceberg metadata up to the committed version, logging a failure (the
// Delta log stays the truth; the next commit or Sync catches up).
func (p *Publisher) AfterCommit(ctx context.Context, t *delta.Table, s *delta.Snapshot) {
	if !p.opts.Async {
		p.publishLogged(ctx, t, s)
		return
	}
	ts := p.state(t.Prefix())
	ts.qmu.Lock()
	defer ts.qmu.Unlock()
	if ts.pending == nil || s.Version() > ts.pending.Version() {
		ts.pending, ts.table = s, t
	}
	if ts.running {
		return
	}
	ts.running = true
	p.wg.Add(1)
	go p.drain(context.WithoutCancel(ctx), ts)
}

// drain publishes a table's pending snapshots until there are none.
func (p *Publisher) drain(ctx context.Context, ts *tableState) {
	defer p.wg.Done()
	for {
		ts.qmu.Lock()
		s, t := ts.pending, ts.table
		ts.pending = nil
		if s == nil {
			ts.running = false
			ts.qmu.Unlock()
			return
		}
		ts.qmu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		p.publishLogged(pctx, t, s)
		cancel()
	}
}

// Close waits for the background publications (Options.Async) to finish.
func (p *Publisher) Close() { p.wg.Wait() }

func (p *Publisher) publishLogged(ctx context.Context, t *delta.Table, s *delta.Snapshot) {
	start := time.Now()
	v, err := p.publish(ctx, t, s, p.opts.Always)
	if err != nil {
		p.opts.Logger.Warn("iceberg metadata not published (the next commit catches up)",
			"table", t.String(), "version", s.Version(), "err", err)
	}
	if m := p.metrics; m != nil && (err != nil || v >= 0) {
		name := strings.TrimSuffix(t.Prefix(), "/")
		if err != nil {
			m.published.WithLabelValues(name, "error").Inc()
			return
		}
		m.published.WithLabelValues(name, "ok").Inc()
		m.version.WithLabelValues(name).Set(float64(v))
		m.seconds.Observe(time.Since(start).Seconds())
	}
}

// Sync publishes the Iceberg metadata of t up to its latest Delta version,
// one snapshot per Delta version since the last published one. A table
// without Iceberg metadata starts its history at the latest version. It
// returns the Delta version published.
func (p *Publisher) Sync(ctx context.Context, t *delta.Table) (int64, error) {
	s, err := t.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	return p.publish(ctx, t, s, true)
}

func (p *Publisher) state(prefix string) *tableState {
	p.mu.Lock()
	defer p.mu.Unlock()
	ts, ok := p.tables[prefix]
	if !ok {
		ts = &tableState{}
		p.tables[prefix] = ts
	}
	return ts
}

// recheckMissing is how often a table without Iceberg metadata is looked at
// again (another process may have run Sync since).
const recheckMissing = time.Minute

func (p *Publisher) publish(ctx context.Context, t *delta.Table, target *delta.Snapshot, create bool) (int64, error) {
	ts := p.state(t.Prefix())
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if attempt > 10 {
			return 0, fmt.Errorf("iceberg %s: lost the race for metadata %d times", t, attempt)
		}
		if ts.meta == nil {
			if !create && !ts.checked.IsZero() && time.Since(ts.checked) < recheckMissing {
				return -1, nil
			}
			found, err := p.load(ctx, t, ts)
			if err != nil {
				return 0, err
			}
			if !found {
				if !create {
					ts.checked = time.Now()
					return -1, nil
				}
				err := p.bootstrap(ctx, t, ts, target)
				if errors.Is(err, objstore.ErrExists) {
					ts.meta = nil
					continue
				}
				return ts.version, err
			}
		}
		var err error
		for v := ts.version + 1; v <= target.Version() && err == nil; v++ {
			var acts []delta.Action
			acts, err = t.CommitActions(ctx, v)
			if err == nil {
				err = p.apply(ctx, t, ts, v, acts)
			}
		}
		if errors.Is(err, objstore.ErrExists) {
			ts.meta = nil // another process published that version: reload
			continue
		}
		if err != nil {
			ts.meta = nil // the next call reloads from the store
			return 0, fmt.Errorf("iceberg %s: %w", t, err)
		}
		return ts.version, nil
	}
}

// Location returns the Iceberg table location of t: Root + "/" + table.
func (p *Publisher) Location(t *delta.Table) string { return p.location(t) }

func (p *Publisher) location(t *delta.Table) string {
	return p.opts.Root + "/" + strings.TrimSuffix(t.Prefix(), "/")
}

func readJSON(ctx context.Context, b objstore.Bucket, key string, v any) error {
	raw, err := readAll(ctx, b, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func readAll(ctx context.Context, b objstore.Bucket, key string) ([]byte, error) {
	r, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return raw, nil
}

// LatestVersion returns the newest metadata version of the table under
// prefix: version-hint.text, then later versions probed one by one (the
// hint is written after the metadata, so it may lag). found is false when
// the table has no Iceberg metadata.
func LatestVersion(ctx context.Context, b objstore.Bucket, prefix string) (v int64, found bool, err error) {
	raw, err := readAll(ctx, b, VersionHintKey(prefix))
	if errors.Is(err, objstore.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v, err = strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", VersionHintKey(prefix), err)
	}
	for {
		_, err := b.Stat(ctx, MetadataKey(prefix, v+1))
		if errors.Is(err, objstore.ErrNotExist) {
			return v, true, nil
		}
		if err != nil {
			return 0, false, err
		}
		v++
	}
}

// ReadMetadata reads metadata version v of the table under prefix.
func ReadMetadata(ctx context.Context, b objstore.Bucket, prefix string, v int64) (*Metadata, error) {
	var m Metadata
	if err := readJSON(ctx, b, MetadataKey(prefix, v), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// keyOf maps a URI under the table location to its bucket key.
func keyOf(location, prefix, uri string) (string, error) {
	rel, ok := strings.CutPrefix(uri, location+"/")
	if !ok {
		return "", fmt.Errorf("%s is not under the table location %s", uri, location)
	}
	return prefix + rel, nil
}

// snapshotManifests reads a snapshot's manifest list and manifests.
func snapshotManifests(ctx context.Context, b objstore.Bucket, m *Metadata, prefix string, s Snapshot, seen map[string]*manifestState) ([]*manifestState, error) {
	key, err := keyOf(m.Location, prefix, s.ManifestList)
	if err != nil {
		return nil, err
	}
	raw, err := readAll(ctx, b, key)
	if err != nil {
		return nil, err
	}
	files, err := decodeOCF[manifestFile](raw, key)
	if err != nil {
		return nil, err
	}
	out := make([]*manifestState, 0, len(files))
	for _, f := range files {
		if ms, ok := seen[f.ManifestPath]; ok {
			out = append(out, ms)
			continue
		}
		mkey, err := keyOf(m.Location, prefix, f.ManifestPath)
		if err != nil {
			return nil, err
		}
		raw, err := readAll(ctx, b, mkey)
		if err != nil {
			return nil, err
		}
		entries, err := decodeOCF[entry](raw, mkey)
		if err != nil {
			return nil, err
		}
		ms := &manifestState{file: f, entries: entries}
		seen[f.ManifestPath] = ms
		out = append(out, ms)
	}
	return out, nil
}

func (p *Publisher) load(ctx context.Context, t *delta.Table, ts *tableState) (bool, error) {
	b := t.Bucket()
	v, found, err := LatestVersion(ctx, b, t.Prefix())
	if err != nil || !found {
		return false, err
	}
	m, err := ReadMetadata(ctx, b, t.Prefix(), v)
	if err != nil {
		return false, err
	}
	var ms []*manifestState
	if cur, ok := m.current(); ok {
		ms, err = snapshotManifests(ctx, b, m, t.Prefix(), cur, map[string]*manifestState{})
		if err != nil {
			return false, err
		}
	}
	ts.meta, ts.version, ts.manifests = m, v, ms
	return true, nil
}

// newMetadata is the metadata of a table before its first snapshot.
func (p *Publisher) newMetadata(t *delta.Table, md delta.Metadata, at time.Time) (*Metadata, error) {
	sch, err := SchemaFromDelta(md.SchemaString, 0)
	if err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(md.ID); err != nil {
		return nil, fmt.Errorf("delta table id %q is not a UUID: %w", md.ID, err)
	}
	spec := PartitionSpec{SpecID: 0, Fields: []PartitionField{}}
	lastPart := PartitionFieldID - 1
	switch len(md.PartitionColumns) {
	case 0:
	case 1:
		f, ok := sch.field(md.PartitionColumns[0])
		if !ok || f.Type != "date" {
			return nil, fmt.Errorf("partition column %s: only a date column is supported", md.PartitionColumns[0])
		}
		spec.Fields = append(spec.Fields, PartitionField{Name: f.Name, Transform: "identity", SourceID: f.ID, FieldID: PartitionFieldID})
		lastPart = PartitionFieldID
	default:
		return nil, fmt.Errorf("partition columns %v: at most one is supported", md.PartitionColumns)
	}
	orders := []SortOrder{{OrderID: 0, Fields: []SortField{}}}
	defOrder := 0
	if p.opts.SortColumns != nil {
		name := strings.TrimSuffix(t.Prefix(), "/")
		name = name[strings.LastIndex(name, "/")+1:]
		var fields []SortField
		for _, c := range p.opts.SortColumns(name) {
			if f, ok := sch.field(c); ok {
				fields = append(fields, SortField{Transform: "identity", SourceID: f.ID, Direction: "asc", NullOrder: "nulls-first"})
			}
		}
		if len(fields) > 0 {
			orders = append(orders, SortOrder{OrderID: 1, Fields: fields})
			defOrder = 1
		}
	}
	return &Metadata{
		FormatVersion:      2,
		TableUUID:          md.ID,
		Location:           p.location(t),
		LastUpdatedMs:      at.UnixMilli(),
		LastColumnID:       len(sch.Fields),
		CurrentSchemaID:    0,
		Schemas:            []Schema{sch},
		DefaultSpecID:      0,
		PartitionSpecs:     []PartitionSpec{spec},
		LastPartitionID:    lastPart,
		DefaultSortOrderID: defOrder,
		SortOrders:         orders,
		Properties: map[string]string{
			"write.format.default":            "parquet",
			"write.parquet.compression-codec": "zstd",
			"shelflake.source":                "delta",
			nameMappingProperty:               nameMapping(&sch),
		},
		CurrentSnapshotID: -1,
		Snapshots:         []Snapshot{},
		SnapshotLog:       []SnapshotLog{},
		MetadataLog:       []MetadataLog{},
		Refs:              map[string]Ref{},
	}, nil
}

// bootstrap starts a table's Iceberg history at snapshot s: one snapshot
// adding every live file.
func (p *Publisher) bootstrap(ctx context.Context, t *delta.Table, ts *tableState, s *delta.Snapshot) error {
	m, err := p.newMetadata(t, s.Metadata(), s.Timestamp())
	if err != nil {
		return err
	}
	ts.meta, ts.version, ts.manifests = m, s.Version(), nil
	if s.NumFiles() == 0 {
		return p.writeMetadata(ctx, t, ts, m, s.Version(), nil)
	}
	var adds []delta.Add
	for _, f := range s.Files() {
		adds = append(adds, f.Add)
	}
	acts := make([]delta.Action, 0, len(adds)+1)
	acts = append(acts, delta.Action{CommitInfo: delta.CommitInfo{"timestamp": s.Timestamp().UnixMilli(), "operation": "CONVERT"}})
	for i := range adds {
		acts = append(acts, delta.Action{Add: &adds[i]})
	}
	ts.version = s.Version() - 1
	if ts.version < 0 {
		ts.version = 0
	}
	return p.applyAt(ctx, t, ts, s.Version(), acts, false)
}

func (p *Publisher) apply(ctx context.Context, t *delta.Table, ts *tableState, v int64, acts []delta.Action) error {
	return p.applyAt(ctx, t, ts, v, acts, true)
}

// applyAt publishes Delta version v (its actions acts) on top of ts as
// metadata version v. prevMetadata says whether ts.meta was written as a
// metadata file (for the metadata log).
func (p *Publisher) applyAt(ctx context.Context, t *delta.Table, ts *tableState, v int64, acts []delta.Action, prevMetadata bool) error {
	prev := ts.meta
	m := *prev
	m.Schemas = slices.Clone(prev.Schemas)
	var adds []*delta.Add
	removed := map[string]bool{}
	removeChange := false
	var commitTs time.Time
	op := ""
	for _, a := range acts {
		switch {
		case a.CommitInfo != nil:
			commitTs, _ = a.CommitInfo.Timestamp()
			op = a.CommitInfo.Operation()
		case a.Metadata != nil:
			if err := evolveSchema(&m, a.Metadata.SchemaString); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
		case a.Add != nil:
			adds = append(adds, a.Add)
		case a.Remove != nil:
			rel, err := delta.DecodePath(a.Remove.Path)
			if err != nil {
				return err
			}
			removed[m.Location+"/"+rel] = true
			removeChange = removeChange || a.Remove.DataChange
		}
	}
	if commitTs.IsZero() {
		commitTs = time.Now()
	}
	sch, err := m.schema()
	if err != nil {
		return err
	}
	spec := m.PartitionSpecs[0]
	partCol := ""
	if len(spec.Fields) > 0 {
		partCol = sch.Fields[spec.Fields[0].SourceID-1].Name
	}
	snapID, seq := v, v
	var parent *int64
	if cur, ok := prev.current(); ok {
		parent = &cur.SnapshotID
	}
	sum := summary{}

	// Carry the manifests over; rewrite those holding removed files.
	var next []*manifestState
	var rewritten [][]entry
	for _, ms := range ts.manifests {
		hit := false
		for i := range ms.entries {
			if ms.entries[i].Status != statusDeleted && removed[ms.entries[i].DataFile.FilePath] {
				hit = true
				break
			}
		}
		if !hit {
			if ms.live() > 0 {
				next = append(next, ms)
			}
			continue
		}
		var es []entry
		for _, e := range ms.entries {
			if e.Status == statusDeleted {
				continue
			}
			if removed[e.DataFile.FilePath] {
				e.Status = statusDeleted
				e.SnapshotID = &snapID
				sum.deletedFiles++
				sum.deletedRecords += e.DataFile.RecordCount
				sum.removedSize += e.DataFile.FileSizeInBytes
				delete(removed, e.DataFile.FilePath)
			} else {
				e.Status = statusExisting
			}
			es = append(es, e)
		}
		rewritten = append(rewritten, es)
	}
	if len(removed) > 0 {
		return fmt.Errorf("version %d removes %d files the Iceberg snapshot does not list (e.g. %s)", v, len(removed), firstKey(removed))
	}
	// Merge the carried manifests when there are too many.
	if len(next)+len(rewritten)+1 > p.opts.MaxManifests && len(next) > 1 {
		var es []entry
		for _, ms := range next {
			for _, e := range ms.entries {
				if e.Status != statusDeleted {
					e.Status = statusExisting
					es = append(es, e)
				}
			}
		}
		next = nil
		rewritten = append(rewritten, es)
	}
	var added []entry
	for _, a := range adds {
		rel, err := delta.DecodePath(a.Path)
		if err != nil {
			return err
		}
		records, vc, nc, lo, hi, err := fileStats(sch, partCol, a)
		if err != nil {
			return fmt.Errorf("version %d: %w", v, err)
		}
		df := dataFile{
			Content: 0, FilePath: m.Location + "/" + rel, FileFormat: "PARQUET",
			RecordCount: records, FileSizeInBytes: a.Size,
			ValueCounts: &vc, NullValueCounts: &nc, LowerBounds: &lo, UpperBounds: &hi,
		}
		if partCol != "" {
			d, err := dateDays(a.PartitionValues[partCol])
			if err != nil {
				return fmt.Errorf("version %d add %s: %w", v, a.Path, err)
			}
			df.Partition.DT = &d
		}
		if !a.DataChange && m.DefaultSortOrderID != 0 {
			id := int32(m.DefaultSortOrderID)
			df.SortOrderID = &id
		}
		added = append(added, entry{Status: statusAdded, SnapshotID: &snapID, SequenceNumber: &seq, FileSequenceNumber: &seq, DataFile: df})
		sum.addedFiles++
		sum.addedRecords += records
		sum.addedSize += a.Size
	}
	if len(added) > 0 {
		rewritten = append(rewritten, added)
	}
	for _, es := range rewritten {
		if len(es) == 0 {
			continue
		}
		ms, err := p.writeManifest(ctx, t, &m, sch, spec, v, snapID, seq, es)
		if err != nil {
			return err
		}
		next = append(next, ms)
	}
	for _, ms := range next {
		for _, e := range ms.entries {
			if e.Status != statusDeleted {
				sum.totalFiles++
				sum.totalRecords += e.DataFile.RecordCount
				sum.totalSize += e.DataFile.FileSizeInBytes
			}
		}
	}

	// The manifest list.
	files := make([]manifestFile, len(next))
	for i, ms := range next {
		files[i] = ms.file
	}
	list, err := encodeManifestList(snapID, parent, seq, files)
	if err != nil {
		return err
	}
	listName := fmt.Sprintf("snap-%d-%s.avro", snapID, uuid.NewString())
	if err := t.Bucket().Put(ctx, t.Prefix()+metadataDir+listName, bytes.NewReader(list)); err != nil {
		return err
	}
	operation := "append"
	switch {
	case sum.deletedFiles > 0 && sum.addedFiles == 0:
		operation = "delete"
	case sum.deletedFiles > 0 && !removeChange:
		operation = "replace"
	case sum.deletedFiles > 0:
		operation = "overwrite"
	case sum.addedFiles == 0:
		operation = "replace" // no data change (fences, metadata)
	}
	sm := map[string]string{
		"operation":              operation,
		SummaryDeltaVersion:      strconv.FormatInt(v, 10),
		"delta.operation":        op,
		"added-data-files":       strconv.Itoa(sum.addedFiles),
		"deleted-data-files":     strconv.Itoa(sum.deletedFiles),
		"added-records":          strconv.FormatInt(sum.addedRecords, 10),
		"deleted-records":        strconv.FormatInt(sum.deletedRecords, 10),
		"added-files-size":       strconv.FormatInt(sum.addedSize, 10),
		"removed-files-size":     strconv.FormatInt(sum.removedSize, 10),
		"total-data-files":       strconv.Itoa(sum.totalFiles),
		"total-records":          strconv.FormatInt(sum.totalRecords, 10),
		"total-files-size":       strconv.FormatInt(sum.totalSize, 10),
		"total-delete-files":     "0",
		"total-position-deletes": "0",
		"total-equality-deletes": "0",
	}
	snap := Snapshot{
		SnapshotID: snapID, ParentSnapshotID: parent, SequenceNumber: seq,
		TimestampMs: commitTs.UnixMilli(), ManifestList: m.Location + "/" + metadataDir + listName,
		Summary: sm, SchemaID: m.CurrentSchemaID,
	}
	m.Snapshots = append(slices.Clone(prev.Snapshots), snap)
	m.SnapshotLog = append(slices.Clone(prev.SnapshotLog), SnapshotLog{TimestampMs: snap.TimestampMs, SnapshotID: snapID})
	m.MetadataLog = slices.Clone(prev.MetadataLog)
	if prevMetadata {
		m.MetadataLog = append(m.MetadataLog, MetadataLog{TimestampMs: prev.LastUpdatedMs, MetadataFile: m.Location + "/" + metadataDir + MetadataFileName(ts.version)})
	}
	if n := len(m.Snapshots) - p.opts.MaxSnapshots; n > 0 {
		m.Snapshots = m.Snapshots[n:]
	}
	if n := len(m.SnapshotLog) - p.opts.MaxSnapshots; n > 0 {
		m.SnapshotLog = m.SnapshotLog[n:]
	}
	if n := len(m.MetadataLog) - p.opts.MaxSnapshots; n > 0 {
		m.MetadataLog = m.MetadataLog[n:]
	}
	m.CurrentSnapshotID = snapID
	m.LastSequenceNumber = seq
	m.LastUpdatedMs = max(commitTs.UnixMilli(), prev.LastUpdatedMs)
	m.Refs = map[string]Ref{"main": {SnapshotID: snapID, Type: "branch"}}
	return p.writeMetadata(ctx, t, ts, &m, v, next)
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

type summary struct {
	addedFiles, deletedFiles, totalFiles       int
	addedRecords, deletedRecords, totalRecords int64
	addedSize, removedSize, totalSize          int64
}

// writeManifest writes entries as a new manifest of snapshot snapID.
func (p *Publisher) writeManifest(ctx context.Context, t *delta.Table, m *Metadata, sch *Schema, spec PartitionSpec, v, snapID, seq int64, es []entry) (*manifestState, error) {
	raw, err := encodeManifest(sch, spec, es)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%d-m-%s.avro", v, uuid.NewString())
	if err := t.Bucket().Put(ctx, t.Prefix()+metadataDir+name, bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	f := manifestFile{
		ManifestPath: m.Location + "/" + metadataDir + name, ManifestLength: int64(len(raw)),
		PartitionSpecID: int32(spec.SpecID), Content: 0, SequenceNumber: seq, MinSequenceNumber: seq,
		AddedSnapshotID: snapID,
	}
	var lo, hi *int32
	for _, e := range es {
		switch e.Status {
		case statusAdded:
			f.AddedFilesCount++
			f.AddedRowsCount += e.DataFile.RecordCount
		case statusExisting:
			f.ExistingFilesCount++
			f.ExistingRowsCount += e.DataFile.RecordCount
		case statusDeleted:
			f.DeletedFilesCount++
			f.DeletedRowsCount += e.DataFile.RecordCount
		}
		if e.Status != statusDeleted && e.SequenceNumber != nil && *e.SequenceNumber < f.MinSequenceNumber {
			f.MinSequenceNumber = *e.SequenceNumber
		}
		if d := e.DataFile.Partition.DT; d != nil {
			if lo == nil || *d < *lo {
				lo = d
			}
			if hi == nil || *d > *hi {
				hi = d
			}
		}
	}
	parts := []fieldSummary{}
	if len(spec.Fields) > 0 {
		fs := fieldSummary{}
		if lo != nil {
			l, h := le32(*lo), le32(*hi)
			fs.LowerBound, fs.UpperBound = &l, &h
		}
		parts = append(parts, fs)
	}
	f.Partitions = &parts
	return &manifestState{file: f, entries: es}, nil
}

func le32(v int32) []byte {
	return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

// writeMetadata writes metadata version v with put-if-absent (losing the
// race is objstore.ErrExists), then version-hint.text.
func (p *Publisher) writeMetadata(ctx context.Context, t *delta.Table, ts *tableState, m *Metadata, v int64, manifests []*manifestState) error {
	raw, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	if err := t.Bucket().PutIfAbsent(ctx, MetadataKey(t.Prefix(), v), raw); err != nil {
		return err
	}
	ts.meta, ts.version, ts.manifests = m, v, manifests
	hint := []byte(strconv.FormatInt(v, 10))
	if err := t.Bucket().Put(ctx, VersionHintKey(t.Prefix()), bytes.NewReader(hint)); err != nil {
		return fmt.Errorf("metadata %d written; version hint: %w", v, err)
	}
	return nil
}

// evolveSchema adds a new current schema when the Delta schema changed
// (columns appended; ids stay by position).
func evolveSchema(m *Metadata, schemaString string) error {
	cur, err := m.schema()
	if err != nil {
		return err
	}
	ns, err := SchemaFromDelta(schemaString, cur.SchemaID+1)
	if err != nil {
		return err
	}
	if slices.Equal(ns.Fields, cur.Fields) {
		return nil
	}
	for i, f := range cur.Fields {
		if i >= len(ns.Fields) || ns.Fields[i].Name != f.Name || ns.Fields[i].Type != f.Type {
			return fmt.Errorf("delta schema change drops or changes column %s (only appended columns are mirrored)", f.Name)
		}
	}
	m.Schemas = append(m.Schemas, ns)
	m.Properties = maps.Clone(m.Properties)
	m.Properties[nameMappingProperty] = nameMapping(&ns)
	m.CurrentSchemaID = ns.SchemaID
	m.LastColumnID = max(m.LastColumnID, len(ns.Fields))
	return nil
}

// nameMappingProperty maps field ids to the Parquet column names, for
// readers of files whose columns carry no field ids (the spec's
// schema.name-mapping.default, as for tables migrated from Hive).
const nameMappingProperty = "schema.name-mapping.default"

func nameMapping(s *Schema) string {
	type mapped struct {
		FieldID int      `json:"field-id"`
		Names   []string `json:"names"`
	}
	ms := make([]mapped, len(s.Fields))
	for i, f := range s.Fields {
		ms[i] = mapped{FieldID: f.ID, Names: []string{f.Name}}
	}
	b, _ := json.Marshal(ms) // plain strings and ints: cannot fail
	return string(b)
}

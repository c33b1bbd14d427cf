package delta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/shelflake/shelflake/lake/objstore"
)

// Isolation says which concurrent commits a commit tolerates.
type Isolation int

const (
	// Append is a blind append: only adds. It never conflicts with other
	// appends or rewrites; it conflicts only with metadata or protocol
	// changes (and its fences).
	Append Isolation = iota
	// Rewrite removes files (and may add their replacement, e.g.
	// compaction). Every removed file must be live in the base snapshot and
	// not removed by a concurrent commit; files added concurrently are fine.
	Rewrite
)

func (i Isolation) String() string {
	switch i {
	case Append:
		return "append"
	case Rewrite:
		return "rewrite"
	}
	return "isolation(" + strconv.Itoa(int(i)) + ")"
}

// FenceRange claims the offsets [From, To) of one source partition for a
// commit. AppID names the partition: "<group>/<topic>/<partition>" for Kafka.
//
// The fencing rule: let cur be the table's txn version for AppID in the
// snapshot the commit lands on.
//   - First == false: valid only if cur exists and cur == From.
//   - First == true: valid only if AppID has no txn yet; From is then the
//     partition's start offset (any value ≥ 0).
//
// A valid commit writes txn{appId: AppID, version: To}, so the next range of
// that partition must start at To. The check runs against the base snapshot
// and again against every concurrent commit that won a race: any winner that
// wrote a txn for AppID refuses the commit with ErrFenced, whatever the retry.
// This is what stops a zombie (a writer that lost its partition) or a replay
// from committing the same offsets twice.
type FenceRange struct {
	AppID    string
	From, To int64
	First    bool
}

// KafkaAppID is the fencing appId of a Kafka partition:
// "<group>/<topic>/<partition>".
func KafkaAppID(group, topic string, partition int32) string {
	return group + "/" + topic + "/" + strconv.Itoa(int(partition))
}

// FenceError details a fencing refusal. errors.Is(err, ErrFenced) holds.
type FenceError struct {
	Fence FenceRange
	// Current is the table's txn version for the appId where the refusal was
	// decided (Present false: none). For a Kafka partition it is the offset
	// the table has consumed up to.
	Current int64
	Present bool
	// Version is the table version that holds Current (the base snapshot or
	// the concurrent commit that moved the appId).
	Version int64
}

func (e *FenceError) Error() string {
	f := e.Fence
	want := "txn version " + strconv.FormatInt(f.From, 10)
	if f.First {
		want = "no txn"
	}
	got := "none"
	if e.Present {
		got = strconv.FormatInt(e.Current, 10)
	}
	return fmt.Sprintf("%v: appId %s range [%d,%d) needs %s, table version %d has %s",
		ErrFenced, f.AppID, f.From, f.To, want, e.Version, got)
}

// Is makes errors.Is(err, ErrFenced) true.
func (e *FenceError) Is(target error) bool { return target == ErrFenced }

// Txn is one commit request.
type Txn struct {
	Isolation Isolation
	Adds      []Add
	// Removes are only allowed with Rewrite isolation. Build them with
	// RemoveOf; a zero DeletionTimestamp is filled with the commit time.
	Removes []Remove
	Fences  []FenceRange
	// Metadata, when set, replaces the table metadata (schema evolution,
	// properties). Such a commit conflicts with every concurrent commit.
	Metadata *Metadata
	// Operation is commitInfo.operation (default "WRITE").
	Operation string
	// OperationParameters is commitInfo.operationParameters.
	OperationParameters map[string]string
	// Info holds extra commitInfo fields (use a "shelflake." prefix). The
	// reserved fields written by Commit may not be overridden.
	Info map[string]any
}

// CommitResult describes a successful commit.
type CommitResult struct {
	// Version is the table version the commit became.
	Version int64
	// Snapshot is the table state at Version: the base snapshot plus the
	// concurrent commits that won races plus this commit. Use it as the
	// base of the next commit.
	Snapshot *Snapshot
	// Attempts counts put-if-absent attempts (1 without contention).
	Attempts int
	// TxnID is the commitInfo.txnId written (unique per Commit call).
	TxnID string
	// CheckpointErr is set when the commit succeeded but writing the
	// checkpoint due at Version failed (the next due checkpoint retries).
	CheckpointErr error
}

var reservedInfo = []string{
	"timestamp", "operation", "operationParameters", "readVersion", "isolationLevel",
	"isBlindAppend", "engineInfo", "txnId", "operationMetrics", "shelflake.fences",
	"inCommitTimestamp",
}

// validateTxn checks a request on its own (pure).
func validateTxn(txn *Txn) error {
	if txn.Isolation != Append && txn.Isolation != Rewrite {
		return fmt.Errorf("%w: unknown isolation %d", ErrInvalidTxn, txn.Isolation)
	}
	if txn.Isolation == Append && len(txn.Removes) > 0 {
		return fmt.Errorf("%w: append isolation with %d removes", ErrInvalidTxn, len(txn.Removes))
	}
	if len(txn.Adds) == 0 && len(txn.Removes) == 0 && len(txn.Fences) == 0 && txn.Metadata == nil {
		return fmt.Errorf("%w: empty commit", ErrInvalidTxn)
	}
	seen := map[fileKey]bool{}
	for i := range txn.Adds {
		a := &txn.Adds[i]
		if a.DeletionVector != nil {
			return fmt.Errorf("%w: add %s carries a deletion vector", ErrInvalidTxn, a.Path)
		}
		k, _, err := keyOf(a.Path, nil)
		if err != nil || a.Path == "" {
			return fmt.Errorf("%w: add path %q: %v", ErrInvalidTxn, a.Path, err)
		}
		if seen[k] {
			return fmt.Errorf("%w: file %s added twice", ErrInvalidTxn, a.Path)
		}
		seen[k] = true
		if a.Size < 0 {
			return fmt.Errorf("%w: add %s has size %d", ErrInvalidTxn, a.Path, a.Size)
		}
	}
	seen = map[fileKey]bool{}
	for i := range txn.Removes {
		r := &txn.Removes[i]
		k, _, err := keyOf(r.Path, r.DeletionVector)
		if err != nil || r.Path == "" {
			return fmt.Errorf("%w: remove path %q: %v", ErrInvalidTxn, r.Path, err)
		}
		if seen[k] {
			return fmt.Errorf("%w: file %s removed twice", ErrInvalidTxn, r.Path)
		}
		seen[k] = true
	}
	apps := map[string]bool{}
	for _, f := range txn.Fences {
		if f.AppID == "" {
			return fmt.Errorf("%w: fence without appId", ErrInvalidTxn)
		}
		if apps[f.AppID] {
			return fmt.Errorf("%w: appId %s fenced twice", ErrInvalidTxn, f.AppID)
		}
		apps[f.AppID] = true
		if f.From < 0 || f.To <= f.From {
			return fmt.Errorf("%w: appId %s range [%d,%d)", ErrInvalidTxn, f.AppID, f.From, f.To)
		}
	}
	for k := range txn.Info {
		if slices.Contains(reservedInfo, k) {
			return fmt.Errorf("%w: commitInfo field %q is reserved", ErrInvalidTxn, k)
		}
	}
	return nil
}

// checkBase checks a request against the snapshot it was planned on (pure):
// writable protocol, partition values present, append-only tables, fences
// matching the base's txn versions, and removed files live.
func checkBase(base *Snapshot, txn *Txn) error {
	st := base.st
	md := *st.metadata
	if txn.Metadata != nil {
		md = *txn.Metadata
	}
	if err := checkWritable(*st.protocol, md); err != nil {
		return err
	}
	if len(txn.Removes) > 0 && appendOnly(*st.metadata) {
		for _, r := range txn.Removes {
			if r.DataChange {
				return fmt.Errorf("%w: table is append-only (delta.appendOnly) and the commit removes data", ErrInvalidTxn)
			}
		}
	}
	for i := range txn.Adds {
		a := &txn.Adds[i]
		for _, c := range md.PartitionColumns {
			if _, ok := a.PartitionValues[c]; !ok {
				return fmt.Errorf("%w: add %s lacks partition value for %s", ErrInvalidTxn, a.Path, c)
			}
		}
	}
	for _, f := range txn.Fences {
		cur, ok := st.txns[f.AppID]
		if f.First == ok || (ok && cur.Version != f.From) {
			return &FenceError{Fence: f, Current: cur.Version, Present: ok, Version: st.version}
		}
	}
	for i := range txn.Removes {
		r := &txn.Removes[i]
		k, _, _ := keyOf(r.Path, r.DeletionVector)
		if _, ok := st.files[k]; !ok {
			return fmt.Errorf("%w: removed file %s is not live at version %d", ErrConflict, r.Path, st.version)
		}
	}
	return nil
}

// checkWinner decides whether a concurrent commit (version v, its actions)
// that won the race invalidates txn (pure). removed holds the keys of the
// files txn removes.
func checkWinner(txn *Txn, removed map[fileKey]bool, v int64, winner []Action) error {
	fences := map[string]FenceRange{}
	for _, f := range txn.Fences {
		fences[f.AppID] = f
	}
	for i := range winner {
		a := &winner[i]
		switch {
		case a.Protocol != nil:
			return fmt.Errorf("%w: version %d changed the protocol", ErrConflict, v)
		case a.Metadata != nil:
			return fmt.Errorf("%w: version %d changed the metadata", ErrConflict, v)
		case a.Txn != nil:
			if f, ok := fences[a.Txn.AppID]; ok {
				return &FenceError{Fence: f, Current: a.Txn.Version, Present: true, Version: v}
			}
		case a.Remove != nil:
			if len(removed) > 0 {
				k, _, err := keyOf(a.Remove.Path, a.Remove.DeletionVector)
				if err != nil {
					return fmt.Errorf("version %d: %w", v, err)
				}
				if removed[k] {
					return fmt.Errorf("%w: file %s was removed by version %d", ErrConflict, a.Remove.Path, v)
				}
			}
		}
	}
	if txn.Metadata != nil {
		return fmt.Errorf("%w: metadata change raced with version %d", ErrConflict, v)
	}
	return nil
}

// buildActions lays out the commit file: commitInfo first, then metadata,
// txns, removes, adds.
func buildActions(txn *Txn, readVersion int64, txnID string, ts time.Time) []Action {
	ms := ts.UnixMilli()
	op := txn.Operation
	if op == "" {
		op = "WRITE"
	}
	params := txn.OperationParameters
	if params == nil {
		params = map[string]string{}
	}
	var bytesAdded, rows int64
	rowsKnown := true
	for i := range txn.Adds {
		bytesAdded += txn.Adds[i].Size
		if s, err := txn.Adds[i].ParseStats(); err == nil && s != nil {
			rows += s.NumRecords
		} else {
			rowsKnown = false
		}
	}
	metrics := map[string]string{
		"numFiles":        strconv.Itoa(len(txn.Adds)),
		"numRemovedFiles": strconv.Itoa(len(txn.Removes)),
		"numOutputBytes":  strconv.FormatInt(bytesAdded, 10),
	}
	if rowsKnown {
		metrics["numOutputRows"] = strconv.FormatInt(rows, 10)
	}
	info := CommitInfo{}
	maps.Copy(info, txn.Info)
	info["timestamp"] = ms
	info["operation"] = op
	info["operationParameters"] = params
	info["readVersion"] = readVersion
	info["isolationLevel"] = "WriteSerializable"
	info["isBlindAppend"] = txn.Isolation == Append && txn.Metadata == nil
	info["engineInfo"] = EngineInfo
	info["txnId"] = txnID
	info["operationMetrics"] = metrics
	if len(txn.Fences) > 0 {
		fs := make([]map[string]any, len(txn.Fences))
		for i, f := range txn.Fences {
			fs[i] = map[string]any{"appId": f.AppID, "from": f.From, "to": f.To}
		}
		info["shelflake.fences"] = fs
	}

	acts := make([]Action, 0, 2+len(txn.Fences)+len(txn.Removes)+len(txn.Adds))
	acts = append(acts, Action{CommitInfo: info})
	if txn.Metadata != nil {
		acts = append(acts, Action{Metadata: txn.Metadata})
	}
	for _, f := range txn.Fences {
		acts = append(acts, Action{Txn: &SetTransaction{AppID: f.AppID, Version: f.To, LastUpdated: &ms}})
	}
	for i := range txn.Removes {
		r := txn.Removes[i]
		if r.DeletionTimestamp == nil {
			r.DeletionTimestamp = &ms
		}
		acts = append(acts, Action{Remove: &r})
	}
	for i := range txn.Adds {
		acts = append(acts, Action{Add: &txn.Adds[i]})
	}
	return acts
}

func isOurs(acts []Action, txnID string) bool {
	return commitInfoOf(acts).TxnID() == txnID
}

// nextTimestamp keeps commit timestamps strictly increasing with versions.
func nextTimestamp(now, prev time.Time) time.Time {
	now = now.Truncate(time.Millisecond)
	if !prev.IsZero() && !now.After(prev) {
		return prev.Add(time.Millisecond)
	}
	return now
}

// Commit writes txn as the next version after base (the snapshot it was
// planned on), with put-if-absent of _delta_log/%020d.json.
//
// On a lost race it reads the winning commits one by one and either gives
// up — ErrFenced (*FenceError) when a winner moved a fenced appId,
// ErrConflict when a winner removed a file this rewrite removes or changed
// metadata/protocol — or tries the next free version, at most
// Options.MaxCommitAttempts times (ErrTooManyAttempts). A put whose response
// was lost but which was applied is recognised by its commitInfo.txnId and
// reported as success. If the put fails otherwise and the version does not
// hold our commit, the error is returned and the outcome is unknown only if
// the store may still apply the write later; fences make a retry by the
// caller safe in that case (the late write or the retry is refused).
//
// After a commit whose version is a multiple of CheckpointInterval, Commit
// writes a checkpoint; its failure does not fail the commit (see
// CommitResult.CheckpointErr).
func (t *Table) Commit(ctx context.Context, base *Snapshot, txn Txn) (CommitResult, error) {
	start := time.Now()
	res, err := t.commit(ctx, base, &txn)
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrFenced):
		result = "fenced"
	case errors.Is(err, ErrConflict):
		result = "conflict"
	default:
		result = "error"
	}
	t.observeCommit(result, time.Since(start))
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit to %s: %w", t, err)
	}
	if t.opts.AfterCommit != nil {
		t.opts.AfterCommit(ctx, t, res.Snapshot)
	}
	return res, nil
}

func (t *Table) commit(ctx context.Context, base *Snapshot, txn *Txn) (CommitResult, error) {
	if base == nil {
		return CommitResult{}, fmt.Errorf("%w: nil base snapshot", ErrInvalidTxn)
	}
	if base.prefix != t.prefix {
		return CommitResult{}, fmt.Errorf("%w: base snapshot belongs to table prefix %q", ErrInvalidTxn, base.prefix)
	}
	if err := validateTxn(txn); err != nil {
		return CommitResult{}, err
	}
	if err := checkBase(base, txn); err != nil {
		return CommitResult{}, fmt.Errorf("read version %d: %w", base.Version(), err)
	}
	removed := make(map[fileKey]bool, len(txn.Removes))
	for i := range txn.Removes {
		k, _, _ := keyOf(txn.Removes[i].Path, txn.Removes[i].DeletionVector)
		removed[k] = true
	}
	txnID := uuid.NewString()
	v := base.Version() + 1
	prevTs := base.timestamp
	var winners [][]Action
	for attempt := 1; ; attempt++ {
		if attempt > t.opts.MaxCommitAttempts {
			return CommitResult{}, fmt.Errorf("%w: %d attempts, last tried version %d", ErrTooManyAttempts, attempt-1, v)
		}
		ts := nextTimestamp(t.opts.Now(), prevTs)
		acts := buildActions(txn, base.Version(), txnID, ts)
		data, err := EncodeActions(acts)
		if err != nil {
			return CommitResult{}, err
		}
		t.observeAttempt()
		err = t.bucket.PutIfAbsent(ctx, t.commitKey(v), data)
		if err == nil {
			return t.committed(ctx, base, winners, acts, v, ts, attempt, txnID)
		}
		if !errors.Is(err, objstore.ErrExists) {
			// The put may have been applied before failing: look.
			if got, rerr := t.readCommit(ctx, v); rerr == nil && isOurs(got, txnID) {
				return t.committed(ctx, base, winners, got, v, ts, attempt, txnID)
			}
			return CommitResult{}, fmt.Errorf("commit version %d: %w", v, err)
		}
		// Lost the race at v: read winners from v on until a free version.
		for {
			got, err := t.readCommit(ctx, v)
			if errors.Is(err, objstore.ErrNotExist) {
				break
			}
			if err != nil {
				return CommitResult{}, fmt.Errorf("commit version %d: %w", v, err)
			}
			if isOurs(got, txnID) {
				// An earlier attempt of ours landed (its response was lost).
				cts, _ := commitInfoOf(got).Timestamp()
				return t.committed(ctx, base, winners, got, v, cts, attempt, txnID)
			}
			if err := checkWinner(txn, removed, v, got); err != nil {
				return CommitResult{}, fmt.Errorf("read version %d: %w", base.Version(), err)
			}
			if wts, ok := commitInfoOf(got).Timestamp(); ok && wts.After(prevTs) {
				prevTs = wts
			}
			winners = append(winners, got)
			v++
		}
		if ts.After(prevTs) {
			prevTs = ts
		}
	}
}

// committed builds the result snapshot (base + winners + ours) and writes
// the checkpoint when one is due.
func (t *Table) committed(ctx context.Context, base *Snapshot, winners [][]Action, ours []Action, v int64, ts time.Time, attempts int, txnID string) (CommitResult, error) {
	st := base.st.clone()
	for i, w := range winners {
		if err := st.apply(w); err != nil {
			return CommitResult{}, fmt.Errorf("committed version %d; replay of version %d: %w", v, base.Version()+1+int64(i), err)
		}
	}
	if err := st.apply(ours); err != nil {
		return CommitResult{}, fmt.Errorf("committed version %d; replay: %w", v, err)
	}
	st.version = v
	snap := &Snapshot{prefix: t.prefix, st: st, commitInfo: commitInfoOf(ours), timestamp: ts}
	res := CommitResult{Version: v, Snapshot: snap, Attempts: attempts, TxnID: txnID}
	if iv := t.opts.CheckpointInterval; iv > 0 && v%iv == 0 {
		if err := t.Checkpoint(ctx, snap); err != nil {
			t.opts.Logger.Warn("checkpoint after commit", "table", t.name, "version", v, "err", err)
			res.CheckpointErr = err
		}
	}
	return res, nil
}

// NewMetadata returns the metadata of a new parquet table with a fresh id.
func NewMetadata(schemaString string, partitionColumns []string, configuration map[string]string, created time.Time) Metadata {
	ms := created.UnixMilli()
	if partitionColumns == nil {
		partitionColumns = []string{}
	}
	if configuration == nil {
		configuration = map[string]string{}
	}
	return Metadata{
		ID:               uuid.NewString(),
		Format:           Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString:     schemaString,
		PartitionColumns: partitionColumns,
		Configuration:    configuration,
		CreatedTime:      &ms,
	}
}

// CreateTable writes version 0 (commitInfo, protocol 1/2, md) with
// put-if-absent. It fails with ErrTableExists when the table has any log
// (also a log whose commit 0 was cleaned up behind a checkpoint). An empty
// md.ID is filled with a fresh UUID, an empty format with parquet.
func (t *Table) CreateTable(ctx context.Context, md Metadata) (*Snapshot, error) {
	s, err := t.create(ctx, md)
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", t, err)
	}
	return s, nil
}

func (t *Table) create(ctx context.Context, md Metadata) (*Snapshot, error) {
	if md.ID == "" {
		md.ID = uuid.NewString()
	}
	if md.Format.Provider == "" {
		md.Format.Provider = "parquet"
	}
	if md.Format.Provider != "parquet" {
		return nil, fmt.Errorf("%w: format %q, only parquet", ErrInvalidTxn, md.Format.Provider)
	}
	if md.SchemaString == "" {
		return nil, fmt.Errorf("%w: empty schemaString", ErrInvalidTxn)
	}
	if md.CreatedTime == nil {
		ms := t.opts.Now().UnixMilli()
		md.CreatedTime = &ms
	}
	proto := Protocol{MinReaderVersion: WriteReaderVersion, MinWriterVersion: WriteWriterVersion}
	if err := checkWritable(proto, md); err != nil {
		return nil, err
	}
	exists := errors.New("exists")
	err := t.bucket.List(ctx, t.logPrefix, func(a objstore.Attributes) error {
		if _, ok := parseLogName(a.Key[len(t.logPrefix):]); ok {
			return exists
		}
		return nil
	})
	if errors.Is(err, exists) {
		return nil, ErrTableExists
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.logPrefix, err)
	}
	txnID := uuid.NewString()
	ts := t.opts.Now().Truncate(time.Millisecond)
	info := CommitInfo{
		"timestamp":           ts.UnixMilli(),
		"operation":           "CREATE TABLE",
		"operationParameters": map[string]string{"partitionBy": partitionByParam(md.PartitionColumns)},
		"isolationLevel":      "WriteSerializable",
		"isBlindAppend":       true,
		"engineInfo":          EngineInfo,
		"txnId":               txnID,
	}
	acts := []Action{{CommitInfo: info}, {Protocol: &proto}, {Metadata: &md}}
	data, err := EncodeActions(acts)
	if err != nil {
		return nil, err
	}
	if err := t.bucket.PutIfAbsent(ctx, t.commitKey(0), data); err != nil {
		got, rerr := t.readCommit(ctx, 0)
		if rerr != nil || !isOurs(got, txnID) {
			if errors.Is(err, objstore.ErrExists) {
				return nil, ErrTableExists
			}
			return nil, fmt.Errorf("commit version 0: %w", err)
		}
	}
	st := newState()
	if err := st.apply(acts); err != nil {
		return nil, err
	}
	st.version = 0
	return &Snapshot{prefix: t.prefix, st: st, commitInfo: info, timestamp: ts}, nil
}

func partitionByParam(cols []string) string {
	b, _ := jsonMarshalNoEscape(cols)
	return string(b)
}

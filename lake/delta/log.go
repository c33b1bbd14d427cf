package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/objstore"
)

// checkpointRef names one checkpoint: its version and number of parts
// (0 for a classic single-file checkpoint).
type checkpointRef struct {
	version int64
	parts   int
}

// keys returns the bucket keys of the checkpoint's files relative to the
// log prefix.
func (c checkpointRef) names() []string {
	if c.parts == 0 {
		return []string{fmt.Sprintf("%020d.checkpoint.parquet", c.version)}
	}
	out := make([]string, c.parts)
	for i := range out {
		out[i] = fmt.Sprintf("%020d.checkpoint.%010d.%010d.parquet", c.version, i+1, c.parts)
	}
	return out
}

// logFile is one parsed name in _delta_log/.
type logFile struct {
	version int64
	kind    int // logCommit, logCheckpoint
	part    int // 1-based part of a multi-part checkpoint, 0 for classic
	parts   int // number of parts, 0 for classic
}

const (
	logCommit = iota + 1
	logCheckpoint
)

// parseLogName parses a file name directly in _delta_log/. It recognises
// commits (%020d.json), classic checkpoints (%020d.checkpoint.parquet) and
// multi-part checkpoints (%020d.checkpoint.%010d.%010d.parquet); anything
// else (CRC files, _last_checkpoint, log compactions, UUID-named v2
// checkpoints, subdirectories) returns ok=false.
func parseLogName(name string) (logFile, bool) {
	if len(name) < 21 || strings.Contains(name, "/") {
		return logFile{}, false
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil || v < 0 || name[20] != '.' {
		return logFile{}, false
	}
	rest := name[21:]
	switch {
	case rest == "json":
		return logFile{version: v, kind: logCommit}, true
	case rest == "checkpoint.parquet":
		return logFile{version: v, kind: logCheckpoint}, true
	case strings.HasPrefix(rest, "checkpoint.") && strings.HasSuffix(rest, ".parquet"):
		mid := strings.TrimSuffix(strings.TrimPrefix(rest, "checkpoint."), ".parquet")
		a, b, ok := strings.Cut(mid, ".")
		if !ok || len(a) != 10 || len(b) != 10 {
			return logFile{}, false
		}
		part, err1 := strconv.Atoi(a)
		parts, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || part < 1 || parts < 1 || part > parts {
			return logFile{}, false
		}
		return logFile{version: v, kind: logCheckpoint, part: part, parts: parts}, true
	}
	return logFile{}, false
}

// listing is what a listing of _delta_log/ found.
type listing struct {
	commits     []int64 // ascending
	commitAttrs map[int64]objstore.Attributes
	checkpoints []checkpointRef // complete ones, ascending by version
}

func (l *listing) latest() int64 {
	v := int64(-1)
	if n := len(l.commits); n > 0 {
		v = l.commits[n-1]
	}
	if n := len(l.checkpoints); n > 0 && l.checkpoints[n-1].version > v {
		v = l.checkpoints[n-1].version
	}
	return v
}

func (l *listing) hasCommit(v int64) bool {
	i := sort.Search(len(l.commits), func(i int) bool { return l.commits[i] >= v })
	return i < len(l.commits) && l.commits[i] == v
}

// buildListing groups parsed log names: commits, and the complete
// checkpoints (a classic one, or a multi-part one with every part present;
// incomplete multi-part checkpoints are ignored as the protocol requires).
func buildListing(files []logFile, attrs []objstore.Attributes) *listing {
	l := &listing{commitAttrs: map[int64]objstore.Attributes{}}
	type mp struct {
		seen map[int]bool
	}
	multi := map[[2]int64]*mp{}
	classic := map[int64]bool{}
	for i, f := range files {
		switch f.kind {
		case logCommit:
			l.commits = append(l.commits, f.version)
			if attrs != nil {
				l.commitAttrs[f.version] = attrs[i]
			}
		case logCheckpoint:
			if f.parts == 0 {
				classic[f.version] = true
				continue
			}
			k := [2]int64{f.version, int64(f.parts)}
			m := multi[k]
			if m == nil {
				m = &mp{seen: map[int]bool{}}
				multi[k] = m
			}
			m.seen[f.part] = true
		}
	}
	sort.Slice(l.commits, func(i, j int) bool { return l.commits[i] < l.commits[j] })
	best := map[int64]checkpointRef{}
	for v := range classic {
		best[v] = checkpointRef{version: v}
	}
	for k, m := range multi {
		if len(m.seen) != int(k[1]) {
			continue
		}
		if _, ok := best[k[0]]; !ok {
			best[k[0]] = checkpointRef{version: k[0], parts: int(k[1])}
		}
	}
	for _, c := range best {
		l.checkpoints = append(l.checkpoints, c)
	}
	sort.Slice(l.checkpoints, func(i, j int) bool { return l.checkpoints[i].version < l.checkpoints[j].version })
	return l
}

func (t *Table) listLog(ctx context.Context) (*listing, error) {
	var files []logFile
	var attrs []objstore.Attributes
	err := t.bucket.List(ctx, t.logPrefix, func(a objstore.Attributes) error {
		if f, ok := parseLogName(strings.TrimPrefix(a.Key, t.logPrefix)); ok {
			files = append(files, f)
			attrs = append(attrs, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t.logPrefix, err)
	}
	return buildListing(files, attrs), nil
}

// readAll reads a whole object.
func (t *Table) readAll(ctx context.Context, key string) ([]byte, error) {
	rc, err := t.bucket.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// readCommit reads and decodes commit v. A missing commit returns an error
// wrapping objstore.ErrNotExist.
func (t *Table) readCommit(ctx context.Context, v int64) ([]Action, error) {
	b, err := t.readAll(ctx, t.commitKey(v))
	if err != nil {
		return nil, fmt.Errorf("read commit %d: %w", v, err)
	}
	acts, err := DecodeActions(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode commit %d: %w", v, err)
	}
	return acts, nil
}

// CommitActions returns the actions of the commit of version v, in file
// order. A version whose commit file is gone (or was never written) is an
// error wrapping objstore.ErrNotExist.
func (t *Table) CommitActions(ctx context.Context, v int64) ([]Action, error) {
	acts, err := t.readCommit(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return acts, nil
}

// readCommits reads commits [from, to] concurrently (bounded).
func (t *Table) readCommits(ctx context.Context, from, to int64) ([][]Action, error) {
	if to < from {
		return nil, nil
	}
	out := make([][]Action, to-from+1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.opts.ReadConcurrency)
	for v := from; v <= to; v++ {
		g.Go(func() error {
			acts, err := t.readCommit(gctx, v)
			if err != nil {
				return err
			}
			out[v-from] = acts
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func commitInfoOf(acts []Action) CommitInfo {
	for i := range acts {
		if acts[i].CommitInfo != nil {
			return acts[i].CommitInfo
		}
	}
	return nil
}

// lastCheckpoint is the _last_checkpoint file (fields shelflake reads and
// writes; others are ignored).
type lastCheckpoint struct {
	Version       int64 `json:"version"`
	Size          int64 `json:"size"`
	Parts         *int  `json:"parts,omitempty"`
	SizeInBytes   int64 `json:"sizeInBytes,omitempty"`
	NumOfAddFiles int64 `json:"numOfAddFiles,omitempty"`
}

// readLastCheckpoint returns the _last_checkpoint hint. ok is false when it
// is missing or unusable (empty, not JSON, nonsense values); the reason is
// logged, never returned: the hint is only a hint.
func (t *Table) readLastCheckpoint(ctx context.Context) (checkpointRef, bool) {
	b, err := t.readAll(ctx, t.lastCheckpointKey())
	if err != nil {
		// Not worth a warning: a missing hint, a canceled read, and an
		// endpoint never reached (the listing that follows fails with it).
		var ue *objstore.UnreachableError
		if !errors.Is(err, objstore.ErrNotExist) && ctx.Err() == nil && !errors.As(err, &ue) {
			t.opts.Logger.Warn("reading _last_checkpoint", "table", t.name, "err", err)
		}
		return checkpointRef{}, false
	}
	ref, err := parseLastCheckpoint(b)
	if err != nil {
		t.opts.Logger.Warn("ignoring unusable _last_checkpoint", "table", t.name, "err", err)
		return checkpointRef{}, false
	}
	return ref, true
}

func parseLastCheckpoint(b []byte) (checkpointRef, error) {
	var lc lastCheckpoint
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&lc); err != nil {
		return checkpointRef{}, fmt.Errorf("parse _last_checkpoint: %w", err)
	}
	// Fields are required by the protocol; detect their absence.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return checkpointRef{}, fmt.Errorf("parse _last_checkpoint: %w", err)
	}
	if _, ok := raw["version"]; !ok {
		return checkpointRef{}, errors.New("parse _last_checkpoint: no version")
	}
	if lc.Version < 0 {
		return checkpointRef{}, fmt.Errorf("parse _last_checkpoint: version %d", lc.Version)
	}
	ref := checkpointRef{version: lc.Version}
	if lc.Parts != nil {
		if *lc.Parts < 1 || *lc.Parts > 100000 {
			return checkpointRef{}, fmt.Errorf("parse _last_checkpoint: parts %d", *lc.Parts)
		}
		ref.parts = *lc.Parts
	}
	return ref, nil
}

// Snapshot loads the latest version of the table.
func (t *Table) Snapshot(ctx context.Context) (*Snapshot, error) {
	s, err := t.load(ctx, -1)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", t, err)
	}
	return s, nil
}

// SnapshotAt loads version v of the table (time travel by version). It uses
// the newest checkpoint at or before v.
func (t *Table) SnapshotAt(ctx context.Context, v int64) (*Snapshot, error) {
	if v < 0 {
		return nil, fmt.Errorf("snapshot of %s at version %d: %w", t, v, ErrVersionNotFound)
	}
	s, err := t.load(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s at version %d: %w", t, v, err)
	}
	return s, nil
}

// SnapshotAsOf loads the latest version whose commit timestamp is at or
// before ts (time travel by time).
//
// A version's commit timestamp is commitInfo.inCommitTimestamp when present,
// else commitInfo.timestamp, else the commit file's LastModified in the
// bucket. shelflake writes a commitInfo.timestamp that increases strictly
// with the version (max(writer clock, previous + 1 ms)), so the search is a
// binary search over versions. Deviation from Spark, which uses file
// modification times for tables without in-commit timestamps: those change
// when a table is copied, commitInfo does not.
func (t *Table) SnapshotAsOf(ctx context.Context, ts time.Time) (*Snapshot, error) {
	l, err := t.listLog(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s as of %s: %w", t, ts.Format(time.RFC3339Nano), err)
	}
	v, err := t.versionAsOf(ctx, l, ts)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s as of %s: %w", t, ts.Format(time.RFC3339Nano), err)
	}
	s, err := t.load(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s as of %s (version %d): %w", t, ts.Format(time.RFC3339Nano), v, err)
	}
	return s, nil
}

// VersionRange is the range of versions of a table that time travel can
// read, with their commit timestamps (see SnapshotAsOf).
type VersionRange struct {
	Oldest, Latest         int64
	OldestTime, LatestTime time.Time
}

// String renders the range as "0..41, 2026-05-05T10:00:00Z..2026-05-06T08:00:00Z".
func (r VersionRange) String() string {
	return fmt.Sprintf("%d..%d, %s..%s", r.Oldest, r.Latest,
		r.OldestTime.UTC().Format(time.RFC3339), r.LatestTime.UTC().Format(time.RFC3339))
}

// Versions returns the versions SnapshotAt and SnapshotAsOf can read: from
// version 0, or the oldest checkpoint once early commits are gone, to the
// latest commit. A table without commits is ErrTableNotFound. It lists the
// log and reads two commits.
func (t *Table) Versions(ctx context.Context) (VersionRange, error) {
	l, err := t.listLog(ctx)
	if err != nil {
		return VersionRange{}, fmt.Errorf("versions of %s: %w", t, err)
	}
	vs := travelVersions(l)
	if len(vs) == 0 {
		return VersionRange{}, fmt.Errorf("versions of %s: %w", t, ErrTableNotFound)
	}
	r := VersionRange{Oldest: vs[0], Latest: vs[len(vs)-1]}
	if r.OldestTime, err = t.commitTime(ctx, l, r.Oldest); err != nil {
		return VersionRange{}, fmt.Errorf("versions of %s: commit %d: %w", t, r.Oldest, err)
	}
	if r.LatestTime, err = t.commitTime(ctx, l, r.Latest); err != nil {
		return VersionRange{}, fmt.Errorf("versions of %s: commit %d: %w", t, r.Latest, err)
	}
	return r, nil
}

// travelVersions returns the versions a snapshot can be built for and whose
// commit file exists (so its timestamp is known), ascending.
func travelVersions(l *listing) []int64 {
	earliest := int64(-1)
	if len(l.checkpoints) > 0 {
		earliest = l.checkpoints[0].version
	}
	if l.hasCommit(0) {
		earliest = 0
	}
	if earliest < 0 {
		return nil
	}
	var out []int64
	for _, v := range l.commits {
		if v >= earliest {
			out = append(out, v)
		}
	}
	return out
}

// versionAsOf is the latest version with commit timestamp <= ts.
func (t *Table) versionAsOf(ctx context.Context, l *listing, ts time.Time) (int64, error) {
	vs := travelVersions(l)
	if len(vs) == 0 {
		return 0, ErrTableNotFound
	}
	var firstErr error
	// first index whose timestamp is > ts
	i := sort.Search(len(vs), func(i int) bool {
		c, err := t.commitTime(ctx, l, vs[i])
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return c.After(ts)
	})
	if firstErr != nil {
		return 0, firstErr
	}
	if i == 0 {
		first, _ := t.commitTime(ctx, l, vs[0])
		return 0, fmt.Errorf("%w: %s is before the earliest available commit (version %d at %s)",
			ErrVersionNotFound, ts.Format(time.RFC3339Nano), vs[0], first.Format(time.RFC3339Nano))
	}
	return vs[i-1], nil
}

// commitTime is the commit timestamp of version v (see SnapshotAsOf).
func (t *Table) commitTime(ctx context.Context, l *listing, v int64) (time.Time, error) {
	acts, err := t.readCommit(ctx, v)
	if err != nil {
		return time.Time{}, err
	}
	if ts, ok := commitInfoOf(acts).Timestamp(); ok {
		return ts, nil
	}
	if a, ok := l.commitAttrs[v]; ok {
		return a.LastModified, nil
	}
	a, err := t.bucket.Stat(ctx, t.commitKey(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("stat commit %d: %w", v, err)
	}
	return a.LastModified, nil
}

// load builds the snapshot at target (-1: latest).
//
// Fast path: the _last_checkpoint hint names a checkpoint at or before the
// target; load it, then read commits after it (until the target, or until
// the first missing one for the latest). Any failure there — a corrupt
// hint, missing or unreadable checkpoint parts, a gap — falls back to
// listing _delta_log/: newest complete checkpoint at or before the target
// that loads, else replay from commit 0.
func (t *Table) load(ctx context.Context, target int64) (*Snapshot, error) {
	if ref, ok := t.readLastCheckpoint(ctx); ok && (target < 0 || ref.version <= target) {
		s, err := t.loadFromHint(ctx, ref, target)
		if err == nil {
			return s, nil
		}
		if errors.Is(err, ErrUnsupportedProtocol) || ctx.Err() != nil {
			return nil, err
		}
		level := slog.LevelWarn
		if errors.Is(err, ErrVersionNotFound) {
			level = slog.LevelDebug // e.g. a version past the latest
		}
		t.opts.Logger.Log(ctx, level, "falling back to listing the log", "table", t.name, "version", ref.version, "err", err)
	}
	l, err := t.listLog(ctx)
	if err != nil {
		return nil, err
	}
	latest := l.latest()
	if latest < 0 {
		return nil, ErrTableNotFound
	}
	if target < 0 {
		target = latest
	}
	if target > latest {
		return nil, fmt.Errorf("%w: version %d, latest is %d", ErrVersionNotFound, target, latest)
	}
	for i := len(l.checkpoints) - 1; i >= 0; i-- {
		c := l.checkpoints[i]
		if c.version > target {
			continue
		}
		if err := checkCommitsListed(l, c.version+1, target); err != nil {
			return nil, err
		}
		st, err := t.readCheckpoint(ctx, c)
		if err != nil {
			if errors.Is(err, ErrUnsupportedProtocol) || ctx.Err() != nil {
				return nil, err
			}
			t.opts.Logger.Warn("skipping unreadable checkpoint", "table", t.name, "version", c.version, "err", err)
			continue
		}
		return t.replay(ctx, st, target)
	}
	if err := checkCommitsListed(l, 0, target); err != nil {
		return nil, err
	}
	return t.replay(ctx, newState(), target)
}

func checkCommitsListed(l *listing, from, to int64) error {
	for v := from; v <= to; v++ {
		if !l.hasCommit(v) {
			return fmt.Errorf("%w: commit %d is missing from the log and no checkpoint covers it", ErrVersionNotFound, v)
		}
	}
	return nil
}

func (t *Table) loadFromHint(ctx context.Context, ref checkpointRef, target int64) (*Snapshot, error) {
	st, err := t.readCheckpoint(ctx, ref)
	if err != nil {
		return nil, err
	}
	if target >= 0 {
		return t.replay(ctx, st, target)
	}
	// Latest: read forward until the first missing commit.
	var info CommitInfo
	for v := st.version + 1; ; v++ {
		acts, err := t.readCommit(ctx, v)
		if errors.Is(err, objstore.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := st.apply(acts); err != nil {
			return nil, fmt.Errorf("replay commit %d: %w", v, err)
		}
		st.version = v
		info = commitInfoOf(acts)
	}
	return t.finish(ctx, st, info)
}

// replay applies commits st.version+1 … target to st.
func (t *Table) replay(ctx context.Context, st *state, target int64) (*Snapshot, error) {
	from := st.version + 1
	commits, err := t.readCommits(ctx, from, target)
	if err != nil {
		if errors.Is(err, objstore.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrVersionNotFound, err)
		}
		return nil, err
	}
	var info CommitInfo
	for i, acts := range commits {
		if err := st.apply(acts); err != nil {
			return nil, fmt.Errorf("replay commit %d: %w", from+int64(i), err)
		}
		st.version = from + int64(i)
		info = commitInfoOf(acts)
	}
	if len(commits) == 0 {
		info = nil // st came from a checkpoint; finish reads the commit
	}
	return t.finish(ctx, st, info)
}

// finish validates the state and wraps it. info is the commitInfo of the
// state's version when already read (nil: read the commit, if it exists).
func (t *Table) finish(ctx context.Context, st *state, info CommitInfo) (*Snapshot, error) {
	if err := st.validate(); err != nil {
		return nil, err
	}
	if info == nil {
		acts, err := t.readCommit(ctx, st.version)
		switch {
		case err == nil:
			info = commitInfoOf(acts)
		case errors.Is(err, objstore.ErrNotExist):
		default:
			return nil, err
		}
	}
	s := &Snapshot{prefix: t.prefix, st: st, commitInfo: info}
	if ts, ok := info.Timestamp(); ok {
		s.timestamp = ts
	}
	return s, nil
}

// Update returns the latest snapshot by applying the commits after s (read
// forward until the first missing one) to a copy of s — cheaper than
// Snapshot when s is recent. It returns s itself when nothing is new.
func (t *Table) Update(ctx context.Context, s *Snapshot) (*Snapshot, error) {
	if s.prefix != t.prefix {
		return nil, fmt.Errorf("update %s: snapshot belongs to table prefix %q", t, s.prefix)
	}
	var st *state
	var info CommitInfo
	for v := s.st.version + 1; ; v++ {
		acts, err := t.readCommit(ctx, v)
		if errors.Is(err, objstore.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", t, err)
		}
		if st == nil {
			st = s.st.clone()
		}
		if err := st.apply(acts); err != nil {
			return nil, fmt.Errorf("update %s: replay commit %d: %w", t, v, err)
		}
		st.version = v
		info = commitInfoOf(acts)
	}
	if st == nil {
		return s, nil
	}
	ns, err := t.finish(ctx, st, info)
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", t, err)
	}
	return ns, nil
}

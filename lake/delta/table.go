package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shelflake/shelflake/lake/objstore"
)

// Errors, tested with errors.Is. Returned errors wrap them with context
// (table, version, file).
var (
	// ErrConflict: a concurrent commit invalidated this one (it removed a file
	// this rewrite removes, or changed the metadata or protocol). Re-plan
	// against a fresh snapshot.
	ErrConflict = errors.New("delta: conflicting concurrent commit")
	// ErrFenced: a fence range did not match the table's txn version for its
	// appId, or a concurrent commit moved that appId. The commit is refused
	// whatever the retry; the details are in a *FenceError.
	ErrFenced = errors.New("delta: fenced")
	// ErrTableExists: CreateTable found a table already there.
	ErrTableExists = errors.New("delta: table already exists")
	// ErrTableNotFound: there is no Delta log under the table prefix.
	ErrTableNotFound = errors.New("delta: table not found")
	// ErrVersionNotFound: the requested version (or a version at or before the
	// requested time) does not exist or cannot be reconstructed.
	ErrVersionNotFound = errors.New("delta: version not found")
	// ErrUnsupportedProtocol: the table needs a reader or writer version or
	// table feature this package does not implement.
	ErrUnsupportedProtocol = errors.New("delta: unsupported protocol")
	// ErrInvalidTxn: the commit request itself is malformed (caller bug).
	ErrInvalidTxn = errors.New("delta: invalid transaction")
	// ErrTooManyAttempts: Commit lost the race MaxCommitAttempts times in a row.
	ErrTooManyAttempts = errors.New("delta: too many commit attempts")
)

// EngineInfo is the commitInfo.engineInfo shelflake writes.
const EngineInfo = "shelflake"

// Options configures a Table. The zero value is usable: every field has a
// default.
type Options struct {
	// CheckpointInterval: Commit writes a Parquet checkpoint after every
	// commit whose version is a multiple of it. Default 10; negative disables.
	CheckpointInterval int64
	// MaxCommitAttempts bounds the put-if-absent attempts of one Commit.
	// Default 100.
	MaxCommitAttempts int
	// TombstoneRetention is how long remove tombstones are kept in
	// checkpoints. Default 7 days; keep it ≥ the vacuum retention.
	TombstoneRetention time.Duration
	// ReadConcurrency bounds parallel reads of commit files and vacuum's
	// parallel deletes. Default 8.
	ReadConcurrency int
	// Logger receives warnings (e.g. an unusable _last_checkpoint). Default
	// discards.
	Logger *slog.Logger
	// Metrics, shared by all tables of a process (see NewMetrics). Default none.
	Metrics *Metrics
	// Now is the clock for commit timestamps. Default time.Now.
	Now func() time.Time
	// AfterCommit, when set, is called after every successful Commit of the
	// table (not CreateTable), with the committed version's snapshot. It
	// runs in the committing goroutine; its failure cannot undo the commit,
	// so it reports nothing back (a publisher of derived metadata, such as
	// lake/iceberg, logs and catches up on a later commit).
	AfterCommit func(ctx context.Context, t *Table, s *Snapshot)
}

func (o *Options) withDefaults() Options {
	out := *o
	if out.CheckpointInterval == 0 {
		out.CheckpointInterval = 10
	}
	if out.MaxCommitAttempts == 0 {
		out.MaxCommitAttempts = 100
	}
	if out.TombstoneRetention == 0 {
		out.TombstoneRetention = 7 * 24 * time.Hour
	}
	if out.ReadConcurrency == 0 {
		out.ReadConcurrency = 8
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out
}

func (o *Options) validate() error {
	if o.MaxCommitAttempts < 0 {
		return fmt.Errorf("delta options: MaxCommitAttempts %d < 0", o.MaxCommitAttempts)
	}
	if o.TombstoneRetention < 0 {
		return fmt.Errorf("delta options: TombstoneRetention %s < 0", o.TombstoneRetention)
	}
	if o.ReadConcurrency < 0 {
		return fmt.Errorf("delta options: ReadConcurrency %d < 0", o.ReadConcurrency)
	}
	return nil
}

// Metrics are the Delta log's Prometheus metrics. Create one per process and
// share it between tables; series are labelled by table.
type Metrics struct {
	commits     *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	commitTime  *prometheus.HistogramVec
	checkpoints *prometheus.CounterVec
}

// NewMetrics registers the Delta log metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		commits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_delta_commits_total",
			Help: "Delta commits by outcome (ok, conflict, fenced, error).",
		}, []string{"table", "result"}),
		attempts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_delta_commit_attempts_total",
			Help: "Put-if-absent attempts of Delta commits, including lost races.",
		}, []string{"table"}),
		commitTime: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shelflake_delta_commit_duration_seconds",
			Help:    "Time from Commit call to outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"table"}),
		checkpoints: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shelflake_delta_checkpoints_total",
			Help: "Delta checkpoints written by outcome (ok, error).",
		}, []string{"table", "result"}),
	}
}

// Table is a Delta table: the objects under one prefix of a bucket, its log
// under <prefix>/_delta_log/. A Table holds no state besides its
// configuration; it is safe for concurrent use, and any number of Tables (in
// any number of processes) may commit to the same prefix.
type Table struct {
	bucket    objstore.Bucket
	prefix    string // "" or "a/b/" (with trailing slash)
	logPrefix string
	name      string
	opts      Options
}

// NewTable returns the table stored under prefix in bucket ("" is the bucket
// root). It does no I/O.
func NewTable(bucket objstore.Bucket, prefix string, opts Options) (*Table, error) {
	if bucket == nil {
		return nil, errors.New("delta: nil bucket")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	name := strings.TrimSuffix(p, "/")
	if name == "" {
		name = "/"
	}
	return &Table{
		bucket:    bucket,
		prefix:    p,
		logPrefix: p + "_delta_log/",
		name:      name,
		opts:      opts.withDefaults(),
	}, nil
}

// Prefix returns the table's key prefix in the bucket, with a trailing slash
// (or "" for the bucket root).
func (t *Table) Prefix() string { return t.prefix }

// Bucket returns the bucket the table lives in.
func (t *Table) Bucket() objstore.Bucket { return t.bucket }

// String names the table for logs and errors.
func (t *Table) String() string { return t.bucket.String() + "/" + strings.TrimSuffix(t.prefix, "/") }

// DataKey returns the bucket key of a table-relative data file path (not
// URI-encoded), e.g. "dt=2024-05-01/part-x.parquet" → "sales/dt=2024-05-01/part-x.parquet".
func (t *Table) DataKey(relPath string) string { return t.prefix + relPath }

func (t *Table) commitKey(v int64) string { return fmt.Sprintf("%s%020d.json", t.logPrefix, v) }

func (t *Table) lastCheckpointKey() string { return t.logPrefix + "_last_checkpoint" }

func (t *Table) observeCommit(result string, d time.Duration) {
	if m := t.opts.Metrics; m != nil {
		m.commits.WithLabelValues(t.name, result).Inc()
		m.commitTime.WithLabelValues(t.name).Observe(d.Seconds())
	}
}

func (t *Table) observeAttempt() {
	if m := t.opts.Metrics; m != nil {
		m.attempts.WithLabelValues(t.name).Inc()
	}
}

func (t *Table) observeCheckpoint(result string) {
	if m := t.opts.Metrics; m != nil {
		m.checkpoints.WithLabelValues(t.name, result).Inc()
	}
}

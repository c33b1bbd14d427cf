package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/shelflake/shelflake/schema"
)

// Defaults of Options.
const (
	DefaultGroup            = "shelflake-ingest"
	DefaultFlushInterval    = 5 * time.Second
	DefaultMaxBufferBytes   = 512 << 20
	DefaultFileBytes        = 128 << 20
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultSessionTimeout   = 45 * time.Second
	DefaultRebalanceTimeout = 60 * time.Second
	DefaultFlushWorkers     = 2
	DefaultMaxFlushDates    = 366
	DefaultCommitAttempts   = 5
)

// Topics names the five input topics. An empty name takes the default from
// schema (schema.TopicPOS, …). Each topic's dead-letter topic is its name
// plus ".dlq".
type Topics struct {
	POS           string
	Inventory     string
	PurchaseOrder string
	ItemLocation  string
	Promotion     string
}

// list returns the topics in schema.Topics' order.
func (t Topics) list() []string {
	return []string{t.POS, t.Inventory, t.PurchaseOrder, t.ItemLocation, t.Promotion}
}

func (t Topics) withDefaults() Topics {
	if t.POS == "" {
		t.POS = schema.TopicPOS
	}
	if t.Inventory == "" {
		t.Inventory = schema.TopicInventory
	}
	if t.PurchaseOrder == "" {
		t.PurchaseOrder = schema.TopicPurchaseOrder
	}
	if t.ItemLocation == "" {
		t.ItemLocation = schema.TopicItemLocation
	}
	if t.Promotion == "" {
		t.Promotion = schema.TopicPromotion
	}
	return t
}

// Kafka is how to reach the brokers.
type Kafka struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// TLS, when set, dials the brokers over TLS with this config.
	TLS *tls.Config
	// SASL, when set, authenticates with this mechanism (e.g. SCRAM from
	// franz-go's sasl/scram package).
	SASL sasl.Mechanism
	// ClientID is sent to the brokers (default "shelflake-ingest").
	ClientID string
}

// Options configure an Ingester. The zero value of every field but Kafka
// and Lake takes its default.
type Options struct {
	Kafka Kafka
	// Lake is where the tables are written (required).
	Lake Lake
	// Group is the consumer group, also the prefix of every txn appId the
	// lake keeps ("<group>/<topic>/<partition>"). Changing it starts over.
	Group  string
	Topics Topics

	// FlushInterval bounds freshness: a table holding rows (or consumed
	// offsets) for longer than this is flushed and committed.
	FlushInterval time.Duration
	// MaxBufferBytes is the global memory budget for rows waiting to be
	// committed, buffered and in flight together.
	MaxBufferBytes int64
	// FileBytes is the size target of one table's buffer (estimated
	// in-memory bytes of its rows, all dates together); reaching it
	// flushes the table. Files come out several times smaller (Parquet
	// compresses), one or more per date.
	FileBytes int64
	// ShutdownTimeout bounds the final flush, commit and group leave.
	ShutdownTimeout time.Duration
	// SessionTimeout is the consumer group session timeout: how long the
	// group waits for a silent member before giving its partitions away.
	SessionTimeout time.Duration
	// RebalanceTimeout bounds a group rebalance: how long the group waits
	// for its members to rejoin (a member that died mid-rebalance holds
	// the group this long), and so how long revoking may take to flush.
	RebalanceTimeout time.Duration
	// FlushWorkers bounds how many files are encoded and uploaded at once.
	FlushWorkers int
	// MaxFlushDates bounds the partition dates (so the files) of one
	// flush: a table whose buffer holds rows of this many dates is flushed
	// at once. A backlog spanning years (a backfill) is then committed as a
	// chain of commits of at most this many files each, written in
	// parallel, rather than as one commit of a file per day that shows
	// nothing until every file is written; a poll's records are taken
	// oldest timestamp first across partitions, so a date's rows from every
	// partition share a file. Default 366: a year of dates, so a live
	// backlog, whose dates interleave, is never cut into flushes of a few
	// rows per file.
	MaxFlushDates int
	// CommitAttempts is how many times a commit that failed for a reason
	// other than fencing (an object store error) is tried before the
	// ingester gives up on the flush and rewinds to what the lake holds.
	CommitAttempts int
	// NewGroupOK lets the ingester start under a Group that has no offsets
	// in the lake while another group's are there. Without it New refuses:
	// a new group would consume the retained topics from the start again
	// and append every record a second time.
	NewGroupOK bool
	// DisableDLQ stops producing rejects to the dead-letter topics (they
	// still go to the rejects table). Benchmarks use it.
	DisableDLQ bool

	// rewrite, in tests, changes a record's bytes before decoding: another
	// build's decoder.
	rewrite func(topic string, value []byte) []byte
	// refuseCommit, in tests, makes the commits of the tables it names
	// fail, as a process stopped before them would leave the lake.
	refuseCommit func(table string) bool

	// Logger receives the ingester's logs (default: discard).
	Logger *slog.Logger
	// Registerer receives the metrics (default: none registered).
	Registerer prometheus.Registerer
	// Now returns the current time (default time.Now); tests may pin it.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	o.Topics = o.Topics.withDefaults()
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxBufferBytes == 0 {
		o.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if o.FileBytes == 0 {
		o.FileBytes = DefaultFileBytes
	}
	// A table's buffer stays a small part of the budget, so several
	// flushes can be in flight while the buffers keep filling.
	if o.FileBytes > o.MaxBufferBytes/8 {
		o.FileBytes = max(o.MaxBufferBytes/8, 1)
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.RebalanceTimeout == 0 {
		o.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if o.FlushWorkers == 0 {
		o.FlushWorkers = DefaultFlushWorkers
	}
	if o.MaxFlushDates == 0 {
		o.MaxFlushDates = DefaultMaxFlushDates
	}
	if o.CommitAttempts == 0 {
		o.CommitAttempts = DefaultCommitAttempts
	}
	if o.Kafka.ClientID == "" {
		o.Kafka.ClientID = "shelflake-ingest"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	var errs []error
	if len(o.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if o.Lake == nil {
		errs = append(errs, errors.New("no lake"))
	}
	if o.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("flush interval %v: must be positive", o.FlushInterval))
	}
	if o.MaxBufferBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max buffer bytes %d: want at least 1 MiB", o.MaxBufferBytes))
	}
	if o.FileBytes < 0 {
		errs = append(errs, fmt.Errorf("file bytes %d: must be positive", o.FileBytes))
	}
	if o.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %v: must be positive", o.ShutdownTimeout))
	}
	if o.SessionTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("session timeout %v: want at least 100ms", o.SessionTimeout))
	}
	if o.RebalanceTimeout < time.Second {
		errs = append(errs, fmt.Errorf("rebalance timeout %v: want at least 1s", o.RebalanceTimeout))
	}
	if o.FlushWorkers < 0 || o.CommitAttempts < 0 || o.MaxFlushDates < 0 {
		errs = append(errs, errors.New("flush workers, commit attempts and max flush dates must be positive"))
	}
	seen := map[string]bool{}
	for _, t := range o.Topics.list() {
		if seen[t] {
			errs = append(errs, fmt.Errorf("topic %q named twice", t))
		}
		seen[t] = true
	}
	return errors.Join(errs...)
}

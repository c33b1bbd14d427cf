package writeback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// Outgoing is a document to send, with its JSON (Document.Marshal).
type Outgoing struct {
	Doc  *Document
	JSON []byte
}

// Result is the outcome of delivering one document over one channel.
type Result struct {
	// Status is schema.WritebackAccepted, WritebackFailed or
	// WritebackRejected.
	Status   string
	Attempts int
	// Code is the last HTTP status (0 for none); Response an excerpt of the
	// last response, or what identifies the delivery (Kafka offset, file).
	Code     int
	Response string
	// Err is the last error (nil when accepted).
	Err         error
	First, Last time.Time
}

// Channel delivers documents somewhere.
//
// Contract: Send returns one Result per document, in the order given, once
// every document has an outcome (it may send them concurrently). A document
// the receiver already holds (same external_ref) must come back accepted,
// never doubled: the receiver deduplicates by key, so a resend after a lost
// acknowledgement is harmless. Send is called from one goroutine at a time.
type Channel interface {
	// Name is the channel's name in erp_writeback_log: http, kafka,
	// file:/abs/dir (one name per outbox directory).
	Name() string
	Send(ctx context.Context, docs []Outgoing) []Result
}

// Scoped is a Channel that serves only some documents: an ERP that holds
// some of the locations (package forecast/writeback/route). The Deliverer
// sends a Scoped channel, and logs on it, only the documents it Serves.
type Scoped interface {
	Serves(d *Document) bool
}

// Options configure a Deliverer.
type Options struct {
	// Channels are where documents go (at least one).
	Channels []Channel
	// Logger receives the deliveries' logs. Default: discard.
	Logger *slog.Logger
	// Metrics, when set, receives each Deliver's outcome.
	Metrics *Metrics
	// LogTimeout bounds the erp_writeback_log commit made after the sends,
	// which runs even when the caller's context has ended so that what was
	// sent is recorded. Default 1 minute.
	LogTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LogTimeout <= 0 {
		o.LogTimeout = time.Minute
	}
	return o
}

func (o Options) validate() error {
	if len(o.Channels) == 0 {
		return errors.New("write-back: no channels")
	}
	seen := map[string]bool{}
	for _, c := range o.Channels {
		if seen[c.Name()] {
			return fmt.Errorf("write-back: channel %s twice", c.Name())
		}
		seen[c.Name()] = true
	}
	return nil
}

// Deliverer sends documents over its channels and records each delivery in
// erp_writeback_log. Deliver calls must not overlap (one write-back at a
// time per lake; concurrent ones stay safe because receivers deduplicate by
// key, but may send a document twice).
type Deliverer struct {
	l    *lake.Lake
	o    Options
	log  *slog.Logger
	logT *schema.Table
}

// New returns a Deliverer writing its log to l.
func New(l *lake.Lake, opts Options) (*Deliverer, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	return &Deliverer{l: l, o: opts, log: opts.Logger, logT: schema.TableERPWritebackLog()}, nil
}

// ChannelReport counts the outcomes on one channel.
type ChannelReport struct {
	// AlreadyAccepted were skipped: the log shows them accepted.
	Accepted, AlreadyAccepted, Failed, Rejected int
}

// Report describes one Deliver or Retry.
type Report struct {
	// Documents is the number of documents considered.
	Documents int
	ByChannel map[string]ChannelReport
	// Totals over channels (a document counts once per channel).
	Accepted, AlreadyAccepted, Failed, Rejected int
	// LogVersion is the erp_writeback_log version committed (-1: nothing
	// sent, nothing committed).
	LogVersion int64
	// Unreachable is the message of the first channel endpoint that could
	// not be connected to at all (its documents failed without retries).
	Unreachable string `json:",omitempty"`
}

func (r *Report) add(ch string, f func(*ChannelReport)) {
	c := r.ByChannel[ch]
	f(&c)
	r.ByChannel[ch] = c
}

func (r *Report) total() {
	r.Accepted, r.AlreadyAccepted, r.Failed, r.Rejected = 0, 0, 0, 0
	for _, c := range r.ByChannel {
		r.Accepted += c.Accepted
		r.AlreadyAccepted += c.AlreadyAccepted
		r.Failed += c.Failed
		r.Rejected += c.Rejected
	}
}

// state is the latest log row of a document on a channel.
type stateKey struct{ key, channel string }

// readState returns the latest status of every (document, channel) in the
// log: the row with the latest last_attempt_at, accepted winning ties.
func (d *Deliverer) readState(ctx context.Context) (map[stateKey]schema.ERPWritebackLogRow, *delta.Snapshot, error) {
	rows, snap, err := ReadLog(ctx, d.l)
	if err != nil {
		return nil, nil, err
	}
	st := map[stateKey]schema.ERPWritebackLogRow{}
	for _, r := range rows {
		k := stateKey{r.DocumentKey, r.Channel}
		prev, ok := st[k]
		if !ok || r.LastAttemptAt.After(prev.LastAttemptAt) ||
			(r.LastAttemptAt.Equal(prev.LastAttemptAt) && r.Status == schema.WritebackAccepted) {
			st[k] = r
		}
	}
	return st, snap, nil
}

// ReadLog reads every row of erp_writeback_log (creating the table when the
// lake has none) and the snapshot read.
func ReadLog(ctx context.Context, l *lake.Lake) ([]schema.ERPWritebackLogRow, *delta.Snapshot, error) {
	t := schema.TableERPWritebackLog()
	dt, err := l.Table(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("write-back log: %w", err)
	}
	var out []schema.ERPWritebackLogRow
	for _, f := range snap.Files() {
		rows, err := lake.ReadRows[schema.ERPWritebackLogRow](ctx, l, f.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("write-back log: %w", err)
		}
		dtv, err := schema.ParseDate(f.PartitionValues[t.PartitionColumn])
		if err != nil {
			return nil, nil, fmt.Errorf("write-back log file %s: %w", f.Key, err)
		}
		for i := range rows {
			rows[i].DT = dtv
		}
		out = append(out, rows...)
	}
	return out, snap, nil
}

// Accepted reports, from the log, which of keys are accepted on channel.
func Accepted(ctx context.Context, l *lake.Lake, channel string) (map[string]bool, error) {
	rows, _, err := ReadLog(ctx, l)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range rows {
		if r.Channel == channel && r.Status == schema.WritebackAccepted {
			out[r.DocumentKey] = true
		}
	}
	return out, nil
}

// Deliver sends every document not yet accepted on a channel over that
// channel, then appends one log row per delivery in one commit. It returns
// an error only when it could not read or write the log; documents that
// failed are counted in the report (and retried by the next Deliver).
func (d *Deliverer) Deliver(ctx context.Context, docs []*Document) (Report, error) {
	rep := Report{Documents: len(docs), ByChannel: map[string]ChannelReport{}, LogVersion: -1}
	state, _, err := d.readState(ctx)
	if err != nil {
		return rep, err
	}
	out := make([]Outgoing, 0, len(docs))
	for _, doc := range docs {
		raw, err := doc.Marshal()
		if err != nil {
			return rep, err
		}
		out = append(out, Outgoing{Doc: doc, JSON: raw})
	}
	var rows []schema.ERPWritebackLogRow
	for _, ch := range d.o.Channels {
		name := ch.Name()
		var todo []Outgoing
		seen := map[string]bool{}
		scope, scoped := ch.(Scoped)
		for _, o := range out {
			if scoped && !scope.Serves(o.Doc) {
				continue
			}
			if seen[o.Doc.ExternalRef] {
				continue // the same key twice (two runs of one week): send once
			}
			seen[o.Doc.ExternalRef] = true
			if s, ok := state[stateKey{o.Doc.ExternalRef, name}]; ok && s.Status == schema.WritebackAccepted {
				rep.add(name, func(c *ChannelReport) { c.AlreadyAccepted++ })
				continue
			}
			todo = append(todo, o)
		}
		if len(todo) == 0 {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		res := ch.Send(ctx, todo)
		if len(res) != len(todo) {
			return rep, fmt.Errorf("write-back channel %s: %d results for %d documents", name, len(res), len(todo))
		}
		for i, r := range res {
			doc := todo[i].Doc
			row := schema.ERPWritebackLogRow{
				DT: doc.AsOf, DocumentKey: doc.ExternalRef, RunID: doc.RunID, LocationID: doc.LocationID,
				SupplierID: doc.SupplierID, Channel: name, Status: r.Status, Attempts: int32(r.Attempts),
				ResponseCode: int32(r.Code), Response: excerpt(r.Response), FirstAttemptAt: r.First.UTC(), LastAttemptAt: r.Last.UTC(),
			}
			if r.Err != nil {
				row.Error = excerpt(r.Err.Error())
			}
			if row.FirstAttemptAt.IsZero() {
				row.FirstAttemptAt = start.UTC()
			}
			if row.LastAttemptAt.IsZero() {
				row.LastAttemptAt = row.FirstAttemptAt
			}
			rows = append(rows, row)
			switch r.Status {
			case schema.WritebackAccepted:
				rep.add(name, func(c *ChannelReport) { c.Accepted++ })
			case schema.WritebackRejected:
				rep.add(name, func(c *ChannelReport) { c.Rejected++ })
				d.log.Warn("document rejected", "channel", name, "document", doc.ExternalRef, "code", r.Code, "err", r.Err)
			default:
				rep.add(name, func(c *ChannelReport) { c.Failed++ })
				var ue *UnreachableError
				if errors.As(r.Err, &ue) {
					if rep.Unreachable == "" {
						rep.Unreachable = ue.Error()
						d.log.Error(ue.Error(), "channel", name)
					}
					break // one line for the endpoint, not one per document
				}
				d.log.Warn("document not delivered", "channel", name, "document", doc.ExternalRef, "attempts", r.Attempts, "err", r.Err)
			}
		}
	}
	rep.total()
	if len(rows) > 0 {
		// Record what was sent even if ctx ended meanwhile.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.LogTimeout)
		defer cancel()
		v, err := d.appendLog(lctx, rows)
		if err != nil {
			return rep, err
		}
		rep.LogVersion = v
	}
	if d.o.Metrics != nil {
		d.o.Metrics.observe(rep)
	}
	d.log.Info("write-back done", "documents", rep.Documents, "accepted", rep.Accepted,
		"already_accepted", rep.AlreadyAccepted, "failed", rep.Failed, "rejected", rep.Rejected, "version", rep.LogVersion)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

// appendLog commits rows to erp_writeback_log, one file per dt.
func (d *Deliverer) appendLog(ctx context.Context, rows []schema.ERPWritebackLogRow) (int64, error) {
	dt, err := d.l.Table(ctx, d.logT)
	if err != nil {
		return 0, err
	}
	slices.SortFunc(rows, func(a, b schema.ERPWritebackLogRow) int {
		switch {
		case a.DT != b.DT:
			return int(a.DT - b.DT)
		case a.DocumentKey != b.DocumentKey:
			if a.DocumentKey < b.DocumentKey {
				return -1
			}
			return 1
		case a.Channel < b.Channel:
			return -1
		case a.Channel > b.Channel:
			return 1
		}
		return 0
	})
	var adds []delta.Add
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].DT == rows[i].DT {
			j++
		}
		a, err := lake.WriteFiles(ctx, d.l, d.logT, rows[i].DT, rows[i:j], lake.WriteOptions{})
		if err != nil {
			return 0, fmt.Errorf("write-back log: %w", err)
		}
		adds = append(adds, a...)
		i = j
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("write-back log: %w", err)
	}
	res, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE",
		Info: map[string]any{"shelflake.writeback": map[string]any{"rows": len(rows)}}})
	if err != nil {
		return 0, fmt.Errorf("write-back log commit: %w", err)
	}
	return res.Version, nil
}

// Retry delivers again every document of the completed forecast runs with
// an as-of date on or after since (0: all runs) that is not accepted on
// every channel: the documents a failed run or an ERP outage left behind.
func (d *Deliverer) Retry(ctx context.Context, since schema.Date) (Report, error) {
	docs, err := RunDocuments(ctx, d.l, since)
	if err != nil {
		return Report{ByChannel: map[string]ChannelReport{}, LogVersion: -1}, err
	}
	return d.Deliver(ctx, docs)
}

// RunDocuments returns the documents of the completed forecast runs with
// an as-of date on or after since (0: all), oldest run first: what Retry
// delivers.
func RunDocuments(ctx context.Context, l *lake.Lake, since schema.Date) ([]*Document, error) {
	runs, err := CompletedRuns(ctx, l)
	if err != nil {
		return nil, err
	}
	var docs []*Document
	for _, r := range runs {
		if r.AsOf < since {
			continue
		}
		ds, err := LoadDocuments(ctx, l.Bucket(), r.AsOf, r.RunID)
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	return docs, nil
}

// CompletedRuns returns the rows of forecast_runs, oldest as-of first (none
// when the table does not exist).
func CompletedRuns(ctx context.Context, l *lake.Lake) ([]schema.ForecastRunRow, error) {
	t := schema.TableForecastRuns()
	dtab, err := delta.NewTable(l.Bucket(), lake.TablePrefix(t), delta.Options{})
	if err != nil {
		return nil, err
	}
	snap, err := dtab.Snapshot(ctx)
	if errors.Is(err, delta.ErrTableNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("forecast runs: %w", err)
	}
	var out []schema.ForecastRunRow
	for _, f := range snap.Files() {
		rows, err := lake.ReadRows[schema.ForecastRunRow](ctx, l, f.Key)
		if err != nil {
			return nil, fmt.Errorf("forecast runs: %w", err)
		}
		out = append(out, rows...)
	}
	slices.SortFunc(out, func(a, b schema.ForecastRunRow) int { return int(a.AsOf - b.AsOf) })
	for i := range out {
		out[i].DT = out[i].AsOf
	}
	return out, nil
}

// excerpt cuts s to at most 1 KiB (on a rune boundary).
func excerpt(s string) string {
	const max = 1024
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

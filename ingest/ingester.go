package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/schema"
)

// tableID indexes the ingester's tables.
type tableID int

const (
	tablePOS tableID = iota
	tableInventory
	tablePO
	tableItemLocation
	tablePromotion
	tableRejects
	numTables
)

// table is one lake table being written: its unsealed rows and the chain of
// its flushes in flight.
type table struct {
	id   tableID
	desc *schema.Table
	lake LakeTable
	buf  rowBuffer
	// topic is the input topic feeding the table ("" for rejects, fed by all).
	topic string
	// since is when the oldest unsealed progress (a row, or an offset the
	// table now knows it has nothing for) was made; zero when none.
	since time.Time
	// tail is the newest flush job of the table; jobs commit in order.
	tail *job

	rowsC, filesC, fileBytesC, fencedC, conflictsC, errorsC prometheus.Counter
	commitsData, commitsTxnOnly                             prometheus.Counter
	flushDur, commitDur                                     prometheus.Observer
}

// tp is a Kafka topic-partition.
type tp struct {
	topic     string
	partition int32
}

// position is where one table stands for one partition. Offsets below
// committed are in the lake; [committed, sealed) are in flushes in flight;
// [sealed, have) are buffered. Every record below have has been seen by the
// table: its rows (if any) are in one of those three places.
type position struct {
	committed, sealed, have int64
	// first is set while the lake has no txn for the partition in this
	// table and no flush has been sealed since: the next fence is First.
	first bool
	// Newest event time of the table's rows from this partition below
	// committed, sealed and have.
	committedEvent, sealedEvent, haveEvent time.Time
}

// partState is an owned partition.
type partState struct {
	tp
	// epoch changes whenever the positions are reloaded from the lake, so a
	// flush sealed before cannot update them after.
	epoch uint64
	data  tableID
	// pos[0] is the data table's position, pos[1] the rejects table's.
	pos [2]position
	// rejected are the offsets in [data txn, rejects txn) that the
	// rejects table holds, at the last (re)start: the verdicts made before
	// (see verdict.go). nil when the data table was not behind.
	rejected map[int64]bool
	// hwm is the partition's high watermark from the last fetch or listing.
	hwm int64
	// listedEnd is the end offset a ListOffsets request started at
	// listedAt returned: every record produced before listedAt is below
	// it (the watermark's "drained" rule).
	listedEnd int64
	listedAt  time.Time
	// groupCommitted is the offset last committed to the consumer group.
	groupCommitted int64
	lag            prometheus.Gauge
}

func (ps *partState) posOf(id tableID) *position {
	if id == tableRejects {
		return &ps.pos[1]
	}
	return &ps.pos[0]
}

// resume is the lowest offset any of the partition's tables needs next.
func (ps *partState) resume() int64 { return min(ps.pos[0].have, ps.pos[1].have) }

// inLake is the lowest offset any of the partition's tables has not committed.
func (ps *partState) inLake() int64 { return min(ps.pos[0].committed, ps.pos[1].committed) }

// topicState holds per-topic constants and cached metric children.
type topicState struct {
	name     string
	data     tableID
	dlq      string
	records  prometheus.Counter
	bytes    prometheus.Counter
	skipped  prometheus.Counter
	produced prometheus.Counter
	rejects  map[string]prometheus.Counter
}

// Ingester consumes the input topics in one consumer group and writes them
// to the lake exactly once. Create it with New and run it with Run.
type Ingester struct {
	o   Options
	log *slog.Logger
	m   *metrics

	topics map[string]*topicState

	// mu guards everything below: the poll loop, the group callbacks and
	// finishing flushes take it.
	mu       sync.Mutex
	tables   [numTables]*table
	parts    map[tp]*partState
	epoch    uint64
	bufBytes int64 // sum of the tables' buffer sizes
	inflight int64 // charge of sealed flushes not finished (inflightFactor × their rows)
	// lastAdmitted is the admitted channel of the newest flush (job.turn).
	lastAdmitted chan struct{}
	// dlqPending are the dead-letter records of the unsealed rejects.
	dlqPending []pendingDLQ
	// needRewind is set when a flush failed: buffers must be dropped and
	// the partitions rewound to what the lake holds.
	needRewind  bool
	pausedParts map[string][]int32
	// gapChecks are the assignments whose offsets checkGaps has yet to
	// compare with the brokers' logs.
	gapChecks []map[tp]lakeOffsets

	posBuf *buffer[schema.PosLineRow]
	invBuf *buffer[schema.InventoryRow]
	poBuf  *buffer[schema.POLineRow]
	ilBuf  *buffer[schema.ItemLocationRow]
	prBuf  *buffer[schema.PromotionRow]
	rejBuf *buffer[schema.RejectRow]

	dec        schema.Decoder
	scratchInv []schema.InventoryRow
	scratchPO  []schema.POLineRow
	scratchIL  []schema.ItemLocationRow
	scratchPr  []schema.PromotionRow

	sem    chan struct{} // bounds concurrent file writes
	jobs   sync.WaitGroup
	jobCtx context.Context
	stop   context.CancelFunc

	cl *kgo.Client

	kickMu sync.Mutex
	kick   context.CancelFunc // cancels the poll in progress

	// onCommit, if set, is called after every successful commit (the
	// benchmark measures freshness with it).
	onCommit func(t *table, fences []jobFence, at time.Time)

	joined   atomic.Bool
	stopping atomic.Bool
	// fault, once set, is why /healthz is red (checkGaps).
	fault atomic.Pointer[string]
	// failStreak counts flushes that failed in a row (reset by a commit);
	// from stuckAfter on, stuck says why and /healthz is red.
	failStreak atomic.Int32
	stuck      atomic.Pointer[string]
	lastLoop   atomic.Int64 // unix nanos of the last poll loop iteration
}

// New validates o, opens the lake tables and returns an Ingester ready to
// Run. It does not connect to Kafka yet.
func New(ctx context.Context, o Options) (*Ingester, error) {
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("ingest options: %w", err)
	}
	i := &Ingester{
		o:     o,
		log:   o.Logger,
		m:     newMetrics(o.Registerer, o.Now),
		parts: map[tp]*partState{},
		sem:   make(chan struct{}, o.FlushWorkers),
	}
	i.m.bufferLimit.Set(float64(o.MaxBufferBytes))
	i.posBuf = newBuffer(func(r *schema.PosLineRow) schema.Date { return r.PartitionDate() },
		func(r *schema.PosLineRow) (string, int32) { return o.Topics.POS, r.SrcPartition })
	i.invBuf = newBuffer(func(r *schema.InventoryRow) schema.Date { return r.PartitionDate() },
		func(r *schema.InventoryRow) (string, int32) { return o.Topics.Inventory, r.SrcPartition })
	i.poBuf = newBuffer(func(r *schema.POLineRow) schema.Date { return r.PartitionDate() },
		func(r *schema.POLineRow) (string, int32) { return o.Topics.PurchaseOrder, r.SrcPartition })
	i.ilBuf = newBuffer(func(r *schema.ItemLocationRow) schema.Date { return r.PartitionDate() },
		func(r *schema.ItemLocationRow) (string, int32) { return o.Topics.ItemLocation, r.SrcPartition })
	i.prBuf = newBuffer(func(r *schema.PromotionRow) schema.Date { return r.PartitionDate() },
		func(r *schema.PromotionRow) (string, int32) { return o.Topics.Promotion, r.SrcPartition })
	i.rejBuf = newBuffer(func(r *schema.RejectRow) schema.Date { return r.PartitionDate() },
		func(r *schema.RejectRow) (string, int32) { return r.Topic, r.Partition })

	defs := [numTables]struct {
		desc  *schema.Table
		buf   rowBuffer
		topic string
	}{
		tablePOS:          {schema.TablePOSLines(), i.posBuf, o.Topics.POS},
		tableInventory:    {schema.TableInventorySnapshots(), i.invBuf, o.Topics.Inventory},
		tablePO:           {schema.TablePurchaseOrderLines(), i.poBuf, o.Topics.PurchaseOrder},
		tableItemLocation: {schema.TableItemLocations(), i.ilBuf, o.Topics.ItemLocation},
		tablePromotion:    {schema.TablePromotions(), i.prBuf, o.Topics.Promotion},
		tableRejects:      {schema.TableRejects(), i.rejBuf, ""},
	}
	i.topics = map[string]*topicState{}
	for id, d := range defs {
		lt, err := o.Lake.Table(ctx, d.desc)
		if err != nil {
			return nil, fmt.Errorf("open table %s: %w", d.desc.Name, err)
		}
		name := d.desc.Name
		i.tables[id] = &table{
			id: tableID(id), desc: d.desc, lake: lt, buf: d.buf, topic: d.topic,
			rowsC:          i.m.rows.WithLabelValues(name),
			filesC:         i.m.files.WithLabelValues(name),
			fileBytesC:     i.m.fileBytes.WithLabelValues(name),
			fencedC:        i.m.fenced.WithLabelValues(name),
			conflictsC:     i.m.commitConflicts.WithLabelValues(name),
			errorsC:        i.m.commitErrors.WithLabelValues(name),
			commitsData:    i.m.commits.WithLabelValues(name, "data"),
			commitsTxnOnly: i.m.commits.WithLabelValues(name, "txn_only"),
			flushDur:       i.m.flushDur.WithLabelValues(name),
			commitDur:      i.m.commitDur.WithLabelValues(name),
		}
		if d.topic != "" {
			ts := &topicState{
				name: d.topic, data: tableID(id), dlq: d.topic + ".dlq",
				records:  i.m.records.WithLabelValues(d.topic),
				bytes:    i.m.bytes.WithLabelValues(d.topic),
				skipped:  i.m.skipped.WithLabelValues(d.topic),
				produced: i.m.dlq.WithLabelValues(d.topic),
				rejects:  map[string]prometheus.Counter{},
			}
			for _, r := range schema.Reasons() {
				ts.rejects[r] = i.m.rejects.WithLabelValues(d.topic, r)
			}
			i.topics[d.topic] = ts
		}
	}
	if !o.NewGroupOK {
		if err := i.checkGroup(ctx); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// clientOpts are the franz-go options of the ingester's client: one
// consumer group, manual offsets, rebalances blocked while a poll is being
// processed, and the lake deciding where each partition resumes.
func (i *Ingester) clientOpts() []kgo.Opt {
	o := i.o
	topics := o.Topics.list()
	// One fetch must not be able to blow the budget. Its limit counts
	// compressed bytes, and JSON compresses several times: a thirty-second
	// of the budget (at most 32 MiB) keeps a decompressed fetch well
	// inside it.
	fetchMax := min(max(o.MaxBufferBytes/32, 512<<10), 32<<20)
	partMax := min(max(o.MaxBufferBytes/128, 128<<10), 8<<20)
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Kafka.Brokers...),
		kgo.ClientID(o.Kafka.ClientID),
		kgo.WithLogger(kgoLogger{i.log}),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(i.adjustOffsets),
		kgo.OnPartitionsAssigned(i.onAssigned),
		kgo.OnPartitionsRevoked(i.onRevoked),
		kgo.OnPartitionsLost(i.onLost),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(int32(fetchMax)),
		kgo.FetchMaxPartitionBytes(int32(partMax)),
		kgo.FetchMaxWait(min(o.FlushInterval, time.Second)),
		kgo.SessionTimeout(o.SessionTimeout),
		kgo.RebalanceTimeout(o.RebalanceTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, o.SessionTimeout/3)),
		kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.ProducerLinger(0),
	}
	if o.Kafka.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.Kafka.TLS))
	}
	if o.Kafka.SASL != nil {
		opts = append(opts, kgo.SASL(o.Kafka.SASL))
	}
	return opts
}

// Run consumes until ctx is canceled, then flushes, commits, leaves the
// group and returns (nil after a clean shutdown). It returns early with an
// error only if the client cannot be created. Run may be called once.
func (i *Ingester) Run(ctx context.Context) error {
	if err := i.waitForBrokers(ctx); err != nil {
		return nil // canceled before the brokers answered: nothing to flush
	}
	// Before the client: it starts joining the group at once, and the
	// group's callbacks start flushes under jobCtx.
	i.jobCtx, i.stop = context.WithCancel(context.WithoutCancel(ctx))
	defer i.stop()
	cl, err := kgo.NewClient(i.clientOpts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	i.cl = cl
	i.log.Info("ingest starting", "brokers", i.o.Kafka.Brokers, "group", i.o.Group,
		"flush_interval", i.o.FlushInterval, "max_buffer_bytes", i.o.MaxBufferBytes)
	listDone := make(chan struct{})
	go func() { defer close(listDone); i.listEndOffsets(ctx) }()
	i.loop(ctx)
	<-listDone
	return i.shutdown()
}

// loop is the poll loop. Between a poll and AllowRebalance no group
// callback runs, so records are processed against a stable assignment.
func (i *Ingester) loop(ctx context.Context) {
	cl := i.cl
	for ctx.Err() == nil {
		i.lastLoop.Store(time.Now().UnixNano())
		i.mu.Lock()
		wait := min(i.nextDeadlineLocked(i.o.Now()), idlePoll)
		i.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, wait)
		i.kickMu.Lock()
		i.kick = cancel
		i.kickMu.Unlock()
		fetches := cl.PollRecords(pctx, 10_000)
		i.kickMu.Lock()
		i.kick = nil
		i.kickMu.Unlock()
		cancel()
		if fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			i.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})

		i.mu.Lock()
		now := i.o.Now()
		var polled []polledPartition
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			ps := i.parts[tp{fp.Topic, fp.Partition}]
			if ps == nil {
				return
			}
			ps.hwm = max(ps.hwm, fp.HighWatermark)
			polled = append(polled, polledPartition{ts: i.topics[fp.Topic], ps: ps, recs: fp.Records})
		})
		eachByTime(polled, func(ts *topicState, ps *partState, r *kgo.Record) {
			i.processLocked(ts, ps, r, now)
			if i.bufBytes >= i.o.MaxBufferBytes/2 {
				i.relieveLocked("budget")
			}
			if t := i.tables[ts.data]; t.buf.numDates() >= i.o.MaxFlushDates {
				i.sealLocked(t, "dates")
			}
		})
		i.sealDueLocked(now)
		if fetches.NumRecords() == 0 && errors.Is(pctx.Err(), context.DeadlineExceeded) {
			// Nothing came for a while: the partitions are drained, so
			// what is buffered need not wait for the interval.
			i.sealIdleLocked(now)
		}
		rewind := i.needRewind
		checks := i.gapChecks
		i.gapChecks = nil
		i.mu.Unlock()
		for _, c := range checks {
			go i.checkGaps(i.jobCtx, c)
		}

		if rewind {
			i.rewind(ctx)
		}
		i.updatePause()
		i.commitGroupOffsets(ctx, false)
		i.updateLag()
		cl.AllowRebalance()
	}
}

// wake interrupts a poll waiting for records so the loop re-checks its
// state (a flush finished, memory was freed, a rewind is needed).
func (i *Ingester) wake() {
	i.kickMu.Lock()
	if i.kick != nil {
		i.kick()
	}
	i.kickMu.Unlock()
}

// nextDeadlineLocked is how long the next poll may wait: until the oldest
// table progress reaches the flush interval.
func (i *Ingester) nextDeadlineLocked(now time.Time) time.Duration {
	wait := i.o.FlushInterval
	for _, t := range i.tables {
		if !t.since.IsZero() {
			wait = min(wait, t.since.Add(i.o.FlushInterval).Sub(now))
		}
	}
	return max(wait, 5*time.Millisecond)
}

// inflightFactor is what a flush in progress costs per byte of its rows.
// The Parquet encoders' columnar copies are of the dates being encoded at
// the moment (at most Options.FlushWorkers files), not of whole flushes;
// they are part of the fixed overhead beyond the budget.
const inflightFactor = 1

// recordOverhead is the per-row memory beyond the record's bytes: the
// row struct and slice growth, roughly.
const recordOverhead = 64

// processLocked adds record r of partition ps to every table that does not
// have it yet.
func (i *Ingester) processLocked(ts *topicState, ps *partState, r *kgo.Record, now time.Time) {
	ts.records.Inc()
	ts.bytes.Add(float64(len(r.Key) + len(r.Value)))
	o := r.Offset
	dp, rp := &ps.pos[0], &ps.pos[1]
	needData, needRej := o >= dp.have, o >= rp.have
	if !needData && !needRej {
		ts.skipped.Inc()
		return
	}
	if needData && !needRej && ps.rejected[o] {
		// Rejected before a stop that came between the rejects commit and
		// the data commit: that verdict stands (verdict.go).
		dp.have = o + 1
		i.touchLocked(ts.data, now)
		return
	}
	src := schema.Source{Partition: r.Partition, Offset: o, IngestedAt: now}
	val := r.Value
	if i.o.rewrite != nil {
		val = i.o.rewrite(r.Topic, val)
	}
	var (
		err   error
		event time.Time
		added int64
	)
	switch ts.data {
	case tablePOS:
		var v schema.POSTransaction
		if v, err = i.dec.POS(val); err == nil && needData {
			// Every line of a transaction has its business date: append
			// them in place.
			added = int64(len(r.Value)) + int64(len(v.Lines))*(sizePosLine+recordOverhead)
			i.posBuf.appendTo(v.BusinessDate, len(v.Lines), added, func(c []schema.PosLineRow) []schema.PosLineRow {
				return v.AppendRows(c, src)
			})
			event = v.EventTime
		}
	case tableInventory:
		var v schema.InventoryRecord
		if v, err = i.dec.Inventory(val); err == nil && needData {
			i.scratchInv = v.AppendRows(i.scratchInv[:0], src)
			added = int64(len(r.Value)) + int64(len(i.scratchInv))*(sizeInventory+recordOverhead)
			i.invBuf.add(i.scratchInv, added)
			event = v.AsOf
		}
	case tablePO:
		var v schema.PurchaseOrderLine
		if v, err = i.dec.PurchaseOrder(val); err == nil && needData {
			i.scratchPO = v.AppendRows(i.scratchPO[:0], src)
			added = int64(len(r.Value)) + int64(len(i.scratchPO))*(sizePOLine+recordOverhead)
			i.poBuf.add(i.scratchPO, added)
			event = v.UpdatedAt
		}
	case tableItemLocation:
		var v schema.ItemLocation
		if v, err = i.dec.ItemLocation(val); err == nil && needData {
			i.scratchIL = v.AppendRows(i.scratchIL[:0], src)
			added = int64(len(r.Value)) + int64(len(i.scratchIL))*(sizeItemLocation+recordOverhead)
			i.ilBuf.add(i.scratchIL, added)
			event = v.UpdatedAt
		}
	case tablePromotion:
		var v schema.Promotion
		if v, err = i.dec.Promotion(val); err == nil && needData {
			i.scratchPr = v.AppendRows(i.scratchPr[:0], src)
			added = int64(len(r.Value)) + int64(len(i.scratchPr))*(sizePromotion+recordOverhead)
			i.prBuf.add(i.scratchPr, added)
			event = v.UpdatedAt
		}
	}
	if needData {
		dp.have = o + 1
		if event.After(dp.haveEvent) {
			dp.haveEvent = event
		}
		i.touchLocked(ts.data, now)
	}
	switch {
	case needRej:
		if err != nil {
			added += i.rejectLocked(ts, r, err, now)
		}
		rp.have = o + 1
		i.touchLocked(tableRejects, now)
	case err != nil && ps.rejected != nil:
		// Accepted before the stop, refused by this build's decoder: a
		// late rejects row, committed before the data table passes o.
		added += i.rejectLocked(ts, r, err, now)
		i.touchLocked(tableRejects, now)
	}
	i.bufBytes += added
}

func (i *Ingester) touchLocked(id tableID, now time.Time) {
	if t := i.tables[id]; t.since.IsZero() {
		t.since = now
	}
}

// rejectLocked buffers the rejects row and the dead-letter record of r,
// which failed to decode with err, and returns their estimated size.
func (i *Ingester) rejectLocked(ts *topicState, r *kgo.Record, err error, now time.Time) int64 {
	reason := schema.ReasonOf(err)
	if c := ts.rejects[reason]; c != nil {
		c.Inc()
	} else {
		i.m.rejects.WithLabelValues(ts.name, reason).Inc()
	}
	// Copies: the rows must not pin the fetch's buffers.
	key := cloneBytes(r.Key)
	value := cloneBytes(r.Value)
	row := schema.NewRejectRow(r.Topic, r.Partition, r.Offset, key, value, err, now)
	size := int64(len(key)+len(value)+len(row.Error)) + sizeReject + recordOverhead
	if !i.o.DisableDLQ {
		dr := dlqRecord(ts.dlq, r, key, value, &row)
		i.dlqPending = append(i.dlqPending, pendingDLQ{tp: tp{r.Topic, r.Partition}, rec: dr})
		size += int64(len(r.Headers))*32 + 256
	}
	i.rejBuf.add([]schema.RejectRow{row}, size)
	return size
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// sealDueLocked flushes the tables whose progress reached the flush
// interval or whose buffer reached the size target (Options.FileBytes).
func (i *Ingester) sealDueLocked(now time.Time) {
	for _, t := range i.tables {
		switch {
		case t.since.IsZero():
		case now.Sub(t.since) >= i.o.FlushInterval:
			i.sealLocked(t, "interval")
		case t.buf.size() >= i.o.FileBytes:
			i.sealLocked(t, "size")
		}
	}
}

// polledPartition is one partition's records of a poll.
type polledPartition struct {
	ts   *topicState
	ps   *partState
	recs []*kgo.Record
}

// eachByTime calls fn for every record of the poll, each partition's in
// offset order, and across partitions oldest record timestamp first. A
// backlog produced in date order (a backfill) is then buffered date after
// date whatever partition holds each record, so a flush sealed at
// Options.MaxFlushDates dates holds one file per date, not one per date and
// partition. The order across partitions is free: fences are per partition.
func eachByTime(parts []polledPartition, fn func(*topicState, *partState, *kgo.Record)) {
	if len(parts) == 1 {
		for _, r := range parts[0].recs {
			fn(parts[0].ts, parts[0].ps, r)
		}
		return
	}
	next := make([]int, len(parts))
	for {
		best := -1
		for k, p := range parts {
			if next[k] < len(p.recs) && (best < 0 || p.recs[next[k]].Timestamp.Before(parts[best].recs[next[best]].Timestamp)) {
				best = k
			}
		}
		if best < 0 {
			return
		}
		p := parts[best]
		fn(p.ts, p.ps, p.recs[next[best]])
		next[best]++
	}
}

// idlePoll bounds a poll's wait: a poll that times out empty means the
// assigned partitions are drained (caught up).
const idlePoll = 100 * time.Millisecond

// sealIdleLocked flushes, once the partitions are drained, the tables whose
// progress is at least a twentieth of the flush interval old: the end of a
// backlog and a quiet stream are committed without waiting the whole
// interval, and a trickle of records still makes at most twenty commits
// per interval.
func (i *Ingester) sealIdleLocked(now time.Time) {
	for _, t := range i.tables {
		if !t.since.IsZero() && now.Sub(t.since) >= i.o.FlushInterval/20 {
			i.sealLocked(t, "idle")
		}
	}
}

// relieveLocked flushes the largest buffer: the memory budget is full.
func (i *Ingester) relieveLocked(reason string) {
	var big *table
	for _, t := range i.tables {
		if t.buf.size() > 0 && (big == nil || t.buf.size() > big.buf.size()) {
			big = t
		}
	}
	if big != nil {
		i.sealLocked(big, reason)
	}
}

func (i *Ingester) sealAllLocked(reason string) {
	for _, t := range i.tables {
		if !t.since.IsZero() || t.buf.numRows() > 0 {
			i.sealLocked(t, reason)
		}
	}
}

// sealLocked moves table t's buffered rows and progress into a flush job
// and starts it. The job's fences are [sealed, have) of every owned
// partition that has progress for t.
func (i *Ingester) sealLocked(t *table, reason string) {
	t.since = time.Time{}
	j := &job{t: t, done: make(chan struct{}), prev: t.tail, reason: reason, admitted: make(chan struct{})}
	if t.id != tableRejects {
		// The rejects table commits a range before the data table does
		// (verdict.go): seal what it has, and commit after it.
		rt := i.tables[tableRejects]
		if !rt.since.IsZero() || rt.buf.numRows() > 0 {
			i.sealLocked(rt, reason)
		}
		j.after = rt.tail
	}
	for _, ps := range i.parts {
		if t.id != tableRejects && ps.data != t.id {
			continue
		}
		p := ps.posOf(t.id)
		if p.have <= p.sealed {
			continue
		}
		f := jobFence{tp: ps.tp, epoch: ps.epoch, from: p.sealed, to: p.have, first: p.first, event: p.haveEvent}
		if !ps.listedAt.IsZero() && p.have >= ps.listedEnd {
			f.drainedAt = ps.listedAt
		}
		j.fences = append(j.fences, f)
		p.sealed, p.sealedEvent, p.first = p.have, p.haveEvent, false
	}
	if len(j.fences) == 0 && (t.id != tableRejects || t.buf.numRows() == 0) {
		// Rows without progress exist only as late rejects rows
		// (verdict.go); otherwise nothing to commit.
		return
	}
	j.bytes = t.buf.size()
	j.rows = t.buf.seal()
	if t.id == tableRejects {
		j.dlq, i.dlqPending = i.dlqPending, nil
	}
	i.bufBytes -= j.bytes
	i.inflight += inflightFactor * j.bytes
	t.tail = j
	j.turn, i.lastAdmitted = i.lastAdmitted, j.admitted
	i.jobs.Add(1)
	go i.runJob(j)
}

// drainJobs waits until every flush started so far has finished.
func (i *Ingester) drainJobs() {
	i.mu.Lock()
	var tails []*job
	for _, t := range i.tables {
		if t.tail != nil {
			tails = append(tails, t.tail)
		}
	}
	i.mu.Unlock()
	for _, j := range tails {
		<-j.done
	}
}

// loadVersions reads every table's txn versions from the lake.
func (i *Ingester) loadVersions(ctx context.Context) ([numTables]map[string]int64, error) {
	var vs [numTables]map[string]int64
	for id, t := range i.tables {
		v, err := t.lake.TxnVersions(ctx)
		if err != nil {
			return vs, fmt.Errorf("table %s: txn versions: %w", t.desc.Name, err)
		}
		vs[id] = v
	}
	return vs, nil
}

// setPositionsLocked (re)starts ps at what the lake holds.
func (i *Ingester) setPositionsLocked(ps *partState, vs [numTables]map[string]int64, rejected map[tp]map[int64]bool) {
	i.epoch++
	ps.epoch = i.epoch
	app := AppID(i.o.Group, ps.topic, ps.partition)
	for k, id := range [2]tableID{ps.data, tableRejects} {
		v, ok := vs[id][app] // absent: 0, the start of the partition
		ps.pos[k] = position{committed: v, sealed: v, have: v, first: !ok}
	}
	ps.rejected = rejected[ps.tp]
	ps.groupCommitted = -1
}

// adjustOffsets is franz-go's AdjustFetchOffsetsFn: after the group
// assigned partitions to this member, each starts at the lowest offset any
// of its tables has not committed, whatever the group's committed offset.
func (i *Ingester) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	// A flush of an earlier ownership of these partitions may still be
	// committing; let it land so the versions read below are final.
	i.drainJobs()
	vs, err := i.loadVersions(ctx)
	if err != nil {
		i.log.Error("read lake offsets for assigned partitions", "err", err)
		return nil, err
	}
	var tps []tp
	for topic, parts := range offsets {
		for p := range parts {
			tps = append(tps, tp{topic, p})
		}
	}
	rejected, err := i.loadVerdicts(ctx, vs, tps)
	if err != nil {
		i.log.Error("read the rejects table for assigned partitions", "err", err)
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]map[int32]kgo.Offset, len(offsets))
	for topic, parts := range offsets {
		ts := i.topics[topic]
		if ts == nil {
			continue
		}
		out[topic] = make(map[int32]kgo.Offset, len(parts))
		for p := range parts {
			k := tp{topic, p}
			if old := i.parts[k]; old != nil {
				i.removeLocked(map[tp]bool{k: true})
			}
			ps := &partState{tp: k, data: ts.data, lag: i.m.lag.WithLabelValues(topic, partLabel(p))}
			i.setPositionsLocked(ps, vs, rejected)
			i.parts[k] = ps
			out[topic][p] = kgo.NewOffset().At(ps.resume())
			i.log.Info("partition assigned", "topic", topic, "partition", p,
				"resume", ps.resume(), "data_txn", ps.pos[0].committed, "rejects_txn", ps.pos[1].committed)
		}
	}
	i.m.assigned.Set(float64(len(i.parts)))
	resumes := map[tp]lakeOffsets{}
	for topic, parts := range out {
		for p := range parts {
			ps := i.parts[tp{topic, p}]
			resumes[tp{topic, p}] = lakeOffsets{resume: ps.resume(), held: max(ps.pos[0].committed, ps.pos[1].committed)}
		}
	}
	// The poll loop runs the check (it only reports), off the group's
	// callback and once the client is set.
	i.gapChecks = append(i.gapChecks, resumes)
	return out, nil
}

func (i *Ingester) onAssigned(context.Context, *kgo.Client, map[string][]int32) {
	i.joined.Store(true)
}

// onRevoked flushes and commits everything before the rebalance proceeds,
// so the next owner resumes where this one stopped.
func (i *Ingester) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	start := time.Now()
	i.mu.Lock()
	i.sealAllLocked("revoke")
	i.mu.Unlock()
	i.drainJobs()
	i.commitGroupOffsets(ctx, true)
	i.mu.Lock()
	i.removeLocked(toSet(revoked))
	i.mu.Unlock()
	i.log.Info("partitions revoked", "partitions", revoked, "flush", time.Since(start))
}

// onLost drops the lost partitions' buffers: another member may already
// own them, and committing is up to it.
func (i *Ingester) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if len(lost) == 0 {
		return
	}
	i.mu.Lock()
	i.removeLocked(toSet(lost))
	i.mu.Unlock()
	i.log.Warn("partitions lost", "partitions", lost)
}

func toSet(m map[string][]int32) map[tp]bool {
	s := map[tp]bool{}
	for t, ps := range m {
		for _, p := range ps {
			s[tp{t, p}] = true
		}
	}
	return s
}

// removeLocked forgets partitions: their buffered rows are dropped.
// Flushes in flight that cover them still commit or get fenced, which is
// safe either way.
func (i *Ingester) removeLocked(gone map[tp]bool) {
	keep := func(t string, p int32) bool { return !gone[tp{t, p}] }
	for _, t := range i.tables {
		i.bufBytes -= t.buf.drop(keep)
	}
	dlq := i.dlqPending[:0]
	for _, d := range i.dlqPending {
		if !gone[d.tp] {
			dlq = append(dlq, d)
		}
	}
	clear(i.dlqPending[len(dlq):])
	i.dlqPending = dlq
	for k := range gone {
		if ps := i.parts[k]; ps != nil {
			i.m.lag.DeleteLabelValues(k.topic, partLabel(k.partition))
			delete(i.parts, k)
		}
	}
	i.m.assigned.Set(float64(len(i.parts)))
}

// rewind drops every buffer and restarts every owned partition from what
// the lake holds: a flush failed (fenced, or the lake kept refusing), so
// what this instance believed committed is not.
func (i *Ingester) rewind(ctx context.Context) {
	i.m.rewinds.Inc()
	i.drainJobs()
	var (
		vs  [numTables]map[string]int64
		err error
	)
	i.mu.Lock()
	tps := make([]tp, 0, len(i.parts))
	for k := range i.parts {
		tps = append(tps, k)
	}
	i.mu.Unlock()
	var rejected map[tp]map[int64]bool
	for attempt := 0; ; attempt++ {
		if vs, err = i.loadVersions(ctx); err == nil {
			if rejected, err = i.loadVerdicts(ctx, vs, tps); err == nil {
				break
			}
		}
		i.log.Error("rewind: read lake offsets", "err", err, "attempt", attempt+1)
		if !sleepCtx(ctx, backoff(attempt)) {
			return
		}
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	i.mu.Lock()
	i.needRewind = false
	for _, t := range i.tables {
		t.buf.seal() // discarded
		t.since = time.Time{}
		t.tail = nil // every flush has finished (drained); start a new chain
	}
	i.bufBytes = 0
	i.dlqPending = nil
	for _, ps := range i.parts {
		i.setPositionsLocked(ps, vs, rejected)
		if offsets[ps.topic] == nil {
			offsets[ps.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[ps.topic][ps.partition] = kgo.EpochOffset{Epoch: -1, Offset: ps.resume()}
	}
	i.mu.Unlock()
	i.log.Warn("rewound to the lake's offsets", "offsets", offsets)
	i.cl.SetOffsets(offsets)
}

// shutdown flushes and commits what is buffered, commits group offsets and
// leaves the group, within the shutdown timeout.
func (i *Ingester) shutdown() error {
	i.stopping.Store(true)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), i.o.ShutdownTimeout)
	defer cancel()
	i.mu.Lock()
	i.sealAllLocked("shutdown")
	i.mu.Unlock()
	drained := make(chan struct{})
	go func() { i.drainJobs(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown: flushes still running after %v", i.o.ShutdownTimeout)
		i.stop() // abandon them: what they held is re-read on restart
	}
	i.commitGroupOffsets(ctx, true)
	closed := make(chan struct{})
	go func() { i.cl.CloseAllowingRebalance(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("shutdown: leaving the group took longer than %v", i.o.ShutdownTimeout)
		}
	}
	i.stop()
	i.jobs.Wait()
	i.log.Info("ingest stopped", "took", time.Since(start), "err", err)
	return err
}

// Ready reports whether the ingester has joined its group and is not
// shutting down.
func (i *Ingester) Ready() bool { return i.joined.Load() && !i.stopping.Load() }

// Healthy reports whether the poll loop has run recently (within a minute
// plus the flush interval): a stuck loop fails the health check.
func (i *Ingester) Healthy() bool {
	if i.fault.Load() != nil || i.stuck.Load() != nil {
		return false
	}
	last := i.lastLoop.Load()
	return last == 0 || time.Since(time.Unix(0, last)) < time.Minute+i.o.FlushInterval
}

// Fault is why the ingester is unhealthy beyond a stuck loop ("" if not).
func (i *Ingester) Fault() string {
	if f := i.fault.Load(); f != nil {
		return *f
	}
	if f := i.stuck.Load(); f != nil {
		return *f
	}
	return ""
}

func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt, 7)
	return min(d, 30*time.Second)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// kgoLogger sends franz-go's logs to slog at one level below (franz-go's
// info is chatty).
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case k.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelInfo
	case k.l.Enabled(ctx, slog.LevelInfo):
		return kgo.LogLevelWarn
	default:
		return kgo.LogLevelError
	}
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	}
	k.l.Log(context.Background(), lv, "kafka: "+msg, keyvals...)
}

package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// BackfillConfig configures RunBackfillBench. Zero fields take their
// defaults.
type BackfillConfig struct {
	// Pairs is the number of store-SKUs (default 10) and Years the years of
	// daily history each has (default 5): one POS transaction per pair and
	// day, an inventory snapshot per pair every third day.
	Pairs, Years int
	// Dir is where the backfill's lake goes (required); the lake stays
	// there for the caller (e.g. to compact it).
	Dir string
	// MaxBufferBytes and FlushInterval configure the ingester (defaults as
	// in Options).
	MaxBufferBytes int64
	FlushInterval  time.Duration
	MaxFlushDates  int
	// Logger receives progress (default: discard).
	Logger *slog.Logger
}

// BackfillResult is what RunBackfillBench measured.
type BackfillResult struct {
	Pairs   int   `json:"pairs"`
	Years   int   `json:"years"`
	Dates   int   `json:"dates"`
	Records int64 `json:"records"`
	// POSRecords and InventoryRecords split Records by topic.
	POSRecords       int64 `json:"pos_records"`
	InventoryRecords int64 `json:"inventory_records"`
	// LakeDir is the lake the backfill wrote.
	LakeDir string `json:"lake_dir"`
	// DrainSeconds is the time from the ingester's start until it had
	// consumed every record; FirstCommitSeconds until its first commit of
	// data; CommittedSeconds until every record was committed.
	DrainSeconds       float64 `json:"drain_s"`
	FirstCommitSeconds float64 `json:"first_commit_s"`
	CommittedSeconds   float64 `json:"committed_s"`
	// Commits counts the data commits (both tables); MaxCommitGapSeconds is
	// the longest time between consecutive commits (or from the start to
	// the first): how long the lake showed no progress.
	Commits             int     `json:"commits"`
	MaxCommitGapSeconds float64 `json:"max_commit_gap_s"`
	// Files is the number of live data files per table after ingest, Rows
	// their rows (numRecords), DatesInLake their distinct dt values.
	Files       map[string]int   `json:"files"`
	Rows        map[string]int64 `json:"rows"`
	DatesInLake map[string]int   `json:"dates_in_lake"`
}

// RunBackfillBench measures a years-long backfill: an embedded broker holding
// daily history (cfg.Pairs store-SKUs × cfg.Years years of POS transactions
// and inventory snapshots), drained by one ingester into a fresh local lake
// under cfg.Dir, which it leaves there.
func RunBackfillBench(ctx context.Context, cfg BackfillConfig) (BackfillResult, error) {
	if cfg.Pairs == 0 {
		cfg.Pairs = 10
	}
	if cfg.Years == 0 {
		cfg.Years = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	res := BackfillResult{Pairs: cfg.Pairs, Years: cfg.Years}
	if cfg.Dir == "" {
		return res, errors.New("backfill bench: no directory for the lake")
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(4, schema.Topics...),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
	)
	if err != nil {
		return res, fmt.Errorf("backfill bench: broker: %w", err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]

	first := schema.NewDate(2021, 1, 1)
	last := schema.NewDate(2021+cfg.Years, 1, 1).AddDays(-1)
	res.Dates = int(last-first) + 1
	cfg.Logger.Info("backfill bench: producing", "pairs", cfg.Pairs, "dates", res.Dates)
	res.POSRecords, res.InventoryRecords, err = produceBackfill(ctx, addr, cfg.Pairs, first, last)
	if err != nil {
		return res, err
	}
	res.Records = res.POSRecords + res.InventoryRecords
	ends, err := topicEnds(ctx, addr, schema.TopicPOS, schema.TopicInventory)
	if err != nil {
		return res, err
	}

	dir, err := os.MkdirTemp(cfg.Dir, "lake-backfill-")
	if err != nil {
		return res, err
	}
	res.LakeDir = dir
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		return res, err
	}
	defer l.Close()
	var (
		mu      sync.Mutex
		commits []time.Time
		changed = make(chan struct{}, 1)
	)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ing, err := New(rctx, Options{
		Kafka:          Kafka{Brokers: []string{addr}},
		Lake:           NewLake(l),
		Group:          "bench-backfill",
		FlushInterval:  cfg.FlushInterval,
		MaxBufferBytes: cfg.MaxBufferBytes,
		MaxFlushDates:  cfg.MaxFlushDates,
		DisableDLQ:     true,
		SessionTimeout: 10 * time.Second,
		Logger:         cfg.Logger,
	})
	if err != nil {
		return res, err
	}
	ing.onCommit = func(t *table, _ []jobFence, at time.Time) {
		if t.id == tablePOS || t.id == tableInventory {
			mu.Lock()
			commits = append(commits, at)
			mu.Unlock()
		}
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	start := time.Now()
	runErr := make(chan error, 1)
	go func() { runErr <- ing.Run(rctx) }()
	// Drained: polled (a benchmark figure, not a synchronisation).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for res.CommittedSeconds == 0 {
		select {
		case <-tick.C:
		case <-changed:
		case err := <-runErr:
			return res, fmt.Errorf("backfill bench: ingester stopped: %v", err)
		case <-ctx.Done():
			return res, ctx.Err()
		}
		if res.DrainSeconds == 0 && ing.reached(ends, false) {
			res.DrainSeconds = time.Since(start).Seconds()
		}
		if ing.reached(ends, true) {
			res.CommittedSeconds = time.Since(start).Seconds()
		}
	}
	if res.DrainSeconds == 0 {
		res.DrainSeconds = res.CommittedSeconds
	}
	cancel()
	if err := <-runErr; err != nil {
		return res, err
	}
	mu.Lock()
	res.Commits = len(commits)
	prev := start
	for k, at := range commits {
		if k == 0 {
			res.FirstCommitSeconds = at.Sub(start).Seconds()
		}
		res.MaxCommitGapSeconds = max(res.MaxCommitGapSeconds, at.Sub(prev).Seconds())
		prev = at
	}
	mu.Unlock()
	res.Files, res.Rows, res.DatesInLake = map[string]int{}, map[string]int64{}, map[string]int{}
	for _, t := range []*schema.Table{schema.TablePOSLines(), schema.TableInventorySnapshots()} {
		dt, err := l.Table(ctx, t)
		if err != nil {
			return res, err
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return res, err
		}
		res.Files[t.Name] = snap.NumFiles()
		res.Rows[t.Name], _ = snap.NumRecords()
		dates := map[string]bool{}
		for _, f := range snap.Files() {
			dates[f.PartitionValues[schema.PartitionColumn]] = true
		}
		res.DatesInLake[t.Name] = len(dates)
	}
	return res, nil
}

// produceBackfill produces one POS transaction per pair and day and an
// inventory snapshot per pair every third day, from first to last, and
// returns the number of records of each.
func produceBackfill(ctx context.Context, addr string, pairs int, first, last schema.Date) (pos, inv int64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	zone := time.FixedZone("", 3600)
	var (
		mu       sync.Mutex
		firstErr error
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			firstErr = cmpOr(firstErr, err)
			mu.Unlock()
		}
	}
	produce := func(topic string, key string, v any) {
		b, _ := json.Marshal(v) // the event types always marshal
		if topic == schema.TopicPOS {
			pos++
		} else {
			inv++
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b}, done)
	}
	for d := first; d <= last; d = d.AddDays(1) {
		for p := range pairs {
			store, sku := fmt.Sprintf("S%03d", p), fmt.Sprintf("SKU-%06d", p)
			q := int64(1 + (int(d)+p)%5)
			price := schema.Money(10_000 + 100*int64(p))
			lt := price.Mul(q)
			produce(schema.TopicPOS, store, schema.POSTransaction{
				SchemaVersion: schema.CurrentVersion,
				TransactionID: fmt.Sprintf("%s-R01-%s-%d", store, d, p),
				StoreID:       store, RegisterID: store + "-R01", Type: schema.TxnSale,
				BusinessDate: d, EventTime: d.In(zone).Add(18 * time.Hour), Currency: "EUR",
				Total: lt, Tenders: []schema.Tender{{Type: "card", Amount: lt}},
				Lines: []schema.POSLine{{LineNo: 1, SKU: sku, Quantity: q, UnitPrice: price, LineTotal: lt}},
			})
			if (int(d-first)+p)%3 == 0 {
				produce(schema.TopicInventory, store, schema.InventoryRecord{
					SchemaVersion: schema.CurrentVersion, SnapshotID: fmt.Sprintf("INV-%s-%s", store, d),
					Kind: schema.SnapshotFull, SnapshotRows: 1, LocationID: store, SKU: sku,
					OnHand: 20 + int64(p), AsOf: d.In(zone).Add(22 * time.Hour),
				})
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return pos, inv, err
	}
	if firstErr != nil {
		return pos, inv, fmt.Errorf("backfill bench: produce: %w", firstErr)
	}
	return pos, inv, nil
}

// topicEnds returns the end offset of every non-empty partition of topics.
func topicEnds(ctx context.Context, addr string, topics ...string) (map[tp]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("bench: list offsets: %w", err)
	}
	ends := map[tp]int64{}
	var lerr error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = o.Err
		}
		if o.Offset > 0 {
			ends[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	return ends, lerr
}

// reached reports whether the ingester consumed (committed false) or
// committed to both of a topic's tables (committed true) every partition up
// to ends.
func (i *Ingester) reached(ends map[tp]int64, committed bool) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for p, end := range ends {
		ps := i.parts[p]
		if ps == nil {
			return false
		}
		for k := range ps.pos {
			at := ps.pos[k].have
			if committed {
				at = ps.pos[k].committed
			}
			if at < end {
				return false
			}
		}
	}
	return true
}

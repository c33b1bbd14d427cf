package ingest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SHELFLAKE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func openLocalLake(t testing.TB) (*lake.Lake, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := lake.Open(context.Background(), dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, dir
}

// runIngester runs an in-process ingester until the returned stop is
// called; stop returns Run's error.
func runIngester(t testing.TB, o Options) (*Ingester, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ing, err := New(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ing.Run(ctx) }()
	var stopped bool
	var res error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			res = <-done
		}
		return res
	}
	t.Cleanup(func() { _ = stop() })
	return ing, stop
}

func TestIngestWritesEveryRecordOnceAndRejectsTheMalformed(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, 4)
	addr := c.ListenAddrs()[0]
	prod := newProducer(t, addr)
	ds := produceWorkload(t, prod, 1, 0, 3000, 5, 50)

	l, _ := openLocalLake(t)
	reg := prometheus.NewRegistry()
	ing, stop := runIngester(t, Options{
		Kafka:          Kafka{Brokers: []string{addr}},
		Lake:           NewLake(l),
		Group:          "g1",
		FlushInterval:  200 * time.Millisecond,
		SessionTimeout: time.Second,
		Logger:         testLogger(t),
		Registerer:     reg,
	})
	waitUntil(t, 60*time.Second, 100*time.Millisecond, "the lake to hold every record", func() bool {
		return caughtUp(t, ctx, l, addr, "g1")
	})
	if !ing.Ready() {
		t.Error("ingester not ready while ingesting")
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	st := readLake(t, ctx, l)
	checkExactlyOnce(t, st, ds)

	// Every partition of every table is at the partition's end: rejects
	// is fed by both topics.
	feeds := map[string][]string{
		schema.TableNamePOSLines:   {schema.TopicPOS},
		schema.TableNamePromotions: {schema.TopicPromotion},
		schema.TableNameRejects:    {schema.TopicPOS, schema.TopicPromotion},
	}
	for table, vs := range st.versions {
		for _, topic := range feeds[table] {
			for p := range int32(4) {
				app := AppID("g1", topic, p)
				if _, ok := vs[app]; !ok {
					t.Errorf("table %s has no txn for %s", table, app)
				}
			}
		}
	}
	// The watermarks: complete to the end of each partition, up to the
	// newest event time it holds.
	wms, err := Watermarks(ctx, l, "g1")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, w := range wms {
		if w.Table != schema.TableNamePOSLines {
			continue
		}
		seen++
		if w.Offset != st.versions[schema.TableNamePOSLines][AppID("g1", w.Topic, w.Partition)] {
			t.Errorf("watermark %+v: offset is not the table's txn version", w)
		}
		if !w.EventTime.Equal(st.newestEvent[w.Partition]) {
			t.Errorf("watermark of partition %d: event time %v, newest row's %v", w.Partition, w.EventTime, st.newestEvent[w.Partition])
		}
		if w.CommittedAt.IsZero() {
			t.Errorf("watermark %+v has no commit time", w)
		}
	}
	if seen != 4 {
		t.Errorf("%d pos_lines watermarks, want one per partition (4): %+v", seen, wms)
	}
	if c := Complete(wms, time.Hour); c[schema.TableNamePOSLines].IsZero() {
		t.Errorf("pos_lines has no completeness time: %v", c)
	}

	if got := metricValue(ing.m.rows.WithLabelValues(schema.TableNamePOSLines)); int64(got) != ds.valid.Lines {
		t.Errorf("rows written metric = %v, want %d", got, ds.valid.Lines)
	}
	if got := metricValue(ing.m.rows.WithLabelValues(schema.TableNamePromotions)); int(got) != len(ds.promos) {
		t.Errorf("promotions rows written metric = %v, want %d", got, len(ds.promos))
	}
	if ds.malformedBy[schema.TopicPOS] == 0 || ds.malformedBy[schema.TopicPromotion] == 0 || len(ds.promos) == 0 {
		t.Fatalf("the workload lacks valid promotions or malformed records of a topic: %d promotions, malformed %v",
			len(ds.promos), ds.malformedBy)
	}
	for _, topic := range []string{schema.TopicPOS, schema.TopicPromotion} {
		var rejected float64
		for _, r := range schema.Reasons() {
			rejected += metricValue(ing.m.rejects.WithLabelValues(topic, r))
		}
		if int64(rejected) != ds.malformedBy[topic] {
			t.Errorf("%s rejects metric = %v, want %d", topic, rejected, ds.malformedBy[topic])
		}

		// The dead letters: one per malformed record, with the source headers.
		dlq := consumeAll(t, addr, topic+".dlq", int(ds.malformedBy[topic]))
		dead := map[string]bool{}
		for _, r := range dlq {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			if h[HeaderSourceTopic] != topic || h[HeaderReason] == "" || h[HeaderError] == "" {
				t.Errorf("dead letter headers %v lack the source or the error", h)
			}
			id := h[HeaderSourcePartition] + "/" + h[HeaderSourceOffset]
			if dead[id] {
				t.Errorf("dead letter %s of %s produced twice", id, topic)
			}
			dead[id] = true
			p, _ := strconv.Atoi(h[HeaderSourcePartition])
			o, _ := strconv.ParseInt(h[HeaderSourceOffset], 10, 64)
			if st.rejectIDs[topic+"/"+strconv.Itoa(p)+"/"+strconv.FormatInt(o, 10)] != 1 {
				t.Errorf("dead letter %s of %s is not in the rejects table", id, topic)
			}
		}
		if int64(len(dlq)) != ds.malformedBy[topic] {
			t.Errorf("%d dead letters on %s.dlq, want %d", len(dlq), topic, ds.malformedBy[topic])
		}
	}

	// A restart with nothing new commits nothing and duplicates nothing.
	before := st.posFiles
	ing2, stop2 := runIngester(t, Options{
		Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "g1",
		FlushInterval: 100 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t),
	})
	waitUntil(t, 30*time.Second, 50*time.Millisecond, "the restarted ingester to join", ing2.Ready)
	more := produceWorkload(t, prod, 2, 3000, 500, 2, 0)
	ds.merge(more)
	waitUntil(t, 60*time.Second, 100*time.Millisecond, "the lake to hold the new records", func() bool {
		return caughtUp(t, ctx, l, addr, "g1")
	})
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	st = readLake(t, ctx, l)
	checkExactlyOnce(t, st, ds)
	if st.posFiles <= before {
		t.Errorf("no new files after the restart")
	}
}

// consumeAll reads want records of topic from the start (or fails after a
// while).
func consumeAll(t testing.TB, addr, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			break
		}
		out = append(out, fs.Records()...)
	}
	// Anything beyond want (a duplicate) arrives within a short wait.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	out = append(out, cl.PollFetches(ctx2).Records()...)
	return out
}

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestIngestFencedFlushRewindsToTheLake: another writer commits a range of
// a partition the ingester owns (as a new owner would after a rebalance the
// ingester missed). The ingester's next flush of that table is refused by
// fencing; it drops its buffers, rewinds to the lake's offsets and goes on:
// the other writer's range is not written twice, and nothing else is lost.
func TestIngestFencedFlushRewindsToTheLake(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, 2)
	addr := c.ListenAddrs()[0]
	prod := newProducer(t, addr)
	ds := produceWorkload(t, prod, 11, 0, 400, 2, 0)

	l, _ := openLocalLake(t)
	ing, stop := runIngester(t, Options{
		Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "g",
		FlushInterval: 300 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t),
	})
	waitUntil(t, 30*time.Second, 50*time.Millisecond, "ingest", func() bool { return caughtUp(t, ctx, l, addr, "g") })

	// The other writer claims the next 5 offsets of partition 0 in
	// pos_lines, writing no rows for them.
	app := AppID("g", schema.TopicPOS, 0)
	dt, err := l.Table(ctx, schema.TablePOSLines())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := snap.TxnVersion(app)
	if _, err := dt.Commit(ctx, snap, delta.Txn{Fences: []delta.FenceRange{{AppID: app, From: v, To: v + 5}}}); err != nil {
		t.Fatal(err)
	}
	more := produceWorkload(t, prod, 12, 400, 400, 2, 0)
	waitUntil(t, 30*time.Second, 50*time.Millisecond, "ingest after the fence", func() bool { return caughtUp(t, ctx, l, addr, "g") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if metricValue(ing.m.fenced.WithLabelValues(schema.TableNamePOSLines)) < 1 || metricValue(ing.m.rewinds) < 1 {
		t.Fatalf("no fenced flush and rewind: fenced %v, rewinds %v",
			metricValue(ing.m.fenced.WithLabelValues(schema.TableNamePOSLines)), metricValue(ing.m.rewinds))
	}

	// Expected: everything but the 5 claimed records.
	ds.merge(more)
	claimed := readRecords(t, addr, schema.TopicPOS, 0, v, v+5)
	var dec schema.Decoder
	for _, r := range claimed {
		tx, err := dec.POS(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		ds.valid.Docs--
		delete(ds.txns, tx.TransactionID)
		for _, ln := range tx.Lines {
			ds.valid.Lines--
			ds.valid.Quantity -= ln.Quantity
			ds.valid.LineTotal -= ln.LineTotal
		}
	}
	checkExactlyOnce(t, readLake(t, ctx, l), ds)
}

// readRecords reads the records [from, to) of one partition.
func readRecords(t testing.TB, addr, topic string, partition int32, from, to int64) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().At(from)},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for int64(len(out)) < to-from && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if r.Offset < to {
				out = append(out, r)
			}
		})
	}
	if int64(len(out)) != to-from {
		t.Fatalf("read %d records of %s/%d [%d,%d)", len(out), topic, partition, from, to)
	}
	return out
}

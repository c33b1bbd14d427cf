package ingest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// allTopics are the input topics and their dead-letter topics.
func allTopics() []string {
	ts := append([]string(nil), schema.Topics...)
	for _, t := range schema.Topics {
		ts = append(ts, t+".dlq")
	}
	return ts
}

// startCluster starts an in-process kfake broker listening on loopback TCP
// (the ingesters under test, in-process or subprocesses, connect over TCP)
// with short group session timeouts allowed.
func startCluster(t testing.TB, partitions int32, extra ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts := append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(partitions, allTopics()...),
		kfake.DefaultNumPartitions(int(partitions)),
		kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, "127.0.0.1:0")
		}),
	}, extra...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// dataset is what the tests produce and then expect in the lake.
type dataset struct {
	valid     synthTotals
	malformed int64
	// keys are the valid transaction ids.
	txns map[string]bool
}

// produceWorkload produces n POS transactions over dates business dates
// starting at day0, with every malformedEvery-th record broken (0: none),
// spread over the partitions by key; some records carry headers.
func produceWorkload(t testing.TB, cl *kgo.Client, seed uint64, from, n int64, dates int, malformedEvery int64) dataset {
	t.Helper()
	s := newSynth(seed)
	day0 := schema.NewDate(2025, 6, 1)
	ds := dataset{txns: map[string]bool{}}
	var recs []*kgo.Record
	flush := func() {
		// Errorf, not Fatalf: this may run on a producing goroutine.
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Errorf("produce: %v", err)
		}
		recs = recs[:0]
	}
	for k := from; k < from+n; k++ {
		dt := day0.AddDays(int(k % int64(dates)))
		r := &kgo.Record{Topic: schema.TopicPOS}
		if malformedEvery > 0 && k%malformedEvery == malformedEvery-1 {
			r.Key = []byte(fmt.Sprintf("S%03d", k%40))
			r.Value = s.malformed(k, dt, int(k/malformedEvery))
			ds.malformed++
		} else {
			key, doc, tot := s.pos(k, dt)
			r.Key, r.Value = key, doc
			ds.valid.add(tot)
			ds.txns[fmt.Sprintf("S%03d-R01-%s-%09d", k%40, dt, k)] = true
		}
		if k%7 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "trace-id", Value: []byte(strconv.FormatInt(k, 10))}}
		}
		recs = append(recs, r)
		if len(recs) == 1000 {
			flush()
		}
	}
	flush()
	return ds
}

func (d *dataset) merge(o dataset) {
	d.valid.add(o.valid)
	d.malformed += o.malformed
	if d.txns == nil {
		d.txns = map[string]bool{}
	}
	for k := range o.txns {
		d.txns[k] = true
	}
}

// lakeState is what the lake holds, read back from the Delta snapshots and
// the Parquet files.
type lakeState struct {
	lines     int64
	keys      map[string]int // "txn/line" → count
	txns      map[string]bool
	quantity  int64
	lineTotal schema.Money
	rejects   int64
	rejectIDs map[string]int // "topic/partition/offset" → count
	reasons   map[string]int64
	posFiles  int
	// newestEvent is the newest pos_lines event time per source partition.
	newestEvent map[int32]time.Time
	versions    map[string]map[string]int64 // table → appId → version
}

func readLake(t testing.TB, ctx context.Context, l *lake.Lake) lakeState {
	t.Helper()
	st := lakeState{keys: map[string]int{}, txns: map[string]bool{}, rejectIDs: map[string]int{},
		reasons: map[string]int64{}, versions: map[string]map[string]int64{}, newestEvent: map[int32]time.Time{}}
	pos, err := l.Table(ctx, schema.TablePOSLines())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := pos.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.versions[schema.TableNamePOSLines] = snap.Txns()
	// The columns the checks need, read a few files at a time.
	type posCheckRow struct {
		TransactionID string       `parquet:"transaction_id"`
		LineNo        int32        `parquet:"line_no"`
		BusinessDate  schema.Date  `parquet:"business_date,date"`
		Quantity      int64        `parquet:"quantity"`
		LineTotal     schema.Money `parquet:"line_total,decimal(4:18)"`
		EventTime     time.Time    `parquet:"event_time,timestamp(microsecond)"`
		SrcPartition  int32        `parquet:"src_partition"`
	}
	files := snap.Files()
	rowsOf := make([][]posCheckRow, len(files))
	var g errgroup.Group
	g.SetLimit(4)
	for k, f := range files {
		g.Go(func() error {
			rows, err := lake.ReadRows[posCheckRow](ctx, l, f.Key)
			rowsOf[k] = rows
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for k, f := range files {
		st.posFiles++
		for _, r := range rowsOf[k] {
			st.lines++
			st.keys[fmt.Sprintf("%s/%d", r.TransactionID, r.LineNo)]++
			st.txns[r.TransactionID] = true
			st.quantity += r.Quantity
			st.lineTotal += r.LineTotal
			if r.EventTime.After(st.newestEvent[r.SrcPartition]) {
				st.newestEvent[r.SrcPartition] = r.EventTime
			}
			if d := r.BusinessDate.String(); f.PartitionValues["dt"] != d {
				t.Errorf("row of business date %s in partition dt=%s", d, f.PartitionValues["dt"])
			}
		}
	}
	rej, err := l.Table(ctx, schema.TableRejects())
	if err != nil {
		t.Fatal(err)
	}
	rsnap, err := rej.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.versions[schema.TableNameRejects] = rsnap.Txns()
	for _, f := range rsnap.Files() {
		rows, err := lake.ReadRows[schema.RejectRow](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			st.rejects++
			st.rejectIDs[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)]++
			st.reasons[r.Reason]++
		}
	}
	return st
}

// checkExactlyOnce fails t unless the lake holds exactly ds: every valid
// line once (count, distinct keys, sums of quantity and money) and every
// malformed record once in rejects.
func checkExactlyOnce(t testing.TB, st lakeState, ds dataset) {
	t.Helper()
	if st.lines != ds.valid.Lines {
		t.Errorf("pos_lines holds %d rows, want %d", st.lines, ds.valid.Lines)
	}
	if int64(len(st.keys)) != ds.valid.Lines {
		t.Errorf("pos_lines holds %d distinct (transaction_id, line_no), want %d", len(st.keys), ds.valid.Lines)
	}
	dups := 0
	for k, n := range st.keys {
		if n > 1 {
			if dups < 5 {
				t.Errorf("line %s is in the lake %d times", k, n)
			}
			dups++
		}
	}
	if dups > 0 {
		t.Errorf("%d duplicated lines", dups)
	}
	missing := 0
	for id := range ds.txns {
		if !st.txns[id] {
			if missing < 5 {
				t.Errorf("transaction %s is not in the lake", id)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d transactions missing", missing)
	}
	if st.quantity != ds.valid.Quantity {
		t.Errorf("sum(quantity) = %d, want %d", st.quantity, ds.valid.Quantity)
	}
	if st.lineTotal != ds.valid.LineTotal {
		t.Errorf("sum(line_total) = %s, want %s", st.lineTotal, ds.valid.LineTotal)
	}
	if st.rejects != ds.malformed || int64(len(st.rejectIDs)) != ds.malformed {
		t.Errorf("rejects holds %d rows (%d distinct records), want %d", st.rejects, len(st.rejectIDs), ds.malformed)
	}
}

// caughtUp reports whether both tables fed by pos.transactions hold every
// offset the topic has (their txn versions reached the end offsets) for
// group: cheaper to poll than reading the files.
// A client may be given (one that can reach a secured broker).
func caughtUp(t testing.TB, ctx context.Context, l *lake.Lake, addr, group string, use ...*kgo.Client) bool {
	t.Helper()
	var cl *kgo.Client
	if len(use) > 0 {
		cl = use[0]
	} else {
		c, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cl = c
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, schema.TopicPOS)
	if err != nil {
		t.Logf("list end offsets: %v", err)
		return false
	}
	for _, d := range []*schema.Table{schema.TablePOSLines(), schema.TableRejects()} {
		dt, err := l.Table(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		txns := snap.Txns()
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && txns[AppID(group, o.Topic, o.Partition)] < o.Offset {
				ok = false
			}
		})
		if !ok {
			return false
		}
	}
	return true
}

// waitUntil polls cond every interval until it holds or timeout passes.
func waitUntil(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

func newProducer(t testing.TB, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

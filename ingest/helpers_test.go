package ingest

import (
	"context"
	"encoding/json"
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
	malformed int64 // of every topic
	// malformedBy counts the malformed records per topic.
	malformedBy map[string]int64
	// keys are the valid transaction ids.
	txns map[string]bool
	// promos are the valid promotions' rows by promotion_id, without
	// lineage (src_partition, src_offset, ingested_at).
	promos map[string]schema.PromotionRow
}

// promoEvery: produceWorkload sends a promotion with every promoEvery-th
// POS transaction.
const promoEvery = 10

// produceWorkload produces n POS transactions over dates business dates
// starting at day0 and, with every promoEvery-th of them, an erp.promotions
// document published that day; every malformedEvery-th record of each
// topic is broken (0: none). Records spread over the partitions by key;
// some carry headers.
func produceWorkload(t testing.TB, cl *kgo.Client, seed uint64, from, n int64, dates int, malformedEvery int64) dataset {
	t.Helper()
	s := newSynth(seed)
	day0 := schema.NewDate(2025, 6, 1)
	ds := dataset{txns: map[string]bool{}, promos: map[string]schema.PromotionRow{}, malformedBy: map[string]int64{}}
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
			ds.malformedBy[schema.TopicPOS]++
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
		if k%promoEvery == promoEvery/2 {
			j := k / promoEvery
			p := &kgo.Record{Topic: schema.TopicPromotion}
			if malformedEvery > 0 && j%malformedEvery == malformedEvery-1 {
				p.Key, p.Value = s.malformedPromotion(j, dt, int(j/malformedEvery))
				ds.malformed++
				ds.malformedBy[schema.TopicPromotion]++
			} else {
				key, doc, row := s.promotion(j, dt)
				p.Key, p.Value = key, doc
				ds.promos[row.PromotionID] = row
			}
			recs = append(recs, p)
		}
		if len(recs) >= 1000 {
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
	if d.promos == nil {
		d.promos = map[string]schema.PromotionRow{}
	}
	for k, r := range o.promos {
		d.promos[k] = r
	}
	if d.malformedBy == nil {
		d.malformedBy = map[string]int64{}
	}
	for k, n := range o.malformedBy {
		d.malformedBy[k] += n
	}
}

// promotion returns a valid erp.promotions document with id n, published
// on business date dt, its key (the SKU) and its row without lineage. Its
// contents follow from n alone (the POS stream's randomness is untouched):
// a third are one store's, the rest chain-wide; every seventh is
// cancelled.
func (s *synth) promotion(n int64, dt schema.Date) (key, doc []byte, row schema.PromotionRow) {
	start := dt.AddDays(7 + int(n%29))
	p := schema.Promotion{
		SchemaVersion: schema.CurrentVersion,
		PromotionID:   fmt.Sprintf("PR-%09d", n),
		SKU:           fmt.Sprintf("SKU-%06d", (n*7919)%int64(s.skus)),
		StartDate:     start,
		EndDate:       start.AddDays(int(n % 14)),
		DiscountPct:   5 + int(n%45),
		Status:        schema.PromotionPlanned,
		UpdatedAt:     dt.In(s.zone).Add(6*time.Hour + time.Duration(n%3600)*time.Second),
	}
	if n%3 == 0 {
		p.LocationID = fmt.Sprintf("S%03d", n%int64(s.stores))
	}
	if n%7 == 0 {
		p.Status = schema.PromotionCancelled
	}
	b, _ := json.Marshal(&p) // cannot fail: the type always marshals
	return []byte(p.SKU), b, p.AppendRows(nil, schema.Source{})[0]
}

// malformedPromotion returns a promotion document, and its key, that fails
// decoding in one of four ways (kind modulo malformedKinds): not JSON, an
// unknown member, an end before the start, an unknown schema version.
func (s *synth) malformedPromotion(n int64, dt schema.Date, kind int) (key, doc []byte) {
	key, doc, _ = s.promotion(n, dt)
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	switch kind % malformedKinds {
	case 0:
		return key, doc[:len(doc)/2]
	case 1:
		m["surprise"] = true
	case 2:
		m["end_date"] = dt.AddDays(-1).String()
	default:
		m["schema_version"] = 99
	}
	b, _ := json.Marshal(m)
	return key, b
}

// samePromotion reports whether lake row got is want, lineage aside.
func samePromotion(got, want schema.PromotionRow) bool {
	return got.PromotionID == want.PromotionID && got.SKU == want.SKU && got.LocationID == want.LocationID &&
		got.StartDate == want.StartDate && got.EndDate == want.EndDate && got.DiscountPct == want.DiscountPct &&
		got.Status == want.Status && got.UpdatedAt.Equal(want.UpdatedAt) &&
		got.UpdatedAtUTCOffsetMin == want.UpdatedAtUTCOffsetMin && got.BusinessDate == want.BusinessDate
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
	// promos are the promotions rows by promotion_id.
	promos map[string][]schema.PromotionRow
	// newestEvent is the newest pos_lines event time per source partition.
	newestEvent map[int32]time.Time
	versions    map[string]map[string]int64 // table → appId → version
}

func readLake(t testing.TB, ctx context.Context, l *lake.Lake) lakeState {
	t.Helper()
	st := lakeState{keys: map[string]int{}, txns: map[string]bool{}, rejectIDs: map[string]int{},
		reasons: map[string]int64{}, versions: map[string]map[string]int64{}, newestEvent: map[int32]time.Time{},
		promos: map[string][]schema.PromotionRow{}}
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
	pr, err := l.Table(ctx, schema.TablePromotions())
	if err != nil {
		t.Fatal(err)
	}
	psnap, err := pr.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.versions[schema.TableNamePromotions] = psnap.Txns()
	for _, f := range psnap.Files() {
		rows, err := lake.ReadRows[schema.PromotionRow](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			st.promos[r.PromotionID] = append(st.promos[r.PromotionID], r)
			if d := r.BusinessDate.String(); f.PartitionValues["dt"] != d {
				t.Errorf("promotion published on %s in partition dt=%s", d, f.PartitionValues["dt"])
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
// line once (count, distinct keys, sums of quantity and money), every valid
// promotion once and as sent, and every malformed record once in rejects.
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
	checkPromotions(t, st, ds)
}

// checkPromotions fails t unless promotions holds every promotion of ds
// once, equal to what was sent, and nothing else.
func checkPromotions(t testing.TB, st lakeState, ds dataset) {
	t.Helper()
	bad := 0
	report := func(format string, args ...any) {
		if bad < 5 {
			t.Errorf(format, args...)
		}
		bad++
	}
	for id, want := range ds.promos {
		switch got := st.promos[id]; {
		case len(got) != 1:
			report("promotion %s is in the lake %d times", id, len(got))
		case !samePromotion(got[0], want):
			report("promotion %s reads back as %+v, sent %+v", id, got[0], want)
		}
	}
	for id := range st.promos {
		if _, ok := ds.promos[id]; !ok {
			report("promotion %s is in the lake but was not sent valid", id)
		}
	}
	if bad > 0 {
		t.Errorf("%d promotions wrong (%d sent valid, %d in the lake)", bad, len(ds.promos), len(st.promos))
	}
}

// caughtUp reports whether the tables fed by pos.transactions and
// erp.promotions (each topic's data table and rejects) hold every offset
// the topics have (their txn versions reached the end offsets) for group:
// cheaper to poll than reading the files.
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
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, schema.TopicPOS, schema.TopicPromotion)
	if err != nil {
		t.Logf("list end offsets: %v", err)
		return false
	}
	for _, d := range []*schema.Table{schema.TablePOSLines(), schema.TablePromotions(), schema.TableRejects()} {
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
			if feeds, _ := schema.TableForTopic(o.Topic); d.Name != schema.TableNameRejects && feeds.Name != d.Name {
				return
			}
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

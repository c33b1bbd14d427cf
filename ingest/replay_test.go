package ingest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

func TestReplayIngestsRejectsThatNowPassOnce(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, 4)
	addr := c.ListenAddrs()[0]
	prod := newProducer(t, addr)
	// Every 10th record of each topic (POS transactions and promotions) is
	// malformed; a quarter of those (kind 3) only have schema_version 99,
	// which "a fix" will accept.
	ds := produceWorkload(t, prod, 5, 0, 1200, 3, 10)

	l, _ := openLocalLake(t)
	_, stop := runIngester(t, Options{
		Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "g",
		FlushInterval: 200 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t),
	})
	waitUntil(t, 60*time.Second, 100*time.Millisecond, "ingest", func() bool { return caughtUp(t, ctx, l, addr, "g") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	before := readLake(t, ctx, l)
	checkExactlyOnce(t, before, ds)

	// The fix: version 99 documents are read as version 1.
	fix := func(_ string, v []byte) []byte {
		return bytes.Replace(v, []byte(`"schema_version":99`), []byte(`"schema_version":1`), 1)
	}
	// What the fix lets through, computed from the rejects themselves.
	var want synthTotals
	wantPromos := map[string]schema.PromotionRow{}
	var dec schema.Decoder
	for _, r := range readRejectRows(t, ctx, l) {
		switch r.Topic {
		case schema.TopicPOS:
			if v, err := dec.POS(fix("", r.Value)); err == nil {
				want.Docs++
				for _, ln := range v.Lines {
					want.Lines++
					want.Quantity += ln.Quantity
					want.LineTotal += ln.LineTotal
				}
			}
		case schema.TopicPromotion:
			if v, err := dec.Promotion(fix("", r.Value)); err == nil {
				wantPromos[v.PromotionID] = v.AppendRows(nil, schema.Source{})[0]
			}
		}
	}
	if want.Docs == 0 || len(wantPromos) == 0 {
		t.Fatalf("%d POS and %d promotion rejects pass with the fix: the test tests too little", want.Docs, len(wantPromos))
	}
	wantPassed := int(want.Docs) + len(wantPromos)

	o := ReplayOptions{Lake: l, Group: "g", rewrite: fix, Logger: testLogger(t)}
	dry := o
	dry.DryRun = true
	rep, err := ReplayRejects(ctx, dry)
	if err != nil {
		t.Fatal(err)
	}
	if dryLake := readLake(t, ctx, l); rep.Passed != wantPassed || rep.Ingested != 0 || dryLake.lines != before.lines ||
		len(dryLake.promos) != len(before.promos) {
		t.Errorf("dry run: %+v (want %d passing, nothing written)", rep, wantPassed)
	}

	rep, err = ReplayRejects(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ingested != wantPassed || rep.Examined != int(ds.malformed) || rep.Rows[schema.TableNamePromotions] != int64(len(wantPromos)) {
		t.Errorf("replay: %+v, want %d ingested (%d promotions) of %d examined", rep, wantPassed, len(wantPromos), ds.malformed)
	}
	if n := rep.StillFailing[schema.ReasonUnknownVersion]; n != 0 {
		t.Errorf("%d version-99 rejects still fail after the fix", n)
	}
	after := readLake(t, ctx, l)
	if after.lines != before.lines+want.Lines || after.quantity != before.quantity+want.Quantity ||
		after.lineTotal != before.lineTotal+want.LineTotal {
		t.Errorf("after replay: %d lines, qty %d, total %s; want %d, %d, %s", after.lines, after.quantity, after.lineTotal,
			before.lines+want.Lines, before.quantity+want.Quantity, before.lineTotal+want.LineTotal)
	}
	// The replayed promotions are in the lake once, as fixed, with the
	// original record's source offset; the others are as they were.
	replayed := dataset{promos: map[string]schema.PromotionRow{}}
	replayed.merge(ds)
	for id, r := range wantPromos {
		replayed.promos[id] = r
	}
	checkPromotions(t, after, replayed)
	rejected := readRejectRows(t, ctx, l)
	for id := range wantPromos {
		if got := after.promos[id]; len(got) == 1 && !rejectedAt(rejected, schema.TopicPromotion, got[0].SrcPartition, got[0].SrcOffset) {
			t.Errorf("replayed promotion %s has source %d/%d, which is no reject's", id, got[0].SrcPartition, got[0].SrcOffset)
		}
	}

	// Again, and two at once: nothing more is written.
	errs := make(chan error, 2)
	reps := make(chan ReplayReport, 2)
	for range 2 {
		go func() {
			r, err := ReplayRejects(ctx, o)
			reps <- r
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if r := <-reps; r.Ingested != 0 || r.AlreadyIngested != wantPassed {
			t.Errorf("replaying again: %+v, want everything already ingested", r)
		}
	}
	again := readLake(t, ctx, l)
	if again.lines != after.lines {
		t.Errorf("replaying again wrote %d more lines", again.lines-after.lines)
	}
	checkPromotions(t, again, replayed)
	for k, n := range again.keys {
		if n > 1 {
			t.Errorf("line %s is in the lake %d times", k, n)
		}
	}
}

// rejectedAt reports whether rejects holds the record at topic/partition/offset.
func rejectedAt(rs []schema.RejectRow, topic string, partition int32, offset int64) bool {
	for _, r := range rs {
		if r.Topic == topic && r.Partition == partition && r.Offset == offset {
			return true
		}
	}
	return false
}

func readRejectRows(t testing.TB, ctx context.Context, l *lake.Lake) []schema.RejectRow {
	t.Helper()
	rows, err := readRejects(ctx, ReplayOptions{Lake: l})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestReplayLeavesRejectsTheDataTableHasNotPassed: ingest commits a flush
// to the rejects table and to the data table separately. Stopped between
// the two, the rejects table holds a reject at an offset the data table
// has not committed past; the restarted ingester reads that record again
// (and writes it if it passes now). A replay in between must leave it, or
// the record is written twice.
func TestReplayLeavesRejectsTheDataTableHasNotPassed(t *testing.T) {
	ctx := context.Background()
	l, _ := openLocalLake(t)
	lk := NewLake(l)
	const group = "g"
	app := AppID(group, schema.TopicPOS, 0)
	// A POS transaction of schema version 99, rejected at offset 5; the
	// fix reads it as version 1.
	doc := []byte(`{"schema_version":99,"transaction_id":"T-1","store_id":"S001","register_id":"R1","type":"sale",` +
		`"business_date":"2026-01-05","event_time":"2026-01-05T10:31:07-05:00","currency":"USD","total":4.99,` +
		`"tenders":[{"type":"card","amount":4.99}],"lines":[{"line_no":1,"sku":"SKU1","quantity":1,"unit_price":4.99,"discount":0,"tax":0,"line_total":4.99}]}`)
	fix := func(_ string, v []byte) []byte {
		return bytes.Replace(v, []byte(`"schema_version":99`), []byte(`"schema_version":1`), 1)
	}
	var dec schema.Decoder
	if _, err := dec.POS(fix("", doc)); err != nil {
		t.Fatalf("the fixed document does not decode: %v", err)
	}
	rej, err := lk.Table(ctx, schema.TableRejects())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 5, 16, 0, 0, 0, time.UTC)
	row := schema.RejectRow{Topic: schema.TopicPOS, Partition: 0, Offset: 5, Reason: schema.ReasonUnknownVersion,
		Value: doc, Error: "unknown schema_version 99", ReceivedAt: at, BusinessDate: schema.DateOf(at)}
	files, err := rej.WriteFiles(ctx, row.PartitionDate(), [][]schema.RejectRow{{row}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rej.Commit(ctx, Commit{Files: files, Fences: []Fence{{AppID: app, From: 0, To: 6, First: true}}}); err != nil {
		t.Fatal(err)
	}
	// The data table committed offsets [0, 3) only: the crash came before
	// its commit of [3, 6).
	pos, err := lk.Table(ctx, schema.TablePOSLines())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pos.Commit(ctx, Commit{Fences: []Fence{{AppID: app, From: 0, To: 3, First: true}}}); err != nil {
		t.Fatal(err)
	}
	o := ReplayOptions{Lake: l, Group: group, rewrite: fix, Logger: testLogger(t)}
	for _, step := range []struct {
		name               string
		dataTo             int64 // the data table's commit before the replay (0: none)
		ingested, deferred int
		lines              int64
	}{
		{"below the data table's txn nothing is replayed", 0, 0, 1, 0},
		{"once the data table passed the offset the replay writes it", 10, 1, 0, 1},
		{"and never again", 0, 0, 0, 1},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.dataTo > 0 {
				if _, err := pos.Commit(ctx, Commit{Fences: []Fence{{AppID: app, From: 3, To: step.dataTo}}}); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := ReplayRejects(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Passed != 1 || rep.Ingested != step.ingested || rep.Deferred != step.deferred {
				t.Errorf("replay: %+v, want %d ingested and %d deferred", rep, step.ingested, step.deferred)
			}
			if st := readLake(t, ctx, l); st.lines != step.lines {
				t.Errorf("pos_lines holds %d lines, want %d", st.lines, step.lines)
			}
		})
	}
}

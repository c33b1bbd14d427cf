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

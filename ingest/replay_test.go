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
	// Every 10th record is malformed; a quarter of those (kind 3) only
	// have schema_version 99, which "a fix" will accept.
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
	var dec schema.Decoder
	for _, r := range readRejectRows(t, ctx, l) {
		if v, err := dec.POS(fix("", r.Value)); err == nil {
			want.Docs++
			for _, ln := range v.Lines {
				want.Lines++
				want.Quantity += ln.Quantity
				want.LineTotal += ln.LineTotal
			}
		}
	}
	if want.Docs == 0 {
		t.Fatal("no reject passes with the fix: the test tests nothing")
	}

	o := ReplayOptions{Lake: l, Group: "g", rewrite: fix, Logger: testLogger(t)}
	dry := o
	dry.DryRun = true
	rep, err := ReplayRejects(ctx, dry)
	if err != nil {
		t.Fatal(err)
	}
	if int64(rep.Passed) != want.Docs || rep.Ingested != 0 || readLake(t, ctx, l).lines != before.lines {
		t.Errorf("dry run: %+v (want %d passing, nothing written)", rep, want.Docs)
	}

	rep, err = ReplayRejects(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if int64(rep.Ingested) != want.Docs || rep.Examined != int(ds.malformed) {
		t.Errorf("replay: %+v, want %d ingested of %d examined", rep, want.Docs, ds.malformed)
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
		if r := <-reps; r.Ingested != 0 || int64(r.AlreadyIngested) != want.Docs {
			t.Errorf("replaying again: %+v, want everything already ingested", r)
		}
	}
	again := readLake(t, ctx, l)
	if again.lines != after.lines {
		t.Errorf("replaying again wrote %d more lines", again.lines-after.lines)
	}
	for k, n := range again.keys {
		if n > 1 {
			t.Errorf("line %s is in the lake %d times", k, n)
		}
	}
}

func readRejectRows(t testing.TB, ctx context.Context, l *lake.Lake) []schema.RejectRow {
	t.Helper()
	rows, err := readRejects(ctx, ReplayOptions{Lake: l})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

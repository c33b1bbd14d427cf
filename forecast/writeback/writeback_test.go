package writeback_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
	"github.com/shelflake/shelflake/schema"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var asOf = schema.NewDate(2026, 3, 2)

// testDocs builds n documents of distinct locations and suppliers.
func testDocs(t testing.TB, n int) []*writeback.Document {
	t.Helper()
	var docs []*writeback.Document
	for i := range n {
		d := &writeback.Document{AsOf: asOf, RunID: "run-1", LocationID: fmt.Sprintf("S%04d", i%7+1),
			SupplierID: fmt.Sprintf("SUP%03d", i/7+1), Currency: "EUR"}
		for j := range 1 + i%3 {
			pack := int64(1 + j*5)
			qty := pack * int64(2+i%4)
			cost := schema.Money(12345 + 1111*int64(i+j))
			d.Lines = append(d.Lines, writeback.Line{SKU: fmt.Sprintf("SKU%06d", 10*i+j), Qty: qty, CasePack: pack, MOQ: pack,
				UnitCost: cost, ExtendedCost: cost.Mul(qty), NeedByDate: asOf + schema.Date(3+j), Reasons: []string{"below_rop"},
				Explanation: writeback.Explanation{Model: "hw_mul", Defaulted: []string{}}})
		}
		if err := d.Finalize(); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

// sleeps records the waits of the HTTP channel instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func httpChannel(t testing.TB, erp *erptest.Server, sl *sleeps, mod func(*writeback.HTTPOptions)) *writeback.HTTPChannel {
	t.Helper()
	o := writeback.HTTPOptions{URL: erp.URL, TokenURL: erp.TokenURL, ClientID: erp.ClientID, ClientSecret: erp.ClientSecret,
		AttemptTimeout: 300 * time.Millisecond, MaxAttempts: 4, Sleep: sl.sleep, Jitter: func() float64 { return 0.5 }}
	if mod != nil {
		mod(&o)
	}
	ch, err := writeback.NewHTTPChannel(o)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestDocumentsHaveStableKeysAndExactTotals(t *testing.T) {
	docs := testDocs(t, 3)
	d := docs[2]
	var qty int64
	var cost schema.Money
	for _, l := range d.Lines {
		qty += l.Qty
		cost += l.ExtendedCost
	}
	if d.TotalQty != qty || d.TotalCost != cost || d.LineCount != len(d.Lines) {
		t.Errorf("totals %d/%s/%d, lines sum to %d/%s/%d", d.TotalQty, d.TotalCost, d.LineCount, qty, cost, len(d.Lines))
	}
	for _, c := range []struct {
		name string
		a, b schema.Date
		same bool
	}{
		{"two days of one ISO week share a key", schema.NewDate(2026, 3, 2), schema.NewDate(2026, 3, 8), true},
		{"consecutive weeks differ", schema.NewDate(2026, 3, 8), schema.NewDate(2026, 3, 9), false},
		{"week 1 of 2027 starts in 2026", schema.NewDate(2026, 12, 28), schema.NewDate(2027, 1, 3), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := writeback.DocumentKey(c.a, "S0001", "SUP001") == writeback.DocumentKey(c.b, "S0001", "SUP001"); got != c.same {
				t.Errorf("same key = %v", got)
			}
		})
	}
	if writeback.DocumentKey(asOf, "S0001", "SUP001") == writeback.DocumentKey(asOf, "S0001", "SUP002") ||
		writeback.DocumentKey(asOf, "S00", "01SUP001") == writeback.DocumentKey(asOf, "S0001", "SUP001") {
		t.Error("different locations or suppliers share a key")
	}
	raw, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := writeback.ParseDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := back.Marshal()
	if string(raw) != string(raw2) {
		t.Errorf("document does not round-trip:\n%s\n%s", raw, raw2)
	}
	bad := []struct {
		name string
		edit func(*writeback.Document)
	}{
		{"a total off by a ten-thousandth", func(d *writeback.Document) { d.TotalCost++ }},
		{"a quantity that is not a case multiple", func(d *writeback.Document) {
			d.Lines[1].Qty++
			d.Lines[1].ExtendedCost = d.Lines[1].UnitCost.Mul(d.Lines[1].Qty)
		}},
		{"the key of another week", func(d *writeback.Document) { d.ExternalRef = writeback.DocumentKey(asOf+7, d.LocationID, d.SupplierID) }},
		{"no lines", func(d *writeback.Document) { d.Lines = nil }},
	}
	for _, c := range bad {
		t.Run("refuses "+c.name, func(t *testing.T) {
			d2, _ := writeback.ParseDocument(raw)
			c.edit(d2)
			if err := d2.Validate(); err == nil {
				t.Error("valid")
			}
		})
	}
	if _, err := writeback.ParseDocument(append(raw[:len(raw)-1:len(raw)-1], []byte(`,"extra":1}`)...)); err == nil {
		t.Error("unknown field accepted")
	}
}

// The contract test: faults of every kind, then a clean rerun, then a rerun
// that must send nothing.
func TestHTTPWriteBackDeliversEachDocumentExactlyOnceThroughFaults(t *testing.T) {
	l := erptest.OpenLake(t)
	docs := testDocs(t, 30)
	keys := map[string]int{}
	for i, d := range docs {
		keys[d.ExternalRef] = i
	}
	// Document i meets fault plan i%10 on its successive attempts; plan 8
	// never gets through within 4 attempts, plan 9 is refused for good.
	plans := [][]erptest.Fault{
		{},
		{erptest.Status500},
		{erptest.TooMany},
		{erptest.Unavailable, erptest.Status500},
		{erptest.TimeoutBefore},
		{erptest.TimeoutAfter},                   // accepted, answer lost: the retry gets 409
		{erptest.DropBefore, erptest.DropBefore}, // connection dropped twice
		{erptest.DropAfter},                      // accepted, connection dropped
		{erptest.Status500, erptest.Status500, erptest.Status500, erptest.TimeoutAfter, erptest.Status500}, // ends accepted but unanswered
		{erptest.BadRequest, erptest.BadRequest, erptest.BadRequest, erptest.BadRequest},
	}
	var faultsOn = true
	erp := erptest.New(erptest.Options{Faults: func(key string, attempt int) erptest.Fault {
		if !faultsOn {
			return erptest.None
		}
		p := plans[keys[key]%len(plans)]
		if attempt <= len(p) {
			return p[attempt-1]
		}
		return erptest.None
	}})
	defer erp.Close()
	sl := &sleeps{}
	ch := httpChannel(t, erp, sl, nil)
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first delivery: %+v", rep)
	check := func(stage string) map[string]schema.ERPWritebackLogRow {
		t.Helper()
		if v := erp.Violations(); len(v) > 0 {
			t.Errorf("%s: contract violations: %v", stage, v)
		}
		for k, n := range erp.Accepted() {
			if n != 1 {
				t.Errorf("%s: document %s accepted %d times", stage, k, n)
			}
		}
		log := erptest.LatestLog(t, l, "http")
		for _, doc := range docs {
			row, ok := log[doc.ExternalRef]
			if !ok {
				t.Errorf("%s: document %d lost: no log row", stage, keys[doc.ExternalRef])
				continue
			}
			accepted := erp.Accepted()[doc.ExternalRef] == 1
			switch row.Status {
			case schema.WritebackAccepted:
				if !accepted {
					t.Errorf("%s: document %d logged accepted, the ERP does not hold it", stage, keys[doc.ExternalRef])
				}
				if !slices.Contains([]int32{201, 409}, row.ResponseCode) || row.Error != "" {
					t.Errorf("%s: document %d accepted with code %d, error %q", stage, keys[doc.ExternalRef], row.ResponseCode, row.Error)
				}
			case schema.WritebackFailed, schema.WritebackRejected:
				if row.Error == "" {
					t.Errorf("%s: document %d %s without an error", stage, keys[doc.ExternalRef], row.Status)
				}
			default:
				t.Errorf("%s: status %q", stage, row.Status)
			}
		}
		return log
	}
	log := check("faults")
	for _, doc := range docs {
		i := keys[doc.ExternalRef]
		row := log[doc.ExternalRef]
		want := schema.WritebackAccepted
		switch i % len(plans) {
		case 8:
			want = schema.WritebackFailed
		case 9:
			want = schema.WritebackRejected
		}
		if row.Status != want {
			t.Errorf("document %d (plan %d): %s after %d attempts (%s), want %s", i, i%len(plans), row.Status, row.Attempts, row.Error, want)
		}
		if i%len(plans) == 9 && (row.ResponseCode != 400 || row.Response == "" || row.Attempts != 1) {
			t.Errorf("rejected document: code %d, response %q, %d attempts", row.ResponseCode, row.Response, row.Attempts)
		}
	}
	// Retry-After: 7 s was waited (not the short backoff) after 429 and 503.
	var honoured int
	for _, w := range sl.d {
		if w == 7*time.Second {
			honoured++
		}
	}
	if honoured != 3*2 { // plans 2 and 3, three documents each
		t.Errorf("waited 7s %d times, want 6; waits %v", honoured, sl.d)
	}
	if erp.TokensIssued() != 1 {
		t.Errorf("%d tokens fetched for one valid token", erp.TokensIssued())
	}

	// The ERP recovers: the next run sends what is not accepted, once.
	faultsOn = false
	before := erp.Requests()
	rep, err = d.Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second delivery: %+v", rep)
	log = check("recovered")
	for _, doc := range docs {
		if log[doc.ExternalRef].Status != schema.WritebackAccepted {
			t.Errorf("document %d: %s after recovery", keys[doc.ExternalRef], log[doc.ExternalRef].Status)
		}
	}
	if len(erp.Accepted()) != len(docs) {
		t.Errorf("the ERP holds %d documents of %d", len(erp.Accepted()), len(docs))
	}
	if got, want := erp.Requests()-before, 6; got != want { // plans 8 and 9
		t.Errorf("recovery sent %d requests, want %d", got, want)
	}
	if rep.Accepted != 6 || rep.AlreadyAccepted != 24 {
		t.Errorf("recovery report %+v", rep)
	}

	// A rerun sends nothing.
	before = erp.Requests()
	rep, err = d.Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if erp.Requests() != before || rep.AlreadyAccepted != len(docs) || rep.Accepted != 0 || rep.LogVersion != -1 {
		t.Errorf("rerun sent %d requests, report %+v", erp.Requests()-before, rep)
	}
}

func TestHTTPWriteBackRejectsWhenTheCredentialsAreWrong(t *testing.T) {
	l := erptest.OpenLake(t)
	erp := erptest.New(erptest.Options{})
	defer erp.Close()
	ch := httpChannel(t, erp, &sleeps{}, func(o *writeback.HTTPOptions) { o.ClientSecret = "wrong" })
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(t, 3)
	rep, err := d.Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 3 || erp.Requests() != 0 {
		t.Errorf("report %+v, %d document requests", rep, erp.Requests())
	}
	for _, row := range erptest.LatestLog(t, l, "http") {
		if row.ResponseCode != 401 || row.Response == "" {
			t.Errorf("rejected with code %d, response %q", row.ResponseCode, row.Response)
		}
	}
}

// TestHTTPWriteBackFailsAtOnceWhenTheERPCannotBeReached: a token URL or
// ERP URL that refuses connections before it ever answered fails every
// document at once, without retries or backoff, with the cause first; the
// documents stay undelivered for a later retry.
func TestHTTPWriteBackFailsAtOnceWhenTheERPCannotBeReached(t *testing.T) {
	closed := "http://" + objtest.ClosedAddr(t)
	for _, tc := range []struct {
		name string
		mod  func(o *writeback.HTTPOptions)
		url  string
	}{
		{"the token endpoint refuses", func(o *writeback.HTTPOptions) { o.TokenURL = closed + "/oauth2/token" }, closed + "/oauth2/token"},
		{"the ERP refuses", func(o *writeback.HTTPOptions) { o.URL = closed + "/po" }, closed + "/po"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := erptest.OpenLake(t)
			erp := erptest.New(erptest.Options{})
			defer erp.Close()
			sl := &sleeps{}
			ch := httpChannel(t, erp, sl, tc.mod)
			d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := d.Deliver(t.Context(), testDocs(t, 3))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != 3 || rep.Accepted != 0 || len(sl.d) != 0 {
				t.Errorf("report %+v, slept %v: want 3 failed documents and no backoff", rep, sl.d)
			}
			want := "cannot reach ERP endpoint " + tc.url + ": connection refused"
			if rep.Unreachable != want {
				t.Errorf("report says %q, want %q", rep.Unreachable, want)
			}
			for _, row := range erptest.LatestLog(t, l, "http") {
				if row.Status != schema.WritebackFailed || row.Error != want {
					t.Errorf("status %s, error %q: want failed with %q", row.Status, row.Error, want)
				}
			}
		})
	}
}

func TestHTTPWriteBackFetchesANewTokenWhenTheOldOneIsRevoked(t *testing.T) {
	l := erptest.OpenLake(t)
	erp := erptest.New(erptest.Options{})
	defer erp.Close()
	ch := httpChannel(t, erp, &sleeps{}, func(o *writeback.HTTPOptions) { o.Concurrency = 1 })
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(t, 4)
	if _, err := d.Deliver(t.Context(), docs[:2]); err != nil {
		t.Fatal(err)
	}
	erp.ExpireTokens()
	rep, err := d.Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 2 || rep.AlreadyAccepted != 2 || erp.TokensIssued() != 2 {
		t.Errorf("report %+v with %d tokens", rep, erp.TokensIssued())
	}
	// The 401s on the revoked token are the client's, not contract breaches
	// of the documents: only those are expected.
	for _, v := range erp.Violations() {
		if len(v) < 8 || v[:8] != "request " {
			t.Errorf("violation %q", v)
		}
	}
}

func TestKafkaWriteBackProducesEachDocumentOnceKeyedByLocation(t *testing.T) {
	ctx := t.Context()
	l := erptest.OpenLake(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, writeback.DefaultTopic),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := writeback.NewKafkaChannel(writeback.KafkaOptions{Brokers: c.ListenAddrs(), DeliveryTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(t, 12)
	for range 2 {
		if _, err := d.Deliver(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(writeback.DefaultTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	partOf := map[string]int32{}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(seen) < len(docs) && fctx.Err() == nil {
		fs := cl.PollFetches(fctx)
		fs.EachRecord(func(r *kgo.Record) {
			doc, err := writeback.ParseDocument(r.Value)
			if err != nil {
				t.Errorf("record at %d/%d: %v", r.Partition, r.Offset, err)
				return
			}
			var idem string
			for _, h := range r.Headers {
				if h.Key == "Idempotency-Key" {
					idem = string(h.Value)
				}
			}
			if idem != doc.ExternalRef || string(r.Key) != doc.LocationID {
				t.Errorf("record key %q, Idempotency-Key %q for document %s of %s", r.Key, idem, doc.ExternalRef, doc.LocationID)
			}
			if p, ok := partOf[doc.LocationID]; ok && p != r.Partition {
				t.Errorf("location %s on partitions %d and %d", doc.LocationID, p, r.Partition)
			}
			partOf[doc.LocationID] = r.Partition
			seen[doc.ExternalRef]++
		})
	}
	// Nothing beyond: the end offsets hold exactly one record per document.
	var total int64
	for _, p := range []int32{0, 1, 2} {
		off, err := endOffset(ctx, cl, p)
		if err != nil {
			t.Fatal(err)
		}
		total += off
	}
	if len(seen) != len(docs) || total != int64(len(docs)) {
		t.Errorf("%d documents consumed of %d, %d records in the topic", len(seen), len(docs), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("document %s produced %d times", k, n)
		}
	}
}

func TestFileWriteBackWritesJSONAndCSVOnce(t *testing.T) {
	l := erptest.OpenLake(t)
	dir := t.TempDir()
	ch, err := writeback.NewFileChannel(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(t, 5)
	if _, err := d.Deliver(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		base := filepath.Join(dir, "dt="+asOf.String(), writeback.FileName(doc))
		raw, err := os.ReadFile(base + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if back, err := writeback.ParseDocument(raw); err != nil || back.TotalCost != doc.TotalCost {
			t.Errorf("json file: %v", err)
		}
		f, err := os.Open(base + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(recs) != 1+len(doc.Lines) || !slices.Equal(recs[0], writeback.CSVHeader) {
			t.Errorf("csv file: %d records, %v", len(recs), err)
		}
	}
	// A rerun writes nothing: a file changed meanwhile stays as it is.
	victim := filepath.Join(dir, "dt="+asOf.String(), writeback.FileName(docs[0])+".csv")
	if err := os.WriteFile(victim, []byte("edited by a planner\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "edited by a planner\n" || rep.AlreadyAccepted != len(docs) {
		t.Errorf("rerun rewrote files: report %+v", rep)
	}
}

// TestRetryToANewOutboxWritesThere: documents accepted into one outbox
// directory are not delivered to another: a retry with a new --outbox
// writes every document there, once.
func TestRetryToANewOutboxWritesThere(t *testing.T) {
	ctx := t.Context()
	l := erptest.OpenLake(t)
	docs := testDocs(t, 4)
	putCompletedRun(t, l, docs)
	retry := func(dir string) writeback.Report {
		t.Helper()
		ch, err := writeback.NewFileChannel(dir)
		if err != nil {
			t.Fatal(err)
		}
		d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := d.Retry(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	first, second := t.TempDir(), t.TempDir()
	for _, c := range []struct {
		dir              string
		accepted, before int
	}{{first, 4, 0}, {second, 4, 0}, {second, 0, 4}} {
		rep := retry(c.dir)
		if rep.Accepted != c.accepted || rep.AlreadyAccepted != c.before {
			t.Errorf("retry to %s: %d accepted, %d already; want %d and %d", c.dir, rep.Accepted, rep.AlreadyAccepted, c.accepted, c.before)
		}
	}
	for _, doc := range docs {
		if _, err := os.Stat(filepath.Join(second, "dt="+asOf.String(), writeback.FileName(doc)+".json")); err != nil {
			t.Errorf("not written to the new outbox: %v", err)
		}
	}
	if got := erptest.LatestLog(t, l, "file:"+second); len(got) != len(docs) {
		t.Errorf("write-back log holds %d documents for channel file:%s, want %d", len(got), second, len(docs))
	}
}

// putCompletedRun stores docs as the documents of run-1 of asOf and
// records run-1 in forecast_runs, as a completed forecast run does.
func putCompletedRun(t *testing.T, l *lake.Lake, docs []*writeback.Document) {
	t.Helper()
	ctx := t.Context()
	if err := writeback.PutDocuments(ctx, l.Bucket(), asOf, "run-1", docs); err != nil {
		t.Fatal(err)
	}
	tbl := schema.TableForecastRuns()
	dt, err := l.Table(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	adds, err := lake.WriteFiles(ctx, l, tbl, asOf, []schema.ForecastRunRow{{DT: asOf, RunID: "run-1", AsOf: asOf}}, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Adds: adds}); err != nil {
		t.Fatal(err)
	}
}

func TestRetryDeliversTheDocumentsOfCompletedRuns(t *testing.T) {
	ctx := t.Context()
	l := erptest.OpenLake(t)
	docs := testDocs(t, 6)
	putCompletedRun(t, l, docs)
	// Documents of an incomplete run (no forecast_runs row) are not sent.
	if err := writeback.PutDocuments(ctx, l.Bucket(), asOf+7, "run-2", testDocs(t, 2)); err != nil {
		t.Fatal(err)
	}
	erp := erptest.New(erptest.Options{})
	defer erp.Close()
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{httpChannel(t, erp, &sleeps{}, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := d.Retry(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Documents != 6 || rep.Accepted != 6 || len(erp.Accepted()) != 6 {
		t.Errorf("retry report %+v, the ERP holds %d", rep, len(erp.Accepted()))
	}
	for _, doc := range docs {
		if got := erp.Document(doc.ExternalRef); got == nil || got.TotalCost != doc.TotalCost {
			t.Errorf("document %s not received as sent", doc.ExternalRef)
		}
	}
	rep, err = d.Retry(ctx, asOf+1)
	if err != nil || rep.Documents != 0 {
		t.Errorf("retry since a later date: %+v, %v", rep, err)
	}
}

func endOffset(ctx context.Context, cl *kgo.Client, partition int32) (int64, error) {
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, writeback.DefaultTopic)
	if err != nil {
		return 0, err
	}
	o, ok := offs.Lookup(writeback.DefaultTopic, partition)
	if !ok {
		return 0, fmt.Errorf("no end offset of partition %d", partition)
	}
	return o.Offset, o.Err
}

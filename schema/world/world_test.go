package world

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/schema"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if fixtureDir != "" {
			os.RemoveAll(fixtureDir)
		}
		os.Exit(code)
	}))
}

// testConfig is a small world spanning the US and European DST changes and
// Easter 2026 (German stores close on Good Friday, Easter Sunday and Monday).
var testConfig = Config{Seed: 42, Stores: 4, SKUs: 40, Days: 56, Start: schema.NewDate(2026, time.March, 2)}

const testBadRate = 0.02

// memSink keeps every record in order.
type memSink struct {
	recs    []Record
	flushes int
}

func (m *memSink) Write(_ context.Context, recs []Record) error {
	m.recs = append(m.recs, recs...)
	return nil
}

func (m *memSink) Flush(context.Context) error { m.flushes++; return nil }

// generated is a world published once for the tests that read it.
type generated struct {
	w     *World
	sum   *Summary
	recs  []Record
	truth string
	// valid and bad index recs per topic in publication order.
	byTopic map[string][]Record
	bad     []MalformedRecord
}

var (
	fixtureOnce sync.Once
	fixture     *generated
	fixtureErr  error
	fixtureDir  string
)

func testWorld(t *testing.T) *generated {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "world-test-")
		if fixtureErr != nil {
			return
		}
		g := &generated{truth: filepath.Join(fixtureDir, "truth"), byTopic: map[string][]Record{}}
		g.w, fixtureErr = New(testConfig)
		if fixtureErr != nil {
			return
		}
		sink := &memSink{}
		g.sum, fixtureErr = g.w.Generate(context.Background(), GenerateOptions{Sink: sink, TruthDir: g.truth, BadRate: testBadRate})
		if fixtureErr != nil {
			return
		}
		g.recs = sink.recs
		for _, r := range g.recs {
			g.byTopic[r.Topic] = append(g.byTopic[r.Topic], r)
		}
		g.bad, fixtureErr = ReadMalformed(g.truth)
		fixture = g
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

// decode strictly decodes a record of topic and returns its key field.
func decode(d *schema.Decoder, topic string, b []byte) (any, string, error) {
	switch topic {
	case schema.TopicPOS:
		v, err := d.POS(b)
		return v, v.StoreID, err
	case schema.TopicInventory:
		v, err := d.Inventory(b)
		return v, v.LocationID, err
	case schema.TopicPurchaseOrder:
		v, err := d.PurchaseOrder(b)
		return v, v.LocationID, err
	case schema.TopicItemLocation:
		v, err := d.ItemLocation(b)
		return v, v.LocationID, err
	case schema.TopicPromotion:
		v, err := d.Promotion(b)
		return v, v.SKU, err
	}
	return nil, "", fmt.Errorf("unknown topic %s", topic)
}

// badSet returns the malformed records' positions per topic.
func (g *generated) badSet() map[string]map[int64]MalformedRecord {
	out := map[string]map[int64]MalformedRecord{}
	for _, m := range g.bad {
		if out[m.Topic] == nil {
			out[m.Topic] = map[int64]MalformedRecord{}
		}
		out[m.Topic][m.Seq] = m
	}
	return out
}

// validRecords decodes every valid record of topic, in order.
func (g *generated) validRecords(t *testing.T, topic string) []any {
	t.Helper()
	bad := g.badSet()[topic]
	var d schema.Decoder
	var out []any
	for i, r := range g.byTopic[topic] {
		if _, isBad := bad[int64(i)]; isBad {
			continue
		}
		v, _, err := decode(&d, topic, r.Value)
		if err != nil {
			t.Fatalf("%s record %d: %v: %s", topic, i, err, r.Value)
		}
		out = append(out, v)
	}
	return out
}

func TestEveryValidRecordDecodesStrictlyUnderItsKey(t *testing.T) {
	g := testWorld(t)
	bad := g.badSet()
	var d schema.Decoder
	for _, topic := range schema.Topics {
		recs := g.byTopic[topic]
		if len(recs) == 0 {
			t.Errorf("%s: no records", topic)
		}
		for i, r := range recs {
			if _, isBad := bad[topic][int64(i)]; isBad {
				continue
			}
			_, key, err := decode(&d, topic, r.Value)
			if err != nil {
				t.Fatalf("%s record %d does not decode: %v\n%s", topic, i, err, r.Value)
			}
			if string(r.Key) != key {
				t.Fatalf("%s record %d: key %q, record says %q", topic, i, r.Key, key)
			}
			if bytes.IndexByte(r.Value, '\n') >= 0 {
				t.Fatalf("%s record %d holds a newline", topic, i)
			}
		}
	}
}

func TestMalformedRecordsAreRejectedForTheirReason(t *testing.T) {
	g := testWorld(t)
	wantReason := map[string]string{
		"broken_json":            schema.ReasonMalformedJSON,
		"missing_field":          schema.ReasonMissingField,
		"wrong_type":             schema.ReasonWrongType,
		"negative_price":         schema.ReasonInvalidValue,
		"negative_quantity":      schema.ReasonInvalidValue,
		"out_of_range":           schema.ReasonInvalidValue,
		"unknown_schema_version": schema.ReasonUnknownVersion,
		"unknown_field":          schema.ReasonUnknownField,
	}
	if len(g.bad) == 0 {
		t.Fatal("no malformed records at bad rate", testBadRate)
	}
	kinds := map[string]int{}
	var d schema.Decoder
	for _, m := range g.bad {
		recs := g.byTopic[m.Topic]
		if m.Seq < 1 || m.Seq >= int64(len(recs)) {
			t.Fatalf("%+v: seq outside the topic's %d records", m, len(recs))
		}
		r := recs[m.Seq]
		if string(r.Key) != m.Key {
			t.Errorf("%+v: record key %q", m, r.Key)
		}
		// It follows the valid record it was derived from, under the same key.
		if prev := recs[m.Seq-1]; !bytes.Equal(prev.Key, r.Key) {
			t.Errorf("%+v: follows a record keyed %q", m, prev.Key)
		}
		_, _, err := decode(&d, m.Topic, r.Value)
		if err == nil {
			t.Fatalf("%+v: decoder accepted %s", m, r.Value)
		}
		if got := schema.ReasonOf(err); got != wantReason[m.Kind] {
			t.Errorf("%+v: rejected as %s (%v), want %s", m, got, err, wantReason[m.Kind])
		}
		if bytes.IndexByte(r.Value, '\n') >= 0 {
			t.Errorf("%+v: spans lines", m)
		}
		kinds[m.Kind]++
	}
	for _, k := range []string{"broken_json", "missing_field", "wrong_type", "negative_price", "unknown_schema_version", "unknown_field"} {
		if kinds[k] == 0 {
			t.Errorf("no malformed record of kind %s (have %v)", k, kinds)
		}
	}
}

func TestPOSAmountRulesHoldExactly(t *testing.T) {
	g := testWorld(t)
	for _, v := range g.validRecords(t, schema.TopicPOS) {
		tx := v.(schema.POSTransaction)
		var total, tendered schema.Money
		for _, l := range tx.Lines {
			sign, q := schema.Money(1), l.Quantity
			switch tx.Type {
			case schema.TxnReturn:
				sign = -1
				if q >= 0 {
					t.Fatalf("%s: return line quantity %d", tx.TransactionID, q)
				}
				q = -q
			default:
				if q <= 0 {
					t.Fatalf("%s: %s line quantity %d", tx.TransactionID, tx.Type, q)
				}
			}
			for _, m := range []schema.Money{l.UnitPrice, l.Discount, l.Tax} {
				if m < 0 || m%100 != 0 {
					t.Fatalf("%s line %d: amount %s is negative or not whole cents", tx.TransactionID, l.LineNo, m)
				}
			}
			if want := sign * (l.UnitPrice.Mul(q) - l.Discount + l.Tax); l.LineTotal != want {
				t.Fatalf("%s line %d: line_total %s, want %s", tx.TransactionID, l.LineNo, l.LineTotal, want)
			}
			if (l.PromotionID != "") != (l.Discount > 0) && l.Discount > 0 {
				t.Fatalf("%s line %d: discount without promotion", tx.TransactionID, l.LineNo)
			}
			total += l.LineTotal
		}
		for _, tn := range tx.Tenders {
			tendered += tn.Amount
		}
		if tx.Total != total || tendered != total {
			t.Fatalf("%s: total %s, lines sum to %s, tenders to %s", tx.TransactionID, tx.Total, total, tendered)
		}
	}
}

// tally recomputes summary counts from the records.
func TestSummaryEqualsCountsRecomputedFromRecords(t *testing.T) {
	g := testWorld(t)
	sum, err := ReadSummary(g.truth)
	if err != nil {
		t.Fatal(err)
	}
	bad := g.badSet()
	var lines, qty int64
	types := map[string]int64{}
	for _, topic := range schema.Topics {
		n := int64(len(g.byTopic[topic]))
		want := TopicCounts{Valid: n - int64(len(bad[topic])), Malformed: int64(len(bad[topic]))}
		if sum.Topics[topic] != want {
			t.Errorf("%s: summary %+v, records %+v", topic, sum.Topics[topic], want)
		}
	}
	for _, v := range g.validRecords(t, schema.TopicPOS) {
		tx := v.(schema.POSTransaction)
		types[string(tx.Type)]++
		for _, l := range tx.Lines {
			lines++
			qty += l.Quantity
		}
	}
	if sum.POSLines != lines || sum.POSQuantity != qty {
		t.Errorf("summary pos_lines %d pos_quantity %d, records %d and %d", sum.POSLines, sum.POSQuantity, lines, qty)
	}
	for _, ty := range []string{"sale", "return", "void"} {
		if sum.Transactions[ty] != types[ty] || types[ty] == 0 {
			t.Errorf("%s transactions: summary %d, records %d", ty, sum.Transactions[ty], types[ty])
		}
	}
	if !sum.Complete || sum.Seed != testConfig.Seed || sum.Days != testConfig.Days {
		t.Errorf("summary header %+v", sum)
	}
	// The exact shape the issue asks for.
	raw, err := os.ReadFile(filepath.Join(g.truth, TruthSummary))
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Topics map[string]struct {
			Valid     *int64 `json:"valid"`
			Malformed *int64 `json:"malformed"`
		} `json:"topics"`
		POSLines    *int64 `json:"pos_lines"`
		POSQuantity *int64 `json:"pos_quantity"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil || shape.POSLines == nil || shape.POSQuantity == nil || len(shape.Topics) != len(schema.Topics) {
		t.Fatalf("summary.json shape: %v\n%s", err, raw)
	}
	for _, topic := range schema.Topics {
		if c := shape.Topics[topic]; c.Valid == nil || c.Malformed == nil {
			t.Errorf("summary.json lacks counts of %s", topic)
		}
	}
}

// truthKey identifies a row of demand.csv.
type truthKey struct{ date, loc, sku string }

func readTruth(t *testing.T, path string) (map[truthKey][7]int64, []truthKey) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(head) != 10 {
		t.Fatalf("header %v", head)
	}
	out := map[truthKey][7]int64{}
	var order []truthKey
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var v [7]int64
		for i := range v {
			if v[i], err = strconv.ParseInt(rec[3+i], 10, 64); err != nil {
				t.Fatal(err)
			}
		}
		k := truthKey{rec[0], rec[1], rec[2]}
		out[k] = v
		order = append(order, k)
	}
	return out, order
}

func TestTruthAgreesWithTheStreams(t *testing.T) {
	g := testWorld(t)
	truth, order := readTruth(t, filepath.Join(g.truth, TruthDemand))
	dcTruth, _ := readTruth(t, filepath.Join(g.truth, TruthDCDemand))
	if want := g.w.NumStores() * testConfig.SKUs * testConfig.Days; len(order) != want {
		t.Fatalf("demand.csv has %d rows, want %d", len(order), want)
	}
	sold := map[truthKey]int64{}
	returned := map[truthKey]int64{}
	for _, v := range g.validRecords(t, schema.TopicPOS) {
		tx := v.(schema.POSTransaction)
		for _, l := range tx.Lines {
			k := truthKey{tx.BusinessDate.String(), tx.StoreID, l.SKU}
			switch tx.Type {
			case schema.TxnSale:
				sold[k] += l.Quantity
			case schema.TxnReturn:
				returned[k] -= l.Quantity
			}
		}
	}
	eod := map[truthKey]schema.InventoryRecord{}
	morning := map[truthKey]schema.InventoryRecord{}
	rows := map[string]int{}
	for _, v := range g.validRecords(t, schema.TopicInventory) {
		r := v.(schema.InventoryRecord)
		k := truthKey{schema.DateOf(r.AsOf).String(), r.LocationID, r.SKU}
		switch {
		case r.Kind == schema.SnapshotFull && r.AsOf.Hour() == 22:
			eod[k] = r
		case r.Kind == schema.SnapshotPartial:
			morning[k] = r
		}
		rows[r.SnapshotID]++
		if rows[r.SnapshotID] > r.SnapshotRows {
			t.Fatalf("snapshot %s has more than its %d rows", r.SnapshotID, r.SnapshotRows)
		}
	}
	if len(morning) == 0 {
		t.Error("no partial snapshots")
	}
	received := map[truthKey]int64{}
	lastRecv := map[string]int64{}
	for _, v := range g.validRecords(t, schema.TopicPurchaseOrder) {
		l := v.(schema.PurchaseOrderLine)
		id := l.POID + "/" + strconv.Itoa(l.LineNo)
		if d := l.QtyReceived - lastRecv[id]; d > 0 {
			received[truthKey{schema.DateOf(l.UpdatedAt).String(), l.LocationID, l.SKU}] += d
		}
		lastRecv[id] = l.QtyReceived
	}
	prevOnHand := map[string]int64{}
	var lost int64
	check := func(k truthKey, v [7]int64) {
		demand, s, l, recv, onHand, onOrder := v[0], v[1], v[2], v[4], v[5], v[6]
		if demand != s+l || demand < 0 || l < 0 {
			t.Fatalf("%v: demand %d sold %d lost %d", k, demand, s, l)
		}
		if l > 0 && onHand != 0 {
			t.Fatalf("%v: lost demand with %d on hand", k, onHand)
		}
		if recv != received[k] {
			t.Fatalf("%v: truth received %d, PO lines %d", k, recv, received[k])
		}
		snap, ok := eod[k]
		if !ok || snap.OnHand != onHand || snap.InTransit != onOrder {
			t.Fatalf("%v: truth on_hand %d on_order %d, snapshot %+v", k, onHand, onOrder, snap)
		}
		series := k.loc + "/" + k.sku
		if prev, ok := prevOnHand[series]; ok && onHand != prev+recv-s {
			t.Fatalf("%v: on hand %d ≠ %d + %d received − %d sold", k, onHand, prev, recv, s)
		}
		if m, ok := morning[k]; ok != (recv > 0) || ok && m.OnHand != onHand+s {
			t.Fatalf("%v: received %d, morning snapshot %+v (close %d + sold %d)", k, recv, m, onHand, s)
		}
		prevOnHand[series] = onHand
	}
	for _, k := range order {
		v := truth[k]
		if sold[k] != v[1] || returned[k] != v[3] {
			t.Fatalf("%v: truth sold %d returned %d, POS sales %d returns %d", k, v[1], v[3], sold[k], returned[k])
		}
		check(k, v)
		lost += v[2]
	}
	for k, v := range dcTruth {
		if snap, ok := eod[k]; !ok || snap.OnHand != v[5] {
			t.Fatalf("%v: DC truth on_hand %d, snapshot %+v", k, v[5], snap)
		}
	}
	if lost == 0 {
		t.Error("no demand lost to stockouts in the whole world")
	}
	// The generator's truth is the model's: Demand gives the same series.
	for loc := range g.w.NumStores() {
		for sku := range 5 {
			d := g.w.Demand(loc, sku, nil)
			for day, want := range d {
				k := truthKey{g.w.Date(day).String(), g.w.Locations()[loc].ID, g.w.Items()[sku].ID}
				if truth[k][0] != want {
					t.Fatalf("%v: demand.csv %d, World.Demand %d", k, truth[k][0], want)
				}
			}
		}
	}
}

func TestPOSTimesAreLocalWithinOpeningHoursAndClosedDaysAreQuiet(t *testing.T) {
	g := testWorld(t)
	locs := map[string]*Location{}
	for i := range g.w.Locations() {
		locs[g.w.Locations()[i].ID] = &g.w.Locations()[i]
	}
	offsets := map[string]map[int]bool{}
	for _, v := range g.validRecords(t, schema.TopicPOS) {
		tx := v.(schema.POSTransaction)
		l := locs[tx.StoreID]
		local := tx.EventTime.In(l.TZ)
		_, off := tx.EventTime.Zone()
		_, want := local.Zone()
		if off != want {
			t.Fatalf("%s: event_time %s has offset %d, %s is at %d then", tx.TransactionID, tx.EventTime.Format(time.RFC3339), off, l.Zone, want)
		}
		if schema.DateOf(local) != tx.BusinessDate {
			t.Fatalf("%s: business date %s, local date %s", tx.TransactionID, tx.BusinessDate, schema.DateOf(local))
		}
		if h := local.Hour(); h < l.OpenHour || h >= l.CloseHour {
			t.Fatalf("%s: at %s, store opens %d–%d", tx.TransactionID, local.Format(time.Kitchen), l.OpenHour, l.CloseHour)
		}
		if !g.w.Open(l.Index, int(tx.BusinessDate-g.w.Config().Start)) {
			t.Fatalf("%s: sale on a closed day %s", tx.TransactionID, tx.BusinessDate)
		}
		if offsets[l.Zone] == nil {
			offsets[l.Zone] = map[int]bool{}
		}
		offsets[l.Zone][off] = true
	}
	// The window spans both DST changes: every zone shows two offsets.
	for zone, offs := range offsets {
		if len(offs) != 2 {
			t.Errorf("%s: offsets %v, want winter and summer time", zone, offs)
		}
	}
	// German stores close on Sundays and over Easter.
	var berlin *Location
	for i := range g.w.Locations() {
		if l := &g.w.Locations()[i]; l.Zone == "Europe/Berlin" && l.Kind == KindStore {
			berlin = l
		}
	}
	if berlin == nil {
		t.Fatal("no Berlin store in the test world")
	}
	for day := range testConfig.Days {
		date := g.w.Date(day)
		easter := date >= schema.NewDate(2026, 4, 3) && date <= schema.NewDate(2026, 4, 6) && date != schema.NewDate(2026, 4, 4)
		if want := !(date.Weekday() == time.Sunday || easter); g.w.Open(berlin.Index, day) != want {
			t.Errorf("Berlin open on %s (%s): %v", date, date.Weekday(), !want)
		}
	}
}

func TestPurchaseOrderLinesMoveThroughValidStates(t *testing.T) {
	g := testWorld(t)
	type state struct {
		status schema.POStatus
		recv   int64
	}
	last := map[string]state{}
	final := map[schema.POStatus]int{}
	for _, v := range g.validRecords(t, schema.TopicPurchaseOrder) {
		l := v.(schema.PurchaseOrderLine)
		id := l.POID + "/" + strconv.Itoa(l.LineNo)
		prev, seen := last[id]
		switch {
		case !seen && l.Status != schema.POOpen:
			t.Fatalf("%s: first state %s", id, l.Status)
		case seen && l.Status == schema.POOpen:
			t.Fatalf("%s: open again", id)
		case seen && (prev.status == schema.POReceived || prev.status == schema.POCancelled):
			t.Fatalf("%s: %s after %s", id, l.Status, prev.status)
		case l.QtyReceived < prev.recv:
			t.Fatalf("%s: received went down", id)
		}
		if l.Status == schema.POPartiallyReceived && prev.status == schema.POOpen {
			final[schema.POPartiallyReceived]++
		}
		last[id] = state{l.Status, l.QtyReceived}
	}
	for _, s := range last {
		final[s.status]++
	}
	for _, s := range []schema.POStatus{schema.POOpen, schema.POPartiallyReceived, schema.POReceived, schema.POCancelled} {
		if final[s] == 0 {
			t.Errorf("no PO line ever %s (%v)", s, final)
		}
	}
}

func TestGenerateIsByteIdenticalForASeedWhateverTheWorkers(t *testing.T) {
	w, err := New(Config{Seed: 9, Stores: 3, SKUs: 25, Days: 20})
	if err != nil {
		t.Fatal(err)
	}
	run := func(workers int) string {
		dir := t.TempDir()
		s, err := NewDirSink(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Generate(context.Background(), GenerateOptions{Sink: s, TruthDir: filepath.Join(dir, "truth"), BadRate: 0.05, Workers: workers}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	a, b := run(1), run(3)
	files := append([]string(nil), TruthDemand, TruthDCDemand, TruthMalformed, TruthSummary, TruthWorld)
	for i := range files {
		files[i] = filepath.Join("truth", files[i])
	}
	for _, topic := range schema.Topics {
		files = append(files, topic+".jsonl")
	}
	for _, f := range files {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if len(x) == 0 {
			t.Errorf("%s is empty", f)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs", f)
		}
	}
	// No temporary files are left behind.
	left, _ := filepath.Glob(filepath.Join(a, "*.tmp"))
	leftTruth, _ := filepath.Glob(filepath.Join(a, "truth", "*.tmp"))
	if len(left)+len(leftTruth) > 0 {
		t.Errorf("temporary files left: %v %v", left, leftTruth)
	}
	// A different seed is a different world.
	w2, err := New(Config{Seed: 10, Stores: 3, SKUs: 25, Days: 20})
	if err != nil {
		t.Fatal(err)
	}
	if d1, d2 := w.Demand(0, 0, nil), w2.Demand(0, 0, nil); fmt.Sprint(d1) == fmt.Sprint(d2) && w.Items()[0].Description == w2.Items()[0].Description {
		t.Error("seeds 9 and 10 give the same world")
	}
}

func TestLiveModeStampsRecordsWithTheClock(t *testing.T) {
	w, err := New(Config{Seed: 3, Stores: 2, SKUs: 8, Days: 2})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	sink := &memSink{}
	sum, err := w.Generate(context.Background(), GenerateOptions{Sink: sink, TruthDir: t.TempDir(), Rate: 1e9, Now: clock, BadRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Live || len(sink.recs) == 0 {
		t.Fatalf("live summary %+v with %d records", sum, len(sink.recs))
	}
	end := clock()
	begin := time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)
	within := func(ts time.Time) bool { return !ts.Before(begin) && !ts.After(end) }
	var d schema.Decoder
	snapAsOf := map[string]time.Time{}
	bad := 0
	for i, r := range sink.recs {
		v, _, err := decode(&d, r.Topic, r.Value)
		if err != nil {
			bad++
			continue
		}
		var ts time.Time
		switch x := v.(type) {
		case schema.POSTransaction:
			ts = x.EventTime
			if schema.DateOf(x.EventTime) != x.BusinessDate {
				t.Fatalf("record %d: business date %s at %s", i, x.BusinessDate, x.EventTime)
			}
		case schema.InventoryRecord:
			ts = x.AsOf
			if prev, ok := snapAsOf[x.SnapshotID]; ok && !prev.Equal(ts) {
				t.Fatalf("snapshot %s rows at %s and %s", x.SnapshotID, prev, ts)
			}
			snapAsOf[x.SnapshotID] = ts
		case schema.PurchaseOrderLine:
			ts = x.UpdatedAt
		case schema.ItemLocation:
			ts = x.UpdatedAt
		case schema.Promotion:
			ts = x.UpdatedAt
		}
		if !within(ts) {
			t.Fatalf("record %d (%s) stamped %s, clock ran %s..%s", i, r.Topic, ts, begin, end)
		}
	}
	var wantBad int64
	for _, c := range sum.Topics {
		wantBad += c.Malformed
	}
	if int64(bad) != wantBad {
		t.Errorf("%d records rejected, summary says %d malformed", bad, wantBad)
	}
}

func TestGenerateStopsWhenTheContextEnds(t *testing.T) {
	w, err := New(Config{Seed: 3, Stores: 2, SKUs: 8, Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &cancelAfter{n: 50, cancel: cancel}
	truth := t.TempDir()
	sum, err := w.Generate(ctx, GenerateOptions{Sink: sink, TruthDir: truth, Rate: 1e9})
	if err == nil || ctx.Err() == nil {
		t.Fatalf("Generate returned %v after cancel", err)
	}
	if sum == nil || sum.Complete || sink.flushes == 0 {
		t.Fatalf("summary %+v, %d flushes", sum, sink.flushes)
	}
	got, err := ReadSummary(truth)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range got.Topics {
		n += c.Valid + c.Malformed
	}
	if n != int64(len(sink.recs)) {
		t.Errorf("summary counts %d records, the sink got %d", n, len(sink.recs))
	}
}

type cancelAfter struct {
	memSink
	n      int
	cancel func()
}

func (c *cancelAfter) Write(ctx context.Context, recs []Record) error {
	if len(c.recs) >= c.n {
		c.cancel()
	}
	return c.memSink.Write(ctx, recs)
}

func TestConfigAndOptionsAreValidated(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"negative stores are refused", Config{Stores: -1}},
		{"too many days are refused", Config{Days: MaxDays + 1}},
		{"a start before 1900 is refused", Config{Start: schema.NewDate(1800, 1, 1)}},
		{"too many DCs are refused", Config{DCs: MaxDCs + 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := New(c.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
	w, err := New(Config{Stores: 1, SKUs: 1, Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	if DefaultStart != schema.NewDate(2026, time.January, 5) || DefaultStart.Weekday() != time.Monday {
		t.Errorf("DefaultStart is %s, a %s", DefaultStart, DefaultStart.Weekday())
	}
	if w.Config().Start != DefaultStart || w.Config().DCs != 1 {
		t.Errorf("defaults: %+v", w.Config())
	}
	opts := []struct {
		name string
		o    GenerateOptions
	}{
		{"a missing sink is refused", GenerateOptions{TruthDir: t.TempDir()}},
		{"a missing truth dir is refused", GenerateOptions{Sink: &memSink{}}},
		{"a bad rate above one half is refused", GenerateOptions{Sink: &memSink{}, TruthDir: t.TempDir(), BadRate: 0.9}},
		{"a negative rate is refused", GenerateOptions{Sink: &memSink{}, TruthDir: t.TempDir(), Rate: -1}},
	}
	for _, c := range opts {
		t.Run(c.name, func(t *testing.T) {
			if _, err := w.Generate(context.Background(), c.o); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestItemLocationsComeFirstAndChangeSometimes(t *testing.T) {
	g := testWorld(t)
	locs, skus := len(g.w.Locations()), len(g.w.Items())
	updates := 0
	for loc := range locs {
		for sku := range skus {
			if g.w.ParamsUpdateDay(loc, sku) > 0 {
				updates++
			}
		}
	}
	got := g.validRecords(t, schema.TopicItemLocation)
	if len(got) != locs*skus+updates {
		t.Fatalf("%d item-location records, want %d initial + %d updates", len(got), locs*skus, updates)
	}
	if updates == 0 {
		t.Error("no parameter updates in the test world")
	}
	seen := map[string]schema.ItemLocation{}
	for i, v := range got {
		il := v.(schema.ItemLocation)
		k := il.LocationID + "/" + il.SKU
		prev, ok := seen[k]
		if i < locs*skus && ok {
			t.Fatalf("%s published twice among the initial records", k)
		}
		if i >= locs*skus && (!ok || prev.UnitCost >= il.UnitCost || !il.UpdatedAt.After(prev.UpdatedAt)) {
			t.Fatalf("update of %s: %+v after %+v", k, il, prev)
		}
		seen[k] = il
	}
}

func TestRecordsAreExactlyWhatEncodingJSONWrites(t *testing.T) {
	g := testWorld(t)
	bad := g.badSet()
	var d schema.Decoder
	n := 0
	for _, topic := range schema.Topics {
		for i, r := range g.byTopic[topic] {
			if _, isBad := bad[topic][int64(i)]; isBad {
				continue
			}
			v, _, err := decode(&d, topic, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Value, want) {
				t.Fatalf("%s record %d:\n got %s\nwant %s", topic, i, r.Value, want)
			}
			n++
		}
	}
	// Strings that need escaping, and floats, are written the same way too.
	il := &schema.ItemLocation{Description: "Fish & Chips <large> \"deluxe\" \\ \t\x01 café", ServiceLevel: 1e-7, UpdatedAt: time.Unix(0, 1).UTC()}
	want, _ := json.Marshal(il)
	if got := appendItemLocation(nil, il); !bytes.Equal(got, want) {
		t.Errorf("escaping:\n got %s\nwant %s", got, want)
	}
	pr := &schema.Promotion{PromotionID: "PR-<1>&\"x\"", SKU: "SKU\u00e9", LocationID: "S0001", StartDate: -3, DiscountPct: 99, UpdatedAt: time.Unix(0, 1).In(time.FixedZone("", -3*3600-1800))}
	want, _ = json.Marshal(pr)
	if got := appendPromotion(nil, pr); !bytes.Equal(got, want) {
		t.Errorf("promotion at a location:\n got %s\nwant %s", got, want)
	}
	tx := &schema.POSTransaction{EventTime: time.Date(2026, 3, 29, 3, 0, 0, 5000, time.FixedZone("", 7200))}
	want, _ = json.Marshal(tx)
	if got := appendPOS(nil, tx); !bytes.Equal(got, want) {
		t.Errorf("empty transaction:\n got %s\nwant %s", got, want)
	}
	if n == 0 {
		t.Fatal("no records compared")
	}
}

package bc_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/bc"
	"github.com/shelflake/shelflake/forecast/writeback/bc/bcfake"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var asOf = schema.NewDate(2026, 3, 2)

// world is the catalogue shared by our documents, the config and the fake.
type world struct {
	vendors, items, locations map[string]string
}

func newWorld() world {
	w := world{vendors: map[string]string{}, items: map[string]string{}, locations: map[string]string{}}
	for i := range 7 {
		w.locations[fmt.Sprintf("S%04d", i+1)] = fmt.Sprintf("0c0ffee0-0000-4000-8000-%012d", i+1)
	}
	return w
}

// docs builds n documents of distinct locations and suppliers, mapping
// their ids into w.
func (w world) docs(t testing.TB, n int) []*writeback.Document {
	t.Helper()
	var docs []*writeback.Document
	for i := range n {
		d := &writeback.Document{AsOf: asOf, RunID: "run-1", LocationID: fmt.Sprintf("S%04d", i%7+1),
			SupplierID: fmt.Sprintf("SUP%03d", i/7+1), Currency: "EUR"}
		w.vendors[d.SupplierID] = fmt.Sprintf("V%05d", i/7+1)
		for j := range 1 + i%3 {
			qty := int64(6 * (1 + j))
			cost := schema.Money(12345 + 1111*int64(i+j))
			sku := fmt.Sprintf("SKU%06d", 10*i+j)
			w.items[sku] = fmt.Sprintf("%d-S", 1000+10*i+j)
			d.Lines = append(d.Lines, writeback.Line{SKU: sku, Qty: qty, CasePack: 6, MOQ: 6,
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

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// clock is the time of the fake and the channel: Sleep advances it.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

func fake(t testing.TB, w world, clk *clock, mod func(*bcfake.Options)) *bcfake.Server {
	o := bcfake.Options{Vendors: values(w.vendors), Items: values(w.items), Locations: values(w.locations), Now: clk.Now}
	if mod != nil {
		mod(&o)
	}
	s := bcfake.New(o)
	t.Cleanup(s.Close)
	return s
}

func channel(t testing.TB, w world, erp *bcfake.Server, clk *clock, mod func(*bc.Config)) *bc.Channel {
	t.Helper()
	cfg := bc.Config{BaseURL: erp.URL, CompanyID: erp.CompanyID(), TokenURL: erp.TokenURL, ClientID: erp.ClientID(),
		ClientSecret: erp.ClientSecret(), Vendors: w.vendors, Items: w.items, Locations: w.locations,
		MaxAttempts: 5, TimeoutSeconds: 1}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := bc.New(cfg, bc.Options{Sleep: clk.Sleep, Now: clk.Now, Jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestPurchaseOrdersAreCreatedOnceThroughFaults(t *testing.T) {
	// Document i meets plan i%len(plans) on its successive creates; with
	// five rounds every plan but the last gets through, and the last does
	// once the ERP recovers.
	plans := [][]bcfake.Fault{
		{},
		{bcfake.TooMany},
		{bcfake.Status500, bcfake.Status500},
		{bcfake.TimeoutAfter}, // created, answer lost: found by the next round
		{bcfake.DropAfter},    // created, connection dropped
		{bcfake.DropBefore},
		{bcfake.ExpireToken}, // the token expires mid-run
		{bcfake.TimeoutAfter, bcfake.TooMany, bcfake.DropAfter},
		{bcfake.Status500, bcfake.Status500, bcfake.Status500, bcfake.Status500, bcfake.Status500, bcfake.Status500},
	}
	for _, tc := range []struct {
		name  string
		batch int
	}{{"one request per operation", 1}, {"json batch", 100}} {
		t.Run(tc.name, func(t *testing.T) {
			w, clk := newWorld(), newClock()
			docs := w.docs(t, 27)
			idx := map[string]int{}
			for i, d := range docs {
				idx[d.ExternalRef] = i
			}
			faultsOn := true
			erp := fake(t, w, clk, func(o *bcfake.Options) {
				o.Faults = func(key string, attempt int) bcfake.Fault {
					p := plans[idx[key]%len(plans)]
					if !faultsOn || attempt > len(p) {
						return bcfake.None
					}
					return p[attempt-1]
				}
			})
			ch := channel(t, w, erp, clk, func(c *bc.Config) { c.BatchSize = tc.batch })
			l := erptest.OpenLake(t)
			d := erptest.Deliverer(t, l, ch)
			rep, err := d.Deliver(t.Context(), docs)
			if err != nil {
				t.Fatal(err)
			}
			held := erp.Held()
			log := erptest.LatestLog(t, l, ch.Name())
			for _, doc := range docs {
				i := idx[doc.ExternalRef]
				row := log[doc.ExternalRef]
				if held[doc.ExternalRef] > 1 {
					t.Errorf("document %d: %d purchase orders", i, held[doc.ExternalRef])
				}
				want := schema.WritebackAccepted
				if i%len(plans) == len(plans)-1 {
					want = schema.WritebackFailed
				}
				if row.Status != want {
					t.Errorf("document %d (plan %d): %s after %d attempts (%s), want %s", i, i%len(plans), row.Status, row.Attempts, row.Error, want)
				}
				if want == schema.WritebackAccepted && (held[doc.ExternalRef] != 1 || !strings.Contains(row.Response, `"number":"106`)) {
					t.Errorf("document %d accepted, held %d times, response %q", i, held[doc.ExternalRef], row.Response)
				}
			}
			if rep.Accepted != 24 || rep.Failed != 3 {
				t.Errorf("report %+v", rep)
			}
			var honoured int
			for _, w := range clk.Waits() {
				if w == 7*time.Second {
					honoured++
				}
			}
			if honoured == 0 {
				t.Errorf("Retry-After 7s never honoured: waits %v", clk.Waits())
			}
			if erp.TokensIssued() < 2 {
				t.Errorf("%d tokens issued: the expired one was not replaced", erp.TokensIssued())
			}
			if tc.batch > 1 && erp.Batches() == 0 {
				t.Error("no $batch sent")
			}

			// The ERP recovers: the rest is sent, once; a rerun sends nothing.
			faultsOn = false
			if rep, err = d.Deliver(t.Context(), docs); err != nil {
				t.Fatal(err)
			}
			if rep.Accepted != 3 || rep.AlreadyAccepted != 24 {
				t.Errorf("recovery report %+v", rep)
			}
			for k, n := range erp.Held() {
				if n != 1 {
					t.Errorf("document %d held %d times", idx[k], n)
				}
			}
			if len(erp.Held()) != len(docs) {
				t.Errorf("the ERP holds %d documents of %d", len(erp.Held()), len(docs))
			}
			before := erp.Requests()
			if rep, err = d.Deliver(t.Context(), docs); err != nil {
				t.Fatal(err)
			}
			if erp.Requests() != before || rep.AlreadyAccepted != len(docs) {
				t.Errorf("rerun: %d requests, report %+v", erp.Requests()-before, rep)
			}
		})
	}
}

package sap_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/forecast/writeback/sap"
	"github.com/shelflake/shelflake/forecast/writeback/sap/sapfake"
	"github.com/shelflake/shelflake/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var asOf = schema.NewDate(2026, 3, 2)

// world is the catalogue shared by our documents, the config and the fake.
type world struct {
	plants, suppliers, materials map[string]string
}

func newWorld() world {
	w := world{plants: map[string]string{}, suppliers: map[string]string{}, materials: map[string]string{}}
	for i := range 7 {
		w.plants[fmt.Sprintf("S%04d", i+1)] = fmt.Sprintf("%04d", 1010+i)
	}
	return w
}

func (w world) docs(t testing.TB, n int) []*writeback.Document {
	t.Helper()
	var docs []*writeback.Document
	for i := range n {
		d := &writeback.Document{AsOf: asOf, RunID: "run-1", LocationID: fmt.Sprintf("S%04d", i%7+1),
			SupplierID: fmt.Sprintf("SUP%03d", i/7+1), Currency: "EUR"}
		w.suppliers[d.SupplierID] = fmt.Sprintf("%010d", 17300000+i/7)
		for j := range 1 + i%3 {
			qty := int64(6 * (1 + j))
			cost := schema.Money(12345 + 1111*int64(i+j))
			sku := fmt.Sprintf("SKU%06d", 10*i+j)
			w.materials[sku] = fmt.Sprintf("TG%05d", 10*i+j)
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

// sleeps records the channel's waits instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func fake(t testing.TB, w world, mod func(*sapfake.Options)) *sapfake.Server {
	o := sapfake.Options{Materials: values(w.materials), Plants: values(w.plants), Suppliers: values(w.suppliers)}
	if mod != nil {
		mod(&o)
	}
	s := sapfake.New(o)
	t.Cleanup(s.Close)
	return s
}

func channel(t testing.TB, w world, erp *sapfake.Server, sl *sleeps, auth string, mod func(*sap.Config)) *sap.Channel {
	t.Helper()
	o := erp.Options()
	cfg := sap.Config{BaseURL: erp.URL, SAPClient: "100", Auth: auth, PurchasingGroup: "001", PurchasingOrganization: "1010",
		Plants: w.plants, Suppliers: w.suppliers, Materials: w.materials, MaxAttempts: 5, TimeoutSeconds: 1}
	switch auth {
	case "basic":
		cfg.Username, cfg.Password = o.Username, o.Password
	case "oauth2":
		cfg.TokenURL, cfg.ClientID, cfg.ClientSecret = erp.TokenURL, o.ClientID, o.ClientSecret
	}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := sap.New(cfg, sap.Options{Sleep: sl.Sleep, Jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestRequisitionsAreCreatedOnceThroughFaults(t *testing.T) {
	plans := [][]sapfake.Fault{
		{},
		{sapfake.TooMany},
		{sapfake.Unavailable, sapfake.Status500},
		{sapfake.TimeoutAfter}, // created, answer lost: the lookup finds it
		{sapfake.DropAfter},
		{sapfake.DropBefore},
		{sapfake.ExpireCSRF},    // CSRF token expired: fetched again
		{sapfake.HiddenTimeout}, // created, lookup lags: the repeatable request answers
		{sapfake.ExpireToken},
		{sapfake.Status500, sapfake.Status500, sapfake.Status500, sapfake.Status500, sapfake.Status500, sapfake.Status500},
	}
	for _, auth := range []string{"basic", "oauth2"} {
		t.Run(auth, func(t *testing.T) {
			w, sl := newWorld(), &sleeps{}
			docs := w.docs(t, 30)
			idx := map[string]int{}
			for i, d := range docs {
				idx[d.ExternalRef] = i
			}
			faultsOn := true
			erp := fake(t, w, func(o *sapfake.Options) {
				o.Faults = func(key string, attempt int) sapfake.Fault {
					p := plans[idx[key]%len(plans)]
					if !faultsOn || attempt > len(p) {
						return sapfake.None
					}
					if p[attempt-1] == sapfake.ExpireToken && auth == "basic" {
						return sapfake.None
					}
					return p[attempt-1]
				}
			})
			ch := channel(t, w, erp, sl, auth, nil)
			if ch.Name() != "sap:"+strings.TrimPrefix(erp.URL, "http://")+"/100" {
				t.Errorf("name %q", ch.Name())
			}
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
				want := schema.WritebackAccepted
				if i%len(plans) == len(plans)-1 {
					want = schema.WritebackFailed
				}
				if row.Status != want {
					t.Errorf("document %d (plan %d): %s after %d attempts (%s), want %s", i, i%len(plans), row.Status, row.Attempts, row.Error, want)
				}
				if want == schema.WritebackAccepted && (held[doc.ExternalRef] != 1 || !strings.Contains(row.Response, `"PurchaseRequisition":"00100`)) {
					t.Errorf("document %d accepted, held %d times, response %q", i, held[doc.ExternalRef], row.Response)
				}
			}
			if rep.Accepted != 27 || rep.Failed != 3 {
				t.Errorf("report %+v", rep)
			}
			if v := erp.Violations(); len(v) > 0 {
				t.Errorf("violations: %v", v)
			}
			if erp.Replays() != 3 {
				t.Errorf("%d repeatable-request replays, want 3 (plan 7)", erp.Replays())
			}
			// Expiring every token may refuse other documents in flight too.
			if erp.CSRFRefusals() < 3 || erp.CSRFFetches() < 2 {
				t.Errorf("%d CSRF refusals, %d fetches", erp.CSRFRefusals(), erp.CSRFFetches())
			}
			honoured := 0
			for _, w := range sl.Waits() {
				if w == 7*time.Second {
					honoured++
				}
			}
			if honoured != 6 {
				t.Errorf("waited 7s %d times, want 6 (plans 1 and 2)", honoured)
			}

			faultsOn = false
			if rep, err = d.Deliver(t.Context(), docs); err != nil {
				t.Fatal(err)
			}
			if rep.Accepted != 3 || rep.AlreadyAccepted != 27 {
				t.Errorf("recovery report %+v", rep)
			}
			held = erp.Held()
			for _, doc := range docs {
				if held[doc.ExternalRef] != 1 {
					t.Errorf("document %d held %d times", idx[doc.ExternalRef], held[doc.ExternalRef])
				}
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

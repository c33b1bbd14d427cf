package bc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/bc"
	"github.com/shelflake/shelflake/forecast/writeback/bc/bcfake"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
)

func TestMappingErrorsAreRejectedAtOnceWithTheReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		// break the mapping of the first document
		mod func(w world, d *writeback.Document)
		// what the fake knows differs from the config
		fakeMod func(o *bcfake.Options)
		reason  string
		creates int // create attempts the fake sees for the document
	}{
		{name: "supplier missing from the config", mod: func(w world, d *writeback.Document) { delete(w.vendors, d.SupplierID) },
			reason: `supplier "SUP001" has no vendor number in the bc config`},
		{name: "sku missing from the config", mod: func(w world, d *writeback.Document) { delete(w.items, d.Lines[0].SKU) },
			reason: `sku "SKU000000" has no item number in the bc config`},
		{name: "location missing from the config", mod: func(w world, d *writeback.Document) { delete(w.locations, d.LocationID) },
			reason: `location "S0001" has no location id in the bc config`},
		{name: "item unknown in the ERP", mod: func(w world, d *writeback.Document) { w.items[d.Lines[0].SKU] = "GONE-1" },
			reason: "Internal_RecordNotFound: The Item does not exist. Identification fields and values: No.='GONE-1'", creates: 1},
		{name: "vendor unknown in the ERP", fakeMod: func(o *bcfake.Options) { o.Vendors = []string{"V00002"} },
			reason: "The Vendor does not exist", creates: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, clk := newWorld(), newClock()
			docs := w.docs(t, 3)
			// Documents 1 and 2 stay valid: another supplier.
			docs = docs[:1]
			more := w.docs(t, 10)[8:]
			docs = append(docs, more...)
			erp := fake(t, w, clk, tc.fakeMod)
			if tc.mod != nil {
				tc.mod(w, docs[0])
			}
			ch := channel(t, w, erp, clk, nil)
			erptest.RejectedOnce(t, ch, docs, tc.reason, erp.Creates, tc.creates, clk.Waits)
		})
	}
}

func TestBulkDeliveriesGoInBatchesOfAtMost100(t *testing.T) {
	w, clk := newWorld(), newClock()
	docs := w.docs(t, 250)
	erp := fake(t, w, clk, nil)
	// No request may time out here: the request count is the point.
	ch := channel(t, w, erp, clk, func(c *bc.Config) { c.TimeoutSeconds = 60 })
	l := erptest.OpenLake(t)
	rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 250 {
		t.Fatalf("report %+v", rep)
	}
	held := erp.Held()
	for _, d := range docs {
		if held[d.ExternalRef] != 1 {
			t.Errorf("%s held %d times", d.ExternalRef, held[d.ExternalRef])
		}
	}
	// 36 vendors are looked up in one batch; 250 creates in three.
	if erp.MaxBatchOps() != 100 || erp.Batches() != 4 || erp.Requests() != 4 {
		t.Errorf("%d requests, %d batches, largest %d operations: want 4, 4, 100", erp.Requests(), erp.Batches(), erp.MaxBatchOps())
	}
}

func TestTheQuotaKeepsTheERPFromRefusing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		clientRate int // requests per 5 min the client allows itself
		refused    bool
	}{
		{"client quota equal to the ERP's", 30, false},
		{"client quota above the ERP's: 429 and Retry-After", 6000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, clk := newWorld(), newClock()
			docs := w.docs(t, 70)
			// Tokens outlive the simulated hours of waiting (expiry has its own test).
			erp := fake(t, w, clk, func(o *bcfake.Options) { o.RequestsPer5Min, o.RetryAfter, o.TokenTTL = 30, 300, 48*time.Hour })
			ch := channel(t, w, erp, clk, func(c *bc.Config) { c.RequestsPer5Min, c.BatchSize, c.MaxAttempts = tc.clientRate, 10, 12 })
			l := erptest.OpenLake(t)
			rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepted != len(docs) {
				t.Errorf("report %+v", rep)
			}
			for k, n := range erp.Held() {
				if n != 1 {
					t.Errorf("%s held %d times", k, n)
				}
			}
			if got := erp.RateLimited() > 0; got != tc.refused {
				t.Errorf("the ERP refused %d requests for the rate", erp.RateLimited())
			}
			if len(clk.Waits()) == 0 {
				t.Error("70 documents in a quota of 30 per 5 minutes without a wait")
			}
		})
	}
}

func TestOutcomesReadBackWhatPlannersDid(t *testing.T) {
	w, clk := newWorld(), newClock()
	docs := w.docs(t, 6)
	erp := fake(t, w, clk, nil)
	ch := channel(t, w, erp, clk, nil)
	var _ writeback.OutcomeReader = ch
	l := erptest.OpenLake(t)
	if rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs); err != nil || rep.Accepted != 6 {
		t.Fatalf("deliver: %+v, %v", rep, err)
	}
	item := func(d *writeback.Document, j int) string { return w.items[d.Lines[j].SKU] }
	// 0 untouched; 1 in review; 2 released as is; 3 released with a
	// quantity changed; 4 released with its line removed and another added;
	// 5 deleted.
	erp.Plan(docs[1].ExternalRef, "In Review", nil)
	erp.Plan(docs[2].ExternalRef, "Open", nil)
	erp.Plan(docs[3].ExternalRef, "Open", map[string]float64{item(docs[3], 0): 24})
	erp.Plan(docs[4].ExternalRef, "Released", map[string]float64{item(docs[4], 0): 0, "1999-S": 5})
	erp.Plan(docs[5].ExternalRef, "", nil)
	out, err := ch.Outcomes(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(docs) {
		t.Fatalf("%d outcomes for %d documents", len(out), len(docs))
	}
	want := []struct {
		decision, status string
		lines            []writeback.OutcomeLine
	}{
		{writeback.OutcomePending, "Draft", nil},
		{writeback.OutcomePending, "In Review", nil},
		{writeback.OutcomeAccepted, "Open", nil},
		{writeback.OutcomeChanged, "Open", []writeback.OutcomeLine{{SKU: docs[3].Lines[0].SKU, SuggestedQty: 6, PlannerQty: 24}}},
		{writeback.OutcomeChanged, "Released", []writeback.OutcomeLine{{SKU: docs[4].Lines[0].SKU, SuggestedQty: 6}, {SKU: docs[4].Lines[1].SKU, SuggestedQty: 12, PlannerQty: 12}, {SKU: "1999-S", PlannerQty: 5}}},
		{writeback.OutcomeRejected, "deleted", nil},
	}
	for i, o := range out {
		if o.ExternalRef != docs[i].ExternalRef || o.Channel != ch.Name() {
			t.Fatalf("outcome %d is of %s on %s", i, o.ExternalRef, o.Channel)
		}
		if o.Decision != want[i].decision || o.ERPStatus != want[i].status {
			t.Errorf("document %d: %s (%s), want %s (%s)", i, o.Decision, o.ERPStatus, want[i].decision, want[i].status)
		}
		if (o.DocID == "") != (i == 5) {
			t.Errorf("document %d: doc id %q", i, o.DocID)
		}
		if want[i].lines != nil && !equalLines(o.Lines, want[i].lines) {
			t.Errorf("document %d lines %+v, want %+v", i, o.Lines, want[i].lines)
		}
		if i == 2 {
			for _, l := range o.Lines {
				if l.PlannerQty != l.SuggestedQty {
					t.Errorf("accepted document with line %+v", l)
				}
			}
		}
	}
}

func equalLines(a, b []writeback.OutcomeLine) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWrongCredentialsAreRejectedWithoutRetries(t *testing.T) {
	w, clk := newWorld(), newClock()
	docs := w.docs(t, 3)
	erp := fake(t, w, clk, nil)
	ch := channel(t, w, erp, clk, func(c *bc.Config) { c.ClientSecret = "wrong" })
	l := erptest.OpenLake(t)
	rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 3 || erp.Requests() != 0 || len(clk.Waits()) != 0 {
		t.Errorf("report %+v, %d API requests, waits %v", rep, erp.Requests(), clk.Waits())
	}
	if row := erptest.LatestLog(t, l, ch.Name())[docs[0].ExternalRef]; !strings.Contains(row.Error, "invalid_client") {
		t.Errorf("error %q does not name the cause", row.Error)
	}
}

func TestAnUnreachableERPFailsAtOnceWithTheCause(t *testing.T) {
	w, clk := newWorld(), newClock()
	docs := w.docs(t, 5)
	erp := fake(t, w, clk, nil)
	ch := channel(t, w, erp, clk, nil)
	erp.Close() // nothing listens there any more
	l := erptest.OpenLake(t)
	rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 5 || !strings.Contains(rep.Unreachable, "cannot reach ERP endpoint") || len(clk.Waits()) != 0 {
		t.Errorf("report %+v, waits %v", rep, clk.Waits())
	}
}

package sap_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/forecast/writeback/sap"
	"github.com/shelflake/shelflake/forecast/writeback/sap/sapfake"
	"github.com/shelflake/shelflake/schema"
)

func TestMappingErrorsAreRejectedAtOnceWithTheReason(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(w world, d *writeback.Document)
		fakeMod func(o *sapfake.Options)
		reason  string
		creates int
	}{
		{name: "location missing from the config", mod: func(w world, d *writeback.Document) { delete(w.plants, d.LocationID) },
			reason: `location "S0001" has no plant in the sap config`},
		{name: "sku missing from the config", mod: func(w world, d *writeback.Document) { delete(w.materials, d.Lines[0].SKU) },
			reason: `sku "SKU000000" has no material in the sap config`},
		{name: "supplier missing from the config", mod: func(w world, d *writeback.Document) { delete(w.suppliers, d.SupplierID) },
			reason: `supplier "SUP001" has no supplier number in the sap config`},
		{name: "material unknown in SAP", mod: func(w world, d *writeback.Document) { w.materials[d.Lines[0].SKU] = "GONE" },
			reason: "M3/305: Material GONE is not maintained in plant 1010", creates: 1},
		{name: "supplier unknown in SAP", fakeMod: func(o *sapfake.Options) { o.Suppliers = []string{"0017300001"} },
			reason: "06/251: Supplier 0017300000 does not exist", creates: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, sl := newWorld(), &sleeps{}
			docs := append(w.docs(t, 1), w.docs(t, 10)[8:]...)
			erp := fake(t, w, tc.fakeMod)
			if tc.mod != nil {
				tc.mod(w, docs[0])
			}
			ch := channel(t, w, erp, sl, "basic", nil)
			erptest.RejectedOnce(t, ch, docs, tc.reason, erp.Creates, tc.creates, sl.Waits)
		})
	}
}

func TestDryRunValidatesWithoutCreating(t *testing.T) {
	w, sl := newWorld(), &sleeps{}
	docs := w.docs(t, 4)
	erp := fake(t, w, nil)
	w.materials[docs[3].Lines[0].SKU] = "GONE"
	ch := channel(t, w, erp, sl, "basic", nil)
	errs := ch.Validate(t.Context(), docs)
	for i, err := range errs[:3] {
		if err != nil {
			t.Errorf("document %d: %v", i, err)
		}
	}
	if errs[3] == nil || !strings.Contains(errs[3].Error(), "Material GONE") {
		t.Errorf("document 3: %v, want the unknown material", errs[3])
	}
	if erp.Validations() != 3 || len(erp.Held()) != 0 {
		t.Errorf("%d validations, %d requisitions held", erp.Validations(), len(erp.Held()))
	}

	// validate_only through the deliverer: nothing created, nothing
	// recorded as accepted, so a real run still sends everything.
	dry := channel(t, w, erp, sl, "basic", func(c *sap.Config) { c.ValidateOnly = true })
	l := erptest.OpenLake(t)
	rep, err := erptest.Deliverer(t, l, dry).Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 0 || rep.Failed != 3 || rep.Rejected != 1 || len(erp.Held()) != 0 {
		t.Errorf("dry run report %+v, %d held", rep, len(erp.Held()))
	}
	if row := erptest.LatestLog(t, l, dry.Name())[docs[0].ExternalRef]; !strings.Contains(row.Error, "validated only") {
		t.Errorf("dry-run log row error %q", row.Error)
	}
	rep, err = erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 3 || len(erp.Held()) != 3 {
		t.Errorf("real run after the dry run: %+v, %d held", rep, len(erp.Held()))
	}
}

func TestOutcomesReadBackWhatPlannersDid(t *testing.T) {
	w, sl := newWorld(), &sleeps{}
	docs := w.docs(t, 8)
	erp := fake(t, w, nil)
	ch := channel(t, w, erp, sl, "oauth2", nil)
	var _ writeback.OutcomeReader = ch
	l := erptest.OpenLake(t)
	if rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs); err != nil || rep.Accepted != 8 {
		t.Fatalf("deliver: %+v, %v", rep, err)
	}
	mat := func(d *writeback.Document, j int) string { return w.materials[d.Lines[j].SKU] }
	// 0 untouched; 1 released; 2 released with a quantity changed; 3 turned
	// into a purchase order; 4 released with an item deleted and one added;
	// 5 deleted; 6 release refused; 7 every item flagged deleted.
	erp.Plan(docs[1].ExternalRef, "05", "", nil, false)
	erp.Plan(docs[2].ExternalRef, "05", "", map[string]string{mat(docs[2], 0): "30.000"}, false)
	erp.Plan(docs[3].ExternalRef, "", "B", nil, false)
	erp.Plan(docs[4].ExternalRef, "03", "", map[string]string{mat(docs[4], 0): "0", "TG99999": "5"}, false)
	erp.Plan(docs[5].ExternalRef, "", "", nil, true)
	erp.Plan(docs[6].ExternalRef, "08", "", nil, false)
	erp.Plan(docs[7].ExternalRef, "", "", map[string]string{mat(docs[7], 0): "0", mat(docs[7], 1): "0"}, false)
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
		{writeback.OutcomePending, "N/02", nil},
		{writeback.OutcomeAccepted, "N/05", nil},
		{writeback.OutcomeChanged, "N/05", []writeback.OutcomeLine{{SKU: docs[2].Lines[0].SKU, SuggestedQty: 6, PlannerQty: 30}, {SKU: docs[2].Lines[1].SKU, SuggestedQty: 12, PlannerQty: 12}, {SKU: docs[2].Lines[2].SKU, SuggestedQty: 18, PlannerQty: 18}}},
		{writeback.OutcomeAccepted, "B/02", nil},
		{writeback.OutcomeChanged, "N/03", []writeback.OutcomeLine{{SKU: docs[4].Lines[0].SKU, SuggestedQty: 6}, {SKU: docs[4].Lines[1].SKU, SuggestedQty: 12, PlannerQty: 12}, {SKU: "TG99999", PlannerQty: 5}}},
		{writeback.OutcomeRejected, "deleted", nil},
		{writeback.OutcomeRejected, "N/08", nil},
		{writeback.OutcomeRejected, "N/02", []writeback.OutcomeLine{{SKU: docs[7].Lines[0].SKU, SuggestedQty: 6}, {SKU: docs[7].Lines[1].SKU, SuggestedQty: 12}}},
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
	for _, auth := range []string{"basic", "oauth2"} {
		t.Run(auth, func(t *testing.T) {
			w, sl := newWorld(), &sleeps{}
			docs := w.docs(t, 3)
			erp := fake(t, w, nil)
			ch := channel(t, w, erp, sl, auth, func(c *sap.Config) { c.Password, c.ClientSecret = "wrong", "wrong" })
			l := erptest.OpenLake(t)
			rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Rejected != 3 || len(sl.Waits()) != 0 || erp.Requests() > 3 {
				t.Errorf("report %+v, %d requests, waits %v", rep, erp.Requests(), sl.Waits())
			}
		})
	}
}

func TestAnUnreachableERPFailsAtOnceWithTheCause(t *testing.T) {
	w, sl := newWorld(), &sleeps{}
	docs := w.docs(t, 5)
	erp := fake(t, w, nil)
	ch := channel(t, w, erp, sl, "basic", nil)
	erp.Close() // nothing listens there any more
	l := erptest.OpenLake(t)
	rep, err := erptest.Deliverer(t, l, ch).Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 5 || !strings.Contains(rep.Unreachable, "cannot reach ERP endpoint") || len(sl.Waits()) != 0 {
		t.Errorf("report %+v, waits %v", rep, sl.Waits())
	}
}

func TestFirstSentIsTheStartOfTheKeysWeek(t *testing.T) {
	for _, tc := range []struct {
		asOf schema.Date
		want string
	}{
		{schema.NewDate(2026, 3, 2), "Mon, 02 Mar 2026 00:00:00 GMT"}, // a Monday
		{schema.NewDate(2026, 3, 8), "Mon, 02 Mar 2026 00:00:00 GMT"}, // the Sunday of that week
		{schema.NewDate(2026, 3, 9), "Mon, 09 Mar 2026 00:00:00 GMT"},
		{schema.NewDate(2026, 1, 1), "Mon, 29 Dec 2025 00:00:00 GMT"}, // ISO week 2026-W01 starts in 2025
	} {
		d := &writeback.Document{AsOf: tc.asOf}
		if got := sap.FirstSent(d).Format(http.TimeFormat); got != tc.want {
			t.Errorf("as of %s: First-Sent %s, want %s", tc.asOf, got, tc.want)
		}
	}
}

// A process killed after SAP created a requisition but before it answered
// leaves the document failed in the log; the next process (with another
// clock), or the next run of the same week, sends the same
// Repeatability-Request-ID, and must send the same First-Sent with it, as
// the fake enforces like SAP: then SAP answers with the first create.
func TestARepeatedCreateCarriesTheSameFirstSentAcrossProcesses(t *testing.T) {
	w, sl := newWorld(), &sleeps{}
	docs := w.docs(t, 1)
	erp := fake(t, w, func(o *sapfake.Options) {
		o.Faults = func(_ string, attempt int) sapfake.Fault {
			if attempt == 1 {
				return sapfake.HiddenTimeout // created; lookups lag until the next create
			}
			return sapfake.None
		}
	})
	first := channel(t, w, erp, sl, "basic", func(c *sap.Config) { c.MaxAttempts = 1 })
	l := erptest.OpenLake(t)
	if _, err := erptest.Deliverer(t, l, first).Deliver(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	if row := erptest.LatestLog(t, l, first.Name())[docs[0].ExternalRef]; row.Status != schema.WritebackFailed {
		t.Fatalf("first process: %s (%s), want failed (no answer)", row.Status, row.Error)
	}
	// The next run of the week: another as-of, the same key.
	again := *docs[0]
	again.AsOf, again.RunID = asOf+2, "run-2"
	if err := again.Finalize(); err != nil {
		t.Fatal(err)
	}
	if again.ExternalRef != docs[0].ExternalRef {
		t.Fatalf("key %s, want %s", again.ExternalRef, docs[0].ExternalRef)
	}
	o := erp.Options()
	cfg := sap.Config{BaseURL: erp.URL, SAPClient: "100", Auth: "basic", Username: o.Username, Password: o.Password,
		PurchasingGroup: "001", Plants: w.plants, Suppliers: w.suppliers, Materials: w.materials, MaxAttempts: 3, TimeoutSeconds: 1}
	later := func() time.Time { return time.Now().Add(7 * time.Hour) }
	second, err := sap.New(cfg, sap.Options{Sleep: sl.Sleep, Now: later, Jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := erptest.Deliverer(t, l, second).Deliver(t.Context(), []*writeback.Document{&again}); err != nil {
		t.Fatal(err)
	}
	row := erptest.LatestLog(t, l, second.Name())[again.ExternalRef]
	if row.Status != schema.WritebackAccepted {
		t.Errorf("second process: %s after %d attempts (%s), want accepted", row.Status, row.Attempts, row.Error)
	}
	if v := erp.Violations(); len(v) != 0 {
		t.Errorf("contract violations: %q", v)
	}
	if erp.Replays() != 1 || erp.Held()[again.ExternalRef] != 1 {
		t.Errorf("%d replays, held %d times: want the first create answered again, once", erp.Replays(), erp.Held()[again.ExternalRef])
	}
}

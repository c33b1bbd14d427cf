package odoo_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/forecast/writeback/odoo"
	"github.com/shelflake/shelflake/forecast/writeback/odoo/odoofake"
	"github.com/shelflake/shelflake/schema"
)

var asOf = schema.NewDate(2026, 3, 2)

// testDocs builds n documents of distinct locations and suppliers and
// registers their suppliers and SKUs in the fake.
func testDocs(t testing.TB, erp *odoofake.Server, n int) []*writeback.Document {
	t.Helper()
	var docs []*writeback.Document
	seen := map[string]bool{}
	for i := range n {
		d := &writeback.Document{AsOf: asOf, RunID: "run-1", LocationID: fmt.Sprintf("S%04d", i%3+1),
			SupplierID: fmt.Sprintf("SUP%03d", i/3+1), Currency: []string{"EUR", "USD"}[i%2]}
		for j := range 1 + i%3 {
			pack := int64(1 + j*5)
			qty := pack * int64(2+i%4)
			cost := schema.Money(12345 + 1111*int64(i+j))
			d.Lines = append(d.Lines, writeback.Line{SKU: fmt.Sprintf("SKU%06d", 10*i+j), Qty: qty, CasePack: pack, MOQ: pack,
				UnitCost: cost, ExtendedCost: cost.Mul(qty), NeedByDate: asOf + schema.Date(3+j), Reasons: []string{"below_rop"},
				Explanation: writeback.Explanation{Model: "hw_mul", ForecastWindow: 12.5, Defaulted: []string{}}})
		}
		if err := d.Finalize(); err != nil {
			t.Fatal(err)
		}
		if erp != nil {
			if !seen[d.SupplierID] {
				erp.AddPartner(d.SupplierID)
				seen[d.SupplierID] = true
			}
			for _, l := range d.Lines {
				erp.AddProduct(l.SKU)
			}
		}
		docs = append(docs, d)
	}
	return docs
}

func channel(t testing.TB, erp *odoofake.Server, protocol string, mod func(*odoo.Config)) *odoo.Channel {
	t.Helper()
	cfg := odoo.Config{URL: erp.URL, Database: erp.Database, Protocol: protocol, Login: erp.Login, APIKey: "key-1",
		Timeout: odoo.Duration(500 * time.Millisecond), MaxAttempts: 5}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := odoo.New(cfg, odoo.Options{Retry: writeback.RetryPolicy{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestOdooCreatesEachDocumentOnceUnderFaults(t *testing.T) {
	faults := []struct {
		name string
		plan func(odoofake.Call) odoofake.Fault
	}{
		{"none", nil},
		{"429 on search", func(c odoofake.Call) odoofake.Fault {
			return map[bool]odoofake.Fault{true: odoofake.TooMany}[c.Method == "search_read" && c.Key != "" && c.N <= 2]
		}},
		{"500 on create", func(c odoofake.Call) odoofake.Fault {
			return map[bool]odoofake.Fault{true: odoofake.Status500}[c.Method == "create" && c.N == 1]
		}},
		{"timeout after create", func(c odoofake.Call) odoofake.Fault {
			return map[bool]odoofake.Fault{true: odoofake.TimeoutAfter}[c.Method == "create" && c.N == 1]
		}},
		{"dropped after create", func(c odoofake.Call) odoofake.Fault {
			return map[bool]odoofake.Fault{true: odoofake.DropAfter}[c.Method == "create" && c.N == 1]
		}},
		{"dropped before", func(c odoofake.Call) odoofake.Fault {
			return map[bool]odoofake.Fault{true: odoofake.DropBefore}[c.Key != "" && c.N == 1]
		}},
	}
	for _, proto := range []string{"json2", "jsonrpc"} {
		for _, f := range faults {
			t.Run(proto+"/"+f.name, func(t *testing.T) {
				erp := odoofake.New(odoofake.Options{Faults: f.plan})
				defer erp.Close()
				docs := testDocs(t, erp, 7)
				l := erptest.OpenLake(t)
				ch := channel(t, erp, proto, nil)
				d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
				if err != nil {
					t.Fatal(err)
				}
				rep, err := d.Deliver(t.Context(), docs)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Accepted != len(docs) {
					for k, r := range erptest.LatestLog(t, l, ch.Name()) {
						t.Log(k, r.Status, r.Attempts, r.Error)
					}
					t.Fatalf("report %+v: want %d accepted", rep, len(docs))
				}
				by := erp.ByOrigin()
				for _, doc := range docs {
					if by[doc.ExternalRef] != 1 {
						t.Errorf("document %s: %d orders in Odoo, want 1", doc.ExternalRef, by[doc.ExternalRef])
					}
				}
				if len(erp.Orders()) != len(docs) {
					t.Errorf("%d orders, want %d", len(erp.Orders()), len(docs))
				}
				// A rerun sends nothing; the log says accepted once each.
				creates := erp.Calls("purchase.order", "create")
				rep, err = d.Deliver(t.Context(), docs)
				if err != nil || rep.AlreadyAccepted != len(docs) || erp.Calls("purchase.order", "create") != creates {
					t.Fatalf("rerun: %+v, %v, %d creates then %d", rep, err, creates, erp.Calls("purchase.order", "create"))
				}
				attempts := 0
				for _, doc := range docs {
					r := erptest.LatestLog(t, l, ch.Name())[doc.ExternalRef]
					if r.Status != schema.WritebackAccepted {
						t.Errorf("log of %s: %+v", doc.ExternalRef, r)
					}
					attempts += int(r.Attempts)
				}
				if f.plan != nil && attempts <= len(docs) {
					t.Errorf("%d attempts for %d documents: the fault never struck", attempts, len(docs))
				}
			})
		}
	}
}

func TestOdooOrderCarriesTheDocument(t *testing.T) {
	erp := odoofake.New(odoofake.Options{})
	defer erp.Close()
	docs := testDocs(t, erp, 3)
	pt := erp.AddRecord("stock.picking.type", map[string]any{"name": "S0003: Receipts"})
	ch := channel(t, erp, "json2", func(c *odoo.Config) { c.PickingTypes = map[string]int64{"S0003": pt}; c.CompanyID = 1 })
	res := ch.Send(t.Context(), []writeback.Outgoing{{Doc: docs[2]}})
	if res[0].Status != schema.WritebackAccepted {
		t.Fatalf("%+v", res[0])
	}
	o := erp.Orders()[0]
	d := docs[2]
	if o.State != "draft" || o.Origin != d.ExternalRef || o.PickingType != pt || o.CompanyID != 1 || o.DatePlanned != d.NeedByDate.String()+" 12:00:00" ||
		!strings.Contains(o.Notes, d.Lines[0].SKU+": ") || len(o.Lines) != len(d.Lines) {
		t.Fatalf("order %+v for %+v", o, d)
	}
	for i, l := range d.Lines {
		ol := o.Lines[i]
		if ol.ProductQty != float64(l.Qty) || ol.PriceUnit != float64(l.UnitCost)/1e4 || ol.DatePlanned != l.NeedByDate.String()+" 12:00:00" {
			t.Errorf("line %d: %+v for %+v", i, ol, l)
		}
	}
}

func TestOdooUnknownSKUIsRejectedWithTheReasonAndNotRetried(t *testing.T) {
	for _, proto := range []string{"json2", "jsonrpc"} {
		t.Run(proto, func(t *testing.T) {
			erp := odoofake.New(odoofake.Options{})
			defer erp.Close()
			docs := testDocs(t, erp, 2)
			bad := testDocs(t, nil, 5)[4] // its SKUs are not in Odoo
			erp.AddPartner(bad.SupplierID)
			l := erptest.OpenLake(t)
			ch := channel(t, erp, proto, nil)
			d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := d.Deliver(t.Context(), append(docs, bad))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepted != 2 || rep.Rejected != 1 {
				t.Fatalf("%+v", rep)
			}
			r := erptest.LatestLog(t, l, ch.Name())[bad.ExternalRef]
			if r.Status != schema.WritebackRejected || r.Attempts != 1 || !strings.Contains(r.Error, bad.Lines[0].SKU) || !strings.Contains(r.Error, "default_code") {
				t.Fatalf("log row %+v", r)
			}
			if n := erp.Calls("purchase.order", "create"); n != 2 {
				t.Fatalf("%d creates, want 2 (none for the unmapped document)", n)
			}
		})
	}
}

func TestOdooPicksUpARotatedKeyMidRun(t *testing.T) {
	erp := odoofake.New(odoofake.Options{RotateTo: "key-2", Faults: func(c odoofake.Call) odoofake.Fault {
		if c.Method == "create" && c.N == 2 {
			return odoofake.ExpireKey
		}
		return odoofake.None
	}})
	defer erp.Close()
	docs := testDocs(t, erp, 4)
	keyFile := filepath.Join(t.TempDir(), "odoo.key")
	if err := os.WriteFile(keyFile, []byte("key-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := channel(t, erp, "json2", func(c *odoo.Config) { c.APIKey, c.APIKeyFile, c.Concurrency = "", keyFile, 1 })
	// The key is rotated: the file holds the new one before the old expires.
	if err := os.WriteFile(keyFile, []byte("key-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := ch.Send(t.Context(), outgoing(docs))
	for i, r := range res {
		if r.Status != schema.WritebackAccepted {
			t.Fatalf("document %d: %+v", i, r)
		}
	}
	if n := len(erp.Orders()); n != len(docs) {
		t.Fatalf("%d orders, want %d", n, len(docs))
	}
}

func TestOdooExpiredKeyFailsTheDocumentsForALaterRetry(t *testing.T) {
	erp := odoofake.New(odoofake.Options{})
	defer erp.Close()
	docs := testDocs(t, erp, 3)
	l := erptest.OpenLake(t)
	ch := channel(t, erp, "json2", nil)
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	erp.ExpireKeys()
	rep, err := d.Deliver(t.Context(), docs)
	if err != nil || rep.Failed != 3 {
		t.Fatalf("%+v %v", rep, err)
	}
	if r := erptest.LatestLog(t, l, ch.Name())[docs[0].ExternalRef]; !strings.Contains(r.Error, "Invalid apikey") || r.ResponseCode != 401 {
		t.Fatalf("log row %+v", r)
	}
	erp.AddKey("key-1")
	if rep, err = d.Deliver(t.Context(), docs); err != nil || rep.Accepted != 3 || len(erp.Orders()) != 3 {
		t.Fatalf("after renewal: %+v %v, %d orders", rep, err, len(erp.Orders()))
	}
}

func outgoing(docs []*writeback.Document) []writeback.Outgoing {
	out := make([]writeback.Outgoing, len(docs))
	for i, d := range docs {
		out[i] = writeback.Outgoing{Doc: d}
	}
	return out
}

func TestOdooReadsBackWhatPlannersDid(t *testing.T) {
	erp := odoofake.New(odoofake.Options{})
	defer erp.Close()
	docs := testDocs(t, erp, 6)
	ch := channel(t, erp, "json2", nil)
	for _, r := range ch.Send(t.Context(), outgoing(docs)) {
		if r.Status != schema.WritebackAccepted {
			t.Fatalf("%+v", r)
		}
	}
	extra := erp.AddProduct("SKU999999")
	erp.Confirm(docs[0].ExternalRef)              // accepted as is
	erp.SetLineQty(docs[1].ExternalRef, extra, 4) // a line added
	erp.Confirm(docs[1].ExternalRef)              //   → changed
	erp.Cancel(docs[2].ExternalRef)               // rejected
	erp.Delete(docs[3].ExternalRef)               // rejected (gone)
	var prod int64                                // docs[5]'s first product; docs[4] stays a draft
	for _, o := range erp.Orders() {
		if o.Origin == docs[5].ExternalRef {
			prod = o.Lines[0].ProductID
		}
	}
	erp.SetLineQty(docs[5].ExternalRef, prod, 99) // quantity changed
	erp.Confirm(docs[5].ExternalRef)              //   → changed
	outs, err := ch.Outcomes(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{writeback.OutcomeAccepted, writeback.OutcomeChanged, writeback.OutcomeRejected, writeback.OutcomeRejected,
		writeback.OutcomePending, writeback.OutcomeChanged}
	if len(outs) != len(docs) {
		t.Fatalf("%d outcomes", len(outs))
	}
	for i, o := range outs {
		if o.Decision != want[i] || o.ExternalRef != docs[i].ExternalRef || o.Channel != ch.Name() {
			t.Errorf("document %d: %+v, want %s", i, o, want[i])
		}
	}
	if l := outs[1].Lines[len(outs[1].Lines)-1]; l.SKU != "SKU999999" || l.PlannerQty != 4 || l.SuggestedQty != 0 {
		t.Errorf("added line %+v", l)
	}
	if l := outs[5].Lines[0]; l.SKU != docs[5].Lines[0].SKU || l.PlannerQty != 99 || l.SuggestedQty != docs[5].Lines[0].Qty {
		t.Errorf("changed line %+v", l)
	}
	if outs[3].DocID != "" || outs[3].ERPStatus != "deleted" || outs[0].ERPStatus != "purchase" {
		t.Errorf("%+v %+v", outs[3], outs[0])
	}
}

func TestOdooThatCannotBeReachedFailsEveryDocumentAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	docs := testDocs(t, nil, 6)
	l := erptest.OpenLake(t)
	var sleeps atomic.Int64
	ch, err := odoo.New(odoo.Config{URL: "http://" + addr, Database: "acme", APIKey: "k"},
		odoo.Options{Retry: writeback.RetryPolicy{Sleep: func(ctx context.Context, _ time.Duration) error { sleeps.Add(1); return ctx.Err() }}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != len(docs) || !strings.Contains(rep.Unreachable, "cannot reach ERP endpoint http://"+addr) ||
		!strings.Contains(rep.Unreachable, "connection refused") || sleeps.Load() != 0 {
		t.Fatalf("%+v after %d backoffs", rep, sleeps.Load())
	}
}

// TestOdooCallsPerDocument: a first delivery costs one create per document
// and one search per 200; a run after a crash that lost the log (a new
// channel, the same documents) only searches, in batches, and creates
// nothing.
func TestOdooCallsPerDocument(t *testing.T) {
	erp := odoofake.New(odoofake.Options{})
	defer erp.Close()
	docs := testDocs(t, erp, 450)
	for _, r := range channel(t, erp, "json2", nil).Send(t.Context(), outgoing(docs)) {
		if r.Status != schema.WritebackAccepted {
			t.Fatalf("%+v", r)
		}
	}
	if s, c := erp.Calls("purchase.order", "search_read"), erp.Calls("purchase.order", "create"); s != 3 || c != 450 {
		t.Fatalf("%d searches, %d creates for 450 documents: want 3, 450", s, c)
	}
	for _, r := range channel(t, erp, "json2", nil).Send(t.Context(), outgoing(docs)) {
		if r.Status != schema.WritebackAccepted || r.Response == "" {
			t.Fatalf("%+v", r)
		}
	}
	if s, c := erp.Calls("purchase.order", "search_read"), erp.Calls("purchase.order", "create"); s != 6 || c != 450 {
		t.Fatalf("after the rerun %d searches, %d creates: want 6, 450", s, c)
	}
}

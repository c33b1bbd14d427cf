package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/bc/bcfake"
	"github.com/shelflake/shelflake/forecast/writeback/netsuite/netsuitefake"
	"github.com/shelflake/shelflake/forecast/writeback/odoo/odoofake"
	"github.com/shelflake/shelflake/forecast/writeback/sap/sapfake"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// killPlan is where one run of `shelflake writeback retry` is killed: at
// the k-th create (carried out, never answered) or the k-th key lookup
// (never answered) the run makes in erp.
type killPlan struct {
	erp, kind string // kind: "create" or "lookup"
	k         int64
	// hidden: SAP creates the requisition but hides it from lookups
	// until the same document is sent again (a lagging read), so only
	// the repeatable request keeps it single.
	hidden bool
}

// killProxy stands between the process and an ERP's fake and holds the
// answer to the requests hold picks until the process dies: the request
// reached the ERP, its answer never reaches the process.
type killProxy struct {
	*httptest.Server
	mu   sync.Mutex
	hold func(r *http.Request, body []byte) bool
}

func newKillProxy(t *testing.T, target string) *killProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &killProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if held, _ := resp.Request.Context().Value(holdKey{}).(bool); held {
			<-resp.Request.Context().Done()
			return resp.Request.Context().Err()
		}
		return nil
	}
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		p.mu.Lock()
		hold := p.hold
		p.mu.Unlock()
		if hold != nil && hold(r, body) {
			r = r.WithContext(context.WithValue(r.Context(), holdKey{}, true))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

type holdKey struct{}

func (p *killProxy) setHold(f func(r *http.Request, body []byte) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = f
}

// isBCLookup: a $filter GET of purchase orders, alone or in a $batch.
func isBCLookup(r *http.Request, body []byte) bool {
	if r.Method == http.MethodGet {
		return strings.HasSuffix(r.URL.Path, "/purchaseOrders") && r.URL.Query().Has("$filter")
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/$batch") {
		return false
	}
	var b struct {
		Requests []struct{ Method, URL string } `json:"requests"`
	}
	if json.Unmarshal(body, &b) != nil {
		return false
	}
	for _, q := range b.Requests {
		if u, err := url.Parse(q.URL); err == nil && q.Method == http.MethodGet && u.Query().Has("$filter") {
			return true
		}
	}
	return false
}

// isSAPLookup: a $filter GET of requisition headers.
func isSAPLookup(r *http.Request, _ []byte) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/A_PurchaseRequisitionHeader") && r.URL.Query().Has("$filter")
}

// killDocs are n (at most 24) documents over locations L1..L8 (L1 and L5
// in Odoo, L2 and L6 in NetSuite, L3 and L7 in Business Central, the others
// in SAP) from three suppliers, so each ERP holds several documents of one
// supplier on one date: Business Central's lookup by vendor and date finds
// more than one purchase order and must tell them apart by the marker line.
func killDocs(t *testing.T, n int) []*writeback.Document {
	t.Helper()
	var docs []*writeback.Document
	for i := range n {
		d := &writeback.Document{AsOf: erpAsOf, RunID: "run-1", LocationID: fmt.Sprintf("L%d", i%8+1),
			SupplierID: fmt.Sprintf("SUP%02d", i%3+1), Currency: "EUR"}
		for j := range 1 + i%2 {
			cost := schema.Money(25000 + 100*int64(i))
			d.Lines = append(d.Lines, writeback.Line{SKU: fmt.Sprintf("SKU%04d", 10*i+j), Qty: 12, CasePack: 6, MOQ: 6,
				UnitCost: cost, ExtendedCost: cost.Mul(12), NeedByDate: erpAsOf + 4, Reasons: []string{"below_rop"},
				Explanation: writeback.Explanation{Model: "ses", Defaulted: []string{}}})
		}
		if err := d.Finalize(); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

// TestWritebackRetrySurvivesSIGKILLInFourERPs kills `shelflake writeback
// retry` (a separate process writing into Odoo, NetSuite, Business Central
// and SAP at once) with SIGKILL, once inside a create and once during the
// key lookups of each ERP, in random order and at random counts: a create
// the ERP carried out but never answered (for SAP also one hidden from
// lookups until it is sent again) or a lookup never answered. Each next run
// finds what a killed one created by its key (Odoo's origin, NetSuite's
// external id, Business Central's vendor/date lookup and marker line, SAP's
// description, else its repeatable request); after the last, undisturbed
// run every document is held exactly once by its ERP and accepted exactly
// once in erp_writeback_log.
func TestWritebackRetrySurvivesSIGKILLInFourERPs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "shelflake")
	build := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	const n = 24
	docs := killDocs(t, n)
	cat := catalogOf(docs)
	cat.odoo, cat.netsuite, cat.bc, cat.sapPlants = []string{"L1", "L5"}, []string{"L2", "L6"}, []string{"L3", "L7"}, []string{"L4", "L8"}
	e := startFourERPs(t, cat)
	bcProxy, sapProxy := newKillProxy(t, e.bc.URL), newKillProxy(t, e.sap.URL)
	raw, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// SAP sends one document at a time here, so a kill at its k-th create
	// leaves the documents after it to create (its default is 4 in flight).
	cfgText := strings.Replace(string(raw), `"timeout_seconds": 2}}
]}`, `"timeout_seconds": 2, "max_concurrent": 1}}
]}`, 1)
	if cfgText == string(raw) {
		t.Fatal("the four-ERP config no longer ends with the SAP route's timeout_seconds")
	}
	for _, r := range [][2]string{{e.bc.URL, bcProxy.URL}, {e.sap.URL, sapProxy.URL}} {
		cfgText = strings.ReplaceAll(cfgText, `"`+r[0]+`"`, `"`+r[1]+`"`)
		cfgText = strings.ReplaceAll(cfgText, `"`+r[0]+`/`, `"`+r[1]+`/`)
	}
	cfg := filepath.Join(t.TempDir(), "erp.json")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	putERPRun(t, dir, docs)

	erpOf := map[string]string{}
	for i, erp := range []string{"odoo", "netsuite", "bc", "sap"} {
		erpOf[fmt.Sprintf("L%d", i+1)], erpOf[fmt.Sprintf("L%d", i+5)] = erp, erp
	}
	channelOf := map[string]string{"odoo": "odoo:" + e.odoo.Database, "netsuite": "netsuite:1234567",
		"bc": "bc:" + e.bc.CompanyID(), "sap": "sap:" + strings.TrimPrefix(sapProxy.URL, "http://") + "/100"}
	perERP := map[string]int{}
	for _, d := range docs {
		perERP[erpOf[d.LocationID]]++
	}
	held := func(erp string) int {
		switch erp {
		case "odoo":
			return len(e.odoo.Orders())
		case "netsuite":
			return e.ns.Count()
		case "bc":
			return len(e.bc.Held())
		}
		return len(e.sap.Held())
	}

	// sapHidden are documents whose requisition SAP hid: their next create
	// must reach SAP's repeatability unfaulted (the fake skips the replay
	// of a faulted request).
	var sapMu sync.Mutex
	sapHidden := map[string]bool{}
	// arm sets the faults of one run; nil plan: none.
	arm := func(p *killPlan, hit chan<- struct{}) {
		var calls atomic.Int64
		at := func(erp, kind string) bool {
			if p == nil || p.erp != erp || p.kind != kind || calls.Add(1) != p.k {
				return false
			}
			select {
			case hit <- struct{}{}:
			default:
			}
			return true
		}
		e.odoo.SetFaults(func(c odoofake.Call) odoofake.Fault {
			switch {
			case c.Model == "purchase.order" && c.Method == "create" && at("odoo", "create"):
				return odoofake.TimeoutAfter // created; the answer never leaves
			case c.Model == "purchase.order" && c.Method == "search_read" && at("odoo", "lookup"):
				return odoofake.TimeoutBefore
			}
			return odoofake.None
		})
		e.ns.SetFaults(func(r netsuitefake.Request) netsuitefake.Fault {
			if (r.Method == "PUT" && at("netsuite", "create")) || (r.Method == "GET" && at("netsuite", "lookup")) {
				return netsuitefake.TimeoutAfter
			}
			return netsuitefake.None
		})
		e.bc.SetFaults(func(string, int) bcfake.Fault {
			if at("bc", "create") {
				return bcfake.TimeoutAfter
			}
			return bcfake.None
		})
		e.sap.SetFaults(func(key string, _ int) sapfake.Fault {
			sapMu.Lock()
			defer sapMu.Unlock()
			if sapHidden[key] || !at("sap", "create") {
				return sapfake.None
			}
			if p.hidden {
				sapHidden[key] = true
				return sapfake.HiddenTimeout
			}
			return sapfake.TimeoutAfter
		})
		bcProxy.setHold(func(r *http.Request, body []byte) bool { return isBCLookup(r, body) && at("bc", "lookup") })
		sapProxy.setHold(func(r *http.Request, body []byte) bool { return isSAPLookup(r, body) && at("sap", "lookup") })
	}
	run := func(p *killPlan) (killed bool, out string) {
		t.Helper()
		hit := make(chan struct{}, 1)
		arm(p, hit)
		return retryUntilHit(t, bin, dir, cfg, hit)
	}

	// Per ERP, in route order (the order the run writes into them, one
	// after another), a create kill and a lookup kill in random order; SAP
	// gets two create kills, one hidden from lookups. Every run resends all
	// documents (a killed run logs nothing), so each run makes at least
	// these lookups: Odoo one search_read, NetSuite and SAP one per
	// document, Business Central one (batched) request; and a create for
	// each document its ERP does not hold yet, which ERPs later in the
	// route order still lack. So each plan's k is reached and every run is
	// killed, and each ERP is killed inside a create.
	lookups := map[string]int{"odoo": 1, "netsuite": perERP["netsuite"], "bc": 1, "sap": perERP["sap"]}
	var plans []killPlan
	for _, erp := range []string{"odoo", "netsuite", "bc", "sap"} {
		ps := []killPlan{{erp: erp, kind: "create"}, {erp: erp, kind: "lookup"}}
		if erp == "sap" {
			ps = append(ps, killPlan{erp: erp, kind: "create", hidden: true})
		}
		rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		plans = append(plans, ps...)
	}
	createKills := map[string]int{}
	for round, p := range plans {
		another := false // a create kill of this ERP is still to come
		for _, q := range plans[round+1:] {
			another = another || (q.erp == p.erp && q.kind == "create")
		}
		p.k = 1 + rng.Int64N(int64(lookups[p.erp]))
		if p.kind == "lookup" && another {
			// A later lookup comes after the creates of the documents
			// looked up before it: kill at the first, so the create kills
			// to come still find documents to create.
			p.k = 1
		}
		if p.kind == "create" {
			left := perERP[p.erp] - held(p.erp)
			switch {
			case left <= 0:
				p.kind, p.hidden = "lookup", false
			case another:
				// Creates run concurrently (SAP: 4 in flight), so a kill at
				// a later create may find every document created by the
				// time it lands. Killing at the first one leaves at least
				// perERP − concurrency documents for the next create kill.
				p.k = 1
				createKills[p.erp]++
			default:
				p.k = 1 + rng.Int64N(int64(left))
				createKills[p.erp]++
			}
		}
		killed, out := run(&p)
		t.Logf("round %d: kill at %s %s #%d (hidden %v): killed %v; held %d %d %d %d", round, p.erp, p.kind, p.k, p.hidden, killed,
			held("odoo"), held("netsuite"), held("bc"), held("sap"))
		if !killed {
			t.Fatalf("round %d was not killed at %+v: the plan missed its point\n%s", round, p, out)
		}
	}
	if want := map[string]int{"odoo": 1, "netsuite": 1, "bc": 1, "sap": 2}; fmt.Sprint(createKills) != fmt.Sprint(want) {
		t.Errorf("kills inside a create per ERP: %v, want %v", createKills, want)
	}
	if killed, out := run(nil); killed {
		t.Fatalf("the last run was killed\n%s", out)
	}
	arm(nil, nil)

	// Every document exactly once, in its ERP only.
	inOdoo, inNS, inBC, inSAP := e.odoo.ByOrigin(), e.ns.ByExternalID(), e.bc.Held(), e.sap.Held()
	for i, d := range docs {
		erp := erpOf[d.LocationID]
		got := [4]int{inOdoo[d.ExternalRef], 0, inBC[d.ExternalRef], inSAP[d.ExternalRef]}
		if o, ok := inNS[d.ExternalRef]; ok {
			got[1] = 1
			if len(o.Lines) != len(d.Lines) {
				t.Errorf("document %d: NetSuite order has %d lines, want %d", i, len(o.Lines), len(d.Lines))
			}
		}
		want := [4]int{}
		want[map[string]int{"odoo": 0, "netsuite": 1, "bc": 2, "sap": 3}[erp]] = 1
		if got != want {
			t.Errorf("document %d (%s, %s): held %v times by Odoo, NetSuite, BC, SAP; want %v", i, d.LocationID, d.ExternalRef, got, want)
		}
	}
	if got, want := [4]int{len(e.odoo.Orders()), e.ns.Count(), len(e.bc.Held()), len(e.sap.Held())},
		[4]int{perERP["odoo"], perERP["netsuite"], perERP["bc"], perERP["sap"]}; got != want {
		t.Errorf("orders in Odoo, NetSuite, BC, SAP: %v, want %v", got, want)
	}
	for key, hidden := range sapHidden {
		if r, ok := e.sap.Requisition(key); hidden && !ok {
			t.Errorf("SAP lost the requisition of %s", key)
		} else if ok && len(r.Items) == 0 {
			t.Errorf("SAP requisition of %s has no items", key)
		}
	}
	// A hidden requisition's document was missed by the next lookups and
	// sent again: SAP answered that create from its first (repeatability).
	if len(sapHidden) > 0 && e.sap.Replays() == 0 {
		t.Errorf("SAP hid %d requisitions and replayed no create", len(sapHidden))
	}
	if v := e.sap.Violations(); len(v) != 0 {
		t.Errorf("SAP contract violations: %v", v)
	}

	// One accepted log row per document, on its route's channel, and no
	// other rows (a killed run logs nothing).
	ctx := context.Background()
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := writeback.ReadLog(ctx, l)
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	accepted := map[string][]string{}
	for _, r := range rows {
		if r.Status != schema.WritebackAccepted {
			t.Errorf("log row %+v", r)
			continue
		}
		accepted[r.DocumentKey] = append(accepted[r.DocumentKey], r.Channel)
	}
	for i, d := range docs {
		if ch, want := accepted[d.ExternalRef], channelOf[erpOf[d.LocationID]]; len(ch) != 1 || ch[0] != want {
			t.Errorf("document %d (%s): accepted on %v, want once on %s", i, d.LocationID, ch, want)
		}
	}
	if len(accepted) != n {
		t.Errorf("%d documents accepted in the log, want %d", len(accepted), n)
	}
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/bc/bcfake"
	"github.com/shelflake/shelflake/forecast/writeback/netsuite/netsuitefake"
	"github.com/shelflake/shelflake/forecast/writeback/odoo/odoofake"
	"github.com/shelflake/shelflake/forecast/writeback/sap/sapfake"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// erpCatalog is what the four ERPs know: suppliers, SKUs and currencies,
// and the locations each serves (SAP also every location not named).
type erpCatalog struct {
	suppliers, skus, currencies   []string
	odoo, netsuite, bc, sapPlants []string
}

// catalogOf is the catalogue of docs, over locations L1 (Odoo), L2
// (NetSuite), L3 (Business Central) and L4 (SAP).
func catalogOf(docs []*writeback.Document) erpCatalog {
	c := erpCatalog{currencies: []string{"EUR"}, odoo: []string{"L1"}, netsuite: []string{"L2"}, bc: []string{"L3"}, sapPlants: []string{"L4"}}
	seen := map[string]bool{}
	for _, d := range docs {
		if !seen[d.SupplierID] {
			seen[d.SupplierID] = true
			c.suppliers = append(c.suppliers, d.SupplierID)
		}
		for _, l := range d.Lines {
			c.skus = append(c.skus, l.SKU)
		}
	}
	return c
}

// fourERPs is one fake of each ERP and the --erp-config file routing
// the catalogue's locations to Odoo, NetSuite, Business Central and every
// other location to SAP, each with its own authentication: an Odoo API key
// from the environment, a NetSuite JWT signed with a certificate's P-256
// key from a PEM file, Entra client credentials against the fake's token
// endpoint, SAP basic auth (the channel fetches its CSRF token).
type fourERPs struct {
	odoo *odoofake.Server
	ns   *netsuitefake.Server
	bc   *bcfake.Server
	sap  *sapfake.Server
	// nsItems, bcItems and sapMaterials map our SKUs to the ERPs' ids.
	nsItems, bcItems, sapMaterials map[string]string
	// route is the ERP ("odoo", "netsuite", "bc") of a location; SAP
	// serves the others.
	route map[string]string
	cfg   string
}

func startFourERPs(t *testing.T, c erpCatalog) *fourERPs {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "netsuite-m2m.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &fourERPs{nsItems: map[string]string{}, bcItems: map[string]string{}, sapMaterials: map[string]string{}, route: map[string]string{}}
	e.odoo = odoofake.New(odoofake.Options{})
	t.Cleanup(e.odoo.Close)
	e.ns = netsuitefake.New(netsuitefake.Options{ClientID: "ns-client", CertificateID: "ns-cert", PublicKey: key.Public()})
	t.Cleanup(e.ns.Close)
	e.ns.AddRef("subsidiary", "1")

	n := 100
	next := func() string { n++; return fmt.Sprint(n) }
	nsVendors, bcVendors, sapSuppliers := map[string]string{}, map[string]string{}, map[string]string{}
	for i, sup := range c.suppliers {
		e.odoo.AddPartner(sup)
		nsVendors[sup] = next()
		e.ns.AddRef("vendor", nsVendors[sup])
		bcVendors[sup] = fmt.Sprintf("V%05d", 10000+10*i)
		sapSuppliers[sup] = fmt.Sprintf("%010d", 17300000+i)
	}
	for i, sku := range c.skus {
		e.odoo.AddProduct(sku)
		e.nsItems[sku] = next()
		e.ns.AddRef("inventoryItem", e.nsItems[sku])
		e.bcItems[sku] = fmt.Sprintf("%d-S", 1000+i)
		e.sapMaterials[sku] = fmt.Sprintf("TG%05d", 11+i)
	}
	nsCurrencies := map[string]string{}
	for _, cur := range c.currencies {
		if cur != "EUR" && cur != "USD" {
			e.odoo.AddRecord("res.currency", map[string]any{"name": cur})
		}
		nsCurrencies[cur] = next()
		e.ns.AddRef("currency", nsCurrencies[cur])
	}
	nsLocs, bcLocs, plants := map[string]string{}, map[string]string{}, map[string]string{}
	for _, l := range c.odoo {
		e.route[l] = "odoo"
	}
	for _, l := range c.netsuite {
		e.route[l] = "netsuite"
		nsLocs[l] = next()
		e.ns.AddRef("location", nsLocs[l])
	}
	for i, l := range c.bc {
		e.route[l] = "bc"
		bcLocs[l] = fmt.Sprintf("0c0ffee0-0000-4000-8000-%012d", i+1)
	}
	for i, l := range c.sapPlants {
		plants[l] = fmt.Sprintf("%04d", 1010+i)
	}
	e.bc = bcfake.New(bcfake.Options{Vendors: sortedValues(bcVendors), Items: sortedValues(e.bcItems),
		Locations: sortedValues(bcLocs), RetryAfter: 1})
	t.Cleanup(e.bc.Close)
	e.sap = sapfake.New(sapfake.Options{Username: "SHELFLAKE_COMM", Password: "sap-pass-1", Materials: sortedValues(e.sapMaterials),
		Plants: sortedValues(plants), Suppliers: sortedValues(sapSuppliers), RetryAfter: 1})
	t.Cleanup(e.sap.Close)

	t.Setenv("TEST_ODOO_KEY", "key-1")
	t.Setenv("TEST_BC_SECRET", e.bc.ClientSecret())
	t.Setenv("TEST_SAP_PASSWORD", "sap-pass-1")
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cfg := fmt.Sprintf(`{"routes": [
  {"erp": "odoo", "locations": %s, "config": {"url": %q, "database": %q, "api_key_env": "TEST_ODOO_KEY", "timeout": "2s"}},
  {"erp": "netsuite", "locations": %s, "config": {"account_id": "1234567", "base_url": %q, "client_id": "ns-client",
     "certificate_id": "ns-cert", "private_key_file": %q, "subsidiary": "1", "vendors": %s, "items": %s,
     "locations": %s, "currencies": %s, "timeout": "2s"}},
  {"erp": "bc", "locations": %s, "config": {"base_url": %q, "company_id": %q, "token_url": %q,
     "client_id": %q, "client_secret_env": "TEST_BC_SECRET", "vendors": %s, "items": %s,
     "locations": %s, "timeout_seconds": 2}},
  {"erp": "sap", "locations": ["*"], "config": {"base_url": %q, "sap_client": "100", "auth": "basic",
     "username": "SHELFLAKE_COMM", "password_env": "TEST_SAP_PASSWORD", "purchasing_group": "001",
     "purchasing_organization": "1010", "plants": %s, "suppliers": %s, "materials": %s,
     "timeout_seconds": 2}}
]}`, js(c.odoo), e.odoo.URL, e.odoo.Database,
		js(c.netsuite), e.ns.URL, keyFile, js(nsVendors), js(e.nsItems), js(nsLocs), js(nsCurrencies),
		js(c.bc), e.bc.URL, e.bc.CompanyID(), e.bc.TokenURL, e.bc.ClientID(), js(bcVendors), js(e.bcItems), js(bcLocs),
		e.sap.URL, js(plants), js(sapSuppliers), js(e.sapMaterials))
	e.cfg = filepath.Join(t.TempDir(), "erp.json")
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// channelOf names the channel serving each location.
func (e *fourERPs) channelOf(loc string) string {
	switch e.route[loc] {
	case "odoo":
		return "odoo:" + e.odoo.Database
	case "netsuite":
		return "netsuite:1234567"
	case "bc":
		return "bc:" + e.bc.CompanyID()
	}
	return "sap:" + strings.TrimPrefix(e.sap.URL, "http://") + "/100"
}

// counts is what the fakes saw of creates, for "a second run sends
// nothing".
func (e *fourERPs) counts() [4]int {
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	return [4]int{e.odoo.Calls("purchase.order", "create"), e.ns.Puts(), sum(e.bc.Creates()), sum(e.sap.Creates())}
}

func TestWritebackRetryWritesIntoFourERPsAtOnce(t *testing.T) {
	ctx := context.Background()
	// 16 documents, four per location L1..L4, suppliers SUP01..SUP04.
	docs := erpDocs(t, 16)
	e := startFourERPs(t, catalogOf(docs))
	ref := func(i int) string { return docs[i].ExternalRef }
	// Faults on the first create of some documents, in every ERP: a 429
	// (Retry-After: 1 where the ERP sends one), or a create carried out
	// whose answer never comes (the channel's 2s timeout, then the lookup
	// by key finds it).
	var odooFaults atomic.Int32
	e.odoo.SetFaults(func(c odoofake.Call) odoofake.Fault {
		if c.Model == "purchase.order" && c.Method == "create" && c.Key == ref(4) && c.N == 1 {
			odooFaults.Add(1)
			return odoofake.TimeoutAfter
		}
		return odoofake.None
	})
	var nsFaults atomic.Int32
	e.ns.SetFaults(func(r netsuitefake.Request) netsuitefake.Fault {
		switch {
		case r.Method == "PUT" && r.Key == ref(1) && r.N == 1:
			nsFaults.Add(1)
			return netsuitefake.TooMany
		case r.Method == "PUT" && r.Key == ref(5) && r.N == 1:
			nsFaults.Add(1)
			return netsuitefake.TimeoutAfter
		}
		return netsuitefake.None
	})
	bcPlan := map[string]bcfake.Fault{ref(2): bcfake.TooMany, ref(6): bcfake.TimeoutAfter}
	e.bc.SetFaults(func(key string, attempt int) bcfake.Fault {
		if attempt == 1 {
			return bcPlan[key]
		}
		return bcfake.None
	})
	sapPlan := map[string]sapfake.Fault{ref(3): sapfake.TooMany, ref(7): sapfake.TimeoutAfter}
	e.sap.SetFaults(func(key string, attempt int) sapfake.Fault {
		if attempt == 1 {
			return sapPlan[key]
		}
		return sapfake.None
	})

	dir := t.TempDir()
	putERPRun(t, dir, docs)
	retry := func() writeback.Report {
		t.Helper()
		out, err := runCLI(t, ctx, "writeback", "retry", "--lake", dir, "--erp-config", e.cfg, "--json")
		if err != nil {
			t.Fatalf("writeback retry: %v\n%s", err, out)
		}
		var rep writeback.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return rep
	}
	first := retry()
	if first.Accepted != 16 || first.Failed != 0 || first.Rejected != 0 || len(first.ByChannel) != 4 {
		t.Fatalf("first retry %+v", first)
	}
	for _, loc := range []string{"L1", "L2", "L3", "L4"} {
		if c := first.ByChannel[e.channelOf(loc)]; c.Accepted != 4 {
			t.Errorf("%s on %s: %+v (report %+v)", loc, e.channelOf(loc), c, first.ByChannel)
		}
	}

	// The faults happened and were retried.
	if n := e.bc.Creates()[ref(2)]; n < 2 {
		t.Errorf("Business Central saw %d creates of the document it answered 429", n)
	}
	if n := e.sap.Creates()[ref(3)]; n < 2 {
		t.Errorf("SAP saw %d creates of the document it answered 429", n)
	}
	if n := odooFaults.Load(); n != 1 {
		t.Errorf("Odoo injected %d faults, want 1", n)
	}
	if n := nsFaults.Load(); n != 2 {
		t.Errorf("NetSuite injected %d faults, want 2", n)
	}

	// Every document exactly once, in its ERP only.
	for i, d := range docs {
		var held int
		switch d.LocationID {
		case "L1":
			held = e.odoo.ByOrigin()[d.ExternalRef]
		case "L2":
			o, ok := e.ns.ByExternalID()[d.ExternalRef]
			if ok {
				held = 1
				if len(o.Lines) != len(d.Lines) {
					t.Errorf("document %d: NetSuite order has %d lines, want %d", i, len(o.Lines), len(d.Lines))
				}
			}
		case "L3":
			held = e.bc.Held()[d.ExternalRef]
		case "L4":
			held = e.sap.Held()[d.ExternalRef]
		}
		if held != 1 {
			t.Errorf("document %d (%s) held %d times by its ERP", i, d.LocationID, held)
		}
	}
	if got := [4]int{len(e.odoo.Orders()), e.ns.Count(), len(e.bc.Held()), len(e.sap.Held())}; got != [4]int{4, 4, 4, 4} {
		t.Errorf("orders in Odoo, NetSuite, BC, SAP: %v, want 4 each", got)
	}
	if v := e.sap.Violations(); len(v) != 0 {
		t.Errorf("SAP contract violations: %v", v)
	}

	// A second retry sends nothing.
	before := e.counts()
	if again := retry(); again.AlreadyAccepted != 16 || again.Accepted != 0 || again.Failed != 0 {
		t.Errorf("second retry %+v", again)
	}
	if after := e.counts(); after != before {
		t.Errorf("second retry reached the ERPs: creates %v, then %v", before, after)
	}

	// One accepted log row per document, on its route's channel.
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
		if r.Status == schema.WritebackAccepted {
			accepted[r.DocumentKey] = append(accepted[r.DocumentKey], r.Channel)
		}
	}
	if len(accepted) != len(docs) {
		t.Errorf("%d documents logged accepted, want %d", len(accepted), len(docs))
	}
	for i, d := range docs {
		if ch := accepted[d.ExternalRef]; len(ch) != 1 || ch[0] != e.channelOf(d.LocationID) {
			t.Errorf("document %d (%s): accepted on %v, want once on %s", i, d.LocationID, ch, e.channelOf(d.LocationID))
		}
	}

	// Planners in each ERP: the first document of each location approved,
	// the second approved with its first line cut to 6, the third deleted,
	// the fourth left alone.
	e.odoo.Confirm(ref(0))
	for _, o := range e.odoo.Orders() {
		if o.Origin == ref(4) {
			e.odoo.SetLineQty(o.Origin, o.Lines[0].ProductID, 6)
		}
	}
	e.odoo.Confirm(ref(4))
	e.odoo.Delete(ref(8))
	e.ns.Approve(ref(1))
	e.ns.SetQty(ref(5), e.nsItems[docs[5].Lines[0].SKU], 6)
	e.ns.Approve(ref(5))
	e.ns.Delete(ref(9))
	for _, ok := range []bool{
		e.bc.Plan(ref(2), "Open", nil),
		e.bc.Plan(ref(6), "Open", map[string]float64{e.bcItems[docs[6].Lines[0].SKU]: 6}),
		e.bc.Plan(ref(10), "", nil),
		e.sap.Plan(ref(3), "05", "", nil, false),
		e.sap.Plan(ref(7), "05", "", map[string]string{e.sapMaterials[docs[7].Lines[0].SKU]: "6.000"}, false),
		e.sap.Plan(ref(11), "", "", nil, true),
	} {
		if !ok {
			t.Fatal("a planner's action found no document")
		}
	}
	outcomes := func() writeback.ReadBackReport {
		t.Helper()
		out, err := runCLI(t, ctx, "writeback", "outcomes", "--lake", dir, "--erp-config", e.cfg, "--json")
		if err != nil {
			t.Fatalf("writeback outcomes: %v\n%s", err, out)
		}
		var rep writeback.ReadBackReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return rep
	}
	if rep := outcomes(); rep.Documents != 16 || rep.Changed != 16 || rep.Decisions["accepted"] != 4 ||
		rep.Decisions["changed"] != 4 || rep.Decisions["rejected"] != 4 || rep.Decisions["pending"] != 4 || len(rep.ByChannel) != 4 {
		t.Fatalf("first read-back %+v", rep)
	}
	out, _, err := sqlCLI(t, "", "sql", "--lake", dir, "--format", "csv", "-c",
		"SELECT channel, decision, string_agg(DISTINCT external_ref, ' ' ORDER BY external_ref) AS refs, sum(suggested_qty) AS s, sum(planner_qty) AS p "+
			"FROM suggestion_outcomes GROUP BY ALL ORDER BY ALL")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for loc := range 4 {
		// Document loc+4k is the k-th of location L<loc+1>; odd documents
		// have two lines of 12, even ones one.
		d := func(k int) *writeback.Document { return docs[loc+4*k] }
		qty := func(k int) int { return 12 * len(d(k).Lines) }
		ch := e.channelOf(d(0).LocationID)
		want = append(want,
			fmt.Sprintf("%s,accepted,%s,%d,%d", ch, d(0).ExternalRef, qty(0), qty(0)),
			fmt.Sprintf("%s,changed,%s,%d,%d", ch, d(1).ExternalRef, qty(1), qty(1)-6),
			fmt.Sprintf("%s,pending,%s,%d,%d", ch, d(3).ExternalRef, qty(3), qty(3)),
			fmt.Sprintf("%s,rejected,%s,%d,0", ch, d(2).ExternalRef, qty(2)))
	}
	sort.Strings(want)
	if wantCSV := "channel,decision,refs,s,p\n" + strings.Join(want, "\n") + "\n"; out != wantCSV {
		t.Errorf("suggestion_outcomes:\n%s\nwant\n%s", out, wantCSV)
	}
	if again := outcomes(); again.Documents != 16 || again.Changed != 0 || again.Version != -1 {
		t.Errorf("rerun appended: %+v", again)
	}
}

func TestForecastWritesIntoFourERPsAtOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := world.New(world.Config{Seed: 5, Stores: 4, SKUs: 25, Days: 130})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.WriteWorld(ctx, l, w, job.WorldOptions{StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// S0001 in Odoo, S0002 in NetSuite, S0003 in Business Central, the
	// other stores and the DCs in SAP.
	c := erpCatalog{odoo: []string{"S0001"}, netsuite: []string{"S0002"}, bc: []string{"S0003"}}
	curs := map[string]bool{}
	for _, loc := range w.Locations() {
		if !curs[loc.Currency] {
			curs[loc.Currency] = true
			c.currencies = append(c.currencies, loc.Currency)
		}
		if loc.Index > 2 {
			c.sapPlants = append(c.sapPlants, loc.ID)
		}
	}
	for _, s := range w.Suppliers() {
		c.suppliers = append(c.suppliers, s.ID)
	}
	for _, it := range w.Items() {
		c.skus = append(c.skus, it.ID)
	}
	e := startFourERPs(t, c)
	t.Setenv("SHELFLAKE_BROKERS", "")
	t.Setenv("SHELFLAKE_PUSHGATEWAY_URL", "")
	args := []string{"forecast", "--lake", dir, "--as-of", w.Date(w.Days()).String(), "--json", "--erp-config", e.cfg}
	forecast := func() forecastReport {
		t.Helper()
		out, err := runCLI(t, ctx, args...)
		if err != nil {
			t.Fatalf("forecast: %v\n%s", err, out)
		}
		var rep forecastReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return rep
	}
	first := forecast()
	if first.Existing || first.Writeback == nil {
		t.Fatalf("first forecast %+v", first)
	}
	l, err = lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := writeback.LoadDocuments(ctx, l.Bucket(), first.Run.AsOf, first.Run.RunID)
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	perChannel := map[string]int{}
	for _, d := range docs {
		perChannel[e.channelOf(d.LocationID)]++
	}
	if len(docs) != int(first.Run.Documents) || len(perChannel) != 4 {
		t.Fatalf("%d documents of a run of %d, over channels %v: want documents for all four ERPs", len(docs), first.Run.Documents, perChannel)
	}
	t.Logf("%d documents per channel: %v", len(docs), perChannel)
	if wb := first.Writeback; wb.Accepted != len(docs) || wb.Failed != 0 || wb.Rejected != 0 {
		t.Fatalf("first write-back %+v", wb)
	}
	for ch, n := range perChannel {
		if got := first.Writeback.ByChannel[ch]; got.Accepted != n {
			t.Errorf("%s: %+v, want %d accepted", ch, got, n)
		}
	}
	for i, d := range docs {
		var held int
		switch e.route[d.LocationID] {
		case "odoo":
			held = e.odoo.ByOrigin()[d.ExternalRef]
		case "netsuite":
			if o, ok := e.ns.ByExternalID()[d.ExternalRef]; ok && len(o.Lines) == len(d.Lines) {
				held = 1
			}
		case "bc":
			held = e.bc.Held()[d.ExternalRef]
		default:
			held = e.sap.Held()[d.ExternalRef]
		}
		if held != 1 {
			t.Errorf("document %d (%s) held %d times by its ERP", i, d.LocationID, held)
		}
	}
	before := e.counts()
	second := forecast()
	if !second.Existing || second.Run.RunID != first.Run.RunID || second.Writeback == nil ||
		second.Writeback.AlreadyAccepted != len(docs) || second.Writeback.Accepted != 0 {
		t.Errorf("second forecast %+v, write-back %+v", second.Run, second.Writeback)
	}
	if after := e.counts(); after != before {
		t.Errorf("second forecast reached the ERPs: creates %v, then %v", before, after)
	}
}

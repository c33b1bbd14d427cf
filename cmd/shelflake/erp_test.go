package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/odoo/odoofake"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

var erpAsOf = schema.NewDate(2026, 3, 2)

// erpDocs builds n documents over locations L1..L4 and registers their
// suppliers and SKUs in the fakes.
func erpDocs(t testing.TB, n int, erps ...*odoofake.Server) []*writeback.Document {
	t.Helper()
	var docs []*writeback.Document
	sup := map[string]bool{}
	for i := range n {
		d := &writeback.Document{AsOf: erpAsOf, RunID: "run-1", LocationID: fmt.Sprintf("L%d", i%4+1),
			SupplierID: fmt.Sprintf("SUP%02d", i/4+1), Currency: "EUR"}
		for j := range 1 + i%2 {
			cost := schema.Money(25000 + 100*int64(i))
			d.Lines = append(d.Lines, writeback.Line{SKU: fmt.Sprintf("SKU%04d", 10*i+j), Qty: 12, CasePack: 6, MOQ: 6,
				UnitCost: cost, ExtendedCost: cost.Mul(12), NeedByDate: erpAsOf + 4, Reasons: []string{"below_rop"},
				Explanation: writeback.Explanation{Model: "ses", Defaulted: []string{}}})
		}
		if err := d.Finalize(); err != nil {
			t.Fatal(err)
		}
		for _, e := range erps {
			if !sup[d.SupplierID] {
				e.AddPartner(d.SupplierID)
			}
			for _, l := range d.Lines {
				e.AddProduct(l.SKU)
			}
		}
		sup[d.SupplierID] = true
		docs = append(docs, d)
	}
	return docs
}

// putERPRun stores docs as the outbox of a completed forecast run in the
// lake at dir.
func putERPRun(t testing.TB, dir string, docs []*writeback.Document) {
	t.Helper()
	ctx := context.Background()
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := writeback.PutDocuments(ctx, l.Bucket(), erpAsOf, "run-1", docs); err != nil {
		t.Fatal(err)
	}
	tbl := schema.TableForecastRuns()
	dt, err := l.Table(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	adds, err := lake.WriteFiles(ctx, l, tbl, erpAsOf, []schema.ForecastRunRow{{DT: erpAsOf, RunID: "run-1", AsOf: erpAsOf}}, lake.WriteOptions{})
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

// writeERPConfig writes a route file: L1, L2 to north, the rest to south.
func writeERPConfig(t testing.TB, north, south *odoofake.Server) string {
	t.Helper()
	cfg := fmt.Sprintf(`{"routes": [
  {"erp": "odoo", "locations": ["L1", "L2"], "config": {"url": %q, "database": %q, "api_key_env": "TEST_ODOO_KEY", "timeout": "2s"}},
  {"erp": "odoo", "locations": ["*"], "config": {"url": %q, "database": %q, "protocol": "jsonrpc", "login": %q, "api_key_env": "TEST_ODOO_KEY", "timeout": "2s"}}
]}`, north.URL, north.Database, south.URL, south.Database, south.Login)
	path := filepath.Join(t.TempDir(), "erp.json")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWritebackRetryRoutesEachLocationToItsERP(t *testing.T) {
	ctx := context.Background()
	north := odoofake.New(odoofake.Options{Database: "north"})
	defer north.Close()
	south := odoofake.New(odoofake.Options{Database: "south"})
	defer south.Close()
	docs := erpDocs(t, 12, north, south)
	// One document's SKU is unknown to its Odoo: rejected with the reason.
	bad := erpDocs(t, 13)[12]
	north.AddPartner(bad.SupplierID)
	docs = append(docs, bad)
	dir := t.TempDir()
	putERPRun(t, dir, docs)
	t.Setenv("TEST_ODOO_KEY", "key-1")
	cfg := writeERPConfig(t, north, south)
	var reps [2]writeback.Report
	for i := range reps {
		out, err := runCLI(t, ctx, "writeback", "retry", "--lake", dir, "--erp-config", cfg, "--json")
		if err == nil || !strings.Contains(err.Error(), "1 document deliveries failed") {
			t.Fatalf("run %d: %v", i, err)
		}
		if err := json.Unmarshal([]byte(out), &reps[i]); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	if r := reps[0]; r.ByChannel["odoo:north"].Accepted != 6 || r.ByChannel["odoo:north"].Rejected != 1 || r.ByChannel["odoo:south"].Accepted != 6 {
		t.Fatalf("first retry %+v", r)
	}
	if r := reps[1]; r.AlreadyAccepted != 12 || r.Accepted != 0 || r.Rejected != 1 {
		t.Fatalf("second retry %+v", r)
	}
	if len(north.Orders()) != 6 || len(south.Orders()) != 6 {
		t.Fatalf("north %d, south %d orders", len(north.Orders()), len(south.Orders()))
	}
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rows, _, err := writeback.ReadLog(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.DocumentKey == bad.ExternalRef && (r.Status != schema.WritebackRejected || !strings.Contains(r.Error, bad.Lines[0].SKU)) {
			t.Errorf("unmapped document logged %+v", r)
		}
	}
}

func TestWritebackRetryNamesLocationsNoRouteServes(t *testing.T) {
	north := odoofake.New(odoofake.Options{Database: "north"})
	defer north.Close()
	docs := erpDocs(t, 8, north)
	dir := t.TempDir()
	putERPRun(t, dir, docs)
	t.Setenv("TEST_ODOO_KEY", "key-1")
	cfg := filepath.Join(t.TempDir(), "erp.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"routes": [{"erp": "odoo", "locations": ["L1", "L2"], "config": {"url": %q, "database": "north", "api_key_env": "TEST_ODOO_KEY"}}]}`, north.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, context.Background(), "writeback", "retry", "--lake", dir, "--erp-config", cfg)
	if err == nil || !strings.Contains(err.Error(), "routes no ERP for location L3, L4: their documents stay in the outbox") {
		t.Fatalf("%v", err)
	}
	if len(north.Orders()) != 4 {
		t.Fatalf("%d orders, want the 4 of L1 and L2", len(north.Orders()))
	}
}

func TestERPConfigMistakeIsOneLine(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "erp.json")
	if err := os.WriteFile(cfg, []byte(`{"routes": [{"erp": "odoo", "locations": ["*"], "config": {"url": "http://127.0.0.1:1", "api_key_env": "NO_SUCH_KEY_VAR"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NO_SUCH_KEY_VAR", "")
	dir := t.TempDir()
	putERPRun(t, dir, nil)
	_, err := runCLI(t, context.Background(), "writeback", "retry", "--lake", dir, "--erp-config", cfg)
	if err == nil || !strings.Contains(err.Error(), "routes[0] (odoo): odoo: api_key_env NO_SUCH_KEY_VAR is empty") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("%v", err)
	}
}

func TestWritebackOutcomesLandsPlannersDecisionsOnce(t *testing.T) {
	ctx := context.Background()
	north := odoofake.New(odoofake.Options{Database: "north"})
	defer north.Close()
	south := odoofake.New(odoofake.Options{Database: "south"})
	defer south.Close()
	docs := erpDocs(t, 8, north, south)
	dir := t.TempDir()
	putERPRun(t, dir, docs)
	t.Setenv("TEST_ODOO_KEY", "key-1")
	cfg := writeERPConfig(t, north, south)
	if _, err := runCLI(t, ctx, "writeback", "retry", "--lake", dir, "--erp-config", cfg); err != nil {
		t.Fatal(err)
	}
	fakeOf := func(d *writeback.Document) *odoofake.Server {
		if d.LocationID == "L1" || d.LocationID == "L2" {
			return north
		}
		return south
	}
	// docs[0] (L1): accepted; docs[1] (L2): a quantity cut; docs[2] (L3):
	// cancelled; docs[3] (L4): deleted; the rest stay drafts.
	fakeOf(docs[0]).Confirm(docs[0].ExternalRef)
	for _, o := range north.Orders() {
		if o.Origin == docs[1].ExternalRef {
			north.SetLineQty(o.Origin, o.Lines[0].ProductID, 6)
		}
	}
	north.Confirm(docs[1].ExternalRef)
	south.Cancel(docs[2].ExternalRef)
	south.Delete(docs[3].ExternalRef)
	outcomes := func() writeback.ReadBackReport {
		t.Helper()
		out, err := runCLI(t, ctx, "writeback", "outcomes", "--lake", dir, "--erp-config", cfg, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var rep writeback.ReadBackReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return rep
	}
	first := outcomes()
	if first.Documents != 8 || first.Changed != 8 || first.Decisions["pending"] != 4 || first.Decisions["accepted"] != 1 ||
		first.Decisions["changed"] != 1 || first.Decisions["rejected"] != 2 {
		t.Fatalf("first read-back %+v", first)
	}
	if again := outcomes(); again.Documents != 8 || again.Changed != 0 || again.Version != -1 {
		t.Fatalf("rerun appended: %+v", again)
	}
	south.Confirm(docs[6].ExternalRef)
	if third := outcomes(); third.Changed != 1 || third.Decisions["accepted"] != 1 {
		t.Fatalf("after one more decision: %+v", third)
	}
	out, _, err := sqlCLI(t, "", "sql", "--lake", dir, "--format", "csv", "-c",
		"SELECT decision, count(DISTINCT external_ref) AS docs, sum(suggested_qty) AS s, sum(planner_qty) AS p FROM suggestion_outcomes "+
			"WHERE seen_at = (SELECT max(seen_at) FROM suggestion_outcomes o2 WHERE o2.external_ref = suggestion_outcomes.external_ref) GROUP BY ALL ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	want := "decision,docs,s,p\naccepted,2,24,24\nchanged,1,24,18\npending,3,60,60\nrejected,2,36,0\n"
	if out != want {
		t.Errorf("suggestion_outcomes now:\n%s\nwant\n%s", out, want)
	}
	out, _, err = sqlCLI(t, "", "sql", "--lake", dir, "--format", "csv", "--query", "suggestion_acceptance")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "supplier_id,category,documents,accepted,changed,rejected,pending,acceptance_rate,") ||
		!strings.Contains(out, "SUP01,,4,1,1,2,0,0.25,") {
		t.Errorf("suggestion_acceptance:\n%s", out)
	}
}

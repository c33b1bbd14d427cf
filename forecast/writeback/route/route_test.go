package route_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/bc"
	"github.com/shelflake/shelflake/forecast/writeback/netsuite"
	"github.com/shelflake/shelflake/forecast/writeback/odoo"
	"github.com/shelflake/shelflake/forecast/writeback/odoo/odoofake"
	"github.com/shelflake/shelflake/forecast/writeback/route"
	"github.com/shelflake/shelflake/forecast/writeback/sap"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

func registry() route.Registry {
	return route.Registry{"odoo": func(raw json.RawMessage, deps route.Deps) (writeback.Channel, error) {
		cfg, err := odoo.ParseConfig(raw)
		if err != nil {
			return nil, err
		}
		return odoo.New(cfg, odoo.Options{Transport: deps.Transport})
	}}
}

func docs(t *testing.T, locs []string, erps ...*odoofake.Server) []*writeback.Document {
	var out []*writeback.Document
	for i, loc := range locs {
		d := &writeback.Document{AsOf: schema.NewDate(2026, 3, 2), RunID: "r", LocationID: loc, SupplierID: "SUP1", Currency: "EUR"}
		cost := schema.Money(10000)
		d.Lines = []writeback.Line{{SKU: fmt.Sprintf("SKU%d", i), Qty: 6, CasePack: 6, MOQ: 6, UnitCost: cost, ExtendedCost: cost.Mul(6),
			NeedByDate: d.AsOf + 3, Reasons: []string{}, Explanation: writeback.Explanation{Defaulted: []string{}}}}
		if err := d.Finalize(); err != nil {
			t.Fatal(err)
		}
		for _, e := range erps {
			e.AddProduct(d.Lines[0].SKU)
		}
		out = append(out, d)
	}
	for _, e := range erps {
		e.AddPartner("SUP1")
	}
	return out
}

func TestOneRunWritesToSeveralERPsByLocation(t *testing.T) {
	north := odoofake.New(odoofake.Options{Database: "north"})
	defer north.Close()
	south := odoofake.New(odoofake.Options{Database: "south"})
	defer south.Close()
	cfg := fmt.Sprintf(`{"routes": [
	  {"erp": "odoo", "locations": ["N1", "N2"], "config": {"url": %q, "database": "north", "api_key": "key-1"}},
	  {"erp": "odoo", "locations": ["*"], "config": {"url": %q, "database": "south", "api_key": "key-1"}}
	]}`, north.URL, south.URL)
	rs, err := route.Parse([]byte(cfg), registry(), route.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ds := docs(t, []string{"N1", "S1", "N2", "S2", "S3"}, north, south)
	l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d, err := writeback.New(l, writeback.Options{Channels: rs.Channels()})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deliver(t.Context(), ds)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ByChannel["odoo:north"].Accepted != 2 || rep.ByChannel["odoo:south"].Accepted != 3 || rep.Accepted != 5 {
		t.Fatalf("%+v", rep)
	}
	if len(north.Orders()) != 2 || len(south.Orders()) != 3 {
		t.Fatalf("north %d orders, south %d", len(north.Orders()), len(south.Orders()))
	}
	rows, _, err := writeback.ReadLog(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		want := "odoo:south"
		if strings.HasPrefix(r.LocationID, "N") {
			want = "odoo:north"
		}
		if r.Channel != want {
			t.Errorf("%s logged on %s, want %s", r.LocationID, r.Channel, want)
		}
	}
	if len(rows) != 5 {
		t.Errorf("%d log rows, want 5", len(rows))
	}
	if u := rs.Unrouted(ds); len(u) != 0 {
		t.Errorf("unrouted %v", u)
	}
}

func TestConfigMistakesAreOneLineNamingTheRoute(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{`{"routes": []}`, "no routes"},
		{`{"routes": [{"erp": "sage", "locations": ["A"], "config": {}}]}`, `routes[0] (sage): erp "sage": want one of odoo`},
		{`{"routes": [{"erp": "odoo", "locations": [], "config": {}}]}`, "routes[0] (odoo): locations"},
		{`{"routes": [{"erp": "odoo", "locations": ["A"], "config": {"url": "http://x", "api_key": "k"}},
		  {"erp": "odoo", "locations": ["A"], "config": {"url": "http://y", "api_key": "k"}}]}`, "location A is already served by routes[0]"},
		{`{"routes": [{"erp": "odoo", "locations": ["A"], "config": {"url": "http://x", "api_key": "k"}},
		  {"erp": "odoo", "locations": ["B"], "config": {"url": "http://x", "api_key": "k"}}]}`, "channel odoo:x is also routes[0]"},
		{`{"routes": [{"erp": "odoo", "locations": ["A"], "config": {"url": "http://x", "api_key": "k", "pasword": 1}}]}`, `unknown field "pasword"`},
		{`{"routes": [{"erp": "odoo", "locations": ["A"], "config": {"url": "http://x"}}]}`, "api_key, api_key_file or api_key_env is required"},
		{`{"rutes": []}`, `unknown field "rutes"`},
	} {
		_, err := route.Parse([]byte(tc.cfg), registry(), route.Deps{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestUnroutedLocationsAreNamed(t *testing.T) {
	rs, err := route.Parse([]byte(`{"routes": [{"erp": "odoo", "locations": ["A"], "config": {"url": "http://x", "api_key": "k"}}]}`), registry(), route.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ds := docs(t, []string{"A", "C", "B", "C"})
	if u := rs.Unrouted(ds); strings.Join(u, ",") != "B,C" {
		t.Fatalf("unrouted %v", u)
	}
}

// nameOnly is a channel for config checks.
type nameOnly string

func (n nameOnly) Name() string { return string(n) }
func (n nameOnly) Send(context.Context, []writeback.Outgoing) []writeback.Result {
	return nil
}

// TestREADMEConfigExampleParses keeps the README's example config true:
// its routes parse and every adapter's settings decode strictly.
func TestREADMEConfigExampleParses(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### Writing into ERPs[^\n]*\n.*?```json\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README has no config example under \"Writing into ERPs\"")
	}
	n := 0
	reg := route.Registry{
		"odoo": func(raw json.RawMessage, _ route.Deps) (writeback.Channel, error) {
			_, err := odoo.ParseConfig(raw)
			n++
			return nameOnly(fmt.Sprint("odoo", n)), err
		},
		"netsuite": func(raw json.RawMessage, _ route.Deps) (writeback.Channel, error) {
			_, err := netsuite.ParseConfig(raw)
			n++
			return nameOnly(fmt.Sprint("netsuite", n)), err
		},
		"bc": func(raw json.RawMessage, _ route.Deps) (writeback.Channel, error) {
			_, err := bc.ParseConfig(raw)
			n++
			return nameOnly(fmt.Sprint("bc", n)), err
		},
		"sap": func(raw json.RawMessage, _ route.Deps) (writeback.Channel, error) {
			_, err := sap.ParseConfig(raw)
			n++
			return nameOnly(fmt.Sprint("sap", n)), err
		},
	}
	rs, err := route.Parse(m[1], reg, route.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Channels()) != 5 {
		t.Fatalf("%d routes", len(rs.Channels()))
	}
}

// FuzzParse: a config file is routes or one error, never a panic, and
// never a location served twice.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"routes": [{"erp": "odoo", "locations": ["A", "*"], "config": {"url": "http://x", "api_key": "k"}}]}`))
	f.Add([]byte(`{"routes": [{"erp": "odoo", "locations": ["A"], "config": {"url": "http://x", "api_key": "k"}}, {"erp": "odoo", "locations": ["B"], "config": {"name": "b", "url": "http://y", "api_key": "k"}}]}`))
	f.Add([]byte(`{"routes": null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rs, err := route.Parse(raw, registry(), route.Deps{})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, loc := range []string{"A", "B", "C", ""} {
			d := &writeback.Document{LocationID: loc}
			served := 0
			for _, c := range rs.Routed() {
				if c.Serves(d) {
					served++
				}
			}
			if served > 1 {
				t.Fatalf("location %q served by %d routes", loc, served)
			}
		}
	})
}

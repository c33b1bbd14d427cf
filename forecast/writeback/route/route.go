// Package route sends each suggestion document to the ERP that serves its
// location, so that one forecast run writes into several ERPs (an Odoo
// database for some stores, a NetSuite account for a country, a Business
// Central company, an SAP plant).
//
// # Config file
//
// A JSON file lists the routes; each names an adapter ("odoo", "netsuite",
// "bc", "sap"), the locations it serves, and the adapter's own settings:
//
//	{"routes": [
//	  {"erp": "odoo", "locations": ["S0001", "S0002"], "config": {"url": "https://acme.odoo.com", "database": "acme", "api_key_env": "ODOO_API_KEY"}},
//	  {"erp": "netsuite", "locations": ["*"], "config": {...}}
//	]}
//
// "*" serves every location no other route names (at most one route has
// it). A location in two routes is an error, found when the file is read.
// Each route becomes one writeback.Channel (its adapter's Name, which must
// differ between routes: erp_writeback_log keys deliveries by it) that is
// writeback.Scoped to its locations, so the Deliverer logs a document only
// on the channel of its ERP.
//
// # Adapters
//
// Adapters are looked up in a Registry by the route's "erp": a
// Constructor gets the route's raw "config" and Deps and returns the
// channel. The program (cmd/shelflake) fills the registry, so it is the
// only place that imports the adapters; this package imports none.
package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/shelflake/shelflake/forecast/writeback"
)

// Deps are what the program hands every adapter.
type Deps struct {
	// Logger for the adapter's own logs (never nil).
	Logger *slog.Logger
	// Transport carries the adapter's HTTP requests; nil: its default.
	Transport http.RoundTripper
	// MaxAttempts, when > 0, overrides the tries per document the adapter
	// defaults to (a config's own setting still wins).
	MaxAttempts int
}

// Constructor builds an adapter's channel from its route's "config" JSON.
// It must refuse unknown fields and fail on missing credentials with one
// line naming the field.
type Constructor func(raw json.RawMessage, deps Deps) (writeback.Channel, error)

// Registry maps an "erp" name to its adapter.
type Registry map[string]Constructor

// Route is one entry of the file.
type Route struct {
	ERP       string          `json:"erp"`
	Locations []string        `json:"locations"`
	Config    json.RawMessage `json:"config"`
}

// File is the config file.
type File struct {
	Routes []Route `json:"routes"`
}

// Routes are the channels of a config file.
type Routes struct {
	chans []*Channel
	// named: locations named by some route.
	named map[string]bool
	def   *Channel
}

// Channel is one route's adapter channel, scoped to its locations.
type Channel struct {
	writeback.Channel
	ERP       string
	locations map[string]bool
	def       bool
	named     map[string]bool
}

// Serves implements writeback.Scoped.
func (c *Channel) Serves(d *writeback.Document) bool {
	if c.locations[d.LocationID] {
		return true
	}
	return c.def && !c.named[d.LocationID]
}

// Reader returns the adapter as an OutcomeReader, when it is one.
func (c *Channel) Reader() (writeback.OutcomeReader, bool) {
	r, ok := c.Channel.(writeback.OutcomeReader)
	return r, ok
}

// Load reads the config file at path and builds its channels.
func Load(path string, reg Registry, deps Deps) (*Routes, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("erp config: %w", err)
	}
	r, err := Parse(raw, reg, deps)
	if err != nil {
		return nil, fmt.Errorf("erp config %s: %w", path, err)
	}
	return r, nil
}

// Parse builds the channels of a config file's bytes.
func Parse(raw []byte, reg Registry, deps Deps) (*Routes, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if len(f.Routes) == 0 {
		return nil, errors.New(`no routes: want {"routes": [{"erp": …, "locations": […], "config": {…}}]}`)
	}
	rs := &Routes{named: map[string]bool{}}
	owner := map[string]int{}
	names := map[string]int{}
	for i, r := range f.Routes {
		at := fmt.Sprintf("routes[%d] (%s)", i, r.ERP)
		mk, ok := reg[r.ERP]
		if !ok {
			known := make([]string, 0, len(reg))
			for k := range reg {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%s: erp %q: want one of %s", at, r.ERP, strings.Join(known, ", "))
		}
		if len(r.Locations) == 0 {
			return nil, fmt.Errorf(`%s: locations: list the location ids it serves, or "*" for all others`, at)
		}
		c := &Channel{ERP: r.ERP, locations: map[string]bool{}, named: rs.named}
		for _, loc := range r.Locations {
			if loc == "*" {
				if rs.def != nil {
					return nil, fmt.Errorf(`%s: "*" is already served by another route`, at)
				}
				c.def, rs.def = true, c
				continue
			}
			if j, dup := owner[loc]; dup {
				return nil, fmt.Errorf("%s: location %s is already served by routes[%d]", at, loc, j)
			}
			owner[loc] = i
			c.locations[loc] = true
			rs.named[loc] = true
		}
		if len(r.Config) == 0 {
			return nil, fmt.Errorf("%s: config: the adapter's settings are missing", at)
		}
		ch, err := mk(r.Config, deps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if j, dup := names[ch.Name()]; dup {
			return nil, fmt.Errorf("%s: channel %s is also routes[%d]: give the routes distinct names", at, ch.Name(), j)
		}
		names[ch.Name()] = i
		c.Channel = ch
		rs.chans = append(rs.chans, c)
	}
	return rs, nil
}

// Channels returns the routes' channels, in file order.
func (r *Routes) Channels() []writeback.Channel {
	out := make([]writeback.Channel, len(r.chans))
	for i, c := range r.chans {
		out[i] = c
	}
	return out
}

// Routed returns the routes' channels with their readers.
func (r *Routes) Routed() []*Channel { return slices.Clone(r.chans) }

// Unrouted returns the sorted locations of docs no route serves (their
// documents stay in the outbox until the config names them).
func (r *Routes) Unrouted(docs []*writeback.Document) []string {
	if r.def != nil {
		return nil
	}
	set := map[string]bool{}
	for _, d := range docs {
		if !r.named[d.LocationID] {
			set[d.LocationID] = true
		}
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Close releases the adapters that hold resources (an io.Closer or a
// Close()).
func (r *Routes) Close() {
	for _, c := range r.chans {
		switch x := c.Channel.(type) {
		case interface{ Close() error }:
			_ = x.Close()
		case interface{ Close() }:
			x.Close()
		}
	}
}

// Readers returns the routes' channels that can read planners' decisions
// back, by channel name (for writeback.ReadBack).
func (r *Routes) Readers() map[string]writeback.OutcomeReader {
	out := map[string]writeback.OutcomeReader{}
	for _, c := range r.chans {
		if rd, ok := c.Reader(); ok {
			out[c.Name()] = rd
		}
	}
	return out
}

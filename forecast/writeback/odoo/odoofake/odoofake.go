// Package odoofake is a fake Odoo server for tests of the odoo write-back
// channel: an HTTP server on loopback speaking Odoo's external JSON-2 API
// (POST /json/2/<model>/<method>) and JSON-RPC (POST /jsonrpc, common.login
// and object.execute_kw), holding the few models purchasing touches.
//
// What it enforces, as Odoo does (external API reference, Odoo 17–19):
//   - JSON-2: "Authorization: bearer <API key>" with a key it knows and that
//     has not expired, else 401 with Odoo's error object
//     ({"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid
//     apikey", …}); the X-Odoo-Database header, when given, must name its
//     database (else 404); Content-Type application/json.
//   - JSON-RPC: the database, a uid from common.login and the key on every
//     execute_kw, else an error result odoo.exceptions.AccessDenied.
//   - Methods search_read (domain of [field, op, value] with =, !=, in;
//     fields; limit), read (ids, fields) and create (vals_list); anything else
//     on a model, an unknown model or an unknown parameter is refused.
//   - create: a field the model does not have, a value of the wrong type
//     (many2one not an existing id, a number as text, a malformed datetime),
//     a missing required field (partner_id; product_id on a line) or an
//     order_line that is not a list of [0, 0, {values}] commands: 422 with a
//     ValueError/ValidationError, nothing created. Orders start in state
//     draft with a name P00001….
//
// Odoo answers a refused call with a 4xx/5xx status and a JSON error object;
// the fake uses 422 for validation errors, 404 for unknown models and
// methods, 401 for keys.
//
// Faults (Options.Faults, per call of a model's method) inject 429 with
// Retry-After, 500, a timeout or a dropped connection after the call was
// carried out (the order exists, the client never hears), a dropped
// connection before, and key expiry. Planner actions (Confirm, SetLineQty,
// Cancel, Delete) move orders as a person in Odoo would.
package odoofake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/shelflake/shelflake/forecast/writeback/erptest"
)

// Fault is what the server does to one call instead of (or after) it.
type Fault int

// Faults.
const (
	None Fault = iota
	// TooMany answers 429 with Retry-After: 3, unhandled.
	TooMany
	// Status500 answers 500, unhandled.
	Status500
	// TimeoutAfter carries the call out and never answers.
	TimeoutAfter
	// DropAfter carries the call out and closes the connection.
	DropAfter
	// DropBefore closes the connection, unhandled.
	DropBefore
	// TimeoutBefore never answers (until the client gives up), unhandled.
	TimeoutBefore
	// ExpireKey expires every API key but Options.RotateTo, then handles
	// the call (401 unless the client holds the rotated key).
	ExpireKey
)

// Call identifies a call for a fault plan. Key is the origin of a
// purchase.order create (the first order's) or the first origin value a
// purchase.order search_read filters on; "" for other calls. N is the
// 1-based count of calls of Model.Method with that Key so far.
type Call struct {
	Model, Method, Key string
	N                  int
}

// Options configure a Server.
type Options struct {
	// Database is its database name (default "acme").
	Database string
	// APIKey is a valid key at start (default "key-1"); Login its user
	// (default "bot@acme").
	APIKey, Login string
	// Faults picks the fault of a call. Nil: none.
	Faults func(Call) Fault
	// RotateTo is the key that stays valid when ExpireKey fires (a key
	// rotated before the old one expired); empty: none.
	RotateTo string
}

// Order is a purchase.order as the fake holds it.
type Order struct {
	ID          int64
	Name        string
	PartnerID   int64
	Origin      string
	PartnerRef  string
	CurrencyID  int64
	CompanyID   int64
	PickingType int64
	DatePlanned string
	Notes       string
	State       string
	Lines       []OrderLine
}

// OrderLine is a purchase.order.line.
type OrderLine struct {
	ID          int64
	ProductID   int64
	ProductQty  float64
	PriceUnit   float64
	DatePlanned string
	Name        string
}

// Server is the fake Odoo.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port).
	URL string
	// Database and Login as configured.
	Database, Login string

	srv   *httptest.Server
	mu    sync.Mutex
	o     Options
	keys  map[string]bool // key → valid
	calls map[string]int
	next  int64
	// models' records: partners, products, currencies, picking types.
	recs   map[string]map[int64]map[string]any
	orders map[int64]*Order
	lines  map[int64]*OrderLine
	lineOf map[int64]int64 // line id → order id
}

// New starts a server with a EUR and USD currency; Close it when done.
func New(o Options) *Server {
	if o.Database == "" {
		o.Database = "acme"
	}
	if o.APIKey == "" {
		o.APIKey = "key-1"
	}
	if o.Login == "" {
		o.Login = "bot@acme"
	}
	s := &Server{o: o, Database: o.Database, Login: o.Login, keys: map[string]bool{o.APIKey: true}, calls: map[string]int{},
		next: 1, recs: map[string]map[int64]map[string]any{}, orders: map[int64]*Order{}, lines: map[int64]*OrderLine{}, lineOf: map[int64]int64{}}
	for _, m := range []string{"res.partner", "product.product", "res.currency", "stock.picking.type", "res.company"} {
		s.recs[m] = map[int64]map[string]any{}
	}
	s.AddRecord("res.company", map[string]any{"name": "Acme"})
	s.AddRecord("res.currency", map[string]any{"name": "EUR"})
	s.AddRecord("res.currency", map[string]any{"name": "USD"})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /json/2/{model}/{method}", s.json2)
	mux.HandleFunc("POST /jsonrpc", s.jsonrpc)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.CloseClientConnections(); s.srv.Close() }

// SetFaults replaces the fault plan.
func (s *Server) SetFaults(f func(Call) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Faults = f
}

// AddKey makes key valid (a rotated key).
func (s *Server) AddKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = true
}

// ExpireKeys makes every key invalid.
func (s *Server) ExpireKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.keys)
}

// AddRecord adds a record to a master-data model (res.partner with ref,
// product.product with default_code, res.currency with name,
// stock.picking.type, res.company) and returns its id.
func (s *Server) AddRecord(model string, vals map[string]any) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	r := map[string]any{"id": float64(id)}
	for k, v := range vals {
		r[k] = v
	}
	s.recs[model][id] = r
	return id
}

// AddPartner adds a vendor with ref and returns its id.
func (s *Server) AddPartner(ref string) int64 {
	return s.AddRecord("res.partner", map[string]any{"name": "Vendor " + ref, "ref": ref})
}

// AddProduct adds a product with default_code and returns its id.
func (s *Server) AddProduct(code string) int64 {
	return s.AddRecord("product.product", map[string]any{"name": "Product " + code, "default_code": code})
}

// Orders returns copies of the orders, by id.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Order
	for _, o := range s.orders {
		c := *o
		c.Lines = slices.Clone(o.Lines)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ByOrigin counts the orders per origin.
func (s *Server) ByOrigin() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, o := range s.orders {
		out[o.Origin]++
	}
	return out
}

// Calls returns how often model.method was called.
func (s *Server) Calls(model, method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[model+"."+method]
}

// Confirm moves the order of origin to state purchase (button_confirm).
func (s *Server) Confirm(origin string) { s.setState(origin, "purchase") }

// Cancel moves the order of origin to state cancel.
func (s *Server) Cancel(origin string) { s.setState(origin, "cancel") }

// Delete removes the order of origin (a planner deleting an RFQ).
func (s *Server) Delete(origin string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, o := range s.orders {
		if o.Origin == origin {
			for _, l := range o.Lines {
				delete(s.lines, l.ID)
			}
			delete(s.orders, id)
		}
	}
}

// SetLineQty sets the quantity of the line of productID on the order of
// origin, adding the line when there is none (0 removes it).
func (s *Server) SetLineQty(origin string, productID int64, qty float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orders {
		if o.Origin != origin {
			continue
		}
		for i := range o.Lines {
			if o.Lines[i].ProductID == productID {
				if qty == 0 {
					delete(s.lines, o.Lines[i].ID)
					o.Lines = slices.Delete(o.Lines, i, i+1)
				} else {
					o.Lines[i].ProductQty = qty
					s.lines[o.Lines[i].ID] = &o.Lines[i]
				}
				s.reindex(o)
				return
			}
		}
		o.Lines = append(o.Lines, OrderLine{ID: s.next, ProductID: productID, ProductQty: qty})
		s.next++
		s.reindex(o)
	}
}

func (s *Server) reindex(o *Order) {
	for i := range o.Lines {
		s.lines[o.Lines[i].ID] = &o.Lines[i]
		s.lineOf[o.Lines[i].ID] = o.ID
	}
}

func (s *Server) setState(origin, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orders {
		if o.Origin == origin {
			o.State = state
		}
	}
}

// odooError is the error object of a refused call.
type odooError struct {
	code    int
	Name    string `json:"name"`
	Message string `json:"message"`
}

func (e *odooError) Error() string { return e.Name + ": " + e.Message }

func valueError(format string, args ...any) *odooError {
	return &odooError{code: http.StatusUnprocessableEntity, Name: "builtins.ValueError", Message: fmt.Sprintf(format, args...)}
}

func validationError(format string, args ...any) *odooError {
	return &odooError{code: http.StatusUnprocessableEntity, Name: "odoo.exceptions.ValidationError", Message: fmt.Sprintf(format, args...)}
}

// callKey finds the Key of a call from its parameters.
func callKey(model, method string, params map[string]json.RawMessage) string {
	if model != "purchase.order" {
		return ""
	}
	switch method {
	case "create":
		var vl []struct {
			Origin string `json:"origin"`
		}
		if json.Unmarshal(params["vals_list"], &vl) == nil && len(vl) > 0 {
			return vl[0].Origin
		}
	case "search_read":
		var dom [][]any
		if json.Unmarshal(params["domain"], &dom) == nil {
			for _, t := range dom {
				if len(t) == 3 && t[0] == "origin" {
					switch v := t[2].(type) {
					case string:
						return v
					case []any:
						if len(v) > 0 {
							s, _ := v[0].(string)
							return s
						}
					}
				}
			}
		}
	}
	return ""
}

// fault looks up and counts the call.
func (s *Server) fault(model, method string, params map[string]json.RawMessage) Fault {
	key := callKey(model, method, params)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[model+"."+method]++
	k := model + "." + method + "\x00" + key
	s.calls[k]++
	if s.o.Faults == nil {
		return None
	}
	f := s.o.Faults(Call{Model: model, Method: method, Key: key, N: s.calls[k]})
	if f == ExpireKey {
		clear(s.keys)
		if s.o.RotateTo != "" {
			s.keys[s.o.RotateTo] = true
		}
	}
	return f
}

// before applies the faults that answer instead of the call; it reports
// whether the call goes on.
func before(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f {
	case TimeoutBefore:
		<-r.Context().Done()
		return false
	case TooMany:
		w.Header().Set("Retry-After", "3")
		writeJSON(w, http.StatusTooManyRequests, &odooError{Name: "werkzeug.exceptions.TooManyRequests", Message: "Too Many Requests"})
		return false
	case Status500:
		writeJSON(w, http.StatusInternalServerError, &odooError{Name: "psycopg2.OperationalError", Message: "server closed the connection unexpectedly"})
		return false
	case DropBefore:
		erptest.Drop(w)
		return false
	}
	return true
}

// after applies the faults that hide the answer of a call carried out; it
// reports whether to answer.
func after(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f {
	case TimeoutAfter:
		<-r.Context().Done()
		return false
	case DropAfter:
		erptest.Drop(w)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) keyValid(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[k]
}

func (s *Server) json2(w http.ResponseWriter, r *http.Request) {
	model, method := r.PathValue("model"), r.PathValue("method")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var params map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	perr := dec.Decode(&params)
	f := s.fault(model, method, params)
	if !before(w, r, f) {
		return
	}
	auth := r.Header.Get("Authorization")
	scheme, key, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "bearer") || !s.keyValid(key) {
		writeJSON(w, http.StatusUnauthorized, &odooError{Name: "werkzeug.exceptions.Unauthorized", Message: "Invalid apikey"})
		return
	}
	if db := r.Header.Get("X-Odoo-Database"); db != "" && db != s.Database {
		writeJSON(w, http.StatusNotFound, &odooError{Name: "werkzeug.exceptions.NotFound", Message: "database " + db + " not found"})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, &odooError{Name: "werkzeug.exceptions.UnsupportedMediaType", Message: "want application/json"})
		return
	}
	if perr != nil {
		writeJSON(w, http.StatusBadRequest, &odooError{Name: "werkzeug.exceptions.BadRequest", Message: "body is not a JSON object: " + perr.Error()})
		return
	}
	res, oerr := s.exec(model, method, params)
	if !after(w, r, f) {
		return
	}
	if oerr != nil {
		writeJSON(w, oerr.code, oerr)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) jsonrpc(w http.ResponseWriter, r *http.Request) {
	var req struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  struct {
			Service string            `json:"service"`
			Method  string            `json:"method"`
			Args    []json.RawMessage `json:"args"`
		} `json:"params"`
		ID any `json:"id"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.JSONRPC != "2.0" || req.Method != "call" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": -32600, "message": "Invalid Request"}})
		return
	}
	rpcErr := func(e *odooError) {
		writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": map[string]any{
			"code": 200, "message": "Odoo Server Error", "data": map[string]any{"name": e.Name, "message": e.Message}}})
	}
	str := func(raw json.RawMessage) string {
		var v string
		_ = json.Unmarshal(raw, &v)
		return v
	}
	p := req.Params
	switch {
	case p.Service == "common" && p.Method == "login" && len(p.Args) == 3:
		f := s.fault("common", "login", nil)
		if !before(w, r, f) {
			return
		}
		var uid any = false
		if str(p.Args[0]) == s.Database && str(p.Args[1]) == s.Login && s.keyValid(str(p.Args[2])) {
			uid = 2
		}
		writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": uid})
	case p.Service == "object" && p.Method == "execute_kw" && (len(p.Args) == 6 || len(p.Args) == 7):
		model, method := str(p.Args[3]), str(p.Args[4])
		var uid float64
		_ = json.Unmarshal(p.Args[1], &uid)
		if str(p.Args[0]) != s.Database || uid != 2 || !s.keyValid(str(p.Args[2])) {
			rpcErr(&odooError{Name: "odoo.exceptions.AccessDenied", Message: "Access Denied"})
			return
		}
		params := map[string]json.RawMessage{}
		var args []json.RawMessage
		if err := json.Unmarshal(p.Args[5], &args); err != nil {
			rpcErr(valueError("args: %v", err))
			return
		}
		if len(p.Args) == 7 {
			dec := json.NewDecoder(bytes.NewReader(p.Args[6]))
			dec.UseNumber()
			if err := dec.Decode(&params); err != nil {
				rpcErr(valueError("kwargs: %v", err))
				return
			}
		}
		if len(args) > 1 {
			rpcErr(valueError("%s.%s: want the ids as the only positional argument", model, method))
			return
		}
		if len(args) == 1 {
			params["ids"] = args[0]
		}
		f := s.fault(model, method, params)
		if !before(w, r, f) {
			return
		}
		res, oerr := s.exec(model, method, params)
		if !after(w, r, f) {
			return
		}
		if oerr != nil {
			rpcErr(oerr)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": res})
	default:
		rpcErr(&odooError{Name: "builtins.KeyError", Message: fmt.Sprintf("no method %s.%s", p.Service, p.Method)})
	}
}

var datetimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$`)

// exec runs model.method with its named parameters.
func (s *Server) exec(model, method string, params map[string]json.RawMessage) (any, *odooError) {
	known := map[string]bool{"context": true}
	switch method {
	case "search_read":
		known["domain"], known["fields"], known["limit"], known["offset"], known["order"] = true, true, true, true, true
	case "read":
		known["ids"], known["fields"] = true, true
	case "create":
		known["vals_list"] = true
	default:
		return nil, &odooError{code: http.StatusNotFound, Name: "werkzeug.exceptions.NotFound", Message: fmt.Sprintf("method %s.%s not available", model, method)}
	}
	if _, ok := s.schema(model); !ok {
		return nil, &odooError{code: http.StatusNotFound, Name: "werkzeug.exceptions.NotFound", Message: "model " + model + " not found"}
	}
	for k := range params {
		if !known[k] {
			return nil, &odooError{code: http.StatusUnprocessableEntity, Name: "builtins.TypeError",
				Message: fmt.Sprintf("%s.%s() got an unexpected keyword argument '%s'", model, method, k)}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch method {
	case "create":
		return s.create(model, params["vals_list"])
	case "read":
		var ids []int64
		if err := json.Unmarshal(params["ids"], &ids); err != nil {
			return nil, valueError("ids: want a list of integers")
		}
		fields, oerr := s.fields(model, params["fields"])
		if oerr != nil {
			return nil, oerr
		}
		var out []map[string]any
		for _, id := range ids {
			rec, ok := s.record(model, id)
			if !ok {
				return nil, &odooError{code: http.StatusNotFound, Name: "odoo.exceptions.MissingError", Message: fmt.Sprintf("Record does not exist or has been deleted. (Record: %s(%d,))", model, id)}
			}
			out = append(out, project(rec, fields))
		}
		return out, nil
	default:
		var domain []json.RawMessage
		if raw, ok := params["domain"]; ok {
			if err := json.Unmarshal(raw, &domain); err != nil {
				return nil, valueError("domain: want a list of [field, operator, value]")
			}
		}
		fields, oerr := s.fields(model, params["fields"])
		if oerr != nil {
			return nil, oerr
		}
		limit := 0
		if raw, ok := params["limit"]; ok {
			if err := json.Unmarshal(raw, &limit); err != nil {
				return nil, valueError("limit: want an integer")
			}
		}
		var terms []term
		for _, d := range domain {
			t, oerr := s.parseTerm(model, d)
			if oerr != nil {
				return nil, oerr
			}
			terms = append(terms, t)
		}
		out := []map[string]any{}
		for _, rec := range s.all(model) {
			ok := true
			for _, t := range terms {
				ok = ok && t.match(rec[t.field])
			}
			if ok {
				out = append(out, project(rec, fields))
				if limit > 0 && len(out) == limit {
					break
				}
			}
		}
		return out, nil
	}
}

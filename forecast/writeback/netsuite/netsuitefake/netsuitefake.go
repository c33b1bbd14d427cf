// Package netsuitefake is a fake NetSuite account for tests of the netsuite
// write-back channel: SuiteTalk REST record service for purchaseOrder and
// the OAuth 2.0 token endpoint of the client credentials flow, on loopback.
//
// What it enforces, as NetSuite documents it:
//   - POST /services/rest/auth/oauth2/v1/token: grant_type
//     client_credentials, client_assertion_type
//     urn:ietf:params:oauth:client-assertion-type:jwt-bearer and a
//     client_assertion JWT whose header has typ JWT, alg PS256 or ES256 (RS256
//     and others refused) and kid the registered certificate id, whose
//     signature verifies with that certificate's public key, whose iss is the
//     client id, aud the token endpoint's URL, scope includes
//     rest_webservices, and exp − iat at most 3600 s with exp in the future.
//     Else 400 {"error": "invalid_grant" | "invalid_client" |
//     "invalid_request"}. Access tokens live Options.TokenTTL.
//   - Record requests need "Authorization: Bearer <token>" with a live
//     token, else 401 with NetSuite's error body (INVALID_LOGIN).
//   - PUT /services/rest/record/v1/purchaseOrder/eid:<externalId> upserts:
//     the body's fields must be purchaseOrder fields the fake knows (entity,
//     subsidiary, location, currency, approvalStatus, tranDate, dueDate, memo,
//     otherRefNum, item), references {"id": "<internal id>"} of records that
//     exist, dates YYYY-MM-DD, memo at most 999 characters, item {"items":
//     [...]} with lines of item (required), quantity (number, required),
//     rate, expectedReceiptDate, description; entity and subsidiary are
//     required on create. Else 400 with o:errorDetails (INVALID_VALUE,
//     USER_ERROR, INVALID_KEY_OR_REF) and nothing written. A new record: 204
//     and Location. An existing one is updated and, as NetSuite merges
//     sublists, lines without a line number are ADDED to its items: a client
//     that upserts twice doubles lines, which ByExternalID shows.
//   - GET purchaseOrder/eid:<externalId> or /<id> (expandSubResources=true
//     expands item.items): the record, or 404.
//
// Faults (per request) inject 429 (CONCURRENCY_LIMIT_EXCEEDED), 500, a
// timeout or a dropped connection after the write, a drop before, and token
// expiry. Planner actions Approve, Reject, SetQty and Delete change records.
package netsuitefake

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback/erptest"
)

// Fault is what the server does to one request.
type Fault int

// Faults.
const (
	None Fault = iota
	// TooMany answers 429 CONCURRENCY_LIMIT_EXCEEDED, unhandled.
	TooMany
	// Status500 answers 500, unhandled.
	Status500
	// TimeoutAfter handles the request and never answers.
	TimeoutAfter
	// DropAfter handles the request and closes the connection.
	DropAfter
	// DropBefore closes the connection, unhandled.
	DropBefore
	// ExpireTokens makes every access token invalid, then handles the
	// request (401).
	ExpireTokens
)

// Request identifies a record request for a fault plan: N counts the
// requests of Method on the external id Key (1-based).
type Request struct {
	Method, Key string
	N           int
}

// Options configure a Server.
type Options struct {
	// ClientID and CertificateID the fake knows; PublicKey the mapped
	// certificate's key (*rsa.PublicKey or *ecdsa.PublicKey, required).
	ClientID, CertificateID string
	PublicKey               crypto.PublicKey
	// TokenTTL is the access tokens' lifetime (default 3600s).
	TokenTTL time.Duration
	// Faults picks the fault of a record request. Nil: none.
	Faults func(Request) Fault
}

// Line is an item line.
type Line struct {
	Line                int
	Item                string
	Quantity            float64
	Rate                float64
	ExpectedReceiptDate string
}

// Order is a purchaseOrder record.
type Order struct {
	ID, ExternalID                                   string
	Entity, Subsidiary, Location, Currency, Approval string
	Status                                           string
	TranDate, DueDate, Memo                          string
	Lines                                            []Line
}

// Server is the fake account.
type Server struct {
	// URL is the base URL; TokenURL the token endpoint.
	URL, TokenURL string

	srv    *httptest.Server
	mu     sync.Mutex
	o      Options
	toks   map[string]time.Time
	nTok   int
	refs   map[string]map[string]bool // record type → ids
	orders map[string]*Order          // by id
	byEID  map[string]string
	next   int
	reqs   map[string]int
	puts   int
}

// New starts a server; Close it when done.
func New(o Options) *Server {
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	s := &Server{o: o, toks: map[string]time.Time{}, refs: map[string]map[string]bool{}, orders: map[string]*Order{},
		byEID: map[string]string{}, next: 100, reqs: map[string]int{}}
	for _, t := range []string{"vendor", "subsidiary", "location", "currency", "inventoryItem"} {
		s.refs[t] = map[string]bool{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /services/rest/auth/oauth2/v1/token", s.token)
	mux.HandleFunc("PUT /services/rest/record/v1/purchaseOrder/{id}", s.put)
	mux.HandleFunc("GET /services/rest/record/v1/purchaseOrder/{id}", s.get)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	s.TokenURL = s.URL + "/services/rest/auth/oauth2/v1/token"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.CloseClientConnections(); s.srv.Close() }

// AddRef registers an internal id of a record type: vendor, subsidiary,
// location, currency, inventoryItem.
func (s *Server) AddRef(typ, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[typ][id] = true
}

// SetFaults replaces the fault plan.
func (s *Server) SetFaults(f func(Request) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Faults = f
}

// ExpireAll makes every access token invalid.
func (s *Server) ExpireAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.toks)
}

// TokensIssued counts the access tokens issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nTok
}

// Puts counts the PUT requests that reached the record service.
func (s *Server) Puts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// ByExternalID returns copies of the orders by external id.
func (s *Server) ByExternalID() map[string]Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Order{}
	for _, o := range s.orders {
		c := *o
		c.Lines = slices.Clone(o.Lines)
		out[o.ExternalID] = c
	}
	return out
}

// Count returns the number of orders.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

func (s *Server) order(eid string) *Order {
	if id, ok := s.byEID[eid]; ok {
		return s.orders[id]
	}
	return nil
}

// Approve approves the order of external id eid (status Pending Receipt).
func (s *Server) Approve(eid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.order(eid); o != nil {
		o.Approval, o.Status = "2", "B"
	}
}

// Reject rejects it.
func (s *Server) Reject(eid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.order(eid); o != nil {
		o.Approval, o.Status = "3", "C"
	}
}

// Delete deletes it.
func (s *Server) Delete(eid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byEID[eid]; ok {
		delete(s.orders, id)
		delete(s.byEID, eid)
	}
}

// SetQty sets the quantity of item on the order (adding a line; 0
// removes it).
func (s *Server) SetQty(eid, item string, qty float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.order(eid)
	if o == nil {
		return
	}
	for i, l := range o.Lines {
		if l.Item == item {
			if qty == 0 {
				o.Lines = slices.Delete(o.Lines, i, i+1)
			} else {
				o.Lines[i].Quantity = qty
			}
			return
		}
	}
	o.Lines = append(o.Lines, Line{Line: len(o.Lines) + 1, Item: item, Quantity: qty})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// nsError writes NetSuite's error body.
func nsError(w http.ResponseWriter, code int, title, errCode, path, detail string) {
	d := map[string]any{"detail": detail, "o:errorCode": errCode}
	if path != "" {
		d["o:errorPath"] = path
	}
	w.Header().Set("Content-Type", "application/vnd.oracle.resource+json; type=error")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15", "title": title,
		"status": code, "o:errorDetails": []any{d}})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" ||
		r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	if reason := s.checkAssertion(r.PostForm.Get("client_assertion")); reason != "" {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": reason})
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	s.toks[tok] = time.Now().Add(s.o.TokenTTL)
	s.nTok++
	s.mu.Unlock()
	writeJSON(w, 200, map[string]string{"access_token": tok, "expires_in": strconv.Itoa(int(s.o.TokenTTL / time.Second)), "token_type": "bearer"})
}

// checkAssertion returns why a JWT assertion is refused ("" when valid).
func (s *Server) checkAssertion(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "client_assertion is not a compact JWT"
	}
	dec := base64.RawURLEncoding
	hb, err1 := dec.DecodeString(parts[0])
	cb, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return "client_assertion is not base64url"
	}
	var h struct{ Typ, Alg, Kid string }
	if err := json.Unmarshal(hb, &h); err != nil || h.Typ != "JWT" {
		return "header: typ must be JWT"
	}
	if h.Kid != s.o.CertificateID {
		return "header: kid is not a certificate mapped to this client"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch h.Alg {
	case "PS256":
		k, ok := s.o.PublicKey.(*rsa.PublicKey)
		if !ok || rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) != nil {
			return "signature does not verify with the mapped certificate"
		}
	case "ES256":
		k, ok := s.o.PublicKey.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 || !ecdsa.Verify(k, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return "signature does not verify with the mapped certificate"
		}
	default:
		return "header: alg " + h.Alg + " is not supported (PS256, ES256)"
	}
	var c struct {
		Iss   string `json:"iss"`
		Aud   any    `json:"aud"`
		Scope any    `json:"scope"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	if err := json.Unmarshal(cb, &c); err != nil {
		return "claims are not JSON"
	}
	if c.Iss != s.o.ClientID {
		return "iss is not the client id"
	}
	if fmt.Sprint(c.Aud) != s.TokenURL && fmt.Sprint(c.Aud) != "["+s.TokenURL+"]" {
		return "aud is not the token endpoint"
	}
	scopes := fmt.Sprint(c.Scope)
	if !strings.Contains(scopes, "rest_webservices") {
		return "scope lacks rest_webservices"
	}
	now := time.Now().Unix()
	if c.Exp <= now || c.Exp-c.Iat > 3600 || c.Iat > now+300 {
		return "iat/exp: expired, in the future or more than 60 minutes apart"
	}
	return ""
}

// auth checks the bearer token; it writes 401 and reports false when bad.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) bool {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	exp, ok := s.toks[tok]
	s.mu.Unlock()
	if !strings.EqualFold(scheme, "bearer") || !ok || time.Now().After(exp) {
		nsError(w, 401, "Unauthorized", "INVALID_LOGIN", "", "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.")
		return false
	}
	return true
}

func (s *Server) fault(method, key string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := method + "\x00" + key
	s.reqs[k]++
	if s.o.Faults == nil {
		return None
	}
	f := s.o.Faults(Request{Method: method, Key: key, N: s.reqs[k]})
	if f == ExpireTokens {
		clear(s.toks)
	}
	return f
}

func before(w http.ResponseWriter, f Fault) bool {
	switch f {
	case TooMany:
		nsError(w, 429, "Too Many Requests", "CONCURRENCY_LIMIT_EXCEEDED", "", "Concurrent request limit exceeded. Request blocked.")
		return false
	case Status500:
		nsError(w, 500, "Internal Server Error", "UNEXPECTED_ERROR", "", "An unexpected error occurred.")
		return false
	case DropBefore:
		erptest.Drop(w)
		return false
	}
	return true
}

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

// eid returns the external id of a {id} path value "eid:<key>".
func eid(v string) (string, bool) {
	k, ok := strings.CutPrefix(v, "eid:")
	if !ok {
		return "", false
	}
	k, err := url.PathUnescape(k)
	return k, err == nil && k != ""
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

var refTypes = map[string]string{"entity": "vendor", "subsidiary": "subsidiary", "location": "location", "currency": "currency"}

func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	key, ok := eid(r.PathValue("id"))
	if !ok {
		nsError(w, 400, "Bad Request", "INVALID_ID", "", "Upsert needs eid:<external id> in the path.")
		return
	}
	f := s.fault("PUT", key)
	if !before(w, f) || !s.auth(w, r) {
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		nsError(w, 415, "Unsupported Media Type", "INVALID_CONTENT_TYPE", "", "Content-Type must be application/json.")
		return
	}
	var body map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		nsError(w, 400, "Bad Request", "INVALID_CONTENT", "", "Invalid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	s.puts++
	o, perr := s.parse(body)
	if perr != nil {
		s.mu.Unlock()
		nsError(w, 400, "Bad Request", perr.code, perr.path, perr.detail)
		return
	}
	var id string
	if ex := s.order(key); ex != nil {
		// Update: fields replace, lines are added (sublists merge).
		id = ex.ID
		for _, l := range o.Lines {
			l.Line = len(ex.Lines) + 1
			ex.Lines = append(ex.Lines, l)
		}
		ex.Memo, ex.DueDate = o.Memo, o.DueDate
	} else {
		if o.Entity == "" || o.Subsidiary == "" {
			s.mu.Unlock()
			nsError(w, 400, "Bad Request", "USER_ERROR", "entity", "Please enter value(s) for: Vendor, Subsidiary")
			return
		}
		id = strconv.Itoa(s.next)
		s.next++
		o.ID, o.ExternalID = id, key
		if o.Approval == "" {
			o.Approval = "1"
		}
		o.Status = "A" // Pending Supervisor Approval
		s.orders[id], s.byEID[key] = o, id
	}
	s.mu.Unlock()
	if !after(w, r, f) {
		return
	}
	w.Header().Set("Location", s.URL+"/services/rest/record/v1/purchaseOrder/"+id)
	w.WriteHeader(http.StatusNoContent)
}

type parseError struct{ code, path, detail string }

// parse checks a purchaseOrder body; s.mu is held.
func (s *Server) parse(body map[string]json.RawMessage) (*Order, *parseError) {
	o := &Order{}
	for f, raw := range body {
		switch f {
		case "entity", "subsidiary", "location", "currency", "approvalStatus":
			var ref map[string]any
			if err := json.Unmarshal(raw, &ref); err != nil {
				return nil, &parseError{"INVALID_VALUE", f, fmt.Sprintf("Invalid value for %s: want {\"id\": \"<internal id>\"}.", f)}
			}
			id, ok := ref["id"].(string)
			if !ok || len(ref) != 1 {
				return nil, &parseError{"INVALID_VALUE", f, fmt.Sprintf("Invalid value for %s: want {\"id\": \"<internal id>\"}.", f)}
			}
			if f == "approvalStatus" {
				if id != "1" && id != "2" && id != "3" {
					return nil, &parseError{"INVALID_KEY_OR_REF", f, "Invalid approvalStatus reference key " + id + "."}
				}
				o.Approval = id
				continue
			}
			if !s.refs[refTypes[f]][id] {
				return nil, &parseError{"INVALID_KEY_OR_REF", f, fmt.Sprintf("Invalid %s reference key %s.", f, id)}
			}
			switch f {
			case "entity":
				o.Entity = id
			case "subsidiary":
				o.Subsidiary = id
			case "location":
				o.Location = id
			case "currency":
				o.Currency = id
			}
		case "tranDate", "dueDate":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || !dateRE.MatchString(v) {
				return nil, &parseError{"INVALID_VALUE", f, fmt.Sprintf("Invalid value for %s: want YYYY-MM-DD.", f)}
			}
			if f == "tranDate" {
				o.TranDate = v
			} else {
				o.DueDate = v
			}
		case "memo", "otherRefNum":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || len([]rune(v)) > 999 {
				return nil, &parseError{"INVALID_VALUE", f, fmt.Sprintf("Invalid value for %s: text of at most 999 characters.", f)}
			}
			if f == "memo" {
				o.Memo = v
			}
		case "item":
			var sub map[string]json.RawMessage
			if err := json.Unmarshal(raw, &sub); err != nil || len(sub) != 1 || sub["items"] == nil {
				return nil, &parseError{"INVALID_VALUE", "item", "Invalid value for item: want {\"items\": [...]}."}
			}
			var lines []map[string]json.RawMessage
			if err := json.Unmarshal(sub["items"], &lines); err != nil {
				return nil, &parseError{"INVALID_VALUE", "item.items", "Invalid value for item.items: want a list of lines."}
			}
			for i, lv := range lines {
				l, perr := s.parseLine(i, lv)
				if perr != nil {
					return nil, perr
				}
				o.Lines = append(o.Lines, l)
			}
		default:
			return nil, &parseError{"INVALID_CONTENT", f, fmt.Sprintf("Invalid field %s: the purchaseOrder record has no such field.", f)}
		}
	}
	return o, nil
}

func (s *Server) parseLine(i int, lv map[string]json.RawMessage) (Line, *parseError) {
	at := func(f string) string { return fmt.Sprintf("item.items[%d].%s", i, f) }
	l := Line{Line: i + 1}
	for f, raw := range lv {
		switch f {
		case "item":
			var ref map[string]any
			id, ok := "", false
			if json.Unmarshal(raw, &ref) == nil {
				id, ok = ref["id"].(string)
			}
			if !ok || !s.refs["inventoryItem"][id] {
				return l, &parseError{"INVALID_KEY_OR_REF", at(f), fmt.Sprintf("Invalid item reference key %s.", raw)}
			}
			l.Item = id
		case "quantity", "rate":
			var n json.Number
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			if err := d.Decode(&n); err != nil {
				return l, &parseError{"INVALID_VALUE", at(f), fmt.Sprintf("Invalid value for %s: want a number.", f)}
			}
			v, err := n.Float64()
			if err != nil || (f == "quantity" && v <= 0) {
				return l, &parseError{"INVALID_VALUE", at(f), fmt.Sprintf("Invalid value for %s.", f)}
			}
			if f == "quantity" {
				l.Quantity = v
			} else {
				l.Rate = v
			}
		case "expectedReceiptDate":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || !dateRE.MatchString(v) {
				return l, &parseError{"INVALID_VALUE", at(f), "Invalid value for expectedReceiptDate: want YYYY-MM-DD."}
			}
			l.ExpectedReceiptDate = v
		case "description":
		default:
			return l, &parseError{"INVALID_CONTENT", at(f), fmt.Sprintf("Invalid field %s on an item line.", f)}
		}
	}
	if l.Item == "" || l.Quantity == 0 {
		return l, &parseError{"USER_ERROR", at("item"), "Please enter value(s) for: Item, Quantity"}
	}
	return l, nil
}

var statusNames = map[string]string{"A": "Pending Supervisor Approval", "B": "Pending Receipt", "C": "Rejected by Supervisor", "H": "Closed"}
var approvalNames = map[string]string{"1": "Pending Approval", "2": "Approved", "3": "Rejected"}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	v := r.PathValue("id")
	key, byEID := eid(v)
	f := s.fault("GET", key)
	if !before(w, f) || !s.auth(w, r) {
		return
	}
	s.mu.Lock()
	var o *Order
	if byEID {
		o = s.order(key)
	} else {
		o = s.orders[v]
	}
	var rec map[string]any
	if o != nil {
		items := []any{}
		for _, l := range o.Lines {
			items = append(items, map[string]any{"line": l.Line, "item": map[string]any{"id": l.Item}, "quantity": l.Quantity,
				"rate": l.Rate, "expectedReceiptDate": l.ExpectedReceiptDate})
		}
		rec = map[string]any{"id": o.ID, "externalId": o.ExternalID, "entity": map[string]any{"id": o.Entity},
			"subsidiary": map[string]any{"id": o.Subsidiary}, "tranDate": o.TranDate, "dueDate": o.DueDate, "memo": o.Memo,
			"approvalStatus": map[string]any{"id": o.Approval, "refName": approvalNames[o.Approval]},
			"status":         map[string]any{"id": o.Status, "refName": statusNames[o.Status]}}
		if r.URL.Query().Get("expandSubResources") == "true" {
			rec["item"] = map[string]any{"items": items}
		} else {
			rec["item"] = map[string]any{"links": []any{map[string]any{"rel": "self", "href": s.URL + "/services/rest/record/v1/purchaseOrder/" + o.ID + "/item"}}}
		}
	}
	s.mu.Unlock()
	if !after(w, r, f) {
		return
	}
	if rec == nil {
		nsError(w, 404, "Not Found", "NONEXISTENT_ID", "", "The record instance does not exist. Provide a valid record instance ID.")
		return
	}
	writeJSON(w, 200, rec)
}

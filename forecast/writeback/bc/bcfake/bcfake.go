// Package bcfake is a fake Dynamics 365 Business Central for tests of
// package bc: an HTTP server on loopback with an Entra-style token endpoint
// and the part of API v2.0 the channel uses, built from the published
// reference (purchaseOrder and purchaseOrderLine resources, JSON $batch,
// API limits).
//
// It enforces:
//   - bearer tokens it issued (client credentials, scope
//     https://api.businesscentral.dynamics.com/.default) that have not
//     expired: else 401 Authentication_InvalidCredentials;
//   - the purchaseOrder and purchaseOrderLine properties and their types
//     (Edm.String, Edm.Date, Edm.Guid, Edm.Decimal, Edm.Int32, Edm.Boolean):
//     an unknown property or a wrong type is 400 BadRequest;
//   - vendorNumber (or vendorId) required; vendors, items and locations it
//     knows: else 400 Internal_RecordNotFound;
//   - Item lines with lineObjectNumber or itemId and a positive quantity;
//   - at most Options.RequestsPer5Min operations per 5 minutes (sliding
//     window on Options.Now) and MaxConcurrent requests in flight: else 429
//     Application_TooManyRequests with Retry-After;
//   - a $batch of at most 100 operations.
//
// Faults (Options.Faults) hit the creates of a document, by its marker key.
// Planners' actions (approve, change a quantity, delete) are methods.
package bcfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback/erptest"
)

// Scope is the only scope the token endpoint grants.
const Scope = "https://api.businesscentral.dynamics.com/.default"

// Fault is what the server does to a create instead of (or after) it.
type Fault int

// Faults.
const (
	None Fault = iota
	// TooMany answers 429 with Retry-After, not created.
	TooMany
	// Status500 answers 500, not created.
	Status500
	// TimeoutAfter creates, then does not answer until the client gives up.
	TimeoutAfter
	// DropAfter creates, then closes the connection without an answer.
	DropAfter
	// DropBefore closes the connection, not created.
	DropBefore
	// ExpireToken expires every token, then answers 401 (not created).
	ExpireToken
)

// Options configure a Server.
type Options struct {
	ClientID, ClientSecret string
	CompanyID              string
	// Vendors, Items (numbers) and Locations (ids) that exist.
	Vendors, Items, Locations []string
	TokenTTL                  time.Duration
	// RequestsPer5Min and MaxConcurrent are the limits (defaults 6000, 100).
	RequestsPer5Min, MaxConcurrent int
	// RetryAfter is the Retry-After of 429 answers, seconds (default 7).
	RetryAfter int
	// Now is the clock of tokens and the quota (default time.Now).
	Now func() time.Time
	// Faults picks the fault of the attempt-th create (1-based) of the
	// document whose marker holds key.
	Faults func(key string, attempt int) Fault
}

// Order is a purchase order as the fake holds it.
type Order struct {
	ID, Number, VendorNumber, OrderDate, RequestedReceiptDate, CurrencyCode, Status string
	Lines                                                                           []OrderLine
}

// OrderLine is one of its lines.
type OrderLine struct {
	ID, LineType, LineObjectNumber, Description, LocationID string
	Sequence                                                int
	Quantity, DirectUnitCost                                float64
}

// Server is the fake.
type Server struct {
	URL, TokenURL string
	o             Options
	srv           *httptest.Server

	mu          sync.Mutex
	tokens      map[string]time.Time
	orders      map[string]*Order
	seq         int
	window      []time.Time
	attempts    map[string]int
	requests    int
	batches     int
	maxBatch    int
	rateLimited int
	issued      int
	inflight    atomic.Int32
}

// New starts a fake.
func New(o Options) *Server {
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = "shelflake", "secret"
	}
	if o.CompanyID == "" {
		o.CompanyID = "6f1b3c52-0000-4000-8000-00000000c0de"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.RequestsPer5Min <= 0 {
		o.RequestsPer5Min = 6000
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 100
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 7
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, tokens: map[string]time.Time{}, orders: map[string]*Order{}, attempts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tenant/oauth2/v2.0/token", s.token)
	mux.HandleFunc("/api/v2.0/", s.api)
	s.srv = httptest.NewServer(mux)
	s.URL, s.TokenURL = s.srv.URL, s.srv.URL+"/tenant/oauth2/v2.0/token"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// ClientID, ClientSecret and CompanyID are what the fake accepts.
func (s *Server) ClientID() string     { return s.o.ClientID }
func (s *Server) ClientSecret() string { return s.o.ClientSecret }
func (s *Server) CompanyID() string    { return s.o.CompanyID }

// SetFaults replaces the fault picker.
func (s *Server) SetFaults(f func(key string, attempt int) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Faults = f
}

// ExpireTokens makes every issued token expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// Counters.
func (s *Server) Requests() int     { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }
func (s *Server) Batches() int      { s.mu.Lock(); defer s.mu.Unlock(); return s.batches }
func (s *Server) MaxBatchOps() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.maxBatch }
func (s *Server) RateLimited() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.rateLimited }
func (s *Server) TokensIssued() int { s.mu.Lock(); defer s.mu.Unlock(); return s.issued }

// Creates returns how many create attempts reached the fake per marker key.
func (s *Server) Creates() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.attempts {
		out[k] = v
	}
	return out
}

var markerRE = regexp.MustCompile(`^shelflake ([0-9a-f]{32})$`)

// Held returns how many purchase orders hold each marker key.
func (s *Server) Held() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, o := range s.orders {
		if k := markerOf(o); k != "" {
			out[k]++
		}
	}
	return out
}

func markerOf(o *Order) string {
	for _, l := range o.Lines {
		if m := markerRE.FindStringSubmatch(l.Description); l.LineType == "Comment" && m != nil {
			return m[1]
		}
	}
	return ""
}

// Order returns a copy of the purchase order holding key's marker.
func (s *Server) Order(key string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orders {
		if markerOf(o) == key {
			c := *o
			c.Lines = append([]OrderLine(nil), o.Lines...)
			return c, true
		}
	}
	return Order{}, false
}

// Plan applies a planner's action to the order holding key's marker: set
// its status ("Open" to release), a line's quantity (0 deletes the line),
// or delete it (status "").
func (s *Server) Plan(key, status string, qty map[string]float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, o := range s.orders {
		if markerOf(o) != key {
			continue
		}
		if status == "" {
			delete(s.orders, id)
			return true
		}
		o.Status = status
		for item, q := range qty {
			kept := o.Lines[:0]
			found := false
			for _, l := range o.Lines {
				if l.LineType == "Item" && l.LineObjectNumber == item {
					found = true
					if q == 0 {
						continue
					}
					l.Quantity = q
				}
				kept = append(kept, l)
			}
			o.Lines = kept
			if !found && q > 0 {
				s.seq++
				o.Lines = append(o.Lines, OrderLine{ID: guid(), LineType: "Item", LineObjectNumber: item, Quantity: q, Sequence: 10000 * (len(o.Lines) + 1)})
			}
		}
		return true
	}
	return false
}

func guid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func odataError(code int, ecode, msg string) (int, []byte) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": ecode, "message": msg + "  CorrelationId:  " + guid() + "."}})
	return code, b
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	case id != s.o.ClientID || secret != s.o.ClientSecret:
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
		return
	case r.PostForm.Get("scope") != Scope:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_scope","error_description":"AADSTS70011: The provided value for the input parameter 'scope' is not valid."}`)
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = s.o.Now().Add(s.o.TokenTTL)
	s.issued++
	s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.o.TokenTTL.Seconds())})
}

// op is one operation, on its own or in a $batch.
type op struct {
	method, url string
	body        []byte
}

type answer struct {
	code    int
	headers map[string]string
	body    []byte
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	if n := s.inflight.Add(1); n > int32(s.o.MaxConcurrent) {
		s.inflight.Add(-1)
		s.mu.Lock()
		s.rateLimited++
		s.mu.Unlock()
		s.write(w, s.tooMany())
		return
	}
	defer s.inflight.Add(-1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.requests++
	exp, ok := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	authed := ok && s.o.Now().Before(exp)
	s.mu.Unlock()
	if !authed {
		code, b := odataError(http.StatusUnauthorized, "Authentication_InvalidCredentials", "The server has rejected the client credentials.")
		s.write(w, answer{code: code, body: b})
		return
	}
	rel := strings.TrimPrefix(r.URL.Path, "/api/v2.0/")
	if r.URL.RawQuery != "" {
		rel += "?" + r.URL.RawQuery
	}
	var ops []op
	batch := rel == "$batch"
	if batch {
		var req struct {
			Requests []struct {
				ID      string            `json:"id"`
				Method  string            `json:"method"`
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
				Body    json.RawMessage   `json:"body"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(body, &req); err != nil || len(req.Requests) == 0 {
			code, b := odataError(http.StatusBadRequest, "BadRequest", "The batch request body is not valid JSON batch: "+fmt.Sprint(err))
			s.write(w, answer{code: code, body: b})
			return
		}
		if len(req.Requests) > 100 {
			code, b := odataError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The batch request contains %d operations; the maximum is 100.", len(req.Requests)))
			s.write(w, answer{code: code, body: b})
			return
		}
		for i, q := range req.Requests {
			if q.ID == "" || q.Method == "" || q.URL == "" {
				code, b := odataError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("batch operation %d lacks id, method or url", i))
				s.write(w, answer{code: code, body: b})
				return
			}
			ops = append(ops, op{method: q.Method, url: q.URL, body: q.Body})
		}
		s.mu.Lock()
		s.batches++
		s.maxBatch = max(s.maxBatch, len(ops))
		s.mu.Unlock()
	} else {
		ops = []op{{method: r.Method, url: rel, body: body}}
	}
	if !s.admit(len(ops)) {
		s.write(w, s.tooMany())
		return
	}
	// Faults are drawn for the creates before anything is handled.
	faults := make([]Fault, len(ops))
	worst := None
	for i, o := range ops {
		faults[i] = s.fault(o)
		if faults[i] >= TimeoutAfter {
			worst = max(worst, faults[i])
		}
	}
	switch worst {
	case DropBefore:
		erptest.Drop(w)
		return
	case ExpireToken:
		s.ExpireTokens()
		code, b := odataError(http.StatusUnauthorized, "Authentication_InvalidCredentials", "The access token has expired.")
		s.write(w, answer{code: code, body: b})
		return
	}
	answers := make([]answer, len(ops))
	for i, o := range ops {
		switch faults[i] {
		case TooMany:
			answers[i] = s.tooMany()
		case Status500:
			code, b := odataError(http.StatusInternalServerError, "Unknown", "Something went wrong.")
			answers[i] = answer{code: code, body: b}
		default:
			answers[i] = s.handle(o)
		}
	}
	switch worst {
	case TimeoutAfter:
		<-r.Context().Done()
		return
	case DropAfter:
		erptest.Drop(w)
		return
	}
	if !batch {
		s.write(w, answers[0])
		return
	}
	var resp struct {
		Responses []map[string]any `json:"responses"`
	}
	for i, a := range answers {
		m := map[string]any{"id": strconv.Itoa(i + 1), "status": a.code, "headers": a.headers}
		if len(a.body) > 0 {
			m["body"] = json.RawMessage(a.body)
		}
		resp.Responses = append(resp.Responses, m)
	}
	b, _ := json.Marshal(resp)
	s.write(w, answer{code: http.StatusOK, body: b})
}

func (s *Server) tooMany() answer {
	code, b := odataError(http.StatusTooManyRequests, "Application_TooManyRequests", "Too Many Requests - reached the limit of requests per 5 minutes.")
	return answer{code: code, body: b, headers: map[string]string{"Retry-After": strconv.Itoa(s.o.RetryAfter)}}
}

// admit counts n operations against the 5-minute window.
func (s *Server) admit(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	cut := 0
	for cut < len(s.window) && now.Sub(s.window[cut]) >= 5*time.Minute {
		cut++
	}
	s.window = s.window[cut:]
	if len(s.window)+n > s.o.RequestsPer5Min {
		s.rateLimited++
		return false
	}
	for range n {
		s.window = append(s.window, now)
	}
	return true
}

// fault draws the fault of a create.
func (s *Server) fault(o op) Fault {
	if o.method != http.MethodPost || !strings.HasSuffix(o.url, "/purchaseOrders") {
		return None
	}
	var b struct {
		Lines []struct {
			LineType    string `json:"lineType"`
			Description string `json:"description"`
		} `json:"purchaseOrderLines"`
	}
	_ = json.Unmarshal(o.body, &b)
	key := ""
	for _, l := range b.Lines {
		if m := markerRE.FindStringSubmatch(l.Description); m != nil {
			key = m[1]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[key]++
	if s.o.Faults == nil {
		return None
	}
	return s.o.Faults(key, s.attempts[key])
}

func (s *Server) write(w http.ResponseWriter, a answer) {
	for k, v := range a.headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.WriteHeader(a.code)
	_, _ = w.Write(a.body)
}

var pathRE = regexp.MustCompile(`^companies\(([^)]*)\)/purchaseOrders(?:\(([^)]*)\))?$`)

// handle answers one operation.
func (s *Server) handle(o op) answer {
	u, err := url.Parse(o.url)
	if err != nil {
		code, b := odataError(http.StatusBadRequest, "BadRequest", "bad url "+o.url)
		return answer{code: code, body: b}
	}
	m := pathRE.FindStringSubmatch(u.Path)
	if m == nil || m[1] != s.o.CompanyID {
		code, b := odataError(http.StatusNotFound, "BadRequest_NotFound", "The request URI is not valid: "+u.Path)
		return answer{code: code, body: b}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := u.Query()
	expand := q.Get("$expand") == "purchaseOrderLines"
	switch {
	case o.method == http.MethodGet && m[2] == "":
		vendor, date, ok := parseFilter(q.Get("$filter"))
		if !ok {
			code, b := odataError(http.StatusBadRequest, "BadRequest", "unsupported $filter: "+q.Get("$filter"))
			return answer{code: code, body: b}
		}
		var list []map[string]any
		ids := make([]string, 0, len(s.orders))
		for id := range s.orders {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if o := s.orders[id]; o.VendorNumber == vendor && o.OrderDate == date {
				list = append(list, render(o, expand))
			}
		}
		if list == nil {
			list = []map[string]any{}
		}
		b, _ := json.Marshal(map[string]any{"value": list})
		return answer{code: http.StatusOK, body: b}
	case o.method == http.MethodGet:
		po, ok := s.orders[m[2]]
		if !ok {
			code, b := odataError(http.StatusNotFound, "Internal_RecordNotFound", "The Purchase Header does not exist.")
			return answer{code: code, body: b}
		}
		b, _ := json.Marshal(render(po, expand))
		return answer{code: http.StatusOK, body: b}
	case o.method == http.MethodPost && m[2] == "":
		po, code, msg, ecode := s.validate(o.body)
		if po == nil {
			c, b := odataError(code, ecode, msg)
			return answer{code: c, body: b}
		}
		s.seq++
		po.ID, po.Number, po.Status = guid(), fmt.Sprintf("106%03d", s.seq), "Draft"
		s.orders[po.ID] = po
		b, _ := json.Marshal(render(po, true))
		return answer{code: http.StatusCreated, body: b}
	}
	code, b := odataError(http.StatusMethodNotAllowed, "BadRequest_MethodNotAllowed", o.method+" is not allowed here")
	return answer{code: code, body: b}
}

var filterRE = regexp.MustCompile(`^vendorNumber eq '((?:[^']|'')*)' and orderDate eq (\d{4}-\d{2}-\d{2})$`)

func parseFilter(f string) (vendor, date string, ok bool) {
	m := filterRE.FindStringSubmatch(f)
	if m == nil {
		return "", "", false
	}
	return strings.ReplaceAll(m[1], "''", "'"), m[2], true
}

func render(o *Order, lines bool) map[string]any {
	var total float64
	for _, l := range o.Lines {
		total += l.Quantity * l.DirectUnitCost
	}
	m := map[string]any{"@odata.etag": `W/"` + o.ID + `"`, "id": o.ID, "number": o.Number, "orderDate": o.OrderDate,
		"vendorNumber": o.VendorNumber, "requestedReceiptDate": o.RequestedReceiptDate, "currencyCode": o.CurrencyCode,
		"status": o.Status, "totalAmountExcludingTax": total, "fullyReceived": false}
	if lines {
		ls := []map[string]any{}
		for _, l := range o.Lines {
			ls = append(ls, map[string]any{"id": l.ID, "documentId": o.ID, "sequence": l.Sequence, "lineType": l.LineType,
				"lineObjectNumber": l.LineObjectNumber, "description": l.Description, "quantity": l.Quantity,
				"directUnitCost": l.DirectUnitCost, "locationId": l.LocationID})
		}
		m["purchaseOrderLines"] = ls
	}
	return m
}

// Package sapfake is a fake SAP S/4HANA for tests of package sap: an HTTP
// server on loopback serving the part of the OData V2 service
// API_PURCHASEREQ_PROCESS_SRV the channel uses, built from its published
// contract (SAP Business Accelerator Hub; SAP Gateway CSRF protection and
// repeatable requests).
//
// It enforces:
//   - basic authentication (Options.Username/Password) or a bearer token it
//     issued at TokenURL (client credentials) that has not expired: else 401;
//   - a CSRF token on POST, fetched by a GET with "x-csrf-token: Fetch" and
//     bound to the session cookie that GET set: else 403 with
//     "x-csrf-token: Required" and "CSRF token validation failed";
//   - the A_PurchaseRequisitionHeader and A_PurchaseRequisitionItem
//     properties, their OData V2 JSON types (Edm.Decimal as a string,
//     Edm.DateTime as /Date(ms)/) and lengths: else 400 with an OData V2
//     error body;
//   - the required item fields (Material, Plant, RequestedQuantity,
//     DeliveryDate, PurchasingGroup) and the materials, plants and
//     suppliers it knows;
//   - repeatable requests: a POST whose Repeatability-Request-ID it has
//     seen gets the first answer again, with Repeatability-Result; a POST
//     without the headers is recorded as a violation.
//
// PurReqnDoOnlyValidation = true validates without creating. Faults
// (Options.Faults) hit the creates of a document by its key; planners'
// actions are Plan.
package sapfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback/erptest"
)

// ServicePath is where the service lives.
const ServicePath = "/sap/opu/odata/sap/API_PURCHASEREQ_PROCESS_SRV"

const sessionCookie = "SAP_SESSIONID_S4H_100"

// Fault is what the server does to a create instead of (or after) it.
type Fault int

// Faults.
const (
	None Fault = iota
	// TooMany answers 429 with Retry-After, not created.
	TooMany
	// Unavailable answers 503 with Retry-After, not created.
	Unavailable
	// Status500 answers 500, not created.
	Status500
	// TimeoutAfter creates, then does not answer until the client gives up.
	TimeoutAfter
	// DropAfter creates, then closes the connection without an answer.
	DropAfter
	// DropBefore closes the connection, not created.
	DropBefore
	// ExpireCSRF invalidates every CSRF token, then refuses the request
	// for it (403), not created.
	ExpireCSRF
	// ExpireToken expires every bearer token, then answers 401.
	ExpireToken
	// HiddenTimeout creates, does not answer, and hides the requisition
	// from lookups until the next create of the same document arrives (a
	// lagging read): only the repeatable request keeps it single.
	HiddenTimeout
)

// Options configure a Server.
type Options struct {
	// Username and Password for basic auth; ClientID and ClientSecret for
	// the token endpoint (defaults shelflake/secret for both).
	Username, Password, ClientID, ClientSecret string
	// Materials, Plants and Suppliers that exist.
	Materials, Plants, Suppliers []string
	TokenTTL                     time.Duration
	// RetryAfter is the Retry-After of 429/503 answers, seconds (default 7).
	RetryAfter int
	// Faults picks the fault of the attempt-th create (1-based) of the
	// document whose PurReqnDescription holds key.
	Faults func(key string, attempt int) Fault
}

// Requisition is a purchase requisition as the fake holds it.
type Requisition struct {
	Number, Type, Description string
	Items                     []Item
	hidden                    bool
}

// Item is one of its items.
type Item struct {
	Item, Material, Plant, BaseUnit, Currency, FixedSupplier, PurchasingGroup string
	Quantity, Price                                                           string
	DeliveryDate                                                              int64 // ms
	ReleaseStatus, ProcessingStatus, IsDeleted                                string
}

type stored struct {
	code int
	body []byte
}

// Server is the fake.
type Server struct {
	URL, TokenURL string
	o             Options
	srv           *httptest.Server

	mu           sync.Mutex
	tokens       map[string]time.Time
	csrf         map[string]string // session → token
	reqs         map[string]*Requisition
	seq          int
	attempts     map[string]int
	repeat       map[string]stored
	firstSent    map[string]string // Repeatability-Request-ID → its First-Sent
	requests     int
	replays      int
	csrfFetches  int
	csrfRefusals int
	validations  int
	violations   []string
}

// New starts a fake.
func New(o Options) *Server {
	if o.Username == "" {
		o.Username, o.Password = "shelflake", "secret"
	}
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = "shelflake", "secret"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 7
	}
	s := &Server{o: o, tokens: map[string]time.Time{}, csrf: map[string]string{}, reqs: map[string]*Requisition{},
		attempts: map[string]int{}, repeat: map[string]stored{}, firstSent: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sap/bc/sec/oauth2/token", s.token)
	mux.HandleFunc(ServicePath+"/", s.service)
	s.srv = httptest.NewServer(mux)
	s.URL, s.TokenURL = s.srv.URL, s.srv.URL+"/sap/bc/sec/oauth2/token"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Options returns the options in force (credentials included).
func (s *Server) Options() Options { return s.o }

// SetFaults replaces the fault picker.
func (s *Server) SetFaults(f func(key string, attempt int) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Faults = f
}

// Counters.
func (s *Server) Requests() int     { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }
func (s *Server) Replays() int      { s.mu.Lock(); defer s.mu.Unlock(); return s.replays }
func (s *Server) CSRFFetches() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.csrfFetches }
func (s *Server) CSRFRefusals() int { s.mu.Lock(); defer s.mu.Unlock(); return s.csrfRefusals }
func (s *Server) Validations() int  { s.mu.Lock(); defer s.mu.Unlock(); return s.validations }

// Violations are requests that broke the contract without the answer
// saying so (a create without repeatability headers), and repeated
// Repeatability-Request-IDs whose First-Sent changed.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Creates returns the create attempts per document key.
func (s *Server) Creates() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.attempts {
		out[k] = v
	}
	return out
}

var keyRE = regexp.MustCompile(`^SL ([0-9a-f]{32})$`)

// Held returns how many requisitions hold each document key.
func (s *Server) Held() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, r := range s.reqs {
		if m := keyRE.FindStringSubmatch(r.Description); m != nil {
			out[m[1]]++
		}
	}
	return out
}

// Requisition returns a copy of the requisition holding key.
func (s *Server) Requisition(key string) (Requisition, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.reqs {
		if r.Description == "SL "+key {
			c := *r
			c.Items = append([]Item(nil), r.Items...)
			return c, true
		}
	}
	return Requisition{}, false
}

// Plan applies a planner's action to the requisition holding key: set the
// release and processing status of its items ("" keeps them), set item
// quantities by material (0 flags the item deleted; a material it lacks
// is added), or delete the whole requisition (remove).
func (s *Server) Plan(key, release, processing string, qty map[string]string, remove bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, r := range s.reqs {
		if r.Description != "SL "+key {
			continue
		}
		if remove {
			delete(s.reqs, n)
			return true
		}
		for i := range r.Items {
			if release != "" {
				r.Items[i].ReleaseStatus = release
			}
			if processing != "" {
				r.Items[i].ProcessingStatus = processing
			}
		}
		mats := make([]string, 0, len(qty))
		for m := range qty {
			mats = append(mats, m)
		}
		sort.Strings(mats)
		for _, m := range mats {
			found := false
			for i := range r.Items {
				if r.Items[i].Material == m {
					found = true
					if qty[m] == "0" {
						r.Items[i].IsDeleted = "X"
					} else {
						r.Items[i].Quantity = qty[m]
					}
				}
			}
			if !found {
				it := r.Items[0]
				it.Item, it.Material, it.Quantity, it.IsDeleted = fmt.Sprint(10*(len(r.Items)+1)), m, qty[m], ""
				r.Items = append(r.Items, it)
			}
		}
		return true
	}
	return false
}

func random() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// odataError is an OData V2 error body.
func odataError(code, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code,
		"message":    map[string]string{"lang": "en", "value": msg},
		"innererror": map[string]any{"transactionid": strings.ToUpper(random()), "errordetails": []any{}}}})
	return b
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
	if r.PostForm.Get("grant_type") != "client_credentials" || id != s.o.ClientID || secret != s.o.ClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"Bad credentials"}`)
		return
	}
	tok := random()
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.o.TokenTTL)
	s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.o.TokenTTL.Seconds())})
}

func (s *Server) authed(r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); ok {
		return u == s.o.Username && p == s.o.Password
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

func writeJSON(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (s *Server) service(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if !s.authed(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="SAP NetWeaver Application Server [S4H/100]"`)
		writeJSON(w, http.StatusUnauthorized, odataError("/IWFND/CM_CONSUMER/101", "Logon failed"))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, ServicePath)
	switch {
	case r.Method == http.MethodGet && (path == "/" || path == ""):
		if strings.EqualFold(r.Header.Get("x-csrf-token"), "fetch") {
			sess, tok := random(), random()
			s.mu.Lock()
			s.csrf[sess] = tok
			s.csrfFetches++
			s.mu.Unlock()
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess, Path: "/", HttpOnly: true})
			w.Header().Set("x-csrf-token", tok)
		}
		writeJSON(w, http.StatusOK, []byte(`{"d":{"EntitySets":["A_PurchaseRequisitionHeader","A_PurchaseRequisitionItem","A_PurchaseReqnItemText","A_PurReqAddDelivery","A_PurReqnAcctAssgmt"]}}`))
	case r.Method == http.MethodGet && path == "/A_PurchaseRequisitionHeader":
		s.list(w, r)
	case r.Method == http.MethodPost && path == "/A_PurchaseRequisitionHeader":
		s.create(w, r, body)
	default:
		writeJSON(w, http.StatusNotFound, odataError("/IWBEP/CM_MGW_RT/021", "Resource not found for segment '"+path+"'"))
	}
}

var filterRE = regexp.MustCompile(`^PurReqnDescription eq '((?:[^']|'')*)'$`)

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	m := filterRE.FindStringSubmatch(q.Get("$filter"))
	if m == nil {
		writeJSON(w, http.StatusBadRequest, odataError("/IWBEP/CM_MGW_RT/004", "Invalid filter expression: '"+q.Get("$filter")+"'"))
		return
	}
	desc := strings.ReplaceAll(m[1], "''", "'")
	expand := q.Get("$expand") == "to_PurchaseReqnItem"
	s.mu.Lock()
	defer s.mu.Unlock()
	results := []any{}
	nums := make([]string, 0, len(s.reqs))
	for n := range s.reqs {
		nums = append(nums, n)
	}
	sort.Strings(nums)
	for _, n := range nums {
		if req := s.reqs[n]; req.Description == desc && !req.hidden {
			results = append(results, render(req, expand))
		}
	}
	b, _ := json.Marshal(map[string]any{"d": map[string]any{"results": results}})
	writeJSON(w, http.StatusOK, b)
}

func render(r *Requisition, expand bool) map[string]any {
	uri := ServicePath + "/A_PurchaseRequisitionHeader('" + r.Number + "')"
	m := map[string]any{"__metadata": map[string]string{"id": uri, "uri": uri, "type": "API_PURCHASEREQ_PROCESS_SRV.A_PurchaseRequisitionHeaderType"},
		"PurchaseRequisition": r.Number, "PurchaseRequisitionType": r.Type, "PurReqnDescription": r.Description,
		"SourceDetermination": false, "PurReqnDoOnlyValidation": false}
	if !expand {
		m["to_PurchaseReqnItem"] = map[string]any{"__deferred": map[string]string{"uri": uri + "/to_PurchaseReqnItem"}}
		return m
	}
	items := []any{}
	for _, it := range r.Items {
		items = append(items, map[string]any{"PurchaseRequisition": r.Number, "PurchaseRequisitionItem": it.Item,
			"Material": it.Material, "Plant": it.Plant, "RequestedQuantity": it.Quantity, "BaseUnit": it.BaseUnit,
			"PurchaseRequisitionPrice": it.Price, "PurReqnItemCurrency": it.Currency, "FixedSupplier": it.FixedSupplier,
			"PurchasingGroup": it.PurchasingGroup, "DeliveryDate": fmt.Sprintf("/Date(%d)/", it.DeliveryDate),
			"PurReqnReleaseStatus": it.ReleaseStatus, "ProcessingStatus": it.ProcessingStatus, "IsDeleted": it.IsDeleted,
			"IsClosed": false})
	}
	m["to_PurchaseReqnItem"] = map[string]any{"results": items}
	return m
}

func (s *Server) tooMany(w http.ResponseWriter, code int) {
	w.Header().Set("Retry-After", strconv.Itoa(s.o.RetryAfter))
	writeJSON(w, code, odataError("/IWFND/CM_BEC/026", "Service temporarily unavailable"))
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, body []byte) {
	// CSRF first, as the Gateway does.
	tok := r.Header.Get("x-csrf-token")
	sess, _ := r.Cookie(sessionCookie)
	s.mu.Lock()
	ok := sess != nil && tok != "" && s.csrf[sess.Value] == tok
	if !ok {
		s.csrfRefusals++
	}
	s.mu.Unlock()
	if !ok {
		w.Header().Set("x-csrf-token", "Required")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "CSRF token validation failed")
		return
	}
	var peek struct {
		PurReqnDescription      string
		PurReqnDoOnlyValidation bool
	}
	_ = json.Unmarshal(body, &peek)
	key := ""
	if m := keyRE.FindStringSubmatch(peek.PurReqnDescription); m != nil {
		key = m[1]
	}
	s.mu.Lock()
	if !peek.PurReqnDoOnlyValidation {
		s.attempts[key]++
	}
	attempt := s.attempts[key]
	s.mu.Unlock()
	h, code, msg := s.validate(body)
	if h == nil {
		writeJSON(w, http.StatusBadRequest, odataError(code, msg))
		return
	}
	if h.validateOnly {
		s.mu.Lock()
		s.validations++
		s.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"d": render(&h.Requisition, true)})
		writeJSON(w, http.StatusCreated, b)
		return
	}
	rid, first := r.Header.Get("Repeatability-Request-ID"), r.Header.Get("Repeatability-First-Sent")
	s.mu.Lock()
	if rid == "" || first == "" {
		s.violations = append(s.violations, "create of "+key+" without Repeatability-Request-ID and Repeatability-First-Sent")
	} else if _, err := http.ParseTime(first); err != nil || !uuidRE.MatchString(rid) {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, odataError("/IWFND/CM_BEC/100", "Invalid repeatability headers"))
		return
	}
	if rid != "" {
		// A repeatable request carries the same ID and the same creation
		// time on every retry: the same ID with another First-Sent is a
		// different request reusing an ID, which the server refuses.
		if was, seen := s.firstSent[rid]; seen && was != first {
			s.violations = append(s.violations, "create of "+key+" repeats Repeatability-Request-ID "+rid+" with First-Sent "+first+", first sent "+was)
			s.mu.Unlock()
			writeJSON(w, http.StatusBadRequest, odataError("/IWFND/CM_BEC/101", "Repeatability-First-Sent differs from the first request with this Repeatability-Request-ID"))
			return
		} else if !seen {
			s.firstSent[rid] = first
		}
	}
	fault := None
	if s.o.Faults != nil {
		fault = s.o.Faults(key, attempt)
	}
	// A create of a document unhides it (the lagging read caught up).
	for _, q := range s.reqs {
		if q.Description == h.Description {
			q.hidden = false
		}
	}
	if st, seen := s.repeat[rid]; seen && rid != "" && fault == None {
		s.replays++
		s.mu.Unlock()
		w.Header().Set("Repeatability-Result", "accepted")
		writeJSON(w, st.code, st.body)
		return
	}
	s.mu.Unlock()
	switch fault {
	case TooMany:
		s.tooMany(w, http.StatusTooManyRequests)
		return
	case Unavailable:
		s.tooMany(w, http.StatusServiceUnavailable)
		return
	case Status500:
		writeJSON(w, http.StatusInternalServerError, odataError("/IWBEP/CM_MGW_RT/000", "Internal server error"))
		return
	case DropBefore:
		erptest.Drop(w)
		return
	case ExpireCSRF:
		s.mu.Lock()
		clear(s.csrf)
		s.csrfRefusals++
		s.mu.Unlock()
		w.Header().Set("x-csrf-token", "Required")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "CSRF token validation failed")
		return
	case ExpireToken:
		s.mu.Lock()
		clear(s.tokens)
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, odataError("/IWFND/CM_CONSUMER/101", "Token expired"))
		return
	}
	s.mu.Lock()
	s.seq++
	h.Number = fmt.Sprintf("00100%05d", s.seq)
	req := h.Requisition
	req.hidden = fault == HiddenTimeout
	s.reqs[req.Number] = &req
	b, _ := json.Marshal(map[string]any{"d": render(&req, true)})
	if rid != "" {
		s.repeat[rid] = stored{code: http.StatusCreated, body: b}
	}
	s.mu.Unlock()
	switch fault {
	case TimeoutAfter, HiddenTimeout:
		<-r.Context().Done()
		return
	case DropAfter:
		erptest.Drop(w)
		return
	}
	w.Header().Set("Repeatability-Result", "accepted")
	w.Header().Set("Location", ServicePath+"/A_PurchaseRequisitionHeader('"+req.Number+"')")
	writeJSON(w, http.StatusCreated, b)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

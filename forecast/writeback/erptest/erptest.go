// Package erptest is a fake ERP for tests: an HTTP server on loopback that
// enforces the suggestion write-back contract and injects faults.
//
// The contract it enforces on POST /suggestions:
//   - an OAuth2 bearer token it issued from POST /oauth/token (client
//     credentials grant, client id and secret in the Basic header or the
//     form) and that has not expired: else 401;
//   - an Idempotency-Key header: else 400;
//   - a JSON body that is a valid suggestion document (writeback.ParseDocument:
//     no unknown fields, totals equal to the lines, the key of its week,
//     location and supplier) whose external_ref equals the Idempotency-Key:
//     else 422;
//   - a key it accepted before gets 409 with the first acceptance's body: a
//     document is accepted once, however often it is sent.
//
// Every breach is also recorded (Violations), so a test can fail on a client
// that sent one even when the client treated the answer as final.
package erptest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
)

// Fault is what the server does to one document request instead of (or
// after) handling it.
type Fault int

// Faults.
const (
	// None handles the request.
	None Fault = iota
	// Status500 answers 500 without handling it.
	Status500
	// TooMany answers 429 with Retry-After (Options.RetryAfter).
	TooMany
	// Unavailable answers 503 with Retry-After.
	Unavailable
	// TimeoutBefore never answers (until the client gives up), unhandled.
	TimeoutBefore
	// TimeoutAfter handles the request (the document may be accepted) and
	// never answers.
	TimeoutAfter
	// DropBefore closes the connection without handling the request.
	DropBefore
	// DropAfter handles the request, then closes the connection without an
	// answer.
	DropAfter
	// BadRequest answers 400: a permanent refusal.
	BadRequest
)

// Options configure a Server.
type Options struct {
	// ClientID and ClientSecret are the credentials it accepts (defaults
	// "shelflake" and "secret").
	ClientID, ClientSecret string
	// TokenTTL is the lifetime of the tokens it issues (default 1h).
	TokenTTL time.Duration
	// RetryAfter is the Retry-After of 429 and 503 answers, seconds
	// (default 7).
	RetryAfter int
	// Faults picks the fault of the attempt-th request (1-based) for a
	// document key. Nil: none.
	Faults func(key string, attempt int) Fault
}

// Server is the fake ERP.
type Server struct {
	// URL receives documents; TokenURL issues tokens.
	URL, TokenURL string
	// ClientID and ClientSecret are the credentials it accepts.
	ClientID, ClientSecret string

	srv  *httptest.Server
	o    Options
	mu   sync.Mutex
	toks map[string]time.Time // token → expiry
	acc  map[string]int       // key → acceptances (must stay ≤ 1)
	docs map[string]*writeback.Document
	resp map[string][]byte // key → body of the acceptance
	reqs map[string]int    // key → document requests
	all  int
	viol []string
	nTok int
}

// New starts a server; Close it when done.
func New(o Options) *Server {
	if o.ClientID == "" {
		o.ClientID = "shelflake"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "secret"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 7
	}
	s := &Server{o: o, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		toks: map[string]time.Time{}, acc: map[string]int{}, docs: map[string]*writeback.Document{},
		resp: map[string][]byte{}, reqs: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("POST /suggestions", s.suggestion)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/suggestions"
	s.TokenURL = s.srv.URL + "/oauth/token"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetFaults replaces the fault plan.
func (s *Server) SetFaults(f func(key string, attempt int) Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Faults = f
}

// ExpireTokens makes every issued token invalid (a revoked session).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.toks)
}

// Accepted returns the times each key was accepted (never more than once
// unless the server is broken: the test checks it).
func (s *Server) Accepted() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.acc))
	for k, v := range s.acc {
		out[k] = v
	}
	return out
}

// Document returns the accepted document of key.
func (s *Server) Document(key string) *writeback.Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[key]
}

// Requests returns the number of document requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all
}

// RequestsFor returns the number of document requests for key.
func (s *Server) RequestsFor(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[key]
}

// TokensIssued returns the number of tokens issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nTok
}

// Violations returns the contract breaches seen.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.viol...)
}

func (s *Server) violation(format string, args ...any) {
	s.viol = append(s.viol, fmt.Sprintf(format, args...))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if id != s.o.ClientID || secret != s.o.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "unknown client or wrong secret"})
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.toks[tok] = time.Now().Add(s.o.TokenTTL)
	s.nTok++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.o.TokenTTL.Seconds())})
}

func (s *Server) suggestion(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	s.all++
	s.reqs[key]++
	attempt := s.reqs[key]
	faults := s.o.Faults
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, authed := s.toks[auth]
	authed = authed && time.Now().Before(exp) && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Unlock()

	fault := None
	if faults != nil {
		fault = faults(key, attempt)
	}
	switch fault {
	case Status500:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal"})
		return
	case TooMany, Unavailable:
		code := http.StatusTooManyRequests
		if fault == Unavailable {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Retry-After", strconv.Itoa(s.o.RetryAfter))
		writeJSON(w, code, map[string]string{"error": "slow down"})
		return
	case TimeoutBefore:
		<-r.Context().Done()
		return
	case DropBefore:
		Drop(w)
		return
	case BadRequest:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "refused", "external_ref": key})
		return
	}
	code, resp := s.handle(authed, key, r.Header.Get("Content-Type"), body)
	switch fault {
	case TimeoutAfter:
		<-r.Context().Done()
		return
	case DropAfter:
		Drop(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(resp)
}

// handle applies the contract; it returns the status and body to answer.
func (s *Server) handle(authed bool, key, ctype string, body []byte) (int, []byte) {
	errBody := func(msg string) []byte {
		b, _ := json.Marshal(map[string]string{"error": msg})
		return b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !authed {
		s.violation("request for %q without a valid bearer token", key)
		return http.StatusUnauthorized, errBody("invalid_token")
	}
	if key == "" {
		s.violation("request without an Idempotency-Key")
		return http.StatusBadRequest, errBody("Idempotency-Key required")
	}
	if !strings.HasPrefix(ctype, "application/json") {
		s.violation("request for %q with content type %q", key, ctype)
		return http.StatusUnsupportedMediaType, errBody("want application/json")
	}
	doc, err := writeback.ParseDocument(body)
	if err != nil {
		s.violation("request for %q: %v", key, err)
		return http.StatusUnprocessableEntity, errBody(err.Error())
	}
	if doc.ExternalRef != key {
		s.violation("Idempotency-Key %q but external_ref %q", key, doc.ExternalRef)
		return http.StatusUnprocessableEntity, errBody("external_ref differs from Idempotency-Key")
	}
	if prev, ok := s.resp[key]; ok {
		return http.StatusConflict, prev
	}
	s.acc[key]++
	s.docs[key] = doc
	resp, _ := json.Marshal(map[string]any{"id": "PO-SUG-" + key[:8], "external_ref": key, "status": "accepted", "lines": doc.LineCount})
	s.resp[key] = resp
	return http.StatusCreated, resp
}

// Drop closes the request's connection without a response: a request the
// server may or may not have handled, as a client sees a crash or a cut
// network. The fakes of every ERP drop requests by it.
func Drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // net/http aborts the response without one
}

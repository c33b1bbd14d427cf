package writeback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// HTTPOptions configure the HTTP channel: each document is POSTed as JSON
// to URL with an OAuth2 client-credentials bearer token and an
// Idempotency-Key header equal to its external_ref.
type HTTPOptions struct {
	// URL receives the documents (required).
	URL string
	// TokenURL, ClientID and ClientSecret are the OAuth2 client credentials
	// (required); Scopes optional.
	TokenURL, ClientID, ClientSecret string
	Scopes                           []string
	// Transport carries both token and document requests. Default: a clone
	// of http.DefaultTransport.
	Transport http.RoundTripper
	// AttemptTimeout bounds one request (token fetch included). Default 30s.
	AttemptTimeout time.Duration
	// MaxAttempts bounds the tries of one document. Default 8.
	MaxAttempts int
	// BaseBackoff is the wait after the first failure, doubled after each
	// further one up to MaxBackoff, with jitter: a wait of d is drawn from
	// [d/2, d). Defaults 500ms and 30s.
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a server's Retry-After (429, 503). Default 5m.
	MaxRetryAfter time.Duration
	// Concurrency is the number of documents in flight. Default 4.
	Concurrency int
	// Sleep waits d or until ctx ends (tests make it instant and record d).
	// Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1). Default math/rand/v2.
	Jitter func() float64
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 30 * time.Second
	}
	p := o.retryPolicy().WithDefaults()
	o.MaxAttempts, o.BaseBackoff, o.MaxBackoff, o.MaxRetryAfter, o.Sleep, o.Jitter = p.MaxAttempts, p.Base, p.Max, p.MaxRetryAfter, p.Sleep, p.Jitter
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	return o
}

// retryPolicy is o's retry schedule.
func (o HTTPOptions) retryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: o.MaxAttempts, Base: o.BaseBackoff, Max: o.MaxBackoff, MaxRetryAfter: o.MaxRetryAfter, Sleep: o.Sleep, Jitter: o.Jitter}
}

func (o HTTPOptions) validate() error {
	var errs []error
	for _, u := range []struct{ name, v string }{{"erp url", o.URL}, {"token url", o.TokenURL}} {
		if err := CheckHTTPURL(u.name, u.v); err != nil {
			errs = append(errs, err)
		}
	}
	if o.ClientID == "" || o.ClientSecret == "" {
		errs = append(errs, errors.New("client id and client secret are required"))
	}
	return errors.Join(errs...)
}

// HTTPChannel posts documents to the ERP.
type HTTPChannel struct {
	o      HTTPOptions
	client *http.Client
	tokens *TokenCache
	// reach tells a host (token endpoint, ERP) that never answered from one
	// that fails now; once one could not be connected to, documents are not
	// attempted.
	reach Reachability
}

// UnreachableError says that the ERP (or its token endpoint) could not be
// connected to at all before it ever answered: a wrong URL or a server that
// is not running. Documents are not retried then; they stay in the outbox
// for `shelflake writeback retry`.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach ERP endpoint %s: %s", e.URL, objstore.DialCause(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NewHTTPChannel returns the HTTP channel of o.
func NewHTTPChannel(o HTTPOptions) (*HTTPChannel, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("http write-back: %w", err)
	}
	o = o.withDefaults()
	h := &HTTPChannel{o: o}
	h.client = h.reach.Client(o.Transport)
	cfg := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL, Scopes: o.Scopes}
	h.tokens = NewTokenCache(cfg, h.client)
	return h, nil
}

// Name implements Channel.
func (h *HTTPChannel) Name() string { return "http" }

// Send implements Channel: documents go out Concurrency at a time, each
// retried on its own.
func (h *HTTPChannel) Send(ctx context.Context, docs []Outgoing) []Result {
	res := make([]Result, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(h.o.Concurrency, len(docs)) {
		wg.Go(func() {
			for i := range next {
				res[i] = h.send(ctx, docs[i])
			}
		})
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

// attempt is the outcome of one request.
type attempt struct {
	code       int
	body       string
	retryAfter time.Duration
	err        error
	// tokenRejected: the token endpoint refused the credentials.
	tokenRejected bool
	token         *oauth2.Token
}

// send delivers one document, retrying transient failures.
func (h *HTTPChannel) send(ctx context.Context, o Outgoing) Result {
	var r Result
	reauthed := false
	for n := 1; ; n++ {
		now := time.Now()
		if r.First.IsZero() {
			r.First = now
		}
		if d := h.reach.Down(); d != nil {
			r.Status, r.Err, r.Last = schema.WritebackFailed, d, now
			return r
		}
		r.Attempts = n
		a := h.post(ctx, o)
		r.Last = time.Now()
		r.Code, r.Response, r.Err = a.code, a.body, a.err
		if d := h.reach.Check(a.err); d != nil {
			r.Status, r.Err = schema.WritebackFailed, d
			return r
		}
		switch {
		case a.err == nil && (a.code/100 == 2 || a.code == http.StatusConflict):
			// 409: the ERP already holds this key (our earlier attempt, or
			// another run of the week): the document is there, once.
			r.Status, r.Err = schema.WritebackAccepted, nil
			return r
		case a.tokenRejected:
			r.Status = schema.WritebackRejected
			return r
		case a.err == nil && a.code == http.StatusUnauthorized && !reauthed:
			// The token may have been revoked early: fetch a new one, once.
			h.tokens.Invalidate(a.token)
			reauthed = true
			n-- // not the document's fault
			continue
		case a.err == nil && !Retryable(a.code):
			r.Status = schema.WritebackRejected
			r.Err = fmt.Errorf("erp refused the document: http %d", a.code)
			return r
		}
		if r.Err == nil {
			r.Err = fmt.Errorf("erp answered http %d", a.code)
		}
		if ctx.Err() != nil {
			r.Status, r.Err = schema.WritebackFailed, ctx.Err()
			return r
		}
		if n >= h.o.MaxAttempts {
			r.Status = schema.WritebackFailed
			return r
		}
		if err := h.o.Sleep(ctx, h.o.retryPolicy().Wait(n, a.retryAfter)); err != nil {
			r.Status, r.Err = schema.WritebackFailed, err
			return r
		}
	}
}

// maxBody bounds the response body read.
const maxBody = 64 << 10

// post makes one attempt.
func (h *HTTPChannel) post(ctx context.Context, o Outgoing) attempt {
	ctx, cancel := context.WithTimeout(ctx, h.o.AttemptTimeout)
	defer cancel()
	tok, err := h.tokens.Token(ctx)
	if err != nil {
		code, refused := TokenRefused(err)
		var re *oauth2.RetrieveError
		body := ""
		if errors.As(err, &re) {
			body = string(re.Body)
		}
		return attempt{code: code, body: body, err: fmt.Errorf("oauth2 token: %w", err), tokenRejected: refused}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.o.URL, bytes.NewReader(o.JSON))
	if err != nil {
		return attempt{err: err, tokenRejected: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", o.Doc.ExternalRef)
	tok.SetAuthHeader(req)
	resp, err := h.client.Do(req)
	if err != nil {
		return attempt{err: err, token: tok}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	a := attempt{code: resp.StatusCode, body: string(body), token: tok}
	if err != nil && resp.StatusCode/100 == 2 {
		// The status line says accepted; a body cut short does not undo it.
		err = nil
	}
	if err != nil {
		a.err = fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return a
}

package writeback

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/shelflake/shelflake/lake/objstore"
)

// RetryPolicy is the retry schedule every ERP adapter shares with the HTTP
// channel: exponential backoff with jitter, a server's Retry-After honoured
// up to a cap.
type RetryPolicy struct {
	// MaxAttempts bounds the tries of one document. Default 8.
	MaxAttempts int
	// Base is the wait after the first failure, doubled after each further
	// one up to Max; a wait of d is drawn from [d/2, d). Defaults 500ms, 30s.
	Base, Max time.Duration
	// MaxRetryAfter caps a server's Retry-After. Default 5m.
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1). Default math/rand/v2.
	Jitter func() float64
}

// WithDefaults fills the zero fields.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 5 * time.Minute
	}
	if p.Sleep == nil {
		p.Sleep = Sleep
	}
	if p.Jitter == nil {
		p.Jitter = rand.Float64
	}
	return p
}

// Wait returns the wait after the n-th failed attempt (1-based): the
// jittered backoff, or retryAfter (capped) when the server asked for longer.
func (p RetryPolicy) Wait(n int, retryAfter time.Duration) time.Duration {
	d := backoff(n, p.Base, p.Max, p.Jitter)
	if retryAfter > d {
		d = min(retryAfter, p.MaxRetryAfter)
	}
	return d
}

// backoff is the wait after the n-th failed attempt (1-based):
// base·2^(n−1) capped at max, jittered into [d/2, d) by jitter (nil:
// math/rand/v2).
func backoff(n int, base, max time.Duration, jitter func() float64) time.Duration {
	if jitter == nil {
		jitter = rand.Float64
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(jitter()*float64(d/2))
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date
// (0 when absent or unreadable).
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Retryable reports whether an HTTP status is worth another try: 408, 429
// and every 5xx.
func Retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// TokenCache caches an OAuth2 client-credentials token; one fetch at a
// time. A token the server answered 401 to is dropped with Invalidate.
type TokenCache struct {
	mu     sync.Mutex
	cfg    *clientcredentials.Config
	client *http.Client
	tok    *oauth2.Token
}

// NewTokenCache returns the token cache of cfg, fetching over client.
func NewTokenCache(cfg *clientcredentials.Config, client *http.Client) *TokenCache {
	return &TokenCache{cfg: cfg, client: client}
}

// Token returns a valid token, fetching one when needed.
func (c *TokenCache) Token(ctx context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.Valid() {
		return c.tok, nil
	}
	t, err := c.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		return nil, err
	}
	c.tok = t
	return t, nil
}

// Invalidate drops old if it is still the current token (the server said
// 401 to it, so it was revoked early).
func (c *TokenCache) Invalidate(old *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == old {
		c.tok = nil
	}
}

// TokenRefused reports whether err is the token endpoint refusing the
// credentials for good (a 4xx other than 408/429), with its status (0 when
// the endpoint gave no HTTP answer).
func TokenRefused(err error) (int, bool) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		return code, code/100 == 4 && !Retryable(code)
	}
	return 0, false
}

// Reachability tells an ERP that cannot be connected to at all from one
// that fails now and then, for adapters: once a request failed to connect
// (refused, no route, unknown host) to a host that never answered, the
// endpoint is down and every further document fails at once with the
// *UnreachableError (one line in the Deliverer's report, no retry storm);
// after an answer, connection failures are transient and retried. Hosts are
// told apart (a token endpoint that answered says nothing of the API
// host). The zero value is ready; URL, when set, names the endpoint in the
// error instead of the failed request's URL.
type Reachability struct {
	URL      string
	answered sync.Map // host → true
	any      atomic.Bool
	down     atomic.Pointer[UnreachableError]
}

// Transport wraps next to record each host that gives an HTTP response.
func (r *Reachability) Transport(next http.RoundTripper) http.RoundTripper {
	return reachTransport{next: next, r: r}
}

type reachTransport struct {
	next http.RoundTripper
	r    *Reachability
}

func (t reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.r.answered.Store(req.URL.Host, true)
		t.r.any.Store(true)
	}
	return resp, err
}

// Down returns the endpoint's *UnreachableError once it is down, else nil.
func (r *Reachability) Down() *UnreachableError { return r.down.Load() }

// Check returns (and records) the *UnreachableError of err when err is a
// failure to connect to an endpoint that never answered; nil otherwise.
func (r *Reachability) Check(err error) *UnreachableError {
	ue := r.Unreachable(err)
	if ue == nil {
		return nil
	}
	r.down.CompareAndSwap(nil, ue)
	return r.down.Load()
}

// Unreachable is Check without recording: the *UnreachableError of err when
// it is a failure to connect to a host that never answered. The host is
// the failed request's (err wraps a *url.Error); without one, any answer
// counts.
func (r *Reachability) Unreachable(err error) *UnreachableError {
	if err == nil || !objstore.IsDialError(err) {
		return nil
	}
	at := r.URL
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr != nil {
			return nil
		}
		if _, ok := r.answered.Load(u.Host); ok {
			return nil
		}
		if at == "" {
			at = ue.URL
		}
	} else if r.any.Load() {
		return nil
	}
	return &UnreachableError{URL: at, Err: err}
}

// Client returns the HTTP client of an ERP endpoint over next (nil: a clone
// of http.DefaultTransport): it records answers in r and never follows a
// redirect (a redirected POST would turn into a GET).
func (r *Reachability) Client(next http.RoundTripper) *http.Client {
	if next == nil {
		next = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &http.Client{Transport: r.Transport(next),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// CheckHTTPURL says, naming field, when v is not an absolute http(s) URL.
func CheckHTTPURL(field, v string) error {
	p, err := url.Parse(v)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("%s %q: want an http(s) URL", field, v)
	}
	return nil
}

// Package erphttp is the HTTP plumbing the ERP adapters of package writeback
// share (forecast/writeback/bc, forecast/writeback/sap): an OAuth2
// client-credentials token cache that can drop a revoked token, backoff with
// jitter, Retry-After, a client-side sliding-window quota of an ERP's request limit,
// detection of an endpoint that never answered (writeback.UnreachableError)
// and the message of an OData error body (V2 and V4).
//
// The rules are those of writeback.HTTPChannel: 408, 429 and 5xx are
// transient; other 4xx are the document's fault and final.
package erphttp

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/lake/objstore"
)

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

// Retryable reports whether an HTTP status is worth another try: 408, 429
// and every 5xx.
func Retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// Backoff is the wait after the n-th failed attempt: base·2^(n−1) capped at
// max, jittered into [d/2, d) by jitter (nil: math/rand/v2).
func Backoff(n int, base, max time.Duration, jitter func() float64) time.Duration {
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

// RetryAfter reads a Retry-After header: delay seconds or an HTTP date (0
// when absent or unreadable).
func RetryAfter(v string, now time.Time) time.Duration {
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

// ODataMessage returns "code: message" of an OData error body, V4
// ({"error":{"code","message"}}) or V2 ({"error":{"code","message":{"value"}}}),
// or the body itself cut to 300 bytes when it is neither.
func ODataMessage(body []byte) string {
	var e struct {
		Error struct {
			Code    string          `json:"code"`
			Message json.RawMessage `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Error.Code != "" || len(e.Error.Message) > 0) {
		var s string
		if json.Unmarshal(e.Error.Message, &s) != nil {
			var v struct {
				Value string `json:"value"`
			}
			_ = json.Unmarshal(e.Error.Message, &v)
			s = v.Value
		}
		return e.Error.Code + ": " + s
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		cut := 300
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut-- // not inside a rune
		}
		s = s[:cut] + "…"
	}
	return s
}

// Tokens caches an OAuth2 client-credentials token; one fetch at a time.
type Tokens struct {
	mu     sync.Mutex
	cfg    *clientcredentials.Config
	client *http.Client
	tok    *oauth2.Token
}

// NewTokens returns the token cache of cfg, fetching over client.
func NewTokens(cfg *clientcredentials.Config, client *http.Client) *Tokens {
	return &Tokens{cfg: cfg, client: client}
}

// Token returns a valid token, fetching one when needed.
func (c *Tokens) Token(ctx context.Context) (*oauth2.Token, error) {
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
// 401 to it).
func (c *Tokens) Invalidate(old *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == old {
		c.tok = nil
	}
}

// TokenRefused reports whether err is the token endpoint refusing the
// credentials for good (a 4xx other than 408/429), with its status.
func TokenRefused(err error) (int, bool) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		return code, code/100 == 4 && !Retryable(code)
	}
	return 0, false
}

// Reach remembers which hosts answered, to tell an endpoint that was never
// reachable (a wrong URL, a server not running) from one that fails now.
type Reach struct {
	answered sync.Map
}

// Transport wraps next, recording each host that gives an HTTP response.
func (r *Reach) Transport(next http.RoundTripper) http.RoundTripper {
	return reachTransport{next: next, r: r}
}

type reachTransport struct {
	next http.RoundTripper
	r    *Reach
}

func (t reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.r.answered.Store(req.URL.Host, true)
	}
	return resp, err
}

// Unreachable returns the *writeback.UnreachableError of err when it is a
// failure to connect to a host that never answered.
func (r *Reach) Unreachable(err error) *writeback.UnreachableError {
	var ue *url.Error
	if err == nil || !objstore.IsDialError(err) || !errors.As(err, &ue) {
		return nil
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return nil
	}
	if _, ok := r.answered.Load(u.Host); ok {
		return nil
	}
	return &writeback.UnreachableError{URL: ue.URL, Err: err}
}

// Quota keeps requests within an ERP's quota of Limit requests per sliding
// window Per and principal, on our side, so that the ERP never has to
// refuse us. A request counts from when it is taken until Per after it
// completed: the ERP saw it arrive no later than that, whatever the
// latency. (A refilling token bucket of the same rate would let up to twice
// Limit through in one window.)
type Quota struct {
	mu       sync.Mutex
	limit    int
	per      time.Duration
	done     []time.Time // completion times within the window, oldest first
	inflight int
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
}

// NewQuota returns the quota of limit requests per per. now and sleep are
// the clock (nil: the real ones).
func NewQuota(limit int, per time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *Quota {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = Sleep
	}
	return &Quota{limit: limit, per: per, now: now, sleep: sleep}
}

// Take waits until n requests may be made (n is capped at the limit) and
// takes them; the caller calls done once they completed.
func (q *Quota) Take(ctx context.Context, n int) (done func(), err error) {
	n = min(n, q.limit)
	for {
		q.mu.Lock()
		now := q.now()
		cut := 0
		for cut < len(q.done) && now.Sub(q.done[cut]) >= q.per {
			cut++
		}
		q.done = q.done[cut:]
		if len(q.done)+q.inflight+n <= q.limit {
			q.inflight += n
			q.mu.Unlock()
			return func() {
				q.mu.Lock()
				defer q.mu.Unlock()
				q.inflight -= n
				t := q.now()
				for range n {
					q.done = append(q.done, t)
				}
			}, nil
		}
		wait := time.Second // until requests in flight complete
		if k := len(q.done) + q.inflight + n - q.limit; k <= len(q.done) {
			wait = max(q.done[k-1].Add(q.per).Sub(now), time.Millisecond)
		}
		q.mu.Unlock()
		if err := q.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

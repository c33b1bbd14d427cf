package writeback

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/shelflake/shelflake/lake/objstore"
)

// RetryPolicy is the retry schedule ERP adapters share with the HTTP
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
		p.Sleep = sleep
	}
	if p.Jitter == nil {
		p.Jitter = rand.Float64
	}
	return p
}

// Wait returns the wait after the n-th failed attempt (1-based): the
// jittered backoff, or retryAfter (capped) when the server asked for longer.
func (p RetryPolicy) Wait(n int, retryAfter time.Duration) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	d = d/2 + time.Duration(p.Jitter()*float64(d/2))
	if retryAfter > d {
		d = min(retryAfter, p.MaxRetryAfter)
	}
	return d
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date
// (0 when absent or unreadable).
func ParseRetryAfter(v string, now time.Time) time.Duration { return parseRetryAfter(v, now) }

// Retryable reports whether an HTTP status is worth another try: 408, 429
// and every 5xx.
func Retryable(code int) bool { return retryable(code) }

// Reachability tells an ERP that cannot be connected to at all from one
// that fails now and then, for adapters: once a request failed to connect
// (refused, no route, unknown host) before the endpoint ever answered, the
// endpoint is down and every further document fails at once with the
// *UnreachableError (one line in the Deliverer's report, no retry storm);
// after one answer, connection failures are transient and retried.
type Reachability struct {
	URL      string
	answered atomic.Bool
	down     atomic.Pointer[UnreachableError]
}

// Transport wraps next to record each answer.
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
		t.r.answered.Store(true)
	}
	return resp, err
}

// Down returns the endpoint's *UnreachableError once it is down, else nil.
func (r *Reachability) Down() *UnreachableError { return r.down.Load() }

// Check returns (and records) the *UnreachableError of err when err is a
// failure to connect to an endpoint that never answered; nil otherwise.
func (r *Reachability) Check(err error) *UnreachableError {
	if err == nil || r.answered.Load() || !objstore.IsDialError(err) {
		return nil
	}
	r.down.CompareAndSwap(nil, &UnreachableError{URL: r.URL, Err: err})
	return r.down.Load()
}

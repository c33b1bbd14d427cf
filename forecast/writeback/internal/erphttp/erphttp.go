// Package erphttp is the OData plumbing the ERP adapters of package
// writeback share (forecast/writeback/bc, forecast/writeback/sap) beyond
// what package writeback itself gives every adapter (token cache, backoff,
// Retry-After, reachability): a client-side sliding-window quota of an
// ERP's request limit, the message of an OData error body (V2 and V4) and
// the adapters' Options.
package erphttp

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
)

// Options are an OData adapter's dependencies (tests replace them); the
// Options of packages bc and sap.
type Options struct {
	// Transport carries token and API requests. Default: a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Sleep waits d or until ctx ends; Now is the clock of a request quota.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
	// Jitter returns a number in [0, 1) for the backoff.
	Jitter func() float64
	// BaseBackoff and MaxBackoff: defaults 500ms and 30s. MaxRetryAfter
	// caps a Retry-After (default 5m).
	BaseBackoff, MaxBackoff, MaxRetryAfter time.Duration
	Logger                                 *slog.Logger
}

// WithDefaults fills the zero fields.
func (o Options) WithDefaults() Options {
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := o.Retry().WithDefaults()
	o.BaseBackoff, o.MaxBackoff, o.MaxRetryAfter, o.Sleep, o.Jitter = p.Base, p.Max, p.MaxRetryAfter, p.Sleep, p.Jitter
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Retry is o's retry schedule (the attempts are the Config's).
func (o Options) Retry() writeback.RetryPolicy {
	return writeback.RetryPolicy{Base: o.BaseBackoff, Max: o.MaxBackoff, MaxRetryAfter: o.MaxRetryAfter, Sleep: o.Sleep, Jitter: o.Jitter}
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
	// completed is closed (and replaced) whenever requests complete, to
	// wake a Take waiting for requests in flight.
	completed chan struct{}
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
}

// NewQuota returns the quota of limit requests per per. now and sleep are
// the clock (nil: the real ones).
func NewQuota(limit int, per time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *Quota {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = writeback.Sleep
	}
	return &Quota{limit: limit, per: per, now: now, sleep: sleep, completed: make(chan struct{})}
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
				close(q.completed)
				q.completed = make(chan struct{})
			}, nil
		}
		k := len(q.done) + q.inflight + n - q.limit
		if k > len(q.done) {
			// Only requests in flight can make room: wait until one
			// completes (not for a time, which says nothing of them).
			completed := q.completed
			q.mu.Unlock()
			select {
			case <-completed:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		wait := max(q.done[k-1].Add(q.per).Sub(now), time.Millisecond)
		q.mu.Unlock()
		if err := q.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

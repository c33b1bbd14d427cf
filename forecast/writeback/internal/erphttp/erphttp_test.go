package erphttp

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestQuotaNeverLetsMoreThanTheLimitIntoAWindow(t *testing.T) {
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sleep := func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
	q := NewQuota(10, 5*time.Minute, clock, sleep)
	var sent []time.Time
	for _, n := range []int{3, 4, 3, 1, 5, 10, 2, 7, 1} {
		done, err := q.Take(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			sent = append(sent, now)
		}
		now = now.Add(13 * time.Second) // the request's latency
		done()
	}
	// Every window of 5 minutes holds at most 10 requests, counting each
	// from its start.
	for i := range sent {
		in := 0
		for j := range sent {
			if !sent[j].Before(sent[i]) && sent[j].Sub(sent[i]) < 5*time.Minute {
				in++
			}
		}
		if in > 10 {
			t.Fatalf("%d requests in the 5 minutes from %s", in, sent[i].Format(time.TimeOnly))
		}
	}
}

func TestODataMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"error":{"code":"BadRequest","message":"The property 'x' does not exist"}}`, "BadRequest: The property 'x' does not exist"},
		{`{"error":{"code":"M3/305","message":{"lang":"en","value":"Material X is not maintained"}}}`, "M3/305: Material X is not maintained"},
		{`CSRF token validation failed`, "CSRF token validation failed"},
		{``, ""},
	} {
		if got := ODataMessage([]byte(tc.in)); got != tc.want {
			t.Errorf("ODataMessage(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzODataMessage(f *testing.F) {
	f.Add([]byte(`{"error":{"code":"c","message":{"value":"v"}}}`))
	f.Add([]byte(`{"error":{"code":"c","message":"m"}}`))
	f.Add([]byte(`{"error":null}`))
	f.Add([]byte(strings.Repeat("é", 200)))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := ODataMessage(b)
		if utf8.Valid(b) && !utf8.ValidString(s) {
			t.Fatalf("message %q of valid UTF-8 %q is not", s, b)
		}
		if !strings.HasPrefix(strings.TrimSpace(string(b)), "{") && len(s) > 300+len("…") {
			t.Fatalf("message of %d bytes", len(s))
		}
	})
}

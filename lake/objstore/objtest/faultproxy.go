package objtest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Fault is one kind of failure the FaultProxy injects into a request.
type Fault int

// The faults. "Before" faults answer without forwarding: the request never
// reaches the server. "After" faults forward the request, let the server
// apply it, and then lose the response: the client sees a failure for a
// request that succeeded, the dangerous case for put-if-absent.
const (
	NoFault Fault = iota
	// InternalErrorBefore answers 500 InternalError without forwarding.
	InternalErrorBefore
	// SlowDownBefore answers 503 SlowDown without forwarding.
	SlowDownBefore
	// ResetBefore resets the connection (TCP RST) without forwarding.
	ResetBefore
	// InternalErrorAfter forwards, discards the response and answers 500.
	InternalErrorAfter
	// SlowDownAfter forwards, discards the response and answers 503 SlowDown.
	SlowDownAfter
	// ResetAfter forwards, discards the response and resets the connection.
	ResetAfter
	// Delay forwards and answers normally after a random delay up to
	// FaultConfig.MaxDelay.
	Delay
	numFaults
)

var faultNames = [numFaults]string{
	"none", "500-before", "503-before", "reset-before", "500-after", "503-after", "reset-after", "delay",
}

func (f Fault) String() string {
	if f < 0 || f >= numFaults {
		return fmt.Sprintf("Fault(%d)", int(f))
	}
	return faultNames[f]
}

// FaultConfig sets what a FaultProxy injects. Probabilities are per request
// and independent; their sum must not exceed 1.
type FaultConfig struct {
	// Seed seeds the proxy's random choices.
	Seed uint64
	// InternalError, SlowDown and Reset are the probabilities of a 500, a
	// 503 SlowDown and a connection reset.
	InternalError, SlowDown, Reset float64
	// After is the share of those faults injected after forwarding (the
	// request applied, its response lost); the rest come before.
	After float64
	// Delay is the probability of delaying a forwarded response by up to
	// MaxDelay (default 50ms).
	Delay    float64
	MaxDelay time.Duration
	// Script, when set, gives the faults of the first len(Script) requests
	// in order; the probabilities apply after it.
	Script []Fault
}

// FaultProxy is a loopback HTTP reverse proxy in front of an S3 server that
// injects faults. Point a client at URL.
type FaultProxy struct {
	// URL is the proxy's base URL, http://127.0.0.1:<port>.
	URL string

	cfg      FaultConfig
	upstream *url.URL
	tr       *http.Transport

	mu       sync.Mutex
	rng      *rand.Rand
	script   []Fault
	counts   [numFaults]int
	requests int
	enabled  bool
	log      []Request
}

// Request is one request the proxy received and the fault it got.
type Request struct {
	Method string
	// Target is the request's path and query, e.g. "/bucket/key?uploads".
	Target string
	Fault  Fault
}

// NewFaultProxy starts a proxy to upstream (an http:// base URL) and stops it
// when the test ends.
func NewFaultProxy(t testing.TB, upstream string, cfg FaultConfig) *FaultProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		t.Fatalf("fault proxy upstream %q: %v", upstream, err)
	}
	if cfg.InternalError+cfg.SlowDown+cfg.Reset+cfg.Delay > 1 {
		t.Fatalf("fault probabilities sum above 1: %+v", cfg)
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = 50 * time.Millisecond
	}
	p := &FaultProxy{
		cfg:      cfg,
		upstream: u,
		tr:       &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5348454c464c414b)),
		script:   append([]Fault(nil), cfg.Script...),
		enabled:  true,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		p.tr.CloseIdleConnections()
	})
	p.URL = "http://" + l.Addr().String()
	return p
}

// SetEnabled turns fault injection on or off (on at start); requests are
// still counted and forwarded when off.
func (p *FaultProxy) SetEnabled(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = on
}

// FaultCounts reports what a FaultProxy did.
type FaultCounts struct {
	// Requests is the number of requests received.
	Requests int
	// Injected counts injected faults by kind (NoFault counts clean
	// requests).
	Injected map[Fault]int
}

// Total is the number of injected faults (delays included).
func (c FaultCounts) Total() int {
	n := 0
	for f, k := range c.Injected {
		if f != NoFault {
			n += k
		}
	}
	return n
}

// Counts returns the counters so far.
func (p *FaultProxy) Counts() FaultCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := FaultCounts{Requests: p.requests, Injected: map[Fault]int{}}
	for f, k := range p.counts {
		if k > 0 {
			c.Injected[Fault(f)] = k
		}
	}
	return c
}

// Requests returns the requests received so far, in arrival order.
func (p *FaultProxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// pick chooses the fault of the next request.
func (p *FaultProxy) pick(r *http.Request) (Fault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	f := NoFault
	switch {
	case !p.enabled:
	case len(p.script) > 0:
		f, p.script = p.script[0], p.script[1:]
	default:
		x := p.rng.Float64()
		after := p.rng.Float64() < p.cfg.After
		switch c := p.cfg; {
		case x < c.InternalError:
			f = InternalErrorBefore
			if after {
				f = InternalErrorAfter
			}
		case x < c.InternalError+c.SlowDown:
			f = SlowDownBefore
			if after {
				f = SlowDownAfter
			}
		case x < c.InternalError+c.SlowDown+c.Reset:
			f = ResetBefore
			if after {
				f = ResetAfter
			}
		case x < c.InternalError+c.SlowDown+c.Reset+c.Delay:
			f = Delay
		}
	}
	p.counts[f]++
	p.log = append(p.log, Request{Method: r.Method, Target: r.URL.RequestURI(), Fault: f})
	var d time.Duration
	if f == Delay {
		d = time.Duration(p.rng.Int64N(int64(p.cfg.MaxDelay) + 1))
	}
	return f, d
}

// ServeHTTP forwards r upstream, injecting the chosen fault.
func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fault, delay := p.pick(r)
	switch fault {
	case InternalErrorBefore, SlowDownBefore:
		// Read the request first, as a server that parsed it would.
		_, _ = io.Copy(io.Discard, r.Body)
	}
	switch fault {
	case InternalErrorBefore:
		writeS3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case SlowDownBefore:
		writeS3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case ResetBefore:
		reset(w)
		return
	}

	// Forward. The Host header stays the client's: it is part of the
	// SigV4 signature the server checks.
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream.Scheme+"://"+p.upstream.Host+r.URL.RequestURI(), r.Body)
	if err != nil {
		writeS3Error(w, http.StatusBadGateway, "ProxyError", err.Error())
		return
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	out.TransferEncoding = r.TransferEncoding
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		out.Body = nil
	}
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		writeS3Error(w, http.StatusBadGateway, "ProxyError", err.Error())
		return
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		reset(w)
		return
	}

	switch fault {
	case InternalErrorAfter:
		writeS3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case SlowDownAfter:
		writeS3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case ResetAfter:
		reset(w)
		return
	case Delay:
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, bytes.NewReader(body))
}

// writeS3Error answers an S3 XML error.
func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>fault-proxy</RequestId></Error>`, code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// reset closes the client connection with a TCP RST (linger 0).
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok { // not for HTTP/1, which the proxy serves
		writeS3Error(w, http.StatusBadGateway, "ProxyError", "cannot hijack the connection")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

package objtest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFaultProxy(t *testing.T) {
	var reached atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Host-Seen", r.Host)
		_, _ = io.WriteString(w, "echo:"+string(body))
	}))
	defer upstream.Close()

	for _, tc := range []struct {
		name        string
		fault       objtest.Fault
		wantStatus  int    // 0: the connection fails
		wantBody    string // a substring
		wantReached bool
	}{
		{"a clean request is forwarded", objtest.NoFault, 200, "echo:payload", true},
		{"a delayed request is forwarded", objtest.Delay, 200, "echo:payload", true},
		{"500 before forwarding never reaches the server", objtest.InternalErrorBefore, 500, "<Code>InternalError</Code>", false},
		{"503 before forwarding never reaches the server", objtest.SlowDownBefore, 503, "<Code>SlowDown</Code>", false},
		{"a reset before forwarding never reaches the server", objtest.ResetBefore, 0, "", false},
		{"500 after forwarding reached the server", objtest.InternalErrorAfter, 500, "<Code>InternalError</Code>", true},
		{"503 after forwarding reached the server", objtest.SlowDownAfter, 503, "<Code>SlowDown</Code>", true},
		{"a reset after forwarding reached the server", objtest.ResetAfter, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := objtest.NewFaultProxy(t, upstream.URL, objtest.FaultConfig{Script: []objtest.Fault{tc.fault}})
			before := reached.Load()
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := client.Post(p.URL+"/bucket/key?x=1", "text/plain", strings.NewReader("payload"))
			if tc.wantStatus == 0 {
				if err == nil {
					_ = resp.Body.Close()
					t.Fatalf("request succeeded with %d, want a reset connection", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
					t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
				}
				if tc.wantStatus == 200 && resp.Header.Get("X-Host-Seen") != strings.TrimPrefix(p.URL, "http://") {
					t.Fatalf("upstream saw Host %q, want the client's %q", resp.Header.Get("X-Host-Seen"), p.URL)
				}
			}
			if got := reached.Load() > before; got != tc.wantReached {
				t.Fatalf("request reached the server = %v, want %v", got, tc.wantReached)
			}
			c := p.Counts()
			if c.Requests != 1 || c.Injected[tc.fault] != 1 {
				t.Fatalf("counts %+v, want one request with fault %v", c, tc.fault)
			}
			reqs := p.Requests()
			if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Target != "/bucket/key?x=1" || reqs[0].Fault != tc.fault {
				t.Fatalf("request log %+v", reqs)
			}
		})
	}
}

func TestFaultProxyRandomFaultsFollowTheSeed(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer upstream.Close()
	run := func() []objtest.Fault {
		p := objtest.NewFaultProxy(t, upstream.URL, objtest.FaultConfig{
			Seed: 7, InternalError: 0.2, SlowDown: 0.2, Reset: 0.2, After: 0.5,
		})
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for range 200 {
			resp, err := client.Get(p.URL + "/")
			if err == nil {
				_ = resp.Body.Close()
			}
		}
		var faults []objtest.Fault
		for _, r := range p.Requests() {
			faults = append(faults, r.Fault)
		}
		return faults
	}
	a, b := run(), run()
	if len(a) != 200 || len(b) != 200 {
		t.Fatalf("%d and %d requests logged, want 200", len(a), len(b))
	}
	kinds := map[objtest.Fault]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: fault %v then %v with the same seed", i, a[i], b[i])
		}
		kinds[a[i]]++
	}
	// 60% faulty, split before/after over three kinds: all seven outcomes
	// occur in 200 requests.
	for _, f := range []objtest.Fault{objtest.NoFault, objtest.InternalErrorBefore, objtest.SlowDownBefore, objtest.ResetBefore,
		objtest.InternalErrorAfter, objtest.SlowDownAfter, objtest.ResetAfter} {
		if kinds[f] == 0 {
			t.Fatalf("fault %v never injected in 200 requests: %v", f, kinds)
		}
	}
	if n := kinds[objtest.NoFault]; n < 40 || n > 120 {
		t.Fatalf("%d clean requests of 200 at 40%% clean probability", n)
	}
}

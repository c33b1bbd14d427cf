package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbeHealth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ok     bool
	}{
		{"a 200 answer is healthy", http.StatusOK, true},
		{"a 204 answer is healthy", http.StatusNoContent, true},
		{"a 503 answer is unhealthy", http.StatusServiceUnavailable, false},
		{"a 404 answer is unhealthy", http.StatusNotFound, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/healthz" {
					t.Errorf("probed %s", r.URL.Path)
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			err := probeHealth(context.Background(), srv.URL+"/healthz", time.Second)
			if (err == nil) != tc.ok {
				t.Fatalf("probeHealth = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	t.Run("a closed port is unhealthy", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL + "/healthz"
		srv.Close()
		if err := probeHealth(context.Background(), url, time.Second); err == nil {
			t.Fatal("probe of a closed port succeeded")
		}
	})
}

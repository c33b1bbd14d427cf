package ingest

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the ingester's operational endpoints:
//
//   - /metrics: Prometheus metrics from g (the registry Options.Registerer
//     registered into, plus whatever else the caller put there);
//   - /healthz: 200 while the poll loop runs (503 if it has been stuck for
//     over a minute);
//   - /readyz: 200 once the ingester joined its consumer group, 503 before
//     and while shutting down.
func (i *Ingester) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if f := i.Fault(); f != "" {
			http.Error(w, f, http.StatusServiceUnavailable)
			return
		}
		if !i.Healthy() {
			http.Error(w, "poll loop stuck", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !i.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

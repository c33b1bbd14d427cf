package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/erptest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema/world"
)

func TestForecastCommandRunsOnceAndWritesBackOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := world.New(world.Config{Seed: 5, Stores: 2, SKUs: 25, Days: 130})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.WriteWorld(ctx, l, w, job.WorldOptions{StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	erp := erptest.New(erptest.Options{ClientSecret: "s3cret"})
	defer erp.Close()
	var mu sync.Mutex
	var pushed []string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text := pushedText(t, r)
		mu.Lock()
		pushed = append(pushed, r.Method+" "+r.URL.Path+"\n"+text)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	t.Setenv("SHELFLAKE_ERP_CLIENT_SECRET", "s3cret")
	t.Setenv("SHELFLAKE_BROKERS", "")
	t.Setenv("SHELFLAKE_PUSHGATEWAY_URL", gw.URL)
	outbox := t.TempDir()
	args := []string{"forecast", "--lake", dir, "--as-of", w.Date(w.Days()).String(), "--json",
		"--erp-url", erp.URL, "--erp-token-url", erp.TokenURL, "--erp-client-id", erp.ClientID, "--outbox", outbox}
	var reports [2]forecastReport
	for i := range reports {
		out, err := runCLI(t, ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &reports[i]); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	first, second := reports[0], reports[1]
	if first.Existing || !second.Existing || first.Run.RunID != second.Run.RunID || first.Run.Series != 50 {
		t.Errorf("runs: %+v then %+v", first.Run, second.Run)
	}
	docs := int(first.Run.Documents)
	if docs == 0 || first.Writeback == nil || first.Writeback.ByChannel["http"].Accepted != docs || first.Writeback.ByChannel["file:"+outbox].Accepted != docs {
		t.Fatalf("first write-back of %d documents: %+v", docs, first.Writeback)
	}
	if second.Writeback.Accepted != 0 || second.Writeback.AlreadyAccepted != 2*docs || len(erp.Accepted()) != docs {
		t.Errorf("second write-back %+v; the ERP holds %d", second.Writeback, len(erp.Accepted()))
	}
	files, _ := filepath.Glob(filepath.Join(outbox, "dt=*", "*.csv"))
	if len(files) != docs {
		t.Errorf("%d csv files for %d documents", len(files), docs)
	}
	// writeback retry finds nothing to do.
	before := erp.Requests()
	out, err := runCLI(t, ctx, "writeback", "retry", "--lake", dir, "--json",
		"--erp-url", erp.URL, "--erp-token-url", erp.TokenURL, "--erp-client-id", erp.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	var wr writeback.Report
	if err := json.Unmarshal([]byte(out), &wr); err != nil {
		t.Fatal(err)
	}
	if wr.Documents != docs || wr.AlreadyAccepted != docs || erp.Requests() != before {
		t.Errorf("retry: %+v, %d requests", wr, erp.Requests()-before)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pushed) != 3 {
		t.Fatalf("%d pushes, want one per command", len(pushed))
	}
	for _, want := range []string{"/metrics/job/shelflake-forecast", "shelflake_forecast_last_success_timestamp_seconds",
		"shelflake_forecast_last_run_success 1", `shelflake_writeback_last_run_documents{result="accepted"}`,
		"shelflake_writeback_last_run_timestamp_seconds"} {
		if !strings.Contains(pushed[0], want) {
			t.Errorf("first push lacks %s:\n%s", want, pushed[0])
		}
	}
	if strings.Contains(pushed[2], "shelflake_forecast_") {
		t.Errorf("writeback retry pushed forecast metrics:\n%s", pushed[2])
	}
	if _, err := os.Stat(filepath.Join(dir, writeback.OutboxPrefix)); err != nil {
		t.Errorf("no outbox in the lake: %v", err)
	}
}

// pushedText decodes a Pushgateway push into the text exposition format.
func pushedText(t *testing.T, r *http.Request) string {
	dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
	var buf strings.Builder
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("decode push: %v", err)
			}
			return buf.String()
		}
		if _, err := expfmt.MetricFamilyToText(&buf, &mf); err != nil {
			t.Error(err)
		}
	}
}

func TestForecastCommandFailsWithoutAFailedRunsSuccessMetric(t *testing.T) {
	var body string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body = pushedText(t, r)
	}))
	defer gw.Close()
	t.Setenv("SHELFLAKE_PUSHGATEWAY_URL", gw.URL)
	t.Setenv("SHELFLAKE_BROKERS", "")
	dir, _ := sqlLake(t) // a lake without sales_daily
	_, err := runCLI(t, context.Background(), "forecast", "--lake", dir, "--as-of", "2026-03-02")
	if err == nil || !strings.Contains(err.Error(), "sales_daily") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(body, "shelflake_forecast_last_run_success 0") || strings.Contains(body, "shelflake_forecast_last_success_timestamp_seconds") ||
		strings.Contains(body, "shelflake_writeback_") {
		t.Errorf("pushed:\n%s", body)
	}
}

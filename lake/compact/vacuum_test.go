package compact

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

func TestVacuumDeletesRewrittenFilesPastTheRetentionOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLake(t, dir)
	day := schema.NewDate(2026, 3, 1)
	rows := posRows(5, 600, 0, day)
	writePOSFiles(t, l, day, rows, 100) // 6 files
	// An upload that was never committed: an orphan.
	if _, err := lake.WriteFiles(ctx, l, schema.TablePOSLines(), day, rows[:10], lake.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c := newCompactor(t, l, Options{Plan: everyPartitionCompacts})
	if rep, err := c.Compact(ctx); err != nil || len(rep.Tasks) != 1 {
		t.Fatalf("compact: %+v %v", rep, err)
	}
	partition := filepath.Join(dir, "pos_lines", "dt=2026-03-01")
	onDisk := func() int {
		es, err := os.ReadDir(partition)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	if n := onDisk(); n != 8 {
		t.Fatalf("%d files before vacuum, want 6 removed + 1 orphan + 1 live", n)
	}

	if _, err := Vacuum(ctx, l, VacuumOptions{Retention: 30 * time.Minute}); err == nil {
		t.Error("a retention under the minimum was accepted")
	}
	// Within the retention nothing goes.
	reps, err := Vacuum(ctx, l, VacuumOptions{Retention: 168 * time.Hour, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Table != "pos_lines" || len(reps[0].Deleted) != 0 || onDisk() != 8 {
		t.Fatalf("vacuum within retention: %+v", reps)
	}
	// Eight days later the removed files and the orphan go; the live one stays.
	reps, err = Vacuum(ctx, l, VacuumOptions{Retention: 168 * time.Hour, Now: func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || len(reps[0].Deleted) != 7 || onDisk() != 1 {
		t.Fatalf("vacuum after retention: %+v, %d files left", reps, onDisk())
	}
	got, _, _ := readTable[schema.PosLineRow](t, l, schema.TablePOSLines())
	if len(got) != len(rows) {
		t.Errorf("%d rows readable after vacuum, want %d", len(got), len(rows))
	}
	// Tables the lake does not have were skipped, not created.
	if _, err := os.Stat(filepath.Join(dir, "sales_daily")); !os.IsNotExist(err) {
		t.Errorf("vacuum created sales_daily: %v", err)
	}
}

func TestServiceEndpointsReportHealthAndMetrics(t *testing.T) {
	ctx := context.Background()
	l := openLake(t, t.TempDir())
	day := schema.NewDate(2026, 3, 1)
	writePOSFiles(t, l, day, posRows(6, 300, 5, day), 30)
	reg := prometheus.NewRegistry()
	now := time.Now()
	c := newCompactor(t, l, Options{Plan: everyPartitionCompacts, Registerer: reg, Unified: true, Now: func() time.Time { return now }})
	srv := httptest.NewServer(c.Handler(reg, time.Hour))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, sb.String()
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	passes := 0
	c.afterPass = func() {
		passes++
		if passes == 2 {
			cancel()
		}
	}
	go func() { done <- c.Run(rctx, time.Millisecond) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d %s", code, body)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d %s", code, body)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`shelflake_compact_files_before_total{table="pos_lines"} 12`,
		`shelflake_compact_files_after_total{table="pos_lines"} 1`,
		`shelflake_compact_rows_in_total{table="pos_lines"}`,
		`shelflake_compact_conflicts_total{table="pos_lines"} 0`,
		`shelflake_compact_table_files{table="pos_lines"} 1`,
		`shelflake_compact_pass_duration_seconds_count{stage="compact"} 2`,
		`shelflake_unified_partitions_rebuilt_total{table="sales_daily"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// A failing pass with no success for longer than the staleness turns
	// the health red.
	c.mu.Lock()
	c.lastErr, c.lastPass = context.DeadlineExceeded, now.Add(-2*time.Hour)
	c.mu.Unlock()
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz %d after failing passes, want 503", code)
	}
	// Readiness is red from the first failed pass, with the cause.
	c.mu.Lock()
	c.lastPass = now
	c.mu.Unlock()
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "deadline exceeded") {
		t.Errorf("/readyz %d %q after a failed pass, want 503 with the cause", code, body)
	}
}

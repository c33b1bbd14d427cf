package objstore_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func TestMeteredAcceptance(t *testing.T) {
	objtest.AcceptanceTest(t, objstore.NewMetered(newLocal(t), prometheus.NewRegistry()))
}

// metric returns the value of a counter (or a histogram's sample count) in
// reg, selected by its operation label when op is not empty.
func metric(t *testing.T, reg *prometheus.Registry, name, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if op != "" && !hasLabel(m, "operation", op) {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s{operation=%q} not found", name, op)
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestMeteredCountsOperationsAndFailures(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := objstore.NewMetered(newLocal(t), reg)
	ctx := t.Context()

	// Label values exist before any operation.
	for _, op := range []string{"put", "put_if_absent", "get", "get_range", "stat", "list", "delete"} {
		if v := metric(t, reg, "shelflake_objstore_operations_total", op); v != 0 {
			t.Fatalf("%s operations before any = %v", op, v)
		}
		metric(t, reg, "shelflake_objstore_operation_failures_total", op)
		metric(t, reg, "shelflake_objstore_operation_duration_seconds", op)
	}

	if err := b.Put(ctx, "a/obj", strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := b.PutIfAbsent(ctx, "a/obj", []byte("again")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("put-if-absent: %v", err)
	}
	if err := b.PutIfAbsent(ctx, "a/new", []byte("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "a/missing"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("get missing: %v", err)
	}
	rc, err := b.GetRange(ctx, "a/obj", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Stat(cancelled, "a/obj"); !errors.Is(err, context.Canceled) {
		t.Fatalf("stat with cancelled context: %v", err)
	}
	if err := b.Put(ctx, "/invalid", strings.NewReader("x")); err == nil {
		t.Fatal("put of an invalid key succeeded")
	}
	stop := errors.New("stop")
	if err := b.List(ctx, "a/", func(objstore.Attributes) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("list: %v", err)
	}

	for _, tc := range []struct {
		name, metric, op string
		want             float64
	}{
		{"two puts counted", "shelflake_objstore_operations_total", "put", 2},
		{"the invalid put is a failure", "shelflake_objstore_operation_failures_total", "put", 1},
		{"two put-if-absents counted", "shelflake_objstore_operations_total", "put_if_absent", 2},
		{"a lost put-if-absent race is no failure", "shelflake_objstore_operation_failures_total", "put_if_absent", 0},
		{"a get of a missing key is counted", "shelflake_objstore_operations_total", "get", 1},
		{"a get of a missing key is no failure", "shelflake_objstore_operation_failures_total", "get", 0},
		{"a range read is observed at close", "shelflake_objstore_operation_duration_seconds", "get_range", 1},
		{"a cancelled stat is counted", "shelflake_objstore_operations_total", "stat", 1},
		{"a cancelled stat is no failure", "shelflake_objstore_operation_failures_total", "stat", 0},
		{"a list stopped by its callback is no failure", "shelflake_objstore_operation_failures_total", "list", 0},
		{"bytes written count successful writes", "shelflake_objstore_bytes_written_total", "", 15},
		{"bytes read count what the reader returned", "shelflake_objstore_bytes_read_total", "", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metric(t, reg, tc.metric, tc.op); got != tc.want {
				t.Fatalf("%s{operation=%q} = %v, want %v", tc.metric, tc.op, got, tc.want)
			}
		})
	}
}

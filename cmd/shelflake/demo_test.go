package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDemoRunsEndToEndAndRerunsClean(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	run := func() string {
		t.Helper()
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := newRootCmd(&out, &errb)
		cmd.SetArgs([]string{"demo", "--dir", dir, "--stores", "3", "--skus", "15", "--days", "40", "--log-level", "warn"})
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
		}
		return out.String()
	}
	first := run()
	for _, want := range []string{
		"starting in " + dir,
		"in the lake: exactly once",
		"sales_daily",
		"shelflake sql --lake " + filepath.Join(dir, "lake"),
	} {
		if !strings.Contains(first, want) {
			t.Errorf("first run output lacks %q:\n%s", want, first)
		}
	}
	second := run()
	if !strings.Contains(second, "starting clean in "+dir) || !strings.Contains(second, "exactly once") {
		t.Errorf("a rerun after a finished demo must start clean and match again:\n%s", second)
	}
}

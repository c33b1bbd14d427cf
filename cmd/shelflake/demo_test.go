package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
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

// TestDemoOnATerminal: with stderr a terminal the logs go to <dir>/demo.log
// (printed once), not into the progress bars and the summary; the compact
// line's file counts are the raw tables' files the summary lists, and the
// unified build is timed on its own.
func TestDemoOnATerminal(t *testing.T) {
	t.Setenv("SHELFLAKE_LOG_LEVEL", "")
	dir := filepath.Join(t.TempDir(), "demo")
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := newRoot(&app{stdout: &out, stderr: &errb, stderrTerminal: func() bool { return true }})
	cmd.SetArgs([]string{"demo", "--dir", dir, "--stores", "3", "--skus", "15", "--days", "40"})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	stdout, stderr := out.String(), errb.String()
	logPath := filepath.Join(dir, demoLogFile)
	if n := strings.Count(stdout, logPath); n != 1 {
		t.Errorf("stdout names the log file %s %d times, want once:\n%s", logPath, n, stdout)
	}
	if strings.Contains(stdout+stderr, "level=INFO") {
		t.Errorf("log lines on the terminal:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if b, err := os.ReadFile(logPath); err != nil || !strings.Contains(string(b), "level=INFO") {
		t.Errorf("log file %s: %v\n%s", logPath, err, b)
	}
	if !strings.Contains(stderr, "ingest [") {
		t.Errorf("no progress bar on the terminal:\n%s", stderr)
	}

	// The compact line against the summary's files column.
	m := regexp.MustCompile(`compact    raw tables (\d+) files -> (\d+) .*; unified tables built in `).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no compact line with the unified build's time:\n%s", stdout)
	}
	after, _ := strconv.Atoi(m[2])
	raw := map[string]bool{}
	for _, tb := range schema.Tables() {
		raw[tb.Name] = true
	}
	listed, tables := 0, 0
	_, list, _ := strings.Cut(stdout, "\nlake tables\n")
	list, _, _ = strings.Cut(list, "\n\n")
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && raw[f[0]] {
			n, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("files column of %q: %v", line, err)
			}
			listed += n
			tables++
		}
	}
	if tables != len(raw) || listed != after {
		t.Errorf("summary lists %d files over %d raw tables; compact line says %d (of %d tables):\n%s", listed, tables, after, len(raw), stdout)
	}
}

func TestDemoLogsGoToAFileOnlyOnATerminalBelowDebug(t *testing.T) {
	for _, c := range []struct {
		level    string
		terminal bool
		toFile   bool
	}{
		{"info", true, true},
		{"warn", true, true},
		{"debug", true, false},
		{"info", false, false},
	} {
		t.Run(fmt.Sprintf("%s terminal=%v", c.level, c.terminal), func(t *testing.T) {
			var errb bytes.Buffer
			a := &app{stderr: &errb, logLevel: c.level, logFormat: "text", stderrTerminal: func() bool { return c.terminal }}
			l, err := newLogger(&errb, c.level, "text")
			if err != nil {
				t.Fatal(err)
			}
			a.log = l
			dir := t.TempDir()
			path, closeLog, err := a.demoLogs(dir)
			if err != nil {
				t.Fatal(err)
			}
			a.log.Error("a line")
			if err := closeLog(); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, demoLogFile))
			if got := path != "" && strings.Contains(string(b), "a line") && errb.Len() == 0; got != c.toFile {
				t.Errorf("path %q, file %q, stderr %q: to a file %v, want %v", path, b, errb.String(), got, c.toFile)
			}
			if !c.toFile && (path != "" || !strings.Contains(errb.String(), "a line")) {
				t.Errorf("path %q, stderr %q: want the logs on stderr", path, errb.String())
			}
		})
	}
}

func TestDemoStartSaysWhatResumes(t *testing.T) {
	cfg := world.Config{Seed: 1, Stores: 3, SKUs: 15, Days: 40}
	other := cfg
	other.Seed = 2
	for _, c := range []struct {
		name   string
		prev   *demoState
		exists bool
		fresh  bool
		resume bool
		want   string
	}{
		{"no directory", nil, false, false, false, "starting in /d"},
		{"finished", &demoState{Config: cfg, Generated: true, Finished: true}, true, false, false, "starting clean in /d (removing the previous demo)"},
		{"interrupted after generating", &demoState{Config: cfg, Generated: true}, true, false, true, "resuming the interrupted demo in /d"},
		{"interrupted while generating", &demoState{Config: cfg}, true, false, false, "interrupted while generating its world, which does not resume"},
		{"interrupted, another world", &demoState{Config: other, Generated: true}, true, false, false, "generated another world"},
		{"interrupted, --fresh", &demoState{Config: cfg, Generated: true}, true, true, false, "--fresh"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resume, msg := demoStart("/d", c.prev, c.exists, c.fresh, cfg)
			if resume != c.resume || !strings.Contains(msg, c.want) {
				t.Errorf("resume %v, %q; want %v and %q", resume, msg, c.resume, c.want)
			}
		})
	}
}

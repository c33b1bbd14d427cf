package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// reconcileChildEnv carries, JSON-encoded, the arguments the test binary
// runs the command with when started as the child process.
const reconcileChildEnv = "SHELFLAKE_TEST_RECONCILE_CHILD"

// TestReconcileInterval starts `shelflake reconcile --interval` as a
// separate process (this test binary, running the command as main does,
// SIGTERM included) on a lake written from a faulted world whose last day
// is yesterday. It waits, by polling /healthz and /metrics, for a pass,
// checks the metrics show open exceptions by reason and the record
// accuracy (0: the last day's snapshots are not in), and that the queue
// holds each exception once; then appends the last day's records, waits for
// a pass that started after the append, and checks the queue again
// (replaced, not appended to) and the record accuracy. SIGTERM stops it with
// exit status 0.
func TestReconcileInterval(t *testing.T) {
	if args := os.Getenv(reconcileChildEnv); args != "" {
		reconcileChild(args)
		return
	}
	today := schema.DateOf(time.Now().UTC())
	dir, _, appendLast := splitFaultLake(t, today-60)

	args, _ := json.Marshal([]string{"--log-level", "info", "reconcile", "--lake", dir,
		"--interval", "100ms", "--http", "127.0.0.1:0"})
	cmd := exec.Command(os.Args[0], "-test.run=^TestReconcileInterval$")
	cmd.Env = append(os.Environ(), reconcileChildEnv+"="+string(args))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	addr := make(chan string, 1)
	copied := make(chan struct{})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	running := true
	go func() {
		defer close(copied)
		re := regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logs, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() {
		<-copied
		exited <- cmd.Wait()
	}()
	defer func() {
		if running {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("reconcile's log:\n%s", logs.String())
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-exited:
		running = false
		t.Fatalf("reconcile exited before serving: %v", err)
	}
	// poll asks until ok says yes; the process exiting fails the test.
	poll := func(what string, ok func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !ok() {
			select {
			case err := <-exited:
				running = false
				t.Fatalf("reconcile exited waiting for %s: %v", what, err)
			case <-tick.C:
			}
		}
	}
	poll("/healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	metrics := func() map[string]float64 {
		t.Helper()
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		defer resp.Body.Close()
		out := map[string]float64{}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "shelflake_reconcile_") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("/metrics line %q: %v", line, err)
			}
			out[line[:i]] = v
		}
		return out
	}
	const lastSuccess = "shelflake_reconcile_last_success_timestamp_seconds"
	var m map[string]float64
	poll("a first pass", func() bool { m = metrics(); return m[lastSuccess] > 0 })
	if m["shelflake_reconcile_failures_total"] != 0 {
		t.Errorf("failed passes: %v", m["shelflake_reconcile_failures_total"])
	}
	open, reasons := 0.0, 0
	for _, r := range []string{schema.ReasonTiming, schema.ReasonReceiptMismatch, schema.ReasonOverstatedAfterCount,
		schema.ReasonUnexplainedLoss, schema.ReasonNegativeOnHand, schema.ReasonStaleSnapshot, schema.ReasonPhantomStock} {
		v, ok := m[`shelflake_reconcile_open_exceptions{reason="`+r+`"}`]
		if !ok {
			t.Errorf("no open exceptions metric for %s", r)
		}
		open += v
		if v > 0 {
			reasons++
		}
	}
	if reasons < 2 {
		t.Errorf("open exceptions of %d reasons in a faulted world: %v", reasons, m)
	}
	// Yesterday's closing snapshots are not in yet: no record is known
	// accurate.
	if acc, ok := m["shelflake_reconcile_record_accuracy_ratio"]; !ok || acc != 0 {
		t.Errorf("record accuracy %v (%v) before the last day's snapshots", acc, ok)
	}
	if m["shelflake_reconcile_series"] != 60 {
		t.Errorf("%v store-SKUs reconciled, want 60", m["shelflake_reconcile_series"])
	}
	first := checkQueue(t, dir)
	// (A pass as of the next day, past midnight UTC, may differ.)
	if open != float64(first.unresolved) && first.dt == today.String() {
		t.Errorf("metrics count %v open exceptions, the queue %d", open, first.unresolved)
	}

	appendLast()
	// A pass that ended after this read started after the one running now.
	v0 := metrics()[lastSuccess]
	var v1 float64
	poll("a pass after the append", func() bool {
		v := metrics()[lastSuccess]
		switch {
		case v1 == 0 && v > v0:
			v1 = v
		case v1 != 0 && v > v1:
			return true
		}
		return false
	})
	second := checkQueue(t, dir)
	if acc := metrics()["shelflake_reconcile_record_accuracy_ratio"]; !(acc > 0 && acc < 1) && second.dt == today.String() {
		t.Errorf("record accuracy %v in a faulted world with its last day in", acc)
	}
	t.Logf("queue of %s: %d rows (%d unresolved); after the append, of %s: %d rows (%d unresolved)",
		first.dt, first.rows, first.unresolved, second.dt, second.rows, second.unresolved)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = <-exited
	running = false
	if err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

// queueState is what checkQueue saw of the latest queue partition.
type queueState struct {
	dt               string
	rows, unresolved int
}

// checkQueue reads the latest partition of stock_exceptions: each
// exception once, at most one unresolved per store-SKU.
func checkQueue(t *testing.T, dir string) queueState {
	t.Helper()
	ctx := t.Context()
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dt, err := l.Table(ctx, schema.TableStockExceptions())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := queueState{}
	for _, f := range snap.Files() {
		st.dt = max(st.dt, f.PartitionValues["dt"])
	}
	ids, unresolved := map[string]bool{}, map[string]string{}
	for _, f := range snap.FilesWhere(func(pv map[string]string) bool { return pv["dt"] == st.dt }) {
		rows, err := lake.ReadRows[schema.StockExceptionRow](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			st.rows++
			if ids[r.ExceptionID] {
				t.Errorf("%s: exception %s twice", st.dt, r.ExceptionID)
			}
			ids[r.ExceptionID] = true
			if r.State == schema.ExceptionResolved {
				continue
			}
			st.unresolved++
			k := r.LocationID + "/" + r.SKU
			if id, dup := unresolved[k]; dup {
				t.Errorf("%s: %s has two unresolved exceptions %s and %s", st.dt, k, id, r.ExceptionID)
			}
			unresolved[k] = r.ExceptionID
		}
	}
	if st.unresolved == 0 {
		t.Errorf("%s: no unresolved exception in a faulted world", st.dt)
	}
	return st
}

// reconcileChild runs the command as main does (SIGTERM cancels it) and
// exits with its status.
func reconcileChild(args string) {
	var a []string
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		fmt.Fprintln(os.Stderr, "child arguments:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(a)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shelflake:", causeFirst(err))
		os.Exit(1)
	}
	os.Exit(0)
}

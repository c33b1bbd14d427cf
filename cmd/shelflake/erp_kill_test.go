package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/odoo/odoofake"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// TestWritebackRetrySurvivesSIGKILLAtRandomPoints kills `shelflake
// writeback retry` (a separate process) with SIGKILL while it writes into
// Odoo: inside a create that Odoo carried out but never answered (the
// order exists, the process never hears of it, nothing is logged), or
// while it searches for the run's keys before creating. Each next run finds what the killed
// one created by its key; after the last, undisturbed run every document is
// in Odoo exactly once and accepted in the log.
func TestWritebackRetrySurvivesSIGKILLAtRandomPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "shelflake")
	build := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	north := odoofake.New(odoofake.Options{Database: "north"})
	defer north.Close()
	south := odoofake.New(odoofake.Options{Database: "south"})
	defer south.Close()
	const n = 24
	docs := erpDocs(t, n, north, south)
	dir := t.TempDir()
	putERPRun(t, dir, docs)
	cfg := writeERPConfig(t, north, south)
	orders := func() int { return len(north.Orders()) + len(south.Orders()) }

	run := func(kill func(chan<- struct{}) func(odoofake.Call) odoofake.Fault) (killed bool, stderr string) {
		t.Helper()
		hit := make(chan struct{}, 1)
		var plan func(odoofake.Call) odoofake.Fault
		if kill != nil {
			plan = kill(hit) // one plan, one count over both databases
		}
		north.SetFaults(plan)
		south.SetFaults(plan)
		return retryUntilHit(t, bin, dir, cfg, hit, "TEST_ODOO_KEY=key-1")
	}
	// killAt stops the process at the k-th call of method (counted over the
	// run): a create is carried out first and left unanswered.
	killAt := func(method string, k int64) func(chan<- struct{}) func(odoofake.Call) odoofake.Fault {
		return func(hit chan<- struct{}) func(odoofake.Call) odoofake.Fault {
			var calls atomic.Int64
			return func(c odoofake.Call) odoofake.Fault {
				if c.Model != "purchase.order" || c.Method != method || calls.Add(1) != k {
					return odoofake.None
				}
				select {
				case hit <- struct{}{}:
				default:
				}
				if method == "create" {
					return odoofake.TimeoutAfter // created; the answer never leaves
				}
				return odoofake.TimeoutBefore
			}
		}
	}
	kills := 0
	for round := range 5 {
		created := orders()
		if created == n {
			break
		}
		// Creates left: n − created; searches: one batch per database at
		// the start of a run (nothing is logged until a run completes).
		method, k := "create", 1+rng.Int64N(int64(n-created))
		if rng.IntN(3) == 0 {
			method, k = "search_read", 1+rng.Int64N(2)
		}
		killed, out := run(killAt(method, k))
		t.Logf("round %d: kill at %s #%d: killed %v, %d orders in Odoo", round, method, k, killed, orders())
		if killed {
			kills++
		} else if out != "" {
			t.Logf("%s", out)
		}
	}
	if kills == 0 {
		t.Fatal("no run was killed: the test tested nothing")
	}
	if killed, out := run(nil); killed {
		t.Fatalf("the last run was killed\n%s", out)
	}
	inNorth, inSouth := north.ByOrigin(), south.ByOrigin()
	for _, d := range docs {
		want := [2]int{0, 1}
		if d.LocationID == "L1" || d.LocationID == "L2" {
			want = [2]int{1, 0}
		}
		if got := [2]int{inNorth[d.ExternalRef], inSouth[d.ExternalRef]}; got != want {
			t.Errorf("document %s of %s: %v orders in north, south; want %v", d.ExternalRef, d.LocationID, got, want)
		}
	}
	if orders() != n {
		t.Errorf("%d orders for %d documents", orders(), n)
	}
	l, err := lake.Open(context.Background(), dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accN, err := writeback.Accepted(context.Background(), l, "odoo:north")
	if err != nil {
		t.Fatal(err)
	}
	accS, err := writeback.Accepted(context.Background(), l, "odoo:south")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if !accN[d.ExternalRef] && !accS[d.ExternalRef] {
			t.Errorf("document %s not accepted in the log", d.ExternalRef)
		}
	}
	rows, _, err := writeback.ReadLog(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Status != schema.WritebackAccepted {
			t.Errorf("log row %+v", r)
		}
	}
}

// retryUntilHit runs `shelflake writeback retry` (binary bin, lake dir, ERP
// config cfg, env added to the environment) and SIGKILLs it as soon as hit
// fires: killed says whether it was killed, out is what it printed. A run
// that ends by itself must succeed.
func retryUntilHit(t *testing.T, bin, dir, cfg string, hit <-chan struct{}, env ...string) (killed bool, out string) {
	t.Helper()
	var outb bytes.Buffer
	cmd := exec.Command(bin, "writeback", "retry", "--lake", dir, "--erp-config", cfg, "--log-level", "warn")
	cmd.Env = append(append(os.Environ(), "SHELFLAKE_BROKERS=", "SHELFLAKE_PUSHGATEWAY_URL="), env...)
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-hit:
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-done
		return true, outb.String()
	case err := <-done:
		if err != nil {
			t.Fatalf("retry exited: %v\n%s", err, outb.String())
		}
		return false, outb.String()
	}
}

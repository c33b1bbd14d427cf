package job

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// shardWorld is 7 stores and a DC × 24 SKUs × 150 days: enough locations
// that each of 4 shards gets some (and the hash is uneven).
func shardWorld(t testing.TB) *world.World {
	t.Helper()
	w, err := world.New(world.Config{Seed: 11, Stores: 7, SKUs: 24, Days: 150})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// twinLakes writes w into a lake directory and copies it: two lakes with
// the same tables (ids and versions), so the same run id.
func twinLakes(t testing.TB, w *world.World) (dirs [2]string, lakes [2]*lake.Lake) {
	t.Helper()
	dirs[0] = t.TempDir()
	l, err := lake.Open(t.Context(), dirs[0], lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteWorld(t.Context(), l, w, WorldOptions{POSLines: true, StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	dirs[1] = filepath.Join(t.TempDir(), "twin")
	if err := os.CopyFS(dirs[1], os.DirFS(dirs[0])); err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		if lakes[i], err = lake.Open(t.Context(), d, lake.Options{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lakes[i].Close() })
	}
	return dirs, lakes
}

// runOutputs are a run's rows and documents, sorted, as JSON.
type runOutputs struct {
	suggestions, forecasts, documents []byte
	run                               schema.ForecastRunRow
}

func outputsOf(t testing.TB, l *lake.Lake, asOf schema.Date) runOutputs {
	t.Helper()
	sug, _ := readTable[schema.ReplenishmentSuggestionRow](t, l, schema.TableReplenishmentSuggestions())
	slices.SortFunc(sug, func(a, b schema.ReplenishmentSuggestionRow) int {
		return cmp.Or(cmp.Compare(a.LocationID, b.LocationID), cmp.Compare(a.SKU, b.SKU))
	})
	fc, _ := readTable[schema.ForecastRow](t, l, schema.TableForecasts())
	slices.SortFunc(fc, func(a, b schema.ForecastRow) int {
		return cmp.Or(cmp.Compare(a.LocationID, b.LocationID), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Date, b.Date))
	})
	run, ok, err := FindRun(t.Context(), l, asOf)
	if err != nil || !ok {
		t.Fatalf("no complete run of %s: %v", asOf, err)
	}
	docs, err := writeback.LoadDocuments(t.Context(), l.Bucket(), asOf, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var db bytes.Buffer
	for _, d := range docs {
		raw, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		db.Write(raw)
		db.WriteByte('\n')
	}
	js := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return runOutputs{suggestions: js(sug), forecasts: js(fc), documents: db.Bytes(), run: run}
}

func sameOutputs(t *testing.T, want, got runOutputs) {
	t.Helper()
	for _, c := range []struct {
		name string
		a, b []byte
	}{{"replenishment_suggestions", want.suggestions, got.suggestions}, {"forecasts", want.forecasts, got.forecasts},
		{"documents", want.documents, got.documents}} {
		if !bytes.Equal(c.a, c.b) {
			t.Errorf("%s differ between the unsharded and the sharded run (%d and %d bytes)", c.name, len(c.a), len(c.b))
		}
	}
	if len(want.documents) == 0 || want.run.Lines == 0 {
		t.Fatalf("the unsharded run ordered nothing: the comparison proves little")
	}
	a, b := want.run, got.run
	if a.RunID != b.RunID || a.Series != b.Series || a.Selected != b.Selected || a.Lines != b.Lines ||
		a.Documents != b.Documents || a.TotalUnits != b.TotalUnits || a.TotalCost != b.TotalCost ||
		a.ModelsChosen != b.ModelsChosen || a.DefaultsUsed != b.DefaultsUsed || a.Fits != b.Fits {
		t.Errorf("run rows differ:\nunsharded %+v\nsharded   %+v", a, b)
	}
}

// runSharded trains, runs every shard of n in-process but skip, and
// merges. Each shard computing forecasts only its locations' series.
func runSharded(t *testing.T, l *lake.Lake, o Options, n int, skip map[int]bool) *Report {
	t.Helper()
	plan, err := Train(t.Context(), l, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if skip[i] {
			continue
		}
		so := o
		so.Shard = Shard{Index: i, Count: n}
		rep, err := Run(t.Context(), l, so)
		if err != nil {
			t.Fatalf("shard %d/%d: %v", i, n, err)
		}
		if !rep.Existing && rep.Run.Series >= int64(plan.Series) {
			t.Errorf("shard %d/%d forecast %d series of the run's %d", i, n, rep.Run.Series, plan.Series)
		}
	}
	rep, err := Merge(t.Context(), l, o, n)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestShardedRunIsTheUnshardedRunByteForByte(t *testing.T) {
	w := shardWorld(t)
	asOf := w.Date(w.Days())
	counts := map[int]int{}
	for _, loc := range w.Locations() {
		counts[ShardOf(loc.ID, 4)]++
	}
	if len(counts) < 3 {
		t.Fatalf("locations by shard %v: the world does not exercise sharding", counts)
	}
	stores16 := map[int]bool{}
	for _, loc := range w.Locations() {
		stores16[ShardOf(loc.ID, 16)] = true
	}
	empty := 16 - len(stores16)
	if empty == 0 {
		t.Fatal("no empty shard among 16: the world does not exercise one")
	}
	cases := []struct {
		name   string
		o      Options
		shards int
	}{
		{"default", Options{AsOf: asOf}, 4},
		{"small buckets, no global model", Options{AsOf: asOf, NoGlobal: true, BucketSeries: 30, BatchSeries: 16, Workers: 1}, 4},
		{"16 shards, some without a store", Options{AsOf: asOf}, 16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, lakes := twinLakes(t, w)
			if _, err := Run(t.Context(), lakes[0], c.o); err != nil {
				t.Fatal(err)
			}
			rep := runSharded(t, lakes[1], c.o, c.shards, nil)
			if rep.Existing || len(rep.Documents) == 0 {
				t.Fatalf("merge: existing %v, %d documents", rep.Existing, len(rep.Documents))
			}
			sameOutputs(t, outputsOf(t, lakes[0], asOf), outputsOf(t, lakes[1], asOf))
			// A second merge finds the run complete and changes nothing.
			again, err := Merge(t.Context(), lakes[1], c.o, c.shards)
			if err != nil || !again.Existing || len(again.Documents) != len(rep.Documents) {
				t.Fatalf("second merge: %v, existing %v", err, again != nil && again.Existing)
			}
		})
	}
}

func TestShardHashIsDuckDBs(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, loc := range []string{"S0001", "S0002", "DC01", "", "Ünïcode store", "a'b"} {
		for _, n := range []int{1, 4, 7, 1000} {
			var got int
			if err := db.QueryRow("SELECT CAST(md5_number_lower(?) % ? AS INTEGER)", loc, n).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := ShardOf(loc, n); got != want {
				t.Errorf("location %q of %d shards: DuckDB says shard %d, ShardOf %d", loc, n, got, want)
			}
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Shard
		ok   bool
	}{{"0/4", Shard{0, 4}, true}, {"3/4", Shard{3, 4}, true}, {"4/4", Shard{}, false}, {"-1/4", Shard{}, false},
		{"1/0", Shard{}, false}, {"1", Shard{}, false}, {"a/b", Shard{}, false}, {"0/5000", Shard{}, false}} {
		got, err := ParseShard(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseShard(%q) = %v, %v", c.in, got, err)
		}
	}
}

// shardChildEnv names the lake directory, as-of day and shard a child
// process runs (see TestMain).
const shardChildEnv = "SHELFLAKE_TEST_SHARD_CHILD"

// runShardChild is the child process: it runs one shard and exits.
func runShardChild(spec string) int {
	var dir string
	var day int
	var s string
	if _, err := fmt.Sscanf(spec, "%s %d %s", &dir, &day, &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sh, err := ParseShard(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	if _, err := Run(ctx, l, Options{AsOf: schema.Date(day), Shard: sh}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestShardKilledAndRerunChangesNothing(t *testing.T) {
	w := shardWorld(t)
	asOf := w.Date(w.Days())
	dirs, lakes := twinLakes(t, w)
	o := Options{AsOf: asOf}
	if _, err := Run(t.Context(), lakes[0], o); err != nil {
		t.Fatal(err)
	}
	plan, err := Train(t.Context(), lakes[1], o)
	if err != nil {
		t.Fatal(err)
	}
	// The biggest shard runs in a child process, killed (SIGKILL) as soon
	// as its first commit is in the log, or wherever it is when seen to
	// be; then it is run again.
	counts := map[int]int{}
	for _, loc := range w.Locations() {
		counts[ShardOf(loc.ID, 4)]++
	}
	victim := 0
	for i, n := range counts {
		if n > counts[victim] || n == counts[victim] && i < victim {
			victim = i
		}
	}
	s := Shard{Index: victim, Count: 4}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), shardChildEnv+"="+dirs[1]+" "+strconv.Itoa(int(asOf))+" "+s.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	app := ShardAppID(asOf, plan.RunID, s)
	var state string
	for state == "" {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("shard child: %v: %s", err, stderr.Bytes())
			}
			state = "finished before the kill"
			exited <- nil
		default:
			if committed(t, lakes[1], schema.TableReplenishmentSuggestions(), app) {
				state = "killed after its first commit"
				break
			}
			time.Sleep(5 * time.Millisecond) // polling the log, not a sync
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	t.Logf("shard %s: %s", s, state)
	rep := runSharded(t, lakes[1], o, 4, nil)
	if rep.Existing {
		t.Fatal("merge found a complete run")
	}
	sameOutputs(t, outputsOf(t, lakes[0], asOf), outputsOf(t, lakes[1], asOf))
}

func committed(t testing.TB, l *lake.Lake, tbl *schema.Table, app string) bool {
	t.Helper()
	dt, err := l.Table(t.Context(), tbl)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(t.Context())
	if err != nil {
		return false
	}
	_, ok := snap.TxnVersion(app)
	return ok
}

func TestMergeRefusesMissingShardsAndRemovesAStrayAttempt(t *testing.T) {
	w := shardWorld(t)
	asOf := w.Date(w.Days())
	_, lakes := twinLakes(t, w)
	o := Options{AsOf: asOf}
	if _, err := Run(t.Context(), lakes[0], o); err != nil {
		t.Fatal(err)
	}
	l := lakes[1]
	if _, err := Merge(t.Context(), l, o, 4); err == nil {
		t.Fatal("merge without a plan succeeded")
	}
	// An attempt with 2 shards committed one, then the run went to 4.
	if _, err := Train(t.Context(), l, o); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), l, Options{AsOf: asOf, Shard: Shard{0, 2}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := Run(t.Context(), l, Options{AsOf: asOf, Shard: Shard{i, 4}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Merge(t.Context(), l, o, 4); err == nil {
		t.Fatal("merge with shard 3/4 missing succeeded")
	}
	if _, ok, _ := FindRun(t.Context(), l, asOf); ok {
		t.Fatal("a failed merge completed the run")
	}
	runSharded(t, l, o, 4, map[int]bool{0: true, 1: true, 2: true})
	sameOutputs(t, outputsOf(t, lakes[0], asOf), outputsOf(t, l, asOf))
}

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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
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
	cases := []struct {
		name   string
		o      Options
		shards int
	}{
		{"default", Options{AsOf: asOf}, 4},
		{"small buckets, no global model", Options{AsOf: asOf, NoGlobal: true, BucketSeries: 30, BatchSeries: 16, Workers: 1}, 4},
		{"16 shards, some without a store", Options{AsOf: asOf}, 16},
		// The world has no bulk orders; a low cap makes the shards cut
		// and scale many series as the unsharded run does.
		{"histories capped", Options{AsOf: asOf, OutlierCap: 1.5}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, lakes := twinLakes(t, w)
			unsharded, err := Run(t.Context(), lakes[0], c.o)
			if err != nil {
				t.Fatal(err)
			}
			rep := runSharded(t, lakes[1], c.o, c.shards, nil)
			if c.o.OutlierCap > 0 {
				for _, r := range []*Report{unsharded, rep} {
					var params struct {
						Capped int64 `json:"outlier_capped_series"`
					}
					if err := json.Unmarshal([]byte(r.Run.Parameters), &params); err != nil || params.Capped == 0 {
						t.Fatalf("run parameters: %v, %d series capped: the case does not exercise the cap", err, params.Capped)
					}
				}
			}
			if rep.Existing || len(rep.Documents) == 0 {
				t.Fatalf("merge: existing %v, %d documents", rep.Existing, len(rep.Documents))
			}
			plan, err := LoadPlan(t.Context(), lakes[1], asOf)
			if err != nil {
				t.Fatal(err)
			}
			empty := 0
			for i := range c.shards {
				if len(plan.ShardLocations(Shard{i, c.shards})) == 0 {
					empty++
				}
			}
			if c.shards == 4 && empty > 0 || c.shards == 16 && empty == 0 {
				t.Fatalf("%d of %d shards without a location: the world does not exercise sharding", empty, c.shards)
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

func TestShardLocationsAreContiguousRangesBalancedBySeries(t *testing.T) {
	locs := []string{"DC01", "S0001", "S0002", "S0003", "S0004", "S0005", "S0006", "S0007"}
	for _, c := range []struct {
		name   string
		series []int
		n      int
		want   [][]string
	}{
		{"equal stores, 4 shards", []int{2, 2, 2, 2, 2, 2, 2, 2}, 4,
			[][]string{{"DC01", "S0001"}, {"S0002", "S0003"}, {"S0004", "S0005"}, {"S0006", "S0007"}}},
		{"a big store takes a shard of its own", []int{1, 12, 1, 1, 1, 1, 1, 2}, 2,
			[][]string{{"DC01", "S0001"}, {"S0002", "S0003", "S0004", "S0005", "S0006", "S0007"}}},
		{"more shards than locations", []int{1, 1, 1, 1, 1, 1, 1, 1}, 10,
			[][]string{nil, {"DC01"}, {"S0001"}, {"S0002"}, {"S0003"}, nil, {"S0004"}, {"S0005"}, {"S0006"}, {"S0007"}}},
		{"one shard", []int{3, 1, 4, 1, 5, 9, 2, 6}, 1, [][]string{locs}},
		{"no series counts: by location", nil, 3,
			[][]string{{"DC01", "S0001"}, {"S0002", "S0003", "S0004"}, {"S0005", "S0006", "S0007"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &Plan{Locations: locs, LocationSeries: c.series}
			var all []string
			for i := range c.n {
				got := p.ShardLocations(Shard{i, c.n})
				if !slices.Equal(got, c.want[i]) {
					t.Errorf("shard %d/%d: %v, want %v", i, c.n, got, c.want[i])
				}
				all = append(all, got...)
			}
			if !slices.Equal(all, locs) {
				t.Errorf("the shards' locations in order are %v, want every location once", all)
			}
		})
	}
}

func TestLocationFilterIsExactAndARange(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all := []string{"", "DC01", "S0001", "S0002", "S0003", "S0010", "a'b", "Ünïcode store"}
	for _, locs := range [][]string{nil, {"S0002"}, {"S0001", "S0003"}, {"DC01", "S0010", "a'b", "Ünïcode store"}} {
		var vals []string
		for _, l := range all {
			vals = append(vals, "("+sqlString(l)+")")
		}
		q := "SELECT list(loc ORDER BY loc) FROM (VALUES " + strings.Join(vals, ", ") + ") t(loc) WHERE " + locationFilter("loc", locs)
		var got []any
		var raw any
		if err := db.QueryRow(q).Scan(&raw); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if raw != nil {
			got = raw.([]any)
		}
		if len(got) != len(locs) {
			t.Errorf("filter of %q holds %v", locs, got)
			continue
		}
		for i := range got {
			if got[i] != locs[i] {
				t.Errorf("filter of %q holds %v", locs, got)
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
	victim := 0
	for i := range 4 {
		if len(plan.ShardLocations(Shard{i, 4})) > len(plan.ShardLocations(Shard{victim, 4})) {
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

// inputScan is what reading a run's location-keyed input views costs: the
// bytes the process read (Linux rchar) scanning every column of every
// view, and the rows the views hold.
type inputScan struct{ bytes, rows int64 }

// scanInputs opens the input views of a run of o over l (a shard's with
// o.Shard and the plan) and scans each location-keyed one whole.
func scanInputs(t *testing.T, l *lake.Lake, o Options, plan *Plan) inputScan {
	t.Helper()
	o = o.withDefaults()
	r := &runner{l: l, o: o, log: o.Logger, histStart: o.AsOf - schema.Date(o.HistoryDays), trained: plan}
	db, err := r.openDuckDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, _, release, err := r.openInputs(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var s inputScan
	for _, v := range []string{"sales_daily", "stockouts", "inventory_daily", "po_open", "item_locations", "pos_lines"} {
		// Every column of every row the view holds, aggregated (nothing
		// held or spilled): what the Parquet scan must read.
		read0 := readBytes()
		rows, err := db.QueryContext(t.Context(), "SELECT count(*), max(COLUMNS(*)) FROM "+v)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		for rows.Next() {
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		s.bytes += readBytes() - read0
		s.rows += (*vals[0].(*any)).(int64)
	}
	return s
}

func TestShardOfFourReadsLessThanHalfTheInputs(t *testing.T) {
	if readBytes() == 0 {
		t.Skip("no /proc/self/io here: the bytes read are measured on Linux")
	}
	w, err := world.New(world.Config{Seed: 3, Stores: 24, SKUs: 1000, Days: 35})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		wo   WorldOptions
	}{
		// One file a day, row groups of 1,024 rows: a day of sales_daily
		// (~18,000 rows) is eighteen, a shard's stores five or six of
		// them, found by the BETWEEN's row-group pruning.
		{"row groups pruned", WorldOptions{RowGroupRows: 1024}},
		// Files of three stores a day, one row group each: a shard opens
		// the files of its range only (their add.stats).
		{"files pruned", WorldOptions{ChunkSeries: 3000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			wo := c.wo
			wo.POSLines, wo.DailyPOSLines, wo.StateDays = true, true, 28
			if _, err := WriteWorld(t.Context(), l, w, wo); err != nil {
				t.Fatal(err)
			}
			o := Options{AsOf: w.Date(w.Days()), NoGlobal: true}
			plan, err := Train(t.Context(), l, o)
			if err != nil {
				t.Fatal(err)
			}
			whole := scanInputs(t, l, o, plan)
			var rows int64
			for i := range 4 {
				so := o
				so.Shard = Shard{i, 4}
				s := scanInputs(t, l, so, plan)
				t.Logf("shard %s: %d of %d bytes (%.0f%%), %d of %d rows", so.Shard, s.bytes, whole.bytes,
					100*float64(s.bytes)/float64(whole.bytes), s.rows, whole.rows)
				if 2*s.bytes >= whole.bytes {
					t.Errorf("shard %s read %d bytes of its inputs, the unsharded run %d: not less than half", so.Shard, s.bytes, whole.bytes)
				}
				rows += s.rows
			}
			// The shards' views hold every row of the plan's locations, once.
			u := scanInputs(t, l, Options{AsOf: o.AsOf, NoGlobal: true, Shard: Shard{0, 1}}, plan)
			if rows != u.rows || u.rows == 0 {
				t.Errorf("the 4 shards' views hold %d rows, the plan's locations %d", rows, u.rows)
			}
		})
	}
}

func TestOutsideRangeReadsTheLocationStatistics(t *testing.T) {
	for _, c := range []struct {
		stats string
		want  bool
	}{
		{`{"numRecords":5,"minValues":{"store_id":"S0001"},"maxValues":{"store_id":"S0004"}}`, true},
		{`{"numRecords":5,"minValues":{"store_id":"S0004"},"maxValues":{"store_id":"S0006"}}`, false},
		{`{"numRecords":5,"minValues":{"store_id":"S0006"},"maxValues":{"store_id":"S0009"}}`, false},
		{`{"numRecords":5,"minValues":{"store_id":"S0010"},"maxValues":{"store_id":"S0010"}}`, true},
		{`{"numRecords":5,"minValues":{"store_id":"S0001"}}`, false}, // no maximum: kept
		{`{"numRecords":5}`, false},
		{``, false},
	} {
		f := delta.File{Add: delta.Add{Path: "x.parquet", Stats: c.stats}}
		if got := outsideRange(f, "store_id", "S0005", "S0009"); got != c.want {
			t.Errorf("stats %s: outside [S0005, S0009] %v, want %v", c.stats, got, c.want)
		}
	}
}

func TestMergeRefusesShardsThatMissSeries(t *testing.T) {
	w, err := world.New(world.Config{Seed: 5, Stores: 4, SKUs: 12, Days: 120})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := WriteWorld(t.Context(), l, w, WorldOptions{StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	o := Options{AsOf: w.Date(w.Days())}
	plan, err := Train(t.Context(), l, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := Run(t.Context(), l, Options{AsOf: o.AsOf, Shard: Shard{i, 2}}); err != nil {
			t.Fatal(err)
		}
	}
	// Shard 1's figures as a shard of another assignment would leave them:
	// one location's series short.
	key := shardStatsKey(o.AsOf, plan.RunID, Shard{1, 2})
	raw, err := getAll(t.Context(), l.Bucket(), key)
	if err != nil {
		t.Fatal(err)
	}
	var st shardStats
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	st.Series -= 12
	if raw, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := l.Bucket().Put(t.Context(), key, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(t.Context(), l, o, 2); err == nil || !strings.Contains(err.Error(), "cannot be merged") {
		t.Fatalf("merge of shards missing 12 of %d series: %v", plan.Series, err)
	}
	if _, ok, _ := FindRun(t.Context(), l, o.AsOf); ok {
		t.Fatal("the refused merge completed the run")
	}
}

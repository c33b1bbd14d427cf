package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/backtest"
	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema/world"
)

// realLake writes a small generated world into a lake directory, as
// ingest and compaction would have left it.
func realLake(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w, err := world.New(world.Config{Seed: 5, Stores: 2, SKUs: 20, Days: 120})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := job.WriteWorld(ctx, l, w, job.WorldOptions{StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBenchForecastReal(t *testing.T) {
	ctx := context.Background()
	dir := realLake(t)
	for _, tc := range []struct {
		name string
		args []string
		// inLake: the job's runs are left in the lake itself.
		inLake bool
		check  func(t *testing.T, out string)
	}{{
		name: "json on a copy",
		args: []string{"--origins", "2", "--horizon", "14", "--json"},
		check: func(t *testing.T, out string) {
			var res backtest.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if len(res.Origins) != 2 || res.Horizon != 14 || res.Origins[1].AsOf-res.Origins[0].AsOf != 7 {
				t.Fatalf("origins %+v, horizon %d", res.Origins, res.Horizon)
			}
			ls, ok := res.Level(backtest.LevelStore)
			if !ok || math.IsNaN(float64(ls.WRMSSE[backtest.Ours])) || ls.BestSimple == "" {
				t.Errorf("store level %+v", ls)
			}
		},
	}, {
		name:   "markdown in place",
		args:   []string{"--origins", "1", "--in-place"},
		inLake: true,
		check: func(t *testing.T, out string) {
			for _, want := range []string{"| store_sku |", "| total |", "ours ÷ snaive", "mean over 1 origins", "bias ours in stock"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, ctx, append([]string{"bench", "forecast", "--real", dir}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, out)
			runs, _ := filepath.Glob(filepath.Join(dir, "forecast_runs", "dt=*"))
			if tc.inLake != (len(runs) > 0) {
				t.Errorf("forecast runs in the lake itself: %v", runs)
			}
		})
	}
	if _, err := runCLI(t, ctx, "bench", "forecast", "--real", filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing lake: %v", err)
	}
}

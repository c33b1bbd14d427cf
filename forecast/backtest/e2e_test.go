package backtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/backtest"
	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// runJob is the shipped job with its defaults, as the weekly run calls it.
func runJob(ctx context.Context, l *lake.Lake, asOf schema.Date, horizon int) error {
	_, err := job.Run(ctx, l, job.Options{AsOf: asOf, Horizon: horizon})
	return err
}

func TestBacktestScoresTheShippedJobOnAGeneratedLake(t *testing.T) {
	ctx := t.Context()
	w, err := world.New(world.Config{Seed: 7, Stores: 3, SKUs: 30, Days: 140})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lake.Open(ctx, t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := job.WriteWorld(ctx, l, w, job.WorldOptions{POSLines: true, StateDays: 30}); err != nil {
		t.Fatal(err)
	}
	last, err := backtest.LastSalesDate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	origins := backtest.WeeklyOrigins(last, 2, 28)
	if len(origins) != 2 || origins[1] != last-27 || origins[0] != origins[1]-7 {
		t.Fatalf("origins %v for last sales date %s", origins, last)
	}
	runs := 0
	counting := func(ctx context.Context, l *lake.Lake, asOf schema.Date, h int) error {
		runs++
		return runJob(ctx, l, asOf, h)
	}
	res, err := backtest.Run(ctx, l, backtest.Options{Origins: origins, Job: counting})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || len(res.Origins) != 2 {
		t.Fatalf("%d job runs, %d origins scored", runs, len(res.Origins))
	}
	for _, o := range res.Origins {
		if o.RunID == "" || !strings.HasPrefix(o.RunID, o.AsOf.String()) {
			t.Errorf("origin %s: run id %q", o.AsOf, o.RunID)
		}
		if o.Forecast != w.NumStores()*len(w.Items()) || o.Series < o.Forecast {
			t.Errorf("origin %s: %d series scored, %d forecast by the job", o.AsOf, o.Series, o.Forecast)
		}
		if b := float64(o.Bias[backtest.Ours]); !(b > 0.5 && b < 2) {
			t.Errorf("origin %s: bias of ours %v", o.AsOf, b)
		}
		if len(o.LevelsInStock) != len(o.Levels) {
			t.Errorf("origin %s: %d levels scored on the days without a stockout, %d on every day", o.AsOf, len(o.LevelsInStock), len(o.Levels))
		}
		if b := float64(o.BiasInStock[backtest.Ours]); !(b > 0.5 && b < 2) {
			t.Errorf("origin %s: bias of ours over the days without a stockout %v", o.AsOf, b)
		}
		if math.IsNaN(float64(o.JobBacktestRMSSE)) {
			t.Errorf("origin %s: the job's recorded backtest RMSSE is missing", o.AsOf)
		}
		for _, lv := range []string{backtest.LevelStoreSKU, backtest.LevelSKUWeekly, backtest.LevelStore,
			backtest.LevelDepartment, backtest.LevelCategory, backtest.LevelTotal, backtest.LevelAll} {
			ls, ok := o.Level(lv)
			if !ok {
				t.Errorf("origin %s: no level %s", o.AsOf, lv)
				continue
			}
			for _, m := range backtest.Methods {
				if v := float64(ls.WRMSSE[m]); math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
					t.Errorf("origin %s level %s: WRMSSE[%s] = %v", o.AsOf, lv, m, v)
				}
			}
			if ls.BestSimple == "" || ls.BestSimple == backtest.Ours || !(ls.VsBestSimple > 0) || !(ls.VsSNaive > 0) {
				t.Errorf("origin %s level %s: best simple %q, ratios %v %v", o.AsOf, lv, ls.BestSimple, ls.VsBestSimple, ls.VsSNaive)
			}
		}
	}
	if len(res.Mean) != 7 {
		t.Errorf("mean levels: %d", len(res.Mean))
	}
	// A second backtest reuses the stored runs and gives the same scores.
	again, err := backtest.Run(ctx, l, backtest.Options{Origins: origins, Job: runJob})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := res.Level(backtest.LevelStoreSKU)
	b, _ := again.Level(backtest.LevelStoreSKU)
	if a.WRMSSE[backtest.Ours] != b.WRMSSE[backtest.Ours] || again.Origins[0].RunID != res.Origins[0].RunID {
		t.Errorf("rerun: ours %v then %v, run %s then %s", a.WRMSSE[backtest.Ours], b.WRMSSE[backtest.Ours], res.Origins[0].RunID, again.Origins[0].RunID)
	}
	var md bytes.Buffer
	if err := backtest.WriteMarkdown(&md, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| store_sku |", "| sku_weekly |", "| total |", "ours ÷ best", origins[0].String()} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	t.Log("\n" + md.String())
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back backtest.Result
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Origins) != 2 || back.Origins[1].AsOf != origins[1] {
		t.Errorf("JSON round trip: %+v", back.Origins)
	}
}

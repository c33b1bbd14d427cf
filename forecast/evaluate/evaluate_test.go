package evaluate

import (
	"testing"

	"github.com/shelflake/shelflake/schema/world"
)

func newWorld(t testing.TB, cfg world.Config) *world.World {
	t.Helper()
	w, err := world.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// The accuracy targets of the forecast issue, on a generated world whose
// hold-out (the last 28 of 200 days, from 2026-01-05: late June to July)
// holds no holiday a forecaster without a calendar cannot see coming.
func TestOurForecastBeatsEachSimpleMethodOnTrueDemand(t *testing.T) {
	w := newWorld(t, world.Config{Seed: 1, Stores: 10, SKUs: 100, Days: 200})
	rep, err := Accuracy(t.Context(), w, AccuracyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	best, bestV := rep.BestBaseline()
	t.Logf("%d series; WRMSSE ours %.4f (without the promotion calendar %.4f), snaive %.4f, ma %.4f, ses %.4f, croston_sba %.4f; oracle %.4f (blind to promotions %.4f)",
		rep.Series, rep.WRMSSE["ours"], rep.OursBaseline, rep.WRMSSE["snaive"], rep.WRMSSE["ma"], rep.WRMSSE["ses"], rep.WRMSSE["croston_sba"], rep.Oracle, rep.OracleNoPromo)
	t.Logf("baselines on raw sales: %v", rep.WRMSSERaw)
	t.Logf("ours beats the best simple method (%s, %.4f) by %.1f%% and seasonal naive by %.1f%%; chosen %v",
		best, bestV, 100*rep.Improvement(best), 100*rep.Improvement("snaive"), rep.Chosen)
	if imp := rep.Improvement(best); imp < 0.03 {
		t.Errorf("ours beats the best simple method by %.1f%%; want ≥ 3%%", 100*imp)
	}
	if imp := rep.Improvement("snaive"); imp < 0.20 {
		t.Errorf("ours beats seasonal naive by %.1f%%; want ≥ 20%%", 100*imp)
	}
	for name, v := range rep.WRMSSERaw {
		if rep.WRMSSE["ours"] >= v {
			t.Errorf("%s on raw sales scores %.4f, ours %.4f", name, v, rep.WRMSSE["ours"])
		}
	}
	// Knowing the promotions ahead is worth something on top of the
	// baseline.
	if !(rep.WRMSSE["ours"] < rep.OursBaseline) {
		t.Errorf("ours with the promotion calendar %.4f, without %.4f", rep.WRMSSE["ours"], rep.OursBaseline)
	}
	if !(rep.Oracle < rep.WRMSSE["ours"]) {
		t.Errorf("ours %.4f beats the oracle %.4f: the scoring is broken", rep.WRMSSE["ours"], rep.Oracle)
	}
}

func TestOurPolicyFillsWhatIsAskedWithLessStockThanNaive(t *testing.T) {
	w := newWorld(t, world.Config{Seed: 1, Stores: 5, SKUs: 50, Days: 200})
	rep, err := Replay(t.Context(), w, ReplayOptions{Days: 56})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    world.Stats
	}{{"ours", rep.Ours}, {"naive", rep.Naive}, {"naive matched", rep.NaiveMatched}} {
		t.Logf("%-13s fill rate %.4f, lost %d units, average inventory %.2f, days of cover %.2f, %d orders",
			c.name, c.s.FillRate(), c.s.Lost, c.s.AvgInventory(), c.s.DaysOfCover(), c.s.Orders)
	}
	t.Logf("service level asked %.4f; the naive policy matches our fill rate at %.3f× its order-up-to level, holding %.1f%% more stock; reasons %v",
		rep.ServiceLevel, rep.MatchFactor, 100*(rep.NaiveMatched.AvgInventory()/rep.Ours.AvgInventory()-1), rep.Reasons)
	if rep.Ours.FillRate() < rep.ServiceLevel {
		t.Errorf("fill rate %.4f below the %.4f asked", rep.Ours.FillRate(), rep.ServiceLevel)
	}
	if rep.Ours.FillRate() <= rep.Naive.FillRate() {
		t.Errorf("fill rate %.4f, naive %.4f", rep.Ours.FillRate(), rep.Naive.FillRate())
	}
	// The target: at least 20% less stock at equal fill rate.
	if red := rep.InventoryReduction(); red < 0.20 {
		t.Errorf("at equal fill rate ours holds %.1f%% less stock than naive; want at least 20%%", 100*red)
	}
	if rep.Reasons["promo_uplift"] == 0 {
		t.Errorf("no line lifted for a promotion: reasons %v", rep.Reasons)
	}
	if rep.Ours.Demand != rep.Naive.Demand || rep.Ours.Demand != rep.NaiveMatched.Demand {
		t.Errorf("policies saw different demand: %d, %d, %d", rep.Ours.Demand, rep.Naive.Demand, rep.NaiveMatched.Demand)
	}
	if rep.Reasons["below_rop"] == 0 || rep.Reasons["reviews"] < rep.Reasons["below_rop"] {
		t.Errorf("reasons %v", rep.Reasons)
	}
}

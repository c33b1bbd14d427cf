package job

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// A sharded run reads the exception queue its --train step read, and
// trains and plans with it as the unsharded run does: a reconcile run that
// lands between --train and the shards changes nothing.
func TestShardsReadTheReconciliationTheTrainStepRead(t *testing.T) {
	w := shardWorld(t)
	asOf := w.Date(w.Days())
	dirs, lakes := twinLakes(t, w)
	stores := []world.Location{}
	for _, loc := range w.Locations() {
		if loc.Kind != world.KindDC {
			stores = append(stores, loc)
		}
	}
	first, later := stores[1].ID+"/"+w.Items()[3].ID, stores[2].ID+"/"+w.Items()[5].ID
	// The same queue (table id and version) in both lakes.
	appendExceptions(t, lakes[0], asOf, phantomException(asOf, "EX-1", stores[1].ID, w.Items()[3].ID))
	prefix := lake.TablePrefix(schema.TableStockExceptions())
	if err := os.CopyFS(filepath.Join(dirs[1], prefix), os.DirFS(filepath.Join(dirs[0], prefix))); err != nil {
		t.Fatal(err)
	}
	o := Options{AsOf: asOf}
	if _, err := Run(t.Context(), lakes[0], o); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(t.Context(), lakes[1], o); err != nil {
		t.Fatal(err)
	}
	appendExceptions(t, lakes[1], asOf, phantomException(asOf, "EX-2", stores[2].ID, w.Items()[5].ID))
	runSharded(t, lakes[1], o, 4, nil)
	want, got := outputsOf(t, lakes[0], asOf), outputsOf(t, lakes[1], asOf)
	sameOutputs(t, want, got)
	rows, _ := readTable[schema.ReplenishmentSuggestionRow](t, lakes[1], schema.TableReplenishmentSuggestions())
	reasons := map[string]string{}
	for _, r := range rows {
		reasons[r.LocationID+"/"+r.SKU] = r.Reasons
	}
	if !hasReason(reasons[first], "reconciled") {
		t.Errorf("%s: reasons %q, want the queue the plan read applied", first, reasons[first])
	}
	if hasReason(reasons[later], "reconciled") {
		t.Errorf("%s: reasons %q: a shard read the exception committed after --train", later, reasons[later])
	}
}

// Lead times pool per supplier over every store: a shard reads only its
// stores' lead_times and takes the pooled figures from the plan, so a
// store with too few receipts of its own plans with the same supplier
// lead time as in the unsharded run.
func TestShardsPlanWithTheSupplierLeadTimesOfEveryStore(t *testing.T) {
	w := shardWorld(t)
	asOf := w.Date(w.Days())
	_, lakes := twinLakes(t, w)
	// More than any store's receipts from one supplier in this world and
	// fewer than a supplier's over every store: every line with observed
	// lead times takes its supplier's pool.
	o := Options{AsOf: asOf, MinLeadTimeObservations: 400}
	if _, err := Run(t.Context(), lakes[0], o); err != nil {
		t.Fatal(err)
	}
	runSharded(t, lakes[1], o, 4, nil)
	sameOutputs(t, outputsOf(t, lakes[0], asOf), outputsOf(t, lakes[1], asOf))
	rows, _ := readTable[schema.ReplenishmentSuggestionRow](t, lakes[1], schema.TableReplenishmentSuggestions())
	sources := map[string]int{}
	for _, r := range rows {
		sources[r.LeadTimeSource]++
	}
	if sources["observed_supplier"] == 0 || sources["observed_location"] != 0 {
		t.Fatalf("lead time sources %v: want lines planned with their supplier's pooled lead time only", sources)
	}
}

package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// TestRejectsReplayRoutesPromotionsByTheirTopic: promotions an older build
// refused are replayed into promotions when their topic is the promotions
// topic, named by --topic-promotions, by SHELFLAKE_TOPIC_PROMOTIONS or by
// default, and only then; a replay never writes one twice.
func TestRejectsReplayRoutesPromotionsByTheirTopic(t *testing.T) {
	t.Setenv("SHELFLAKE_TOPIC_PROMOTIONS", "")
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "lake")
	l, err := lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	day := schema.NewDate(2026, time.January, 26)
	doc := func(id string) []byte {
		return []byte(`{"schema_version":1,"promotion_id":"` + id + `","sku":"SKU-000001","start_date":"2026-03-02",` +
			`"end_date":"2026-03-08","discount_pct":20,"status":"planned","updated_at":"2026-01-26T06:00:00+01:00"}`)
	}
	const renamed = "erp.promotions.v2"
	rejects := []schema.RejectRow{
		{Topic: schema.TopicPromotion, Offset: 3, Value: doc("PR-DEFAULT")},
		{Topic: renamed, Partition: 1, Offset: 7, Value: doc("PR-RENAMED")},
		{Topic: schema.TopicPromotion, Offset: 4, Value: []byte(`{"schema_version":1}`)}, // still bad
	}
	for i := range rejects {
		rejects[i].Error, rejects[i].Reason = "refused by an older build", schema.ReasonInvalidValue
		rejects[i].ReceivedAt, rejects[i].BusinessDate = day.Time().Add(time.Hour), day
	}
	adds, err := lake.WriteFiles(ctx, l, schema.TableRejects(), day, rejects, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dt, err := l.Table(ctx, schema.TableRejects())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Adds: adds}); err != nil {
		t.Fatal(err)
	}
	// The promotions table has committed past the rejected offsets (a
	// replay only takes what ingest has passed in the data table).
	ptab, err := l.Table(ctx, schema.TablePromotions())
	if err != nil {
		t.Fatal(err)
	}
	base, err := ptab.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ptab.Commit(ctx, base, delta.Txn{Fences: []delta.FenceRange{
		{AppID: ingest.AppID(ingest.DefaultGroup, schema.TopicPromotion, 0), From: 0, To: 10, First: true},
		{AppID: ingest.AppID(ingest.DefaultGroup, renamed, 1), From: 0, To: 10, First: true},
	}}); err != nil {
		t.Fatal(err)
	}
	l.Close()

	steps := []struct {
		name                   string
		env                    string
		args                   []string
		passed, ingested, rows int
		stillFailing           int
	}{
		{name: "the flag names the renamed topic: its promotion is replayed",
			args: []string{"--topic-promotions", renamed}, passed: 1, ingested: 1, rows: 1},
		{name: "by default erp.promotions' promotion is replayed, and its bad one still fails",
			passed: 1, ingested: 1, rows: 1, stillFailing: 1},
		{name: "the environment names the renamed topic: its promotion is already in",
			env: renamed, passed: 1},
		{name: "the flag wins over the environment: erp.promotions' promotion is already in",
			env: renamed, args: []string{"--topic-promotions", schema.TopicPromotion}, passed: 1, stillFailing: 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			t.Setenv("SHELFLAKE_TOPIC_PROMOTIONS", s.env)
			out, err := runCLI(t, ctx, append([]string{"rejects", "replay", "--lake", dir, "--json"}, s.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var rep ingest.ReplayReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			failing := 0
			for _, n := range rep.StillFailing {
				failing += n
			}
			if rep.Examined != len(rejects) || rep.Passed != s.passed || rep.Ingested != s.ingested || failing != s.stillFailing ||
				rep.AlreadyIngested != s.passed-s.ingested || rep.Rows[schema.TableNamePromotions] != int64(s.rows) {
				t.Errorf("report %+v; want %d passed, %d ingested, %d still failing, %d promotions rows",
					rep, s.passed, s.ingested, s.stillFailing, s.rows)
			}
		})
	}

	l, err = lake.Open(ctx, dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pt, err := l.Table(ctx, schema.TablePromotions())
	if err != nil {
		t.Fatal(err)
	}
	psnap, err := pt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range psnap.Files() {
		rows, err := lake.ReadRows[schema.PromotionRow](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			ids = append(ids, r.PromotionID)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"PR-DEFAULT", "PR-RENAMED"}) {
		t.Errorf("promotions holds %v, want each replayed promotion once", ids)
	}
}

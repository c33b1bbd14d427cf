package ingest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

func TestCompleteTakesTheSlowestPartition(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	h := time.Hour
	cases := []struct {
		name     string
		ws       []Watermark
		ends     map[string]map[int32]int64
		want     map[string]time.Time
		lateness time.Duration
	}{
		{
			name: "the oldest event time of the partitions, minus the lateness",
			ws: []Watermark{
				{Table: "pos_lines", Topic: "pos", Partition: 0, Offset: 10, EventTime: t0},
				{Table: "pos_lines", Topic: "pos", Partition: 1, Offset: 10, EventTime: t0.Add(-2 * h)},
			},
			lateness: h,
			want:     map[string]time.Time{"pos_lines": t0.Add(-3 * h)},
		},
		{
			name: "a drained partition counts from when it was drained",
			ws: []Watermark{
				{Table: "pos_lines", Topic: "pos", Partition: 0, Offset: 10, EventTime: t0},
				{Table: "pos_lines", Topic: "pos", Partition: 1, Offset: 10, EventTime: t0.Add(-48 * h), DrainedAt: t0.Add(h)},
			},
			want: map[string]time.Time{"pos_lines": t0},
		},
		{
			name: "a partition without event time nor drain leaves its table out",
			ws: []Watermark{
				{Table: "pos_lines", Topic: "pos", Partition: 0, Offset: 10, EventTime: t0},
				{Table: "pos_lines", Topic: "pos", Partition: 1, Offset: 10},
				{Table: "item_locations", Topic: "il", Partition: 0, Offset: 3, EventTime: t0},
			},
			want: map[string]time.Time{"item_locations": t0},
		},
		{
			name: "drained partitions whose events are in the past: the newest event, not the drain time",
			ws: []Watermark{
				{Table: "pos_lines", Topic: "pos", Partition: 0, Offset: 10, EventTime: t0.Add(-24 * h), DrainedAt: t0.Add(200 * 24 * h)},
				{Table: "pos_lines", Topic: "pos", Partition: 1, Offset: 10, EventTime: t0, DrainedAt: t0.Add(200 * 24 * h)},
			},
			lateness: h,
			want:     map[string]time.Time{"pos_lines": t0},
		},
		{
			name: "a drained partition with no event (rejects) gives its table no event time",
			ws: []Watermark{
				{Table: "rejects", Topic: "pos", Partition: 0, Offset: 10, DrainedAt: t0},
				{Table: "item_locations", Topic: "il", Partition: 0, Offset: 3, DrainedAt: t0.Add(100 * 24 * h)},
				{Table: "item_locations", Topic: "il", Partition: 1, Offset: 3, EventTime: t0.Add(-h), DrainedAt: t0.Add(100 * 24 * h)},
			},
			want: map[string]time.Time{"item_locations": t0.Add(-h)},
		},
		{
			name: "the brokers' end offsets mark quiet partitions drained",
			ws: []Watermark{
				{Table: "pos_lines", Topic: "pos", Partition: 0, Offset: 10, EventTime: t0},
				{Table: "pos_lines", Topic: "pos", Partition: 1, Offset: 7, EventTime: t0.Add(-48 * h)},
				{Table: "pos_lines", Topic: "pos", Partition: 2, Offset: 5, EventTime: t0.Add(-72 * h)},
			},
			ends: map[string]map[int32]int64{"pos": {0: 10, 1: 7, 2: 6}},
			want: map[string]time.Time{"pos_lines": t0.Add(-72 * h)}, // partition 2 is behind
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.ends != nil {
				MarkDrained(c.ws, c.ends, t0.Add(2*h))
				if !c.ws[1].DrainedAt.Equal(t0.Add(2*h)) || !c.ws[2].DrainedAt.IsZero() {
					t.Errorf("drained: %+v", c.ws)
				}
			}
			got := Complete(c.ws, c.lateness)
			if len(got) != len(c.want) {
				t.Fatalf("Complete = %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if !got[k].Equal(v) {
					t.Errorf("%s complete up to %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// Watermarks only reads: on a lake ingest never wrote to it finds nothing
// and leaves the lake empty.
func TestWatermarksOfAnEmptyLakeCreateNoTable(t *testing.T) {
	dir := t.TempDir()
	l, err := lake.Open(t.Context(), dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wms, err := Watermarks(t.Context(), l, "g1")
	if err != nil || len(wms) != 0 {
		t.Fatalf("watermarks %v, %v; want none", wms, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("the lake holds %d entries after reading watermarks, first %s", len(ents), ents[0].Name())
	}
}

// TestWatermarksOfEveryGroup: without a group, Watermarks reads every
// group's appIds (the demo ingests as shelflake-demo, other commands
// default to shelflake-ingest); with one, only its own. A replay's appId
// ("<group>/replay/<topic>") is not a watermark.
func TestWatermarksOfEveryGroup(t *testing.T) {
	ctx := t.Context()
	l, err := lake.Open(ctx, t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dt, err := l.Table(ctx, schema.TablePOSLines())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 5, 10, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		group string
		part  int32
		to    int64
	}{{"shelflake-demo", 0, 7}, {"team/a", 1, 3}, {"shelflake-demo", 1, 5}} {
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fences := []delta.FenceRange{{AppID: AppID(c.group, schema.TopicPOS, c.part), To: c.to, First: true}}
		if i == 0 {
			fences = append(fences, delta.FenceRange{AppID: c.group + "/replay/" + schema.TopicPOS, To: 1, First: true})
		}
		if _, err := dt.Commit(ctx, snap, delta.Txn{Fences: fences, Info: map[string]any{InfoKey: map[string]any{
			"group": c.group, "watermarks": []any{map[string]any{"topic": schema.TopicPOS, "partition": c.part,
				"eventTime": t0.Add(time.Duration(i) * time.Hour).Format(time.RFC3339Nano)}},
		}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, group string
		want        []string // group/partition@offset@event hour
	}{
		{"every group", AllGroups, []string{"shelflake-demo/0@7@10", "shelflake-demo/1@5@12", "team/a/1@3@11"}},
		{"one group", "shelflake-demo", []string{"shelflake-demo/0@7@10", "shelflake-demo/1@5@12"}},
		{"a group with a slash", "team/a", []string{"team/a/1@3@11"}},
		{"a group that never ingested", "shelflake-ingest", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws, err := Watermarks(ctx, l, c.group)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				if w.Table != schema.TableNamePOSLines || w.Topic != schema.TopicPOS {
					t.Errorf("watermark %+v", w)
				}
				got = append(got, fmt.Sprintf("%s/%d@%d@%d", w.Group, w.Partition, w.Offset, w.EventTime.Hour()))
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("watermarks %v, want %v", got, c.want)
			}
		})
	}
}

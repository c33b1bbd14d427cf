package ingest

import (
	"os"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
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

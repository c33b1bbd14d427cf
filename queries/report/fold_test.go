package report

import (
	"testing"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// TestCompleteUpToIsAnEventTime: a table's "complete up to" never reads the
// wall clock a partition was drained at: drained partitions whose newest
// events are in the past make the table complete up to its newest event.
func TestCompleteUpToIsAnEventTime(t *testing.T) {
	t0 := time.Date(2026, 5, 5, 18, 0, 0, 0, time.UTC)
	today := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	h := time.Hour
	pos := schema.TableNamePOSLines
	for _, c := range []struct {
		name     string
		ws       []Watermark
		lateness time.Duration
		want     time.Time
	}{
		{"drained today, newest event in May: the newest event", []Watermark{
			{Table: pos, Partition: 0, EventTime: t0.Add(-3 * h), DrainedAt: today},
			{Table: pos, Partition: 1, EventTime: t0, DrainedAt: today},
		}, h, t0},
		{"one partition not drained: its event time minus the lateness", []Watermark{
			{Table: pos, Partition: 0, EventTime: t0.Add(-3 * h)},
			{Table: pos, Partition: 1, EventTime: t0, DrainedAt: today},
		}, h, t0.Add(-4 * h)},
		{"drained, without any event time: unknown", []Watermark{
			{Table: pos, Partition: 0, DrainedAt: today},
		}, 0, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &builder{o: Options{Watermarks: c.ws, Lateness: c.lateness}}
			src := Source{Table: pos}
			b.fold(&src)
			if !src.CompleteUpTo.Equal(c.want) || src.Partitions != len(c.ws) {
				t.Errorf("complete up to %s over %d partitions, want %s over %d", src.CompleteUpTo, src.Partitions, c.want, len(c.ws))
			}
		})
	}
}

package reconcile

import (
	"testing"

	"github.com/shelflake/shelflake/schema"
)

// days builds a series from per-day (snapshot, sold, received) triples;
// every day is open and has a closing snapshot.
func days(rows ...[3]int64) *Series {
	s := &Series{Location: "S1", SKU: "K1", From: schema.NewDate(2026, 3, 1)}
	for _, r := range rows {
		d := Day{Open: true, HasSnap: true, Snap: r[0], Sold: r[1], Received: r[2]}
		s.Days = append(s.Days, d)
	}
	return s
}

// steady is n days selling 2 a day from 200 on hand.
func steady(n int) [][3]int64 {
	var out [][3]int64
	for i := range n {
		out = append(out, [3]int64{200 - 2*int64(i), 2, 0})
	}
	return out
}

func TestDetect(t *testing.T) {
	base := steady(30) // on hand 142 after day 29
	with := func(extra ...[3]int64) *Series { return days(append(append([][3]int64{}, base...), extra...)...) }
	counted := with([3]int64{140, 2, 0}, [3]int64{138, 2, 0})
	counted.Days[31].HasCount, counted.Days[31].Count = true, 135 // 5 short of the expected 140
	counted.Days[31].Snap = 133
	overCounted := days(append(append([][3]int64{}, base...), [3]int64{150, 2, 0}, [3]int64{138, 2, 0})...)
	overCounted.Days[31].HasCount, overCounted.Days[31].Count = true, 140 // what POS explains, not the record's 150
	tests := []struct {
		name   string
		s      *Series
		reason string
		onset  int
		units  int64
		open   bool
	}{
		{"late POS caught up next day", with([3]int64{142, 2, 0}, [3]int64{138, 2, 0}), schema.ReasonTiming, 30, 2, false},
		{"late POS not caught up yet", with([3]int64{142, 2, 0}), schema.ReasonTiming, 30, 2, true},
		{"receipt booked, on hand did not move", with([3]int64{142, 0, 24}, [3]int64{140, 2, 0}), schema.ReasonReceiptMismatch, 30, -24, false},
		{"on hand rose with no receipt", with([3]int64{150, 2, 0}, [3]int64{148, 2, 0}), schema.ReasonOverstatedAfterCount, 30, 10, false},
		{"record rose, then nothing sold", with([3]int64{150, 2, 0}, [3]int64{150, 0, 0}), schema.ReasonOverstatedAfterCount, 30, 10, false},
		{"record rose, a count agrees with POS", overCounted, schema.ReasonOverstatedAfterCount, 30, 10, false},
		{"record fell with no sale", with([3]int64{130, 2, 0}, [3]int64{128, 2, 0}), schema.ReasonUnexplainedLoss, 30, -10, false},
		{"snapshot stood still while selling", with([3]int64{142, 2, 0}, [3]int64{142, 2, 0}, [3]int64{142, 2, 0}), schema.ReasonStaleSnapshot, 30, 4, true},
		{"count below the expectation", counted, schema.ReasonUnexplainedLoss, 31, 5, false},
		{"negative record", with([3]int64{-3, 145, 0}), schema.ReasonNegativeOnHand, 30, -3, true},
		{"no sale for a week at 2 a day", with([3]int64{142, 0, 0}, [3]int64{142, 0, 0}, [3]int64{142, 0, 0}, [3]int64{142, 0, 0},
			[3]int64{142, 0, 0}, [3]int64{142, 0, 0}), schema.ReasonPhantomStock, 30, 142, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *Finding
			fs := Detect(tc.s, Params{})
			for i := range fs {
				if fs[i].Reason == tc.reason {
					got = &fs[i]
				}
			}
			if got == nil {
				t.Fatalf("no %s finding in %+v", tc.reason, fs)
			}
			if got.Onset != tc.onset || got.Units != tc.units || got.Open != tc.open {
				t.Errorf("got onset %d units %d open %v, want %d %d %v (%s)", got.Onset, got.Units, got.Open, tc.onset, tc.units, tc.open, got.Evidence)
			}
			for _, f := range fs {
				if f.Reason != tc.reason && f.Reason != schema.ReasonNegativeOnHand {
					t.Errorf("also %s: %s", f.Reason, f.Evidence)
				}
			}
		})
	}
	if fs := Detect(days(steady(40)...), Params{}); len(fs) != 0 {
		t.Errorf("a clean series: %+v", fs)
	}
}

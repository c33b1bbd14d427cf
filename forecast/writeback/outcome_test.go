package writeback

import (
	"slices"
	"testing"
)

func TestCompareLinesAndApprovedDecision(t *testing.T) {
	d := &Document{Lines: []Line{{SKU: "B", Qty: 6}, {SKU: "A", Qty: 12}}}
	for _, tc := range []struct {
		name     string
		planner  map[string]int64
		want     []OutcomeLine
		decision string
	}{
		{"as suggested", map[string]int64{"A": 12, "B": 6},
			[]OutcomeLine{{"B", 6, 6}, {"A", 12, 12}}, OutcomeAccepted},
		{"quantity changed", map[string]int64{"A": 18, "B": 6},
			[]OutcomeLine{{"B", 6, 6}, {"A", 12, 18}}, OutcomeChanged},
		{"line removed", map[string]int64{"B": 6},
			[]OutcomeLine{{"B", 6, 6}, {"A", 12, 0}}, OutcomeChanged},
		{"lines added, by SKU after ours", map[string]int64{"A": 12, "B": 6, "D": 1, "C": 2},
			[]OutcomeLine{{"B", 6, 6}, {"A", 12, 12}, {"C", 0, 2}, {"D", 0, 1}}, OutcomeChanged},
		{"document gone", nil,
			[]OutcomeLine{{"B", 6, 0}, {"A", 12, 0}}, OutcomeChanged},
	} {
		got := CompareLines(d, tc.planner)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: lines %v, want %v", tc.name, got, tc.want)
		}
		if dec := ApprovedDecision(got); dec != tc.decision {
			t.Errorf("%s: decision %s, want %s", tc.name, dec, tc.decision)
		}
	}
}

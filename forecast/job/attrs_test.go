package job

import "testing"

func TestDeadItems(t *testing.T) {
	for _, c := range []struct {
		name                      string
		days, saleDays, sinceSale int32
		dead                      bool
	}{
		{"sold yesterday", 300, 100, 0, false},
		{"never sold", 300, 0, 300, false},
		{"a weekly seller silent for 60 days", 300, 34, 60, true},
		{"a weekly seller silent for 50 days: too recent", 300, 36, 50, false},
		{"a monthly seller silent for 60 days: within its rhythm", 300, 8, 60, false},
		{"a monthly seller silent for 130 days", 300, 6, 130, true},
		{"one sale 200 days into a 300-day history", 300, 1, 100, false},
		{"one sale 20 days in, silent since", 300, 1, 280, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := seriesAttr{days: c.days, saleDays: c.saleDays, sinceSale: c.sinceSale}
			if got := a.dead(); got != c.dead {
				t.Errorf("dead() = %v; want %v", got, c.dead)
			}
		})
	}
}

package schema

import "testing"

func TestMoneyFormatUsesMinorUnitsAndGroupsDigits(t *testing.T) {
	for _, c := range []struct {
		amount   string
		currency string
		want     string
	}{
		{"9596.2886", "EUR", "9,596.29 EUR"},
		{"8503.7993", "USD", "8,503.80 USD"},
		{"1820.3350", "GBP", "1,820.34 GBP"},
		{"0.0049", "EUR", "0.00 EUR"},
		{"0.005", "EUR", "0.01 EUR"},
		{"12", "EUR", "12.00 EUR"},
		{"999", "USD", "999.00 USD"},
		{"1000", "USD", "1,000.00 USD"},
		{"1234567.891", "USD", "1,234,567.89 USD"},
		{"120450.5", "JPY", "120,451 JPY"},
		{"999.4999", "JPY", "999 JPY"},
		{"1.2345", "KWD", "1.235 KWD"},
		{"-9596.2886", "EUR", "-9,596.29 EUR"},
		{"-0.001", "EUR", "0.00 EUR"},
		{"99999999999999.9999", "USD", "100,000,000,000,000.00 USD"},
	} {
		t.Run(c.amount+" "+c.currency, func(t *testing.T) {
			m, err := ParseMoney([]byte(c.amount))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Format(c.currency); got != c.want {
				t.Errorf("Format = %q, want %q", got, c.want)
			}
		})
	}
}

func TestMinorUnits(t *testing.T) {
	for code, want := range map[string]int{"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KRW": 0, "KWD": 3, "XYZ": 2} {
		if got := MinorUnits(code); got != want {
			t.Errorf("MinorUnits(%s) = %d, want %d", code, got, want)
		}
	}
}

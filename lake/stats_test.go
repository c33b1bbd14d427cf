package lake

import (
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/format"

	"github.com/shelflake/shelflake/schema"
)

func TestDecimalText(t *testing.T) {
	for _, c := range []struct {
		unscaled int64
		scale    int
		want     string
	}{
		{123400, 4, "12.3400"},
		{-1, 4, "-0.0001"},
		{0, 4, "0.0000"},
		{99999999999999999, 4, "9999999999999.9999"},
		{-9223372036854775808, 4, "-922337203685477.5808"},
		{42, 0, "42"},
	} {
		if got := decimalText(c.unscaled, c.scale); got != c.want {
			t.Errorf("decimalText(%d, %d) = %q, want %q", c.unscaled, c.scale, got, c.want)
		}
	}
}

func TestTimestampBoundsRoundOutwardToMilliseconds(t *testing.T) {
	micros := format.TimeUnit{Value: new(format.MicroSeconds)}
	for _, c := range []struct {
		name  string
		n     int64
		upper bool
		want  string
	}{
		{"a whole millisecond stays as is", 1_772_356_530_123_000, true, "2026-03-01T09:15:30.123Z"},
		{"a minimum rounds down", 1_772_356_530_123_456, false, "2026-03-01T09:15:30.123Z"},
		{"a maximum rounds up", 1_772_356_530_123_456, true, "2026-03-01T09:15:30.124Z"},
		{"a minimum before 1970 rounds down", -1_500, false, "1969-12-31T23:59:59.998Z"},
		{"a maximum before 1970 rounds up", -1_500, true, "1969-12-31T23:59:59.999Z"},
	} {
		got, ok := timestampJSON(c.n, micros, c.upper)
		if !ok || got != c.want {
			t.Errorf("%s: timestampJSON(%d, upper=%v) = %v, want %s", c.name, c.n, c.upper, got, c.want)
		}
	}
}

func TestStringBounds(t *testing.T) {
	long := strings.Repeat("é", 40)
	if got, ok := stringBound([]byte(long), false); !ok || got != strings.Repeat("é", 32) {
		t.Errorf("a long minimum = %v, %v; want its first 32 characters", got, ok)
	}
	if _, ok := stringBound([]byte(long), true); ok {
		t.Error("a long maximum was kept; cutting it would make it no upper bound")
	}
	if got, ok := stringBound([]byte("SKU-00042"), true); !ok || got != "SKU-00042" {
		t.Errorf("a short maximum = %v, %v", got, ok)
	}
	if _, ok := stringBound([]byte{0xff, 0xfe}, false); ok {
		t.Error("invalid UTF-8 was kept as a bound")
	}
}

func TestStatsOfAnAllNullColumnHaveOnlyANullCount(t *testing.T) {
	l, _ := localLake(t)
	rows := posLineRows(2, 500, day1)
	for i := range rows {
		rows[i].CustomerID = ""
	}
	adds, err := WriteFiles(t.Context(), l, schema.TablePOSLines(), day1, rows, WriteOptions{RowGroupRows: 200})
	if err != nil {
		t.Fatal(err)
	}
	st, err := adds[0].ParseStats()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.NullCount["customer_id"]; got == nil || got.(interface{ String() string }).String() != "500" {
		t.Errorf("customer_id nullCount = %v, want 500", got)
	}
	if _, ok := st.MinValues["customer_id"]; ok {
		t.Error("an all-null column has a minimum")
	}
	if _, ok := st.MaxValues["customer_id"]; ok {
		t.Error("an all-null column has a maximum")
	}
	if _, ok := st.MinValues["sku"]; !ok {
		t.Error("sku has no minimum")
	}
}

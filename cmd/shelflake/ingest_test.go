package main

import "testing"

func TestParseByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1048576", want: 1 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "64MB", want: 64e6},
		{in: "2GiB", want: 2 << 30},
		{in: "10k", want: 10 << 10},
		{in: "1.5 GiB", want: 3 << 29},
		{in: "12 parsecs", bad: true},
		{in: "MiB", bad: true},
		{in: "-1", bad: true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseByteSize(c.in)
			if c.bad != (err != nil) || got != c.want {
				t.Errorf("parseByteSize(%q) = %d, %v; want %d (error %v)", c.in, got, err, c.want, c.bad)
			}
		})
	}
}

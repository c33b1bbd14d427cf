package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// byteSize is a flag holding a byte count written as 1048576, 512MiB, 64MB,
// 2GiB, 10k…
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Type() string   { return "bytes" }

func (b *byteSize) Set(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t[:i]), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes like 512MiB", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1e3, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1e6, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1e9, "gib": 1 << 30,
	}[strings.ToLower(strings.TrimSpace(t[i:]))]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, t[i:])
	}
	return int64(n * mult), nil
}

// oldFlagNames maps flag names of earlier releases to the one name each
// concept has now: DuckDB's memory limit is --duckdb-memory in every
// command, compaction's sort budget --sort-memory, the days forecast or
// charted --horizon.
var oldFlagNames = map[string]string{
	"memory-limit": "duckdb-memory",
	"memory":       "sort-memory",
	"horizon-days": "horizon",
}

// acceptOldFlagNames makes cmd and its subcommands take the old names as
// the new ones; help shows the new names only.
func acceptOldFlagNames(cmd *cobra.Command) {
	norm := func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		if n, ok := oldFlagNames[name]; ok && f.Lookup(n) != nil {
			name = n
		}
		return pflag.NormalizedName(name)
	}
	cmd.SetGlobalNormalizationFunc(norm)
}

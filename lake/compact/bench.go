package compact

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// BenchOptions configure BenchQuery. The zero value is usable.
type BenchOptions struct {
	// Dir holds the benchmark's lake (and the world's truth). Default: a
	// temporary directory, removed at the end.
	Dir string
	// Seed, Stores, SKUs and Days size the generated world. Defaults 1, 10,
	// 100, 30.
	Seed               uint64
	Stores, SKUs, Days int
	// FlushEvery is how much world time each raw file covers: ingest's
	// freshness flush (every few seconds on a retailer's full stream; the
	// generated world is small, so a couple of its minutes give files as
	// small). Default 2 minutes: several hundred files per table and day.
	FlushEvery time.Duration
	// QueryDays is the analyst query's window. Default 30.
	QueryDays int
	// Runs is how many times each query runs; the fastest counts.
	// Default 3.
	Runs int
	// Logger. Default: discard.
	Logger *slog.Logger
}

// BenchResult is what BenchQuery measured, as `shelflake bench query
// --json` prints it.
type BenchResult struct {
	// RawSeconds and CompactedSeconds: the analyst query's time (fastest
	// run) in DuckDB over the raw small files and over the compacted files.
	RawSeconds       float64 `json:"raw_s"`
	CompactedSeconds float64 `json:"compacted_s"`
	// Speedup is RawSeconds / CompactedSeconds.
	Speedup float64 `json:"speedup"`
	// FilesBefore and FilesAfter count the live files of the tables the
	// query reads (pos_lines, item_locations, inventory_snapshots).
	FilesBefore int `json:"files_before"`
	FilesAfter  int `json:"files_after"`
	// CompactMBPerCPUSecond is compaction's throughput per core: MB (10^6
	// bytes) of small input files rewritten per CPU-second the process used
	// during the pass (getrusage: user + system), whatever the cores.
	CompactMBPerCPUSecond float64 `json:"compact_mb_per_cpu_s"`
	// CompactSeconds is the compaction pass's duration and CompactCPUSeconds
	// the CPU time it used; CompactMB its input and CompactOutMB its output;
	// Cores the partitions rewritten at once.
	CompactSeconds    float64 `json:"compact_s"`
	CompactCPUSeconds float64 `json:"compact_cpu_s"`
	CompactMB         float64 `json:"compact_mb"`
	CompactOutMB      float64 `json:"compact_out_mb"`
	Cores             int     `json:"cores"`
	// POSLines is the number of rows of pos_lines; ResultRows the query's
	// result rows (equal before and after, checked).
	POSLines   int64 `json:"pos_lines"`
	ResultRows int   `json:"result_rows"`
	// The world benchmarked.
	Stores int `json:"stores"`
	SKUs   int `json:"skus"`
	Days   int `json:"days"`
	// LoadSeconds is the time to generate the world and write the raw files.
	LoadSeconds float64 `json:"load_s"`
}

// sellThroughSQL is the analyst query: 30-day sell-through by store and
// category — units sold ÷ (units sold + on hand at the end of the window) —
// with net sales, joining pos_lines with item_locations (category) and
// inventory_snapshots (ending stock). %[1]s and %[2]s are the window's
// first and last days.
const sellThroughSQL = `
WITH sold AS (
	SELECT store_id, sku, sum(quantity) AS units, sum(quantity * unit_price - discount) AS net
	FROM pos_lines
	WHERE dt BETWEEN DATE '%[1]s' AND DATE '%[2]s' AND txn_type = 'sale'
	GROUP BY store_id, sku
),
item AS (
	SELECT location_id, sku, arg_max(category, updated_at) AS category
	FROM item_locations
	GROUP BY location_id, sku
),
stock AS (
	SELECT location_id, sku, arg_max(on_hand, as_of) AS on_hand
	FROM inventory_snapshots
	WHERE dt = DATE '%[2]s' AND kind = 'full'
	GROUP BY location_id, sku
)
SELECT s.store_id, i.category, sum(s.units) AS units_sold, sum(coalesce(k.on_hand, 0)) AS on_hand_end,
	round(sum(s.units) / nullif(sum(s.units) + sum(coalesce(k.on_hand, 0)), 0), 4) AS sell_through,
	sum(s.net) AS net_sales
FROM sold s
JOIN item i ON i.location_id = s.store_id AND i.sku = s.sku
LEFT JOIN stock k ON k.location_id = s.store_id AND k.sku = s.sku
GROUP BY s.store_id, i.category
ORDER BY s.store_id, i.category`

// BenchQuery measures what compaction buys an analyst: it generates a
// world, writes it into a local lake the way ingest does (a small file per
// table and dt every FlushEvery of world time), times the sell-through
// query in DuckDB over those raw files (views over the tables' live files,
// as `shelflake sql` makes them), compacts the lake (timing the pass), and
// times the same query over the compacted files, checking both give the
// same answer.
func BenchQuery(ctx context.Context, o BenchOptions) (BenchResult, error) {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Stores == 0 {
		o.Stores = 10
	}
	if o.SKUs == 0 {
		o.SKUs = 100
	}
	if o.Days == 0 {
		o.Days = 30
	}
	if o.FlushEvery == 0 {
		o.FlushEvery = 2 * time.Minute
	}
	if o.QueryDays == 0 {
		o.QueryDays = 30
	}
	if o.Runs == 0 {
		o.Runs = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueryDays > o.Days {
		return BenchResult{}, fmt.Errorf("bench: query window of %d days in a world of %d", o.QueryDays, o.Days)
	}
	res := BenchResult{Stores: o.Stores, SKUs: o.SKUs, Days: o.Days}
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "shelflake-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	l, err := lake.Open(ctx, filepath.Join(dir, "lake"), lake.Options{Logger: o.Logger})
	if err != nil {
		return res, err
	}
	defer l.Close()

	start := time.Now()
	cfg := world.Config{Seed: o.Seed, Stores: o.Stores, SKUs: o.SKUs, Days: o.Days}
	st, err := loadWorld(ctx, l, worldLoad{Config: cfg, FlushEvery: o.FlushEvery, TruthDir: filepath.Join(dir, "truth")})
	if err != nil {
		return res, fmt.Errorf("bench: load: %w", err)
	}
	res.LoadSeconds = time.Since(start).Seconds()
	res.POSLines = st.Rows[schema.TableNamePOSLines]
	first := world.DefaultStart
	if cfg.Start != 0 {
		first = cfg.Start
	}
	to := first.AddDays(o.Days - 1)
	from := to.AddDays(1 - o.QueryDays)
	query := fmt.Sprintf(sellThroughSQL, from, to)
	tables := []*schema.Table{schema.TablePOSLines(), schema.TableItemLocations(), schema.TableInventorySnapshots()}

	rawTime, rawFiles, rawAnswer, err := timeQuery(ctx, l, tables, query, o.Runs)
	if err != nil {
		return res, fmt.Errorf("bench: raw query: %w", err)
	}
	cores := runtime.GOMAXPROCS(0)
	c, err := New(l, Options{Logger: o.Logger, Concurrency: cores, TempDir: dir})
	if err != nil {
		return res, err
	}
	runtime.GC() // the load's garbage is not compaction's work
	cpu0 := cpuTime()
	crep, err := c.Compact(ctx)
	res.CompactCPUSeconds = (cpuTime() - cpu0).Seconds()
	if err != nil {
		return res, fmt.Errorf("bench: compact: %w", err)
	}
	compTime, compFiles, compAnswer, err := timeQuery(ctx, l, tables, query, o.Runs)
	if err != nil {
		return res, fmt.Errorf("bench: compacted query: %w", err)
	}
	if !slices.Equal(rawAnswer, compAnswer) {
		return res, errors.New("bench: the query answers differently after compaction")
	}
	res.RawSeconds, res.CompactedSeconds = rawTime.Seconds(), compTime.Seconds()
	res.Speedup = res.RawSeconds / res.CompactedSeconds
	res.FilesBefore, res.FilesAfter = rawFiles, compFiles
	res.CompactSeconds = crep.Duration.Seconds()
	res.CompactMB = float64(crep.BytesBefore) / 1e6
	res.CompactOutMB = float64(crep.BytesAfter) / 1e6
	res.Cores = cores
	res.CompactMBPerCPUSecond = res.CompactMB / res.CompactCPUSeconds
	res.ResultRows = len(rawAnswer)
	return res, nil
}

// timeQuery creates views over the tables' latest snapshots in a new
// DuckDB and runs query runs times; it returns the fastest run, the number
// of files the views cover, and the answer (rows as text).
func timeQuery(ctx context.Context, l *lake.Lake, tables []*schema.Table, query string, runs int) (best time.Duration, files int, answer []string, err error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, 0, nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "SET threads = "+strconv.Itoa(runtime.GOMAXPROCS(0))); err != nil {
		return 0, 0, nil, err
	}
	for _, t := range tables {
		dt, err := l.Table(ctx, t)
		if err != nil {
			return 0, 0, nil, err
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return 0, 0, nil, err
		}
		fs, release, err := l.LocalFiles(ctx, t.Name, snap, nil, nil)
		if err != nil {
			return 0, 0, nil, err
		}
		defer release()
		files += len(fs)
		scan, err := lake.DuckDBScan(t, fs)
		if err != nil {
			return 0, 0, nil, err
		}
		if _, err := db.ExecContext(ctx, "CREATE VIEW "+t.Name+" AS "+scan); err != nil {
			return 0, 0, nil, fmt.Errorf("view %s: %w", t.Name, err)
		}
	}
	for i := range runs {
		start := time.Now()
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			return 0, 0, nil, err
		}
		var out []string
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return 0, 0, nil, err
			}
			out = append(out, fmt.Sprint(vals...))
		}
		err = errors.Join(rows.Err(), rows.Close())
		if err != nil {
			return 0, 0, nil, err
		}
		d := time.Since(start)
		if i == 0 || d < best {
			best = d
		}
		answer = out
	}
	return best, files, answer, nil
}

// cpuTime is the CPU time (user + system) the process has used
// (getrusage).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

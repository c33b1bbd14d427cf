package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// backfillFigures are the backfill phase of `bench ingest`: the ingest of
// years of daily history (ingest.RunBackfillBench), then one
// `shelflake compact --unified` pass over its lake, run as a child process
// so its peak RSS is its own.
type backfillFigures struct {
	ingest.BackfillResult
	CompactSeconds    float64 `json:"compact_s"`
	CompactCPUSeconds float64 `json:"compact_cpu_s"`
	// CompactPeakRSSBytes is the compaction process's peak resident set.
	CompactPeakRSSBytes int64 `json:"compact_peak_rss_bytes"`
	// FilesAfterCompaction counts the live files per raw table after it.
	FilesAfterCompaction map[string]int `json:"files_after_compaction"`
}

// benchBackfill runs the backfill phase in dir.
func benchBackfill(ctx context.Context, a *app, cfg ingest.BackfillConfig, dir string) (*backfillFigures, error) {
	cfg.Dir = dir
	cfg.Logger = a.log
	res, err := ingest.RunBackfillBench(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out := &backfillFigures{BackfillResult: res}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// --quiet-after: the backfilled days are final; without it the pass
	// would wait an hour before touching them.
	cmd := exec.CommandContext(ctx, exe, "compact", "--lake", res.LakeDir, "--unified", "--quiet-after", "1ms",
		"--temp-dir", dir, "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("compact the backfill: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	out.CompactSeconds = time.Since(start).Seconds()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		out.CompactPeakRSSBytes = ru.Maxrss << 10 // kilobytes on Linux
		out.CompactCPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	l, err := lake.Open(ctx, res.LakeDir, lake.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	out.FilesAfterCompaction = map[string]int{}
	for _, t := range []*schema.Table{schema.TablePOSLines(), schema.TableInventorySnapshots()} {
		dt, err := l.Table(ctx, t)
		if err != nil {
			return nil, err
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		out.FilesAfterCompaction[t.Name] = snap.NumFiles()
	}
	return out, nil
}

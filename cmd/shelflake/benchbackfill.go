package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
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
	// CompactPeakRSSBytes is the compaction process's peak resident set,
	// sampled (see watchPeakRSS).
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
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("compact the backfill: %w", err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err = cmd.Wait()
	out.CompactPeakRSSBytes = peak()
	if err != nil {
		return nil, fmt.Errorf("compact the backfill: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	out.CompactSeconds = time.Since(start).Seconds()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
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

// watchPeakRSS samples a child's peak resident set (VmHWM in
// /proc/<pid>/status) every 5 ms until the returned function is called,
// which returns the last value read (0 where /proc has none). The child's
// rusage will not do: Linux carries the parent's peak into a child's
// ru_maxrss across fork and exec, so a child of this benchmark would
// report at least the ingest phase's peak.
func watchPeakRSS(pid int) func() int64 {
	var (
		peak atomic.Int64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(path); err == nil {
				if v := vmHWM(b); v > peak.Load() {
					peak.Store(v)
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); wg.Wait(); return peak.Load() }
}

// vmHWM returns the VmHWM line of a /proc status file in bytes (0 if absent).
func vmHWM(status []byte) int64 {
	for _, line := range bytes.Split(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

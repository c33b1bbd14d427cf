package ingest

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memWatch samples a `shelflake ingest --pprof` subprocess's resident set
// every 50 ms. At the highest sample above bound it saves what explains
// it: the Go heap profile at that moment (as of the last collection) (from the process's /debug/pprof/heap) and
// the kernel's account of its memory (/proc/PID/smaps_rollup: anonymous vs
// file pages, huge pages), which report prints into the test's log.
type memWatch struct {
	t     testing.TB
	p     *proc
	bound int64
	done  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	rssAt  int64 // the highest sample above bound (0: none was)
	at     time.Duration
	heap   []byte
	rollup []byte
	err    error
}

var servingRE = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

func watchMemory(t testing.TB, p *proc, bound int64) *memWatch {
	t.Helper()
	w := &memWatch{t: t, p: p, bound: bound, done: make(chan struct{})}
	var addr string
	waitUntil(t, 30*time.Second, 20*time.Millisecond, "the ingester's HTTP address in its log", func() bool {
		b, _ := os.ReadFile(p.log)
		if m := servingRE.FindSubmatch(b); m != nil {
			addr = string(m[1])
			return true
		}
		return p.exited()
	})
	start := time.Now()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			rss := procStatus(p, "VmRSS:")
			w.mu.Lock()
			last := w.rssAt
			w.mu.Unlock()
			if rss <= bound || rss < last+4<<20 {
				continue
			}
			// A new high (by 4 MiB) above the bound: what explains it.
			heap, err := fetchHeap(addr)
			rollup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p.cmd.Process.Pid))
			w.mu.Lock()
			w.rssAt, w.at, w.heap, w.rollup, w.err = rss, time.Since(start), heap, rollup, err
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *memWatch) stop() {
	close(w.done)
	w.wg.Wait()
}

// report logs what was saved when the bound was passed (and keeps the
// whole heap profile under $SHELFLAKE_ARTIFACTS for `go tool pprof`).
func (w *memWatch) report() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rssAt == 0 {
		w.t.Logf("no 50 ms sample saw RSS above %d MiB: the peak was shorter than a sample", w.bound>>20)
		return
	}
	w.t.Logf("RSS %d MiB at %v, above the bound %d MiB; smaps_rollup:\n%s", w.rssAt>>20, w.at.Round(time.Millisecond), w.bound>>20, w.rollup)
	if w.err != nil {
		w.t.Logf("heap profile: %v", w.err)
		return
	}
	if d := os.Getenv("SHELFLAKE_ARTIFACTS"); d != "" {
		path := filepath.Join(d, "ingest-memory-heap.txt")
		if err := os.MkdirAll(d, 0o755); err == nil && os.WriteFile(path, w.heap, 0o644) == nil {
			w.t.Logf("whole heap profile: %s", path)
		}
	}
	w.t.Logf("heap profile at that moment (largest in-use first, then runtime.MemStats):\n%s", heapSummary(w.heap, 8))
}

// fetchHeap reads the legacy text heap profile (debug=1: records sorted by
// bytes in use, runtime.MemStats at the end).
func fetchHeap(addr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?debug=1", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /debug/pprof/heap: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// heapSummary keeps a text heap profile's n records with the most bytes
// in use (each with its stack) and its MemStats lines ("# Name = value").
func heapSummary(b []byte, n int) string {
	type record struct {
		inuse int64
		lines []string
	}
	var (
		recs  []record
		stats []string
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case heapRecordRE.MatchString(line):
			m := heapRecordRE.FindStringSubmatch(line)
			v, _ := strconv.ParseInt(m[1], 10, 64)
			recs = append(recs, record{inuse: v, lines: []string{line[:strings.Index(line, " @")]}})
		case strings.HasPrefix(line, "#\t") && len(recs) > 0:
			if f := strings.Fields(line); len(f) >= 3 {
				r := &recs[len(recs)-1]
				r.lines = append(r.lines, "    "+f[2])
			}
		case strings.HasPrefix(line, "# ") && strings.Contains(line, " = ") && !strings.Contains(line, "PauseNs"):
			stats = append(stats, line)
		}
	}
	slices.SortStableFunc(recs, func(a, b record) int { return cmp.Compare(b.inuse, a.inuse) })
	var out []string
	for _, r := range recs[:min(n, len(recs))] {
		out = append(out, r.lines...)
	}
	return strings.Join(out, "\n") + "\n" + strings.Join(stats, "\n")
}

// heapRecordRE is a text heap profile's record header: objects and bytes
// in use, then [allocated objects: bytes] and the stack's addresses.
var heapRecordRE = regexp.MustCompile(`^\d+: (\d+) \[\d+: \d+\] @`)

// procStatus reads one kB field of /proc/PID/status, in bytes (0 if the
// process is gone).
func procStatus(p *proc, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

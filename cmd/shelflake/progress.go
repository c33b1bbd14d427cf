package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// progress reports a long job's advance: a redrawn bar on a terminal, and an
// slog line every few seconds otherwise. It is safe for concurrent use.
type progress struct {
	mu       sync.Mutex
	w        io.Writer // nil when not a terminal
	log      *slog.Logger
	label    string
	unit     string
	total    int64
	done     int64
	start    time.Time
	lastDraw time.Time
	every    time.Duration
}

// newProgress starts reporting a job of total units (0 if unknown).
func (a *app) newProgress(label, unit string, total int64) *progress {
	p := &progress{log: a.log, label: label, unit: unit, total: total, start: time.Now(), every: 5 * time.Second}
	if a.stderrIsTerminal() {
		p.w = a.stderr
		p.every = 100 * time.Millisecond
	}
	return p
}

// Add records n more units done.
func (p *progress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if now := time.Now(); now.Sub(p.lastDraw) >= p.every {
		p.lastDraw = now
		p.report(false)
	}
}

// SetTotal changes the expected total.
func (p *progress) SetTotal(total int64) {
	p.mu.Lock()
	p.total = total
	p.mu.Unlock()
}

// Finish draws the final state and ends the bar's line.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.report(true)
}

func (p *progress) report(final bool) {
	el := time.Since(p.start)
	rate := float64(p.done) / max(el.Seconds(), 1e-9)
	if p.w == nil {
		msg := "progress"
		if final {
			msg = "done"
		}
		p.log.Info(msg, "job", p.label, "done", p.done, "total", p.total, "unit", p.unit,
			"rate_per_s", int64(rate), "elapsed", el.Round(time.Millisecond))
		return
	}
	const width = 30
	bar := strings.Repeat(" ", width)
	pct := ""
	if p.total > 0 {
		f := min(float64(p.done)/float64(p.total), 1)
		n := int(f * width)
		bar = strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		pct = fmt.Sprintf(" %3.0f%%", f*100)
	}
	fmt.Fprintf(p.w, "\r%s [%s]%s %d/%d %s  %.0f/s  %s ", p.label, bar, pct, p.done, p.total, p.unit, rate, el.Round(100*time.Millisecond))
	if final {
		fmt.Fprintln(p.w)
	}
}

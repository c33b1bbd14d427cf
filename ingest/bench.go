package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// BenchConfig configures RunBench. Zero fields take their defaults.
type BenchConfig struct {
	// Transactions is how many POS transactions the throughput phase
	// ingests (default 200,000: about 130 MB of JSON).
	Transactions int
	// Dates is how many business dates they span (default 7).
	Dates int
	// Partitions of the topic (default 8).
	Partitions int32
	// Dir is where the benchmark's lakes go (one per run; required).
	Dir string
	// MaxBufferBytes and FlushInterval configure the ingester (defaults
	// as in Options).
	MaxBufferBytes int64
	FlushInterval  time.Duration
	// FreshnessRate is the steady rate, in events per second, of the
	// freshness phase (default 10,000; negative skips the phase), which
	// lasts FreshnessDuration (default 20s).
	FreshnessRate     int
	FreshnessDuration time.Duration
	// Logger receives progress (default: discard).
	Logger *slog.Logger
	// LakeOptions, when set, returns the options each run's lake (in
	// directory dir) is opened with, e.g. to publish Iceberg metadata after
	// each commit. Default: lake.Options{}.
	LakeOptions func(dir string) (lake.Options, error)
	// AfterIngest, when set, runs after the throughput phase with the
	// broker still up and holding the same records (topic schema.TopicPOS,
	// records documents of bytes bytes in all), e.g. to run a peer on
	// them. Its error ends the benchmark.
	AfterIngest func(ctx context.Context, broker string, records, bytes int64) error
}

// BenchResult is what RunBench measured.
type BenchResult struct {
	Transactions int64 `json:"transactions"`
	Lines        int64 `json:"lines"`
	// Bytes is the size of the POS JSON documents (record values).
	Bytes int64 `json:"bytes"`
	Cores int   `json:"cores"`

	// Throughput phase: the same records, first consumed without decoding
	// (consume only), then ingested into a fresh local lake with
	// exactly-once commits, each from the start of the topic.
	ConsumeOnlySeconds float64 `json:"consume_only_seconds"`
	ConsumeOnlyMBPerS  float64 `json:"consume_only_mb_per_s"`
	IngestSeconds      float64 `json:"ingest_seconds"`
	MBPerS             float64 `json:"mb_per_s"`
	// MBPerSPerCore is MB ingested per CPU-second the process used
	// (broker included, as for the consume-only figure).
	MBPerSPerCore            float64 `json:"mb_per_s_per_core"`
	ConsumeOnlyMBPerSPerCore float64 `json:"consume_only_mb_per_s_per_core"`
	LinesPerS                float64 `json:"lines_per_s"`
	RatioToConsumeOnly       float64 `json:"ratio_to_consume_only"`
	// PeakRSSBytes is the process's peak resident set (the embedded broker
	// and its copy of the records included); IngestPeakHeapBytes is the
	// peak growth of the Go heap while ingesting, over what it was before.
	PeakRSSBytes        int64 `json:"peak_rss_bytes"`
	IngestPeakHeapBytes int64 `json:"ingest_peak_heap_bytes"`

	// Freshness phase: events produced at a steady rate; freshness is the
	// time from an event's produce timestamp to the end of the commit that
	// made it visible in the lake.
	FreshnessRate   int     `json:"freshness_rate"`
	FreshnessEvents int     `json:"freshness_events"`
	FreshnessP50S   float64 `json:"freshness_p50_s"`
	FreshnessP99S   float64 `json:"freshness_p99_s"`
	FreshnessMaxS   float64 `json:"freshness_max_s"`
}

func (c *BenchConfig) setDefaults() {
	if c.Transactions == 0 {
		c.Transactions = 200_000
	}
	if c.Dates == 0 {
		c.Dates = 7
	}
	if c.Partitions == 0 {
		c.Partitions = 8
	}
	if c.FreshnessRate == 0 {
		c.FreshnessRate = 10_000
	}
	if c.FreshnessDuration == 0 {
		c.FreshnessDuration = 20 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// RunBench measures ingest end to end: an embedded broker (kfake, over
// loopback TCP) holding synthetic POS transactions, a consume-only
// baseline, the ingester writing a local lake with exactly-once commits,
// and the freshness of a steady stream. `shelflake bench ingest` and
// BenchmarkIngest both run it.
func RunBench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	cfg.setDefaults()
	var res BenchResult
	if cfg.Dir == "" {
		return res, errors.New("bench: no directory for the lakes")
	}
	res.Cores = runtime.GOMAXPROCS(0)
	log := cfg.Logger
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(cfg.Partitions, schema.Topics...),
		kfake.SeedTopics(cfg.Partitions, schema.TopicPOS+".dlq"),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
	)
	if err != nil {
		return res, fmt.Errorf("bench: broker: %w", err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]

	log.Info("bench: producing", "transactions", cfg.Transactions, "dates", cfg.Dates)
	tot, err := benchProduce(ctx, addr, cfg)
	if err != nil {
		return res, err
	}
	res.Transactions, res.Lines, res.Bytes = tot.Docs, tot.Lines, tot.Bytes
	mb := float64(tot.Bytes) / 1e6

	log.Info("bench: consuming only")
	cpu0 := cpuTime()
	start := time.Now()
	if err := benchConsumeOnly(ctx, addr, tot.Docs); err != nil {
		return res, err
	}
	res.ConsumeOnlySeconds = time.Since(start).Seconds()
	res.ConsumeOnlyMBPerS = mb / res.ConsumeOnlySeconds
	res.ConsumeOnlyMBPerSPerCore = mb / (cpuTime() - cpu0).Seconds()

	log.Info("bench: ingesting")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapInuse
	var peakHeap atomic.Uint64
	stopSampling := sampleHeap(&peakHeap)
	cpu0 = cpuTime()
	secs, err := benchIngest(ctx, addr, cfg)
	stopSampling()
	if err != nil {
		return res, err
	}
	res.IngestSeconds = secs
	res.MBPerS = mb / secs
	res.MBPerSPerCore = mb / (cpuTime() - cpu0).Seconds()
	res.LinesPerS = float64(tot.Lines) / secs
	res.RatioToConsumeOnly = res.MBPerS / res.ConsumeOnlyMBPerS
	res.IngestPeakHeapBytes = int64(peakHeap.Load()) - int64(heap0)

	if cfg.AfterIngest != nil {
		if err := cfg.AfterIngest(ctx, addr, tot.Docs, tot.Bytes); err != nil {
			return res, err
		}
	}

	if cfg.FreshnessRate > 0 {
		log.Info("bench: freshness", "rate", cfg.FreshnessRate, "duration", cfg.FreshnessDuration)
		if err := benchFreshness(ctx, addr, cfg, &res); err != nil {
			return res, err
		}
	}
	res.PeakRSSBytes = peakRSS()
	return res, nil
}

// benchProduce fills the POS topic with cfg.Transactions documents.
func benchProduce(ctx context.Context, addr string, cfg BenchConfig) (synthTotals, error) {
	var tot synthTotals
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return tot, err
	}
	defer cl.Close()
	s := newSynth(1)
	day0 := schema.NewDate(2025, 6, 1)
	var (
		mu       sync.Mutex
		firstErr error
	)
	for k := range int64(cfg.Transactions) {
		key, doc, t := s.pos(k, day0.AddDays(int(k%int64(cfg.Dates))))
		tot.add(t)
		cl.Produce(ctx, &kgo.Record{Topic: schema.TopicPOS, Key: key, Value: doc}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = cmpOr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return tot, err
	}
	if firstErr != nil {
		return tot, fmt.Errorf("bench: produce: %w", firstErr)
	}
	return tot, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// benchConsumeOnly reads n records of the POS topic from the start and
// touches nothing but their sizes.
func benchConsumeOnly(ctx context.Context, addr string, n int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(schema.TopicPOS),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	var got, bytes int64
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	_ = bytes
	return nil
}

// benchRun is an ingester of the benchmark on a fresh local lake.
type benchRun struct {
	ing     *Ingester
	l       *lake.Lake
	dir     string
	cancel  context.CancelFunc
	runErr  chan error
	commits chan struct{}
}

// startBenchIngest starts an ingester (group bench-<name>) on a fresh lake
// under cfg.Dir. onCommit, if set, sees every successful commit.
func startBenchIngest(ctx context.Context, addr string, cfg BenchConfig, name string, onCommit func(*table, []jobFence, time.Time)) (*benchRun, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "lake-"+name+"-")
	if err != nil {
		return nil, err
	}
	var lopts lake.Options
	if cfg.LakeOptions != nil {
		if lopts, err = cfg.LakeOptions(dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	l, err := lake.Open(ctx, dir, lopts)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	ing, err := New(rctx, Options{
		Kafka:          Kafka{Brokers: []string{addr}},
		Lake:           NewLake(l),
		Group:          "bench-" + name,
		FlushInterval:  cfg.FlushInterval,
		MaxBufferBytes: cfg.MaxBufferBytes,
		DisableDLQ:     true,
		SessionTimeout: 10 * time.Second,
		Logger:         cfg.Logger,
	})
	if err != nil {
		cancel()
		_ = l.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	r := &benchRun{ing: ing, l: l, dir: dir, cancel: cancel, runErr: make(chan error, 1), commits: make(chan struct{}, 1)}
	ing.onCommit = func(t *table, fs []jobFence, at time.Time) {
		if onCommit != nil {
			onCommit(t, fs, at)
		}
		select {
		case r.commits <- struct{}{}:
		default:
		}
	}
	go func() { r.runErr <- ing.Run(rctx) }()
	return r, nil
}

// waitCaughtUp waits until both POS tables committed every partition up to
// ends.
func (r *benchRun) waitCaughtUp(ctx context.Context, ends map[int32]int64) error {
	for !r.ing.caughtUp(ends) {
		select {
		case <-r.commits:
		case err := <-r.runErr:
			r.runErr <- err
			return fmt.Errorf("bench: ingester stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stop shuts the ingester down and removes its lake.
func (r *benchRun) stop() error {
	r.cancel()
	err := <-r.runErr
	_ = r.l.Close()
	_ = os.RemoveAll(r.dir)
	return err
}

// benchIngest ingests the POS topic into a fresh lake and returns how long
// it took to commit everything the topic held.
func benchIngest(ctx context.Context, addr string, cfg BenchConfig) (float64, error) {
	ends, err := endOffsets(ctx, addr)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	r, err := startBenchIngest(ctx, addr, cfg, "throughput", nil)
	if err != nil {
		return 0, err
	}
	if err := r.waitCaughtUp(ctx, ends); err != nil {
		_ = r.stop()
		return 0, err
	}
	secs := time.Since(start).Seconds()
	return secs, r.stop()
}

// endOffsets returns the POS topic's end offset per non-empty partition.
func endOffsets(ctx context.Context, addr string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, schema.TopicPOS)
	if err != nil {
		return nil, fmt.Errorf("bench: list offsets: %w", err)
	}
	ends := map[int32]int64{}
	var lerr error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = o.Err
		}
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
		}
	})
	return ends, lerr
}

// caughtUp reports whether both POS tables committed every partition up to
// ends.
func (i *Ingester) caughtUp(ends map[int32]int64) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for p, end := range ends {
		ps := i.parts[tp{i.o.Topics.POS, p}]
		if ps == nil || ps.pos[0].committed < end || ps.pos[1].committed < end {
			return false
		}
	}
	return true
}

// benchFreshness produces at a steady rate while an ingester runs with the
// configured flush interval, and measures, per event, the time from its
// produce timestamp to the end of the commit that made it visible.
func benchFreshness(ctx context.Context, addr string, cfg BenchConfig, res *BenchResult) error {
	type commit struct {
		fs []jobFence
		at time.Time
	}
	var (
		mu      sync.Mutex
		commits []commit
	)
	onCommit := func(t *table, fs []jobFence, at time.Time) {
		if t.id == tablePOS {
			mu.Lock()
			commits = append(commits, commit{fs, at})
			mu.Unlock()
		}
	}
	// The topic already holds the throughput records: this ingester
	// catches up on them before the steady stream starts.
	ends, err := endOffsets(ctx, addr)
	if err != nil {
		return err
	}
	r, err := startBenchIngest(ctx, addr, cfg, "freshness", onCommit)
	if err != nil {
		return err
	}
	defer func() { _ = r.stop() }()
	if err := r.waitCaughtUp(ctx, ends); err != nil {
		return err
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	type key struct {
		p int32
		o int64
	}
	produced := map[key]time.Time{}
	var (
		pmu sync.Mutex
		wg  sync.WaitGroup
		n   int64
	)
	s := newSynth(99)
	day0 := schema.NewDate(2025, 7, 1)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	perTick := max(cfg.FreshnessRate/100, 1)
	deadline := time.Now().Add(cfg.FreshnessDuration)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		for range perTick {
			k, doc, _ := s.pos(n, day0.AddDays(int(n%3)))
			n++
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: schema.TopicPOS, Key: k, Value: doc, Timestamp: time.Now()}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					pmu.Lock()
					produced[key{r.Partition, r.Offset}] = r.Timestamp
					pmu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if ends, err = endOffsets(ctx, addr); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 4*cfg.flushInterval()+30*time.Second)
	defer cancel()
	if err := r.waitCaughtUp(wctx, ends); err != nil {
		return fmt.Errorf("bench: the steady stream did not become visible: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var lat []float64
	for _, c := range commits {
		for _, f := range c.fs {
			for o := f.from; o < f.to; o++ {
				if ts, ok := produced[key{f.partition, o}]; ok {
					lat = append(lat, c.at.Sub(ts).Seconds())
					delete(produced, key{f.partition, o})
				}
			}
		}
	}
	if len(produced) > 0 {
		return fmt.Errorf("bench: %d of %d events never became visible", len(produced), n)
	}
	slices.Sort(lat)
	res.FreshnessRate = cfg.FreshnessRate
	res.FreshnessEvents = len(lat)
	if len(lat) > 0 {
		res.FreshnessP50S = lat[len(lat)*50/100]
		res.FreshnessP99S = lat[min(len(lat)*99/100, len(lat)-1)]
		res.FreshnessMaxS = lat[len(lat)-1]
	}
	return nil
}

func (c *BenchConfig) flushInterval() time.Duration {
	if c.FlushInterval > 0 {
		return c.FlushInterval
	}
	return DefaultFlushInterval
}

// sampleHeap records the peak HeapInuse every 20ms until stopped.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident set size.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10 // kilobytes on Linux
}

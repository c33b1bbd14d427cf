package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the world's stores have time zones; the binary carries them

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

type genOpts struct {
	seed    uint64
	stores  int
	skus    int
	days    int
	dcs     int
	world   string
	start   string
	badRate float64
	out     string
	brokers string
	truth   string
	rate    float64
	workers int
	faults  bool
}

// defaultLiveTruth is where the ground truth goes when records go only to
// Kafka and --truth is not given.
const defaultLiveTruth = "shelflake-truth"

// maxGenDCs is the most distribution centres gen simulates.
const maxGenDCs = 4

func newGenCmd(a *app) *cobra.Command {
	o := genOpts{}
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate a synthetic retail world's POS and ERP streams, and its ground truth",
		Long: `gen simulates stores and distribution centres selling and replenishing a
catalogue of SKUs, and publishes what their systems would: POS transactions,
inventory snapshots, purchase-order line states, item-location parameters and
the promotion calendar, as JSON, to JSONL files (--out DIR: DIR/<topic>.jsonl) and/or Kafka (--brokers).
Same seed and flags give byte-identical output.

It also writes the ground truth to --truth (default DIR/truth): true daily
demand per store-SKU including what stockouts hid (demand.csv), the malformed
records it sent (malformed.jsonl), the world (world.json) and summary.json:
{"topics": {"<topic>": {"valid": N, "malformed": M}}, "pos_lines": L,
"pos_quantity": Q}, Q being the plain sum of quantity over valid POS lines of
all types (returns negative).

By default it backfills as fast as it can, with world times from --start. With
--rate N it streams live: N records a second, each stamped with the wall clock
(business dates follow), until the world's days run out or it is interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runGen(cmd.Context(), o, cmd.Flags().Changed("start"))
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.seed, "seed", 1, "random seed: same seed and flags, same output")
	f.IntVar(&o.stores, "stores", 20, "number of stores")
	f.IntVar(&o.skus, "skus", 200, "number of SKUs (every location carries all)")
	f.IntVar(&o.days, "days", 120, "number of business days")
	f.IntVar(&o.dcs, "dcs", 0, "number of distribution centres (0: one per 8 stores, 1..4)")
	f.StringVar(&o.world, "world", "classic", "classic, or hard: promotion response non-linear and per store, promotions moved or cancelled after publication, store promotions, moving holidays, level shifts, negative binomial demand (world.Config.Hard)")
	f.StringVar(&o.start, "start", world.DefaultStart.String(), "first business day, YYYY-MM-DD (live mode: today unless given)")
	f.Float64Var(&o.badRate, "bad-rate", 0.001, "chance each valid record is followed by a malformed one (0..0.5)")
	f.StringVar(&o.out, "out", "", "write DIR/<topic>.jsonl, one record value per line")
	f.StringVar(&o.brokers, "brokers", "", "produce to these Kafka brokers, host:port[,host:port] (env SHELFLAKE_BROKERS when --out is not given either)")
	f.StringVar(&o.truth, "truth", "", "ground-truth directory (default: <out>/truth, or ./"+defaultLiveTruth+" with --brokers alone)")
	f.Float64Var(&o.rate, "rate", 0, "live mode: records per second with event times = now (0: backfill)")
	f.IntVar(&o.workers, "workers", 0, "goroutines simulating locations (0: GOMAXPROCS)")
	f.BoolVar(&o.faults, "faults", false, "inject stock-record faults (shrink, phantom stock, receipt errors, late POS, stale snapshots, cycle counts); truth in faults.jsonl")
	return cmd
}

func (a *app) runGen(ctx context.Context, o genOpts, startGiven bool) error {
	for _, c := range []struct {
		flag   string
		v, max int
	}{{"--stores", o.stores, world.MaxStores}, {"--skus", o.skus, world.MaxSKUs}, {"--days", o.days, world.MaxDays}} {
		if c.v < 1 || c.v > c.max {
			return fmt.Errorf("%s %d: want 1..%d", c.flag, c.v, c.max)
		}
	}
	if o.dcs < 0 || o.dcs > maxGenDCs {
		return fmt.Errorf("--dcs %d: want 1..%d, or 0 for one per 8 stores", o.dcs, maxGenDCs)
	}
	if o.world != "classic" && o.world != "hard" {
		return fmt.Errorf("--world %q: want classic or hard", o.world)
	}
	if o.brokers == "" && o.out == "" {
		o.brokers = os.Getenv("SHELFLAKE_BROKERS")
	}
	if o.out == "" && o.brokers == "" {
		return errors.New("say where to write: --out DIR and/or --brokers HOST:PORT")
	}
	if o.truth == "" {
		if o.out != "" {
			o.truth = filepath.Join(o.out, "truth")
		} else {
			o.truth = defaultLiveTruth
			a.log.Info("ground truth goes to the default directory; set --truth to change it", "dir", o.truth)
		}
	}
	start, err := schema.ParseDate(o.start)
	if err != nil {
		return fmt.Errorf("--start: %w", err)
	}
	if o.rate > 0 && !startGiven {
		start = schema.DateOf(time.Now().UTC())
	}
	cfg := world.Config{Seed: o.seed, Stores: o.stores, SKUs: o.skus, Days: o.days, Start: start, DCs: o.dcs, Hard: o.world == "hard"}
	if o.faults {
		cfg.Faults = world.DefaultFaults() // truth in <truth>/faults.jsonl
	}
	w, err := world.New(cfg)
	if err != nil {
		return err
	}

	var sinks multiSink
	var dir *world.DirSink
	if o.out != "" {
		if dir, err = world.NewDirSink(o.out); err != nil {
			return err
		}
		sinks = append(sinks, dir)
	}
	if o.brokers != "" {
		ks, err := newKafkaSink(ctx, strings.Split(o.brokers, ","))
		if err != nil {
			if dir != nil {
				dir.Abort()
			}
			return err
		}
		defer ks.Close()
		sinks = append(sinks, ks)
	}

	locDays := int64(len(w.Locations()) * w.Days())
	prog := a.newProgress("gen", "location-days", locDays)
	began := time.Now()
	sum, genErr := w.Generate(ctx, world.GenerateOptions{
		Sink: sinks, TruthDir: o.truth, BadRate: o.badRate, Rate: o.rate,
		Workers: o.workers, Progress: prog,
	})
	prog.Finish()
	// An interrupted live stream keeps what it sent; a failed backfill leaves
	// no stream files behind.
	stopped := o.rate > 0 && sum != nil && errors.Is(genErr, context.Canceled)
	if dir != nil {
		if genErr != nil && !stopped {
			dir.Abort()
		} else if err := dir.Close(); err != nil {
			return errors.Join(genErr, err)
		}
	}
	if genErr != nil && !stopped {
		return genErr
	}
	if stopped {
		a.log.Info("live generation stopped", "truth", o.truth)
	}
	var valid, bad int64
	for _, t := range schema.Topics {
		c := sum.Topics[t]
		valid += c.Valid
		bad += c.Malformed
		fmt.Fprintf(a.stdout, "%-22s %10d valid %8d malformed\n", t, c.Valid, c.Malformed)
	}
	fmt.Fprintf(a.stdout, "%-22s %10d lines, quantity %d\n", "pos lines", sum.POSLines, sum.POSQuantity)
	fmt.Fprintf(a.stdout, "%-22s %10d demanded, %d sold, %d lost to stockouts\n", "store units", sum.StoreDemand, sum.StoreSold, sum.StoreLost)
	a.log.Info("generated", "records", valid+bad, "malformed", bad, "out", o.out, "brokers", o.brokers,
		"truth", o.truth, "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

// multiSink writes to every sink in turn.
type multiSink []world.Sink

func (m multiSink) Write(ctx context.Context, recs []world.Record) error {
	for _, s := range m {
		if err := s.Write(ctx, recs); err != nil {
			return err
		}
	}
	return nil
}

func (m multiSink) Flush(ctx context.Context) error {
	for _, s := range m {
		if err := s.Flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// kafkaSink produces records with an idempotent, batching franz-go producer,
// keyed as the world keys them (store_id, location_id, sku). Records are produced
// under a context detached from the generation's, so an interrupted run still
// delivers what it handed over when it flushes.
type kafkaSink struct {
	cl     *kgo.Client
	recCtx context.Context
	mu     sync.Mutex
	err    error
}

func newKafkaSink(ctx context.Context, brokers []string) (*kafkaSink, error) {
	if err := ingest.ProbeKafka(ctx, ingest.Kafka{Brokers: brokers}, ingest.DefaultProbeTimeout); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.MaxBufferedRecords(50_000),
		kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.AllowAutoTopicCreation(),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", brokers, err)
	}
	return &kafkaSink{cl: cl, recCtx: context.WithoutCancel(ctx)}, nil
}

func (s *kafkaSink) Write(ctx context.Context, recs []world.Record) error {
	for i := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.firstErr(); err != nil {
			return err
		}
		r := &recs[i]
		s.cl.Produce(s.recCtx, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}, s.done)
	}
	return s.firstErr()
}

func (s *kafkaSink) done(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = fmt.Errorf("produce to %s: %w", r.Topic, err)
	}
	s.mu.Unlock()
}

func (s *kafkaSink) firstErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *kafkaSink) Flush(ctx context.Context) error {
	if err := s.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush kafka producer: %w", err)
	}
	return s.firstErr()
}

func (s *kafkaSink) Close() { s.cl.Close() }

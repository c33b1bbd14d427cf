package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
)

// kafkaFlags are the connection flags of commands that talk to the brokers.
type kafkaFlags struct {
	brokers       []string
	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	tlsInsecure   bool
	saslMechanism string
	saslUser      string
	saslPassword  string
}

func (k *kafkaFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&k.brokers, "brokers", strings.Split(envOr("SHELFLAKE_BROKERS", "127.0.0.1:9092"), ","), "Kafka seed brokers, host:port (env SHELFLAKE_BROKERS)")
	f.BoolVar(&k.tls, "tls", envOr("SHELFLAKE_KAFKA_TLS", "") == "true", "connect to the brokers over TLS (implied by the other --tls-* flags; env SHELFLAKE_KAFKA_TLS=true)")
	f.StringVar(&k.tlsCA, "tls-ca", envOr("SHELFLAKE_KAFKA_TLS_CA", ""), "PEM file of the CAs to trust (default: the system's; env SHELFLAKE_KAFKA_TLS_CA)")
	f.StringVar(&k.tlsCert, "tls-cert", envOr("SHELFLAKE_KAFKA_TLS_CERT", ""), "PEM client certificate, for mutual TLS (env SHELFLAKE_KAFKA_TLS_CERT)")
	f.StringVar(&k.tlsKey, "tls-key", envOr("SHELFLAKE_KAFKA_TLS_KEY", ""), "PEM key of --tls-cert (env SHELFLAKE_KAFKA_TLS_KEY)")
	f.StringVar(&k.tlsServerName, "tls-server-name", "", "server name to verify (default: the broker's host)")
	f.BoolVar(&k.tlsInsecure, "tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only)")
	f.StringVar(&k.saslMechanism, "sasl-mechanism", envOr("SHELFLAKE_SASL_MECHANISM", ""), "SASL mechanism: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN (env SHELFLAKE_SASL_MECHANISM)")
	f.StringVar(&k.saslUser, "sasl-user", envOr("SHELFLAKE_SASL_USER", ""), "SASL user (env SHELFLAKE_SASL_USER)")
	f.StringVar(&k.saslPassword, "sasl-password", "", "SASL password (prefer env SHELFLAKE_SASL_PASSWORD, which is used when this is empty)")
}

// kafka turns the flags into ingest's connection settings.
func (k *kafkaFlags) kafka() (ingest.Kafka, error) {
	out := ingest.Kafka{}
	for _, b := range k.brokers {
		if b = strings.TrimSpace(b); b != "" {
			out.Brokers = append(out.Brokers, b)
		}
	}
	if len(out.Brokers) == 0 {
		return out, errors.New("--brokers: none given")
	}
	if k.tls || k.tlsCA != "" || k.tlsCert != "" || k.tlsInsecure || k.tlsServerName != "" {
		c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.tlsServerName, InsecureSkipVerify: k.tlsInsecure} //nolint:gosec // opt-in flag
		if k.tlsCA != "" {
			pem, err := os.ReadFile(k.tlsCA)
			if err != nil {
				return out, fmt.Errorf("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return out, fmt.Errorf("--tls-ca %s: no PEM certificates", k.tlsCA)
			}
			c.RootCAs = pool
		}
		if (k.tlsCert == "") != (k.tlsKey == "") {
			return out, errors.New("--tls-cert and --tls-key go together")
		}
		if k.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(k.tlsCert, k.tlsKey)
			if err != nil {
				return out, fmt.Errorf("--tls-cert: %w", err)
			}
			c.Certificates = []tls.Certificate{cert}
		}
		out.TLS = c
	}
	pass := k.saslPassword
	if pass == "" {
		pass = os.Getenv("SHELFLAKE_SASL_PASSWORD")
	}
	var m sasl.Mechanism
	switch strings.ToUpper(k.saslMechanism) {
	case "":
		return out, nil
	case "SCRAM-SHA-256":
		m = scram.Auth{User: k.saslUser, Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		m = scram.Auth{User: k.saslUser, Pass: pass}.AsSha512Mechanism()
	case "PLAIN":
		m = plain.Auth{User: k.saslUser, Pass: pass}.AsMechanism()
	default:
		return out, fmt.Errorf("--sasl-mechanism %q: want SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN", k.saslMechanism)
	}
	if k.saslUser == "" {
		return out, errors.New("--sasl-user is required with --sasl-mechanism")
	}
	out.SASL = m
	return out, nil
}

type ingestFlags struct {
	kafka            kafkaFlags
	lake             string
	group            string
	http             string
	pprof            bool
	flushInterval    time.Duration
	maxBufferBytes   byteSize
	fileBytes        byteSize
	shutdownTimeout  time.Duration
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	flushWorkers     int
	newGroupOK       bool
	topics           ingest.Topics
}

func newIngestCmd(a *app) *cobra.Command {
	o := ingestFlags{maxBufferBytes: ingest.DefaultMaxBufferBytes, fileBytes: ingest.DefaultFileBytes}
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Stream the POS and ERP topics into the lake, exactly once, until interrupted",
		Long: `ingest is shelflake's always-on service: it consumes the input topics in one
consumer group, decodes and validates every record, and writes the rows to the
lake's Delta tables in exactly-once commits fenced by Kafka offsets. Rejected
records go to the rejects table and to <topic>.dlq. Several instances in one
group share the partitions. SIGTERM flushes, commits and leaves the group
within --shutdown-timeout. Metrics, /healthz and /readyz are served on --http.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runIngest(cmd.Context(), a, o) },
	}
	cmd.AddCommand(newWatermarksCmd(a))
	o.kafka.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory, file:///path or s3://bucket/prefix?endpoint=… (env SHELFLAKE_LAKE)")
	f.StringVar(&o.group, "group", envOr("SHELFLAKE_GROUP", ingest.DefaultGroup), "consumer group; also names the lake's offset records, so changing it starts over (env SHELFLAKE_GROUP)")
	f.StringVar(&o.http, "http", envOr("SHELFLAKE_HTTP", "127.0.0.1:9464"), "address for /metrics, /healthz and /readyz (empty: none; env SHELFLAKE_HTTP)")
	f.BoolVar(&o.pprof, "pprof", false, "also serve Go's profiles under /debug/pprof/ on --http (heap, goroutines, CPU)")
	f.DurationVar(&o.flushInterval, "flush-interval", ingest.DefaultFlushInterval, "freshness bound: commit what a table holds at least this often")
	f.Var(&o.maxBufferBytes, "max-buffer-bytes", "memory budget for rows not yet committed (e.g. 512MiB)")
	f.Var(&o.fileBytes, "file-bytes", "flush a table when its buffer (all dates) holds this much (e.g. 128MiB; at most an eighth of --max-buffer-bytes)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", ingest.DefaultShutdownTimeout, "deadline to flush, commit and leave the group on SIGTERM")
	f.DurationVar(&o.sessionTimeout, "session-timeout", ingest.DefaultSessionTimeout, "consumer group session timeout")
	f.DurationVar(&o.rebalanceTimeout, "rebalance-timeout", ingest.DefaultRebalanceTimeout, "consumer group rebalance timeout (also bounds the flush on revoke)")
	f.BoolVar(&o.newGroupOK, "new-group-ok", false, "start a --group that has no offsets in a lake that another group wrote (it re-ingests the retained topics)")
	f.IntVar(&o.flushWorkers, "flush-workers", ingest.DefaultFlushWorkers, "files encoded and uploaded at once")
	f.StringVar(&o.topics.POS, "topic-pos", envOr("SHELFLAKE_TOPIC_POS", ""), "POS transactions topic (default pos.transactions)")
	f.StringVar(&o.topics.Inventory, "topic-inventory", envOr("SHELFLAKE_TOPIC_INVENTORY", ""), "inventory snapshots topic (default erp.inventory)")
	f.StringVar(&o.topics.PurchaseOrder, "topic-purchase-orders", envOr("SHELFLAKE_TOPIC_PURCHASE_ORDERS", ""), "purchase orders topic (default erp.purchase_orders)")
	f.StringVar(&o.topics.ItemLocation, "topic-item-locations", envOr("SHELFLAKE_TOPIC_ITEM_LOCATIONS", ""), "item locations topic (default erp.item_locations)")
	f.StringVar(&o.topics.Promotion, "topic-promotions", envOr("SHELFLAKE_TOPIC_PROMOTIONS", ""), "promotions topic (default erp.promotions)")
	return cmd
}

func runIngest(ctx context.Context, a *app, o ingestFlags) error {
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	k, err := o.kafka.kafka()
	if err != nil {
		return err
	}
	// The buffer budget bounds the rows; the Go heap around them is kept
	// close to its live size by a soft memory limit (unless GOMEMLIMIT says
	// otherwise): without it the collector lets the heap grow to twice
	// what is live.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(o.maxBufferBytes) + ingestMemoryOverhead)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lopts, icebergDone, err := withIceberg(o.lake, lake.Options{Logger: a.log, Registerer: reg})
	if err != nil {
		return err
	}
	l, err := lake.Open(ctx, o.lake, lopts)
	if err != nil {
		return fmt.Errorf("open lake %s: %w", o.lake, err)
	}
	defer l.Close()
	defer icebergDone() // before the lake closes (defers run last first)
	ing, err := ingest.New(ctx, ingest.Options{
		Kafka:            k,
		Lake:             ingest.NewLake(l),
		Group:            o.group,
		Topics:           o.topics,
		FlushInterval:    o.flushInterval,
		MaxBufferBytes:   int64(o.maxBufferBytes),
		FileBytes:        int64(o.fileBytes),
		ShutdownTimeout:  o.shutdownTimeout,
		SessionTimeout:   o.sessionTimeout,
		RebalanceTimeout: o.rebalanceTimeout,
		FlushWorkers:     o.flushWorkers,
		NewGroupOK:       o.newGroupOK,
		Logger:           a.log,
		Registerer:       reg,
	})
	if err != nil {
		return err
	}
	if o.http != "" {
		ln, err := net.Listen("tcp", o.http)
		if err != nil {
			return fmt.Errorf("--http %s: %w", o.http, err)
		}
		var h http.Handler = ing.Handler(reg)
		if o.pprof {
			h = withPprof(h)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server", "err", err)
			}
		}()
		a.log.Info("serving metrics", "addr", ln.Addr().String())
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	// A canceled context is how Run is told to stop: after a clean shutdown
	// the command succeeds.
	return ing.Run(ctx)
}

type watermarksFlags struct {
	lake     string
	brokers  []string
	group    string
	lateness time.Duration
	json     bool
}

func newWatermarksCmd(a *app) *cobra.Command {
	var o watermarksFlags
	cmd := &cobra.Command{
		Use:   "watermarks",
		Short: "Show how complete the lake is: per table and source partition, the offset and event time committed",
		Long: `watermarks reads, for every table ingest writes and every source partition of
the consumer group, the offset the table holds every record below (its Delta
txn version) and the newest event time committed (from the commits'
commitInfo). A table is complete up to the minimum of those event times over
its partitions (a partition consumed to its end does not hold it back), minus
how late producers may send an event (--lateness), and never later than the
newest event the table holds: an event time, never the wall clock. It says
whether yesterday is final.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.lake == "" {
				return errors.New("--lake is required (or SHELFLAKE_LAKE)")
			}
			l, err := openLake(cmd.Context(), o.lake, lake.Options{Logger: a.log, ReadOnly: true})
			if err != nil {
				return err
			}
			defer l.Close()
			ws, err := ingest.Watermarks(cmd.Context(), l, o.group)
			if err != nil {
				return err
			}
			if len(o.brokers) > 0 {
				if err := markDrained(cmd.Context(), ws, o.brokers); err != nil {
					return err
				}
			}
			complete := ingest.Complete(ws, o.lateness)
			if o.json {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"watermarks": ws, "complete_up_to": complete})
			}
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tGROUP\tTOPIC\tPARTITION\tOFFSET\tEVENT TIME\tDRAINED AT\tCOMMITTED AT")
			for _, w := range ws {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", w.Table, w.Group, w.Topic, w.Partition, w.Offset,
					fmtTime(w.EventTime), fmtTime(w.DrainedAt), fmtTime(w.CommittedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			tables := make([]string, 0, len(complete))
			for t := range complete {
				tables = append(tables, t)
			}
			sort.Strings(tables)
			for _, t := range tables {
				fmt.Fprintf(a.stdout, "%s is complete up to %s (lateness %v)\n", t, fmtTime(complete[t]), o.lateness)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI (env SHELFLAKE_LAKE)")
	f.StringVar(&o.group, "group", envOr("SHELFLAKE_GROUP", ingest.AllGroups), "the ingest consumer group (env SHELFLAKE_GROUP; default: every group that ingested into the lake)")
	f.DurationVar(&o.lateness, "lateness", 0, "how late producers may send an event")
	f.StringSliceVar(&o.brokers, "brokers", splitList(envOr("SHELFLAKE_BROKERS", "")), "also ask these brokers for the end offsets: a partition the lake holds entirely counts as drained now (env SHELFLAKE_BROKERS)")
	f.BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// markDrained lists the topics' end offsets and marks the watermarks whose
// partition the lake holds entirely.
func markDrained(ctx context.Context, ws []ingest.Watermark, brokers []string) error {
	topics := map[string]bool{}
	for _, w := range ws {
		topics[w.Topic] = true
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	if err := ingest.ProbeKafka(ctx, ingest.Kafka{Brokers: brokers}, ingest.DefaultProbeTimeout); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	at := time.Now()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	ends := map[string]map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		if ends[o.Topic] == nil {
			ends[o.Topic] = map[int32]int64{}
		}
		ends[o.Topic][o.Partition] = o.Offset
	})
	ingest.MarkDrained(ws, ends, at)
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// ingestMemoryOverhead is the memory an ingester needs beyond its buffer
// budget: the Go runtime and binary, franz-go's fetch buffers, and the
// Parquet encoders of the flushes in progress.
const ingestMemoryOverhead = 64 << 20

// withPprof serves net/http/pprof's profiles under /debug/pprof/ beside h.
// They are off by default: a profile shows the process's internals to
// whoever can reach the port.
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

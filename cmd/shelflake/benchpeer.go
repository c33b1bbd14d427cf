package main

// The peer of `shelflake bench ingest --peer`: Benthos v4.27.0 (MIT), a
// widely used Go stream processor, built from the Go module proxy in its own
// module (tools/peer) and run as a child process on the same records from
// the same embedded broker, after shelflake's own ingest: kafka_franz input
// -> mapping (types coerced to the Parquet schema) -> parquet_encode ->
// file output, one Parquet file per batch. Its CPU time is the child's
// rusage (wait4); the run counts the files it wrote and the rows in them,
// which must equal the records it consumed. Benthos delivers at least once
// (a crash between writing a file and committing its offsets writes the
// rows again); shelflake's ingest is exactly once.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/schema"
)

// peerBatch is how many records the peer encodes into one Parquet file
// (per partition; a batch also closes after peerBatchPeriod).
const (
	peerBatch       = 10_000
	peerBatchPeriod = "1s"
	peerGroup       = "bench-peer"
)

// peerMapping turns a POS JSON document into a row of the Parquet schema
// below, coercing every field to its column's type (money to integer minor
// units, the event time to Unix nanoseconds). parquet_encode fails a whole
// batch on one value of the wrong type, and a failed batch passes through
// unencoded (a raw file per message); so a document a coercion fails on is
// flagged here and dropped by the next processor, and the run then finds
// fewer rows than records and says so.
const peerMapping = `
root.transaction_id = this.transaction_id.string()
root.store_id = this.store_id.string()
root.register_id = this.register_id.string()
root.type = this.type.string()
root.business_date = this.business_date.ts_parse("2006-01-02").format_timestamp("2006-01-02")
root.event_time = this.event_time.ts_parse("2006-01-02T15:04:05.999999999Z07:00").ts_unix_nano()
root.currency = this.currency.string()
root.customer_id = this.customer_id.or(null)
root.total = (this.total.number() * 100).round().int64()
root.tenders = this.tenders.map_each(t -> {"type": t.type.string(), "amount": (t.amount.number() * 100).round().int64()})
root.lines = this.lines.map_each(l -> {
  "line_no": l.line_no.int64(),
  "sku": l.sku.string(),
  "quantity": l.quantity.int64(),
  "unit_price": (l.unit_price.number() * 100).round().int64(),
  "discount": (l.discount.number() * 100).round().int64(),
  "tax": (l.tax.number() * 100).round().int64(),
  "line_total": (l.line_total.number() * 100).round().int64(),
  "promotion_id": l.promotion_id.or(null),
})
`

// peerConfig is the Benthos configuration: brokers, output directory.
func peerConfig(broker, out string) string {
	indent := func(s, pad string) string {
		return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
	}
	return fmt.Sprintf(`http:
  enabled: false
logger:
  level: WARN
input:
  kafka_franz:
    seed_brokers: [%q]
    topics: [%q]
    consumer_group: %q
    start_from_oldest: true
    commit_period: 1s
    batching:
      count: %d
      period: %s
pipeline:
  threads: 1
  processors:
    - mapping: |
%s
    - mapping: 'root = if errored() { deleted() } else { this }'
    - parquet_encode:
        default_compression: snappy
        schema:
          - { name: transaction_id, type: UTF8 }
          - { name: store_id, type: UTF8 }
          - { name: register_id, type: UTF8 }
          - { name: type, type: UTF8 }
          - { name: business_date, type: UTF8 }
          - { name: event_time, type: INT64 }
          - { name: currency, type: UTF8 }
          - { name: customer_id, type: UTF8, optional: true }
          - { name: total, type: INT64 }
          - name: tenders
            repeated: true
            fields:
              - { name: type, type: UTF8 }
              - { name: amount, type: INT64 }
          - name: lines
            repeated: true
            fields:
              - { name: line_no, type: INT64 }
              - { name: sku, type: UTF8 }
              - { name: quantity, type: INT64 }
              - { name: unit_price, type: INT64 }
              - { name: discount, type: INT64 }
              - { name: tax, type: INT64 }
              - { name: line_total, type: INT64 }
              - { name: promotion_id, type: UTF8, optional: true }
output:
  file:
    path: '%s/${! uuid_v4() }.parquet'
    codec: all-bytes
`, broker, schema.TopicPOS, peerGroup, peerBatch, peerBatchPeriod, indent(peerMapping, "        "), out)
}

// peerFigures is what the peer run measured.
type peerFigures struct {
	Binary         string  `json:"binary"`
	Records        int64   `json:"records"`
	Rows           int64   `json:"rows"`
	Files          int     `json:"files"`
	Seconds        float64 `json:"seconds"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	MBPerCPUSecond float64 `json:"mb_per_cpu_second"`
	// Ratio is shelflake's MB per CPU-second over the peer's.
	Ratio float64 `json:"ratio"`
}

// resolvePeer returns the peer binary: path itself, or for "auto"
// bin/benthos-peer of the checkout (the working directory or a parent
// holding tools/peer/go.mod), built there first if missing.
func resolvePeer(ctx context.Context, path string, log *slog.Logger) (string, error) {
	if path != "auto" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("peer binary: %w (build it with `make peer`, or pass --peer auto)", err)
		}
		return path, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "peer", "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("peer: --peer auto needs to run inside the shelflake checkout (tools/peer/go.mod not found); pass the binary's path instead")
		}
		dir = parent
	}
	bin := filepath.Join(dir, "bin", "benthos-peer")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	log.Info("bench: building the peer (Benthos v4.27.0, a few minutes the first time)", "out", bin)
	if err := buildPeer(ctx, filepath.Join(dir, "tools", "peer"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// buildPeer builds the peer module in dir into bin. Its parquet-go reaches
// into runtime internals with go:linkname, which Go 1.23+ refuses to link
// unless told not to check.
func buildPeer(ctx context.Context, dir, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags=-checklinkname=0", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("peer: go build in %s: %w\n%s", dir, err, out)
	}
	return nil
}

// runPeer runs the peer binary on the POS topic of broker (records
// documents, bytes in all) with its files under work, until its consumer
// group has committed every record, then stops it and checks its output.
func runPeer(ctx context.Context, bin, broker, work string, records, nbytes int64, log *slog.Logger) (*peerFigures, error) {
	out := filepath.Join(work, "peer-out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(work, "peer.yaml")
	if err := os.WriteFile(cfgPath, []byte(peerConfig(broker, out)), 0o644); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	log.Info("bench: running the peer", "binary", bin)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer: start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("peer: exited before consuming every record (%v): %s", err, lastLines(stderr.String(), 5))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-exited
			return nil, ctx.Err()
		case <-tick.C:
		}
		got, err := adm.FetchOffsets(ctx, peerGroup)
		if err == nil {
			var n int64
			got.Each(func(o kadm.OffsetResponse) {
				if o.Err == nil && o.Topic == schema.TopicPOS {
					n += o.At
				}
			})
			done = n >= records
		}
	}
	secs := time.Since(start).Seconds()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return nil, fmt.Errorf("peer: stop: %w", err)
	}
	<-exited // after SIGTERM its exit status says nothing about the run
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return nil, errors.New("peer: no rusage for the child on this platform")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()

	fig := &peerFigures{Binary: bin, Records: records, Seconds: secs, CPUSeconds: cpu,
		MBPerCPUSecond: float64(nbytes) / 1e6 / cpu}
	if fig.Files, fig.Rows, err = countParquet(out); err != nil {
		return nil, err
	}
	if fig.Rows != records {
		return nil, fmt.Errorf("peer: %d rows in %d Parquet files for %d records consumed (the mapping dropped what it could not coerce; see %s)",
			fig.Rows, fig.Files, records, cfgPath)
	}
	// One file per batch: a batch parquet_encode failed would have passed
	// through as raw messages, a file each (and failed countParquet).
	if maxFiles := records/2 + 1; int64(fig.Files) > maxFiles {
		return nil, fmt.Errorf("peer: %d files for %d records: not one Parquet file per batch", fig.Files, records)
	}
	return fig, nil
}

// countParquet returns how many files dir holds and the rows in them; a
// file that is not Parquet is an error naming it.
func countParquet(dir string) (files int, rows int64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		n, err := peerFileRows(p)
		if err != nil {
			return 0, 0, fmt.Errorf("peer: output %s is not a Parquet file (a batch parquet_encode failed passes through raw): %w", p, err)
		}
		files++
		rows += n
	}
	return files, rows, nil
}

func peerFileRows(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return 0, err
	}
	return pf.NumRows(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/ingest/importer"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/compact"
)

// importGroup is the consumer group of a bench's ingester.
const importGroup = "shelflake-import"

// loadExport builds a lake at dir from a POS export file through the
// product's own path, as a retailer's would be fed: the importer (preset
// or mapping m) produces pos.transactions to an embedded broker, the
// ingester writes them to the lake exactly once, and compaction builds the
// unified tables. It prints the importer's reconciliation.
func loadExport(ctx context.Context, a *app, file string, m importer.Mapping, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open export: %w", err)
	}
	defer f.Close()
	in, err := openMaybeGzip(f, file)
	if err != nil {
		return err
	}
	im, err := importer.New(ctx, in, m, importer.Options{Name: file})
	if err != nil {
		return err
	}
	broker, err := startBroker(brokerOpts{listen: "127.0.0.1:0", partitions: 4, topics: defaultBrokerTopics()})
	if err != nil {
		return err
	}
	defer broker.Close()
	addr := broker.ListenAddrs()[0]
	l, err := lake.Open(ctx, dir, lake.Options{Logger: a.log})
	if err != nil {
		return err
	}
	defer l.Close()

	stopIngest, ingestDone, err := startIngester(ctx, a, addr, importGroup, l)
	if err != nil {
		return err
	}
	defer stopIngest()

	ks, err := newKafkaSink(ctx, []string{addr})
	if err != nil {
		return err
	}
	counts, err := im.Run(ctx, ks)
	if err == nil {
		err = ks.Flush(ctx)
	}
	ks.Close()
	if err != nil {
		return fmt.Errorf("import %s: %w", file, err)
	}
	printReconciliation(a.stderr, counts)
	if err := waitIngested(ctx, a, addr, importGroup, l, ingestDone); err != nil {
		return err
	}
	stopIngest()
	if err := <-ingestDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("ingest: %w", err)
	}
	cp, err := compact.New(l, compact.Options{Plan: compact.PlanOptions{MinFiles: 2}, Unified: true, Logger: a.log.With("stage", "compact")})
	if err != nil {
		return err
	}
	if _, err := cp.Pass(ctx); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

// startIngester runs an in-process ingester of group, from the broker at
// addr into l, until stop is called; done then receives Run's result.
func startIngester(ctx context.Context, a *app, addr, group string, l *lake.Lake) (stop context.CancelFunc, done <-chan error, err error) {
	ictx, stop := context.WithCancel(ctx)
	ing, err := ingest.New(ictx, ingest.Options{
		Kafka:         ingest.Kafka{Brokers: []string{addr}},
		Lake:          ingest.NewLake(l),
		Group:         group,
		FlushInterval: time.Second,
		Logger:        a.log.With("stage", "ingest"),
		Registerer:    prometheus.NewRegistry(),
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	ch := make(chan error, 1)
	go func() { ch <- ing.Run(ictx) }()
	return stop, ch, nil
}

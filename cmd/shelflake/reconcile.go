package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/forecast/reconcile"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

type reconcileFlags struct {
	lake       string
	asOf       string
	windowDays int
	interval   time.Duration
	http       string
	ack        []string
	top        int
	restock    bool
	json       bool
}

func newReconcileCmd(a *app) *cobra.Command {
	o := reconcileFlags{}
	cmd := &cobra.Command{
		Use:   "reconcile --lake URI [--as-of DATE]",
		Short: "Reconcile POS sales against stock records and update the exception queue",
		Long: `reconcile computes each store-SKU's expected on hand from the last trusted
count or snapshot, PO receipts and POS sales (raw tables pos_lines,
inventory_snapshots, purchase_order_lines, item_locations), gives every
variance one cause (timing, receipt_mismatch, overstated_after_count,
unexplained_loss, negative_on_hand, stale_snapshot, phantom_stock) and writes the exception
queue as the --as-of partition of stock_exceptions: one unresolved exception
per store-SKU, carried over from the previous run with its id, auto-resolved
when a count settles it or the evidence goes away. A rerun of the same
--as-of replaces its partition with the same rows.

It prints the queue size by reason and each store's cycle-count list for
tomorrow. --ack ID marks exceptions acknowledged instead of running.

Without --interval it runs once and exits (a CronJob); with it, it runs every
interval as of the current UTC date, serving /metrics and /healthz on --http.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReconcile(cmd.Context(), a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI (env SHELFLAKE_LAKE)")
	f.StringVar(&o.asOf, "as-of", "", "as-of date YYYY-MM-DD: reconcile the business days before it (default: today, UTC)")
	f.IntVar(&o.windowDays, "window-days", 56, "days of history read before the as-of date")
	f.DurationVar(&o.interval, "interval", 0, "run continuously, once every interval (0: once and exit)")
	f.StringVar(&o.http, "http", envOr("SHELFLAKE_RECONCILE_HTTP", "127.0.0.1:9467"), "with --interval: address for /metrics and /healthz (empty: none; env SHELFLAKE_RECONCILE_HTTP)")
	f.StringSliceVar(&o.ack, "ack", nil, "acknowledge these exception ids in the latest queue on or before --as-of, then exit")
	f.IntVar(&o.top, "top", 10, "cycle-count lines printed per store")
	f.BoolVar(&o.restock, "restock-returns", false, "count POS returns back into stock")
	f.BoolVar(&o.json, "json", false, "print the queue as JSON")
	return cmd
}

func runReconcile(ctx context.Context, a *app, o reconcileFlags) error {
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	if o.windowDays < 7 {
		return fmt.Errorf("--window-days %d: want at least 7", o.windowDays)
	}
	asOf := schema.DateOf(time.Now().UTC())
	if o.asOf != "" {
		var err error
		if asOf, err = schema.ParseDate(o.asOf); err != nil {
			return fmt.Errorf("--as-of %q: %w", o.asOf, err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := openLake(ctx, o.lake, lake.Options{Logger: a.log, Registerer: reg})
	if err != nil {
		return err
	}
	defer l.Close()
	if len(o.ack) > 0 {
		n, err := reconcile.Acknowledge(ctx, l, asOf, o.ack)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%d exceptions acknowledged\n", n)
		return nil
	}
	m := reconcile.NewMetrics(reg)
	opts := reconcile.Options{WindowDays: o.windowDays, RestockReturns: o.restock, Log: a.log}
	if o.interval <= 0 {
		opts.AsOf = asOf
		rep, err := reconcile.Run(ctx, l, opts)
		if err != nil {
			return err
		}
		if o.json {
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rep.Queue)
		}
		printReconcileReport(a, rep, o.top)
		return nil
	}
	if o.http != "" {
		ln, err := net.Listen("tcp", o.http)
		if err != nil {
			return fmt.Errorf("--http %s: %w", o.http, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		opts.AsOf = schema.DateOf(time.Now().UTC())
		rep, err := reconcile.Run(ctx, l, opts)
		m.Observe(rep, err, time.Now())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Error("reconciliation failed; retrying next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// printReconcileReport prints the queue size by reason, the top
// exceptions and each store's cycle-count list for tomorrow.
func printReconcileReport(a *app, rep *reconcile.Report, top int) {
	open := 0
	var parts []string
	for _, r := range []string{schema.ReasonPhantomStock, schema.ReasonNegativeOnHand, schema.ReasonStaleSnapshot,
		schema.ReasonOverstatedAfterCount, schema.ReasonReceiptMismatch, schema.ReasonUnexplainedLoss, schema.ReasonTiming} {
		open += rep.Open[r]
		if rep.Open[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, rep.Open[r]))
		}
	}
	fmt.Fprintf(a.stdout, "as of %s: %d store-SKUs reconciled, %d open exceptions (%s), %d resolved, record accuracy %.1f%%\n",
		rep.AsOf, rep.Series, open, strings.Join(parts, ", "), rep.Resolved, 100*rep.RecordAccuracy)
	stores := map[string]bool{}
	var order []string
	for _, r := range rep.Queue {
		if !stores[r.LocationID] {
			stores[r.LocationID] = true
			order = append(order, r.LocationID)
		}
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "CYCLE COUNT %s\tSKU\tREASON\tAGE\tRECORD\tEXPECTED\tVALUE AT RISK\tEXCEPTION\tEVIDENCE\n", rep.AsOf)
	for _, s := range order {
		for _, r := range reconcile.CountList(rep.Queue, s, top) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.LocationID, r.SKU, r.Reason, r.AgeDays,
				r.RecordOnHand, r.ExpectedOnHand, r.ValueAtRisk.Format(r.Currency), r.ExceptionID, r.Evidence)
		}
	}
	w.Flush()
}

// demoReconcile runs one reconciliation as of asOf and prints the queue
// size and the top exceptions.
func demoReconcile(ctx context.Context, a *app, l *lake.Lake, asOf schema.Date) error {
	rep, err := reconcile.Run(ctx, l, reconcile.Options{AsOf: asOf, Log: a.log.With("stage", "reconcile")})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	open := 0
	var top []schema.StockExceptionRow
	for _, r := range rep.Queue {
		if r.State != schema.ExceptionResolved {
			open++
			if r.Reason != schema.ReasonTiming {
				top = append(top, r)
			}
		}
	}
	slices.SortStableFunc(top, func(x, y schema.StockExceptionRow) int {
		return cmp.Compare(y.ValueAtRisk+y.LossValue, x.ValueAtRisk+x.LossValue)
	})
	fmt.Fprintf(a.stdout, "reconcile  as of %s: %d open stock exceptions over %d store-SKUs, record accuracy %.1f%%\n",
		asOf, open, rep.Series, 100*rep.RecordAccuracy)
	for _, r := range top[:min(len(top), 5)] {
		fmt.Fprintf(a.stdout, "           %s %s %s: %s (value at risk %s, loss at cost %s)\n", r.LocationID, r.SKU, r.Reason, r.Evidence, r.ValueAtRisk.Format(r.Currency), r.LossValue.Format(r.Currency))
	}
	return nil
}

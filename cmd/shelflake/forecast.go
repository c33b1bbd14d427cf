package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/forecast/job"
	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/route"
	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// writebackFlags choose and configure the write-back channels.
type writebackFlags struct {
	erpURL, tokenURL string
	clientID, secret string
	scopes           []string
	attempts         int
	attemptTimeout   time.Duration
	kafka            kafkaFlags
	topic            string
	outbox           string
	erpConfig        string
	// routes are the --erp-config routes, once channels has built them.
	routes *route.Routes
}

func (w *writebackFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&w.erpURL, "erp-url", envOr("SHELFLAKE_ERP_URL", ""), "POST each suggestion document as JSON to this URL (empty: no HTTP write-back; env SHELFLAKE_ERP_URL)")
	f.StringVar(&w.tokenURL, "erp-token-url", envOr("SHELFLAKE_ERP_TOKEN_URL", ""), "OAuth2 token endpoint of the ERP, client credentials grant (env SHELFLAKE_ERP_TOKEN_URL)")
	f.StringVar(&w.clientID, "erp-client-id", envOr("SHELFLAKE_ERP_CLIENT_ID", ""), "OAuth2 client id (env SHELFLAKE_ERP_CLIENT_ID)")
	f.StringVar(&w.secret, "erp-client-secret", "", "OAuth2 client secret (prefer env SHELFLAKE_ERP_CLIENT_SECRET, used when this is empty)")
	f.StringSliceVar(&w.scopes, "erp-scopes", nil, "OAuth2 scopes to ask for")
	f.IntVar(&w.attempts, "erp-attempts", 8, "tries per document before it is left for the next run")
	f.DurationVar(&w.attemptTimeout, "erp-timeout", 30*time.Second, "timeout of one HTTP request to the ERP")
	w.kafka.register(cmd)
	f.StringVar(&w.topic, "topic", envOr("SHELFLAKE_WRITEBACK_TOPIC", writeback.DefaultTopic), "Kafka topic of the suggestion documents, with --brokers (env SHELFLAKE_WRITEBACK_TOPIC)")
	f.StringVar(&w.erpConfig, "erp-config", envOr("SHELFLAKE_ERP_CONFIG", ""), "JSON file routing locations to ERPs (odoo, netsuite, …) and their settings: each document goes to its location's ERP (env SHELFLAKE_ERP_CONFIG; see README)")
	f.StringVar(&w.outbox, "outbox", envOr("SHELFLAKE_OUTBOX", ""), "also write each document as JSON and CSV files under this directory, for planners (env SHELFLAKE_OUTBOX)")
}

// channels builds the channels the flags ask for: HTTP with --erp-url,
// Kafka when --brokers (or SHELFLAKE_BROKERS) is given, files with
// --outbox. close releases them.
// given reports whether a write-back channel is configured (channels then
// returns at least one).
func (w *writebackFlags) given(cmd *cobra.Command) bool {
	return w.erpURL != "" || w.erpConfig != "" || w.outbox != "" || cmd.Flags().Changed("brokers") || os.Getenv("SHELFLAKE_BROKERS") != ""
}

func (w *writebackFlags) channels(cmd *cobra.Command) (chans []writeback.Channel, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	if w.erpURL != "" {
		secret := w.secret
		if secret == "" {
			secret = os.Getenv("SHELFLAKE_ERP_CLIENT_SECRET")
		}
		ch, err := writeback.NewHTTPChannel(writeback.HTTPOptions{URL: w.erpURL, TokenURL: w.tokenURL,
			ClientID: w.clientID, ClientSecret: secret, Scopes: w.scopes, MaxAttempts: w.attempts, AttemptTimeout: w.attemptTimeout})
		if err != nil {
			return nil, closeAll, fmt.Errorf("--erp-url: %w", err)
		}
		chans = append(chans, ch)
	}
	if w.erpConfig != "" {
		rs, err := route.Load(w.erpConfig, erpAdapters(), route.Deps{MaxAttempts: w.attempts})
		if err != nil {
			return nil, closeAll, err
		}
		w.routes = rs
		closers = append(closers, rs.Close)
		chans = append(chans, rs.Channels()...)
	}
	if cmd.Flags().Changed("brokers") || os.Getenv("SHELFLAKE_BROKERS") != "" {
		k, err := w.kafka.kafka()
		if err != nil {
			closeAll()
			return nil, closeAll, err
		}
		if err := ingest.ProbeKafka(cmd.Context(), k, ingest.DefaultProbeTimeout); err != nil {
			closeAll()
			return nil, closeAll, err
		}
		ch, err := writeback.NewKafkaChannel(writeback.KafkaOptions{Brokers: k.Brokers, Topic: w.topic, TLS: k.TLS, SASL: k.SASL})
		if err != nil {
			closeAll()
			return nil, closeAll, err
		}
		closers = append(closers, ch.Close)
		chans = append(chans, ch)
	}
	if w.outbox != "" {
		ch, err := writeback.NewFileChannel(w.outbox)
		if err != nil {
			closeAll()
			return nil, closeAll, fmt.Errorf("--outbox: %w", err)
		}
		chans = append(chans, ch)
	}
	return chans, closeAll, nil
}

type forecastFlags struct {
	lake         string
	asOf         string
	historyDays  int
	horizon      int
	windowSigma  bool
	noPromotions bool
	workers      int
	duckdbMemory string
	tempDir      string
	json         bool
	wb           writebackFlags
	// Sharded runs (see forecast/job): --train, --shard i/N, --merge
	// with --shards N.
	train  bool
	shard  string
	merge  bool
	shards int
}

func newForecastCmd(a *app) *cobra.Command {
	o := forecastFlags{}
	cmd := &cobra.Command{
		Use:   "forecast --lake URI --as-of DATE",
		Short: "Forecast demand, suggest purchase orders and send them to the ERP",
		Long: `forecast is the weekly retrain. From the unified tables as of --as-of (business
dates before it; stock and open POs as known then) it builds every store-SKU's
daily demand series in DuckDB, with stockout days censored and promotion days
marked, fits and picks a model per series by rolling-origin backtest, computes
safety stock, reorder point and order-up-to level, and suggests order lines,
grouped into one purchase order document per location and supplier.

It writes replenishment_suggestions, forecasts and forecast_runs (partition
dt = as-of date), then delivers the documents over the write-back channels
given: the ERPs of --erp-config (each location's documents to the ERP that
serves it: Odoo, NetSuite, …), HTTP to --erp-url (OAuth2 client credentials,
Idempotency-Key), Kafka topic --topic on --brokers, files under --outbox.
Each delivery is logged in erp_writeback_log.

A rerun of the same --as-of finds the finished run and changes nothing; it
only delivers the documents not yet accepted (see also "writeback retry").

Across machines (e.g. a Kubernetes Indexed Job, deploy/k8s): --train once
(reads every input, trains the global model, stores the plan in the lake),
then --shard i/N for i = 0..N-1 anywhere in parallel (each forecasts a
contiguous range of the plan's sorted locations, 1/N of the series, reads
only their row groups, and commits its rows once; rerunning one changes
nothing), then --merge --shards N (commits the run and delivers its
documents, once). The rows and documents are those of the unsharded run.
With SHELFLAKE_PUSHGATEWAY_URL set, the run's metrics are pushed there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runForecast(cmd, a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory, file:///path or s3://bucket/prefix?endpoint=… (env SHELFLAKE_LAKE)")
	f.StringVar(&o.asOf, "as-of", "", "as-of date YYYY-MM-DD: history is every business date before it (default: today, UTC)")
	f.IntVar(&o.historyDays, "history-days", 364, "days of history before the as-of date")
	f.IntVar(&o.horizon, "horizon", 28, "days forecast")
	f.BoolVar(&o.windowSigma, "window-sigma", false, "size safety stock on the backtest's error over the whole protection window when larger than √P·σ")
	f.BoolVar(&o.noPromotions, "no-promotions", false, "do not read pos_lines for promotion days")
	f.IntVar(&o.workers, "workers", 0, "forecasting goroutines (0: GOMAXPROCS)")
	f.StringVar(&o.duckdbMemory, "duckdb-memory", "2GB", "DuckDB memory limit (spills past it)")
	f.StringVar(&o.tempDir, "temp-dir", "", "local directory for DuckDB spills and files being written (default: the system's)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.BoolVar(&o.train, "train", false, "sharded run, first step: train the global model and store the run's plan in the lake")
	f.StringVar(&o.shard, "shard", envOr("SHELFLAKE_SHARD", ""), "sharded run: compute shard i/N (e.g. 0/4) of the trained plan; no write-back (env SHELFLAKE_SHARD; i may come from JOB_COMPLETION_INDEX: --shard index/N)")
	f.BoolVar(&o.merge, "merge", false, "sharded run, last step: check the --shards shards, commit the run and deliver its documents")
	f.IntVar(&o.shards, "shards", 0, "with --merge: the number of shards of the run")
	o.wb.register(cmd)
	return cmd
}

// shardSpec reads --shard, where "index/N" takes i from
// JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod index).
func shardSpec(s string) (job.Shard, error) {
	if rest, ok := strings.CutPrefix(s, "index/"); ok {
		i := os.Getenv("JOB_COMPLETION_INDEX")
		if i == "" {
			return job.Shard{}, fmt.Errorf("--shard %s: JOB_COMPLETION_INDEX is not set (run as a Kubernetes Indexed Job, or give i/N)", s)
		}
		s = i + "/" + rest
	}
	sh, err := job.ParseShard(s)
	if err != nil {
		return job.Shard{}, fmt.Errorf("--shard: %w", err)
	}
	return sh, nil
}

// forecastReport is what --json prints.
type forecastReport struct {
	Run       schema.ForecastRunRow `json:"run"`
	Existing  bool                  `json:"existing"`
	Timings   map[string]float64    `json:"timings"`
	Writeback *writeback.Report     `json:"writeback,omitempty"`
}

func runForecast(cmd *cobra.Command, a *app, o forecastFlags) (err error) {
	ctx := cmd.Context()
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	asOf := schema.DateOf(time.Now().UTC())
	if o.asOf != "" {
		if asOf, err = schema.ParseDate(o.asOf); err != nil {
			return fmt.Errorf("--as-of: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	jm, wm := job.NewMetrics(reg), writeback.NewMetrics(reg)
	defer func() { err = errors.Join(err, pushMetrics(ctx, a, reg)) }()
	lopts, icebergDone, err := withIceberg(o.lake, lake.Options{Logger: a.log})
	if err != nil {
		return err
	}
	l, err := openLake(ctx, o.lake, lopts)
	if err != nil {
		return err
	}
	defer l.Close()
	defer icebergDone() // before the lake closes (defers run last first)
	if err := checkForecastInputs(ctx, l); err != nil {
		return err
	}
	jo := job.Options{
		AsOf: asOf, HistoryDays: o.historyDays, Horizon: o.horizon, WindowSigma: o.windowSigma,
		NoPromotions: o.noPromotions, Workers: o.workers, DuckDBMemory: o.duckdbMemory, TempDir: o.tempDir,
		Logger: a.log, Metrics: jm,
	}
	steps := 0
	for _, b := range []bool{o.train, o.shard != "", o.merge} {
		if b {
			steps++
		}
	}
	switch {
	case steps > 1:
		return errors.New("--train, --shard and --merge are steps of a sharded run: give one")
	case o.merge != (o.shards > 0):
		return errors.New("--merge needs --shards N (the number of shards of the run), and --shards goes with --merge")
	case o.train:
		p, err := job.Train(ctx, l, jo)
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(a.stdout, p)
		}
		fmt.Fprintf(a.stdout, "forecast as of %s: plan of run %s, %d series; now run --shard i/N for every i, then --merge\n", asOf, p.RunID, p.Series)
		return nil
	case o.shard != "":
		if jo.Shard, err = shardSpec(o.shard); err != nil {
			return err
		}
	}
	var chans []writeback.Channel
	if o.shard == "" {
		// A shard sends nothing: the merge delivers the run's documents
		// once.
		c, closeChans, err := o.wb.channels(cmd)
		if err != nil {
			return err
		}
		defer closeChans()
		chans = c
	}
	prog := a.newProgress("forecast "+asOf.String(), "series", 0)
	jo.Progress = prog
	var rep *job.Report
	if o.merge {
		rep, err = job.Merge(ctx, l, jo, o.shards)
	} else {
		rep, err = job.Run(ctx, l, jo)
	}
	if err != nil {
		return err
	}
	if !rep.Existing {
		prog.Finish()
	}
	out := forecastReport{Run: rep.Run, Existing: rep.Existing, Timings: rep.Timings}
	var wbErr error
	if len(chans) > 0 {
		d, err := writeback.New(l, writeback.Options{Channels: chans, Logger: a.log, Metrics: wm})
		if err != nil {
			return err
		}
		wr, err := d.Deliver(ctx, rep.Documents)
		out.Writeback = &wr
		if err != nil {
			wbErr = err
		} else if wr.Unreachable != "" {
			wbErr = fmt.Errorf("%s: %d documents stay in the outbox for shelflake writeback retry", wr.Unreachable, wr.Failed)
		} else if n := wr.Failed + wr.Rejected; n > 0 {
			wbErr = fmt.Errorf("%d document deliveries failed: they are retried by the next run or by shelflake writeback retry", n)
		}
		if o.wb.routes != nil {
			if u := o.wb.routes.Unrouted(rep.Documents); len(u) > 0 {
				wbErr = errors.Join(wbErr, unroutedError(o.wb.erpConfig, u))
			}
		}
	}
	if o.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return errors.Join(enc.Encode(out), wbErr)
	}
	printForecastReport(a, out)
	return wbErr
}

// checkForecastInputs fails, before the run creates its output tables, when
// the lake lacks a table the forecast cannot run without.
func checkForecastInputs(ctx context.Context, l *lake.Lake) error {
	for _, t := range []*schema.Table{schema.TableSalesDaily()} {
		_, err := l.ExistingTable(ctx, t)
		if errors.Is(err, delta.ErrTableNotFound) {
			return fmt.Errorf("the lake at %s has no %s table: run shelflake compact --unified first", l, t.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func printForecastReport(a *app, r forecastReport) {
	run := r.Run
	state := "computed"
	if r.Existing {
		state = "found (already complete: nothing recomputed)"
	}
	fmt.Fprintf(a.stdout, "forecast as of %s: run %s %s\n", run.AsOf, run.RunID, state)
	fmt.Fprintf(a.stdout, "  %d series (%d selected by backtest, %d short history, %d without demand), %d model fits\n",
		run.Series, run.Selected, run.ShortHistory, run.NoDemand, run.Fits)
	fmt.Fprintf(a.stdout, "  models chosen: %s\n", formatModels(run.ModelsChosen))
	if run.WeightedBacktestRMSSE != nil {
		fmt.Fprintf(a.stdout, "  backtest RMSSE: %.4f weighted by revenue\n", *run.WeightedBacktestRMSSE)
	}
	fmt.Fprintf(a.stdout, "  %d order lines in %d suggested purchase orders, %d units, cost %s; %d lines used defaults\n",
		run.Lines, run.Documents, run.TotalUnits, formatTotals(run.TotalCost), run.DefaultsUsed)
	if len(r.Timings) > 0 {
		stages := make([]string, 0, len(r.Timings))
		for k := range r.Timings {
			stages = append(stages, k)
		}
		sort.Strings(stages)
		var parts []string
		for _, s := range stages {
			parts = append(parts, fmt.Sprintf("%s %.1fs", s, r.Timings[s]))
		}
		fmt.Fprintf(a.stdout, "  timings: %s\n", strings.Join(parts, ", "))
	}
	if r.Writeback != nil {
		printWriteback(a, *r.Writeback)
	}
}

// formatTotals turns the run's JSON object of currency → exact amount into
// "8,503.80 USD + 1,820.34 GBP" (each in its minor units, in currency
// order), "none" when empty; text it cannot read is returned as it is.
func formatTotals(js string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return js
	}
	if len(m) == 0 {
		return "none"
	}
	cur := make([]string, 0, len(m))
	for c := range m {
		cur = append(cur, c)
	}
	sort.Strings(cur)
	parts := make([]string, len(cur))
	for i, c := range cur {
		amount, err := schema.ParseMoney([]byte(strings.Trim(string(m[c]), `"`)))
		if err != nil {
			return js
		}
		parts[i] = amount.Format(c)
	}
	return strings.Join(parts, " + ")
}

// formatModels turns the run's JSON object of model → series into
// "croston_sba 12, ses 7": most series first, then by name; "none" when
// empty; text it cannot read is returned as it is.
func formatModels(js string) string {
	var m map[string]int
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return js
	}
	if len(m) == 0 {
		return "none"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]] != m[names[j]] {
			return m[names[i]] > m[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}

func printWriteback(a *app, wr writeback.Report) {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CHANNEL\tACCEPTED\tALREADY ACCEPTED\tFAILED\tREJECTED")
	names := make([]string, 0, len(wr.ByChannel))
	for n := range wr.ByChannel {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := wr.ByChannel[n]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", n, c.Accepted, c.AlreadyAccepted, c.Failed, c.Rejected)
	}
	w.Flush()
	fmt.Fprintf(a.stdout, "%d documents\n", wr.Documents)
}

// pushMetrics pushes reg to the Pushgateway at SHELFLAKE_PUSHGATEWAY_URL
// (nothing when unset), job "shelflake-forecast" (deploy/METRICS.md).
func pushMetrics(ctx context.Context, a *app, reg *prometheus.Registry) error {
	url := os.Getenv("SHELFLAKE_PUSHGATEWAY_URL")
	if url == "" {
		return nil
	}
	if err := push.New(url, "shelflake-forecast").Gatherer(reg).AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", url, err)
	}
	a.log.Info("metrics pushed", "url", url)
	return nil
}

type writebackRetryFlags struct {
	lake  string
	since string
	json  bool
	wb    writebackFlags
}

func newWritebackCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "writeback",
		Short: "ERP write-back of suggested purchase orders",
		Args:  cobra.NoArgs,
	}
	o := writebackRetryFlags{}
	retry := &cobra.Command{
		Use:   "retry --lake URI",
		Short: "Deliver again the suggestion documents not yet accepted",
		Long: `retry reads erp_writeback_log and sends, over the channels given (--erp-config,
--erp-url, --brokers, --outbox), every document of the completed forecast runs (since
--since) that is not accepted on that channel yet: those an ERP outage or a
rejection left behind. Documents already accepted are never sent again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWritebackRetry(cmd, a, o) },
	}
	f := retry.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI (env SHELFLAKE_LAKE)")
	f.StringVar(&o.since, "since", "", "only runs with an as-of date on or after this YYYY-MM-DD (default: all)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	o.wb.register(retry)
	cmd.AddCommand(retry, newWritebackOutcomesCmd(a))
	return cmd
}

func runWritebackRetry(cmd *cobra.Command, a *app, o writebackRetryFlags) (err error) {
	ctx := cmd.Context()
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	var since schema.Date
	if o.since != "" {
		if since, err = schema.ParseDate(o.since); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	wm := writeback.NewMetrics(reg)
	defer func() { err = errors.Join(err, pushMetrics(ctx, a, reg)) }()
	if !o.wb.given(cmd) {
		return errors.New("no write-back channel: give --erp-config, --erp-url, --brokers or --outbox")
	}
	l, err := openLake(ctx, o.lake, lake.Options{Logger: a.log})
	if err != nil {
		return err
	}
	defer l.Close()
	chans, closeChans, err := o.wb.channels(cmd)
	if err != nil {
		return err
	}
	defer closeChans()
	d, err := writeback.New(l, writeback.Options{Channels: chans, Logger: a.log, Metrics: wm})
	if err != nil {
		return err
	}
	docs, err := writeback.RunDocuments(ctx, l, since)
	if err != nil {
		return err
	}
	wr, err := d.Deliver(ctx, docs)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(wr)
	} else {
		printWriteback(a, wr)
	}
	switch n := wr.Failed + wr.Rejected; {
	case wr.Unreachable != "":
		err = errors.Join(err, fmt.Errorf("%s: %d documents stay in the outbox", wr.Unreachable, wr.Failed))
	case n > 0:
		err = errors.Join(err, fmt.Errorf("%d document deliveries failed", n))
	}
	if o.wb.routes != nil {
		if u := o.wb.routes.Unrouted(docs); len(u) > 0 {
			err = errors.Join(err, unroutedError(o.wb.erpConfig, u))
		}
	}
	return err
}

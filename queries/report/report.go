// Package report renders `shelflake report`: one self-contained HTML page
// for planners and analysts, read from a queries.Session over the live lake.
//
// The page has four parts:
//
//   - Freshness per source: for each raw table (pos_lines,
//     inventory_snapshots, purchase_order_lines, item_locations, promotions,
//     rejects) the rows it holds, its newest business day, event time and
//     ingestion time (from the data), the Delta version read and when it was
//     committed (from the log), and, when the caller passes ingest's
//     watermarks (commitInfo "shelflake.ingest", see package ingest), how far
//     each table is complete over its source partitions.
//   - Rejects by reason: per source topic and reason, how many records the
//     rejects table holds, when the first and last arrived, and an example
//     error.
//   - Suggested purchase orders of the newest forecast run (the newest dt of
//     replenishment_suggestions): per document its location, supplier,
//     need-by date, lines, units and value, and for each of its lines a small
//     chart (inline SVG) of the store-SKU's sales history (sales_daily), the
//     forecast (forecasts), and the stock position (inventory_daily on hand,
//     po_open on order, the suggestion's reorder point, order-up-to level,
//     inventory position and suggested quantity). Without the table the page
//     says "no forecast run yet". The number of POs and of lines per PO
//     charted is capped (Options.MaxPOs, Options.MaxLinesPerPO); the page says
//     how many were left out.
//   - Planners' decisions: per supplier, of the suggested POs written into
//     ERPs and read back (suggestion_outcomes, see shelflake writeback
//     outcomes), how many were accepted as suggested, changed, rejected or
//     are pending, the acceptance rate, and units suggested against units
//     ordered. Without the table the page says none were read back.
//
// The page needs nothing else to be viewed: no JavaScript, no external fonts,
// style sheets or images, no URLs. Everything read from the lake is escaped
// by html/template.
//
// Build gathers a Report (plain data, useful on its own); Report.WriteHTML
// renders it; Write does both.
package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/schema"
)

// Defaults of Options.
const (
	DefaultMaxPOs        = 50
	DefaultMaxLinesPerPO = 20
	DefaultHistoryDays   = 56
	DefaultHorizonDays   = 28
	DefaultStaleAfter    = 24 * time.Hour
	// MaxChartDays bounds HistoryDays + HorizonDays.
	MaxChartDays = 400
)

// Options configure a report. Zero fields take their defaults.
type Options struct {
	// Title heads the page. Default "shelflake report".
	Title string
	// Lake names the lake on the page (give a URI without credentials).
	Lake string
	// Now is the time the report is made, which lags are measured to.
	// Default time.Now().
	Now time.Time
	// MaxPOs caps the suggested POs shown (the most urgent first: earliest
	// need-by date, then highest value). Default DefaultMaxPOs.
	MaxPOs int
	// MaxLinesPerPO caps the lines charted per PO (highest value first).
	// Default DefaultMaxLinesPerPO.
	MaxLinesPerPO int
	// HistoryDays is the sales and stock history charted before the as-of
	// date. Default DefaultHistoryDays.
	HistoryDays int
	// HorizonDays is the forecast charted from the as-of date on. Default
	// DefaultHorizonDays.
	HorizonDays int
	// StaleAfter marks a source stale when its newest event is older than
	// this at Now. Default DefaultStaleAfter.
	StaleAfter time.Duration
	// Watermarks are ingest's per-partition watermarks (from the commits'
	// commitInfo), when the caller has them; the freshness section then says
	// how far each table is complete.
	Watermarks []Watermark
	// Lateness is how late producers may send an event: a table is complete
	// up to its watermark minus Lateness.
	Lateness time.Duration
	// Logger receives the report's logs. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Title == "" {
		o.Title = "shelflake report"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.MaxPOs == 0 {
		o.MaxPOs = DefaultMaxPOs
	}
	if o.MaxLinesPerPO == 0 {
		o.MaxLinesPerPO = DefaultMaxLinesPerPO
	}
	if o.HistoryDays == 0 {
		o.HistoryDays = DefaultHistoryDays
	}
	if o.HorizonDays == 0 {
		o.HorizonDays = DefaultHorizonDays
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.MaxPOs < 0 {
		errs = append(errs, fmt.Errorf("max POs %d: want ≥ 0", o.MaxPOs))
	}
	if o.MaxLinesPerPO < 0 {
		errs = append(errs, fmt.Errorf("max lines per PO %d: want ≥ 0", o.MaxLinesPerPO))
	}
	if o.HistoryDays < 0 || o.HorizonDays < 0 {
		errs = append(errs, fmt.Errorf("history %d and horizon %d days: want ≥ 0", o.HistoryDays, o.HorizonDays))
	}
	if o.HistoryDays+o.HorizonDays > MaxChartDays {
		errs = append(errs, fmt.Errorf("history %d + horizon %d days: want at most %d", o.HistoryDays, o.HorizonDays, MaxChartDays))
	}
	if o.StaleAfter < 0 || o.Lateness < 0 {
		errs = append(errs, errors.New("stale-after and lateness: want ≥ 0"))
	}
	return errors.Join(errs...)
}

// Watermark is one of ingest's watermarks: how complete Table is for one
// source partition (see ingest.Watermark, which cmd converts).
type Watermark struct {
	Table     string
	Topic     string
	Partition int32
	// Offset: the table holds every record of the partition below it.
	Offset int64
	// EventTime is the newest event time committed from the partition
	// (zero: unknown).
	EventTime time.Time
	// DrainedAt, when set, is a time up to which the partition was consumed
	// to its end.
	DrainedAt time.Time
	// CommittedAt is when the table's newest commit for the partition was
	// made.
	CommittedAt time.Time
}

// Report is what the page shows.
type Report struct {
	Title       string
	Lake        string
	GeneratedAt time.Time
	StaleAfter  time.Duration
	Lateness    time.Duration
	// Sources is the freshness of each raw table, in schema.Tables order.
	Sources []Source
	// Watermarks are the per-partition watermarks given in Options.
	Watermarks []Watermark
	// Tables describes every view of the session (raw, unified, forecast).
	Tables []queries.TableInfo
	// Rejects are the rejects table's records by topic and reason, most
	// first; RejectsTotal sums them.
	Rejects      []RejectGroup
	RejectsTotal int64
	// Run is the newest forecast run; nil when replenishment_suggestions is
	// absent or empty ("no forecast run yet").
	Run *Run
	// Outcomes are the planners' decisions on the suggested POs written
	// into ERPs, per supplier; nil without suggestion_outcomes.
	Outcomes []OutcomeGroup
}

// Source is the freshness of one raw table.
type Source struct {
	// Topic is the source feed ("rejects" for the rejects table).
	Topic string
	Table string
	// Present is false when the lake has no such table yet.
	Present bool
	Rows    int64
	// Version and CommitTime are the Delta version read and its commit time.
	Version    int64
	CommitTime time.Time
	// NewestDay is the newest dt (business day) held; zero (with HasDay
	// false) when empty.
	NewestDay schema.Date
	HasDay    bool
	// NewestEvent is the newest event time of its rows (POS event_time,
	// inventory as_of, PO line and item updated_at, rejects received_at);
	// NewestIngested the newest ingestion time.
	NewestEvent    time.Time
	NewestIngested time.Time
	// Partitions counts the source partitions with a watermark; CompleteUpTo
	// is the minimum over them of the later of event time and drained time,
	// minus Options.Lateness, and never later than their newest event time:
	// an event time, never the wall clock (zero when a partition has
	// neither, when none has an event time, or without watermarks).
	Partitions   int
	CompleteUpTo time.Time
	// EventLag is GeneratedAt − NewestEvent, CommitLag GeneratedAt −
	// CommitTime (0 when unknown); Stale is EventLag > Options.StaleAfter.
	EventLag  time.Duration
	CommitLag time.Duration
	Stale     bool
}

// RejectGroup counts the rejects of one topic and reason.
type RejectGroup struct {
	Topic  string
	Reason string
	Count  int64
	First  time.Time
	Last   time.Time
	// Example is the error of the earliest of them (shortened).
	Example string
}

// Run is the newest forecast run and its suggested POs.
type Run struct {
	// AsOf is the run's as-of date (the dt of its suggestions); RunID its id.
	AsOf  schema.Date
	RunID string
	// FinishedAt and WeightedRMSSE come from forecast_runs (zero, nil when
	// it has no row for AsOf).
	FinishedAt    time.Time
	WeightedRMSSE *float64
	// Series counts the store-SKUs of the run, Lines those with a suggested
	// quantity, Units their units; Unassigned counts lines with a quantity
	// but no document (no supplier known).
	Series     int64
	Lines      int64
	Units      int64
	Unassigned int64
	// Documents counts the suggested POs; Value sums them per currency.
	Documents int64
	Value     []Amount
	// POs are the POs shown (at most Options.MaxPOs); OmittedPOs,
	// OmittedLines and OmittedUnits count the others.
	POs          []PO
	OmittedPOs   int64
	OmittedLines int64
	OmittedUnits int64
	// HistoryDays and HorizonDays are the charts' spans.
	HistoryDays int
	HorizonDays int
	// Sales, Forecasts, Inventory and OnOrder say whether sales_daily,
	// forecasts, inventory_daily and po_open exist (charts lack what is
	// missing).
	Sales, Forecasts, Inventory, OnOrder bool
}

// Amount is a sum of money in one currency.
type Amount struct {
	Currency string
	Value    schema.Money
}

// PO is one suggested purchase order document.
type PO struct {
	DocumentKey string
	LocationID  string
	SupplierID  string
	Currency    string
	NeedBy      schema.Date
	Lines       int64
	Units       int64
	Value       schema.Money
	// Charted are its lines with charts, highest value first (at most
	// Options.MaxLinesPerPO); OmittedLines counts the rest.
	Charted      []Line
	OmittedLines int64
}

// Line is one suggested PO line with what explains it.
type Line struct {
	SKU               string
	SuggestedQty      int64
	UnitCost          schema.Money
	ExtendedCost      schema.Money
	NeedBy            schema.Date
	OnHand            int64
	OnOrder           int64
	Allocated         int64
	InventoryPosition int64
	DailyForecast     float64
	SafetyStock       float64
	ReorderPoint      float64
	OrderUpTo         float64
	WeeksOfCover      *float64
	WeeksOfCoverAfter *float64
	LeadTimeDays      float64
	Reasons           string
	Model             string
	// Series are the charted values, one per day from the chart's start.
	Series Series
	// Chart is its chart's geometry.
	Chart Chart
}

// Series are a line's daily values over the chart's span: History days
// before the as-of date, then Horizon days from it. A value is NaN (floats)
// or missing (Known false) when the lake has none.
type Series struct {
	Start   schema.Date
	History int
	Horizon int
	// Sold are units sold per history day (0 when sales_daily has no row).
	Sold []int64
	// OnHand and its Known flags: end-of-day on hand per history day.
	OnHand      []int64
	OnHandKnown []bool
	// OnOrder: PO quantity open at the end of each history day.
	OnOrder []int64
	// Forecast per horizon day (NaN: none).
	Forecast []float64
}

// Build reads the report from the session's views. Tables the lake does not
// have yet leave their part of the page empty, and say so.
func Build(ctx context.Context, s *queries.Session, opts Options) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	o := opts.withDefaults()
	r := &Report{
		Title: o.Title, Lake: o.Lake, GeneratedAt: o.Now, StaleAfter: o.StaleAfter,
		Lateness: o.Lateness, Watermarks: o.Watermarks, Tables: s.Tables(),
	}
	b := &builder{s: s, o: o, log: o.Logger}
	var err error
	if r.Sources, err = b.sources(ctx); err != nil {
		return nil, fmt.Errorf("report: freshness: %w", err)
	}
	if r.Rejects, r.RejectsTotal, err = b.rejects(ctx); err != nil {
		return nil, fmt.Errorf("report: rejects: %w", err)
	}
	if r.Run, err = b.run(ctx); err != nil {
		return nil, fmt.Errorf("report: suggestions: %w", err)
	}
	if r.Outcomes, err = b.outcomes(ctx); err != nil {
		return nil, fmt.Errorf("report: planners' decisions: %w", err)
	}
	if r.Run == nil {
		b.log.Debug("report built", "sources", len(r.Sources), "rejects", r.RejectsTotal, "forecast", "none")
	} else {
		b.log.Debug("report built", "sources", len(r.Sources), "rejects", r.RejectsTotal, "as_of", r.Run.AsOf.String(),
			"pos", len(r.Run.POs), "pos_left_out", r.Run.OmittedPOs, "charts", r.ChartedLines())
	}
	return r, nil
}

// Write builds the report and writes its HTML page to w.
func Write(ctx context.Context, w io.Writer, s *queries.Session, opts Options) (*Report, error) {
	r, err := Build(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	if err := r.WriteHTML(w); err != nil {
		return nil, err
	}
	return r, nil
}

// ChartedLines counts the lines with a chart (one SVG each).
func (r *Report) ChartedLines() int {
	if r.Run == nil {
		return 0
	}
	n := 0
	for _, po := range r.Run.POs {
		n += len(po.Charted)
	}
	return n
}

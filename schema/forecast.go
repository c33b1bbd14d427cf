package schema

import (
	"time"

	"github.com/parquet-go/parquet-go"
)

// Forecast output table names: what `shelflake forecast` writes (package
// forecast/job) and the ERP write-back records (package forecast/writeback).
const (
	TableNameReplenishmentSuggestions = "replenishment_suggestions"
	TableNameForecasts                = "forecasts"
	TableNameForecastRuns             = "forecast_runs"
	TableNameERPWritebackLog          = "erp_writeback_log"
	TableNameSuggestionOutcomes       = "suggestion_outcomes"
)

// The forecast tables follow the raw tables' conventions (see the comment
// above PosLineRow). Their dt partition value is the run's as-of date (for
// erp_writeback_log: the as-of date of the document's run), tagged
// parquet:"-". Values that can be unknown or infinite (a backtest RMSSE
// without a backtest, weeks of cover without demand) are nullable pointers.

// ReplenishmentSuggestionRow is one row of replenishment_suggestions: the
// replenishment decision for one store-SKU as of dt, with its explanation.
// Rows with SuggestedQty > 0 are lines of the suggested purchase order
// document DocumentKey (one per location and supplier); the others explain
// why nothing is ordered.
type ReplenishmentSuggestionRow struct {
	DT         Date   `parquet:"-"`
	RunID      string `parquet:"run_id,dict"`
	LocationID string `parquet:"location_id,dict"`
	SKU        string `parquet:"sku,dict"`
	SupplierID string `parquet:"supplier_id,dict"`
	Currency   string `parquet:"currency,dict"`
	// DocumentKey is the suggestion document holding the line (empty, null,
	// when nothing is ordered or the supplier is unknown); the document
	// numbers its lines by SKU.
	DocumentKey string `parquet:"document_key,optional"`
	// NeedByDate is when the order must arrive: the day stock would fall to
	// safety stock without it, no earlier than the lead time allows and no
	// later than the protection window.
	NeedByDate   Date  `parquet:"need_by_date,date"`
	SuggestedQty int64 `parquet:"suggested_qty"`
	// PlannerQty is the planner's adjusted quantity: null until set.
	PlannerQty *int64 `parquet:"planner_qty,optional"`
	// UnitCost and ExtendedCost = SuggestedQty × UnitCost, exact.
	UnitCost     Money `parquet:"unit_cost,decimal(4:18)"`
	ExtendedCost Money `parquet:"extended_cost,decimal(4:18)"`
	// Reasons are comma-separated reason codes (below_rop, promo_uplift,
	// new_item, defaults_used); Defaulted the item-location parameters that
	// were missing and defaulted (lead_time, lead_time_sd, review_period,
	// case_pack, moq, service_level, unit_cost), and the inputs that were
	// missing: supplier (no item location: the line joins no document),
	// inventory (no stock position in the lookback: taken as zero).
	Reasons   string `parquet:"reasons,dict"`
	Defaulted string `parquet:"defaulted,dict"`
	// Model is the chosen forecasting method (or the ensemble's members),
	// ModelStatus selected, short_history or no_demand, BacktestRMSSE its
	// rolling-origin backtest RMSSE.
	Model         string   `parquet:"model,dict"`
	ModelStatus   string   `parquet:"model_status,dict"`
	BacktestRMSSE *float64 `parquet:"backtest_rmsse,optional"`
	// HistoryDays is the length of the demand series; CensoredDays its
	// stockout days (not taken as demand); PromoDays its promotion days.
	HistoryDays  int32 `parquet:"history_days"`
	CensoredDays int32 `parquet:"censored_days"`
	PromoDays    int32 `parquet:"promo_days"`
	// Velocity7/28/91 are units sold per in-stock day over the last 7, 28
	// and 91 days (stockout days left out).
	Velocity7  float64 `parquet:"velocity_7"`
	Velocity28 float64 `parquet:"velocity_28"`
	Velocity91 float64 `parquet:"velocity_91"`
	// SellThrough7/28/91 are units sold ÷ (units sold + ending on hand) over
	// the last 7, 28 and 91 days (null when both are zero).
	SellThrough7  *float64 `parquet:"sell_through_7,optional"`
	SellThrough28 *float64 `parquet:"sell_through_28,optional"`
	SellThrough91 *float64 `parquet:"sell_through_91,optional"`
	// WeeksOfSupply is on hand ÷ (7 × Velocity28) (null without velocity).
	WeeksOfSupply *float64 `parquet:"weeks_of_supply,optional"`
	// ForecastWindow is the forecast demand over the protection window,
	// DailyForecast its daily mean; SigmaDay and SigmaWindow the forecast
	// error spread per day and over the window.
	ForecastWindow float64 `parquet:"forecast_window"`
	DailyForecast  float64 `parquet:"daily_forecast"`
	SigmaDay       float64 `parquet:"sigma_day"`
	SigmaWindow    float64 `parquet:"sigma_window"`
	SafetyStock    float64 `parquet:"safety_stock"`
	ReorderPoint   float64 `parquet:"reorder_point"`
	OrderUpTo      float64 `parquet:"order_up_to"`
	// The stock position: InventoryPosition = OnHand + OnOrder − Allocated.
	OnHand            int64 `parquet:"on_hand"`
	OnOrder           int64 `parquet:"on_order"`
	Allocated         int64 `parquet:"allocated"`
	InventoryPosition int64 `parquet:"inventory_position"`
	// WeeksOfCover is on hand ÷ weekly forecast, WeeksOfCoverAfter
	// (inventory position + suggested quantity) ÷ weekly forecast; null
	// without forecast demand.
	WeeksOfCover      *float64 `parquet:"weeks_of_cover,optional"`
	WeeksOfCoverAfter *float64 `parquet:"weeks_of_cover_after,optional"`
	// The parameters used. LeadTimeSource says where the lead time came
	// from: observed_location (receipts of this supplier at this location),
	// observed_supplier (at every location), item_location (the nominal
	// lead time, spread defaulted) or default.
	LeadTimeDays     float64 `parquet:"lead_time_days"`
	LeadTimeSD       float64 `parquet:"lead_time_sd"`
	LeadTimeSource   string  `parquet:"lead_time_source,dict"`
	ReviewPeriodDays int32   `parquet:"review_period_days"`
	ProtectionDays   float64 `parquet:"protection_days"`
	CasePack         int64   `parquet:"case_pack"`
	MOQ              int64   `parquet:"moq"`
	ServiceLevel     float64 `parquet:"service_level"`
	Z                float64 `parquet:"z"`
	PromoUplift      float64 `parquet:"promo_uplift"`
}

// PartitionDate returns the row's dt: the as-of date.
func (r *ReplenishmentSuggestionRow) PartitionDate() Date { return r.DT }

// ForecastRow is one row of forecasts: the daily demand forecast of one
// store-SKU for one day after the as-of date dt.
type ForecastRow struct {
	DT         Date   `parquet:"-"`
	RunID      string `parquet:"run_id,dict"`
	LocationID string `parquet:"location_id,dict"`
	SKU        string `parquet:"sku,dict"`
	// Date is the day forecast; Horizon its distance from the last day of
	// history: 1 for the as-of date itself, the first day forecast.
	Date     Date    `parquet:"date,date"`
	Horizon  int32   `parquet:"horizon"`
	Forecast float64 `parquet:"forecast"`
	Model    string  `parquet:"model,dict"`
}

// PartitionDate returns the row's dt: the as-of date.
func (r *ForecastRow) PartitionDate() Date { return r.DT }

// ForecastRunRow is one row of forecast_runs: one completed forecast run.
// The run of an as-of date is written once; a rerun finds it and changes
// nothing.
type ForecastRunRow struct {
	DT    Date   `parquet:"-"`
	RunID string `parquet:"run_id"`
	// AsOf is the as-of date (= dt): the run used business dates before it.
	AsOf         Date      `parquet:"as_of,date"`
	HistoryStart Date      `parquet:"history_start,date"`
	StartedAt    time.Time `parquet:"started_at,timestamp(microsecond)"`
	FinishedAt   time.Time `parquet:"finished_at,timestamp(microsecond)"`
	// Series counts the store-SKU series forecast, by model status.
	Series       int64 `parquet:"series"`
	Selected     int64 `parquet:"selected"`
	ShortHistory int64 `parquet:"short_history"`
	NoDemand     int64 `parquet:"no_demand"`
	// ModelsChosen is a JSON object: model name → series.
	ModelsChosen string `parquet:"models_chosen"`
	// Fits counts candidate model fits.
	Fits int64 `parquet:"fits"`
	// MeanBacktestRMSSE is the mean backtest RMSSE of the series that had a
	// backtest; WeightedBacktestRMSSE the same weighted by each series'
	// sales over the last 28 days (units × unit cost, an M5-like weight).
	MeanBacktestRMSSE     *float64 `parquet:"mean_backtest_rmsse,optional"`
	WeightedBacktestRMSSE *float64 `parquet:"weighted_backtest_rmsse,optional"`
	// Lines counts suggestion lines with a quantity, Documents the suggested
	// purchase order documents, TotalUnits their units.
	Lines        int64 `parquet:"lines"`
	Documents    int64 `parquet:"documents"`
	TotalUnits   int64 `parquet:"total_units"`
	DefaultsUsed int64 `parquet:"defaults_used"`
	// TotalCost is a JSON object: currency → total extended cost (exact
	// decimal string).
	TotalCost string `parquet:"total_cost"`
	// Timings is a JSON object: stage → seconds.
	Timings string `parquet:"timings"`
	// Parameters is a JSON object: the run's options and the versions of the
	// input tables it read.
	Parameters string `parquet:"parameters"`
}

// PartitionDate returns the row's dt: the as-of date.
func (r *ForecastRunRow) PartitionDate() Date { return r.DT }

// Write-back statuses (ERPWritebackLogRow.Status).
const (
	// WritebackAccepted: the channel took the document (HTTP 2xx, or 409
	// for a key the ERP already holds; Kafka acknowledged; file written).
	WritebackAccepted = "accepted"
	// WritebackFailed: retries ran out on transient errors; retried on the
	// next run.
	WritebackFailed = "failed"
	// WritebackRejected: a permanent refusal (HTTP 4xx other than 408, 409
	// and 429), recorded with the response; retried on the next run too, in
	// case the cause was fixed.
	WritebackRejected = "rejected"
)

// ERPWritebackLogRow is one row of erp_writeback_log: the outcome of one
// delivery of a suggestion document over one channel (http, kafka, file).
// The latest row of a (document_key, channel) is its state; a document
// accepted on a channel is never sent on it again.
type ERPWritebackLogRow struct {
	DT          Date   `parquet:"-"`
	DocumentKey string `parquet:"document_key"`
	RunID       string `parquet:"run_id,dict"`
	LocationID  string `parquet:"location_id,dict"`
	SupplierID  string `parquet:"supplier_id,dict"`
	Channel     string `parquet:"channel,dict"`
	Status      string `parquet:"status,dict"`
	// Attempts counts the tries of this delivery.
	Attempts int32 `parquet:"attempts"`
	// ResponseCode is the last HTTP status (0 for none or other channels);
	// Response an excerpt of the last response body (or the Kafka
	// partition and offset, or the file path).
	ResponseCode int32  `parquet:"response_code"`
	Response     string `parquet:"response,optional"`
	// Error is the last error (null when accepted).
	Error          string    `parquet:"error,optional"`
	FirstAttemptAt time.Time `parquet:"first_attempt_at,timestamp(microsecond)"`
	LastAttemptAt  time.Time `parquet:"last_attempt_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt: the as-of date of the document's run.
func (r *ERPWritebackLogRow) PartitionDate() Date { return r.DT }

// SuggestionOutcomeRow is one row of suggestion_outcomes: one line of what
// a planner did in an ERP with a suggestion document, as read back at
// seen_at (shelflake writeback outcomes). An observation is the rows of one
// (external_ref, channel, seen_at); a new one is appended only when the
// decision or a quantity changed, so the newest observation of a document
// and channel is its current state and the earlier ones its history.
type SuggestionOutcomeRow struct {
	DT          Date   `parquet:"-"`
	ExternalRef string `parquet:"external_ref"`
	Channel     string `parquet:"channel,dict"`
	// DocID is the ERP's id of the document (null once deleted).
	DocID      string `parquet:"doc_id,optional"`
	RunID      string `parquet:"run_id,dict"`
	LocationID string `parquet:"location_id,dict"`
	SupplierID string `parquet:"supplier_id,dict"`
	// ERPStatus is the ERP's own status word; Decision pending, accepted,
	// changed or rejected.
	ERPStatus string `parquet:"erp_status,dict"`
	Decision  string `parquet:"decision,dict"`
	// SKU's SuggestedQty is what we sent (0: a line the planner added),
	// PlannerQty what the ERP holds (0: removed, or the order rejected).
	SKU          string    `parquet:"sku,dict"`
	SuggestedQty int64     `parquet:"suggested_qty"`
	PlannerQty   int64     `parquet:"planner_qty"`
	SeenAt       time.Time `parquet:"seen_at,timestamp(microsecond)"`
}

// PartitionDate returns the row's dt: the as-of date of the document's run.
func (r *SuggestionOutcomeRow) PartitionDate() Date { return r.DT }

// TableSuggestionOutcomes describes suggestion_outcomes.
func TableSuggestionOutcomes() *Table {
	return &Table{
		Name:            TableNameSuggestionOutcomes,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(SuggestionOutcomeRow{}),
		SortKey:         []string{"external_ref", "channel", "seen_at", "sku"},
		NaturalKey:      []string{"external_ref", "channel", "seen_at", "sku"},
		Description:     "planners' decisions on suggestion documents read back from the ERPs, one row per line and observation; dt = as-of date of the document's run",
	}
}

// TableReplenishmentSuggestions describes replenishment_suggestions.
func TableReplenishmentSuggestions() *Table {
	return &Table{
		Name:            TableNameReplenishmentSuggestions,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(ReplenishmentSuggestionRow{}),
		SortKey:         []string{"location_id", "sku"},
		NaturalKey:      []string{"location_id", "sku"},
		Description:     "one row per store-SKU forecast as of dt: the suggested order quantity (0: none) with its explanation; dt = as-of date",
	}
}

// TableForecasts describes forecasts.
func TableForecasts() *Table {
	return &Table{
		Name:            TableNameForecasts,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(ForecastRow{}),
		SortKey:         []string{"location_id", "sku", "date"},
		NaturalKey:      []string{"location_id", "sku", "date"},
		Description:     "one row per store-SKU and day forecast from the as-of date on; dt = as-of date",
	}
}

// TableForecastRuns describes forecast_runs.
func TableForecastRuns() *Table {
	return &Table{
		Name:            TableNameForecastRuns,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(ForecastRunRow{}),
		SortKey:         []string{"as_of"},
		NaturalKey:      []string{"as_of"},
		Description:     "one row per completed forecast run; dt = as-of date",
	}
}

// TableERPWritebackLog describes erp_writeback_log.
func TableERPWritebackLog() *Table {
	return &Table{
		Name:            TableNameERPWritebackLog,
		PartitionColumn: PartitionColumn,
		Schema:          parquet.SchemaOf(ERPWritebackLogRow{}),
		SortKey:         []string{"document_key", "channel", "last_attempt_at"},
		NaturalKey:      []string{"document_key", "channel", "last_attempt_at"},
		Description:     "one row per delivery of a suggestion document over a channel; dt = as-of date of the document's run",
	}
}

// ForecastTables returns the forecast output tables, in a fixed order.
func ForecastTables() []*Table {
	return []*Table{
		TableReplenishmentSuggestions(),
		TableForecasts(),
		TableForecastRuns(),
		TableERPWritebackLog(),
	}
}

// Package writeback delivers suggested purchase order documents to the ERP
// and records every delivery in the lake, so that reruns are safe.
//
// # Documents
//
// A Document is an immutable suggested purchase order: the order lines of one
// location from one supplier, as of a forecast run's date. Its key
// (DocumentKey) is a hash of the as-of date's ISO week, the location and the
// supplier: the same week's suggestion for the same location and supplier
// always has the same key, whichever run made it. The key is the document's
// external_ref and its HTTP Idempotency-Key.
//
// The forecast job stores each run's documents in the lake's bucket under
// OutboxPrefix (see Outbox) before the run is complete; once the run is
// recorded in forecast_runs they are never rewritten.
//
// # Delivery
//
// A Deliverer sends documents over its channels — HTTP to the ERP (OAuth2
// client credentials, Idempotency-Key, retries with backoff honouring
// Retry-After), a Kafka topic (idempotent producer keyed by location), files
// for planners — and appends one erp_writeback_log row per document and
// channel. Before sending it reads the log: a document accepted on a channel
// is never sent on it again; one that failed or was rejected is sent again
// by the next run or by Retry. Every document thus ends up accepted exactly
// once per channel (the ERP deduplicates by key what a lost response made us
// resend) or recorded as failed.
package writeback

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/shelflake/shelflake/schema"
)

// DocumentType is the type field of every suggestion document.
const DocumentType = "replenishment_suggestion"

// SchemaVersion is the version of the document format.
const SchemaVersion = 1

// Document is a suggested purchase order of one location from one supplier.
type Document struct {
	SchemaVersion int    `json:"schema_version"`
	Type          string `json:"type"`
	// ExternalRef is the document key (DocumentKey), also sent as the
	// Idempotency-Key header.
	ExternalRef string      `json:"external_ref"`
	AsOf        schema.Date `json:"as_of"`
	// Week is the ISO week of AsOf, "2026-W10".
	Week       string `json:"week"`
	RunID      string `json:"run_id"`
	LocationID string `json:"location_id"`
	SupplierID string `json:"supplier_id"`
	Currency   string `json:"currency"`
	// NeedByDate is the earliest need-by date of the lines.
	NeedByDate schema.Date `json:"need_by_date"`
	LineCount  int         `json:"line_count"`
	// TotalQty and TotalCost are the sums over the lines, exact.
	TotalQty  int64        `json:"total_qty"`
	TotalCost schema.Money `json:"total_cost"`
	Lines     []Line       `json:"lines"`
}

// Line is one SKU of a document.
type Line struct {
	LineNo       int          `json:"line_no"`
	SKU          string       `json:"sku"`
	Qty          int64        `json:"qty"`
	CasePack     int64        `json:"case_pack"`
	MOQ          int64        `json:"moq"`
	UnitCost     schema.Money `json:"unit_cost"`
	ExtendedCost schema.Money `json:"extended_cost"`
	NeedByDate   schema.Date  `json:"need_by_date"`
	// Reasons are the line's reason codes (below_rop, promo_uplift,
	// new_item, defaults_used).
	Reasons     []string    `json:"reasons"`
	Explanation Explanation `json:"explanation"`
}

// Explanation is why a line orders what it orders (see package
// forecast/replenish). Quantities are units.
type Explanation struct {
	Model             string   `json:"model"`
	BacktestRMSSE     *float64 `json:"backtest_rmsse"`
	Velocity7         float64  `json:"velocity_7"`
	Velocity28        float64  `json:"velocity_28"`
	Velocity91        float64  `json:"velocity_91"`
	SellThrough28     *float64 `json:"sell_through_28"`
	ForecastWindow    float64  `json:"forecast_window"`
	SigmaWindow       float64  `json:"sigma_window"`
	SafetyStock       float64  `json:"safety_stock"`
	ReorderPoint      float64  `json:"reorder_point"`
	OrderUpTo         float64  `json:"order_up_to"`
	OnHand            int64    `json:"on_hand"`
	OnOrder           int64    `json:"on_order"`
	Allocated         int64    `json:"allocated"`
	InventoryPosition int64    `json:"inventory_position"`
	WeeksOfCover      *float64 `json:"weeks_of_cover"`
	LeadTimeDays      float64  `json:"lead_time_days"`
	LeadTimeSD        float64  `json:"lead_time_sd"`
	ReviewPeriodDays  int      `json:"review_period_days"`
	ServiceLevel      float64  `json:"service_level"`
	// Defaulted lists the item-location parameters that were missing.
	Defaulted []string `json:"defaulted"`
}

// ISOWeek returns the ISO 8601 week of d, "2026-W02".
func ISOWeek(d schema.Date) string {
	y, w := d.Time().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// DocumentKey returns the deterministic key of the suggestion document of a
// location and supplier for the ISO week of asOf: 32 hex digits of a SHA-256.
func DocumentKey(asOf schema.Date, locationID, supplierID string) string {
	h := sha256.New()
	// Lengths first: no two triples hash the same bytes.
	fmt.Fprintf(h, "shelflake/replenishment_suggestion/v1\x00%s\x00%d:%s\x00%d:%s", ISOWeek(asOf), len(locationID), locationID, len(supplierID), supplierID)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Round3 rounds x to three decimals, for explanations (0 for NaN and
// infinities).
func Round3(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*1000) / 1000
}

// Finalize numbers the lines in their order, sets the totals, the line count,
// the need-by date, the week and the key, and validates the document.
func (d *Document) Finalize() error {
	d.SchemaVersion, d.Type = SchemaVersion, DocumentType
	d.Week = ISOWeek(d.AsOf)
	d.ExternalRef = DocumentKey(d.AsOf, d.LocationID, d.SupplierID)
	d.LineCount = len(d.Lines)
	d.TotalQty, d.TotalCost = 0, 0
	for i := range d.Lines {
		l := &d.Lines[i]
		l.LineNo = i + 1
		d.TotalQty += l.Qty
		d.TotalCost += l.ExtendedCost
		if i == 0 || l.NeedByDate < d.NeedByDate {
			d.NeedByDate = l.NeedByDate
		}
	}
	return d.Validate()
}

// Validate checks the document's invariants: type and version, the key, at
// least one line, line numbers 1..n, positive quantities, extended cost =
// qty × unit cost, and totals = Σ lines, exactly.
func (d *Document) Validate() error {
	var errs []error
	if d.SchemaVersion != SchemaVersion {
		errs = append(errs, fmt.Errorf("schema_version %d: want %d", d.SchemaVersion, SchemaVersion))
	}
	if d.Type != DocumentType {
		errs = append(errs, fmt.Errorf("type %q: want %q", d.Type, DocumentType))
	}
	if d.LocationID == "" || d.SupplierID == "" {
		errs = append(errs, errors.New("location_id and supplier_id are required"))
	}
	if !schema.IsCurrency(d.Currency) {
		errs = append(errs, fmt.Errorf("currency %q: not an ISO 4217 code", d.Currency))
	}
	if want := DocumentKey(d.AsOf, d.LocationID, d.SupplierID); d.ExternalRef != want {
		errs = append(errs, fmt.Errorf("external_ref %q: want %q", d.ExternalRef, want))
	}
	if d.Week != ISOWeek(d.AsOf) {
		errs = append(errs, fmt.Errorf("week %q: as_of %s is in %s", d.Week, d.AsOf, ISOWeek(d.AsOf)))
	}
	if len(d.Lines) == 0 || d.LineCount != len(d.Lines) {
		errs = append(errs, fmt.Errorf("line_count %d with %d lines: want at least one", d.LineCount, len(d.Lines)))
	}
	var qty int64
	var cost schema.Money
	need := schema.Date(math.MaxInt32)
	skus := map[string]bool{}
	for i, l := range d.Lines {
		if l.LineNo != i+1 {
			errs = append(errs, fmt.Errorf("line %d: line_no %d", i+1, l.LineNo))
		}
		if l.SKU == "" || skus[l.SKU] {
			errs = append(errs, fmt.Errorf("line %d: sku %q empty or repeated", i+1, l.SKU))
		}
		skus[l.SKU] = true
		if l.Qty <= 0 || l.CasePack < 1 || l.Qty%l.CasePack != 0 || l.Qty < l.MOQ {
			errs = append(errs, fmt.Errorf("line %d: qty %d with case pack %d and moq %d", i+1, l.Qty, l.CasePack, l.MOQ))
		}
		if l.UnitCost < 0 || l.ExtendedCost != l.UnitCost.Mul(l.Qty) {
			errs = append(errs, fmt.Errorf("line %d: extended cost %s ≠ %d × %s", i+1, l.ExtendedCost, l.Qty, l.UnitCost))
		}
		qty += l.Qty
		cost += l.ExtendedCost
		need = min(need, l.NeedByDate)
	}
	if qty != d.TotalQty || cost != d.TotalCost {
		errs = append(errs, fmt.Errorf("totals %d units, %s: lines sum to %d units, %s", d.TotalQty, d.TotalCost, qty, cost))
	}
	if len(d.Lines) > 0 && need != d.NeedByDate {
		errs = append(errs, fmt.Errorf("need_by_date %s: earliest line needs %s", d.NeedByDate, need))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("document %s/%s: %w", d.LocationID, d.SupplierID, err)
	}
	return nil
}

// Marshal returns the document's JSON: compact, fields in declaration
// order, so the same document always has the same bytes.
func (d *Document) Marshal() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", d.ExternalRef, err)
	}
	return b, nil
}

// ParseDocument decodes and validates a document, refusing unknown fields.
func ParseDocument(b []byte) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	if dec.More() {
		return nil, errors.New("document: trailing data")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// CSVHeader is the header of a document's CSV rendering (CSV).
var CSVHeader = []string{"external_ref", "as_of", "location_id", "supplier_id", "currency", "line_no", "sku",
	"qty", "case_pack", "moq", "unit_cost", "extended_cost", "need_by_date", "reasons", "model",
	"forecast_window", "safety_stock", "reorder_point", "order_up_to", "on_hand", "on_order", "inventory_position"}

// CSV renders the document as CSV for planners who import by hand: CSVHeader,
// then one row per line.
func (d *Document) CSV() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(CSVHeader); err != nil {
		return nil, err
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	for _, l := range d.Lines {
		e := &l.Explanation
		rec := []string{d.ExternalRef, d.AsOf.String(), d.LocationID, d.SupplierID, d.Currency,
			strconv.Itoa(l.LineNo), l.SKU, strconv.FormatInt(l.Qty, 10), strconv.FormatInt(l.CasePack, 10),
			strconv.FormatInt(l.MOQ, 10), l.UnitCost.String(), l.ExtendedCost.String(), l.NeedByDate.String(),
			strings.Join(l.Reasons, ","), e.Model, f(e.ForecastWindow), f(e.SafetyStock), f(e.ReorderPoint),
			f(e.OrderUpTo), strconv.FormatInt(e.OnHand, 10), strconv.FormatInt(e.OnOrder, 10),
			strconv.FormatInt(e.InventoryPosition, 10)}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("document %s as csv: %w", d.ExternalRef, err)
	}
	return buf.Bytes(), nil
}

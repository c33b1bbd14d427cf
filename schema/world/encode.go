package world

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shelflake/shelflake/schema"
)

// The appenders below write exactly what encoding/json.Marshal writes for the
// schema types (a test holds them to it), several times faster.

// appendJSONString appends s as encoding/json does (HTML-safe escaping).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // non-ASCII: rare, let encoding/json do it
			return append(b, q...)
		}
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendJSONDate(b []byte, d schema.Date) []byte {
	b = append(b, '"')
	b = d.Time().AppendFormat(b, time.DateOnly)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json does for values in its plain
// range; others go through encoding/json.
func appendJSONFloat(b []byte, f float64) []byte {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) || math.IsNaN(f) || math.IsInf(f, 0) {
		q, _ := json.Marshal(f)
		return append(b, q...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

type jsonObj struct {
	b     []byte
	first bool
}

func (o *jsonObj) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObj) str(k, v string)                { o.key(k); o.b = appendJSONString(o.b, v) }
func (o *jsonObj) int(k string, v int64)          { o.key(k); o.b = strconv.AppendInt(o.b, v, 10) }
func (o *jsonObj) money(k string, v schema.Money) { o.key(k); o.b = v.AppendText(o.b) }
func (o *jsonObj) time(k string, v time.Time)     { o.key(k); o.b = appendJSONTime(o.b, v) }
func (o *jsonObj) date(k string, v schema.Date)   { o.key(k); o.b = appendJSONDate(o.b, v) }

func (o *jsonObj) open(b []byte) { o.b = append(b, '{'); o.first = true }
func (o *jsonObj) close() []byte { return append(o.b, '}') }

func appendPOS(b []byte, t *schema.POSTransaction) []byte {
	var o jsonObj
	o.open(b)
	o.int("schema_version", int64(t.SchemaVersion))
	o.str("transaction_id", t.TransactionID)
	o.str("store_id", t.StoreID)
	o.str("register_id", t.RegisterID)
	o.str("type", string(t.Type))
	o.date("business_date", t.BusinessDate)
	o.time("event_time", t.EventTime)
	o.str("currency", t.Currency)
	if t.CustomerID != "" {
		o.str("customer_id", t.CustomerID)
	}
	o.money("total", t.Total)
	o.key("tenders")
	if t.Tenders == nil {
		o.b = append(o.b, "null"...)
	} else {
		o.b = append(o.b, '[')
		for i := range t.Tenders {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			var to jsonObj
			to.open(o.b)
			to.str("type", t.Tenders[i].Type)
			to.money("amount", t.Tenders[i].Amount)
			o.b = to.close()
		}
		o.b = append(o.b, ']')
	}
	o.key("lines")
	if t.Lines == nil {
		o.b = append(o.b, "null"...)
	} else {
		o.b = append(o.b, '[')
		for i := range t.Lines {
			l := &t.Lines[i]
			if i > 0 {
				o.b = append(o.b, ',')
			}
			var lo jsonObj
			lo.open(o.b)
			lo.int("line_no", int64(l.LineNo))
			lo.str("sku", l.SKU)
			lo.int("quantity", l.Quantity)
			lo.money("unit_price", l.UnitPrice)
			lo.money("discount", l.Discount)
			lo.money("tax", l.Tax)
			lo.money("line_total", l.LineTotal)
			if l.PromotionID != "" {
				lo.str("promotion_id", l.PromotionID)
			}
			o.b = lo.close()
		}
		o.b = append(o.b, ']')
	}
	return o.close()
}

func appendInventory(b []byte, r *schema.InventoryRecord) []byte {
	var o jsonObj
	o.open(b)
	o.int("schema_version", int64(r.SchemaVersion))
	o.str("snapshot_id", r.SnapshotID)
	o.str("kind", string(r.Kind))
	o.int("snapshot_rows", int64(r.SnapshotRows))
	o.str("location_id", r.LocationID)
	o.str("sku", r.SKU)
	o.int("on_hand", r.OnHand)
	o.int("allocated", r.Allocated)
	o.int("in_transit", r.InTransit)
	o.time("as_of", r.AsOf)
	return o.close()
}

func appendPurchaseOrder(b []byte, l *schema.PurchaseOrderLine) []byte {
	var o jsonObj
	o.open(b)
	o.int("schema_version", int64(l.SchemaVersion))
	o.str("po_id", l.POID)
	o.int("line_no", int64(l.LineNo))
	o.str("supplier_id", l.SupplierID)
	o.str("location_id", l.LocationID)
	o.str("sku", l.SKU)
	o.int("qty_ordered", l.QtyOrdered)
	o.int("qty_received", l.QtyReceived)
	o.str("status", string(l.Status))
	o.date("order_date", l.OrderDate)
	o.date("expected_date", l.ExpectedDate)
	o.time("updated_at", l.UpdatedAt)
	o.money("unit_cost", l.UnitCost)
	o.str("currency", l.Currency)
	return o.close()
}

func appendItemLocation(b []byte, il *schema.ItemLocation) []byte {
	var o jsonObj
	o.open(b)
	o.int("schema_version", int64(il.SchemaVersion))
	o.str("sku", il.SKU)
	o.str("location_id", il.LocationID)
	o.str("description", il.Description)
	o.str("category", il.Category)
	o.str("department", il.Department)
	o.str("supplier_id", il.SupplierID)
	o.int("lead_time_days", int64(il.LeadTimeDays))
	o.int("review_period_days", int64(il.ReviewPeriodDays))
	o.int("case_pack", int64(il.CasePack))
	o.int("moq", int64(il.MOQ))
	o.money("unit_cost", il.UnitCost)
	o.money("unit_price", il.UnitPrice)
	o.str("currency", il.Currency)
	o.key("service_level")
	o.b = appendJSONFloat(o.b, il.ServiceLevel)
	o.key("active")
	o.b = strconv.AppendBool(o.b, il.Active)
	o.time("updated_at", il.UpdatedAt)
	return o.close()
}

func appendPromotion(b []byte, p *schema.Promotion) []byte {
	var o jsonObj
	o.open(b)
	o.int("schema_version", int64(p.SchemaVersion))
	o.str("promotion_id", p.PromotionID)
	o.str("sku", p.SKU)
	if p.LocationID != "" {
		o.str("location_id", p.LocationID)
	}
	o.date("start_date", p.StartDate)
	o.date("end_date", p.EndDate)
	o.int("discount_pct", int64(p.DiscountPct))
	o.str("status", string(p.Status))
	o.time("updated_at", p.UpdatedAt)
	return o.close()
}

// appendRecord appends the JSON of one of the five schema records.
func appendRecord(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case *schema.POSTransaction:
		return appendPOS(b, x), true
	case *schema.InventoryRecord:
		return appendInventory(b, x), true
	case *schema.PurchaseOrderLine:
		return appendPurchaseOrder(b, x), true
	case *schema.ItemLocation:
		return appendItemLocation(b, x), true
	case *schema.Promotion:
		return appendPromotion(b, x), true
	}
	return b, false
}

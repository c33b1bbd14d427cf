package schema

import (
	"math"
	"strconv"
)

// Member tables (read-only). Indexes follow the Go struct fields.
var (
	inventoryFields = fieldSet{
		names: []string{"schema_version", "snapshot_id", "kind", "snapshot_rows", "location_id",
			"sku", "on_hand", "allocated", "in_transit", "as_of"},
		required: requiredBut(10),
	}
	purchaseOrderFields = fieldSet{
		names: []string{"schema_version", "po_id", "line_no", "supplier_id", "location_id", "sku",
			"qty_ordered", "qty_received", "status", "order_date", "expected_date", "updated_at",
			"unit_cost", "currency"},
		required: requiredBut(14),
	}
	itemLocationFields = fieldSet{
		names: []string{"schema_version", "sku", "location_id", "description", "category",
			"department", "supplier_id", "lead_time_days", "review_period_days", "case_pack", "moq",
			"unit_cost", "unit_price", "currency", "service_level", "active", "updated_at"},
		required: requiredBut(17),
	}
	promotionFields = fieldSet{
		names: []string{"schema_version", "promotion_id", "sku", "location_id", "start_date",
			"end_date", "discount_pct", "status", "updated_at"},
		required: requiredBut(9, 3),
	}
)

const (
	maxInt32 = math.MaxInt32
	maxInt64 = math.MaxInt64
	// maxDays bounds lead times and review periods: ten years.
	maxDays = 3660
	// maxPromotionDays bounds how many days one promotion runs (start_date
	// and end_date included): a leap year.
	maxPromotionDays = 366
)

// DecodeInventory decodes one erp.inventory document with a fresh Decoder;
// see Decoder.Inventory.
func DecodeInventory(b []byte) (InventoryRecord, error) {
	var d Decoder
	return d.Inventory(b)
}

// Inventory decodes and validates one erp.inventory document: exactly the
// members of InventoryRecord; schema_version 1; non-empty ids; kind full or
// partial; 1 <= snapshot_rows <= 2^31−1; allocated >= 0 and in_transit >= 0
// (on_hand may be negative, as real ERPs report it); as_of in RFC 3339 with
// a zone offset.
func (d *Decoder) Inventory(b []byte) (InventoryRecord, error) {
	var r InventoryRecord
	d.reset(b)
	d.ws()
	e := d.object(&inventoryFields, path{idx: -1}, func(f int) *DecodeError { return d.inventoryMember(&r, f) })
	if e == nil {
		e = d.end()
	}
	if e != nil {
		return InventoryRecord{}, d.finish(e)
	}
	d.b = nil
	return r, nil
}

func (d *Decoder) inventoryMember(r *InventoryRecord, f int) *DecodeError {
	var e *DecodeError
	switch f {
	case 0:
		e = d.version()
		r.SchemaVersion = CurrentVersion
	case 1:
		r.SnapshotID, e = d.id(false)
	case 2:
		var v []byte
		if v, e = d.stringValue(); e == nil {
			switch SnapshotKind(v) {
			case SnapshotFull:
				r.Kind = SnapshotFull
			case SnapshotPartial:
				r.Kind = SnapshotPartial
			default:
				e = invalid(strconv.Quote(string(v)) + " is not one of full, partial")
			}
		}
	case 3:
		var v int64
		v, e = d.intIn(1, maxInt32)
		r.SnapshotRows = int(v)
	case 4:
		r.LocationID, e = d.id(true)
	case 5:
		r.SKU, e = d.id(true)
	case 6:
		r.OnHand, e = d.integer()
	case 7:
		r.Allocated, e = d.intIn(0, maxInt64)
	case 8:
		r.InTransit, e = d.intIn(0, maxInt64)
	case 9:
		r.AsOf, e = d.timestamp()
	}
	return e
}

// DecodePurchaseOrder decodes one erp.purchase_orders document with a fresh
// Decoder; see Decoder.PurchaseOrder.
func DecodePurchaseOrder(b []byte) (PurchaseOrderLine, error) {
	var d Decoder
	return d.PurchaseOrder(b)
}

// PurchaseOrder decodes and validates one erp.purchase_orders document:
// exactly the members of PurchaseOrderLine; schema_version 1; non-empty ids;
// 1 <= line_no <= 2^31−1; qty_ordered > 0; qty_received >= 0; unit_cost >=
// 0; a known ISO 4217 currency; expected_date >= order_date; updated_at in
// RFC 3339 with a zone offset; and a status that agrees with the quantities:
//   - open: nothing received yet (qty_received = 0);
//   - partially_received: 0 < qty_received < qty_ordered;
//   - received: something arrived (qty_received > 0); a short delivery that
//     closes the line and an over-delivery are both real, so neither is
//     refused;
//   - cancelled: any qty_received (the rest of a part-delivered line can be
//     cancelled).
func (d *Decoder) PurchaseOrder(b []byte) (PurchaseOrderLine, error) {
	var l PurchaseOrderLine
	d.reset(b)
	d.ws()
	e := d.object(&purchaseOrderFields, path{idx: -1}, func(f int) *DecodeError { return d.purchaseOrderMember(&l, f) })
	if e == nil {
		e = d.end()
	}
	if e == nil {
		e = purchaseOrderCheck(&l)
	}
	if e != nil {
		return PurchaseOrderLine{}, d.finish(e)
	}
	d.b = nil
	return l, nil
}

func (d *Decoder) purchaseOrderMember(l *PurchaseOrderLine, f int) *DecodeError {
	var e *DecodeError
	switch f {
	case 0:
		e = d.version()
		l.SchemaVersion = CurrentVersion
	case 1:
		l.POID, e = d.id(false)
	case 2:
		var v int64
		v, e = d.intIn(1, maxInt32)
		l.LineNo = int(v)
	case 3:
		l.SupplierID, e = d.id(true)
	case 4:
		l.LocationID, e = d.id(true)
	case 5:
		l.SKU, e = d.id(true)
	case 6:
		l.QtyOrdered, e = d.intIn(1, maxInt64)
	case 7:
		l.QtyReceived, e = d.intIn(0, maxInt64)
	case 8:
		var v []byte
		if v, e = d.stringValue(); e == nil {
			switch POStatus(v) {
			case POOpen:
				l.Status = POOpen
			case POPartiallyReceived:
				l.Status = POPartiallyReceived
			case POReceived:
				l.Status = POReceived
			case POCancelled:
				l.Status = POCancelled
			default:
				e = invalid(strconv.Quote(string(v)) + " is not one of open, partially_received, received, cancelled")
			}
		}
	case 9:
		l.OrderDate, e = d.date()
	case 10:
		l.ExpectedDate, e = d.date()
	case 11:
		l.UpdatedAt, e = d.timestamp()
	case 12:
		l.UnitCost, e = d.nonNegMoney()
	case 13:
		l.Currency, e = d.currency()
	}
	return e
}

func purchaseOrderCheck(l *PurchaseOrderLine) *DecodeError {
	if l.ExpectedDate < l.OrderDate {
		return &DecodeError{Path: "expected_date", Reason: ReasonInvalidValue,
			Msg: l.ExpectedDate.String() + " is before order_date " + l.OrderDate.String()}
	}
	recv := strconv.FormatInt(l.QtyReceived, 10)
	switch l.Status {
	case POOpen:
		if l.QtyReceived != 0 {
			return &DecodeError{Path: "qty_received", Reason: ReasonInvalidValue, Msg: recv + " received on an open line"}
		}
	case POPartiallyReceived:
		if l.QtyReceived == 0 || l.QtyReceived >= l.QtyOrdered {
			return &DecodeError{Path: "qty_received", Reason: ReasonInvalidValue,
				Msg: recv + " of " + strconv.FormatInt(l.QtyOrdered, 10) + " is not a partial receipt"}
		}
	case POReceived:
		if l.QtyReceived == 0 {
			return &DecodeError{Path: "qty_received", Reason: ReasonInvalidValue, Msg: "nothing received on a received line"}
		}
	}
	return nil
}

// DecodeItemLocation decodes one erp.item_locations document with a fresh
// Decoder; see Decoder.ItemLocation.
func DecodeItemLocation(b []byte) (ItemLocation, error) {
	var d Decoder
	return d.ItemLocation(b)
}

// ItemLocation decodes and validates one erp.item_locations document:
// exactly the members of ItemLocation; schema_version 1; non-empty sku,
// location_id, category, department and supplier_id (description may be
// empty); 0 <= lead_time_days <= 3660; 1 <= review_period_days <= 3660;
// 1 <= case_pack <= 2^31−1; 0 <= moq <= 2^31−1; unit_cost, unit_price >= 0;
// a known ISO 4217 currency; 0 < service_level < 1; updated_at in RFC 3339
// with a zone offset.
func (d *Decoder) ItemLocation(b []byte) (ItemLocation, error) {
	var il ItemLocation
	d.reset(b)
	d.ws()
	e := d.object(&itemLocationFields, path{idx: -1}, func(f int) *DecodeError { return d.itemLocationMember(&il, f) })
	if e == nil {
		e = d.end()
	}
	if e != nil {
		return ItemLocation{}, d.finish(e)
	}
	d.b = nil
	return il, nil
}

func (d *Decoder) itemLocationMember(il *ItemLocation, f int) *DecodeError {
	var e *DecodeError
	var v int64
	switch f {
	case 0:
		e = d.version()
		il.SchemaVersion = CurrentVersion
	case 1:
		il.SKU, e = d.id(true)
	case 2:
		il.LocationID, e = d.id(true)
	case 3:
		il.Description, e = d.text()
	case 4:
		il.Category, e = d.id(true)
	case 5:
		il.Department, e = d.id(true)
	case 6:
		il.SupplierID, e = d.id(true)
	case 7:
		v, e = d.intIn(0, maxDays)
		il.LeadTimeDays = int(v)
	case 8:
		v, e = d.intIn(1, maxDays)
		il.ReviewPeriodDays = int(v)
	case 9:
		v, e = d.intIn(1, maxInt32)
		il.CasePack = int(v)
	case 10:
		v, e = d.intIn(0, maxInt32)
		il.MOQ = int(v)
	case 11:
		il.UnitCost, e = d.nonNegMoney()
	case 12:
		il.UnitPrice, e = d.nonNegMoney()
	case 13:
		il.Currency, e = d.currency()
	case 14:
		il.ServiceLevel, e = d.float()
		if e == nil && !(il.ServiceLevel > 0 && il.ServiceLevel < 1) {
			e = invalid(strconv.FormatFloat(il.ServiceLevel, 'g', -1, 64) + " is not strictly between 0 and 1")
		}
	case 15:
		il.Active, e = d.boolean()
	case 16:
		il.UpdatedAt, e = d.timestamp()
	}
	return e
}

// DecodePromotion decodes one erp.promotions document with a fresh Decoder;
// see Decoder.Promotion.
func DecodePromotion(b []byte) (Promotion, error) {
	var d Decoder
	return d.Promotion(b)
}

// Promotion decodes and validates one erp.promotions document: exactly the
// members of Promotion; schema_version 1; non-empty promotion_id and sku;
// location_id absent or null (a chain-wide promotion) or a non-empty id;
// start_date and end_date dates with start_date <= end_date and at most 366
// days from one to the other, both included; 1 <= discount_pct <= 99;
// status planned or cancelled; updated_at in RFC 3339 with a zone offset.
func (d *Decoder) Promotion(b []byte) (Promotion, error) {
	var p Promotion
	d.reset(b)
	d.ws()
	e := d.object(&promotionFields, path{idx: -1}, func(f int) *DecodeError { return d.promotionMember(&p, f) })
	if e == nil {
		e = d.end()
	}
	if e == nil {
		e = promotionCheck(&p)
	}
	if e != nil {
		return Promotion{}, d.finish(e)
	}
	d.b = nil
	return p, nil
}

func (d *Decoder) promotionMember(p *Promotion, f int) *DecodeError {
	var e *DecodeError
	switch f {
	case 0:
		e = d.version()
		p.SchemaVersion = CurrentVersion
	case 1:
		p.PromotionID, e = d.id(true) // one promotion covers many SKUs
	case 2:
		p.SKU, e = d.id(true)
	case 3:
		p.LocationID, e = d.optionalID(true)
	case 4:
		p.StartDate, e = d.date()
	case 5:
		p.EndDate, e = d.date()
	case 6:
		var v int64
		v, e = d.intIn(1, 99)
		p.DiscountPct = int(v)
	case 7:
		var v []byte
		if v, e = d.stringValue(); e == nil {
			switch PromotionStatus(v) {
			case PromotionPlanned:
				p.Status = PromotionPlanned
			case PromotionCancelled:
				p.Status = PromotionCancelled
			default:
				e = invalid(strconv.Quote(string(v)) + " is not one of planned, cancelled")
			}
		}
	case 8:
		p.UpdatedAt, e = d.timestamp()
	}
	return e
}

func promotionCheck(p *Promotion) *DecodeError {
	if p.EndDate < p.StartDate {
		return &DecodeError{Path: "end_date", Reason: ReasonInvalidValue,
			Msg: p.EndDate.String() + " is before start_date " + p.StartDate.String()}
	}
	if days := int64(p.EndDate-p.StartDate) + 1; days > maxPromotionDays {
		return &DecodeError{Path: "end_date", Reason: ReasonInvalidValue,
			Msg: p.EndDate.String() + " makes a promotion of " + strconv.FormatInt(days, 10) +
				" days from start_date " + p.StartDate.String() + " (at most " + strconv.Itoa(maxPromotionDays) + ")"}
	}
	return nil
}

package world

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// Topic indices into topicNames.
const (
	topicPOS = iota
	topicInventory
	topicPO
	topicItem
	topicPromo
	numTopics
)

// topicNames are the generator's topics by index: the input streams of
// schema.Topics, in its order (a test holds them to it).
var topicNames = [numTopics]string{
	topicPOS:       schema.TopicPOS,
	topicInventory: schema.TopicInventory,
	topicPO:        schema.TopicPurchaseOrder,
	topicItem:      schema.TopicItemLocation,
	topicPromo:     schema.TopicPromotion,
}

// event is one record to publish, before or after marshalling.
type event struct {
	at    int64 // world time, Unix seconds: the merge key
	topic int
	loc   int
	key   string
	v     any // *schema.POSTransaction, *schema.InventoryRecord, *schema.PurchaseOrderLine, *schema.ItemLocation, *schema.Promotion
	// bad is the malformed variant to send right after this record (0: none),
	// drawn from badSeed.
	bad     badKind
	badSeed uint64
	// value and badValue are the marshalled records; reason says what is
	// wrong with badValue.
	value, badValue []byte
	reason          string
}

// locDay is what one location produced on one day.
type locDay struct {
	events []event
	rows   []truthRow
	faults []FaultEvent
}

// truthRow is a series' day in the ground truth.
type truthRow struct {
	demand, sold, lost, returned, received, onHand, onOrder int64
}

// renderer turns a location's day into records. One per goroutine.
type renderer struct {
	w       *World
	results []DayResult // per SKU, Events copied into evArena
	evArena []POEvent
	lines   []lineSpec
	baskets []basket
	txns    []*schema.POSTransaction
	poEv    []poEventAt
}

type lineSpec struct {
	sku int
	qty int64
}

type basket struct {
	sec        int // seconds after local midnight
	from, to   int // lines[from:to]
	kind       schema.TxnType
	returnSKU  int
	returnQty  int64
	voidSource int
}

type poEventAt struct {
	sec int
	sku int
	ev  POEvent
}

// localTime returns the wall time sec seconds after midnight of date at l.
func localTime(l *Location, date schema.Date, sec int) time.Time {
	y, m, d := date.Time().Date()
	return time.Date(y, m, d, 0, 0, sec, 0, l.TZ)
}

// render steps every series of loc through day and renders the records.
func (rd *renderer) render(sims []*Sim, loc, day int, badRate float64, marshal bool) (locDay, error) {
	w := rd.w
	l := &w.locs[loc]
	date := w.Date(day)
	var out locDay
	out.rows = make([]truthRow, len(sims))
	rd.results = rd.results[:0]
	rd.evArena = rd.evArena[:0]

	if day == 0 {
		// Item-location parameters at 05:00, and the opening stock at 06:00.
		for sku, s := range sims {
			rd.itemLocation(&out, l, sku, &s.si.params[0], date)
		}
		snap := fmt.Sprintf("INV-%s-%s-OPEN", l.ID, ymd(date))
		at := localTime(l, date, 6*3600)
		for sku, s := range sims {
			out.events = append(out.events, rd.inventory(l, sku, snap, schema.SnapshotFull, len(sims), s.OnHand(), 0, 0, at))
		}
	}
	for sku, s := range sims {
		if s.si.update == day && day > 0 {
			rd.itemLocation(&out, l, sku, &s.si.params[1], date)
		}
		r := s.Step()
		if r == nil {
			return out, fmt.Errorf("series %s/%s: stepped past the last day", l.ID, w.items[sku].ID)
		}
		start := len(rd.evArena)
		rd.evArena = append(rd.evArena, r.Events...)
		c := *r
		c.Events = rd.evArena[start:len(rd.evArena):len(rd.evArena)]
		rd.results = append(rd.results, c)
		out.rows[sku] = truthRow{demand: r.Demand, sold: r.Sold, lost: r.Lost, returned: r.Returned,
			received: r.Received, onHand: r.OnHand, onOrder: r.OnOrder}
		if r.Fault != nil {
			out.faults = append(out.faults, r.Fault.Events...)
		}
	}
	rd.counts(&out, l, date)
	// 07:00 receipts: a partial snapshot of the SKUs received.
	nRcpt := 0
	for i := range rd.results {
		if rd.results[i].Received > 0 {
			nRcpt++
		}
	}
	if nRcpt > 0 {
		snap := fmt.Sprintf("INV-%s-%s-RCPT", l.ID, ymd(date))
		at := localTime(l, date, 7*3600+5*60)
		for sku := range rd.results {
			r := &rd.results[sku]
			if r.Received > 0 {
				out.events = append(out.events, rd.inventory(l, sku, snap, schema.SnapshotPartial, nRcpt, published(r.MorningOnHand, r, true), 0, r.MorningOnOrder, at))
			}
		}
	}
	rd.purchaseOrders(&out, l, date)
	if l.Kind == KindStore {
		rd.pos(&out, l, day, date)
	}
	// 22:00 full snapshot.
	snap := fmt.Sprintf("INV-%s-%s-EOD", l.ID, ymd(date))
	at := localTime(l, date, 22*3600)
	for sku := range rd.results {
		r := &rd.results[sku]
		var alloc int64
		if l.Kind == KindDC {
			alloc = min(r.OnHand, r.Sold/2) // picked for tomorrow's first wave
		}
		out.events = append(out.events, rd.inventory(l, sku, snap, schema.SnapshotFull, len(rd.results), published(r.OnHand, r, false), alloc, r.OnOrder, at))
	}
	slices.SortStableFunc(out.events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	bad := streamAt(seriesKey(w.cfg.Seed, loc, -1), day, purposeBad)
	return out, finishEvents(out.events, bad, badRate, 256, marshal)
}

// finishEvents draws the malformed variants of events from bad, in order,
// and, if marshal, marshals them into one new buffer of about sizeHint bytes
// per event (never reused: the sink may keep the records).
func finishEvents(events []event, bad stream, badRate float64, sizeHint int, marshal bool) error {
	var arena []byte
	if marshal {
		arena = make([]byte, 0, sizeHint*len(events))
	}
	for i := range events {
		e := &events[i]
		if badRate > 0 && bad.Float64() < badRate {
			e.bad = badKind(1 + bad.IntN(int(numBadKinds)-1))
			e.badSeed = bad.Uint64()
		}
		if marshal {
			var err error
			if arena, err = e.marshal(arena); err != nil {
				return err
			}
		}
	}
	return nil
}

// promoPublishSec is when the ERP publishes promotions: 06:00 local time at
// the chain's headquarters. The world has no separate head office; it takes
// the first location's (store S0001's) time zone for it.
const promoPublishSec = 6 * 3600

// itemPromotion is one published state of an item's promotion.
type itemPromotion struct {
	sku int
	rec PromotionRecord
}

// promotionsByPublishDay lists the promotion records to publish on each
// day (PromotionFeed), by SKU index, then start. Every promotion starts
// within the world's days and is published no later than its start, so
// every one is listed.
func (w *World) promotionsByPublishDay() [][]itemPromotion {
	days := make([][]itemPromotion, w.cfg.Days)
	for sku := range w.items {
		for _, rec := range w.PromotionFeed(sku) {
			days[rec.Day] = append(days[rec.Day], itemPromotion{sku: sku, rec: rec})
		}
	}
	return days
}

// renderPromotions renders the erp.promotions records of ps, published on
// day: one per item promotion state, keyed by SKU, chain-wide or with the
// store's location_id, stamped promoPublishSec at headquarters (location
// 0), with the inclusive end date.
// Their malformed variants come from a stream of their own, so the other
// topics' records are the same with or without promotions.
func (w *World) renderPromotions(day int, ps []itemPromotion, badRate float64, marshal bool) ([]event, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	hq := &w.locs[0]
	at := localTime(hq, w.Date(day), promoPublishSec)
	out := make([]event, len(ps))
	for i, ip := range ps {
		it := &w.items[ip.sku]
		status := schema.PromotionPlanned
		if ip.rec.Cancelled {
			status = schema.PromotionCancelled
		}
		out[i] = event{at: at.Unix(), topic: topicPromo, loc: hq.Index, key: it.ID, v: &schema.Promotion{
			SchemaVersion: schema.CurrentVersion,
			PromotionID:   ip.rec.P.ID,
			SKU:           it.ID,
			LocationID:    ip.rec.P.StoreID,
			StartDate:     w.Date(ip.rec.Start),
			EndDate:       w.Date(ip.rec.End - 1),
			DiscountPct:   int(ip.rec.P.DiscountPct),
			Status:        status,
			UpdatedAt:     at,
		}}
	}
	bad := streamAt(seriesKey(w.cfg.Seed, -1, -3), day, purposeBad)
	return out, finishEvents(out, bad, badRate, 200, marshal)
}

func ymd(d schema.Date) string {
	y, m, dd := d.Time().Date()
	return fmt.Sprintf("%04d%02d%02d", y, m, dd)
}

func (rd *renderer) itemLocation(out *locDay, l *Location, sku int, p *ItemParams, date schema.Date) {
	it := &rd.w.items[sku]
	t := localTime(l, date, 5*3600)
	out.events = append(out.events, event{at: t.Unix(), topic: topicItem, loc: l.Index, key: l.ID, v: &schema.ItemLocation{
		SchemaVersion: schema.CurrentVersion, SKU: it.ID, LocationID: l.ID,
		Description: it.Description, Category: it.Category, Department: it.Department,
		SupplierID: p.SupplierID, LeadTimeDays: p.LeadTimeDays, ReviewPeriodDays: p.ReviewPeriodDays,
		CasePack: p.CasePack, MOQ: p.MOQ, UnitCost: p.UnitCost, UnitPrice: p.UnitPrice,
		Currency: p.Currency, ServiceLevel: p.ServiceLevel, Active: p.Active, UpdatedAt: t,
	}})
}

func (rd *renderer) inventory(l *Location, sku int, snap string, kind schema.SnapshotKind, rows int, onHand, alloc, inTransit int64, at time.Time) event {
	return event{at: at.Unix(), topic: topicInventory, loc: l.Index, key: l.ID, v: &schema.InventoryRecord{
		SchemaVersion: schema.CurrentVersion, SnapshotID: snap, Kind: kind, SnapshotRows: rows,
		LocationID: l.ID, SKU: rd.w.items[sku].ID, OnHand: onHand, Allocated: alloc, InTransit: inTransit, AsOf: at,
	}}
}

// purchaseOrders renders the day's PO line changes. A PO groups one day's
// orders of one location from one supplier; its lines are numbered by the
// SKU's position in the supplier's list.
func (rd *renderer) purchaseOrders(out *locDay, l *Location, date schema.Date) {
	w := rd.w
	rd.poEv = rd.poEv[:0]
	for sku := range rd.results {
		for _, ev := range rd.results[sku].Events {
			sec := 21*3600 + 30*60
			switch ev.Status {
			case schema.POPartiallyReceived, schema.POReceived:
				sec = 7 * 3600
			case schema.POCancelled:
				sec = 12 * 3600
			}
			rd.poEv = append(rd.poEv, poEventAt{sec: sec, sku: sku, ev: ev})
		}
	}
	slices.SortStableFunc(rd.poEv, func(a, b poEventAt) int {
		if c := cmp.Compare(a.sec, b.sec); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ev.OrderDay, b.ev.OrderDay); c != 0 {
			return c
		}
		if c := cmp.Compare(w.items[a.sku].Supplier, w.items[b.sku].Supplier); c != 0 {
			return c
		}
		return cmp.Compare(a.sku, b.sku)
	})
	for _, pe := range rd.poEv {
		it := &w.items[pe.sku]
		sup := &w.suppliers[it.Supplier]
		orderDate := w.Date(pe.ev.OrderDay)
		t := localTime(l, date, pe.sec)
		out.events = append(out.events, event{at: t.Unix(), topic: topicPO, loc: l.Index, key: l.ID, v: &schema.PurchaseOrderLine{
			SchemaVersion: schema.CurrentVersion,
			POID:          fmt.Sprintf("PO-%s-%s-%s", l.ID, sup.ID, ymd(orderDate)),
			LineNo:        w.lineNo[pe.sku], SupplierID: sup.ID, LocationID: l.ID, SKU: it.ID,
			QtyOrdered: pe.ev.QtyOrdered, QtyReceived: pe.ev.QtyReceived, Status: pe.ev.Status,
			OrderDate: orderDate, ExpectedDate: w.Date(pe.ev.ExpectedDay), UpdatedAt: t,
			UnitCost: pe.ev.UnitCost, Currency: l.Currency,
		}})
	}
}

// roundDiv returns n/d rounded half up, for n ≥ 0, d > 0.
func roundDiv(n, d int64) int64 { return (2*n + d) / (2 * d) }

// pos renders a store's day of POS transactions: the day's sold units split
// into lines and baskets, returns, and a few voided transactions.
func (rd *renderer) pos(out *locDay, l *Location, day int, date schema.Date) {
	w := rd.w
	r := streamAt(seriesKey(w.cfg.Seed, l.Index, -2), day, purposeRender)
	rd.lines = rd.lines[:0]
	rd.baskets = rd.baskets[:0]
	for sku := range rd.results {
		for rem := rd.results[sku].Sold; rem > 0; {
			var q int64
			switch u := r.Float64(); {
			case u < 0.7:
				q = 1
			case u < 0.88:
				q = 2
			case u < 0.96:
				q = 3
			default:
				q = int64(4 + r.IntN(3))
			}
			q = min(q, rem)
			rd.lines = append(rd.lines, lineSpec{sku: sku, qty: q})
			rem -= q
		}
	}
	for i := len(rd.lines) - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		rd.lines[i], rd.lines[j] = rd.lines[j], rd.lines[i]
	}
	open, span := l.OpenHour*3600, (l.CloseHour-l.OpenHour)*3600
	when := func() int { return open + int((r.Float64()+r.Float64())/2*float64(span-1)) }
	for from := 0; from < len(rd.lines); {
		var n int
		switch u := r.Float64(); {
		case u < 0.3:
			n = 1
		case u < 0.55:
			n = 2
		case u < 0.75:
			n = 3
		case u < 0.9:
			n = 4
		default:
			n = 5
		}
		to := min(from+n, len(rd.lines))
		rd.baskets = append(rd.baskets, basket{sec: when(), from: from, to: to, kind: schema.TxnSale})
		from = to
	}
	sales := len(rd.baskets)
	for i := range sales {
		if r.Float64() < 0.004 {
			b := rd.baskets[i]
			rd.baskets = append(rd.baskets, basket{sec: max(open, b.sec-30-r.IntN(270)), from: b.from, to: b.to, kind: schema.TxnVoid, voidSource: i})
		}
	}
	for sku := range rd.results {
		for rem := rd.results[sku].Returned; rem > 0; {
			q := min(rem, int64(1+r.IntN(2)))
			rd.baskets = append(rd.baskets, basket{sec: when(), kind: schema.TxnReturn, returnSKU: sku, returnQty: q})
			rem -= q
		}
	}
	slices.SortStableFunc(rd.baskets, func(a, b basket) int { return cmp.Compare(a.sec, b.sec) })
	prefix := l.ID + "-" + ymd(date) + "-"
	for seq, b := range rd.baskets {
		t := localTime(l, date, b.sec)
		tx := &schema.POSTransaction{
			SchemaVersion: schema.CurrentVersion,
			TransactionID: prefix + pad(seq+1, 5),
			StoreID:       l.ID,
			RegisterID:    "R" + pad(1+r.IntN(l.Registers), 2),
			Type:          b.kind,
			BusinessDate:  date,
			EventTime:     t,
			Currency:      l.Currency,
		}
		if r.Float64() < 0.35 {
			tx.CustomerID = "L" + pad(l.Index*100000+r.IntN(5000), 8)
		}
		var total int64
		if b.kind == schema.TxnReturn {
			ln := rd.line(l, day, 1, b.returnSKU, -b.returnQty, false)
			tx.Lines = []schema.POSLine{ln}
			total = ln.LineTotal.Cents()
		} else {
			tx.Lines = make([]schema.POSLine, 0, b.to-b.from)
			for k, ls := range rd.lines[b.from:b.to] {
				ln := rd.line(l, day, k+1, ls.sku, ls.qty, true)
				tx.Lines = append(tx.Lines, ln)
				total += ln.LineTotal.Cents()
			}
		}
		tx.Total = schema.MoneyFromMinor(total)
		tx.Tenders = tenders(&r, b.kind, total)
		out.events = append(out.events, event{at: t.Unix(), topic: topicPOS, loc: l.Index, key: l.ID, v: tx})
	}
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// line builds one POS line with the amount rules of schema.POSTransaction,
// exactly, in cents: gross = |q|·price; discount = promotion % of gross (half
// up); tax = rate × (gross − discount) (half up); line_total = sign·(gross −
// discount + tax).
func (rd *renderer) line(l *Location, day, no, sku int, q int64, promoOK bool) schema.POSLine {
	w := rd.w
	price := w.priceCents(l.Index, sku)
	abs, sign := q, int64(1)
	if q < 0 {
		abs, sign = -q, -1
	}
	gross := abs * price
	ln := schema.POSLine{LineNo: no, SKU: w.items[sku].ID, Quantity: q, UnitPrice: schema.MoneyFromMinor(price)}
	var disc int64
	if promoOK {
		if p := w.PromotionAt(l.Index, sku, day); p != nil {
			disc = roundDiv(gross*p.DiscountPct, 100)
			ln.PromotionID = p.ID
		}
	}
	rate := l.TaxStandardBP
	if categories[w.items[sku].cat].reducedTax {
		rate = l.TaxReducedBP
	}
	tax := roundDiv((gross-disc)*rate, 10000)
	ln.Discount = schema.MoneyFromMinor(disc)
	ln.Tax = schema.MoneyFromMinor(tax)
	ln.LineTotal = schema.MoneyFromMinor(sign * (gross - disc + tax))
	return ln
}

// tenders splits total (cents) into payments that sum to it exactly.
func tenders(r *stream, kind schema.TxnType, total int64) []schema.Tender {
	u := r.Float64()
	one := func(t string) []schema.Tender {
		return []schema.Tender{{Type: t, Amount: schema.MoneyFromMinor(total)}}
	}
	switch {
	case kind == schema.TxnReturn && u < 0.2:
		return one("store_credit")
	case kind == schema.TxnReturn:
		return one("card")
	case u < 0.05 && total > 1000:
		g := min(total/2, 2500)
		return []schema.Tender{
			{Type: "gift_card", Amount: schema.MoneyFromMinor(g)},
			{Type: "card", Amount: schema.MoneyFromMinor(total - g)},
		}
	case total < 2000 && u < 0.45:
		return one("cash")
	default:
		return one("card")
	}
}

// sortEvents orders a day's events by world time, stably (ties keep location
// and generation order).
func sortEvents(es []*event) {
	slices.SortStableFunc(es, func(a, b *event) int { return cmp.Compare(a.at, b.at) })
}

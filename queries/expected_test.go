package queries

// Expected answers of the saved queries, computed in Go straight from the
// fixture's rows (the rows written to the lake), independently of the SQL.

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// result is a query's answer: column names and rows. Expected values are
// int64, float64 (compared within a tolerance), string, bool, schema.Date,
// time.Time, schema.Money (exact decimals), time.Duration (intervals) or
// nil (NULL).
type result struct {
	cols []string
	rows [][]any
}

type locSKU struct{ loc, sku string }

// round is DuckDB's round(x, d) of a double.
func round(x float64, d int) float64 {
	m := math.Pow(10, float64(d))
	return math.Round(x*m) / m
}

// ratio returns round(num/den, d), or nil when den is 0.
func ratio(num, den float64, d int) any {
	if den == 0 {
		return nil
	}
	return round(num/den, d)
}

// posOnce returns the POS lines with each (transaction_id, line_no) once:
// the first received of a producer's resends.
func (f *fixture) posOnce() []schema.PosLineRow {
	type key struct {
		txn  string
		line int32
	}
	first := map[key]int{}
	for i := range f.pos {
		k := key{f.pos[i].TransactionID, f.pos[i].LineNo}
		if j, ok := first[k]; !ok || f.pos[i].IngestedAt.Before(f.pos[j].IngestedAt) {
			first[k] = i
		}
	}
	out := make([]schema.PosLineRow, 0, len(first))
	for i := range f.pos {
		if first[key{f.pos[i].TransactionID, f.pos[i].LineNo}] == i {
			out = append(out, f.pos[i])
		}
	}
	return out
}

// stores returns the stores: store_ids with POS lines up to day.
func (f *fixture) stores(day schema.Date) map[string]bool {
	out := map[string]bool{}
	for i := range f.pos {
		if f.pos[i].BusinessDate <= day {
			out[f.pos[i].StoreID] = true
		}
	}
	return out
}

// laterReport reports whether inventory row a was reported after b.
func laterReport(a, b *schema.InventoryRow) bool {
	if !a.AsOf.Equal(b.AsOf) {
		return a.AsOf.After(b.AsOf)
	}
	return a.SnapshotID > b.SnapshotID
}

// stockAt returns each store SKU's last reported on hand up to the end of
// day.
func (f *fixture) stockAt(day schema.Date, stores map[string]bool) map[locSKU]int64 {
	last := map[locSKU]*schema.InventoryRow{}
	for i := range f.inv {
		r := &f.inv[i]
		if r.BusinessDate > day || !stores[r.LocationID] {
			continue
		}
		k := locSKU{r.LocationID, r.SKU}
		if p, ok := last[k]; !ok || laterReport(r, p) {
			last[k] = r
		}
	}
	out := make(map[locSKU]int64, len(last))
	for k, r := range last {
		out[k] = r.OnHand
	}
	return out
}

// itemsAt returns each location SKU's latest item parameters up to day.
func (f *fixture) itemsAt(day schema.Date) map[locSKU]*schema.ItemLocationRow {
	out := map[locSKU]*schema.ItemLocationRow{}
	for i := range f.items {
		r := &f.items[i]
		if r.BusinessDate > day {
			continue
		}
		k := locSKU{r.LocationID, r.SKU}
		if p, ok := out[k]; !ok || r.UpdatedAt.After(p.UpdatedAt) {
			out[k] = r
		}
	}
	return out
}

type poKey struct {
	po   string
	line int32
}

// poStatesAt returns every PO line's states up to day, oldest first.
func (f *fixture) poStatesAt(day schema.Date) map[poKey][]*schema.POLineRow {
	out := map[poKey][]*schema.POLineRow{}
	for i := range f.po {
		r := &f.po[i]
		if r.BusinessDate <= day {
			k := poKey{r.POID, r.LineNo}
			out[k] = append(out[k], r)
		}
	}
	for _, s := range out {
		slices.SortFunc(s, func(a, b *schema.POLineRow) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	}
	return out
}

// sortedKeys returns a map's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (f *fixture) latestPOSDay() schema.Date {
	var d schema.Date
	for i := range f.pos {
		d = max(d, f.pos[i].BusinessDate)
	}
	return d
}

func expectSellThrough(f *fixture, days int, asOf schema.Date) result {
	first := asOf.AddDays(-(days - 1))
	stores := f.stores(asOf)
	type sales struct {
		sold, returned int64
		net            schema.Money
	}
	perSKU := map[locSKU]*sales{}
	currency := map[string]string{}
	lastEvent := map[string]time.Time{}
	pos := f.posOnce()
	for i := range pos {
		r := &pos[i]
		if r.BusinessDate <= asOf && !r.EventTime.Before(lastEvent[r.StoreID]) {
			lastEvent[r.StoreID], currency[r.StoreID] = r.EventTime, r.Currency
		}
		if r.BusinessDate < first || r.BusinessDate > asOf {
			continue
		}
		k := locSKU{r.StoreID, r.SKU}
		s := perSKU[k]
		if s == nil {
			s = &sales{}
			perSKU[k] = s
		}
		switch r.TxnType {
		case "sale":
			s.sold += r.Quantity
			s.net += r.LineTotal
		case "return":
			s.returned -= r.Quantity
			s.net += r.LineTotal
		}
	}
	stock := f.stockAt(asOf, stores)
	items := f.itemsAt(asOf)
	type group struct {
		skus, sold, returned, onHand int64
		net                          schema.Money
	}
	groups := map[[2]string]*group{}
	add := func(k locSKU) *group {
		cat := "unknown"
		if it, ok := items[k]; ok {
			cat = it.Category
		}
		g := groups[[2]string{k.loc, cat}]
		if g == nil {
			g = &group{}
			groups[[2]string{k.loc, cat}] = g
		}
		return g
	}
	seen := map[locSKU]bool{}
	for k, s := range perSKU {
		g := add(k)
		g.skus++
		g.sold += s.sold
		g.returned += s.returned
		g.net += s.net
		g.onHand += stock[k]
		seen[k] = true
	}
	for k, oh := range stock {
		if !seen[k] {
			g := add(k)
			g.skus++
			g.onHand += oh
		}
	}
	res := result{cols: []string{"store_id", "category", "skus", "units_sold", "units_returned", "ending_on_hand", "sell_through", "net_sales", "currency"}}
	keys := make([][2]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, k := range keys {
		g := groups[k]
		res.rows = append(res.rows, []any{k[0], k[1], g.skus, g.sold, g.returned, g.onHand,
			ratio(float64(g.sold), float64(g.sold+g.onHand), 4), g.net, currency[k[0]]})
	}
	return res
}

// catalogue returns per SKU its description and category from the item
// rows up to day (a SKU's are the same everywhere).
func (f *fixture) catalogue(day schema.Date, keep func(loc string) bool) map[string][2]string {
	out := map[string][2]string{}
	for k, it := range f.itemsAt(day) {
		if keep(k.loc) {
			out[k.sku] = [2]string{it.Description, it.Category}
		}
	}
	return out
}

type mover struct {
	sku                 string
	sold, prior, stores int64
}

func (f *fixture) movers(days int, asOf schema.Date, keepStore func(string) bool) map[string]*mover {
	first, prior := asOf.AddDays(-(days - 1)), asOf.AddDays(-(2*days - 1))
	out := map[string]*mover{}
	storesSelling := map[string]map[string]bool{}
	pos := f.posOnce()
	for i := range pos {
		r := &pos[i]
		if r.TxnType != "sale" || r.BusinessDate < prior || r.BusinessDate > asOf || !keepStore(r.StoreID) {
			continue
		}
		m := out[r.SKU]
		if m == nil {
			m = &mover{sku: r.SKU}
			out[r.SKU] = m
		}
		if r.BusinessDate >= first {
			m.sold += r.Quantity
			if storesSelling[r.SKU] == nil {
				storesSelling[r.SKU] = map[string]bool{}
			}
			storesSelling[r.SKU][r.StoreID] = true
		} else {
			m.prior += r.Quantity
		}
	}
	for sku, m := range out {
		m.stores = int64(len(storesSelling[sku]))
	}
	return out
}

func changePct(sold, prior int64) any {
	if prior == 0 {
		return nil
	}
	return round(100*float64(sold-prior)/float64(prior), 1)
}

func expectTopMovers(f *fixture, days int, asOf schema.Date, limit int, store string) result {
	keep := func(s string) bool { return store == "" || s == store }
	ms := f.movers(days, asOf, keep)
	cat := f.catalogue(asOf, keep)
	list := make([]*mover, 0, len(ms))
	for _, m := range ms {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b *mover) int { return cmp.Or(cmp.Compare(b.sold, a.sold), cmp.Compare(a.sku, b.sku)) })
	res := result{cols: []string{"sku", "description", "category", "units_sold", "prior_units_sold", "change", "change_pct", "stores_selling"}}
	for _, m := range list[:min(limit, len(list))] {
		var desc, category any
		if c, ok := cat[m.sku]; ok {
			desc, category = c[0], c[1]
		}
		res.rows = append(res.rows, []any{m.sku, desc, category, m.sold, m.prior, m.sold - m.prior, changePct(m.sold, m.prior), m.stores})
	}
	return res
}

func expectBottomMovers(f *fixture, days int, asOf schema.Date, limit int, store string) result {
	stores := f.stores(asOf)
	keep := func(s string) bool { return stores[s] && (store == "" || s == store) }
	ms := f.movers(days, asOf, keep)
	type carried struct {
		sku, desc, category string
		n                   int64
	}
	bySKU := map[string]*carried{}
	for k, it := range f.itemsAt(asOf) {
		if !keep(k.loc) || !it.Active {
			continue
		}
		c := bySKU[k.sku]
		if c == nil {
			c = &carried{sku: k.sku, desc: it.Description, category: it.Category}
			bySKU[k.sku] = c
		}
		c.n++
	}
	list := make([]*carried, 0, len(bySKU))
	for _, c := range bySKU {
		list = append(list, c)
	}
	sold := func(sku string) (int64, int64) {
		if m, ok := ms[sku]; ok {
			return m.sold, m.prior
		}
		return 0, 0
	}
	slices.SortFunc(list, func(a, b *carried) int {
		sa, _ := sold(a.sku)
		sb, _ := sold(b.sku)
		return cmp.Or(cmp.Compare(sa, sb), cmp.Compare(a.sku, b.sku))
	})
	res := result{cols: []string{"sku", "description", "category", "units_sold", "prior_units_sold", "change", "change_pct", "stores_carrying"}}
	for _, c := range list[:min(limit, len(list))] {
		s, p := sold(c.sku)
		var pct any
		if _, ok := ms[c.sku]; ok {
			pct = changePct(s, p)
		}
		res.rows = append(res.rows, []any{c.sku, c.desc, c.category, s, p, s - p, pct, c.n})
	}
	return res
}

func expectStockoutDays(f *fixture, days int, asOf schema.Date) result {
	first := asOf.AddDays(-(days - 1))
	stores := f.stores(asOf)
	type dayKey struct {
		k   locSKU
		day schema.Date
	}
	eod := map[dayKey]*schema.InventoryRow{}
	for i := range f.inv {
		r := &f.inv[i]
		if r.BusinessDate < first || r.BusinessDate > asOf || !stores[r.LocationID] {
			continue
		}
		k := dayKey{locSKU{r.LocationID, r.SKU}, r.BusinessDate}
		if p, ok := eod[k]; !ok || laterReport(r, p) {
			eod[k] = r
		}
	}
	sales := map[dayKey]int64{}
	pos := f.posOnce()
	for i := range pos {
		r := &pos[i]
		if r.TxnType == "sale" && r.BusinessDate >= first && r.BusinessDate <= asOf {
			sales[dayKey{locSKU{r.StoreID, r.SKU}, r.BusinessDate}] += r.Quantity
		}
	}
	type series struct {
		out, in, sold, inSold int64
	}
	all := map[locSKU]*series{}
	for k, r := range eod {
		s := all[k.k]
		if s == nil {
			s = &series{}
			all[k.k] = s
		}
		u := sales[k]
		s.sold += u
		if r.OnHand <= 0 {
			s.out++
		} else {
			s.in++
			s.inSold += u
		}
	}
	items := f.itemsAt(asOf)
	type row struct {
		k   locSKU
		s   *series
		est any
	}
	var rows []row
	for k, s := range all {
		if s.out == 0 {
			continue
		}
		var est any
		if s.in > 0 {
			est = round(float64(s.out)*float64(s.inSold)/float64(s.in), 1)
		}
		rows = append(rows, row{k, s, est})
	}
	slices.SortFunc(rows, func(a, b row) int {
		switch {
		case a.est == nil && b.est != nil:
			return 1
		case a.est != nil && b.est == nil:
			return -1
		case a.est != nil:
			if c := cmp.Compare(b.est.(float64), a.est.(float64)); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.k.loc, b.k.loc), cmp.Compare(a.k.sku, b.k.sku))
	})
	res := result{cols: []string{"store_id", "sku", "stockout_days", "in_stock_days", "units_sold", "in_stock_velocity", "est_lost_units", "est_lost_sales", "currency"}}
	for _, r := range rows {
		var vel, value, currency any
		it, ok := items[r.k]
		if ok {
			currency = it.Currency
		}
		if r.s.in > 0 {
			vel = round(float64(r.s.inSold)/float64(r.s.in), 3)
			if ok {
				price := float64(it.UnitPrice) / 1e4
				value = round(float64(r.s.out)*float64(r.s.inSold)/float64(r.s.in)*price, 2)
			}
		}
		res.rows = append(res.rows, []any{r.k.loc, r.k.sku, r.s.out, r.s.in, r.s.sold, vel, r.est, value, currency})
	}
	return res
}

func expectDaysOfCover(f *fixture, days int, asOf schema.Date) result {
	first := asOf.AddDays(-(days - 1))
	stores := f.stores(asOf)
	stock := f.stockAt(asOf, stores)
	onOrder := map[locSKU]int64{}
	for _, states := range f.poStatesAt(asOf) {
		cur := states[len(states)-1]
		if cur.Status == "open" || cur.Status == "partially_received" {
			onOrder[locSKU{cur.LocationID, cur.SKU}] += cur.QtyOrdered - cur.QtyReceived
		}
	}
	sold := map[locSKU]int64{}
	pos := f.posOnce()
	for i := range pos {
		r := &pos[i]
		if r.TxnType == "sale" && r.BusinessDate >= first && r.BusinessDate <= asOf {
			sold[locSKU{r.StoreID, r.SKU}] += r.Quantity
		}
	}
	type row struct {
		k                      locSKU
		onHand, order, units   int64
		avg                    float64
		cover, coverWithOrders any
	}
	var rows []row
	d := float64(days)
	for k, oh := range stock {
		r := row{k: k, onHand: oh, order: onOrder[k], units: sold[k], avg: round(float64(sold[k])/d, 3)}
		if r.units > 0 {
			rate := float64(r.units) / d
			r.cover = round(float64(oh)/rate, 1)
			r.coverWithOrders = round(float64(oh+r.order)/rate, 1)
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b row) int {
		switch {
		case a.cover == nil && b.cover != nil:
			return 1
		case a.cover != nil && b.cover == nil:
			return -1
		case a.cover != nil:
			if c := cmp.Compare(a.cover.(float64), b.cover.(float64)); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.k.loc, b.k.loc), cmp.Compare(a.k.sku, b.k.sku))
	})
	res := result{cols: []string{"store_id", "sku", "on_hand", "on_order", "units_sold", "avg_daily_units", "days_of_cover", "days_of_cover_with_on_order"}}
	for _, r := range rows {
		res.rows = append(res.rows, []any{r.k.loc, r.k.sku, r.onHand, r.order, r.units, r.avg, r.cover, r.coverWithOrders})
	}
	return res
}

func expectLatePOs(f *fixture, asOf schema.Date, grace int) result {
	type sup struct {
		pos, latePOs         map[string]bool
		lines, units         int64
		lateLines, lateUnits int64
		maxLate              any
		ageSum               int64
		b7, b14, b28, bOver  int64
		oldest               schema.Date
	}
	sups := map[string]*sup{}
	for _, states := range f.poStatesAt(asOf) {
		cur := states[len(states)-1]
		if cur.Status != "open" && cur.Status != "partially_received" {
			continue
		}
		s := sups[cur.SupplierID]
		if s == nil {
			s = &sup{pos: map[string]bool{}, latePOs: map[string]bool{}, oldest: cur.OrderDate}
			sups[cur.SupplierID] = s
		}
		open := cur.QtyOrdered - cur.QtyReceived
		s.pos[cur.POID] = true
		s.lines++
		s.units += open
		past := int64(asOf - cur.ExpectedDate)
		if past > int64(grace) {
			s.latePOs[cur.POID] = true
			s.lateLines++
			s.lateUnits += open
			if s.maxLate == nil || past > s.maxLate.(int64) {
				s.maxLate = past
			}
		}
		age := int64(asOf - cur.OrderDate)
		s.ageSum += age
		switch {
		case age <= 7:
			s.b7++
		case age <= 14:
			s.b14++
		case age <= 28:
			s.b28++
		default:
			s.bOver++
		}
		s.oldest = min(s.oldest, cur.OrderDate)
	}
	names := sortedKeys(sups)
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(sups[b].lateLines, sups[a].lateLines) })
	res := result{cols: []string{"supplier_id", "open_pos", "open_lines", "open_units", "late_pos", "late_lines", "late_units", "max_days_late", "avg_age_days", "age_0_7", "age_8_14", "age_15_28", "age_over_28", "oldest_order_date"}}
	for _, n := range names {
		s := sups[n]
		res.rows = append(res.rows, []any{n, int64(len(s.pos)), s.lines, s.units, int64(len(s.latePOs)), s.lateLines, s.lateUnits,
			s.maxLate, round(float64(s.ageSum)/float64(s.lines), 1), s.b7, s.b14, s.b28, s.bOver, s.oldest})
	}
	return res
}

func expectLeadTimes(f *fixture, days int, asOf schema.Date) result {
	first := asOf.AddDays(-(days - 1))
	type sup struct {
		ordered, cancelled, open int64
		promised, leads, lateBy  []float64
		onTime                   int64
		minLead, maxLead         any
	}
	sups := map[string]*sup{}
	for _, states := range f.poStatesAt(asOf) {
		l := states[0]
		if l.OrderDate < first || l.OrderDate > asOf {
			continue
		}
		s := sups[l.SupplierID]
		if s == nil {
			s = &sup{}
			sups[l.SupplierID] = s
		}
		s.ordered++
		s.promised = append(s.promised, float64(l.ExpectedDate-l.OrderDate))
		switch states[len(states)-1].Status {
		case "cancelled":
			s.cancelled++
		case "open", "partially_received":
			s.open++
		}
		received := schema.Date(math.MaxInt32)
		for _, st := range states {
			if st.Status == "received" {
				received = min(received, st.BusinessDate)
			}
		}
		if received == math.MaxInt32 {
			continue
		}
		lead := int64(received - l.OrderDate)
		s.leads = append(s.leads, float64(lead))
		if s.minLead == nil || lead < s.minLead.(int64) {
			s.minLead = lead
		}
		if s.maxLead == nil || lead > s.maxLead.(int64) {
			s.maxLead = lead
		}
		if late := received - l.ExpectedDate; late <= 0 {
			s.onTime++
		} else {
			s.lateBy = append(s.lateBy, float64(late))
		}
	}
	mean := func(xs []float64) any {
		if len(xs) == 0 {
			return nil
		}
		var t float64
		for _, x := range xs {
			t += x
		}
		return round(t/float64(len(xs)), 2)
	}
	stddev := func(xs []float64) any {
		if len(xs) < 2 {
			return nil
		}
		var t float64
		for _, x := range xs {
			t += x
		}
		m := t / float64(len(xs))
		var ss float64
		for _, x := range xs {
			ss += (x - m) * (x - m)
		}
		return round(math.Sqrt(ss/float64(len(xs)-1)), 2)
	}
	type row struct {
		name   string
		onTime any
	}
	var order []row
	for n, s := range sups {
		order = append(order, row{n, ratio(100*float64(s.onTime), float64(len(s.leads)), 1)})
	}
	slices.SortFunc(order, func(a, b row) int {
		switch {
		case a.onTime == nil && b.onTime != nil:
			return 1
		case a.onTime != nil && b.onTime == nil:
			return -1
		case a.onTime != nil:
			if c := cmp.Compare(a.onTime.(float64), b.onTime.(float64)); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.name, b.name)
	})
	res := result{cols: []string{"supplier_id", "lines_ordered", "lines_received", "lines_cancelled", "lines_open", "avg_promised_days", "avg_lead_time_days", "stddev_lead_time_days", "min_lead_time_days", "max_lead_time_days", "on_time_pct", "avg_days_late_when_late"}}
	for _, o := range order {
		s := sups[o.name]
		res.rows = append(res.rows, []any{o.name, s.ordered, int64(len(s.leads)), s.cancelled, s.open, mean(s.promised), mean(s.leads),
			stddev(s.leads), s.minLead, s.maxLead, o.onTime, mean(s.lateBy)})
	}
	return res
}

func expectInventoryAccuracy(f *fixture, days int, asOf schema.Date, tolerance int64) result {
	start := asOf.AddDays(-days)
	stores := f.stores(asOf)
	startStock := f.stockAt(start, stores)
	endStock := f.stockAt(asOf, stores)
	sold := map[locSKU]int64{}
	pos := f.posOnce()
	for i := range pos {
		r := &pos[i]
		if r.TxnType == "sale" && r.BusinessDate > start && r.BusinessDate <= asOf {
			sold[locSKU{r.StoreID, r.SKU}] += r.Quantity
		}
	}
	received := map[locSKU]int64{}
	for _, states := range f.poStatesAt(asOf) {
		prev := int64(0)
		for _, st := range states {
			if d := st.QtyReceived - prev; d > 0 && st.BusinessDate > start {
				received[locSKU{st.LocationID, st.SKU}] += d
			}
			prev = st.QtyReceived
		}
	}
	type row struct {
		k                                     locSKU
		start, sold, recv, expected, reported int64
	}
	var rows []row
	within, total := map[string]int64{}, map[string]int64{}
	for k, st := range startStock {
		en, ok := endStock[k]
		if !ok {
			continue
		}
		r := row{k: k, start: st, sold: sold[k], recv: received[k], reported: en}
		r.expected = st - r.sold + r.recv
		total[k.loc]++
		v := r.reported - r.expected
		if max(v, -v) <= tolerance {
			within[k.loc]++
			continue
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b row) int {
		va, vb := a.reported-a.expected, b.reported-b.expected
		return cmp.Or(cmp.Compare(max(vb, -vb), max(va, -va)), cmp.Compare(a.k.loc, b.k.loc), cmp.Compare(a.k.sku, b.k.sku))
	})
	res := result{cols: []string{"store_id", "sku", "start_on_hand", "units_sold", "units_received", "expected_on_hand", "reported_on_hand", "variance", "store_accuracy_pct"}}
	for _, r := range rows {
		res.rows = append(res.rows, []any{r.k.loc, r.k.sku, r.start, r.sold, r.recv, r.expected, r.reported,
			r.reported - r.expected, round(100*float64(within[r.k.loc])/float64(total[r.k.loc]), 1)})
	}
	return res
}

func expectFreshness(f *fixture, now time.Time) result {
	type src struct {
		source, table string
		rows          int64
		dt            schema.Date
		event, ingest time.Time
	}
	srcs := []*src{
		{source: "erp.inventory", table: schema.TableNameInventorySnapshots},
		{source: "erp.item_locations", table: schema.TableNameItemLocations},
		{source: "erp.promotions", table: schema.TableNamePromotions},
		{source: "erp.purchase_orders", table: schema.TableNamePurchaseOrderLines},
		{source: "pos.transactions", table: schema.TableNamePOSLines},
		{source: "rejects", table: schema.TableNameRejects},
	}
	see := func(s *src, dt schema.Date, event, ingest time.Time) {
		s.rows++
		s.dt = max(s.dt, dt)
		if event.After(s.event) {
			s.event = event
		}
		if ingest.After(s.ingest) {
			s.ingest = ingest
		}
	}
	for i := range f.inv {
		see(srcs[0], f.inv[i].BusinessDate, f.inv[i].AsOf, f.inv[i].IngestedAt)
	}
	for i := range f.items {
		see(srcs[1], f.items[i].BusinessDate, f.items[i].UpdatedAt, f.items[i].IngestedAt)
	}
	for i := range f.promos {
		see(srcs[2], f.promos[i].BusinessDate, f.promos[i].UpdatedAt, f.promos[i].IngestedAt)
	}
	for i := range f.po {
		see(srcs[3], f.po[i].BusinessDate, f.po[i].UpdatedAt, f.po[i].IngestedAt)
	}
	for i := range f.pos {
		see(srcs[4], f.pos[i].BusinessDate, f.pos[i].EventTime, f.pos[i].IngestedAt)
	}
	for i := range f.rejects {
		see(srcs[5], f.rejects[i].BusinessDate, f.rejects[i].ReceivedAt, f.rejects[i].ReceivedAt)
	}
	res := result{cols: []string{"source", "table_name", "row_count", "newest_dt", "newest_event_time", "newest_ingested_at", "version", "committed_at", "event_lag", "commit_lag"}}
	for _, s := range srcs {
		vs := f.versions[s.table]
		v := vs[len(vs)-1]
		res.rows = append(res.rows, []any{s.source, s.table, s.rows, s.dt, s.event, s.ingest, int64(len(vs) - 1), v.committed,
			now.Sub(s.event), now.Sub(v.committed)})
	}
	return res
}

func expectRejects(f *fixture, days int, asOf schema.Date) result {
	first := asOf.AddDays(-(days - 1))
	type group struct {
		n           int64
		first, last *schema.RejectRow
	}
	groups := map[[2]string]*group{}
	before := func(a, b *schema.RejectRow) bool {
		if !a.ReceivedAt.Equal(b.ReceivedAt) {
			return a.ReceivedAt.Before(b.ReceivedAt)
		}
		return a.Partition < b.Partition || a.Partition == b.Partition && a.Offset < b.Offset
	}
	for i := range f.rejects {
		r := &f.rejects[i]
		if r.BusinessDate < first || r.BusinessDate > asOf {
			continue
		}
		k := [2]string{r.Topic, r.Reason}
		g := groups[k]
		if g == nil {
			g = &group{first: r, last: r}
			groups[k] = g
		}
		g.n++
		if before(r, g.first) {
			g.first = r
		}
		if r.ReceivedAt.After(g.last.ReceivedAt) {
			g.last = r
		}
	}
	keys := make([][2]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(groups[b].n, groups[a].n), cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	res := result{cols: []string{"topic", "reason", "rejected", "first_received_at", "last_received_at", "example_error"}}
	for _, k := range keys {
		g := groups[k]
		res.rows = append(res.rows, []any{k[0], k[1], g.n, g.first.ReceivedAt, g.last.ReceivedAt, g.first.Error})
	}
	return res
}

func expectPromotionPerformance(f *fixture, days int, asOf schema.Date) result {
	first := asOf.AddDays(-(days - 1))
	type pkey struct{ id, sku, loc string }
	latest := map[pkey]*schema.PromotionRow{}
	for i := range f.promos {
		r := &f.promos[i]
		if r.BusinessDate > asOf {
			continue
		}
		k := pkey{r.PromotionID, r.SKU, r.LocationID}
		p, ok := latest[k]
		if !ok || r.UpdatedAt.After(p.UpdatedAt) || (r.UpdatedAt.Equal(p.UpdatedAt) &&
			cmp.Or(r.IngestedAt.Compare(p.IngestedAt), cmp.Compare(r.SrcPartition, p.SrcPartition), cmp.Compare(r.SrcOffset, p.SrcOffset)) > 0) {
			latest[k] = r
		}
	}
	stores := f.stores(asOf)
	lakeFirst := f.first
	pos := f.posOnce()
	for i := range pos {
		lakeFirst = min(lakeFirst, pos[i].BusinessDate)
	}
	type row struct {
		p                       *schema.PromotionRow
		stores                  int64
		units, rungUp, baseUnit int64
		baseDays                int64
		lift                    any
	}
	var rows []row
	for _, p := range latest {
		if p.Status != string(schema.PromotionPlanned) || p.EndDate < first || p.EndDate > asOf {
			continue
		}
		at := func(store string) bool { return stores[store] && (p.LocationID == "" || p.LocationID == store) }
		r := row{p: p, baseDays: int64(min(28, max(int(p.StartDate-lakeFirst), 0)))}
		for s := range stores {
			if at(s) {
				r.stores++
			}
		}
		for i := range pos {
			l := &pos[i]
			if l.TxnType != "sale" || l.SKU != p.SKU || l.BusinessDate > asOf || !at(l.StoreID) {
				continue
			}
			switch {
			case l.BusinessDate >= p.StartDate && l.BusinessDate <= p.EndDate:
				r.units += l.Quantity
				if l.PromotionID == p.PromotionID {
					r.rungUp += l.Quantity
				}
			case l.BusinessDate >= p.StartDate.AddDays(-28) && l.BusinessDate < p.StartDate:
				r.baseUnit += l.Quantity
			}
		}
		promoDays := float64(p.EndDate - p.StartDate + 1)
		if r.baseDays > 0 && r.baseUnit > 0 {
			r.lift = round(float64(r.units)/promoDays/(float64(r.baseUnit)/float64(r.baseDays)), 2)
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b row) int {
		switch {
		case a.lift == nil && b.lift != nil:
			return 1
		case a.lift != nil && b.lift == nil:
			return -1
		case a.lift != nil:
			if c := cmp.Compare(b.lift.(float64), a.lift.(float64)); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.p.PromotionID, b.p.PromotionID), cmp.Compare(a.p.SKU, b.p.SKU), cmp.Compare(a.p.LocationID, b.p.LocationID))
	})
	res := result{cols: []string{"promotion_id", "sku", "location_id", "start_date", "end_date", "discount_pct", "stores",
		"promo_days", "units_sold", "units_rung_up", "units_per_store_day", "base_days", "base_units_per_store_day", "lift"}}
	for _, r := range rows {
		p := r.p
		var loc, base any
		if p.LocationID != "" {
			loc = p.LocationID
		}
		promoDays := int64(p.EndDate - p.StartDate + 1)
		if r.baseDays > 0 {
			base = round(float64(r.baseUnit)/float64(r.baseDays*r.stores), 3)
		}
		res.rows = append(res.rows, []any{p.PromotionID, p.SKU, loc, p.StartDate, p.EndDate, int64(p.DiscountPct), r.stores,
			promoDays, r.units, r.rungUp, round(float64(r.units)/float64(promoDays*r.stores), 3), r.baseDays, base, r.lift})
	}
	return res
}

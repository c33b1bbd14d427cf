package importer

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// Reason says why a row was rejected; see the package doc for the rules.
type Reason string

const (
	ReasonUnparseable     Reason = "unparseable"
	ReasonBadDebt         Reason = "bad_debt_adjustment"
	ReasonNonMerchandise  Reason = "non_merchandise"
	ReasonZeroQuantity    Reason = "zero_quantity"
	ReasonStockAdjustment Reason = "stock_adjustment"
	ReasonPositiveReturn  Reason = "positive_return"
	ReasonNegativePrice   Reason = "negative_price"
	ReasonZeroPrice       Reason = "zero_price"
	ReasonOutOfRange      Reason = "out_of_range"
	ReasonDuplicate       Reason = "duplicate_row"
)

// Reasons lists every Reason in classification order.
var Reasons = []Reason{ReasonUnparseable, ReasonBadDebt, ReasonNonMerchandise, ReasonZeroQuantity,
	ReasonStockAdjustment, ReasonPositiveReturn, ReasonNegativePrice, ReasonZeroPrice,
	ReasonOutOfRange, ReasonDuplicate}

// row is one decoded CSV row.
type row struct {
	invoice  string
	sku      string
	customer string
	store    string // store_id
	qty      int64
	price    schema.Money
	at       time.Time
	date     schema.Date
	ret      bool // a return invoice
}

// groupKey says which transaction a row belongs to.
type groupKey struct {
	invoice, store, customer string
	date                     schema.Date
	ret                      bool
}

func (r *row) key() groupKey {
	return groupKey{invoice: r.invoice, store: r.store, customer: r.customer, date: r.date, ret: r.ret}
}

// rejection is a classified row's reason and detail ("" reason: accepted).
type rejection struct {
	reason Reason
	detail string
}

// decode parses rec into a row. A non-empty reason of unparseable means the
// row could not be read (r is then unusable); any other reason means it was
// read but is not a sale or return line.
func (c *compiled) decode(rec []string, cols *columns) (r row, rej rejection) {
	bad := func(col, format string, args ...any) (row, rejection) {
		return row{}, rejection{ReasonUnparseable, fmt.Sprintf("column %s: ", col) + fmt.Sprintf(format, args...)}
	}
	if len(rec) != cols.n {
		return row{}, rejection{ReasonUnparseable, fmt.Sprintf("%d fields, the header has %d", len(rec), cols.n)}
	}
	m := &c.m
	if cols.invoice >= 0 {
		if r.invoice = strings.TrimSpace(rec[cols.invoice]); r.invoice == "" {
			return bad(m.Invoice, "empty")
		}
	}
	r.sku = strings.TrimSpace(rec[cols.sku])
	if r.sku == "" {
		return bad(m.SKU, "empty")
	}
	if cols.store < 0 {
		r.store = c.store
	} else {
		if r.store = slug(rec[cols.store]); r.store == "" {
			return bad(m.Store, "%q has no letters or digits to name a store", rec[cols.store])
		}
		r.store = m.StorePrefix + r.store
	}
	if cols.customer >= 0 {
		r.customer = strings.TrimSpace(rec[cols.customer])
	}
	q, err := strconv.ParseInt(strings.TrimSpace(rec[cols.quantity]), 10, 64)
	if err != nil || q < -(1<<62) || q > 1<<62 {
		return bad(m.Quantity, "%q is not an integer", rec[cols.quantity])
	}
	r.qty = q
	ts := strings.TrimSpace(rec[cols.time])
	at, err := time.ParseInLocation(m.TimeLayout, ts, c.loc)
	if err != nil {
		return bad(m.Time, "%q does not match the layout %q", ts, m.TimeLayout)
	}
	if y := at.Year(); y < 1900 || y > 9999 {
		return bad(m.Time, "%q is outside the years 1900-9999", ts)
	}
	r.at = at
	r.date = schema.DateOf(at)
	p := c.price
	if cols.price >= 0 {
		ps := strings.TrimSpace(rec[cols.price])
		if p, err = c.money(ps); err != nil {
			if m.DecimalComma {
				return bad(m.UnitPrice, "%q is not a decimal with a decimal comma and at most 4 fractional digits", ps)
			}
			return bad(m.UnitPrice, "%q is not a plain decimal with at most 4 fractional digits", ps)
		}
	}
	r.price = p
	if cols.invoice >= 0 {
		r.ret = strings.HasPrefix(r.invoice, m.ReturnPrefix)
	} else {
		// Daily totals: a negative quantity is the day's net returns.
		r.ret = q < 0
	}

	switch {
	case m.AdjustmentPrefix != "" && strings.HasPrefix(r.invoice, m.AdjustmentPrefix):
		rej = rejection{ReasonBadDebt, fmt.Sprintf("invoice %s is a bad-debt adjustment", r.invoice)}
	case !c.merch.MatchString(r.sku):
		rej = rejection{ReasonNonMerchandise, fmt.Sprintf("stock code %q is not merchandise (%s)", r.sku, m.Merchandise)}
	case q == 0:
		rej = rejection{ReasonZeroQuantity, "quantity 0"}
	case q < 0 && !r.ret:
		rej = rejection{ReasonStockAdjustment, fmt.Sprintf("quantity %d on invoice %s, which is not a return", q, r.invoice)}
	case q > 0 && r.ret:
		rej = rejection{ReasonPositiveReturn, fmt.Sprintf("quantity %d on return invoice %s", q, r.invoice)}
	case p < 0:
		rej = rejection{ReasonNegativePrice, "unit price " + p.String()}
	case p == 0:
		rej = rejection{ReasonZeroPrice, "unit price 0"}
	default:
		if _, ok := lineAmount(q, p); !ok {
			rej = rejection{ReasonOutOfRange, fmt.Sprintf("quantity %d × unit price %s is beyond %s", q, p, schema.MaxMoney)}
		}
	}
	return r, rej
}

// lineAmount returns |q| × p (p >= 0), and false past schema.MaxMoney.
func lineAmount(q int64, p schema.Money) (schema.Money, bool) {
	if q < 0 {
		q = -q
	}
	hi, lo := bits.Mul64(uint64(q), uint64(p))
	if hi != 0 || lo > uint64(schema.MaxMoney) {
		return 0, false
	}
	return schema.Money(lo), true
}

// slug lowercases s and turns each run of characters other than ASCII
// letters and digits into one '-', trimmed at both ends: "United Kingdom"
// becomes "united-kingdom".
func slug(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			dash = b.Len() > 0
			continue
		}
		if dash {
			b.WriteByte('-')
			dash = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

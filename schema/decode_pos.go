package schema

import (
	"math/bits"
	"strconv"
)

// requiredBut returns a mask of n required members minus the optional ones.
func requiredBut(n int, optional ...int) uint32 {
	m := uint32(1)<<n - 1
	for _, o := range optional {
		m &^= 1 << o
	}
	return m
}

// Member tables (read-only). Indexes follow the Go struct fields.
var (
	posFields = fieldSet{
		names: []string{"schema_version", "transaction_id", "store_id", "register_id", "type",
			"business_date", "event_time", "currency", "customer_id", "total", "tenders", "lines"},
		required: requiredBut(12, 8),
	}
	tenderFields = fieldSet{
		names:    []string{"type", "amount"},
		required: requiredBut(2),
	}
	posLineFields = fieldSet{
		names: []string{"line_no", "sku", "quantity", "unit_price", "discount", "tax",
			"line_total", "promotion_id"},
		required: requiredBut(8, 7),
	}
)

// tenderTypes are the accepted tender types.
const tenderTypes = "cash, card, gift_card, store_credit, other"

// DecodePOS decodes one pos.transactions document with a fresh Decoder; see
// Decoder.POS.
func DecodePOS(b []byte) (POSTransaction, error) {
	var d Decoder
	return d.POS(b)
}

// POS decodes and validates one pos.transactions document. Beyond the JSON
// shape (exactly the members of POSTransaction; customer_id and promotion_id
// may be absent or null) it requires:
//   - schema_version 1; non-empty ids; type sale, return or void; a known
//     ISO 4217 currency;
//   - event_time in RFC 3339 with a zone offset; business_date a date at
//     most one day from event_time's local date;
//   - at least one line; line_no numbering the lines 1..n, each once;
//     quantity positive for sale and void, negative for return;
//     unit_price, discount, tax >= 0; discount <= |quantity| × unit_price;
//     line_total = sign × (|quantity| × unit_price − discount + tax) within
//     0.01, sign −1 for returns;
//   - total = Σ line_total within 0.01 per line;
//   - tenders of type cash, card, gift_card, store_credit or other, amounts
//     signed like the transaction (>= 0 for sale and void, <= 0 for return),
//     summing to total within 0.01 per line.
func (d *Decoder) POS(b []byte) (POSTransaction, error) {
	var t POSTransaction
	d.reset(b)
	d.ws()
	e := d.object(&posFields, path{idx: -1}, func(f int) *DecodeError { return d.posMember(&t, f) })
	if e == nil {
		e = d.end()
	}
	if e == nil {
		e = d.posCheck(&t)
	}
	if e != nil {
		return POSTransaction{}, d.finish(e)
	}
	d.b = nil
	return t, nil
}

// version reads schema_version.
func (d *Decoder) version() *DecodeError {
	if !d.atNumber() {
		return d.wrongType("an integer")
	}
	text, frac, exp, e := d.number()
	if e != nil {
		return e
	}
	if frac || exp {
		return &DecodeError{Reason: ReasonWrongType, Msg: "want an integer, got " + string(text)}
	}
	return versionError(text)
}

func (d *Decoder) posMember(t *POSTransaction, f int) *DecodeError {
	var e *DecodeError
	switch f {
	case 0:
		e = d.version()
		t.SchemaVersion = CurrentVersion
	case 1:
		t.TransactionID, e = d.id(false)
	case 2:
		t.StoreID, e = d.id(true)
	case 3:
		t.RegisterID, e = d.id(true)
	case 4:
		var v []byte
		if v, e = d.stringValue(); e == nil {
			switch TxnType(v) {
			case TxnSale:
				t.Type = TxnSale
			case TxnReturn:
				t.Type = TxnReturn
			case TxnVoid:
				t.Type = TxnVoid
			default:
				e = invalid(strconv.Quote(string(v)) + " is not one of sale, return, void")
			}
		}
	case 5:
		t.BusinessDate, e = d.date()
	case 6:
		t.EventTime, e = d.timestamp()
	case 7:
		t.Currency, e = d.currency()
	case 8:
		t.CustomerID, e = d.optionalID(false)
	case 9:
		t.Total, e = d.money()
	case 10:
		d.tenders = d.tenders[:0]
		e = d.array(func(i int) *DecodeError {
			d.tenders = append(d.tenders, Tender{})
			tn := &d.tenders[i]
			return d.object(&tenderFields, path{"tenders", i}, func(f int) *DecodeError { return d.tenderMember(tn, f) })
		})
		if e == nil {
			t.Tenders = append(make([]Tender, 0, len(d.tenders)), d.tenders...)
		}
	case 11:
		d.lines = d.lines[:0]
		e = d.array(func(i int) *DecodeError {
			d.lines = append(d.lines, POSLine{})
			l := &d.lines[i]
			return d.object(&posLineFields, path{"lines", i}, func(f int) *DecodeError { return d.posLineMember(l, f) })
		})
		if e == nil {
			t.Lines = append(make([]POSLine, 0, len(d.lines)), d.lines...)
		}
	}
	return e
}

func (d *Decoder) tenderMember(t *Tender, f int) *DecodeError {
	var e *DecodeError
	switch f {
	case 0:
		var v []byte
		if v, e = d.stringValue(); e == nil {
			switch string(v) {
			case TenderCash, TenderCard, TenderGiftCard, TenderStoreCredit, TenderOther:
				t.Type = d.intern(v)
			default:
				e = invalid(strconv.Quote(string(v)) + " is not one of " + tenderTypes)
			}
		}
	case 1:
		t.Amount, e = d.money()
	}
	return e
}

func (d *Decoder) posLineMember(l *POSLine, f int) *DecodeError {
	var e *DecodeError
	switch f {
	case 0:
		var v int64
		v, e = d.intIn(1, 1<<31-1)
		l.LineNo = int(v)
	case 1:
		l.SKU, e = d.id(true)
	case 2:
		l.Quantity, e = d.intIn(-(1<<63 - 1), 1<<63-1)
	case 3:
		l.UnitPrice, e = d.nonNegMoney()
	case 4:
		l.Discount, e = d.nonNegMoney()
	case 5:
		l.Tax, e = d.nonNegMoney()
	case 6:
		l.LineTotal, e = d.money()
	case 7:
		l.PromotionID, e = d.optionalID(true)
	}
	return e
}

// centsTolerance is 0.01 in Money units.
const centsTolerance = Money(moneyUnit / 100)

func absMoney(m Money) Money {
	if m < 0 {
		return -m
	}
	return m
}

// sumLimit bounds running sums so they never overflow (each term is within
// ±MaxMoney, so adding one more to a sum within ±sumLimit cannot overflow).
const sumLimit = 4 * MaxMoney

// posCheck checks the rules that relate members to each other.
func (d *Decoder) posCheck(t *POSTransaction) *DecodeError {
	n := len(t.Lines)
	if n == 0 {
		return &DecodeError{Path: "lines", Reason: ReasonInvalidValue, Msg: "no lines"}
	}
	if local := DateOf(t.EventTime); t.BusinessDate < local-1 || t.BusinessDate > local+1 {
		return &DecodeError{Path: "business_date", Reason: ReasonInvalidValue,
			Msg: t.BusinessDate.String() + " is more than a day from event_time's local date " + local.String()}
	}
	sign := Money(1)
	if t.Type == TxnReturn {
		sign = -1
	}
	if cap(d.lineNos) < n+1 {
		d.lineNos = make([]bool, n+1)
	}
	used := d.lineNos[:n+1]
	clear(used)
	var sum Money
	for i := range t.Lines {
		l := &t.Lines[i]
		p := path{"lines", i}
		bad := func(key, msg string) *DecodeError {
			return &DecodeError{Path: p.key(key), Reason: ReasonInvalidValue, Msg: msg}
		}
		if l.LineNo > n {
			return bad("line_no", strconv.Itoa(l.LineNo)+" is above the line count "+strconv.Itoa(n))
		}
		if used[l.LineNo] {
			return bad("line_no", strconv.Itoa(l.LineNo)+" is used twice")
		}
		used[l.LineNo] = true
		q := l.Quantity
		switch {
		case t.Type == TxnReturn && q >= 0:
			return bad("quantity", strconv.FormatInt(q, 10)+" is not negative, as a return's must be")
		case t.Type != TxnReturn && q <= 0:
			return bad("quantity", strconv.FormatInt(q, 10)+" is not positive, as a "+string(t.Type)+"'s must be")
		}
		if q < 0 {
			q = -q // never MinInt64: intIn bounds it
		}
		hi, lo := bits.Mul64(uint64(l.UnitPrice), uint64(q))
		if hi != 0 || lo > uint64(MaxMoney) {
			return bad("unit_price", "|quantity| × unit_price out of range")
		}
		gross := Money(lo)
		if l.Discount > gross {
			return bad("discount", l.Discount.String()+" exceeds |quantity| × unit_price = "+gross.String())
		}
		want := sign * (gross - l.Discount + l.Tax)
		if absMoney(l.LineTotal-want) > centsTolerance {
			return bad("line_total", l.LineTotal.String()+" does not match sign × (|quantity| × unit_price − discount + tax) = "+want.String())
		}
		sum += l.LineTotal
		if absMoney(sum) > sumLimit {
			return bad("line_total", "sum of line totals out of range")
		}
	}
	tol := centsTolerance * Money(n)
	if absMoney(t.Total-sum) > tol {
		return &DecodeError{Path: "total", Reason: ReasonInvalidValue,
			Msg: t.Total.String() + " is not the sum of the line totals " + sum.String()}
	}
	var paid Money
	for i := range t.Tenders {
		a := t.Tenders[i].Amount
		if sign*a < 0 {
			word := "negative"
			if sign < 0 {
				word = "positive"
			}
			return &DecodeError{Path: path{"tenders", i}.key("amount"), Reason: ReasonInvalidValue,
				Msg: a.String() + " is " + word + " in a " + string(t.Type)}
		}
		paid += a
		if absMoney(paid) > sumLimit {
			return &DecodeError{Path: path{"tenders", i}.key("amount"), Reason: ReasonInvalidValue, Msg: "sum of tenders out of range"}
		}
	}
	if absMoney(paid-t.Total) > tol {
		return &DecodeError{Path: "tenders", Reason: ReasonInvalidValue,
			Msg: "amounts sum to " + paid.String() + ", not the total " + t.Total.String()}
	}
	return nil
}

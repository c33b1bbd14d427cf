package ingest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// synth makes pos.transactions documents with known contents, for the
// benchmark harness and the tests: every document is valid by schema's
// rules unless asked to be malformed, and its totals are returned so a
// reader of the lake can check them.
type synth struct {
	rng    *rand.Rand
	zone   *time.Location
	stores int
	skus   int
}

func newSynth(seed uint64) *synth {
	return &synth{
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		zone:   time.FixedZone("", 2*3600),
		stores: 40,
		skus:   5000,
	}
}

// synthTotals are what a set of documents holds.
type synthTotals struct {
	Docs      int64
	Lines     int64
	Quantity  int64
	LineTotal schema.Money
	Bytes     int64
}

func (t *synthTotals) add(o synthTotals) {
	t.Docs += o.Docs
	t.Lines += o.Lines
	t.Quantity += o.Quantity
	t.LineTotal += o.LineTotal
	t.Bytes += o.Bytes
}

// pos returns a valid POS transaction document with id n on business date
// dt, its key (the store) and totals.
func (s *synth) pos(n int64, dt schema.Date) (key, doc []byte, tot synthTotals) {
	store := fmt.Sprintf("S%03d", n%int64(s.stores))
	typ := schema.TxnSale
	sign := int64(1)
	if s.rng.IntN(20) == 0 {
		typ, sign = schema.TxnReturn, -1
	}
	nl := 1 + s.rng.IntN(5)
	lines := make([]schema.POSLine, nl)
	var total schema.Money
	for k := range lines {
		q := int64(1 + s.rng.IntN(4))
		price := schema.Money(100 * (50 + s.rng.IntN(20000))) // 0.50 … 200.49
		disc := schema.Money(0)
		if s.rng.IntN(5) == 0 {
			disc = price.Mul(q) / 10 / 100 * 100
		}
		tax := (price.Mul(q) - disc) / 5 / 100 * 100
		lt := schema.Money(sign) * (price.Mul(q) - disc + tax)
		lines[k] = schema.POSLine{
			LineNo: k + 1, SKU: fmt.Sprintf("SKU-%06d", s.rng.IntN(s.skus)),
			Quantity: sign * q, UnitPrice: price, Discount: disc, Tax: tax, LineTotal: lt,
		}
		if disc > 0 {
			lines[k].PromotionID = "PROMO-7"
		}
		total += lt
		tot.Quantity += sign * q
		tot.LineTotal += lt
	}
	ev := dt.In(s.zone).Add(8*time.Hour + time.Duration(s.rng.IntN(12*3600))*time.Second)
	t := schema.POSTransaction{
		SchemaVersion: schema.CurrentVersion,
		TransactionID: fmt.Sprintf("%s-R01-%s-%09d", store, dt, n),
		StoreID:       store,
		RegisterID:    store + "-R01",
		Type:          typ,
		BusinessDate:  dt,
		EventTime:     ev,
		Currency:      "EUR",
		Total:         total,
		Tenders:       []schema.Tender{{Type: "card", Amount: total}},
		Lines:         lines,
	}
	if n%3 == 0 {
		t.CustomerID = fmt.Sprintf("LOY-%d", n%9973)
	}
	b, _ := json.Marshal(&t) // cannot fail: the type always marshals
	tot.Docs, tot.Lines, tot.Bytes = 1, int64(nl), int64(len(b))
	return []byte(store), b, tot
}

// malformedKinds is how many kinds of broken documents malformed makes.
const malformedKinds = 4

// malformed returns a document that fails decoding in one of four ways
// (kind modulo malformedKinds): not JSON, an unknown member, an impossible
// value, an unknown schema version.
func (s *synth) malformed(n int64, dt schema.Date, kind int) []byte {
	_, doc, _ := s.pos(n, dt)
	switch kind % malformedKinds {
	case 0:
		return doc[:len(doc)/2]
	case 1:
		return append([]byte(`{"surprise":true,`), doc[1:]...)
	case 2:
		var m map[string]any
		_ = json.Unmarshal(doc, &m)
		m["total"] = "-x"
		b, _ := json.Marshal(m)
		return b
	default:
		var m map[string]any
		_ = json.Unmarshal(doc, &m)
		m["schema_version"] = 99
		b, _ := json.Marshal(m)
		return b
	}
}

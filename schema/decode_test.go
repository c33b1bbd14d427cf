package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeAny decodes b as the stream topic with d.
func decodeAny(d *Decoder, topic string, b []byte) (any, error) {
	switch topic {
	case TopicPOS:
		return d.POS(b)
	case TopicInventory:
		return d.Inventory(b)
	case TopicPurchaseOrder:
		return d.PurchaseOrder(b)
	case TopicItemLocation:
		return d.ItemLocation(b)
	case TopicPromotion:
		return d.Promotion(b)
	}
	panic("unknown topic " + topic)
}

// newOf returns a pointer to a zero value of the topic's Go type.
func newOf(topic string) any {
	switch topic {
	case TopicPOS:
		return new(POSTransaction)
	case TopicInventory:
		return new(InventoryRecord)
	case TopicPurchaseOrder:
		return new(PurchaseOrderLine)
	case TopicItemLocation:
		return new(ItemLocation)
	case TopicPromotion:
		return new(Promotion)
	}
	panic("unknown topic " + topic)
}

// canonical returns v with every time.Time (in structs and slices, at any
// depth) replaced by the same instant in a fixed zone of the same offset
// that is shared by all calls, so reflect.DeepEqual compares instants and
// offsets rather than *time.Location pointers.
func canonical(v any) any {
	rv := reflect.ValueOf(v)
	out := reflect.New(rv.Type()).Elem()
	canonicalInto(out, rv)
	return out.Interface()
}

var canonicalZones = map[int]*time.Location{}

func canonicalInto(dst, src reflect.Value) {
	if tm, ok := src.Interface().(time.Time); ok {
		_, off := tm.Zone()
		z, ok := canonicalZones[off]
		if !ok {
			z = time.FixedZone("", off)
			canonicalZones[off] = z
		}
		dst.Set(reflect.ValueOf(time.Unix(tm.Unix(), int64(tm.Nanosecond())).In(z)))
		return
	}
	switch src.Kind() {
	case reflect.Struct:
		for i := range src.NumField() {
			canonicalInto(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			canonicalInto(dst.Index(i), src.Index(i))
		}
	default:
		dst.Set(src)
	}
}

func sameValue(a, b any) bool { return reflect.DeepEqual(canonical(a), canonical(b)) }

// validSamples are valid Go values of every stream.
func validSamples() map[string][]any {
	noCustomer := samplePOS()
	noCustomer.CustomerID = ""
	noCustomer.Tenders = []Tender{{Type: "gift_card", Amount: noCustomer.Total}}
	void := samplePOS()
	void.Type = TxnVoid
	void.TransactionID = "S012-R03-20250601-000188"
	free := sampleReturn()
	free.Type = TxnSale
	free.Lines[0].Quantity = 1
	free.Lines[0].Discount = 20000
	free.Lines[0].Tax = 0
	free.Lines[0].LineTotal = 0
	free.Total = 0
	free.Tenders = []Tender{}
	unicode := samplePOS()
	unicode.StoreID = "Größe-Ü\u00e9\U0001F600\t\"q\"\\"
	unicode.Lines[0].SKU = "\u2028line\u2029sep</script>&"
	received := samplePO()
	received.Status = POReceived
	received.QtyReceived = 130
	open := samplePO()
	open.Status = POOpen
	open.QtyReceived = 0
	open.ExpectedDate = open.OrderDate
	cancelled := samplePO()
	cancelled.Status = POCancelled
	partial := sampleInventory()
	partial.Kind = SnapshotPartial
	partial.SnapshotRows = 1
	partial.AsOf = partial.AsOf.UTC()
	inactive := sampleItemLocation()
	inactive.Active = false
	inactive.Description = ""
	inactive.ServiceLevel = 1e-7
	inactive.LeadTimeDays = 0
	inactive.MOQ = 0
	inactive.UpdatedAt = time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(9*3600+30*60)))
	atStore := samplePromotion()
	atStore.LocationID = "S012"
	atStore.DiscountPct = 99
	atStore.UpdatedAt = atStore.UpdatedAt.UTC()
	promoCancelled := samplePromotion()
	promoCancelled.Status = PromotionCancelled
	oneDay := samplePromotion()
	oneDay.PromotionID = "PR-0042-04"
	oneDay.EndDate = oneDay.StartDate
	oneDay.DiscountPct = 1
	leapYear := samplePromotion()
	leapYear.StartDate = NewDate(2028, 1, 1)
	leapYear.EndDate = NewDate(2028, 12, 31) // 366 days, both included
	leapYear.UpdatedAt = time.Date(2027, 11, 1, 8, 0, 0, 0, time.FixedZone("", -(3*3600+30*60)))
	return map[string][]any{
		TopicPOS:           {samplePOS(), sampleReturn(), noCustomer, void, free, unicode},
		TopicInventory:     {sampleInventory(), partial},
		TopicPurchaseOrder: {samplePO(), received, open, cancelled},
		TopicItemLocation:  {sampleItemLocation(), inactive},
		TopicPromotion:     {samplePromotion(), atStore, promoCancelled, oneDay, leapYear},
	}
}

func TestDecodeGivesBackWhatEncodingJSONMarshalled(t *testing.T) {
	var d Decoder
	for topic, values := range validSamples() {
		for i, v := range values {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeAny(&d, topic, b)
			if err != nil {
				t.Errorf("%s sample %d: %v\n%s", topic, i, err, b)
				continue
			}
			if !sameValue(got, v) {
				t.Errorf("%s sample %d decoded as\n%+v\nwant\n%+v", topic, i, got, v)
			}
			// A fresh decoder (package function) agrees.
			var fresh Decoder
			got2, err := decodeAny(&fresh, topic, b)
			if err != nil || !sameValue(got2, v) {
				t.Errorf("%s sample %d: fresh decoder gives %+v, %v", topic, i, got2, err)
			}
		}
	}
}

func TestDecodeAcceptsEquivalentSpellings(t *testing.T) {
	pos, _ := json.Marshal(samplePOS())
	base := string(pos)
	cases := []struct {
		name string
		doc  string
	}{
		{"members in any order with white space around everything", ` { "lines" : ` + between(base, `"lines":`, `}]}`) + `}] , "tenders":[{"amount":6.8641,"type":"card"},{"type":"cash","amount":20}],` +
			strings.TrimPrefix(before(base, `,"tenders"`), "{") + "}\n\t"},
		{"money as numeric strings", strings.Replace(base, `"total":26.8641`, `"total":"26.86410"`, 1)},
		{"money with trailing zeros beyond four digits", strings.Replace(base, `"tax":0.5598`, `"tax":0.559800000`, 1)},
		{"customer_id null", strings.Replace(base, `"customer_id":"LOY-88812"`, `"customer_id":null`, 1)},
		{"customer_id absent", strings.Replace(base, `"customer_id":"LOY-88812",`, ``, 1)},
		{"escaped member names and values", strings.Replace(base, `"store_id":"S012"`, `"store\u005fid":"S\u00301\u0032"`, 1)},
		{"a zone offset written +00:00", strings.Replace(base, `2025-06-01T17:42:13.25+02:00`, `2025-06-01T15:42:13.250000000+00:00`, 1)},
		{"line totals within a cent of the rule", strings.Replace(base, `"line_total":7.5578`, `"line_total":7.56`, 1)},
	}
	want := samplePOS()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodePOS([]byte(c.doc))
			if err != nil {
				t.Fatalf("%v\n%s", err, c.doc)
			}
			if got.TransactionID != want.TransactionID || got.StoreID != want.StoreID ||
				got.Total != want.Total || len(got.Lines) != 3 || len(got.Tenders) != 2 ||
				!got.EventTime.Equal(want.EventTime) {
				t.Errorf("decoded %+v", got)
			}
		})
	}
}

// TestDecodePromotionAccepts decodes hand-written erp.promotions documents
// (not encoding/json's output) and checks every member of the result.
func TestDecodePromotionAccepts(t *testing.T) {
	plus2 := time.FixedZone("", 2*3600)
	chainWide := Promotion{SchemaVersion: 1, PromotionID: "PR-0042-03", SKU: "SKU00017",
		StartDate: NewDate(2026, 2, 2), EndDate: NewDate(2026, 2, 8), DiscountPct: 20,
		Status: PromotionPlanned, UpdatedAt: time.Date(2025, 12, 29, 9, 0, 0, 0, plus2)}
	with := func(edit func(p *Promotion)) Promotion {
		p := chainWide
		edit(&p)
		return p
	}
	const doc = `{"schema_version":1,"promotion_id":"PR-0042-03","sku":"SKU00017",` +
		`"start_date":"2026-02-02","end_date":"2026-02-08","discount_pct":20,"status":"planned",` +
		`"updated_at":"2025-12-29T09:00:00+02:00"}`
	cases := []struct {
		name string
		doc  string
		want Promotion
	}{
		{"a chain-wide promotion has no location_id", doc, chainWide},
		{"a chain-wide promotion may send location_id null",
			strings.Replace(doc, `"sku":"SKU00017",`, `"sku":"SKU00017","location_id":null,`, 1), chainWide},
		{"a promotion at one location keeps its location_id",
			strings.Replace(doc, `"sku":"SKU00017",`, `"sku":"SKU00017","location_id":"S001",`, 1),
			with(func(p *Promotion) { p.LocationID = "S001" })},
		{"a cancelled promotion keeps its dates and discount",
			strings.Replace(doc, `"planned"`, `"cancelled"`, 1),
			with(func(p *Promotion) { p.Status = PromotionCancelled })},
		{"a one-day promotion starts and ends on the same date",
			strings.Replace(doc, `"end_date":"2026-02-08"`, `"end_date":"2026-02-02"`, 1),
			with(func(p *Promotion) { p.EndDate = p.StartDate })},
		{"a promotion of 366 days, both ends included, is the longest",
			strings.Replace(doc, `"end_date":"2026-02-08"`, `"end_date":"2027-02-02"`, 1),
			with(func(p *Promotion) { p.EndDate = NewDate(2027, 2, 2) })},
		{"members in another order with white space and escapes",
			"{ \"status\" : \"planned\",\n\t\"discount_pct\":20, \"updated_at\":\"2025-12-29T07:00:00Z\"," +
				` "end_date":"2026-02-08","start_date":"2026-02-02","sku":"SKU\u00300017","promotion_id":"PR-0042-03","schema_version":1 } `,
			with(func(p *Promotion) { p.UpdatedAt = p.UpdatedAt.UTC() })},
	}
	var d Decoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.Promotion([]byte(c.doc))
			if err != nil {
				t.Fatalf("%v\n%s", err, c.doc)
			}
			if !sameValue(got, c.want) { // instants and zone offsets
				t.Errorf("decoded\n%+v\nwant\n%+v", got, c.want)
			}
			fresh, err := DecodePromotion([]byte(c.doc))
			if err != nil || !sameValue(fresh, got) {
				t.Errorf("DecodePromotion gives %+v, %v", fresh, err)
			}
		})
	}
}

func before(s, sep string) string { i := strings.Index(s, sep); return s[:i] }
func between(s, from, to string) string {
	i := strings.Index(s, from) + len(from)
	j := strings.LastIndex(s, to)
	return s[i:j]
}

func marshalString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecodeRefusesWithReasonAndPath holds one case per rule: the document is
// a valid sample with one edit, and the error must be exactly as written.
func TestDecodeRefusesWithReasonAndPath(t *testing.T) {
	pos := marshalString(t, samplePOS())
	ret := marshalString(t, sampleReturn())
	inv := marshalString(t, sampleInventory())
	po := marshalString(t, samplePO())
	il := marshalString(t, sampleItemLocation())
	pr := marshalString(t, samplePromotion())
	type edit struct{ old, new string }
	cases := []struct {
		name   string
		topic  string
		base   string
		edits  []edit
		doc    string // instead of base+edits
		reason string
		msg    string
	}{
		// Well-formedness.
		{name: "a truncated document is malformed", topic: TopicPOS, doc: pos[:len(pos)-3],
			reason: ReasonMalformedJSON, msg: "unexpected end of JSON input"},
		{name: "trailing data after the object is malformed", topic: TopicInventory, doc: inv + ` {}`,
			reason: ReasonMalformedJSON, msg: "invalid character '{' at offset " + itoa(len(inv)+1)},
		{name: "malformed JSON wins over an earlier impossible value", topic: TopicPOS, base: pos,
			edits:  []edit{{`"unit_price":0.895`, `"unit_price":-0.895`}, {`"promotion_id":"PROMO-17"`, `"promotion_id":PROMO}`}},
			reason: ReasonMalformedJSON, msg: "invalid character 'P' at offset " + itoa(strings.Index(pos, `"promotion_id"`)+len(`"promotion_id":`))},
		{name: "invalid UTF-8 in a string is malformed", topic: TopicPOS, base: pos,
			edits:  []edit{{`"sku":"SKU-000042"`, "\"sku\":\"SKU-\xff\""}},
			reason: ReasonMalformedJSON, msg: "invalid UTF-8 at offset " + itoa(strings.Index(pos, `"sku":"SKU-000042"`)+11)},
		{name: "a raw control character in a string is malformed", topic: TopicItemLocation, base: il,
			edits:  []edit{{`Espresso beans`, "Espresso\nbeans"}},
			reason: ReasonMalformedJSON, msg: "invalid character '\\n' at offset " + itoa(strings.Index(il, "Espresso")+8)},
		{name: "an empty input is malformed", topic: TopicPOS, doc: "",
			reason: ReasonMalformedJSON, msg: "unexpected end of JSON input"},
		{name: "a document that is not an object", topic: TopicPOS, doc: `[1,2]`,
			reason: ReasonWrongType, msg: "want an object, got an array"},

		// Versions.
		{name: "an unknown schema_version", topic: TopicPOS, base: pos, edits: []edit{{`"schema_version":1`, `"schema_version":2`}},
			reason: ReasonUnknownVersion, msg: "schema_version: version 2 is not supported (this build reads 1)"},
		{name: "an unknown schema_version wins over the unknown fields it brings", topic: TopicInventory, base: inv,
			edits:  []edit{{`{"schema_version":1,`, `{"bin":"A-3","schema_version":3,`}},
			reason: ReasonUnknownVersion, msg: "schema_version: version 3 is not supported (this build reads 1)"},
		{name: "a missing schema_version", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"schema_version":1,`, ``}},
			reason: ReasonMissingField, msg: "schema_version: missing"},
		{name: "a schema_version that is a string", topic: TopicItemLocation, base: il, edits: []edit{{`"schema_version":1`, `"schema_version":"1"`}},
			reason: ReasonWrongType, msg: "schema_version: want an integer, got a string"},

		// Shape.
		{name: "an unknown top-level field", topic: TopicPOS, base: pos, edits: []edit{{`"currency":"EUR",`, `"currency":"EUR","cashier":"C7",`}},
			reason: ReasonUnknownField, msg: "cashier: unknown field"},
		{name: "an unknown field in a line", topic: TopicPOS, base: pos, edits: []edit{{`"sku":"SKU-004711",`, `"sku":"SKU-004711","colour":"red",`}},
			reason: ReasonUnknownField, msg: "lines[1].colour: unknown field"},
		{name: "a missing required field", topic: TopicPOS, base: pos, edits: []edit{{`"register_id":"S012-R03",`, ``}},
			reason: ReasonMissingField, msg: "register_id: missing"},
		{name: "a missing field in a tender", topic: TopicPOS, base: pos, edits: []edit{{`{"type":"cash","amount":20.00}`, `{"type":"cash"}`}},
			reason: ReasonMissingField, msg: "tenders[1].amount: missing"},
		{name: "a duplicate field", topic: TopicPOS, base: pos, edits: []edit{{`"store_id":"S012",`, `"store_id":"S012","store_id":"S013",`}},
			reason: ReasonDuplicateField, msg: "store_id: duplicate field"},
		{name: "a duplicate field spelled with an escape", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"sku":"SKU-000123",`, `"sku":"SKU-000123","sk\u0075":"X",`}},
			reason: ReasonDuplicateField, msg: "sku: duplicate field"},
		{name: "an integer sent as a string", topic: TopicPOS, base: pos, edits: []edit{{`"quantity":2,`, `"quantity":"2",`}},
			reason: ReasonWrongType, msg: "lines[0].quantity: want an integer, got a string"},
		{name: "a fraction where an integer belongs", topic: TopicPOS, base: pos, edits: []edit{{`"quantity":2,`, `"quantity":2.5,`}},
			reason: ReasonWrongType, msg: "lines[0].quantity: want an integer, got 2.5"},
		{name: "lines that are an object", topic: TopicPOS, base: pos, edits: []edit{{`"lines":[`, `"lines":{"x":[`}, {`}]}`, `}]}}`}},
			reason: ReasonWrongType, msg: "lines: want an array, got an object"},
		{name: "a line that is a string", topic: TopicPOS, base: pos, edits: []edit{{`"lines":[`, `"lines":["line",`}},
			reason: ReasonWrongType, msg: "lines[0]: want an object, got a string"},
		{name: "null for a required string", topic: TopicPOS, base: pos, edits: []edit{{`"store_id":"S012"`, `"store_id":null`}},
			reason: ReasonWrongType, msg: "store_id: want a string, got null"},
		{name: "a boolean sent as a string", topic: TopicItemLocation, base: il, edits: []edit{{`"active":true`, `"active":"yes"`}},
			reason: ReasonWrongType, msg: "active: want a boolean, got a string"},
		{name: "money sent as a boolean", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"unit_cost":1.7455`, `"unit_cost":true`}},
			reason: ReasonWrongType, msg: "unit_cost: want a number, got a boolean"},

		// POS values.
		{name: "a negative unit price", topic: TopicPOS, base: pos, edits: []edit{{`"unit_price":0.895`, `"unit_price":-0.895`}},
			reason: ReasonInvalidValue, msg: "lines[2].unit_price: negative"},
		{name: "money with an exponent", topic: TopicPOS, base: pos, edits: []edit{{`"unit_price":0.895`, `"unit_price":8.95e-1`}},
			reason: ReasonInvalidValue, msg: "lines[2].unit_price: 8.95e-1: exponent not allowed in money"},
		{name: "money with five significant decimals", topic: TopicPOS, base: pos, edits: []edit{{`"unit_price":0.895`, `"unit_price":0.89501`}},
			reason: ReasonInvalidValue, msg: `lines[2].unit_price: "0.89501": more than 4 fractional digits`},
		{name: "money in a string that is not a number", topic: TopicPOS, base: pos, edits: []edit{{`"total":26.8641`, `"total":"26,86"`}},
			reason: ReasonInvalidValue, msg: `total: "26,86": not a decimal number`},
		{name: "money beyond DECIMAL(18,4)", topic: TopicPOS, base: pos, edits: []edit{{`"total":26.8641`, `"total":100000000000000`}},
			reason: ReasonInvalidValue, msg: "total: 100000000000000.00 out of range for DECIMAL(18,4)"},
		{name: "a quantity beyond int64", topic: TopicPOS, base: pos, edits: []edit{{`"quantity":2,`, `"quantity":99999999999999999999,`}},
			reason: ReasonInvalidValue, msg: "lines[0].quantity: 99999999999999999999 out of range"},
		{name: "an unknown currency", topic: TopicPOS, base: pos, edits: []edit{{`"currency":"EUR"`, `"currency":"EUX"`}},
			reason: ReasonInvalidValue, msg: `currency: "EUX" is not an ISO 4217 currency code`},
		{name: "a lower-case currency", topic: TopicPOS, base: pos, edits: []edit{{`"currency":"EUR"`, `"currency":"eur"`}},
			reason: ReasonInvalidValue, msg: `currency: "eur" is not an ISO 4217 currency code`},
		{name: "an unknown transaction type", topic: TopicPOS, base: pos, edits: []edit{{`"type":"sale"`, `"type":"refund"`}},
			reason: ReasonInvalidValue, msg: `type: "refund" is not one of sale, return, void`},
		{name: "an event time without a zone", topic: TopicPOS, base: pos, edits: []edit{{`17:42:13.25+02:00`, `17:42:13.25`}},
			reason: ReasonInvalidValue, msg: `event_time: "2025-06-01T17:42:13.25": no zone offset (want Z or ±HH:MM)`},
		{name: "an event time with a space for T", topic: TopicPOS, base: pos, edits: []edit{{`2025-06-01T17`, `2025-06-01 17`}},
			reason: ReasonInvalidValue, msg: `event_time: "2025-06-01 17:42:13.25+02:00": not an RFC 3339 time like 2006-01-02T15:04:05+02:00`},
		{name: "an impossible business date", topic: TopicPOS, base: pos, edits: []edit{{`"business_date":"2025-06-01"`, `"business_date":"2025-02-29"`}},
			reason: ReasonInvalidValue, msg: `business_date: "2025-02-29" is not a date YYYY-MM-DD`},
		{name: "a business date far from the event time", topic: TopicPOS, base: pos, edits: []edit{{`"business_date":"2025-06-01"`, `"business_date":"2025-06-03"`}},
			reason: ReasonInvalidValue, msg: "business_date: 2025-06-03 is more than a day from event_time's local date 2025-06-01"},
		{name: "an empty store id", topic: TopicPOS, base: pos, edits: []edit{{`"store_id":"S012"`, `"store_id":""`}},
			reason: ReasonInvalidValue, msg: "store_id: empty"},
		{name: "an empty optional customer id", topic: TopicPOS, base: pos, edits: []edit{{`"customer_id":"LOY-88812"`, `"customer_id":""`}},
			reason: ReasonInvalidValue, msg: "customer_id: empty"},
		{name: "a sale with a negative quantity", topic: TopicPOS, base: pos, edits: []edit{{`"quantity":2,`, `"quantity":-2,`}},
			reason: ReasonInvalidValue, msg: "lines[0].quantity: -2 is not positive, as a sale's must be"},
		{name: "a return with a positive quantity", topic: TopicPOS, base: ret, edits: []edit{{`"quantity":-1`, `"quantity":1`}},
			reason: ReasonInvalidValue, msg: "lines[0].quantity: 1 is not negative, as a return's must be"},
		{name: "a line total that breaks the rule", topic: TopicPOS, base: pos, edits: []edit{{`"line_total":7.5578`, `"line_total":7.60`}},
			reason: ReasonInvalidValue, msg: "lines[0].line_total: 7.60 does not match sign × (|quantity| × unit_price − discount + tax) = 7.5578"},
		{name: "a return whose line total is positive", topic: TopicPOS, base: ret, edits: []edit{{`"line_total":-2.16`, `"line_total":2.16`}},
			reason: ReasonInvalidValue, msg: "lines[0].line_total: 2.16 does not match sign × (|quantity| × unit_price − discount + tax) = -2.16"},
		{name: "a discount larger than the goods", topic: TopicPOS, base: pos, edits: []edit{{`"discount":1.30`, `"discount":13.00`}},
			reason: ReasonInvalidValue, msg: "lines[1].discount: 13.00 exceeds |quantity| × unit_price = 12.99"},
		{name: "a total that is not the sum of the lines", topic: TopicPOS, base: pos, edits: []edit{{`"total":26.8641`, `"total":27.00`}},
			reason: ReasonInvalidValue, msg: "total: 27.00 is not the sum of the line totals 26.8641"},
		{name: "tenders that do not pay the total", topic: TopicPOS, base: pos, edits: []edit{{`"amount":20.00`, `"amount":19.00`}},
			reason: ReasonInvalidValue, msg: "tenders: amounts sum to 25.8641, not the total 26.8641"},
		{name: "a negative tender in a sale", topic: TopicPOS, base: pos, edits: []edit{{`"amount":6.8641`, `"amount":-6.8641`}},
			reason: ReasonInvalidValue, msg: "tenders[0].amount: -6.8641 is negative in a sale"},
		{name: "a positive tender in a return", topic: TopicPOS, base: ret, edits: []edit{{`"amount":-2.16`, `"amount":2.16`}},
			reason: ReasonInvalidValue, msg: "tenders[0].amount: 2.16 is positive in a return"},
		{name: "an unknown tender type", topic: TopicPOS, base: pos, edits: []edit{{`"type":"cash"`, `"type":"bitcoin"`}},
			reason: ReasonInvalidValue, msg: `tenders[1].type: "bitcoin" is not one of cash, card, gift_card, store_credit, other`},
		{name: "a line number used twice", topic: TopicPOS, base: pos, edits: []edit{{`"line_no":3`, `"line_no":2`}},
			reason: ReasonInvalidValue, msg: "lines[2].line_no: 2 is used twice"},
		{name: "a line number beyond the line count", topic: TopicPOS, base: pos, edits: []edit{{`"line_no":3`, `"line_no":4`}},
			reason: ReasonInvalidValue, msg: "lines[2].line_no: 4 is above the line count 3"},
		{name: "a line number zero", topic: TopicPOS, base: pos, edits: []edit{{`"line_no":1`, `"line_no":0`}},
			reason: ReasonInvalidValue, msg: "lines[0].line_no: 0 is not positive"},
		{name: "a transaction without lines", topic: TopicPOS, base: pos, edits: []edit{{`"lines":[` + between(pos, `"lines":[`, `]}`) + `]`, `"lines":[]`}},
			reason: ReasonInvalidValue, msg: "lines: no lines"},

		// Inventory values.
		{name: "an unknown snapshot kind", topic: TopicInventory, base: inv, edits: []edit{{`"kind":"full"`, `"kind":"delta"`}},
			reason: ReasonInvalidValue, msg: `kind: "delta" is not one of full, partial`},
		{name: "a snapshot of zero rows", topic: TopicInventory, base: inv, edits: []edit{{`"snapshot_rows":200`, `"snapshot_rows":0`}},
			reason: ReasonInvalidValue, msg: "snapshot_rows: 0 is not positive"},
		{name: "negative allocated stock", topic: TopicInventory, base: inv, edits: []edit{{`"allocated":12`, `"allocated":-1`}},
			reason: ReasonInvalidValue, msg: "allocated: -1 is negative"},
		{name: "negative stock in transit", topic: TopicInventory, base: inv, edits: []edit{{`"in_transit":48`, `"in_transit":-48`}},
			reason: ReasonInvalidValue, msg: "in_transit: -48 is negative"},
		{name: "an as_of without a zone", topic: TopicInventory, base: inv, edits: []edit{{`23:59:00-04:00`, `23:59:00`}},
			reason: ReasonInvalidValue, msg: `as_of: "2025-06-01T23:59:00": no zone offset (want Z or ±HH:MM)`},
		{name: "an as_of in year 1", topic: TopicInventory, base: inv, edits: []edit{{`2025-06-01T23:59:00-04:00`, `0001-01-01T00:00:00Z`}},
			reason: ReasonInvalidValue, msg: `as_of: "0001-01-01T00:00:00Z": not an RFC 3339 time like 2006-01-02T15:04:05+02:00`},
		{name: "an as_of at second 60", topic: TopicInventory, base: inv, edits: []edit{{`23:59:00-04:00`, `23:59:60-04:00`}},
			reason: ReasonInvalidValue, msg: `as_of: "2025-06-01T23:59:60-04:00": not an RFC 3339 time like 2006-01-02T15:04:05+02:00`},

		// Purchase order values.
		{name: "an unknown PO status", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"status":"partially_received"`, `"status":"shipped"`}},
			reason: ReasonInvalidValue, msg: `status: "shipped" is not one of open, partially_received, received, cancelled`},
		{name: "nothing ordered", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"qty_ordered":120`, `"qty_ordered":0`}},
			reason: ReasonInvalidValue, msg: "qty_ordered: 0 is not positive"},
		{name: "a negative receipt", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"qty_received":48`, `"qty_received":-1`}},
			reason: ReasonInvalidValue, msg: "qty_received: -1 is negative"},
		{name: "expected before ordered", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"expected_date":"2025-06-03"`, `"expected_date":"2025-05-19"`}},
			reason: ReasonInvalidValue, msg: "expected_date: 2025-05-19 is before order_date 2025-05-20"},
		{name: "an open line with goods received", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"partially_received"`, `"open"`}},
			reason: ReasonInvalidValue, msg: "qty_received: 48 received on an open line"},
		{name: "a partial receipt of everything", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"qty_received":48`, `"qty_received":120`}},
			reason: ReasonInvalidValue, msg: "qty_received: 120 of 120 is not a partial receipt"},
		{name: "a received line with nothing received", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"qty_received":48`, `"qty_received":0`}, {`"partially_received"`, `"received"`}},
			reason: ReasonInvalidValue, msg: "qty_received: nothing received on a received line"},
		{name: "a negative unit cost", topic: TopicPurchaseOrder, base: po, edits: []edit{{`"unit_cost":1.7455`, `"unit_cost":-1.7455`}},
			reason: ReasonInvalidValue, msg: "unit_cost: negative"},

		// Item-location values.
		{name: "a service level of one", topic: TopicItemLocation, base: il, edits: []edit{{`"service_level":0.975`, `"service_level":1`}},
			reason: ReasonInvalidValue, msg: "service_level: 1 is not strictly between 0 and 1"},
		{name: "a service level of zero", topic: TopicItemLocation, base: il, edits: []edit{{`"service_level":0.975`, `"service_level":0e0`}},
			reason: ReasonInvalidValue, msg: "service_level: 0 is not strictly between 0 and 1"},
		{name: "a negative lead time", topic: TopicItemLocation, base: il, edits: []edit{{`"lead_time_days":9`, `"lead_time_days":-1`}},
			reason: ReasonInvalidValue, msg: "lead_time_days: -1 is negative"},
		{name: "a review period of zero days", topic: TopicItemLocation, base: il, edits: []edit{{`"review_period_days":7`, `"review_period_days":0`}},
			reason: ReasonInvalidValue, msg: "review_period_days: 0 is not positive"},
		{name: "a case pack of zero", topic: TopicItemLocation, base: il, edits: []edit{{`"case_pack":6`, `"case_pack":0`}},
			reason: ReasonInvalidValue, msg: "case_pack: 0 is not positive"},
		{name: "a negative MOQ", topic: TopicItemLocation, base: il, edits: []edit{{`"moq":12`, `"moq":-12`}},
			reason: ReasonInvalidValue, msg: "moq: -12 is negative"},
		{name: "a negative unit price on an item", topic: TopicItemLocation, base: il, edits: []edit{{`"unit_price":3.499`, `"unit_price":-3.499`}},
			reason: ReasonInvalidValue, msg: "unit_price: negative"},
		{name: "a lead time of a century", topic: TopicItemLocation, base: il, edits: []edit{{`"lead_time_days":9`, `"lead_time_days":36500`}},
			reason: ReasonInvalidValue, msg: "lead_time_days: 36500 is above 3660"},
		{name: "an empty category", topic: TopicItemLocation, base: il, edits: []edit{{`"category":"coffee"`, `"category":""`}},
			reason: ReasonInvalidValue, msg: "category: empty"},

		// Promotion values.
		{name: "a promotion of schema_version 2", topic: TopicPromotion, base: pr, edits: []edit{{`"schema_version":1`, `"schema_version":2`}},
			reason: ReasonUnknownVersion, msg: "schema_version: version 2 is not supported (this build reads 1)"},
		{name: "a promotion without promotion_id", topic: TopicPromotion, base: pr, edits: []edit{{`"promotion_id":"PR-0042-03",`, ``}},
			reason: ReasonMissingField, msg: "promotion_id: missing"},
		{name: "a promotion without sku", topic: TopicPromotion, base: pr, edits: []edit{{`"sku":"SKU-000123",`, ``}},
			reason: ReasonMissingField, msg: "sku: missing"},
		{name: "a promotion without start_date", topic: TopicPromotion, base: pr, edits: []edit{{`"start_date":"2025-07-07",`, ``}},
			reason: ReasonMissingField, msg: "start_date: missing"},
		{name: "a promotion without end_date", topic: TopicPromotion, base: pr, edits: []edit{{`"end_date":"2025-07-13",`, ``}},
			reason: ReasonMissingField, msg: "end_date: missing"},
		{name: "a promotion without discount_pct", topic: TopicPromotion, base: pr, edits: []edit{{`"discount_pct":20,`, ``}},
			reason: ReasonMissingField, msg: "discount_pct: missing"},
		{name: "a promotion without status", topic: TopicPromotion, base: pr, edits: []edit{{`"status":"planned",`, ``}},
			reason: ReasonMissingField, msg: "status: missing"},
		{name: "a promotion without updated_at", topic: TopicPromotion, base: pr, edits: []edit{{`,"updated_at":"2025-06-02T09:30:00+02:00"`, ``}},
			reason: ReasonMissingField, msg: "updated_at: missing"},
		{name: "an unknown field on a promotion", topic: TopicPromotion, base: pr, edits: []edit{{`"discount_pct":20,`, `"discount_pct":20,"channel":"web",`}},
			reason: ReasonUnknownField, msg: "channel: unknown field"},
		{name: "a location_id sent twice", topic: TopicPromotion, base: pr, edits: []edit{{`"sku":"SKU-000123",`, `"sku":"SKU-000123","location_id":"S012","location_id":"S013",`}},
			reason: ReasonDuplicateField, msg: "location_id: duplicate field"},
		{name: "an empty promotion_id", topic: TopicPromotion, base: pr, edits: []edit{{`"promotion_id":"PR-0042-03"`, `"promotion_id":""`}},
			reason: ReasonInvalidValue, msg: "promotion_id: empty"},
		{name: "an empty sku on a promotion", topic: TopicPromotion, base: pr, edits: []edit{{`"sku":"SKU-000123"`, `"sku":""`}},
			reason: ReasonInvalidValue, msg: "sku: empty"},
		{name: "an empty location_id instead of an absent one", topic: TopicPromotion, base: pr, edits: []edit{{`"sku":"SKU-000123",`, `"sku":"SKU-000123","location_id":"",`}},
			reason: ReasonInvalidValue, msg: "location_id: empty"},
		{name: "a location_id that is a number", topic: TopicPromotion, base: pr, edits: []edit{{`"sku":"SKU-000123",`, `"sku":"SKU-000123","location_id":12,`}},
			reason: ReasonWrongType, msg: "location_id: want a string, got a number"},
		{name: "a start date that does not exist", topic: TopicPromotion, base: pr, edits: []edit{{`"start_date":"2025-07-07"`, `"start_date":"2025-06-31"`}},
			reason: ReasonInvalidValue, msg: `start_date: "2025-06-31" is not a date YYYY-MM-DD`},
		{name: "an end date with a time of day", topic: TopicPromotion, base: pr, edits: []edit{{`"end_date":"2025-07-13"`, `"end_date":"2025-07-13T23:59:59Z"`}},
			reason: ReasonInvalidValue, msg: `end_date: "2025-07-13T23:59:59Z" is not a date YYYY-MM-DD`},
		{name: "an end date before the start date", topic: TopicPromotion, base: pr, edits: []edit{{`"end_date":"2025-07-13"`, `"end_date":"2025-07-06"`}},
			reason: ReasonInvalidValue, msg: "end_date: 2025-07-06 is before start_date 2025-07-07"},
		{name: "a promotion running 367 days", topic: TopicPromotion, base: pr, edits: []edit{{`"end_date":"2025-07-13"`, `"end_date":"2026-07-08"`}},
			reason: ReasonInvalidValue, msg: "end_date: 2026-07-08 makes a promotion of 367 days from start_date 2025-07-07 (at most 366)"},
		{name: "a discount of zero percent", topic: TopicPromotion, base: pr, edits: []edit{{`"discount_pct":20`, `"discount_pct":0`}},
			reason: ReasonInvalidValue, msg: "discount_pct: 0 is not positive"},
		{name: "a discount of one hundred percent", topic: TopicPromotion, base: pr, edits: []edit{{`"discount_pct":20`, `"discount_pct":100`}},
			reason: ReasonInvalidValue, msg: "discount_pct: 100 is above 99"},
		{name: "a negative discount", topic: TopicPromotion, base: pr, edits: []edit{{`"discount_pct":20`, `"discount_pct":-20`}},
			reason: ReasonInvalidValue, msg: "discount_pct: -20 is not positive"},
		{name: "a fractional discount", topic: TopicPromotion, base: pr, edits: []edit{{`"discount_pct":20`, `"discount_pct":12.5`}},
			reason: ReasonWrongType, msg: "discount_pct: want an integer, got 12.5"},
		{name: "a discount sent as a fraction of one", topic: TopicPromotion, base: pr, edits: []edit{{`"discount_pct":20`, `"discount_pct":"0.2"`}},
			reason: ReasonWrongType, msg: "discount_pct: want an integer, got a string"},
		{name: "an unknown promotion status", topic: TopicPromotion, base: pr, edits: []edit{{`"status":"planned"`, `"status":"active"`}},
			reason: ReasonInvalidValue, msg: `status: "active" is not one of planned, cancelled`},
		{name: "a promotion status in capitals", topic: TopicPromotion, base: pr, edits: []edit{{`"status":"planned"`, `"status":"PLANNED"`}},
			reason: ReasonInvalidValue, msg: `status: "PLANNED" is not one of planned, cancelled`},
		{name: "a promotion updated_at without a zone", topic: TopicPromotion, base: pr, edits: []edit{{`09:30:00+02:00`, `09:30:00`}},
			reason: ReasonInvalidValue, msg: `updated_at: "2025-06-02T09:30:00": no zone offset (want Z or ±HH:MM)`},
		{name: "a promotion updated_at that is a date", topic: TopicPromotion, base: pr, edits: []edit{{`"2025-06-02T09:30:00+02:00"`, `"2025-06-02"`}},
			reason: ReasonInvalidValue, msg: `updated_at: "2025-06-02": not an RFC 3339 time like 2006-01-02T15:04:05+02:00`},
		{name: "a malformed promotion wins over its impossible dates", topic: TopicPromotion, base: pr,
			edits:  []edit{{`"end_date":"2025-07-13"`, `"end_date":"2025-07-01"`}, {`"status":"planned"`, `"status":planned`}},
			reason: ReasonMalformedJSON, msg: "invalid character 'p' at offset " + itoa(strings.Index(pr, `"status":`)+len(`"status":`))},
	}
	var d Decoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := c.doc
			if c.base != "" {
				doc = c.base
				for _, e := range c.edits {
					if !strings.Contains(doc, e.old) {
						t.Fatalf("edit %q does not apply", e.old)
					}
					doc = strings.Replace(doc, e.old, e.new, 1)
				}
			}
			v, err := decodeAny(&d, c.topic, []byte(doc))
			if err == nil {
				t.Fatalf("accepted %s as %+v", doc, v)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if de.Reason != c.reason || err.Error() != c.msg {
				t.Errorf("got %s %q\nwant %s %q", de.Reason, err.Error(), c.reason, c.msg)
			}
			if !slices.Contains(Reasons(), de.Reason) {
				t.Errorf("reason %q is not in Reasons()", de.Reason)
			}
			if v := reflect.ValueOf(v); !v.IsZero() {
				t.Errorf("a refused document returned a non-zero value %+v", v)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// wellFormed is the oracle for malformed_json: encoding/json's Valid, plus
// UTF-8 validity (RFC 8259 requires UTF-8; encoding/json tolerates
// invalid bytes and replaces them).
func wellFormed(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }

// checkAgainstEncodingJSON decodes b as topic and checks our decision and
// value against encoding/json: malformed_json exactly when the oracle says
// the input is not well-formed, and when both decoders accept, the same
// value.
func checkAgainstEncodingJSON(t *testing.T, d *Decoder, topic string, b []byte) {
	t.Helper()
	v, err := decodeAny(d, topic, b)
	malformed := ReasonOf(err) == ReasonMalformedJSON
	if malformed == wellFormed(b) {
		t.Fatalf("%s: malformed=%v (%v) but json.Valid=%v utf8.Valid=%v for %q", topic, malformed, err, json.Valid(b), utf8.Valid(b), b)
	}
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) || !slices.Contains(Reasons(), de.Reason) || de.Msg == "" {
			t.Fatalf("%s: error %#v is not a *DecodeError with a known reason", topic, err)
		}
		return
	}
	ref := newOf(topic)
	if json.Unmarshal(b, ref) == nil {
		if got := reflect.ValueOf(ref).Elem().Interface(); !sameValue(got, v) {
			t.Fatalf("%s: encoding/json reads %+v, we read %+v from %q", topic, got, v, b)
		}
	}
}

// mutate applies a few random byte edits, biased towards JSON syntax.
func mutate(r *rand.Rand, b []byte) []byte {
	const alphabet = "{}[]:,\"\\0123456789-+.eEtrufalsn \t\nxu\xff\xc3\xa9"
	out := slices.Clone(b)
	for n := 1 + r.IntN(3); n > 0 && len(out) > 0; n-- {
		i := r.IntN(len(out))
		switch r.IntN(4) {
		case 0: // replace
			out[i] = alphabet[r.IntN(len(alphabet))]
		case 1: // insert
			out = slices.Insert(out, i, alphabet[r.IntN(len(alphabet))])
		case 2: // delete
			out = slices.Delete(out, i, i+1)
		case 3: // truncate
			out = out[:i]
		}
	}
	return out
}

func TestDecodeAgreesWithEncodingJSONOnWellFormedness(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var d Decoder
	n := 0
	counts := map[string]int{}
	for topic, values := range validSamples() {
		for _, v := range values {
			b, _ := json.Marshal(v)
			checkAgainstEncodingJSON(t, &d, topic, b)
			for range 4000 {
				m := mutate(r, b)
				checkAgainstEncodingJSON(t, &d, topic, m)
				_, err := decodeAny(&d, topic, m)
				counts[ReasonOf(err)]++
				n++
			}
		}
	}
	// Hand-picked edge cases of the JSON grammar.
	for _, doc := range []string{
		``, ` `, `{`, `}`, `{}`, `[]`, `null`, `1`, `"x"`, `{"a":1}`, `{"schema_version":1}`,
		`{"schema_version":01}`, `{"schema_version":1.}`, `{"schema_version":-}`, `{"schema_version":1e}`,
		`{"schema_version":1}x`, `{"schema_version":1,}`, `{,"schema_version":1}`, `{"schema_version" 1}`,
		`{"schema_version":tru}`, `{"schema_version":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`,
		"{\"a\":\"\x00\"}", "{\"a\":\"\xed\xa0\x80\"}", `{"a":"\ud800"}`, `{"a":[1,]}`, `{"a":[,1]}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), `{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		"\ufeff{}", `{"schema_version":2,"x":[}`, `{"schema_version":2}`, `{"schema_version":99999999999999999999999}`,
	} {
		for _, topic := range Topics {
			checkAgainstEncodingJSON(t, &d, topic, []byte(doc))
		}
	}
	t.Logf("%d mutated documents, outcomes %v", n, counts)
	if counts[""] == 0 || counts[ReasonMalformedJSON] == 0 || len(counts) < 5 {
		t.Errorf("mutations do not exercise both decisions and several reasons: %v", counts)
	}
}

func TestMemberTablesFollowTheGoTypes(t *testing.T) {
	for _, c := range []struct {
		fs *fieldSet
		v  any
	}{
		{&posFields, POSTransaction{}}, {&tenderFields, Tender{}}, {&posLineFields, POSLine{}},
		{&inventoryFields, InventoryRecord{}}, {&purchaseOrderFields, PurchaseOrderLine{}},
		{&itemLocationFields, ItemLocation{}}, {&promotionFields, Promotion{}},
	} {
		rt := reflect.TypeOf(c.v)
		var names []string
		var required uint32
		for i := range rt.NumField() {
			name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			names = append(names, name)
			if opts != "omitempty" {
				required |= 1 << i
			}
		}
		if !slices.Equal(names, c.fs.names) || required != c.fs.required {
			t.Errorf("%s: table %v required %b, Go type %v required %b", rt.Name(), c.fs.names, c.fs.required, names, required)
		}
	}
}

func TestDateAndTimeParsingAgreeWithPackageTime(t *testing.T) {
	for days := NewDate(1900, 1, 1); days <= NewDate(2400, 12, 31); days += 17 {
		s := days.String()
		got, ok := parseDate([]byte(s))
		if !ok || Date(got) != days {
			t.Fatalf("parseDate(%s) = %d %v, want %d", s, got, ok, days)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		sec := r.Int64N(NewDate(9999, 12, 31).Time().Unix()-NewDate(1900, 1, 1).Time().Unix()) + NewDate(1900, 1, 1).Time().Unix()
		off := (r.IntN(24*60*2-1) - (24*60 - 1)) * 60
		ns := []int{0, r.IntN(1e9), r.IntN(1000) * 1e6}[r.IntN(3)]
		tm := time.Unix(sec, int64(ns)).In(time.FixedZone("", off))
		text := tm.Format(time.RFC3339Nano)
		gotSec, gotNs, gotOff, msg := parseRFC3339([]byte(text))
		if msg != "" || gotSec != sec || int(gotNs) != ns || gotOff != off {
			t.Fatalf("parseRFC3339(%s) = %d %d %d %q, want %d %d %d", text, gotSec, gotNs, gotOff, msg, sec, ns, off)
		}
		ref, err := time.Parse(time.RFC3339, text)
		if err != nil || !ref.Equal(tm) {
			t.Fatalf("time.Parse(%s) = %v %v", text, ref, err)
		}
	}
	for _, bad := range []string{
		"2025-06-01T17:42:13", "2025-06-01t17:42:13Z", "2025-06-01T17:42:13z", "2025-06-01T24:00:00Z",
		"2025-06-01T17:60:00Z", "2025-06-01T17:42:13.Z", "2025-06-01T17:42:13.1234567891Z",
		"2025-06-01T17:42:13+2:00", "2025-06-01T17:42:13+02:60", "2025-06-01T17:42:13+24:00",
		"2025-13-01T00:00:00Z", "2025-06-31T00:00:00Z", "1899-12-31T23:59:59Z", "+2025-06-01T00:00:00Z",
		"2025-06-01T17:42:13+0200", "2025-06-01T17:42:13Z ",
	} {
		if _, _, _, msg := parseRFC3339([]byte(bad)); msg == "" {
			t.Errorf("parseRFC3339 accepted %q", bad)
		}
	}
}

func TestCurrencyTableIsSortedAndKnowsTheCommonCodes(t *testing.T) {
	codes := strings.Split(currencyCodes, " ")
	if !slices.IsSorted(codes) || len(slices.Compact(slices.Clone(codes))) != len(codes) {
		t.Fatalf("currency codes are not sorted and unique")
	}
	for _, c := range codes {
		if len(c) != 3 || strings.ToUpper(c) != c || !IsCurrency(c) {
			t.Errorf("code %q is malformed or not found", c)
		}
	}
	for _, c := range []string{"EUR", "USD", "GBP", "JPY", "CHF", "SEK", "AED", "ZWG"} {
		if !IsCurrency(c) {
			t.Errorf("IsCurrency(%s) = false", c)
		}
	}
	for _, c := range []string{"", "EU", "EURO", "eur", "XAU", "XXX", "XTS", "ABC", "ZZZ", "AAA"} {
		if IsCurrency(c) {
			t.Errorf("IsCurrency(%q) = true", c)
		}
	}
}

func TestReusedDecoderAllocatesOnlyTheResult(t *testing.T) {
	var d Decoder
	docs := map[string][]byte{}
	for topic, values := range validSamples() {
		docs[topic], _ = json.Marshal(values[0])
		if _, err := decodeAny(&d, topic, docs[topic]); err != nil { // warm the intern table
			t.Fatal(err)
		}
	}
	// POS: transaction_id, customer_id, the tenders and lines slices.
	// Inventory: snapshot_id. PO: po_id. Item-location: description.
	// Promotion: nothing (its ids are interned).
	want := map[string]float64{TopicPOS: 4, TopicInventory: 1, TopicPurchaseOrder: 1, TopicItemLocation: 1, TopicPromotion: 0}
	for topic, b := range docs {
		var err error
		allocs := testing.AllocsPerRun(100, func() {
			switch topic { // typed calls: decodeAny's interface boxing would allocate
			case TopicPOS:
				_, err = d.POS(b)
			case TopicInventory:
				_, err = d.Inventory(b)
			case TopicPurchaseOrder:
				_, err = d.PurchaseOrder(b)
			case TopicItemLocation:
				_, err = d.ItemLocation(b)
			case TopicPromotion:
				_, err = d.Promotion(b)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if allocs > want[topic] {
			t.Errorf("%s: %.0f allocations per decode, want at most %.0f", topic, allocs, want[topic])
		}
	}
}

func TestSpecialBytesFindsQuotesEscapesControlsAndNonASCII(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 200000 {
		var w uint64
		naive := false
		for k := range 8 {
			c := byte(r.IntN(256))
			if r.IntN(2) == 0 {
				c = byte(0x20 + r.IntN(0x60)) // mostly printable ASCII
			}
			w |= uint64(c) << (8 * k)
			naive = naive || c == '"' || c == '\\' || c < 0x20 || c >= 0x80
		}
		if (specialBytes(w) != 0) != naive {
			t.Fatalf("specialBytes(%#016x) = %#x, want special=%v", w, specialBytes(w), naive)
		}
	}
}

func TestStringsDecodeAsEncodingJSONDoes(t *testing.T) {
	literals := []string{
		`""`, `"plain"`, `"tab\tnew\nline\r\b\f\/\\\""`, `"\u00e9\u00E9"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83d x"`,
		`"\udc00\ud83d"`, `"\ud83d\ud83d\ude00"`, `"\ud83d\u0041"`, `"\u0000"`, `"\u2028\u2029"`, `"é😀 raw"`,
		`"long enough to take the eight-byte fast path, then \" an escape"`, `"12345678\u0041"`, `"1234567é"`,
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 3000 {
		var sb strings.Builder
		for range r.IntN(24) {
			switch r.IntN(6) {
			case 0:
				sb.WriteRune(rune(r.IntN(0x20)))
			case 1:
				sb.WriteRune(rune(0xd800 + r.IntN(0x800))) // a surrogate: marshals as U+FFFD
			case 2:
				sb.WriteRune(rune(0x80 + r.IntN(0x10ff7f)))
			default:
				sb.WriteByte(byte(0x20 + r.IntN(0x5f)))
			}
		}
		b, _ := json.Marshal(sb.String())
		literals = append(literals, string(b))
		// The same text with every character \u-escaped.
		var esc strings.Builder
		esc.WriteByte('"')
		for _, u := range utf16.Encode([]rune(sb.String())) {
			fmt.Fprintf(&esc, `\u%04x`, u)
		}
		esc.WriteByte('"')
		literals = append(literals, esc.String())
	}
	base := marshalString(t, sampleItemLocation())
	old := `"description":` + between(base, `"description":`, `,"category"`)
	var d Decoder
	for _, lit := range literals {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("encoding/json refuses %s: %v", lit, err)
		}
		doc := strings.Replace(base, old, `"description":`+lit, 1)
		got, err := d.ItemLocation([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
		if got.Description != want {
			t.Errorf("%s decodes as %q, encoding/json as %q", lit, got.Description, want)
		}
	}
}

package world

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/shelflake/shelflake/schema"
)

// badKind is a kind of malformed record.
type badKind uint8

const (
	badNone badKind = iota
	badBrokenJSON
	badMissingField
	badWrongType
	badNegativePrice
	badUnknownVersion
	badUnknownField
	numBadKinds
)

// BadKinds names the kinds of malformed records the generator sends, as
// written in truth/malformed.jsonl. Inventory records carry no price: their
// negative_price kind is negative_quantity (a negative in_transit or
// allocated) instead. Promotions carry none either: theirs is out_of_range
// (a discount_pct outside 1..99, or an end_date before the start_date).
var BadKinds = []string{"broken_json", "missing_field", "wrong_type", "negative_price", "unknown_schema_version", "unknown_field", "negative_quantity", "out_of_range"}

// name returns the kind's name for a record of topic.
func (k badKind) name(topic int) string {
	if k == badNone || k >= numBadKinds {
		return "none"
	}
	if k == badNegativePrice && topic == topicInventory {
		return "negative_quantity"
	}
	if k == badNegativePrice && topic == topicPromo {
		return "out_of_range"
	}
	return BadKinds[k-1]
}

// Fields each topic's malformed records may lack (all required by the
// schema) and the wrongly typed values they may carry.
var (
	requiredFields = [numTopics][]string{
		topicPOS:       {"transaction_id", "store_id", "type", "business_date", "event_time", "currency", "total", "lines"},
		topicInventory: {"snapshot_id", "kind", "location_id", "sku", "on_hand", "as_of"},
		topicPO:        {"po_id", "line_no", "location_id", "sku", "qty_ordered", "status"},
		topicItem:      {"sku", "location_id", "supplier_id", "lead_time_days", "unit_cost"},
		topicPromo:     {"promotion_id", "sku", "start_date", "end_date", "discount_pct", "status", "updated_at"},
	}
	wrongTypes = [numTopics][][2]string{
		topicPOS:       {{"register_id", `17`}, {"lines", `"none"`}, {"total", `true`}, {"event_time", `1767600000`}},
		topicInventory: {{"on_hand", `"twelve"`}, {"snapshot_rows", `"all"`}, {"sku", `12345`}, {"as_of", `false`}},
		topicPO:        {{"qty_ordered", `"ten"`}, {"line_no", `"one"`}, {"status", `3`}, {"order_date", `20260105`}},
		topicItem:      {{"case_pack", `"twelve"`}, {"active", `"yes"`}, {"service_level", `"high"`}, {"lead_time_days", `[7]`}},
		topicPromo:     {{"discount_pct", `"20%"`}, {"start_date", `20260105`}, {"status", `1`}, {"updated_at", `true`}},
	}
	unknownFields = []string{"coupon_code", "note", "legacy_id", "checksum"}
)

// malform derives a malformed record of kind k from the valid record value of
// topic, with the draws of seed. It returns the record and the reason it is
// malformed. Inventory records have no price: negative_price makes
// in_transit or allocated negative instead (on_hand may be negative).
// Promotions have none either: negative_price puts discount_pct out of
// 1..99 or end_date before start_date instead.
func malform(topic int, value []byte, k badKind, seed uint64) ([]byte, string, error) {
	r := stream{s: seed}
	if k == badBrokenJSON {
		// A strict prefix of a JSON object is never valid JSON.
		cut := 1 + r.IntN(len(value)-1)
		return append([]byte(nil), value[:cut]...), fmt.Sprintf("broken JSON: truncated at byte %d of %d", cut, len(value)), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return nil, "", fmt.Errorf("malform: decode own record: %w", err)
	}
	var reason string
	switch k {
	case badMissingField:
		f := requiredFields[topic][r.IntN(len(requiredFields[topic]))]
		delete(m, f)
		reason = "missing required field " + f
	case badWrongType:
		ft := wrongTypes[topic][r.IntN(len(wrongTypes[topic]))]
		m[ft[0]] = json.RawMessage(ft[1])
		reason = "wrong type: " + ft[0] + " is " + ft[1]
	case badNegativePrice:
		switch topic {
		case topicPOS:
			var lines []map[string]json.RawMessage
			if err := json.Unmarshal(m["lines"], &lines); err != nil {
				return nil, "", fmt.Errorf("malform: decode own lines: %w", err)
			}
			i := r.IntN(len(lines))
			lines[i]["unit_price"] = negate(lines[i]["unit_price"])
			b, err := json.Marshal(lines)
			if err != nil {
				return nil, "", fmt.Errorf("malform: %w", err)
			}
			m["lines"] = b
			reason = fmt.Sprintf("negative price: lines[%d].unit_price", i)
		case topicPO:
			m["unit_cost"] = negate(m["unit_cost"])
			reason = "negative price: unit_cost"
		case topicItem:
			f := []string{"unit_cost", "unit_price"}[r.IntN(2)]
			m[f] = negate(m[f])
			reason = "negative price: " + f
		case topicPromo:
			if r.IntN(2) == 0 {
				pct := []int{0, 100, -20, 150}[r.IntN(4)]
				m["discount_pct"] = json.RawMessage(strconv.Itoa(pct))
				reason = fmt.Sprintf("out of range: discount_pct %d outside 1..99", pct)
				break
			}
			var start schema.Date
			if err := json.Unmarshal(m["start_date"], &start); err != nil {
				return nil, "", fmt.Errorf("malform: decode own start_date: %w", err)
			}
			end := start.AddDays(-1 - r.IntN(7))
			m["end_date"] = json.RawMessage(`"` + end.String() + `"`)
			reason = fmt.Sprintf("out of range: end_date %s before start_date %s", end, start)
		default:
			f := []string{"in_transit", "allocated"}[r.IntN(2)]
			m[f] = negate(m[f])
			if string(m[f]) == "-0" {
				m[f] = json.RawMessage("-1")
			}
			reason = "negative quantity: " + f
		}
	case badUnknownVersion:
		v := []int{0, 2, 3, 99}[r.IntN(4)]
		m["schema_version"] = json.RawMessage(strconv.Itoa(v))
		reason = fmt.Sprintf("unknown schema_version %d", v)
	case badUnknownField:
		f := unknownFields[r.IntN(len(unknownFields))]
		m[f] = json.RawMessage(`"x"`)
		reason = "unknown field " + f
	default:
		return nil, "", fmt.Errorf("malform: kind %d", k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, "", fmt.Errorf("malform: %w", err)
	}
	return b, reason, nil
}

func negate(v json.RawMessage) json.RawMessage {
	if len(v) > 0 && v[0] == '-' {
		return v
	}
	return append(json.RawMessage("-"), v...)
}

package schema

import (
	"errors"
	"testing"
	"time"
)

func TestRowsAppend(t *testing.T) {
	src := Source{Partition: 2, Offset: 41, IngestedAt: time.Unix(1767600000, 0).UTC()}
	var d Decoder
	var rs Rows
	for _, tc := range []struct {
		name, topic, doc string
		reason           string
	}{
		{"a POS transaction appends one row per line", TopicPOS, `{"schema_version":1,"transaction_id":"T1","store_id":"S1","register_id":"R1","type":"sale","business_date":"2026-01-05","event_time":"2026-01-05T10:00:00-05:00","currency":"USD","total":3.23,"tenders":[{"type":"card","amount":3.23}],"lines":[{"line_no":1,"sku":"K1","quantity":1,"unit_price":2.99,"discount":0,"tax":0.24,"line_total":3.23}]}`, ""},
		{"an inventory row appends one row", TopicInventory, `{"schema_version":1,"snapshot_id":"I1","kind":"full","snapshot_rows":1,"location_id":"S1","sku":"K1","on_hand":3,"allocated":0,"in_transit":0,"as_of":"2026-01-05T23:00:00-05:00"}`, ""},
		{"a promotion appends one row", TopicPromotion, `{"schema_version":1,"promotion_id":"PR-1","sku":"K1","start_date":"2026-02-02","end_date":"2026-02-08","discount_pct":20,"status":"planned","updated_at":"2025-12-29T09:00:00-05:00"}`, ""},
		{"a promotion ending before it starts appends nothing", TopicPromotion, `{"schema_version":1,"promotion_id":"PR-1","sku":"K1","start_date":"2026-02-02","end_date":"2026-02-01","discount_pct":20,"status":"planned","updated_at":"2025-12-29T09:00:00-05:00"}`, ReasonInvalidValue},
		{"a malformed record appends nothing and says why", TopicPOS, `{"schema_version":1`, ReasonMalformedJSON},
		{"an unknown topic is refused", "other.topic", `{}`, "unknown topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rs.POS) + len(rs.Inventory) + len(rs.Promos)
			err := rs.Append(&d, tc.topic, []byte(tc.doc), src)
			after := len(rs.POS) + len(rs.Inventory) + len(rs.Promos)
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("Append: %v", err)
			case tc.reason == "" && after != before+1:
				t.Fatalf("appended %d rows, want 1", after-before)
			case tc.reason != "" && (err == nil || after != before):
				t.Fatalf("Append = %v with %d rows appended, want an error and none", err, after-before)
			case tc.reason == "unknown topic" && errors.As(err, new(*DecodeError)):
				t.Fatalf("unknown topic reported as a decode error: %v", err)
			case tc.reason != "" && tc.reason != "unknown topic" && ReasonOf(err) != tc.reason:
				t.Fatalf("reason %q, want %q", ReasonOf(err), tc.reason)
			}
		})
	}
	if rs.POS[0].SrcOffset != 41 || rs.Inventory[0].SrcPartition != 2 {
		t.Errorf("lineage not carried: %+v %+v", rs.POS[0], rs.Inventory[0])
	}
	if len(rs.Promos) != 1 || rs.Promos[0].SrcOffset != 41 || rs.Promos[0].PromotionID != "PR-1" ||
		rs.Promos[0].EndDate != NewDate(2026, 2, 8) || rs.Promos[0].BusinessDate != NewDate(2025, 12, 29) {
		t.Errorf("promotion rows = %+v", rs.Promos)
	}
}

package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// TestIngestRoutesPromotionsToTheirTableAndTheMalformedToRejects sends
// erp.promotions documents, good and bad: every good one is in promotions
// once, as sent, with its source offset, in the partition of its local
// publishing date; every bad one is in rejects (byte for byte, with its
// reason and field) and on erp.promotions.dlq, and nowhere else.
func TestIngestRoutesPromotionsToTheirTableAndTheMalformedToRejects(t *testing.T) {
	// good is a valid document; the cases edit it.
	const good = `{"schema_version":1,"promotion_id":"PR-1","sku":"SKU-000001","start_date":"2026-03-02",` +
		`"end_date":"2026-03-08","discount_pct":20,"status":"planned","updated_at":"2026-01-26T06:00:00+01:00"}`
	edit := func(pairs ...string) string { return strings.NewReplacer(pairs...).Replace(good) }
	cases := []struct {
		name   string
		doc    string
		reason string // "" for a valid document
		field  string
	}{
		{name: "a chain-wide planned promotion", doc: good},
		{name: "a promotion with a null location is chain-wide",
			doc: edit(`"PR-1"`, `"PR-2"`, `"sku":"SKU-000001",`, `"sku":"SKU-000001","location_id":null,`)},
		{name: "a store's cancelled promotion",
			doc: edit(`"PR-1"`, `"PR-3"`, `"sku":"SKU-000001",`, `"sku":"SKU-000001","location_id":"S001",`, `"planned"`, `"cancelled"`)},
		{name: "a one-day promotion published late in the evening west of UTC belongs to its local date",
			doc: edit(`"PR-1"`, `"PR-4"`, `"2026-03-08"`, `"2026-03-02"`, `2026-01-26T06:00:00+01:00`, `2026-01-26T22:30:00-05:00`)},
		{name: "a promotion ending before it starts", reason: schema.ReasonInvalidValue, field: "end_date",
			doc: edit(`"PR-1"`, `"PR-5"`, `"2026-03-08"`, `"2026-03-01"`)},
		{name: "a discount of a hundred percent", reason: schema.ReasonInvalidValue, field: "discount_pct",
			doc: edit(`"PR-1"`, `"PR-6"`, `:20,`, `:100,`)},
		{name: "a discount sent as a string", reason: schema.ReasonWrongType, field: "discount_pct",
			doc: edit(`"PR-1"`, `"PR-7"`, `:20,`, `:"20%",`)},
		{name: "a status that is neither planned nor cancelled", reason: schema.ReasonInvalidValue, field: "status",
			doc: edit(`"PR-1"`, `"PR-8"`, `"planned"`, `"running"`)},
		{name: "a promotion without a sku", reason: schema.ReasonMissingField, field: "sku",
			doc: edit(`"PR-1"`, `"PR-9"`, `"sku":"SKU-000001",`, ``)},
		{name: "an empty location", reason: schema.ReasonInvalidValue, field: "location_id",
			doc: edit(`"PR-1"`, `"PR-10"`, `"sku":"SKU-000001",`, `"sku":"SKU-000001","location_id":"",`)},
		{name: "an update time without a zone", reason: schema.ReasonInvalidValue, field: "updated_at",
			doc: edit(`"PR-1"`, `"PR-11"`, `+01:00`, ``)},
		{name: "a schema version from the future", reason: schema.ReasonUnknownVersion, field: "schema_version",
			doc: edit(`"PR-1"`, `"PR-12"`, `"schema_version":1`, `"schema_version":2`)},
		{name: "half a document", reason: schema.ReasonMalformedJSON,
			doc: good[:len(good)/2]},
	}

	ctx := context.Background()
	c := startCluster(t, 2)
	addr := c.ListenAddrs()[0]
	prod := newProducer(t, addr)
	type at struct {
		partition int32
		offset    int64
	}
	sent := make([]at, len(cases)) // per case
	for k, tc := range cases {
		r := &kgo.Record{Topic: schema.TopicPromotion, Key: fmt.Appendf(nil, "SKU-%06d", k%3), Value: []byte(tc.doc)}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		sent[k] = at{r.Partition, r.Offset}
	}

	l, _ := openLocalLake(t)
	ing, stop := runIngester(t, Options{
		Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "promo",
		FlushInterval: 200 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t),
	})
	waitUntil(t, 60*time.Second, 100*time.Millisecond, "the lake to hold every promotion record", func() bool {
		return caughtUp(t, ctx, l, addr, "promo")
	})
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// Where each record landed.
	landed := map[at][]string{}
	promos := map[at]schema.PromotionRow{}
	dt, err := l.Table(ctx, schema.TablePromotions())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var chainWide, nullLocations int64
	for _, f := range snap.Files() {
		rows, err := lake.ReadRows[schema.PromotionRow](ctx, l, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			k := at{r.SrcPartition, r.SrcOffset}
			landed[k] = append(landed[k], "promotions dt="+f.PartitionValues[schema.PartitionColumn])
			promos[k] = r
			if r.LocationID == "" {
				chainWide++
			}
		}
		st, err := f.ParseStats()
		if err != nil || st == nil {
			t.Fatalf("file %s: stats %v, %v", f.RelPath, st, err)
		}
		num, _ := st.NullCount["location_id"].(json.Number)
		n, err := num.Int64()
		if err != nil {
			t.Fatalf("file %s: null count of location_id %v: %v", f.RelPath, st.NullCount["location_id"], err)
		}
		nullLocations += n
	}
	// A chain-wide promotion's location_id is null in the files, not "".
	if chainWide == 0 || nullLocations != chainWide {
		t.Errorf("%d chain-wide promotions, %d null location_ids in the files' stats", chainWide, nullLocations)
	}
	rejects := map[at]schema.RejectRow{}
	for _, r := range readRejectRows(t, ctx, l) {
		if r.Topic != schema.TopicPromotion {
			t.Errorf("reject of topic %s: only promotions were sent", r.Topic)
			continue
		}
		k := at{r.Partition, r.Offset}
		landed[k] = append(landed[k], "rejects")
		rejects[k] = r
	}

	malformed := 0
	for i, k := range sent {
		tc := cases[i]
		t.Run(tc.name, func(t *testing.T) {
			if tc.reason == "" {
				want, err := schema.DecodePromotion([]byte(tc.doc))
				if err != nil {
					t.Fatalf("the valid case does not decode: %v", err)
				}
				row := want.AppendRows(nil, schema.Source{Partition: k.partition, Offset: k.offset})[0]
				wantDT := "promotions dt=" + row.BusinessDate.String()
				if got := landed[k]; len(got) != 1 || got[0] != wantDT {
					t.Fatalf("landed in %v, want [%s]", got, wantDT)
				}
				got := promos[k]
				if !samePromotion(got, row) || got.SrcPartition != k.partition || got.SrcOffset != k.offset || got.IngestedAt.IsZero() {
					t.Errorf("reads back as %+v, want %+v", got, row)
				}
				return
			}
			if got := landed[k]; len(got) != 1 || got[0] != "rejects" {
				t.Fatalf("landed in %v, want [rejects]", got)
			}
			r := rejects[k]
			if r.Reason != tc.reason || r.Field != tc.field || !bytes.Equal(r.Value, []byte(tc.doc)) || r.Error == "" {
				t.Errorf("reject: reason %q field %q error %q value %q; want reason %q field %q and the document",
					r.Reason, r.Field, r.Error, r.Value, tc.reason, tc.field)
			}
		})
		if tc.reason != "" {
			malformed++
		}
	}
	if len(landed) != len(sent) {
		t.Errorf("%d records landed, %d sent", len(landed), len(sent))
	}

	var rejected float64
	for _, r := range schema.Reasons() {
		rejected += metricValue(ing.m.rejects.WithLabelValues(schema.TopicPromotion, r))
	}
	if int(rejected) != malformed {
		t.Errorf("rejects metric of %s = %v, want %d", schema.TopicPromotion, rejected, malformed)
	}
	if got := metricValue(ing.m.rows.WithLabelValues(schema.TableNamePromotions)); int(got) != len(sent)-malformed {
		t.Errorf("promotions rows written metric = %v, want %d", got, len(sent)-malformed)
	}
	if dlq := consumeAll(t, addr, schema.TopicPromotion+".dlq", malformed); len(dlq) != malformed {
		t.Errorf("%d dead letters on %s.dlq, want %d", len(dlq), schema.TopicPromotion, malformed)
	}
}

func TestOptionsNameFiveTopicsEachOnce(t *testing.T) {
	cases := []struct {
		name   string
		topics Topics
		bad    bool
	}{
		{name: "the defaults are schema's five topics", topics: Topics{}},
		{name: "a renamed promotions topic is fine", topics: Topics{Promotion: "erp.promotions.v2"}},
		{name: "promotions on the POS topic is refused", topics: Topics{Promotion: schema.TopicPOS}, bad: true},
		{name: "item locations on the promotions topic is refused", topics: Topics{ItemLocation: schema.TopicPromotion}, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Kafka: Kafka{Brokers: []string{"127.0.0.1:9"}}, Lake: NewLake(nil), Topics: tc.topics}
			o.setDefaults()
			err := o.validate()
			if tc.bad != (err != nil) {
				t.Fatalf("validate: %v, want an error: %v", err, tc.bad)
			}
			if tc.bad {
				return
			}
			got := o.Topics.list()
			want := []string{schema.TopicPOS, schema.TopicInventory, schema.TopicPurchaseOrder, schema.TopicItemLocation, schema.TopicPromotion}
			if tc.topics.Promotion != "" {
				want[4] = tc.topics.Promotion
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(schema.Topics) != len(want) {
				t.Errorf("topics %v, want %v (schema.Topics %v)", got, want, schema.Topics)
			}
		})
	}
}

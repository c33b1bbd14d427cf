package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shelflake/shelflake/schema"
)

// TestIngestReportsOffsetGaps: records deleted by retention before ingest
// read them are counted and logged; a partition that ends below the lake's
// offset (the topic was recreated) turns health red with the cause.
func TestIngestReportsOffsetGaps(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, 1)
	addr := c.ListenAddrs()[0]
	produceWorkload(t, newProducer(t, addr), 1, 0, 100, 2, 0)
	adm := kadm.NewClient(newProducer(t, addr))

	// Retention took the first 40 records of pos.transactions/0 before
	// ingest first ran.
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: schema.TopicPOS, Partition: 0, At: 40})
	if res, err := adm.DeleteRecords(ctx, del); err != nil || res.Error() != nil {
		t.Fatalf("delete records: %v %v", err, res.Error())
	}
	// The lake says promotions/0 was ingested up to offset 1000: more than
	// the partition has (it was recreated).
	l, _ := openLocalLake(t)
	pt, err := NewLake(l).Table(ctx, schema.TablePromotions())
	if err != nil {
		t.Fatal(err)
	}
	app := AppID("g", schema.TopicPromotion, 0)
	if _, err := pt.Commit(ctx, Commit{Fences: []Fence{{AppID: app, From: 0, To: 1000, First: true}}}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ing, stop := runIngester(t, Options{
		Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "g", NewGroupOK: true,
		FlushInterval: 200 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t), Registerer: reg,
	})
	waitUntil(t, 30*time.Second, 50*time.Millisecond, "the gap check", func() bool { return ing.Fault() != "" })
	waitUntil(t, 30*time.Second, 50*time.Millisecond, "the gap count", func() bool {
		return metricValue(ing.m.offsetGap.WithLabelValues(schema.TopicPOS)) == 40
	})
	if ing.Healthy() {
		t.Error("healthy with a partition below the lake's offset")
	}
	if f := ing.Fault(); !strings.Contains(f, "erp.promotions/0 ends at offset") || !strings.Contains(f, "below the lake's offset 1000") {
		t.Errorf("fault %q", f)
	}
	if n := metricValue(ing.m.offsetRegressions.WithLabelValues(schema.TopicPromotion)); n != 1 {
		t.Errorf("%v regressions counted, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

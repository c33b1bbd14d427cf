package ingest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIngestReportsADeadLetterTopicItCannotWrite: when dead letters
// cannot be produced (here the broker refuses every produce to the
// .dlq topics), the rejects table cannot commit and ingest rewinds again
// and again; after a few rounds /healthz turns red with the cause and what
// to do, and it recovers once the topic takes writes again.
func TestIngestReportsADeadLetterTopicItCannotWrite(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, 1)
	addr := c.ListenAddrs()[0]
	ds := produceWorkload(t, newProducer(t, addr), 3, 0, 200, 2, 10)
	// From now on the only producer is the ingester, of dead letters.
	var refuse atomic.Bool
	refuse.Store(true)
	c.ControlKey(kmsg.Produce.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	l, _ := openLocalLake(t)
	ing, stop := runIngester(t, Options{
		Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "g",
		FlushInterval: 100 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t),
	})
	waitUntil(t, 60*time.Second, 50*time.Millisecond, "ingest to report itself stuck", func() bool { return ing.Fault() != "" })
	if f := ing.Fault(); !strings.Contains(f, "flushes in a row failed") || !strings.Contains(f, "create the dead-letter topic") ||
		!strings.Contains(f, "INVALID_RECORD") {
		t.Errorf("fault %q", f)
	}
	if ing.Healthy() {
		t.Error("healthy while every flush of the rejects fails")
	}
	refuse.Store(false)
	waitUntil(t, 60*time.Second, 100*time.Millisecond, "the lake to hold every record", func() bool {
		return caughtUp(t, ctx, l, addr, "g")
	})
	waitUntil(t, 10*time.Second, 50*time.Millisecond, "health to recover", func() bool { return ing.Fault() == "" && ing.Healthy() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, readLake(t, ctx, l), ds)
	if n := len(readRejectRows(t, ctx, l)); int64(n) != ds.malformed {
		t.Errorf("%d rejects, want %d", n, ds.malformed)
	}
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/schema"
)

// Headers a dead-letter record carries besides the original ones.
const (
	HeaderError           = "shelflake.error"
	HeaderReason          = "shelflake.reason"
	HeaderField           = "shelflake.field"
	HeaderSourceTopic     = "shelflake.source.topic"
	HeaderSourcePartition = "shelflake.source.partition"
	HeaderSourceOffset    = "shelflake.source.offset"
)

// dlqRecord builds the dead-letter record of r (key and value already
// copied): the original key, value, headers and timestamp, plus headers
// naming the error and the source record. The source topic, partition and
// offset identify a dead letter: a consumer of the DLQ deduplicates on them
// (the DLQ is at least once; see the package doc).
func dlqRecord(topic string, r *kgo.Record, key, value []byte, row *schema.RejectRow) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, len(r.Headers)+6)
	for _, x := range r.Headers {
		h = append(h, kgo.RecordHeader{Key: x.Key, Value: cloneBytes(x.Value)})
	}
	h = append(h,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(row.Error)},
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(row.Reason)},
		kgo.RecordHeader{Key: HeaderField, Value: []byte(row.Field)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	return &kgo.Record{Topic: topic, Key: key, Value: value, Headers: h, Timestamp: r.Timestamp}
}

// errDLQ marks a failure to produce dead letters.
var errDLQ = errors.New("dead-letter topic not writable")

// produceDLQ produces dead letters and waits for every acknowledgement:
// the rejects table commits only after its dead letters are in Kafka.
func (i *Ingester) produceDLQ(ctx context.Context, ds []pendingDLQ) error {
	rs := make([]*kgo.Record, len(ds))
	for k, d := range ds {
		rs[k] = d.rec
	}
	if err := i.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		return fmt.Errorf("%w: produce %d dead letters to %s: %w", errDLQ, len(rs), rs[0].Topic, err)
	}
	for _, d := range ds {
		if ts := i.topics[d.topic]; ts != nil {
			ts.produced.Inc()
		}
	}
	return nil
}

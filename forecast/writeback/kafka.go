package writeback

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/shelflake/shelflake/schema"
)

// DefaultTopic is the Kafka topic suggestion documents go to.
const DefaultTopic = "erp.replenishment_suggestions"

// KafkaOptions configure the Kafka channel.
type KafkaOptions struct {
	// Brokers are the seed brokers (required).
	Brokers []string
	// Topic receives the documents. Default DefaultTopic.
	Topic string
	// TLS and SASL, when set, secure the connection.
	TLS  *tls.Config
	SASL sasl.Mechanism
	// DeliveryTimeout bounds the delivery of one record, retries included.
	// Default 2 minutes.
	DeliveryTimeout time.Duration
	// ClientOpts are appended to the client's options.
	ClientOpts []kgo.Opt
}

// KafkaChannel produces documents to a topic with an idempotent producer
// (franz-go's default: the broker drops the producer's own retries), all
// replicas acknowledging, keyed by location so a location's documents stay
// in order on one partition. Each record carries the headers
// Idempotency-Key and content-type; consumers deduplicate by the key, which
// is also the document's external_ref.
type KafkaChannel struct {
	cl    *kgo.Client
	topic string
}

// NewKafkaChannel connects a producer (lazily: nothing is dialled until the
// first Send). Close it when done.
func NewKafkaChannel(o KafkaOptions) (*KafkaChannel, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("kafka write-back: no brokers")
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = 2 * time.Minute
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.DefaultProduceTopic(o.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(o.DeliveryTimeout),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if o.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.TLS))
	}
	if o.SASL != nil {
		opts = append(opts, kgo.SASL(o.SASL))
	}
	opts = append(opts, o.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka write-back: %w", err)
	}
	return &KafkaChannel{cl: cl, topic: o.Topic}, nil
}

// Name implements Channel.
func (k *KafkaChannel) Name() string { return "kafka" }

// Close closes the producer.
func (k *KafkaChannel) Close() { k.cl.Close() }

// Send implements Channel: every document is produced at once; each comes
// back accepted when the brokers acknowledged it.
func (k *KafkaChannel) Send(ctx context.Context, docs []Outgoing) []Result {
	res := make([]Result, len(docs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, o := range docs {
		rec := &kgo.Record{
			Topic: k.topic,
			Key:   []byte(o.Doc.LocationID),
			Value: o.JSON,
			Headers: []kgo.RecordHeader{
				{Key: "Idempotency-Key", Value: []byte(o.Doc.ExternalRef)},
				{Key: "content-type", Value: []byte("application/json")},
			},
		}
		wg.Add(1)
		k.cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			defer wg.Done()
			res[i] = Result{Attempts: 1, First: start, Last: time.Now()}
			if err != nil {
				res[i].Status, res[i].Err = schema.WritebackFailed, err
				return
			}
			res[i].Status = schema.WritebackAccepted
			res[i].Response = fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)
		})
	}
	wg.Wait()
	return res
}

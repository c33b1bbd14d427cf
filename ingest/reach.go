package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/lake/objstore"
)

// UnreachableError says that no seed broker could be reached.
type UnreachableError struct {
	Brokers []string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach Kafka brokers %s: %s", strings.Join(e.Brokers, ","), brokerCause(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// brokerCause is the short cause of a failed contact ("connection refused").
func brokerCause(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer (timed out)"
	}
	return objstore.DialCause(err)
}

// DefaultProbeTimeout bounds ProbeKafka.
const DefaultProbeTimeout = 3 * time.Second

// ProbeKafka checks within timeout that at least one of k's seed brokers
// answers (an ApiVersions request, over k's TLS and SASL), so that a wrong
// address fails at once with its cause instead of a client retrying in
// silence. It returns an *UnreachableError when none does.
func ProbeKafka(ctx context.Context, k Kafka, timeout time.Duration) error {
	opts := []kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.DialTimeout(timeout), kgo.RequestRetries(0)}
	if k.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(k.TLS))
	}
	if k.SASL != nil {
		opts = append(opts, kgo.SASL(k.SASL))
	}
	if k.ClientID != "" {
		opts = append(opts, kgo.ClientID(k.ClientID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Brokers: k.Brokers, Err: err}
	}
	return nil
}

// waitForBrokers probes the brokers until one answers, logging one line
// per failed attempt with the cause, the attempt count and the next try
// (backoff doubling from 1 s to 30 s). /readyz stays red meanwhile.
func (i *Ingester) waitForBrokers(ctx context.Context) error {
	delay := time.Second
	for attempt := 1; ; attempt++ {
		err := ProbeKafka(ctx, i.o.Kafka, DefaultProbeTimeout)
		if err == nil {
			if attempt > 1 {
				i.log.Info("Kafka brokers reachable", "brokers", i.o.Kafka.Brokers, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		i.m.brokerUnreachable.Inc()
		i.log.Error(err.Error()+"; retrying", "attempt", attempt, "next_try_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func TestProbeKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := objtest.ClosedAddr(t)
	for _, tc := range []struct {
		name    string
		brokers []string
		want    string // "" = reachable
	}{
		{"a running broker answers", c.ListenAddrs(), ""},
		{"a refused address fails with the cause", []string{closed}, "cannot reach Kafka brokers " + closed + ": connection refused"},
		{"one answering seed broker of two is enough", []string{closed, c.ListenAddrs()[0]}, ""},
		{"an unknown host fails with the host", []string{"no-such-host.invalid:9092"}, "cannot reach Kafka brokers no-such-host.invalid:9092: unknown host no-such-host.invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ProbeKafka(context.Background(), Kafka{Brokers: tc.brokers}, DefaultProbeTimeout)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ProbeKafka: %v", err)
				}
				return
			}
			var ue *UnreachableError
			if !errors.As(err, &ue) || err.Error() != tc.want {
				t.Fatalf("ProbeKafka: %v, want %q", err, tc.want)
			}
		})
	}
}

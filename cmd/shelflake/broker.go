package main

import (
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/shelflake/shelflake/schema"
)

type brokerOpts struct {
	listen     string
	partitions int32
	dataDir    string
	topics     []string
}

func newBrokerCmd(a *app) *cobra.Command {
	o := brokerOpts{}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker with shelflake's topics, until interrupted",
		Long: `broker runs franz-go's kfake, an in-process broker that speaks the Kafka wire
protocol (kcat, librdkafka and Java clients can use it), with the five input
topics, their dead-letter topics and the write-back topic created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := startBroker(o)
			if err != nil {
				return err
			}
			defer c.Close()
			a.log.Info("broker listening", "addrs", c.ListenAddrs(), "partitions", o.partitions, "topics", o.topics)
			fmt.Fprintln(a.stdout, c.ListenAddrs()[0])
			<-cmd.Context().Done()
			a.log.Info("broker stopping")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", envOr("SHELFLAKE_BROKER_LISTEN", "127.0.0.1:9092"), "address to listen on (port 0 picks a free one)")
	f.Int32Var(&o.partitions, "partitions", 8, "partitions per topic")
	f.StringVar(&o.dataDir, "data-dir", "", "persist the log here so a restart keeps the data (default: memory only)")
	f.StringSliceVar(&o.topics, "topics", defaultBrokerTopics(), "topics to create")
	return cmd
}

// defaultBrokerTopics are the input topics, their dead-letter topics and the
// replenishment write-back topic.
func defaultBrokerTopics() []string {
	ts := append([]string(nil), schema.Topics...)
	for _, t := range schema.Topics {
		ts = append(ts, t+".dlq")
	}
	return append(ts, "erp.replenishment_suggestions")
}

func startBroker(o brokerOpts) (*kfake.Cluster, error) {
	host, portStr, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", o.listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: port: %w", o.listen, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.SeedTopics(o.partitions, o.topics...),
		kfake.DefaultNumPartitions(int(o.partitions)),
		kfake.AllowAutoTopicCreation(),
	}
	if o.dataDir != "" {
		opts = append(opts, kfake.DataDir(o.dataDir), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start broker on %s: %w", o.listen, err)
	}
	return c, nil
}

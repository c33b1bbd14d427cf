package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shelflake/shelflake/schema"
)

// requireTool fails (never skips) when an external client the tests rely on is
// missing: `make test` installs it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (make test installs it): %v", name, err)
	}
	return p
}

func TestBrokerServesKcat(t *testing.T) {
	kcat := requireTool(t, "kcat")
	addr := startTestBroker(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", addr}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}

	meta := run("", "-L")
	// Every input stream (the fifth, promotions, included) and its
	// dead-letter topic are created.
	for _, topic := range []string{schema.TopicPOS, schema.TopicItemLocation, schema.TopicPromotion, schema.TopicPromotion + ".dlq"} {
		if !slices.Contains(defaultBrokerTopics(), topic) {
			t.Errorf("the broker does not create %s: %v", topic, defaultBrokerTopics())
		}
	}
	for _, topic := range defaultBrokerTopics() {
		if !strings.Contains(meta, fmt.Sprintf("topic %q with 3 partitions", topic)) {
			t.Errorf("kcat -L does not list %s with 3 partitions:\n%s", topic, meta)
		}
	}

	codecs := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	for _, codec := range codecs {
		t.Run("kcat produces and consumes "+codec+" batches", func(t *testing.T) {
			topic := "kcat." + codec
			var in strings.Builder
			var want []string
			for i := range 200 {
				line := fmt.Sprintf("S%03d:{\"n\":%d,\"codec\":%q}", i%7, i, codec)
				in.WriteString(line + "\n")
				want = append(want, line)
			}
			run(in.String(), "-P", "-t", topic, "-K:", "-z", codec, "-p", "0")
			got := strings.Split(strings.TrimSpace(run("", "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k:%s\n")), "\n")
			if !slices.Equal(got, want) {
				t.Fatalf("kcat consumed %d records, want %d; first got %q", len(got), len(want), got[0])
			}

			// A franz-go consumer reads the same records kcat wrote.
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var n int
			for n < len(want) {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("poll: %v", err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if line := string(r.Key) + ":" + string(r.Value); line != want[n] {
						t.Errorf("record %d = %q, want %q", n, line, want[n])
					}
					n++
				})
			}
		})
	}
}

// startTestBroker starts the embedded broker with shelflake's topics (3
// partitions each) for the test and returns its address.
func startTestBroker(t *testing.T) string {
	t.Helper()
	c, err := startBroker(brokerOpts{listen: "127.0.0.1:0", partitions: 3, topics: defaultBrokerTopics()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

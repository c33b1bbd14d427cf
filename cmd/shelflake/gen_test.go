package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// runCLI runs shelflake with args and returns its stdout.
func runCLI(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetArgs(append([]string{"--log-level", "warn"}, args...))
	err := root.ExecuteContext(ctx)
	if err != nil {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

// readLines returns the lines of a JSONL file.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// keyOf decodes a valid record and returns the key it belongs under.
func keyOf(topic string, b []byte) (string, error) {
	switch topic {
	case schema.TopicPOS:
		v, err := schema.DecodePOS(b)
		return v.StoreID, err
	case schema.TopicInventory:
		v, err := schema.DecodeInventory(b)
		return v.LocationID, err
	case schema.TopicPurchaseOrder:
		v, err := schema.DecodePurchaseOrder(b)
		return v.LocationID, err
	case schema.TopicPromotion:
		v, err := schema.DecodePromotion(b)
		return v.SKU, err
	default:
		v, err := schema.DecodeItemLocation(b)
		return v.LocationID, err
	}
}

// fileKeys returns, per topic, the key of every line of DIR/<topic>.jsonl:
// from the record for valid lines, from malformed.jsonl for the others.
func fileKeys(t *testing.T, dir, truth string) (map[string][][]byte, map[string][]string) {
	t.Helper()
	bad, err := world.ReadMalformed(truth)
	if err != nil {
		t.Fatal(err)
	}
	badKey := map[string]map[int64]string{}
	for _, m := range bad {
		if badKey[m.Topic] == nil {
			badKey[m.Topic] = map[int64]string{}
		}
		badKey[m.Topic][m.Seq] = m.Key
	}
	lines := map[string][][]byte{}
	keys := map[string][]string{}
	for _, topic := range schema.Topics {
		lines[topic] = readLines(t, filepath.Join(dir, topic+".jsonl"))
		for i, l := range lines[topic] {
			if k, ok := badKey[topic][int64(i)]; ok {
				keys[topic] = append(keys[topic], k)
				continue
			}
			k, err := keyOf(topic, l)
			if err != nil {
				t.Fatalf("%s line %d: %v", topic, i, err)
			}
			keys[topic] = append(keys[topic], k)
		}
	}
	return lines, keys
}

func TestGenWritesEveryStreamAndTheTruthTwiceByteIdentically(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"classic", "hard"} {
		t.Run(kind, func(t *testing.T) {
			args := []string{"gen", "--stores", "3", "--skus", "20", "--days", "14", "--seed", "7", "--bad-rate", "0.01", "--world", kind}
			a, b := t.TempDir(), t.TempDir()
			out, err := runCLI(t, ctx, append(args, "--out", a)...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := runCLI(t, ctx, append(args, "--out", b, "--workers", "1")...); err != nil {
				t.Fatal(err)
			}
			for _, topic := range schema.Topics {
				if !bytes.Contains([]byte(out), []byte(topic)) {
					t.Errorf("report does not mention %s:\n%s", topic, out)
				}
			}
			var files []string
			for _, topic := range schema.Topics {
				files = append(files, topic+".jsonl")
			}
			for _, f := range []string{world.TruthDemand, world.TruthDCDemand, world.TruthMalformed, world.TruthSummary, world.TruthWorld} {
				files = append(files, filepath.Join("truth", f))
			}
			for _, f := range files {
				x, err := os.ReadFile(filepath.Join(a, f))
				if err != nil {
					t.Fatal(err)
				}
				y, err := os.ReadFile(filepath.Join(b, f))
				if err != nil {
					t.Fatal(err)
				}
				if len(x) == 0 || !bytes.Equal(x, y) {
					t.Errorf("%s: %d bytes, identical %v", f, len(x), bytes.Equal(x, y))
				}
			}
			sum, err := world.ReadSummary(filepath.Join(a, "truth"))
			if err != nil {
				t.Fatal(err)
			}
			lines, _ := fileKeys(t, a, filepath.Join(a, "truth"))
			for _, topic := range schema.Topics {
				c := sum.Topics[topic]
				if int64(len(lines[topic])) != c.Valid+c.Malformed || c.Valid == 0 {
					t.Errorf("%s: %d lines, summary %+v", topic, len(lines[topic]), c)
				}
			}
		})
	}
}

func TestGenNeedsSomewhereToWrite(t *testing.T) {
	t.Setenv("SHELFLAKE_BROKERS", "")
	if _, err := runCLI(t, context.Background(), "gen", "--stores", "1", "--skus", "1", "--days", "1"); err == nil {
		t.Fatal("gen with neither --out nor --brokers succeeded")
	}
	if _, err := runCLI(t, context.Background(), "gen", "--out", t.TempDir(), "--start", "05/01/2026"); err == nil {
		t.Fatal("gen accepted a malformed --start")
	}
}

func TestGenLiveStampsEventsWithNow(t *testing.T) {
	dir := t.TempDir()
	before := time.Now().Add(-time.Second)
	if _, err := runCLI(t, context.Background(), "gen", "--out", dir, "--stores", "1", "--skus", "4", "--days", "1", "--rate", "100000"); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	lines := readLines(t, filepath.Join(dir, schema.TopicPOS+".jsonl"))
	if len(lines) == 0 {
		t.Fatal("no POS transactions")
	}
	for _, l := range lines {
		tx, err := schema.DecodePOS(l)
		if err != nil {
			continue // a malformed one
		}
		if tx.EventTime.Before(before) || tx.EventTime.After(after) {
			t.Fatalf("live event_time %s outside %s..%s", tx.EventTime, before, after)
		}
	}
}

func TestGenProducesToKafkaKeyedByLocationOrSKU(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c, err := startBroker(brokerOpts{listen: "127.0.0.1:0", partitions: 4, topics: defaultBrokerTopics()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	dir := t.TempDir()
	truth := filepath.Join(dir, "truth")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := runCLI(t, ctx, "gen", "--brokers", addr, "--out", dir, "--truth", truth,
		"--stores", "3", "--skus", "15", "--days", "10", "--seed", "5", "--bad-rate", "0.02"); err != nil {
		t.Fatal(err)
	}
	lines, keys := fileKeys(t, dir, truth)
	var want int
	for _, topic := range schema.Topics {
		want += len(lines[topic])
	}
	if len(lines[schema.TopicPromotion]) == 0 {
		t.Fatal("the world published no promotion: nothing tests their keys (by SKU); make it bigger")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(schema.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Per topic and key, the values in partition order.
	got := map[string]map[string][][]byte{}
	partOf := map[string]int32{}
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", n, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if got[r.Topic] == nil {
				got[r.Topic] = map[string][][]byte{}
			}
			k := string(r.Key)
			got[r.Topic][k] = append(got[r.Topic][k], r.Value)
			if p, ok := partOf[r.Topic+"/"+k]; ok && p != r.Partition {
				t.Errorf("%s key %s in partitions %d and %d", r.Topic, k, p, r.Partition)
			}
			partOf[r.Topic+"/"+k] = r.Partition
		})
	}
	if n != want {
		t.Fatalf("consumed %d records, the files hold %d", n, want)
	}
	for _, topic := range schema.Topics {
		wantByKey := map[string][][]byte{}
		for i, l := range lines[topic] {
			wantByKey[keys[topic][i]] = append(wantByKey[keys[topic][i]], l)
		}
		if len(wantByKey) != len(got[topic]) {
			t.Errorf("%s: %d keys consumed, %d in the file", topic, len(got[topic]), len(wantByKey))
		}
		for k, vs := range wantByKey {
			if !slices.EqualFunc(vs, got[topic][k], bytes.Equal) {
				t.Errorf("%s key %s: %d records consumed differ from the file's %d", topic, k, len(got[topic][k]), len(vs))
			}
		}
	}
}

package ingest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/laketest"
	"github.com/shelflake/shelflake/schema"
)

// TestDecoderChangeAcrossAStopKeepsEachRecordOnce: a build stops after
// the rejects table committed a range and before the data table did; a
// build with another decoder resumes. Whatever the new decoder says of the
// records in between, each record ends up in exactly one of the two
// tables: a record rejected before stays rejected (it would otherwise be in
// both), and a record accepted before that the new decoder refuses becomes
// a reject (it would otherwise be in neither).
func TestDecoderChangeAcrossAStopKeepsEachRecordOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		// rewrite is the resuming build's decoder change.
		rewrite func(topic string, v []byte) []byte
	}{
		{"the new build accepts what the old one rejected", func(_ string, v []byte) []byte {
			return bytes.Replace(v, []byte(`"schema_version":99`), []byte(`"schema_version":1`), 1)
		}},
		{"the new build rejects what the old one accepted", func(_ string, v []byte) []byte {
			return bytes.Replace(v, []byte(`"schema_version":1,`), []byte(`"schema_version":1,"x":`), 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := startCluster(t, 2)
			addr := c.ListenAddrs()[0]
			prod := newProducer(t, addr)
			produceWorkload(t, prod, 9, 0, 400, 2, 10)
			l, _ := openLocalLake(t)
			base := Options{Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: "g",
				FlushInterval: 100 * time.Millisecond, SessionTimeout: time.Second, CommitAttempts: 1, Logger: testLogger(t)}

			ends, err := kadm.NewClient(prod).ListEndOffsets(ctx, schema.TopicPOS, schema.TopicPromotion)
			if err != nil {
				t.Fatal(err)
			}
			// The old build: its data commits never land, as if it stopped
			// before each of them; its rejects table commits every range.
			old := base
			old.refuseCommit = func(table string) bool { return table != schema.TableNameRejects }
			_, stop := runIngester(t, old)
			waitUntil(t, 60*time.Second, 100*time.Millisecond, "the rejects table to pass every record", func() bool {
				vs := readLake(t, ctx, l).versions[schema.TableNameRejects]
				done := true
				ends.Each(func(o kadm.ListedOffset) {
					done = done && vs[AppID("g", o.Topic, o.Partition)] >= o.Offset
				})
				return done
			})
			_ = stop()

			next := base
			next.rewrite = tc.rewrite
			_, stop = runIngester(t, next)
			waitUntil(t, 60*time.Second, 100*time.Millisecond, "the lake to hold every record", func() bool {
				return caughtUp(t, ctx, l, addr, "g")
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			inData := dataOffsets(t, ctx, l)
			inRejects := map[string]int{}
			for _, r := range readRejectRows(t, ctx, l) {
				inRejects[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)]++
			}
			var records, both, neither, dups int
			ends.Each(func(o kadm.ListedOffset) {
				for off := int64(0); off < o.Offset; off++ {
					records++
					k := fmt.Sprintf("%s/%d/%d", o.Topic, o.Partition, off)
					d, r := inData[k], inRejects[k]
					switch {
					case d > 0 && r > 0:
						both++
					case d == 0 && r == 0:
						neither++
					case d > 1 || r > 1:
						dups++
					}
				}
			})
			if both+neither+dups > 0 {
				t.Errorf("of %d records, %d are in both tables, %d in neither, %d twice in one", records, both, neither, dups)
			}
		})
	}
}

// dataOffsets counts, per "topic/partition/offset", the records the
// pos_lines and promotions tables hold (a transaction's lines once).
func dataOffsets(t *testing.T, ctx context.Context, l *lake.Lake) map[string]int {
	t.Helper()
	type src struct {
		Partition int32 `parquet:"src_partition"`
		Offset    int64 `parquet:"src_offset"`
		LineNo    int32 `parquet:"line_no,optional"`
	}
	out := map[string]int{}
	for topic, desc := range map[string]*schema.Table{schema.TopicPOS: schema.TablePOSLines(), schema.TopicPromotion: schema.TablePromotions()} {
		rows := laketest.Rows[src](t, ctx, l, desc)
		for _, r := range rows {
			if desc.Name == schema.TableNamePOSLines && r.LineNo != 1 {
				continue // one count per transaction
			}
			out[fmt.Sprintf("%s/%d/%d", topic, r.Partition, r.Offset)]++
		}
	}
	return out
}

package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// lakeOffsets are where a partition resumes (the lowest of its tables'
// txn versions) and the highest offset any of its tables committed.
type lakeOffsets struct{ resume, held int64 }

// checkGaps compares where newly assigned partitions resume (the lake's
// offsets) with the brokers' logs, once per assignment:
//
//   - a log that starts above the resume offset lost records ingest never
//     read (retention deleted them while ingest was down or behind): they
//     cannot be in the lake. Each such range is logged and counted in
//     shelflake_ingest_offset_gap_records_total;
//   - a log that ends below an offset the lake holds was recreated or truncated:
//     its new records, at offsets the lake says it holds, would be skipped.
//     That is logged, counted in shelflake_ingest_offset_regressions_total
//     and turns /healthz red with the cause until the process restarts.
func (i *Ingester) checkGaps(ctx context.Context, resumes map[tp]lakeOffsets) {
	if len(resumes) == 0 {
		return
	}
	var topics []string
	seen := map[string]bool{}
	for k := range resumes {
		if !seen[k.topic] {
			seen[k.topic] = true
			topics = append(topics, k.topic)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(i.cl)
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		i.log.Warn("list start offsets to check for gaps", "err", err)
		return
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		i.log.Warn("list end offsets to check for gaps", "err", err)
		return
	}
	for k, lo := range resumes {
		resume, held := lo.resume, lo.held
		if s, ok := starts.Lookup(k.topic, k.partition); ok && s.Err == nil && s.Offset > resume {
			i.m.offsetGap.WithLabelValues(k.topic).Add(float64(s.Offset - resume))
			i.log.Error("offset gap: records were deleted from the topic before ingest read them; they are not in the lake",
				"topic", k.topic, "partition", k.partition, "from", resume, "to", s.Offset, "records", s.Offset-resume)
		}
		if e, ok := ends.Lookup(k.topic, k.partition); ok && e.Err == nil && e.Offset < held {
			i.m.offsetRegressions.WithLabelValues(k.topic).Inc()
			cause := fmt.Sprintf("%s/%d ends at offset %d, below the lake's offset %d: the topic was recreated or truncated, "+
				"and its records at offsets below %d would be skipped; ingest it under a new --group with --new-group-ok", k.topic, k.partition, e.Offset, held, held)
			i.fault.CompareAndSwap(nil, &cause)
			i.log.Error("offset regression: " + cause)
		}
	}
}

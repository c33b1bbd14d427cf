package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Flow control and monitoring around the poll loop: the brokers' end
// offsets, pausing fetches while the memory budget is full, the consumer
// group's offsets (for lag tools) and the lag gauges.

// listEndOffsets asks the brokers for the input topics' end offsets every
// flush interval, for the lag of idle partitions (fetches only report the
// partitions that have records) and for the watermarks' drained rule.
func (i *Ingester) listEndOffsets(ctx context.Context) {
	adm := kadm.NewClient(i.cl)
	topics := i.o.Topics.list()
	t := time.NewTicker(i.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := i.o.Now()
		lctx, cancel := context.WithTimeout(ctx, i.o.FlushInterval)
		listed, err := adm.ListEndOffsets(lctx, topics...)
		cancel()
		if err != nil {
			i.log.Debug("list end offsets", "err", err)
			continue
		}
		i.mu.Lock()
		listed.Each(func(o kadm.ListedOffset) {
			ps := i.parts[tp{o.Topic, o.Partition}]
			if ps == nil || o.Err != nil {
				return
			}
			ps.hwm = max(ps.hwm, o.Offset)
			ps.listedEnd, ps.listedAt = o.Offset, at
		})
		i.mu.Unlock()
	}
}

// updatePause pauses fetching while the budget is full (buffers are
// flushed, largest first, as soon as they hold half of it; what is full
// then is flushes in flight), and resumes below three quarters of it.
func (i *Ingester) updatePause() {
	i.mu.Lock()
	used := i.bufBytes + i.inflight
	var pause, resume map[string][]int32
	switch {
	case used >= i.o.MaxBufferBytes:
		if i.bufBytes > 0 {
			i.relieveLocked("budget")
		}
		pause = map[string][]int32{}
		for k := range i.parts {
			pause[k.topic] = append(pause[k.topic], k.partition)
		}
	case i.pausedParts != nil && used < i.o.MaxBufferBytes*3/4:
		resume, i.pausedParts = i.pausedParts, nil
	}
	if pause != nil {
		if i.pausedParts == nil {
			i.log.Info("buffer budget full: pausing fetches", "buffered", i.bufBytes, "in_flight", i.inflight)
		}
		i.pausedParts = pause
	}
	i.mu.Unlock()
	switch {
	case pause != nil:
		i.cl.PauseFetchPartitions(pause)
		i.m.paused.Set(1)
	case resume != nil:
		i.cl.ResumeFetchPartitions(resume)
		i.m.paused.Set(0)
		i.log.Info("buffer budget below three quarters: resuming fetches")
	}
}

// commitGroupOffsets commits to the consumer group, for lag monitoring
// only, the offsets every table of a partition has committed to the lake.
// sync waits for the commit (in a revoke, before the partitions move).
func (i *Ingester) commitGroupOffsets(ctx context.Context, sync bool) {
	i.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, ps := range i.parts {
		o := ps.inLake()
		if o <= ps.groupCommitted {
			continue
		}
		ps.groupCommitted = o
		if offsets[ps.topic] == nil {
			offsets[ps.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[ps.topic][ps.partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	i.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	if sync {
		i.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				i.log.Debug("group offset commit", "err", err)
			}
		})
		return
	}
	i.cl.CommitOffsets(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			i.log.Debug("group offset commit", "err", err)
		}
	})
}

func (i *Ingester) updateLag() {
	i.mu.Lock()
	defer i.mu.Unlock()
	used := i.bufBytes + i.inflight
	i.m.bufferBytes.Set(float64(used))
	for _, ps := range i.parts {
		if ps.hwm > 0 || !ps.listedAt.IsZero() {
			ps.lag.Set(float64(max(ps.hwm-ps.inLake(), 0)))
		}
	}
}

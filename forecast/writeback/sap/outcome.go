package sap

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
)

// Release statuses (PurReqnReleaseStatus) and the processing status of an
// item nobody has acted on.
const (
	ReleaseCompleted = "05"
	ReleaseReleased  = "03"
	ReleaseRefused   = "08"
	NotEdited        = "N"
)

// Outcomes implements writeback.OutcomeReader, one lookup per document,
// MaxConcurrent at a time. A lookup that fails is an error (read again
// later).
func (c *Channel) Outcomes(ctx context.Context, docs []*writeback.Document) ([]writeback.Outcome, error) {
	type got struct {
		o   writeback.Outcome
		err error
	}
	res := make([]got, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c.cfg.MaxConcurrent, len(docs)) {
		wg.Go(func() {
			for i := range next {
				d := docs[i]
				r, a := c.find(ctx, d.ExternalRef)
				if a.err == nil && a.code != http.StatusOK {
					a.err = fmt.Errorf("http %d: %s", a.code, a.message)
				}
				if a.err != nil {
					res[i].err = fmt.Errorf("sap outcome of %s: %w", d.ExternalRef, a.err)
					continue
				}
				res[i].o = c.outcome(d, r, time.Now().UTC())
			}
		})
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []writeback.Outcome
	var errs []error
	for _, r := range res {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		out = append(out, r.o)
	}
	return out, errors.Join(errs...)
}

func (c *Channel) outcome(d *writeback.Document, r *Requisition, seen time.Time) writeback.Outcome {
	o := writeback.Outcome{ExternalRef: d.ExternalRef, Channel: c.Name(), Seen: seen}
	planner := map[string]int64{}
	live, refused, approved := 0, 0, false
	if r != nil {
		o.DocID = r.PurchaseRequisition
		for _, it := range r.Items.Results {
			if o.ERPStatus == "" {
				o.ERPStatus = it.ProcessingStatus + "/" + it.PurReqnReleaseStatus
			}
			if it.IsDeleted != "" {
				continue
			}
			live++
			switch {
			case it.PurReqnReleaseStatus == ReleaseRefused:
				refused++
			case it.PurReqnReleaseStatus == ReleaseCompleted || it.PurReqnReleaseStatus == ReleaseReleased,
				it.ProcessingStatus != "" && it.ProcessingStatus != NotEdited:
				approved = true
			}
			sku, ok := c.skuOf[it.Material]
			if !ok {
				sku = it.Material
			}
			planner[sku] += quantity(it.RequestedQuantity)
		}
	}
	o.Lines = writeback.CompareLines(d, planner)
	switch {
	case r == nil || live == 0:
		o.Decision = writeback.OutcomeRejected
		if r == nil {
			o.ERPStatus = "deleted"
		}
	case refused == live:
		o.Decision = writeback.OutcomeRejected
	case !approved:
		o.Decision = writeback.OutcomePending
	default:
		o.Decision = writeback.ApprovedDecision(o.Lines)
	}
	return o
}

func quantity(s string) int64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return int64(math.Round(f))
}

package bc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/internal/erphttp"
)

// Outcomes implements writeback.OutcomeReader. A document whose supplier or
// SKUs have no mapping cannot be looked up and has no outcome; a lookup
// that fails is an error (read again later).
func (c *Channel) Outcomes(ctx context.Context, docs []*writeback.Document) ([]writeback.Outcome, error) {
	var ds []*writeback.Document
	var ps []*PurchaseOrder
	for _, d := range docs {
		po, err := c.order(d)
		if err != nil {
			c.o.Logger.Warn("no outcome for an unmapped document", "channel", c.Name(), "document", d.ExternalRef, "err", err)
			continue
		}
		ds, ps = append(ds, d), append(ps, po)
	}
	found, res := c.find(ctx, ds, ps)
	var errs []error
	var out []writeback.Outcome
	seen := time.Now().UTC()
	for i, d := range ds {
		if r := res[i]; r.err != nil || r.code != http.StatusOK {
			err := r.err
			if err == nil {
				err = fmt.Errorf("http %d: %s", r.code, erphttp.ODataMessage(r.body))
			}
			errs = append(errs, fmt.Errorf("business central outcome of %s: %w", d.ExternalRef, err))
			continue
		}
		out = append(out, c.outcome(d, found[i], seen))
	}
	return out, errors.Join(errs...)
}

// Decide maps a purchase order's status and the planner's quantities to a
// decision: Draft and In Review are pending; Open and Released accepted or
// changed.
func Decide(status string, lines []writeback.OutcomeLine) string {
	switch status {
	case "Open", "Released":
	default:
		return writeback.OutcomePending
	}
	return writeback.ApprovedDecision(lines)
}

func (c *Channel) outcome(d *writeback.Document, po *PurchaseOrder, seen time.Time) writeback.Outcome {
	o := writeback.Outcome{ExternalRef: d.ExternalRef, Channel: c.Name(), Seen: seen}
	if po == nil {
		o.Decision = writeback.OutcomeRejected
		o.ERPStatus = "deleted"
		o.Lines = writeback.CompareLines(d, nil)
		return o
	}
	o.DocID, o.ERPStatus = po.ID, po.Status
	planner := map[string]int64{}
	for _, l := range po.Lines {
		if l.LineType != "Item" {
			continue
		}
		sku, ok := c.skuOf[l.LineObjectNumber]
		if !ok {
			sku = l.LineObjectNumber // an item the planner added that we do not map
		}
		planner[sku] += quantity(l.Quantity)
	}
	o.Lines = writeback.CompareLines(d, planner)
	o.Decision = Decide(po.Status, o.Lines)
	return o
}

func quantity(n *json.Number) int64 {
	if n == nil {
		return 0
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil {
		return 0
	}
	return int64(math.Round(f))
}

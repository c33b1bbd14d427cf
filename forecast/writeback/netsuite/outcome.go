package netsuite

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
)

// Approval status ids of a purchase order.
const (
	approvalApproved = "2"
	approvalRejected = "3"
)

// Outcomes implements writeback.OutcomeReader: a GET of each document's
// record by external id with its item lines. approvalStatus Pending
// Approval is pending (so is a record NetSuite has without approval
// routing while its status is Pending Supervisor Approval); Approved is
// accepted, or changed when a line's quantity differs, a line went or
// came; Rejected, a Closed order or no record any more are rejected (with
// every planner quantity 0: nothing is ordered).
func (c *Channel) Outcomes(ctx context.Context, docs []*writeback.Document) ([]writeback.Outcome, error) {
	var out []writeback.Outcome
	for _, d := range docs {
		var rec struct {
			ID             string `json:"id"`
			ApprovalStatus *struct {
				ID      string `json:"id"`
				RefName string `json:"refName"`
			} `json:"approvalStatus"`
			Status *struct {
				ID      string `json:"id"`
				RefName string `json:"refName"`
			} `json:"status"`
			Item struct {
				Items []struct {
					Item struct {
						ID string `json:"id"`
					} `json:"item"`
					Quantity float64 `json:"quantity"`
				} `json:"items"`
			} `json:"item"`
		}
		code, _, err := c.do(ctx, http.MethodGet, recordPath(d.ExternalRef)+"?expandSubResources=true", nil, &rec)
		o := writeback.Outcome{ExternalRef: d.ExternalRef, Channel: c.name, Seen: time.Now().UTC()}
		if code == http.StatusNotFound {
			o.Decision, o.ERPStatus, o.Lines = writeback.OutcomeRejected, "deleted", compare(d, nil)
			out = append(out, o)
			continue
		}
		if err != nil {
			return out, err
		}
		o.DocID = rec.ID
		erp := map[string]int64{}
		for _, l := range rec.Item.Items {
			sku, ok := c.skus[l.Item.ID]
			if !ok {
				sku = "netsuite:item:" + l.Item.ID
			}
			erp[sku] += int64(l.Quantity + 0.5)
		}
		o.Lines = compare(d, erp)
		approval, status := "", ""
		if rec.ApprovalStatus != nil {
			approval = rec.ApprovalStatus.ID
			o.ERPStatus = rec.ApprovalStatus.RefName
		}
		if rec.Status != nil {
			status = rec.Status.ID
			if o.ERPStatus != "" {
				o.ERPStatus += "/"
			}
			o.ERPStatus += rec.Status.RefName
		}
		o.Decision = Decision(approval, status, o.Lines)
		if o.Decision == writeback.OutcomeRejected {
			o.Lines = compare(d, nil) // a rejected order orders nothing
		}
		out = append(out, o)
	}
	return out, nil
}

// Decision maps a purchase order's approvalStatus and status ids and the
// compared lines to a writeback decision. Status H is Closed.
func Decision(approval, status string, lines []writeback.OutcomeLine) string {
	switch {
	case approval == approvalRejected || status == "H":
		return writeback.OutcomeRejected
	case approval == approvalApproved:
		for _, l := range lines {
			if l.PlannerQty != l.SuggestedQty {
				return writeback.OutcomeChanged
			}
		}
		return writeback.OutcomeAccepted
	default:
		return writeback.OutcomePending
	}
}

// compare matches the ERP's quantities per SKU to the document's lines
// (ours in line order, then the ones added, by SKU).
func compare(d *writeback.Document, erp map[string]int64) []writeback.OutcomeLine {
	var out []writeback.OutcomeLine
	seen := map[string]bool{}
	for _, l := range d.Lines {
		out = append(out, writeback.OutcomeLine{SKU: l.SKU, SuggestedQty: l.Qty, PlannerQty: erp[l.SKU]})
		seen[l.SKU] = true
	}
	var added []string
	for s := range erp {
		if !seen[s] {
			added = append(added, s)
		}
	}
	sort.Strings(added)
	for _, s := range added {
		out = append(out, writeback.OutcomeLine{SKU: s, PlannerQty: erp[s]})
	}
	return out
}

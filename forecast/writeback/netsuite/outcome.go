package netsuite

import (
	"context"
	"net/http"
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
			o.Decision, o.ERPStatus, o.Lines = writeback.OutcomeRejected, "deleted", writeback.CompareLines(d, nil)
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
		o.Lines = writeback.CompareLines(d, erp)
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
			o.Lines = writeback.CompareLines(d, nil) // a rejected order orders nothing
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
		return writeback.ApprovedDecision(lines)
	default:
		return writeback.OutcomePending
	}
}

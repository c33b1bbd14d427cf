package writeback

import (
	"context"
	"slices"
	"time"
)

// Planner decisions on a draft we wrote into an ERP, as read back from it.
const (
	// OutcomePending: the draft is still a draft (the planner has not acted).
	OutcomePending = "pending"
	// OutcomeAccepted: approved/confirmed with every line as we suggested.
	OutcomeAccepted = "accepted"
	// OutcomeChanged: approved/confirmed with a line's quantity changed,
	// a line removed or a line added.
	OutcomeChanged = "changed"
	// OutcomeRejected: deleted or cancelled by the planner.
	OutcomeRejected = "rejected"
)

// Outcome is what a planner did with one of our documents in an ERP.
type Outcome struct {
	// ExternalRef is our document key (Document.ExternalRef).
	ExternalRef string
	// Channel is the channel's Name() that delivered the document.
	Channel string
	// DocID is the ERP's id of the document ("" when it was deleted and no
	// id is known any more).
	DocID string
	// ERPStatus is the ERP's own status word (Odoo "purchase", SAP
	// processing status "05", …) for the record.
	ERPStatus string
	// Decision is one of OutcomePending, OutcomeAccepted, OutcomeChanged,
	// OutcomeRejected.
	Decision string
	// Lines are the ERP's lines matched to ours by SKU (our SKU ids, after
	// reverse mapping). A line we sent and the planner removed has
	// PlannerQty 0; a line the planner added has SuggestedQty 0.
	Lines []OutcomeLine
	// Seen is when the status was read.
	Seen time.Time
}

// OutcomeLine is one SKU of an Outcome.
type OutcomeLine struct {
	SKU          string
	SuggestedQty int64
	PlannerQty   int64
}

// OutcomeReader is a channel that can read back what planners did with the
// documents it delivered. Outcomes returns one Outcome per document it
// could look up (by the ERP's id recorded at delivery, or by our key); a
// document the ERP no longer has is OutcomeRejected. docs are the documents
// as we sent them, so suggested quantities are known.
type OutcomeReader interface {
	Outcomes(ctx context.Context, docs []*Document) ([]Outcome, error)
}

// CompareLines matches the planner's quantities per SKU (the ERP's lines,
// mapped back to our SKUs and summed; nil when the document is gone) to the
// document's lines: ours first in line order, then the ones the planner
// added, by SKU. A line of ours the planner removed has PlannerQty 0.
func CompareLines(d *Document, planner map[string]int64) []OutcomeLine {
	out := make([]OutcomeLine, 0, len(d.Lines))
	ours := make(map[string]bool, len(d.Lines))
	for _, l := range d.Lines {
		out = append(out, OutcomeLine{SKU: l.SKU, SuggestedQty: l.Qty, PlannerQty: planner[l.SKU]})
		ours[l.SKU] = true
	}
	var added []string
	for s := range planner {
		if !ours[s] {
			added = append(added, s)
		}
	}
	slices.Sort(added)
	for _, s := range added {
		out = append(out, OutcomeLine{SKU: s, PlannerQty: planner[s]})
	}
	return out
}

// ApprovedDecision is the decision on a document the planner approved:
// OutcomeChanged when a line's planner quantity differs from ours (changed,
// removed or added), else OutcomeAccepted.
func ApprovedDecision(lines []OutcomeLine) string {
	for _, l := range lines {
		if l.PlannerQty != l.SuggestedQty {
			return OutcomeChanged
		}
	}
	return OutcomeAccepted
}

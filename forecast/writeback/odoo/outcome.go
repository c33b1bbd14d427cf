package odoo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
)

// outcomeBatch bounds the keys of one search.
const outcomeBatch = 200

// Outcomes implements writeback.OutcomeReader: it finds each document's
// purchase.order by origin and reads its state and lines. draft, sent and
// "to approve" are pending; purchase and done accepted, or changed when a
// line's quantity differs, a line went or came; cancel, or no order any
// more, rejected (with every planner quantity 0: nothing is ordered).
func (c *Channel) Outcomes(ctx context.Context, docs []*writeback.Document) ([]writeback.Outcome, error) {
	var out []writeback.Outcome
	for i := 0; i < len(docs); i += outcomeBatch {
		batch := docs[i:min(i+outcomeBatch, len(docs))]
		keys := make([]string, len(batch))
		for j, d := range batch {
			keys[j] = d.ExternalRef
		}
		var orders []struct {
			ID     int64  `json:"id"`
			Origin any    `json:"origin"`
			State  string `json:"state"`
		}
		if err := c.call(ctx, "purchase.order", "search_read", nil, map[string]any{
			"domain": []any{[]any{"origin", "in", keys}}, "fields": []string{"id", "origin", "state"},
		}, &orders); err != nil {
			return nil, err
		}
		byKey := map[string]int64{}
		state := map[int64]string{}
		var ids []int64
		for _, o := range orders {
			s, ok := o.Origin.(string)
			if !ok {
				continue
			}
			if prev, dup := byKey[s]; dup && prev < o.ID {
				continue
			}
			byKey[s], state[o.ID] = o.ID, o.State
			ids = append(ids, o.ID)
		}
		lines := map[int64]map[string]int64{}
		if len(ids) > 0 {
			var ls []struct {
				OrderID    []any   `json:"order_id"`
				ProductID  []any   `json:"product_id"`
				ProductQty float64 `json:"product_qty"`
			}
			if err := c.call(ctx, "purchase.order.line", "search_read", nil, map[string]any{
				"domain": []any{[]any{"order_id", "in", ids}}, "fields": []string{"order_id", "product_id", "product_qty"},
			}, &ls); err != nil {
				return nil, err
			}
			var unknown []int64
			for _, l := range ls {
				if len(l.ProductID) > 0 {
					if _, ok := c.sku(many2one(l.ProductID)); !ok {
						unknown = append(unknown, many2one(l.ProductID))
					}
				}
			}
			if err := c.learnSKUs(ctx, unknown); err != nil {
				return nil, err
			}
			for _, l := range ls {
				oid := many2one(l.OrderID)
				if lines[oid] == nil {
					lines[oid] = map[string]int64{}
				}
				sku, ok := c.sku(many2one(l.ProductID))
				if !ok {
					sku = "odoo:product:" + strconv.FormatInt(many2one(l.ProductID), 10)
				}
				lines[oid][sku] += int64(l.ProductQty + 0.5)
			}
		}
		now := time.Now().UTC()
		for _, d := range batch {
			o := writeback.Outcome{ExternalRef: d.ExternalRef, Channel: c.name, Seen: now}
			id, ok := byKey[d.ExternalRef]
			if !ok {
				o.Decision = writeback.OutcomeRejected
				o.ERPStatus = "deleted"
				o.Lines = writeback.CompareLines(d, nil)
				out = append(out, o)
				continue
			}
			o.DocID = strconv.FormatInt(id, 10)
			o.ERPStatus = state[id]
			o.Lines = writeback.CompareLines(d, lines[id])
			o.Decision = Decision(o.ERPStatus, o.Lines)
			if o.Decision == writeback.OutcomeRejected {
				o.Lines = writeback.CompareLines(d, nil) // a cancelled order orders nothing
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// Decision maps an Odoo purchase.order state and the compared lines to a
// writeback decision.
func Decision(state string, lines []writeback.OutcomeLine) string {
	switch state {
	case "purchase", "done":
		return writeback.ApprovedDecision(lines)
	case "cancel":
		return writeback.OutcomeRejected
	default: // draft, sent, to approve
		return writeback.OutcomePending
	}
}

// many2one reads the id of a many2one value, [id, "display name"] (0 for
// false).
func many2one(v []any) int64 {
	if len(v) == 0 {
		return 0
	}
	f, _ := v[0].(float64)
	return int64(f)
}

func (c *Channel) sku(id int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.skus[id]
	return s, ok
}

// learnSKUs reads the default_code of products the planner added.
func (c *Channel) learnSKUs(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var rows []idRow
	if err := c.call(ctx, "product.product", "read", ids, map[string]any{"fields": []string{"id", "default_code"}}, &rows); err != nil {
		return fmt.Errorf("odoo: products of the read-back: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		if s, ok := r.DefaultCode.(string); ok && s != "" {
			c.skus[r.ID] = s
			if _, mapped := c.products[s]; !mapped {
				c.products[s] = r.ID
			}
		}
	}
	return nil
}

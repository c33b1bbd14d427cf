package schema

import "fmt"

// Rows holds the lake rows of the five input streams, one slice per table.
type Rows struct {
	POS       []PosLineRow
	Inventory []InventoryRow
	PO        []POLineRow
	Items     []ItemLocationRow
	Promos    []PromotionRow
}

// Append strictly decodes value, a record of topic, with d and appends its
// rows (with lineage src) to the slice of its table. A record that fails
// decoding appends nothing and returns the *DecodeError; a topic that is not
// an input stream is an error too.
func (rs *Rows) Append(d *Decoder, topic string, value []byte, src Source) error {
	switch topic {
	case TopicPOS:
		v, err := d.POS(value)
		if err != nil {
			return err
		}
		rs.POS = v.AppendRows(rs.POS, src)
	case TopicInventory:
		v, err := d.Inventory(value)
		if err != nil {
			return err
		}
		rs.Inventory = v.AppendRows(rs.Inventory, src)
	case TopicPurchaseOrder:
		v, err := d.PurchaseOrder(value)
		if err != nil {
			return err
		}
		rs.PO = v.AppendRows(rs.PO, src)
	case TopicItemLocation:
		v, err := d.ItemLocation(value)
		if err != nil {
			return err
		}
		rs.Items = v.AppendRows(rs.Items, src)
	case TopicPromotion:
		v, err := d.Promotion(value)
		if err != nil {
			return err
		}
		rs.Promos = v.AppendRows(rs.Promos, src)
	default:
		return fmt.Errorf("record on unknown topic %s", topic)
	}
	return nil
}

package sapfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// prop is an OData V2 property: its type and maximum length.
type prop struct {
	typ    string // Edm.String, Edm.Decimal, Edm.DateTime, Edm.Boolean, nav
	maxLen int
}

var headerProps = map[string]prop{
	"PurchaseRequisition": {"Edm.String", 10}, "PurchaseRequisitionType": {"Edm.String", 4},
	"PurReqnDescription": {"Edm.String", 40}, "SourceDetermination": {"Edm.Boolean", 0},
	"PurReqnDoOnlyValidation": {"Edm.Boolean", 0}, "to_PurchaseReqnItem": {"nav", 0},
}

var itemProps = map[string]prop{
	"PurchaseRequisition": {"Edm.String", 10}, "PurchaseRequisitionItem": {"Edm.String", 5},
	"PurchasingDocument": {"Edm.String", 10}, "PurchasingDocumentItem": {"Edm.String", 5},
	"PurReqnReleaseStatus": {"Edm.String", 2}, "PurchaseRequisitionType": {"Edm.String", 4},
	"PurchasingGroup": {"Edm.String", 3}, "PurchasingOrganization": {"Edm.String", 4},
	"PurchaseRequisitionItemText": {"Edm.String", 40}, "AccountAssignmentCategory": {"Edm.String", 1},
	"Material": {"Edm.String", 40}, "MaterialGroup": {"Edm.String", 9}, "PurchasingDocumentCategory": {"Edm.String", 1},
	"RequestedQuantity": {"Edm.Decimal", 0}, "BaseUnit": {"Edm.String", 3}, "PurchaseRequisitionPrice": {"Edm.Decimal", 0},
	"PurReqnPriceQuantity": {"Edm.Decimal", 0}, "PurReqnItemCurrency": {"Edm.String", 5},
	"MaterialGoodsReceiptDuration": {"Edm.Decimal", 0}, "ReleaseCode": {"Edm.String", 1},
	"PurchaseRequisitionReleaseDate": {"Edm.DateTime", 0}, "PurchasingInfoRecord": {"Edm.String", 10},
	"Plant": {"Edm.String", 4}, "CompanyCode": {"Edm.String", 4}, "SupplierMaterialNumber": {"Edm.String", 35},
	"FixedSupplier": {"Edm.String", 10}, "Supplier": {"Edm.String", 10}, "DeliveryDate": {"Edm.DateTime", 0},
	"CreationDate": {"Edm.DateTime", 0}, "ProcessingStatus": {"Edm.String", 1}, "IsDeleted": {"Edm.String", 1},
	"IsClosed": {"Edm.Boolean", 0}, "StorageLocation": {"Edm.String", 4}, "RequisitionerName": {"Edm.String", 12},
	"PurReqnSSPAuthor": {"Edm.String", 12}, "Batch": {"Edm.String", 10},
}

var (
	dateRE    = regexp.MustCompile(`^/Date\((-?\d+)(?:[+-]\d{4})?\)/$`)
	decimalRE = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
)

// decode checks an entry's properties: unknown ones, types, lengths.
func decode(raw json.RawMessage, entity string, props map[string]prop) (map[string]any, string) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "The request body of " + entity + " is not a JSON object: " + err.Error()
	}
	out := map[string]any{}
	for k, v := range m {
		p, ok := props[k]
		if !ok {
			return nil, fmt.Sprintf("Property '%s' is invalid for entity type '%s'", k, entity)
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var val any
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Sprintf("Failed to read property '%s': %v", k, err)
		}
		bad := fmt.Sprintf("Failed to read property '%s' of type '%s': %s", k, p.typ, string(v))
		switch p.typ {
		case "Edm.String":
			s, ok := val.(string)
			if !ok {
				return nil, bad
			}
			if len(s) > p.maxLen {
				return nil, fmt.Sprintf("Property '%s' is longer than %d characters: '%s'", k, p.maxLen, s)
			}
			out[k] = s
		case "Edm.Decimal":
			s, ok := val.(string) // V2 JSON writes decimals as strings
			if !ok || !decimalRE.MatchString(s) {
				return nil, bad
			}
			out[k] = s
		case "Edm.DateTime":
			s, ok := val.(string)
			var mm []string
			if ok {
				mm = dateRE.FindStringSubmatch(s)
			}
			if mm == nil {
				return nil, bad
			}
			ms, _ := strconv.ParseInt(mm[1], 10, 64)
			out[k] = ms
		case "Edm.Boolean":
			b, ok := val.(bool)
			if !ok {
				return nil, bad
			}
			out[k] = b
		case "nav":
			var items []json.RawMessage
			var wrapped struct {
				Results []json.RawMessage `json:"results"`
			}
			if json.Unmarshal(v, &items) != nil {
				if json.Unmarshal(v, &wrapped) != nil {
					return nil, bad
				}
				items = wrapped.Results
			}
			out[k] = items
		}
	}
	return out, ""
}

type header struct {
	Requisition
	validateOnly bool
}

// validate turns a create's body into a requisition, or gives the OData
// error code and message. It reads only fixed lists from s.o.
func (s *Server) validate(body []byte) (*header, string, string) {
	const parse = "/IWBEP/CM_MGW_RT/022"
	h, msg := decode(body, "A_PurchaseRequisitionHeaderType", headerProps)
	if h == nil {
		return nil, parse, msg
	}
	out := &header{}
	out.Type, _ = h["PurchaseRequisitionType"].(string)
	if out.Type == "" {
		out.Type = "NB"
	}
	out.Description, _ = h["PurReqnDescription"].(string)
	out.validateOnly, _ = h["PurReqnDoOnlyValidation"].(bool)
	items, _ := h["to_PurchaseReqnItem"].([]json.RawMessage)
	if len(items) == 0 {
		return nil, "MEREQ/001", "Purchase requisition has no items"
	}
	for i, raw := range items {
		it, msg := decode(raw, "A_PurchaseRequisitionItemType", itemProps)
		if it == nil {
			return nil, parse, msg
		}
		for _, f := range []string{"Material", "Plant", "RequestedQuantity", "DeliveryDate", "PurchasingGroup"} {
			if _, ok := it[f]; !ok {
				return nil, "MEPO/000", fmt.Sprintf("Item %d: enter %s", 10*(i+1), f)
			}
		}
		x := Item{ProcessingStatus: "N", ReleaseStatus: "02"}
		x.Item, _ = it["PurchaseRequisitionItem"].(string)
		if x.Item == "" {
			x.Item = strconv.Itoa(10 * (i + 1))
		}
		x.Material, _ = it["Material"].(string)
		x.Plant, _ = it["Plant"].(string)
		x.Quantity, _ = it["RequestedQuantity"].(string)
		x.BaseUnit, _ = it["BaseUnit"].(string)
		x.Price, _ = it["PurchaseRequisitionPrice"].(string)
		x.Currency, _ = it["PurReqnItemCurrency"].(string)
		x.FixedSupplier, _ = it["FixedSupplier"].(string)
		x.PurchasingGroup, _ = it["PurchasingGroup"].(string)
		x.DeliveryDate, _ = it["DeliveryDate"].(int64)
		switch {
		case !slices.Contains(s.o.Plants, x.Plant):
			return nil, "ME/040", fmt.Sprintf("Plant %s does not exist", x.Plant)
		case !slices.Contains(s.o.Materials, x.Material):
			return nil, "M3/305", fmt.Sprintf("Material %s is not maintained in plant %s", x.Material, x.Plant)
		case x.FixedSupplier != "" && !slices.Contains(s.o.Suppliers, x.FixedSupplier):
			return nil, "06/251", fmt.Sprintf("Supplier %s does not exist", x.FixedSupplier)
		}
		if q, err := strconv.ParseFloat(x.Quantity, 64); err != nil || q <= 0 {
			return nil, "MEPO/000", fmt.Sprintf("Item %s: quantity %s must be positive", x.Item, x.Quantity)
		}
		out.Items = append(out.Items, x)
	}
	return out, "", ""
}

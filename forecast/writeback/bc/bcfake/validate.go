package bcfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Edm types of the properties a client may send.
type edm int

const (
	edmString edm = iota
	edmDate
	edmGUID
	edmDecimal
	edmInt
	edmBool
	edmLines
)

func (t edm) String() string {
	return [...]string{"Edm.String", "Edm.Date", "Edm.Guid", "Edm.Decimal", "Edm.Int32", "Edm.Boolean", "Collection(Microsoft.NAV.purchaseOrderLine)"}[t]
}

// orderProps are the purchaseOrder properties of API v2.0.
var orderProps = map[string]edm{
	"id": edmGUID, "number": edmString, "orderDate": edmDate, "postingDate": edmDate, "vendorId": edmGUID,
	"vendorNumber": edmString, "vendorName": edmString, "payToName": edmString, "payToVendorId": edmGUID,
	"payToVendorNumber": edmString, "shipToName": edmString, "shipToContact": edmString, "buyFromAddressLine1": edmString,
	"buyFromAddressLine2": edmString, "buyFromCity": edmString, "buyFromCountry": edmString, "buyFromState": edmString,
	"buyFromPostCode": edmString, "shipToAddressLine1": edmString, "shipToAddressLine2": edmString, "shipToCity": edmString,
	"shipToCountry": edmString, "shipToState": edmString, "shipToPostCode": edmString, "shortcutDimension1Code": edmString,
	"shortcutDimension2Code": edmString, "currencyId": edmGUID, "currencyCode": edmString, "pricesIncludeTax": edmBool,
	"paymentTermsId": edmGUID, "shipmentMethodId": edmGUID, "purchaser": edmString, "requestedReceiptDate": edmDate,
	"discountAmount": edmDecimal, "discountAppliedBeforeTax": edmBool, "purchaseOrderLines": edmLines,
}

// lineProps are the purchaseOrderLine properties of API v2.0.
var lineProps = map[string]edm{
	"id": edmGUID, "documentId": edmGUID, "sequence": edmInt, "itemId": edmGUID, "accountId": edmGUID,
	"lineType": edmString, "lineObjectNumber": edmString, "description": edmString, "description2": edmString,
	"unitOfMeasureId": edmGUID, "unitOfMeasureCode": edmString, "quantity": edmDecimal, "directUnitCost": edmDecimal,
	"discountAmount": edmDecimal, "discountPercent": edmDecimal, "discountAppliedBeforeTax": edmBool, "taxCode": edmString,
	"expectedReceiptDate": edmDate, "itemVariantId": edmGUID, "locationId": edmGUID,
}

// readOnly properties are computed by Business Central.
var readOnly = []string{"number", "vendorName", "status", "totalAmountExcludingTax", "fullyReceived"}

var (
	guidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	lineTypes  = []string{"Comment", "Account", "Item", "Resource", "Fixed Asset", "Charge"}
)

// check decodes one property value of type t.
func check(raw json.RawMessage, t edm) (any, bool) {
	if t == edmLines {
		var v []map[string]json.RawMessage
		return v, json.Unmarshal(raw, &v) == nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	switch t {
	case edmString:
		s, ok := v.(string)
		return s, ok
	case edmDate:
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		_, err := time.Parse(time.DateOnly, s)
		return s, err == nil
	case edmGUID:
		s, ok := v.(string)
		return s, ok && guidRE.MatchString(s)
	case edmDecimal:
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		f, err := n.Float64()
		return f, err == nil
	case edmInt:
		n, ok := v.(json.Number)
		if !ok {
			return nil, false
		}
		i, err := strconv.ParseInt(string(n), 10, 32)
		return int(i), err == nil
	case edmBool:
		b, ok := v.(bool)
		return b, ok
	}
	return nil, false
}

// decode checks an object's properties against props.
func decode(body []byte, entity string, props map[string]edm) (map[string]any, string) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "The request body is not a JSON object: " + err.Error()
	}
	out := map[string]any{}
	for k, v := range raw {
		if slices.Contains(readOnly, k) {
			return nil, fmt.Sprintf("The property '%s' of type '%s' is read-only.", k, entity)
		}
		t, ok := props[k]
		if !ok {
			return nil, fmt.Sprintf("The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type.", k, entity)
		}
		val, ok := check(v, t)
		if !ok {
			return nil, fmt.Sprintf("Cannot convert the literal '%s' to the expected type '%s' of property '%s'.", string(v), t, k)
		}
		out[k] = val
	}
	return out, ""
}

// validate turns a create's body into an order, or says why not (code,
// message, OData error code). s.mu is held.
func (s *Server) validate(body []byte) (po *Order, code int, msg, ecode string) {
	bad := func(m string) (*Order, int, string, string) { return nil, http.StatusBadRequest, m, "BadRequest" }
	notFound := func(m string) (*Order, int, string, string) {
		return nil, http.StatusBadRequest, m, "Internal_RecordNotFound"
	}
	h, m := decode(body, "Microsoft.NAV.purchaseOrder", orderProps)
	if h == nil {
		return bad(m)
	}
	vendor, _ := h["vendorNumber"].(string)
	if vendor == "" {
		if _, ok := h["vendorId"]; !ok {
			return bad("You must specify a vendor (vendorId or vendorNumber) to create a purchase order.")
		}
		return notFound("The Vendor does not exist. Identification fields and values: Id='" + h["vendorId"].(string) + "'")
	}
	if !slices.Contains(s.o.Vendors, vendor) {
		return notFound("The Vendor does not exist. Identification fields and values: No.='" + vendor + "'")
	}
	po = &Order{VendorNumber: vendor}
	po.OrderDate, _ = h["orderDate"].(string)
	if po.OrderDate == "" {
		po.OrderDate = s.o.Now().UTC().Format(time.DateOnly)
	}
	po.RequestedReceiptDate, _ = h["requestedReceiptDate"].(string)
	po.CurrencyCode, _ = h["currencyCode"].(string)
	if c := po.CurrencyCode; c != "" && !currencyRE.MatchString(c) {
		return notFound("The Currency does not exist. Identification fields and values: Code='" + c + "'")
	}
	lines, _ := h["purchaseOrderLines"].([]map[string]json.RawMessage)
	for i, raw := range lines {
		b, _ := json.Marshal(raw)
		l, m := decode(b, "Microsoft.NAV.purchaseOrderLine", lineProps)
		if l == nil {
			return bad(fmt.Sprintf("purchaseOrderLines[%d]: %s", i, m))
		}
		ol := OrderLine{ID: guid(), Sequence: 10000 * (i + 1)}
		if seq, ok := l["sequence"].(int); ok {
			ol.Sequence = seq
		}
		ol.LineType, _ = l["lineType"].(string)
		if ol.LineType == "" {
			ol.LineType = "Comment"
		}
		if !slices.Contains(lineTypes, ol.LineType) {
			return bad(fmt.Sprintf("purchaseOrderLines[%d]: lineType '%s' is not one of %v.", i, ol.LineType, lineTypes))
		}
		ol.Description, _ = l["description"].(string)
		if len(ol.Description) > 100 {
			return bad(fmt.Sprintf("purchaseOrderLines[%d]: The length of the string is %d, but it must be less than or equal to 100 characters. Value: %s", i, len(ol.Description), ol.Description))
		}
		ol.LineObjectNumber, _ = l["lineObjectNumber"].(string)
		ol.Quantity, _ = l["quantity"].(float64)
		ol.DirectUnitCost, _ = l["directUnitCost"].(float64)
		ol.LocationID, _ = l["locationId"].(string)
		if ol.LineType == "Item" {
			if ol.LineObjectNumber == "" {
				return bad(fmt.Sprintf("purchaseOrderLines[%d]: an Item line needs itemId or lineObjectNumber.", i))
			}
			if !slices.Contains(s.o.Items, ol.LineObjectNumber) {
				return notFound("The Item does not exist. Identification fields and values: No.='" + ol.LineObjectNumber + "'")
			}
			if ol.Quantity <= 0 {
				return bad(fmt.Sprintf("purchaseOrderLines[%d]: Quantity must be positive.", i))
			}
			if ol.LocationID != "" && !slices.Contains(s.o.Locations, ol.LocationID) {
				return notFound("The Location does not exist. Identification fields and values: Id='" + ol.LocationID + "'")
			}
		}
		po.Lines = append(po.Lines, ol)
	}
	return po, 0, "", ""
}

package odoofake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Field types of the fake's models.
const (
	tInt      = "integer"
	tChar     = "char"
	tText     = "html"
	tFloat    = "float"
	tDatetime = "datetime"
	tSel      = "selection"
	tO2M      = "one2many"
)

// many2one fields name their comodel.
type m2o string

var models = map[string]map[string]any{
	"res.partner":        {"id": tInt, "name": tChar, "ref": tChar},
	"product.product":    {"id": tInt, "name": tChar, "default_code": tChar},
	"res.currency":       {"id": tInt, "name": tChar},
	"res.company":        {"id": tInt, "name": tChar},
	"stock.picking.type": {"id": tInt, "name": tChar},
	"purchase.order": {"id": tInt, "name": tChar, "partner_id": m2o("res.partner"), "origin": tChar, "partner_ref": tChar,
		"currency_id": m2o("res.currency"), "company_id": m2o("res.company"), "picking_type_id": m2o("stock.picking.type"),
		"date_planned": tDatetime, "notes": tText, "state": tSel, "order_line": tO2M},
	"purchase.order.line": {"id": tInt, "name": tChar, "order_id": m2o("purchase.order"), "product_id": m2o("product.product"),
		"product_qty": tFloat, "price_unit": tFloat, "date_planned": tDatetime},
}

// readonly fields cannot be given to create.
var readonly = map[string]bool{"id": true, "name": false, "state": true}

func (s *Server) schema(model string) (map[string]any, bool) {
	m, ok := models[model]
	return m, ok
}

func falseIfEmpty(v string) any {
	if v == "" {
		return false
	}
	return v
}

func (s *Server) m2oValue(model string, id int64) any {
	if id == 0 {
		return false
	}
	name := fmt.Sprintf("%s,%d", model, id)
	if r, ok := s.record(model, id); ok {
		if n, ok := r["name"].(string); ok {
			name = n
		}
	}
	return []any{float64(id), name}
}

func (s *Server) orderRecord(o *Order) map[string]any {
	lines := []any{}
	for _, l := range o.Lines {
		lines = append(lines, float64(l.ID))
	}
	return map[string]any{"id": float64(o.ID), "name": o.Name, "partner_id": s.m2oValue("res.partner", o.PartnerID),
		"origin": falseIfEmpty(o.Origin), "partner_ref": falseIfEmpty(o.PartnerRef), "currency_id": s.m2oValue("res.currency", o.CurrencyID),
		"company_id": s.m2oValue("res.company", o.CompanyID), "picking_type_id": s.m2oValue("stock.picking.type", o.PickingType),
		"date_planned": falseIfEmpty(o.DatePlanned), "notes": falseIfEmpty(o.Notes), "state": o.State, "order_line": lines}
}

func (s *Server) lineRecord(l *OrderLine) map[string]any {
	return map[string]any{"id": float64(l.ID), "name": falseIfEmpty(l.Name), "order_id": []any{float64(s.lineOf[l.ID]), "order"},
		"product_id": s.m2oValue("product.product", l.ProductID), "product_qty": l.ProductQty, "price_unit": l.PriceUnit,
		"date_planned": falseIfEmpty(l.DatePlanned)}
}

func (s *Server) record(model string, id int64) (map[string]any, bool) {
	switch model {
	case "purchase.order":
		o, ok := s.orders[id]
		if !ok {
			return nil, false
		}
		return s.orderRecord(o), true
	case "purchase.order.line":
		l, ok := s.lines[id]
		if !ok {
			return nil, false
		}
		return s.lineRecord(l), true
	}
	r, ok := s.recs[model][id]
	return r, ok
}

func (s *Server) all(model string) []map[string]any {
	var ids []int64
	switch model {
	case "purchase.order":
		for id := range s.orders {
			ids = append(ids, id)
		}
	case "purchase.order.line":
		for id := range s.lines {
			ids = append(ids, id)
		}
	default:
		for id := range s.recs[model] {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		r, _ := s.record(model, id)
		out = append(out, r)
	}
	return out
}

// fields checks a fields parameter (nil: every field).
func (s *Server) fields(model string, raw json.RawMessage) ([]string, *odooError) {
	sch := models[model]
	if raw == nil {
		var all []string
		for f := range sch {
			all = append(all, f)
		}
		return all, nil
	}
	var fs []string
	if err := json.Unmarshal(raw, &fs); err != nil {
		return nil, valueError("fields: want a list of field names")
	}
	for _, f := range fs {
		if _, ok := sch[f]; !ok {
			return nil, valueError("Invalid field %q on model %q", f, model)
		}
	}
	return fs, nil
}

func project(rec map[string]any, fields []string) map[string]any {
	out := map[string]any{"id": rec["id"]}
	for _, f := range fields {
		v, ok := rec[f]
		if !ok {
			v = false
		}
		out[f] = v
	}
	return out
}

type term struct {
	field, op string
	vals      []any
}

func (s *Server) parseTerm(model string, raw json.RawMessage) (term, *odooError) {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) != 3 {
		return term{}, valueError("Invalid leaf %s", raw)
	}
	var t term
	if json.Unmarshal(parts[0], &t.field) != nil || json.Unmarshal(parts[1], &t.op) != nil {
		return term{}, valueError("Invalid leaf %s", raw)
	}
	if _, ok := models[model][t.field]; !ok {
		return term{}, valueError("Invalid field %s.%s in leaf %s", model, t.field, raw)
	}
	switch t.op {
	case "=", "!=":
		var v any
		_ = json.Unmarshal(parts[2], &v)
		t.vals = []any{v}
	case "in", "not in":
		if err := json.Unmarshal(parts[2], &t.vals); err != nil {
			return term{}, valueError("Invalid leaf %s: %s needs a list", raw, t.op)
		}
	default:
		return term{}, valueError("Invalid leaf %s: the fake knows =, !=, in, not in", raw)
	}
	return t, nil
}

func (t term) match(v any) bool {
	if l, ok := v.([]any); ok && len(l) == 2 { // many2one compares by id
		v = l[0]
	}
	in := false
	for _, x := range t.vals {
		if fmt.Sprint(x) == fmt.Sprint(v) {
			in = true
		}
	}
	if t.op == "=" || t.op == "in" {
		return in
	}
	return !in
}

// value checks one value against a field's type; it returns it as stored.
func (s *Server) value(model, field string, raw json.RawMessage) (any, *odooError) {
	typ, ok := models[model][field]
	if !ok {
		return nil, valueError("Invalid field '%s' on model '%s'", field, model)
	}
	if ro, ok := readonly[field]; ok && ro {
		return nil, valueError("field '%s' on model '%s' is read-only", field, model)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, valueError("%s.%s: %v", model, field, err)
	}
	switch typ := typ.(type) {
	case m2o:
		n, ok := v.(json.Number)
		id, err := n.Int64()
		if !ok || err != nil {
			return nil, valueError("%s.%s: many2one wants a record id, got %s", model, field, raw)
		}
		if _, ok := s.record(string(typ), id); !ok {
			return nil, &odooError{code: 422, Name: "odoo.exceptions.MissingError", Message: fmt.Sprintf("Record does not exist or has been deleted. (Record: %s(%d,))", typ, id)}
		}
		return id, nil
	case string:
		switch typ {
		case tChar, tText:
			str, ok := v.(string)
			if !ok {
				return nil, valueError("%s.%s: wants text, got %s", model, field, raw)
			}
			return str, nil
		case tFloat:
			n, ok := v.(json.Number)
			f, err := n.Float64()
			if !ok || err != nil {
				return nil, valueError("%s.%s: wants a number, got %s", model, field, raw)
			}
			return f, nil
		case tDatetime:
			str, ok := v.(string)
			if !ok || !datetimeRE.MatchString(str) {
				return nil, valueError("%s.%s: %s does not match format '%%Y-%%m-%%d %%H:%%M:%%S'", model, field, raw)
			}
			return str, nil
		}
	}
	return nil, valueError("%s.%s cannot be set here", model, field)
}

// create makes purchase.orders from a vals_list; other models are read-only
// master data here. Nothing is created unless every order is valid.
func (s *Server) create(model string, raw json.RawMessage) (any, *odooError) {
	if model != "purchase.order" {
		return nil, &odooError{code: 403, Name: "odoo.exceptions.AccessError", Message: "the fake creates purchase.order only"}
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, valueError("vals_list: want a non-empty list of objects")
	}
	var made []*Order
	for _, vals := range list {
		o := &Order{State: "draft"}
		for f, rv := range vals {
			if f == "order_line" {
				continue
			}
			v, oerr := s.value(model, f, rv)
			if oerr != nil {
				return nil, oerr
			}
			switch f {
			case "partner_id":
				o.PartnerID = v.(int64)
			case "currency_id":
				o.CurrencyID = v.(int64)
			case "company_id":
				o.CompanyID = v.(int64)
			case "picking_type_id":
				o.PickingType = v.(int64)
			case "origin":
				o.Origin = v.(string)
			case "partner_ref":
				o.PartnerRef = v.(string)
			case "date_planned":
				o.DatePlanned = v.(string)
			case "notes":
				o.Notes = v.(string)
			case "name":
				o.Name = v.(string)
			default:
				return nil, valueError("field %s cannot be set on create", f)
			}
		}
		if o.PartnerID == 0 {
			return nil, validationError("The operation cannot be completed: Missing required fields on purchase.order: Vendor (partner_id)")
		}
		if rl, ok := vals["order_line"]; ok {
			var cmds [][]json.RawMessage
			if err := json.Unmarshal(rl, &cmds); err != nil {
				return nil, valueError("order_line: want a list of [0, 0, {values}] commands")
			}
			for _, c := range cmds {
				if len(c) != 3 || string(c[0]) != "0" || string(c[1]) != "0" {
					return nil, valueError("order_line: command %v: want [0, 0, {values}]", c)
				}
				var lv map[string]json.RawMessage
				if err := json.Unmarshal(c[2], &lv); err != nil {
					return nil, valueError("order_line: values are not an object")
				}
				l := OrderLine{ProductQty: 1}
				for f, rv := range lv {
					if f == "order_id" {
						return nil, valueError("order_line: order_id is set by the command")
					}
					v, oerr := s.value("purchase.order.line", f, rv)
					if oerr != nil {
						return nil, oerr
					}
					switch f {
					case "product_id":
						l.ProductID = v.(int64)
					case "product_qty":
						l.ProductQty = v.(float64)
					case "price_unit":
						l.PriceUnit = v.(float64)
					case "date_planned":
						l.DatePlanned = v.(string)
					case "name":
						l.Name = v.(string)
					}
				}
				if l.ProductID == 0 {
					return nil, validationError("Missing required product on accountable purchase order line.")
				}
				o.Lines = append(o.Lines, l)
			}
		}
		made = append(made, o)
	}
	ids := []int64{}
	for _, o := range made {
		o.ID = s.next
		s.next++
		if o.Name == "" {
			o.Name = fmt.Sprintf("P%05d", o.ID)
		}
		for i := range o.Lines {
			o.Lines[i].ID = s.next
			s.next++
		}
		s.orders[o.ID] = o
		s.reindex(o)
		ids = append(ids, o.ID)
	}
	return ids, nil
}

package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shelflake/shelflake/schema"
)

// Mapping says which CSV columns hold what, and how to read them. Column
// names are matched exactly against the header (after trimming spaces and
// a UTF-8 byte-order mark). Customer is optional (empty: no customer ids).
//
// An export of daily totals per store and product (no invoices, often no
// prices) maps too: leave Invoice empty (a negative quantity is then a
// return, see the package doc), give DefaultUnitPrice when there is no
// price column and DefaultStore when there is no store column.
type Mapping struct {
	Invoice   string `json:"invoice"`    // column: invoice (transaction) number; "": none (daily totals)
	SKU       string `json:"sku"`        // column: product code
	Quantity  string `json:"quantity"`   // column: integer quantity, negative on returns
	Time      string `json:"time"`       // column: local date and time of the sale
	UnitPrice string `json:"unit_price"` // column: price per unit, a plain decimal; "": DefaultUnitPrice
	Customer  string `json:"customer"`   // column: customer id (optional)
	Store     string `json:"store"`      // column: what tells stores apart (slugged into store_id); "": DefaultStore

	Delimiter    string `json:"delimiter"`     // the field separator, one character (default ",": e.g. ";" or "\t")
	DecimalComma bool   `json:"decimal_comma"` // prices are written 2,50 (and 1.234,50): a comma before the decimals

	DefaultUnitPrice string `json:"default_unit_price"` // price of every line when there is no price column, e.g. "1"
	DefaultStore     string `json:"default_store"`      // the store of every row when there is no store column

	TimeLayout  string `json:"time_layout"`  // Go time layout of the time column
	TimeZone    string `json:"time_zone"`    // IANA zone the times are wall times in
	Currency    string `json:"currency"`     // ISO 4217 code of the prices
	Register    string `json:"register"`     // register_id written on every transaction
	StorePrefix string `json:"store_prefix"` // prepended to the store slug

	ReturnPrefix     string `json:"return_prefix"`     // invoice prefix of returns/cancellations
	AdjustmentPrefix string `json:"adjustment_prefix"` // invoice prefix of bad-debt adjustments ("" : none)
	Merchandise      string `json:"merchandise"`       // regexp a merchandise SKU matches
}

// presetNames lists the built-in presets.
var presetNames = []string{"online-retail", "store-item-daily"}

// Preset returns a built-in mapping by name.
func Preset(name string) (Mapping, error) {
	switch name {
	case "online-retail":
		return Mapping{
			Invoice: "InvoiceNo", SKU: "StockCode", Quantity: "Quantity", Time: "InvoiceDate",
			UnitPrice: "UnitPrice", Customer: "CustomerID", Store: "Country",
			TimeLayout: time.DateTime, TimeZone: "Europe/London", Currency: "GBP", Register: "web",
			ReturnPrefix: "C", AdjustmentPrefix: "A", Merchandise: `^[0-9]{5}`,
		}, nil
	case "store-item-daily":
		// date,store,item,sales: daily unit totals per store and item, no
		// invoices or prices (the layout of Kaggle's "Store Item Demand
		// Forecasting" data and of many long-format histories).
		return Mapping{
			SKU: "item", Quantity: "sales", Time: "date", Store: "store", StorePrefix: "store-",
			DefaultUnitPrice: "1", TimeLayout: time.DateOnly, TimeZone: "UTC", Currency: "USD",
			Register: "export", Merchandise: ".",
		}, nil
	}
	return Mapping{}, fmt.Errorf("preset %q: unknown; known presets: %s", name, strings.Join(presetNames, ", "))
}

// ReadMapping reads a JSON mapping over base (fields it leaves out keep
// base's values; start from Mapping{} or a preset). Unknown fields are
// errors, so a misspelt key does not go unnoticed. name is used in messages.
func ReadMapping(r io.Reader, name string, base Mapping) (Mapping, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Mapping{}, fmt.Errorf("mapping %s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	m := base
	if err := dec.Decode(&m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return Mapping{}, fmt.Errorf("mapping %s:%d: %v; fix the JSON", name, line, err)
		}
		return Mapping{}, fmt.Errorf("mapping %s: %v; keys are invoice, sku, quantity, time, unit_price, customer, store, default_unit_price, default_store, delimiter, decimal_comma, time_layout, time_zone, currency, register, store_prefix, return_prefix, adjustment_prefix, merchandise", name, err)
	}
	if dec.More() {
		return Mapping{}, fmt.Errorf("mapping %s: more than one JSON value; the file holds one object", name)
	}
	if err := m.Validate(); err != nil {
		return Mapping{}, fmt.Errorf("mapping %s: %w", name, err)
	}
	return m, nil
}

// compiled is a validated Mapping ready to read rows.
type compiled struct {
	m     Mapping
	loc   *time.Location
	merch *regexp.Regexp
	price schema.Money // DefaultUnitPrice (no price column)
	comma rune         // the field separator
	store string       // DefaultStore's store_id (no store column)
}

// Validate checks that every required field is set and usable.
func (m Mapping) Validate() error {
	_, err := m.compile()
	return err
}

func (m Mapping) compile() (*compiled, error) {
	c := &compiled{m: m}
	required := []struct{ key, v string }{
		{"sku", m.SKU}, {"quantity", m.Quantity}, {"time", m.Time},
		{"time_layout", m.TimeLayout}, {"time_zone", m.TimeZone}, {"currency", m.Currency},
		{"register", m.Register}, {"merchandise", m.Merchandise},
	}
	if m.Invoice != "" {
		required = append(required, struct{ key, v string }{"return_prefix", m.ReturnPrefix})
	}
	for _, f := range required {
		if strings.TrimSpace(f.v) == "" {
			return nil, fmt.Errorf("%q is not set; give it in the mapping or start from a preset", f.key)
		}
	}
	switch {
	case m.UnitPrice == "" && m.DefaultUnitPrice == "":
		return nil, errors.New(`"unit_price" is not set: name the price column, or give "default_unit_price" (e.g. "1") for an export without prices`)
	case m.UnitPrice != "" && m.DefaultUnitPrice != "":
		return nil, errors.New(`"unit_price" and "default_unit_price" are both set: give one`)
	case m.DefaultUnitPrice != "":
		p, err := c.money(m.DefaultUnitPrice)
		if err != nil || p <= 0 {
			return nil, fmt.Errorf("default_unit_price %q: want a positive plain decimal, e.g. 1 or 2.50", m.DefaultUnitPrice)
		}
		c.price = p
	}
	switch {
	case m.Store == "" && m.DefaultStore == "":
		return nil, errors.New(`"store" is not set: name the store column, or give "default_store" for a one-store export`)
	case m.Store != "" && m.DefaultStore != "":
		return nil, errors.New(`"store" and "default_store" are both set: give one`)
	case m.DefaultStore != "":
		if c.store = slug(m.DefaultStore); c.store == "" {
			return nil, fmt.Errorf("default_store %q has no letters or digits to name a store", m.DefaultStore)
		}
		c.store = m.StorePrefix + c.store
	}
	c.comma = ','
	if m.Delimiter != "" {
		r := []rune(m.Delimiter)
		if len(r) != 1 || r[0] == '"' || r[0] == '\r' || r[0] == '\n' || r[0] == utf8.RuneError {
			return nil, fmt.Errorf("delimiter %q: want one character other than a quote or a line break, e.g. \";\" or \"\\t\"", m.Delimiter)
		}
		c.comma = r[0]
	}
	if m.DecimalComma && c.comma == ',' {
		return nil, errors.New(`decimal_comma with the delimiter ",": a price like 2,50 would split the row; set "delimiter" (e.g. ";")`)
	}
	if m.Invoice == "" && (m.AdjustmentPrefix != "" || m.ReturnPrefix != "") {
		return nil, errors.New(`"return_prefix" and "adjustment_prefix" need an "invoice" column; without one a negative quantity is a return`)
	}
	if m.Invoice != "" && m.AdjustmentPrefix == m.ReturnPrefix {
		return nil, fmt.Errorf("return_prefix and adjustment_prefix are both %q; they must differ", m.ReturnPrefix)
	}
	if !schema.IsCurrency(m.Currency) {
		return nil, fmt.Errorf("currency %q is not an ISO 4217 code (e.g. GBP, EUR, USD)", m.Currency)
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil || m.TimeZone == "Local" {
		return nil, fmt.Errorf("time_zone %q is not a known IANA zone (e.g. Europe/London)", m.TimeZone)
	}
	re, err := regexp.Compile(m.Merchandise)
	if err != nil {
		return nil, fmt.Errorf("merchandise %q is not a valid regexp: %v", m.Merchandise, err)
	}
	c.loc, c.merch = loc, re
	return c, nil
}

// columns are the indexes of the mapped columns in a header (-1: absent).
type columns struct {
	invoice, sku, quantity, time, price, customer, store int
	n                                                    int // fields per row
}

// resolve finds the mapped columns in header, or says which one is missing.
func (c *compiled) resolve(header []string) (columns, error) {
	idx := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
		if _, dup := idx[h]; dup {
			return columns{}, fmt.Errorf("column %q appears twice in the header; rename one", h)
		}
		idx[h] = i
	}
	find := func(key, name string) (int, error) {
		if i, ok := idx[name]; ok {
			return i, nil
		}
		return 0, fmt.Errorf("column %q (mapping %s) is not in the header (%s); fix the mapping or the file",
			name, key, strings.Join(header, ","))
	}
	cols := columns{invoice: -1, price: -1, customer: -1, store: -1, n: len(header)}
	var err error
	for _, f := range []struct {
		key, name string
		dst       *int
	}{
		{"invoice", c.m.Invoice, &cols.invoice}, {"sku", c.m.SKU, &cols.sku},
		{"quantity", c.m.Quantity, &cols.quantity}, {"time", c.m.Time, &cols.time},
		{"unit_price", c.m.UnitPrice, &cols.price}, {"store", c.m.Store, &cols.store},
		{"customer", c.m.Customer, &cols.customer},
	} {
		if f.name == "" {
			continue // optional, checked by compile
		}
		if *f.dst, err = find(f.key, f.name); err != nil {
			return columns{}, err
		}
	}
	return cols, nil
}

// money parses a price as the mapping writes it: a plain decimal, or with
// DecimalComma a comma before the decimals and dots between thousands.
func (c *compiled) money(s string) (schema.Money, error) {
	if c.m.DecimalComma {
		whole, frac, hasFrac := strings.Cut(s, ",")
		// Dots may only group thousands (1.234.567): "2.50" is refused,
		// never read as 250.
		groups := strings.Split(strings.TrimPrefix(whole, "-"), ".")
		for i, g := range groups {
			if len(groups) > 1 && (len(g) == 0 || len(g) > 3 || (i > 0 && len(g) != 3)) {
				return 0, errors.New("dots that do not group thousands")
			}
		}
		s = strings.ReplaceAll(whole, ".", "")
		if hasFrac {
			s += "." + frac
		}
	}
	return schema.ParseMoney([]byte(s))
}

package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// jsonSchema is a parsed JSON Schema document; numbers are json.Number.
type jsonSchema struct {
	root map[string]any
}

func loadJSONSchema(t *testing.T, topic string) *jsonSchema {
	t.Helper()
	b, err := JSONSchema(topic)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("%s: %v", topic, err)
	}
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("%s: $schema = %v, want draft 2020-12", topic, root["$schema"])
	}
	return &jsonSchema{root: root}
}

// resolve follows a local $ref, merging the referring node's other keywords
// (description) over the target.
func (s *jsonSchema) resolve(node map[string]any) map[string]any {
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		panic("non-local $ref " + ref)
	}
	target := s.root["$defs"].(map[string]any)[name].(map[string]any)
	out := map[string]any{}
	for k, v := range s.resolve(target) {
		out[k] = v
	}
	for k, v := range node {
		if k != "$ref" {
			out[k] = v
		}
	}
	return out
}

func typeNames(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func stringList(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// checkStruct proves node describes the Go struct rt: same members, the
// matching JSON types, required = the members without omitempty, no
// additional properties, and enums equal to the Go constants.
func (s *jsonSchema) checkStruct(t *testing.T, where string, node map[string]any, rt reflect.Type) {
	t.Helper()
	node = s.resolve(node)
	if !slices.Equal(typeNames(node["type"]), []string{"object"}) {
		t.Errorf("%s: type %v, want object", where, node["type"])
	}
	if node["additionalProperties"] != false {
		t.Errorf("%s: additionalProperties must be false", where)
	}
	props, _ := node["properties"].(map[string]any)
	var names, required []string
	for i := range rt.NumField() {
		f := rt.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
		optional := opts == "omitempty"
		if !optional {
			required = append(required, name)
		}
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s: Go field %s (%s) has no property", where, f.Name, name)
			continue
		}
		s.checkField(t, where+"."+name, s.resolve(p), f.Type, name, optional)
	}
	for name := range props {
		if !slices.Contains(names, name) {
			t.Errorf("%s: property %s is not a field of %s", where, name, rt.Name())
		}
	}
	gotRequired := stringList(node["required"])
	slices.Sort(gotRequired)
	slices.Sort(required)
	if !slices.Equal(gotRequired, required) {
		t.Errorf("%s: required %v, want the non-omitempty fields %v", where, gotRequired, required)
	}
}

func (s *jsonSchema) checkField(t *testing.T, where string, p map[string]any, ft reflect.Type, name string, optional bool) {
	t.Helper()
	types := typeNames(p["type"])
	want := func(ts ...string) {
		t.Helper()
		if !slices.Equal(types, ts) {
			t.Errorf("%s: type %v, want %v", where, types, ts)
		}
	}
	enum := func(values []string) {
		t.Helper()
		if p["enum"] == nil {
			t.Errorf("%s: no enum, want %v", where, values)
			return
		}
		if got := stringList(p["enum"]); !slices.Equal(got, values) {
			t.Errorf("%s: enum %v, want the Go constants %v", where, got, values)
		}
	}
	hasEnum := true
	switch {
	case ft == reflect.TypeFor[time.Time]():
		want("string")
		if p["format"] != "date-time" {
			t.Errorf("%s: format %v, want date-time", where, p["format"])
		}
	case ft == reflect.TypeFor[Date]():
		want("string")
		if p["format"] != "date" {
			t.Errorf("%s: format %v, want date", where, p["format"])
		}
	case ft == reflect.TypeFor[Money]():
		want("number", "string")
	case ft == reflect.TypeFor[TxnType]():
		want("string")
		enum(toStrings(TxnTypes()))
	case ft == reflect.TypeFor[SnapshotKind]():
		want("string")
		enum(toStrings(SnapshotKinds()))
	case ft == reflect.TypeFor[POStatus]():
		want("string")
		enum(toStrings(POStatuses()))
	case ft == reflect.TypeFor[PromotionStatus]():
		want("string")
		enum(toStrings(PromotionStatuses()))
	case ft.Kind() == reflect.String && name == "currency":
		want("string")
		enum(Currencies())
	case ft.Kind() == reflect.String && strings.HasSuffix(where, "tenders.type"):
		want("string")
		enum(TenderTypes())
	case ft.Kind() == reflect.String && optional:
		want("string", "null")
		hasEnum = false
	case ft.Kind() == reflect.String:
		want("string")
		hasEnum = false
	case ft.Kind() == reflect.Int || ft.Kind() == reflect.Int64:
		want("integer")
		hasEnum = false
		if name == "schema_version" {
			if c, _ := p["const"].(json.Number); c.String() != strconv.Itoa(CurrentVersion) {
				t.Errorf("%s: const %v, want %d", where, p["const"], CurrentVersion)
			}
		}
	case ft.Kind() == reflect.Float64:
		want("number")
		hasEnum = false
	case ft.Kind() == reflect.Bool:
		want("boolean")
		hasEnum = false
	case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
		want("array")
		hasEnum = false
		items, ok := p["items"].(map[string]any)
		if !ok {
			t.Errorf("%s: no items", where)
			return
		}
		s.checkStruct(t, where, items, ft.Elem())
	default:
		t.Errorf("%s: Go type %v has no JSON mapping in this test", where, ft)
	}
	if !hasEnum && p["enum"] != nil {
		t.Errorf("%s: has an enum the Go type does not define", where)
	}
}

func toStrings[T ~string](v []T) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = string(x)
	}
	return out
}

var goTypeOf = map[string]reflect.Type{
	TopicPOS:           reflect.TypeFor[POSTransaction](),
	TopicInventory:     reflect.TypeFor[InventoryRecord](),
	TopicPurchaseOrder: reflect.TypeFor[PurchaseOrderLine](),
	TopicItemLocation:  reflect.TypeFor[ItemLocation](),
	TopicPromotion:     reflect.TypeFor[Promotion](),
}

func TestJSONSchemasAreInStepWithTheGoTypes(t *testing.T) {
	for _, topic := range Topics {
		t.Run(topic, func(t *testing.T) {
			s := loadJSONSchema(t, topic)
			if !strings.HasSuffix(s.root["$id"].(string), "/"+topic+".schema.json") {
				t.Errorf("$id %v does not name the file", s.root["$id"])
			}
			s.checkStruct(t, topic, s.root, goTypeOf[topic])
		})
	}
}

// validate checks v against node, for the keywords the schemas use; it
// returns the first violation.
func (s *jsonSchema) validate(node map[string]any, v any, at string) error {
	node = s.resolve(node)
	if types := typeNames(node["type"]); types != nil {
		ok := false
		for _, ty := range types {
			ok = ok || isJSONType(v, ty)
		}
		if !ok {
			return fmt.Errorf("%s: %v is not %v", at, v, types)
		}
	}
	if c, ok := node["const"]; ok && !jsonEqual(c, v) {
		return fmt.Errorf("%s: %v is not the const %v", at, v, c)
	}
	if e, ok := node["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return jsonEqual(x, v) }) {
		return fmt.Errorf("%s: %v is not in the enum", at, v)
	}
	if n, ok := node["not"].(map[string]any); ok && s.validate(n, v, at) == nil {
		return fmt.Errorf("%s: %v matches a not", at, v)
	}
	if cond, ok := node["if"].(map[string]any); ok {
		branch := "else"
		if s.validate(cond, v, at) == nil {
			branch = "then"
		}
		if b, ok := node[branch].(map[string]any); ok {
			if err := s.validate(b, v, at); err != nil {
				return err
			}
		}
	}
	switch v := v.(type) {
	case string:
		if m, ok := node["minLength"].(json.Number); ok {
			if n, _ := m.Int64(); int64(utf8.RuneCountInString(v)) < n {
				return fmt.Errorf("%s: %q is shorter than %d", at, v, n)
			}
		}
		if p, ok := node["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			return fmt.Errorf("%s: %q does not match %s", at, v, p)
		}
	case json.Number:
		f, _ := v.Float64()
		bound := func(key string, fails func(f, b float64) bool) error {
			if b, ok := node[key].(json.Number); ok {
				bf, _ := b.Float64()
				if fails(f, bf) {
					return fmt.Errorf("%s: %v fails %s %v", at, v, key, b)
				}
			}
			return nil
		}
		for _, err := range []error{
			bound("minimum", func(f, b float64) bool { return f < b }),
			bound("maximum", func(f, b float64) bool { return f > b }),
			bound("exclusiveMinimum", func(f, b float64) bool { return f <= b }),
			bound("exclusiveMaximum", func(f, b float64) bool { return f >= b }),
		} {
			if err != nil {
				return err
			}
		}
	case []any:
		if m, ok := node["minItems"].(json.Number); ok {
			if n, _ := m.Int64(); int64(len(v)) < n {
				return fmt.Errorf("%s: fewer than %d items", at, n)
			}
		}
		if items, ok := node["items"].(map[string]any); ok {
			for i, x := range v {
				if err := s.validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		if req, ok := node["required"].([]any); ok {
			for _, r := range req {
				if _, ok := v[r.(string)]; !ok {
					return fmt.Errorf("%s: missing %s", at, r)
				}
			}
		}
		props, _ := node["properties"].(map[string]any)
		for k, x := range v {
			p, ok := props[k].(map[string]any)
			if !ok {
				if node["additionalProperties"] == false {
					return fmt.Errorf("%s: additional property %s", at, k)
				}
				continue
			}
			if err := s.validate(p, x, at+"."+k); err != nil {
				return err
			}
		}
	}
	return nil
}

func isJSONType(v any, ty string) bool {
	switch v := v.(type) {
	case nil:
		return ty == "null"
	case bool:
		return ty == "boolean"
	case string:
		return ty == "string"
	case json.Number:
		if ty == "number" {
			return true
		}
		f, err := v.Float64()
		return ty == "integer" && err == nil && f == math.Trunc(f)
	case []any:
		return ty == "array"
	case map[string]any:
		return ty == "object"
	}
	return false
}

func jsonEqual(a, b any) bool {
	if na, ok := a.(json.Number); ok {
		nb, ok := b.(json.Number)
		fa, _ := na.Float64()
		fb, _ := nb.Float64()
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func parseJSONValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func TestValidDocumentsPassTheirJSONSchema(t *testing.T) {
	all := validSamples()
	for topic, docs := range benchDocs(300) {
		for _, d := range docs[:50] {
			all[topic] = append(all[topic], json.RawMessage(d))
		}
	}
	for topic, values := range all {
		s := loadJSONSchema(t, topic)
		for _, v := range values {
			b, _ := json.Marshal(v)
			doc, err := parseJSONValue(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.validate(s.root, doc, topic); err != nil {
				t.Errorf("valid document refused by the schema: %v\n%s", err, b)
			}
		}
	}
}

func TestJSONSchemasRefuseWhatTheDecoderRefuses(t *testing.T) {
	pos := marshalString(t, samplePOS())
	ret := marshalString(t, sampleReturn())
	il := marshalString(t, sampleItemLocation())
	inv := marshalString(t, sampleInventory())
	po := marshalString(t, samplePO())
	pr := marshalString(t, samplePromotion())
	cases := []struct{ name, topic, doc string }{
		{"an unknown field", TopicPOS, strings.Replace(pos, `"currency":"EUR",`, `"currency":"EUR","cashier":"C7",`, 1)},
		{"a missing field", TopicPOS, strings.Replace(pos, `"register_id":"S012-R03",`, ``, 1)},
		{"a wrong type", TopicPOS, strings.Replace(pos, `"quantity":2,`, `"quantity":"2",`, 1)},
		{"an unknown enum value", TopicPOS, strings.Replace(pos, `"type":"sale"`, `"type":"refund"`, 1)},
		{"an unknown currency", TopicPOS, strings.Replace(pos, `"currency":"EUR"`, `"currency":"EUX"`, 1)},
		{"a negative price", TopicPOS, strings.Replace(pos, `"unit_price":0.895`, `"unit_price":-0.895`, 1)},
		{"a time without zone", TopicPOS, strings.Replace(pos, `17:42:13.25+02:00`, `17:42:13.25`, 1)},
		{"a sale with a negative quantity", TopicPOS, strings.Replace(pos, `"quantity":2,`, `"quantity":-2,`, 1)},
		{"a return with a positive quantity", TopicPOS, strings.Replace(ret, `"quantity":-1`, `"quantity":1`, 1)},
		{"a positive tender in a return", TopicPOS, strings.Replace(ret, `"amount":-2.16`, `"amount":2.16`, 1)},
		{"an unknown schema_version", TopicPOS, strings.Replace(pos, `"schema_version":1`, `"schema_version":2`, 1)},
		{"money with five decimals in a string", TopicPOS, strings.Replace(pos, `"total":26.8641`, `"total":"26.86411"`, 1)},
		{"no lines", TopicPOS, strings.Replace(pos, `"lines":[`+between(pos, `"lines":[`, `]}`)+`]`, `"lines":[]`, 1)},
		{"a service level of one", TopicItemLocation, strings.Replace(il, `"service_level":0.975`, `"service_level":1`, 1)},
		{"an empty category", TopicItemLocation, strings.Replace(il, `"category":"coffee"`, `"category":""`, 1)},
		{"negative allocated stock", TopicInventory, strings.Replace(inv, `"allocated":12`, `"allocated":-1`, 1)},
		{"an impossible date", TopicPurchaseOrder, strings.Replace(po, `"2025-06-03"`, `"2025-13-03"`, 1)},
		{"nothing ordered", TopicPurchaseOrder, strings.Replace(po, `"qty_ordered":120`, `"qty_ordered":0`, 1)},
		{"a discount of one hundred percent", TopicPromotion, strings.Replace(pr, `"discount_pct":20`, `"discount_pct":100`, 1)},
		{"a discount of zero percent", TopicPromotion, strings.Replace(pr, `"discount_pct":20`, `"discount_pct":0`, 1)},
		{"an unknown promotion status", TopicPromotion, strings.Replace(pr, `"status":"planned"`, `"status":"active"`, 1)},
		{"an empty location_id", TopicPromotion, strings.Replace(pr, `"sku":"SKU-000123",`, `"sku":"SKU-000123","location_id":"",`, 1)},
		{"a promotion without updated_at", TopicPromotion, strings.Replace(pr, `,"updated_at":"2025-06-02T09:30:00+02:00"`, ``, 1)},
		{"a promotion updated_at without a zone", TopicPromotion, strings.Replace(pr, `09:30:00+02:00`, `09:30:00`, 1)},
		{"a promotion end date that is a time", TopicPromotion, strings.Replace(pr, `"end_date":"2025-07-13"`, `"end_date":"2025-07-13T00:00:00Z"`, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Decoder
			if _, err := decodeAny(&d, c.topic, []byte(c.doc)); err == nil {
				t.Fatalf("the decoder accepts %s", c.doc)
			}
			s := loadJSONSchema(t, c.topic)
			v, err := parseJSONValue([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.validate(s.root, v, c.topic); err == nil {
				t.Errorf("the schema accepts what the decoder refuses: %s", c.doc)
			}
		})
	}
}

// TestJSONSchemasAcceptWhatTheDecoderAccepts mutates valid documents and
// checks that whatever the decoder accepts, the schema accepts too (the
// schema may only be looser, where JSON Schema cannot express a rule).
func TestJSONSchemasAcceptWhatTheDecoderAccepts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var d Decoder
	accepted := 0
	for topic, values := range validSamples() {
		s := loadJSONSchema(t, topic)
		for _, v := range values {
			b, _ := json.Marshal(v)
			for range 3000 {
				m := mutate(r, b)
				if _, err := decodeAny(&d, topic, m); err != nil {
					continue
				}
				accepted++
				doc, err := parseJSONValue(m)
				if err != nil {
					t.Fatalf("decoder accepted what encoding/json cannot parse: %q", m)
				}
				if err := s.validate(s.root, doc, topic); err != nil {
					t.Errorf("schema refuses a document the decoder accepts: %v\n%s", err, m)
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no mutated document was accepted; the test proves nothing")
	}
}

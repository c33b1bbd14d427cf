package schema

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// Fuzz targets: the seed corpora are checked in under
// testdata/fuzz/<FuzzName>/. The property: the decoder never panics; it
// refuses with a *DecodeError of a known reason, malformed_json exactly when
// the input is not well-formed JSON in UTF-8; and a document it accepts,
// re-encoded with encoding/json, decodes again to the same value (and to
// the value encoding/json reads, when encoding/json reads it).

func FuzzDecodePOS(f *testing.F)           { fuzzDecoder(f, TopicPOS) }
func FuzzDecodeInventory(f *testing.F)     { fuzzDecoder(f, TopicInventory) }
func FuzzDecodePurchaseOrder(f *testing.F) { fuzzDecoder(f, TopicPurchaseOrder) }
func FuzzDecodeItemLocation(f *testing.F)  { fuzzDecoder(f, TopicItemLocation) }
func FuzzDecodePromotion(f *testing.F)     { fuzzDecoder(f, TopicPromotion) }

func fuzzDecoder(f *testing.F, topic string) {
	for _, v := range validSamples()[topic] {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		v, err := decodeAny(&d, topic, b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !slices.Contains(Reasons(), de.Reason) || de.Msg == "" {
				t.Fatalf("error %#v is not a *DecodeError with a known reason", err)
			}
			if (de.Reason == ReasonMalformedJSON) == wellFormed(b) {
				t.Fatalf("reason %s but well-formed=%v: %v", de.Reason, wellFormed(b), err)
			}
			return
		}
		if !wellFormed(b) {
			t.Fatalf("accepted a malformed document")
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted value does not re-encode: %v", err)
		}
		v2, err := decodeAny(&d, topic, again)
		if err != nil {
			t.Fatalf("re-encoded document %s refused: %v", again, err)
		}
		if !sameValue(v, v2) {
			t.Fatalf("round trip changed the value:\n%+v\n%+v", v, v2)
		}
		ref := newOf(topic)
		if json.Unmarshal(b, ref) == nil && !sameValue(v, derefValue(ref)) {
			t.Fatalf("encoding/json reads %+v, we read %+v", derefValue(ref), v)
		}
	})
}

func derefValue(p any) any {
	switch p := p.(type) {
	case *POSTransaction:
		return *p
	case *InventoryRecord:
		return *p
	case *PurchaseOrderLine:
		return *p
	case *ItemLocation:
		return *p
	case *Promotion:
		return *p
	}
	panic("unknown type")
}

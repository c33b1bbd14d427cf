package schema

import (
	"os"
	"regexp"
	"testing"
)

// TestReadmeSamplesDecode keeps the event samples in README.md true: each one
// must pass the strict decoder of its stream.
func TestReadmeSamplesDecode(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)`([a-z_.]+)` \\(key: [^\n]*\n\n```json\n(.*?)```").FindAllSubmatch(b, -1)
	decoders := map[string]func([]byte) error{
		TopicPOS:           func(b []byte) error { _, err := DecodePOS(b); return err },
		TopicInventory:     func(b []byte) error { _, err := DecodeInventory(b); return err },
		TopicPurchaseOrder: func(b []byte) error { _, err := DecodePurchaseOrder(b); return err },
		TopicItemLocation:  func(b []byte) error { _, err := DecodeItemLocation(b); return err },
		TopicPromotion:     func(b []byte) error { _, err := DecodePromotion(b); return err },
	}
	seen := map[string]bool{}
	for _, m := range blocks {
		topic, doc := string(m[1]), m[2]
		dec, ok := decoders[topic]
		if !ok {
			t.Errorf("README sample for unknown stream %q", topic)
			continue
		}
		seen[topic] = true
		if err := dec(doc); err != nil {
			t.Errorf("README sample of %s does not decode: %v", topic, err)
		}
	}
	for _, topic := range Topics {
		if !seen[topic] {
			t.Errorf("README has no sample of %s", topic)
		}
	}
}

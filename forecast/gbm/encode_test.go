package gbm

import (
	"testing"
)

func TestEncodedModelPredictsBitForBit(t *testing.T) {
	X, y, off, _ := synth(5000, 3, true)
	m, err := Train(X, y, off, Options{Seed: 1, Trees: 20})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Model
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got.Trees() != m.Trees() || got.Features() != m.Features() {
		t.Fatalf("decoded %d trees × %d features, want %d × %d", got.Trees(), got.Features(), m.Trees(), m.Features())
	}
	buf := make([]float32, len(X))
	for i := range y {
		x := row(X, i, buf)
		if a, b := m.Predict(x, float64(off[i])), got.Predict(x, float64(off[i])); a != b {
			t.Fatalf("row %d: %v after decoding, %v before", i, b, a)
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	X, y, off, _ := synth(500, 4, true)
	m, err := Train(X, y, off, Options{Seed: 1, Trees: 3})
	if err != nil {
		f.Fatal(err)
	}
	b, _ := m.MarshalBinary()
	f.Add(b)
	f.Add([]byte("GBM1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Model
		if m.UnmarshalBinary(b) != nil {
			return
		}
		// A model that decodes predicts without panicking.
		x := make([]float32, m.Features())
		_ = m.Predict(x, 0)
	})
}

package gbm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The binary form of a Model, little-endian: the magic "GBM1", the base
// score (float64 bits), the feature count and tree count (uint32), then per
// tree its node count (uint32) and nodes (feature int32, cut float32 bits,
// left int32). Decoding gives back a model whose every prediction is
// bit-identical to the original's.
const encodeMagic = "GBM1"

// MarshalBinary encodes m (see encodeMagic).
func (m *Model) MarshalBinary() ([]byte, error) {
	n := 4 + 8 + 4 + 4
	for _, t := range m.trees {
		n += 4 + 12*len(t)
	}
	b := make([]byte, 0, n)
	b = append(b, encodeMagic...)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.Base))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.nfeat))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.trees)))
	for _, t := range m.trees {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t)))
		for _, f := range t {
			b = binary.LittleEndian.AppendUint32(b, uint32(f.feature))
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f.cut))
			b = binary.LittleEndian.AppendUint32(b, uint32(f.left))
		}
	}
	return b, nil
}

// UnmarshalBinary decodes a model MarshalBinary encoded, checking that
// every split names a feature of the model and children inside its tree.
func (m *Model) UnmarshalBinary(b []byte) error {
	if len(b) < 20 || string(b[:4]) != encodeMagic {
		return errors.New("gbm model: not an encoded model (magic GBM1 missing): retrain it")
	}
	off := 4
	u32 := func() (uint32, error) {
		if off+4 > len(b) {
			return 0, fmt.Errorf("gbm model: truncated at byte %d of %d", off, len(b))
		}
		v := binary.LittleEndian.Uint32(b[off:])
		off += 4
		return v, nil
	}
	base := math.Float64frombits(binary.LittleEndian.Uint64(b[off:]))
	off += 8
	nfeat, _ := u32()
	ntrees, _ := u32()
	if nfeat == 0 || nfeat > 1<<16 || math.IsNaN(base) || math.IsInf(base, 0) {
		return fmt.Errorf("gbm model: %d features, base %g: corrupt", nfeat, base)
	}
	if uint64(ntrees) > uint64(len(b)) {
		return fmt.Errorf("gbm model: %d trees in %d bytes: corrupt", ntrees, len(b))
	}
	trees := make([][]flat, 0, ntrees)
	for k := range ntrees {
		nn, err := u32()
		if err != nil {
			return err
		}
		if nn == 0 || uint64(nn)*12 > uint64(len(b)-off) {
			return fmt.Errorf("gbm model: tree %d: %d nodes in %d bytes left: corrupt", k, nn, len(b)-off)
		}
		t := make([]flat, nn)
		for i := range t {
			f, _ := u32()
			c, _ := u32()
			l, _ := u32()
			t[i] = flat{feature: int32(f), cut: math.Float32frombits(c), left: int32(l)}
			if t[i].feature >= int32(nfeat) || t[i].feature >= 0 && (t[i].left <= int32(i) || int(t[i].left)+1 >= len(t)) {
				return fmt.Errorf("gbm model: tree %d node %d: feature %d, children at %d: corrupt", k, i, t[i].feature, t[i].left)
			}
		}
		trees = append(trees, t)
	}
	if off != len(b) {
		return fmt.Errorf("gbm model: %d bytes after the last tree: corrupt", len(b)-off)
	}
	*m = Model{Base: base, trees: trees, nfeat: int(nfeat)}
	return nil
}

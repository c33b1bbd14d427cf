package compact

import (
	"encoding/binary"
	"errors"
)

// A minimal reader of the Thrift compact protocol, enough to decode the
// fields of a Parquet footer and page headers that flatDecoder needs and
// skip every other field. parquet-go's reflective Thrift decoder builds the
// whole FileMetaData (statistics, encodings, key/value metadata) of each
// file; for ingest's small files that is a good part of the cost of reading
// one.

// Thrift compact protocol type ids.
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
)

// errThrift reports a malformed (or unsupported) Thrift structure.
var errThrift = errors.New("malformed thrift")

// maxThriftDepth bounds the nesting skip follows.
const maxThriftDepth = 32

// thriftReader reads b from pos. The first error sticks in err; after it
// every read returns zero values, so decoding loops end.
type thriftReader struct {
	b   []byte
	pos int
	err error
}

func (r *thriftReader) fail() {
	if r.err == nil {
		r.err = errThrift
	}
	r.pos = len(r.b)
}

func (r *thriftReader) readByte() byte {
	if r.pos >= len(r.b) {
		r.fail()
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *thriftReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.pos += n
	return v
}

// varint reads a zigzag varint (i16, i32, i64).
func (r *thriftReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *thriftReader) i32() int32 { return int32(r.varint()) }

// binary returns the next binary (or string) field's bytes, aliasing b.
func (r *thriftReader) binary() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.pos) {
		r.fail()
		return nil
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s
}

// field reads the next field header of a struct whose previous field id
// was *last; ok is false at the struct's end (or on error).
func (r *thriftReader) field(last *int16) (id int16, typ byte, ok bool) {
	h := r.readByte()
	if r.err != nil || h == tStop {
		return 0, 0, false
	}
	typ = h & 0x0f
	if d := h >> 4; d != 0 {
		id = *last + int16(d)
	} else {
		id = int16(r.varint())
	}
	*last = id
	return id, typ, r.err == nil
}

// list reads a list (or set) header: the element type and count.
func (r *thriftReader) list() (elem byte, n int) {
	h := r.readByte()
	elem = h & 0x0f
	size := uint64(h >> 4)
	if size == 15 {
		size = r.uvarint()
	}
	// Every element takes at least one byte: a larger count is corrupt.
	if size > uint64(len(r.b)-r.pos) {
		r.fail()
		return 0, 0
	}
	return elem, int(size)
}

// boolean reads a bool field's value from its type id.
func (r *thriftReader) boolean(typ byte) bool { return typ == tTrue }

// skip skips a value of type typ.
func (r *thriftReader) skip(typ byte, depth int) {
	if depth > maxThriftDepth {
		r.fail()
		return
	}
	switch typ {
	case tTrue, tFalse:
	case tByte:
		r.readByte()
	case tI16, tI32, tI64:
		r.uvarint()
	case tDouble:
		if len(r.b)-r.pos < 8 {
			r.fail()
			return
		}
		r.pos += 8
	case tBinary:
		r.binary()
	case tList, tSet:
		elem, n := r.list()
		for i := 0; i < n && r.err == nil; i++ {
			r.skipElem(elem, depth+1)
		}
	case tMap:
		n := r.uvarint()
		if n == 0 {
			return
		}
		if n > uint64(len(r.b)-r.pos) {
			r.fail()
			return
		}
		kv := r.readByte()
		for i := uint64(0); i < n && r.err == nil; i++ {
			r.skipElem(kv>>4, depth+1)
			r.skipElem(kv&0x0f, depth+1)
		}
	case tStruct:
		var last int16
		for {
			_, t, ok := r.field(&last)
			if !ok {
				return
			}
			r.skip(t, depth+1)
		}
	default:
		r.fail()
	}
}

// skipElem skips a list, set or map element: unlike a field, a bool
// element takes one byte.
func (r *thriftReader) skipElem(typ byte, depth int) {
	if typ == tTrue || typ == tFalse {
		r.readByte()
		return
	}
	r.skip(typ, depth)
}

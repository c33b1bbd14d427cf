package compact

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/format"
)

// flatDecoder decodes a whole small Parquet file held in memory into rows of
// a flat row type T (every column a top-level struct field of a string,
// integer, bool, float64 or time.Time: every raw table's row type but
// rejects', whose []byte columns take parquet-go's path), column by column.
//
// parquet-go's GenericReader costs ~0.2 ms of CPU per file whatever its
// size: it decodes the whole footer (statistics included) with reflection,
// builds a schema, a conversion to T's schema and buffers for every column,
// then rebuilds each row through parquet.Row values. Ingest's files hold a
// few rows each, so compaction spent most of its time there. This decoder
// reads only the footer fields it needs, decodes each column chunk's pages
// (parquet-go's codecs and encodings) and stores the values straight into
// the rows' fields, reusing its buffers from file to file.
//
// It handles what lake writes (data pages v1, PLAIN, dictionary and delta
// encodings, flat required or optional columns). On anything else —
// another layout, an encoding it does not know, a type that differs from
// T's schema, a corrupt file — decode returns an error and the caller reads
// the file with parquet-go instead, which gives the same rows or reports
// the problem. Not safe for concurrent use.
type flatDecoder[T any] struct {
	// byName maps a column name to T's field.
	byName map[string]*flatField

	// Per file, reused.
	schema []schemaElem
	groups []rowGroupMeta
	cols   []*flatField // file leaf column → T's field (nil: not in T)

	// Per page, reused.
	page   []byte
	levels []byte
	idx    []int32
	bytes  []byte
	offs   []uint32
	i32    []int32
	i64    []int64
	f64    []float64
	bools  []bool
	strs   []string

	// The current column chunk's dictionary.
	dictStr  []string
	dictI32  []int32
	dictI64  []int64
	dictF64  []float64
	dictSize int
	hasDict  bool
}

// flatField is one field of T and what its column must be.
type flatField struct {
	kind   flatKind
	offset uintptr
	phys   format.Type
	// tsUnit is the nanoseconds per unit of a timestamp column.
	tsUnit int64
	// Decimal columns: scale and precision.
	decimal          bool
	scale, precision int32
}

type flatKind uint8

const (
	flatString flatKind = iota
	flatInt32
	flatInt64
	flatBool
	flatFloat64
	flatTime
)

// errNotFlat: the file has something flatDecoder does not handle.
var errNotFlat = errors.New("not a flat file flatDecoder handles")

var timeType = reflect.TypeFor[time.Time]()

// newFlatDecoder returns a decoder of T, or nil when T is not a flat row
// type it handles.
func newFlatDecoder[T any]() (d *flatDecoder[T]) {
	rt := reflect.TypeFor[T]()
	if rt.Kind() != reflect.Struct {
		return nil
	}
	defer func() { // parquet-go panics on a Go type it cannot map
		if recover() != nil {
			d = nil
		}
	}()
	sch := parquet.SchemaOf(reflect.New(rt).Interface())
	nodes := map[string]parquet.Field{}
	for _, f := range sch.Fields() {
		if !f.Leaf() || f.Repeated() {
			return nil
		}
		nodes[f.Name()] = f
	}
	d = &flatDecoder[T]{byName: map[string]*flatField{}}
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		tag, hasTag := sf.Tag.Lookup("parquet")
		if !sf.IsExported() {
			continue
		}
		if sf.Anonymous {
			return nil
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if !hasTag || name == "" {
			name = sf.Name
		}
		node, ok := nodes[name]
		if !ok {
			return nil
		}
		f, ok := flatFieldOf(sf.Type, node.Type())
		if !ok {
			return nil
		}
		f.offset = sf.Offset
		d.byName[name] = &f
	}
	if len(d.byName) != len(nodes) {
		return nil
	}
	return d
}

// flatFieldOf matches a Go field type with its column type in T's schema.
func flatFieldOf(gt reflect.Type, pt parquet.Type) (flatField, bool) {
	var (
		f     flatField
		ts    *format.TimestampType
		dec   *format.DecimalType
		isTS  bool
		isDec bool
	)
	if lt := pt.LogicalType(); lt != nil {
		ts, isTS = lt.Value.(*format.TimestampType)
		dec, isDec = lt.Value.(*format.DecimalType)
	}
	switch {
	case gt == timeType:
		if pt.Kind() != parquet.Int64 || !isTS || ts.Unit.Value == nil {
			return f, false
		}
		f.kind, f.phys, f.tsUnit = flatTime, format.Int64, int64(ts.Unit.Value.Duration())
		if f.tsUnit <= 0 {
			return f, false
		}
		return f, true
	case isTS:
		return f, false // an integer timestamp: leave it to parquet-go
	case gt.Kind() == reflect.String && pt.Kind() == parquet.ByteArray:
		f.kind, f.phys = flatString, format.ByteArray
	case gt.Kind() == reflect.Int32 && pt.Kind() == parquet.Int32:
		f.kind, f.phys = flatInt32, format.Int32
	case gt.Kind() == reflect.Int64 && pt.Kind() == parquet.Int64:
		f.kind, f.phys = flatInt64, format.Int64
	case gt.Kind() == reflect.Bool && pt.Kind() == parquet.Boolean:
		f.kind, f.phys = flatBool, format.Boolean
	case gt.Kind() == reflect.Float64 && pt.Kind() == parquet.Double:
		f.kind, f.phys = flatFloat64, format.Double
	default:
		return f, false
	}
	if isDec {
		f.decimal, f.scale, f.precision = true, dec.Scale, dec.Precision
	}
	return f, true
}

// schemaElem is what the decoder keeps of a footer's SchemaElement.
type schemaElem struct {
	name        []byte
	phys        format.Type
	hasPhys     bool
	rep         format.FieldRepetitionType
	numChildren int32
	scale       int32
	precision   int32
	// tsUnit: nanoseconds per unit of a TIMESTAMP logical type, else 0.
	tsUnit int64
	// decimal: the element has a DECIMAL logical type.
	decimal bool
	seen    fieldSet
}

// rowGroupMeta is what the decoder keeps of a row group.
type rowGroupMeta struct {
	numRows int64
	cols    []chunkMeta
	seen    fieldSet
}

// chunkMeta is what the decoder keeps of a column chunk.
type chunkMeta struct {
	phys      format.Type
	codec     format.CompressionCodec
	numValues int64
	compSize  int64
	dataOff   int64
	dictOff   int64
	path      []byte // the single element of path_in_schema
	paths     int    // elements of path_in_schema
	external  bool   // file_path set, or encrypted
	seen      fieldSet
}

// decode returns the rows of the Parquet file data, or an error (the caller
// then reads the file with parquet-go).
func (d *flatDecoder[T]) decode(data []byte) (rows []T, err error) {
	defer func() { // a corrupt file must not take the process down
		if r := recover(); r != nil {
			rows, err = nil, fmt.Errorf("%w: %v", errNotFlat, r)
		}
	}()
	n := len(data)
	if n < 12 || string(data[:4]) != "PAR1" || string(data[n-4:]) != "PAR1" {
		return nil, errNotFlat
	}
	flen := int(binary.LittleEndian.Uint32(data[n-8:]))
	if flen <= 0 || flen > n-12 {
		return nil, errNotFlat
	}
	footerAt := n - 8 - flen
	numRows, err := d.readFooter(data[footerAt : n-8])
	if err != nil {
		return nil, err
	}
	if err := d.mapColumns(); err != nil {
		return nil, err
	}
	// The count sizes an allocation: more than 8 rows per byte of pages is
	// left to parquet-go (a corrupt footer, or long runs of repeated
	// values, which it reads as well).
	if numRows < 0 || numRows > 8*int64(footerAt) {
		return nil, errNotFlat
	}
	rows = make([]T, numRows)
	var at int64
	for g := range d.groups {
		rg := &d.groups[g]
		if rg.numRows < 0 || at+rg.numRows > numRows || len(rg.cols) != len(d.cols) {
			return nil, errNotFlat
		}
		part := rows[at : at+rg.numRows]
		for c := range rg.cols {
			f := d.cols[c]
			if f == nil {
				continue
			}
			if err := d.decodeChunk(data[:footerAt], &rg.cols[c], c, f, part); err != nil {
				return nil, err
			}
		}
		at += rg.numRows
	}
	if at != numRows {
		return nil, errNotFlat
	}
	return rows, nil
}

// mapColumns matches the file's leaf columns to T's fields by name and
// checks their types.
func (d *flatDecoder[T]) mapColumns() error {
	if len(d.schema) == 0 || int(d.schema[0].numChildren) != len(d.schema)-1 {
		return errNotFlat
	}
	d.cols = d.cols[:0]
	for i := 1; i < len(d.schema); i++ {
		e := &d.schema[i]
		if e.numChildren > 0 || !e.hasPhys || e.rep == format.Repeated {
			return errNotFlat
		}
		f := d.byName[string(e.name)]
		if f != nil {
			if e.phys != f.phys || e.tsUnit != f.tsUnit || e.decimal != f.decimal ||
				(f.decimal && (e.scale != f.scale || e.precision != f.precision)) {
				return errNotFlat
			}
		}
		d.cols = append(d.cols, f)
	}
	for g := range d.groups {
		for c := range d.groups[g].cols {
			cm := &d.groups[g].cols[c]
			if c >= len(d.cols) || cm.external || cm.paths != 1 ||
				!bytes.Equal(cm.path, d.schema[c+1].name) || cm.phys != d.schema[c+1].phys {
				return errNotFlat
			}
		}
	}
	return nil
}

// optional reports whether file column c is optional.
func (d *flatDecoder[T]) optional(c int) bool { return d.schema[c+1].rep == format.Optional }

// decodeChunk decodes one column chunk into the field f of rows.
func (d *flatDecoder[T]) decodeChunk(data []byte, cm *chunkMeta, c int, f *flatField, rows []T) error {
	start := cm.dataOff
	if cm.dictOff > 0 && cm.dictOff < start {
		start = cm.dictOff
	}
	end := start + cm.compSize
	if start < 4 || cm.compSize <= 0 || end > int64(len(data)) || cm.numValues != int64(len(rows)) {
		return errNotFlat
	}
	optional := d.optional(c)
	d.hasDict = false
	chunk := data[start:end]
	row := 0
	for len(chunk) > 0 {
		ph, hlen, err := readPageHeader(chunk)
		if err != nil {
			return err
		}
		if ph.compSize < 0 || ph.uncompSize < 0 || int64(ph.compSize) > int64(len(chunk)-hlen) {
			return errNotFlat
		}
		payload := chunk[hlen : hlen+int(ph.compSize)]
		chunk = chunk[hlen+int(ph.compSize):]
		switch ph.typ {
		case format.DictionaryPage:
			if d.hasDict || row > 0 {
				return errNotFlat
			}
			page, err := d.decompress(cm.codec, payload, ph.uncompSize)
			if err != nil {
				return err
			}
			if err := d.readDictionary(page, f, ph); err != nil {
				return err
			}
		case format.DataPage:
			if !ph.hasData || ph.numValues < 0 || row+int(ph.numValues) > len(rows) {
				return errNotFlat
			}
			page, err := d.decompress(cm.codec, payload, ph.uncompSize)
			if err != nil {
				return err
			}
			if err := d.readDataPage(page, f, optional, ph, rows[row:row+int(ph.numValues)]); err != nil {
				return err
			}
			row += int(ph.numValues)
		default:
			return errNotFlat // data page v2, index page
		}
	}
	if row != len(rows) {
		return errNotFlat
	}
	return nil
}

func (d *flatDecoder[T]) decompress(codec format.CompressionCodec, src []byte, size int32) ([]byte, error) {
	if codec == format.Uncompressed {
		if int(size) != len(src) {
			return nil, errNotFlat
		}
		return src, nil
	}
	out, err := parquet.LookupCompressionCodec(codec).Decode(d.page[:0], src)
	if err != nil {
		return nil, err
	}
	d.page = out
	if len(out) != int(size) {
		return nil, errNotFlat
	}
	return out, nil
}

// readDictionary decodes a dictionary page (PLAIN values).
func (d *flatDecoder[T]) readDictionary(page []byte, f *flatField, ph pageHeader) error {
	if ph.dictEncoding != format.Plain && ph.dictEncoding != format.PlainDictionary {
		return errNotFlat
	}
	n := int(ph.dictValues)
	if n < 0 || n > len(page)+1 {
		return errNotFlat
	}
	var err error
	switch f.phys {
	case format.ByteArray:
		d.dictStr, err = plainStrings(d.dictStr[:0], page, n)
	case format.Int32:
		d.dictI32, err = plainInt32(d.dictI32[:0], page, n)
	case format.Int64:
		d.dictI64, err = plainInt64(d.dictI64[:0], page, n)
	case format.Double:
		d.dictF64, err = plainDouble(d.dictF64[:0], page, n)
	default:
		return errNotFlat
	}
	if err != nil {
		return err
	}
	d.dictSize, d.hasDict = n, true
	return nil
}

// readDataPage decodes a data page v1 into f of rows (one value per row).
func (d *flatDecoder[T]) readDataPage(page []byte, f *flatField, optional bool, ph pageHeader, rows []T) error {
	n := len(rows)
	present := n
	var levels []byte
	if optional {
		if ph.defEncoding != format.RLE || len(page) < 4 {
			return errNotFlat
		}
		ln := int(binary.LittleEndian.Uint32(page))
		if ln > len(page)-4 {
			return errNotFlat
		}
		enc := rle.Encoding{BitWidth: 1}
		lv, err := enc.DecodeLevels(d.levels[:0], page[4:4+ln])
		if err != nil {
			return err
		}
		d.levels = lv
		if len(lv) < n {
			return errNotFlat
		}
		levels = lv[:n]
		page = page[4+ln:]
		present = 0
		for _, l := range levels {
			if l > 1 {
				return errNotFlat
			}
			present += int(l)
		}
	}
	if err := d.values(page, f, ph.encoding, present); err != nil {
		return err
	}
	d.assign(f, levels, rows)
	return nil
}

// values decodes the present values of a page into the buffer of f's kind
// (d.strs, d.i32, d.i64, d.f64 or d.bools).
func (d *flatDecoder[T]) values(page []byte, f *flatField, enc format.Encoding, n int) error {
	if enc == format.RLEDictionary || enc == format.PlainDictionary {
		return d.dictValues(page, f, n)
	}
	var err error
	switch f.phys {
	case format.ByteArray:
		if enc == format.Plain {
			d.strs, err = plainStrings(d.strs[:0], page, n)
			return err
		}
		e := parquet.LookupEncoding(enc)
		d.bytes, d.offs, err = e.DecodeByteArray(d.bytes[:0], page, d.offs[:0])
		if err != nil {
			return err
		}
		if len(d.offs) != n+1 {
			return errNotFlat
		}
		s := string(d.bytes)
		d.strs = d.strs[:0]
		for i := range n {
			a, b := d.offs[i], d.offs[i+1]
			if a > b || int(b) > len(s) {
				return errNotFlat
			}
			d.strs = append(d.strs, s[a:b])
		}
	case format.Int32:
		if enc == format.Plain {
			d.i32, err = plainInt32(d.i32[:0], page, n)
			return err
		}
		d.i32, err = parquet.LookupEncoding(enc).DecodeInt32(d.i32[:0], page)
		if err == nil && len(d.i32) != n {
			err = errNotFlat
		}
	case format.Int64:
		if enc == format.Plain {
			d.i64, err = plainInt64(d.i64[:0], page, n)
			return err
		}
		d.i64, err = parquet.LookupEncoding(enc).DecodeInt64(d.i64[:0], page)
		if err == nil && len(d.i64) != n {
			err = errNotFlat
		}
	case format.Double:
		if enc != format.Plain {
			return errNotFlat
		}
		d.f64, err = plainDouble(d.f64[:0], page, n)
	case format.Boolean:
		if enc != format.Plain || len(page)*8 < n {
			return errNotFlat
		}
		d.bools = d.bools[:0]
		for i := range n {
			d.bools = append(d.bools, page[i>>3]>>(i&7)&1 == 1)
		}
	default:
		return errNotFlat
	}
	return err
}

// dictValues looks up a page's dictionary indexes.
func (d *flatDecoder[T]) dictValues(page []byte, f *flatField, n int) error {
	if !d.hasDict {
		return errNotFlat
	}
	var enc rle.DictionaryEncoding
	idx, err := enc.DecodeInt32(d.idx[:0], page)
	if err != nil {
		return err
	}
	d.idx = idx
	if len(idx) < n {
		return errNotFlat
	}
	idx = idx[:n]
	for _, i := range idx {
		if i < 0 || int(i) >= d.dictSize {
			return errNotFlat
		}
	}
	switch f.phys {
	case format.ByteArray:
		d.strs = d.strs[:0]
		for _, i := range idx {
			d.strs = append(d.strs, d.dictStr[i])
		}
	case format.Int32:
		d.i32 = d.i32[:0]
		for _, i := range idx {
			d.i32 = append(d.i32, d.dictI32[i])
		}
	case format.Int64:
		d.i64 = d.i64[:0]
		for _, i := range idx {
			d.i64 = append(d.i64, d.dictI64[i])
		}
	case format.Double:
		d.f64 = d.f64[:0]
		for _, i := range idx {
			d.f64 = append(d.f64, d.dictF64[i])
		}
	default:
		return errNotFlat
	}
	return nil
}

// assign stores the decoded values into f of rows: row i gets the next
// value when levels is nil or levels[i] is 1, and keeps its zero value (a
// null) otherwise.
func (d *flatDecoder[T]) assign(f *flatField, levels []byte, rows []T) {
	j := 0
	for i := range rows {
		if levels != nil && levels[i] == 0 {
			continue
		}
		p := unsafe.Add(unsafe.Pointer(&rows[i]), f.offset)
		switch f.kind {
		case flatString:
			*(*string)(p) = d.strs[j]
		case flatInt32:
			*(*int32)(p) = d.i32[j]
		case flatInt64:
			*(*int64)(p) = d.i64[j]
		case flatBool:
			*(*bool)(p) = d.bools[j]
		case flatFloat64:
			*(*float64)(p) = d.f64[j]
		case flatTime:
			// As parquet-go's timestamp AssignValue does.
			*(*time.Time)(p) = time.Unix(0, d.i64[j]*f.tsUnit).UTC()
		}
		j++
	}
}

// plainStrings decodes n PLAIN byte arrays (a 4-byte length before each)
// into strings sharing one allocation.
func plainStrings(dst []string, page []byte, n int) ([]string, error) {
	s := string(page)
	pos := 0
	for range n {
		if len(s)-pos < 4 {
			return dst, errNotFlat
		}
		l := int(binary.LittleEndian.Uint32(page[pos:]))
		pos += 4
		if l < 0 || l > len(s)-pos {
			return dst, errNotFlat
		}
		dst = append(dst, s[pos:pos+l])
		pos += l
	}
	return dst, nil
}

func plainInt32(dst []int32, page []byte, n int) ([]int32, error) {
	if len(page) < 4*n {
		return dst, errNotFlat
	}
	for i := range n {
		dst = append(dst, int32(binary.LittleEndian.Uint32(page[4*i:])))
	}
	return dst, nil
}

func plainInt64(dst []int64, page []byte, n int) ([]int64, error) {
	if len(page) < 8*n {
		return dst, errNotFlat
	}
	for i := range n {
		dst = append(dst, int64(binary.LittleEndian.Uint64(page[8*i:])))
	}
	return dst, nil
}

func plainDouble(dst []float64, page []byte, n int) ([]float64, error) {
	if len(page) < 8*n {
		return dst, errNotFlat
	}
	for i := range n {
		dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(page[8*i:])))
	}
	return dst, nil
}

// readFooter decodes the FileMetaData fields the decoder uses into d.schema
// and d.groups, returning the file's row count.
func (d *flatDecoder[T]) readFooter(b []byte) (numRows int64, err error) {
	r := thriftReader{b: b}
	d.schema = d.schema[:0]
	d.groups = d.groups[:0]
	var last int16
	var seen fieldSet
	for {
		id, typ, ok := r.field(&last)
		if !ok {
			break
		}
		switch {
		case id == 2 && typ == tList:
			seen.add(id)
			elem, n := r.list()
			if elem != tStruct {
				return 0, errNotFlat
			}
			for i := 0; i < n && r.err == nil; i++ {
				d.schema = append(d.schema, readSchemaElem(&r))
			}
		case id == 3 && typ == tI64:
			seen.add(id)
			numRows = r.varint()
		case id == 4 && typ == tList:
			seen.add(id)
			elem, n := r.list()
			if elem != tStruct {
				return 0, errNotFlat
			}
			for i := 0; i < n && r.err == nil; i++ {
				d.readRowGroup(&r)
			}
		case id == 8: // encryption_algorithm
			return 0, errNotFlat
		default:
			r.skip(typ, 0)
		}
	}
	if r.err != nil {
		return 0, fmt.Errorf("footer: %w", r.err)
	}
	// The fields Thrift requires, in the footer and the structures in it.
	if !seen.has(2, 3, 4) {
		return 0, errNotFlat
	}
	for i := range d.schema {
		if !d.schema[i].seen.has(4) {
			return 0, errNotFlat
		}
	}
	for g := range d.groups {
		if !d.groups[g].seen.has(1, 3) {
			return 0, errNotFlat
		}
		for c := range d.groups[g].cols {
			if !d.groups[g].cols[c].seen.has(1, 3, 4, 5, 7, 9) {
				return 0, errNotFlat
			}
		}
	}
	return numRows, nil
}

func readSchemaElem(r *thriftReader) schemaElem {
	var e schemaElem
	var last int16
	for {
		id, typ, ok := r.field(&last)
		if !ok {
			return e
		}
		switch {
		case id == 1 && typ == tI32:
			e.phys, e.hasPhys = format.Type(r.i32()), true
		case id == 3 && typ == tI32:
			e.rep = format.FieldRepetitionType(r.i32())
		case id == 4 && typ == tBinary:
			e.seen.add(id)
			e.name = r.binary()
		case id == 5 && typ == tI32:
			e.numChildren = r.i32()
		case id == 7 && typ == tI32:
			e.scale = r.i32()
		case id == 8 && typ == tI32:
			e.precision = r.i32()
		case id == 10 && typ == tStruct:
			readLogicalType(r, &e)
		default:
			r.skip(typ, 0)
		}
	}
}

// readLogicalType notes a TIMESTAMP's unit and a DECIMAL's presence (its
// scale and precision are the element's own fields too).
func readLogicalType(r *thriftReader, e *schemaElem) {
	var last int16
	for {
		id, typ, ok := r.field(&last)
		if !ok {
			return
		}
		switch {
		case id == 5 && typ == tStruct: // DECIMAL
			e.decimal = true
			r.skip(typ, 0)
		case id == 8 && typ == tStruct: // TIMESTAMP
			var tl int16
			for {
				tid, tt, ok := r.field(&tl)
				if !ok {
					break
				}
				if tid == 2 && tt == tStruct { // unit: a union of empty structs
					var ul int16
					for {
						uid, ut, ok := r.field(&ul)
						if !ok {
							break
						}
						switch uid {
						case 1:
							e.tsUnit = int64(time.Millisecond)
						case 2:
							e.tsUnit = int64(time.Microsecond)
						case 3:
							e.tsUnit = 1
						}
						r.skip(ut, 0)
					}
					continue
				}
				r.skip(tt, 0)
			}
		default:
			r.skip(typ, 0)
		}
	}
}

func (d *flatDecoder[T]) readRowGroup(r *thriftReader) {
	// Reuse the row group (and its column slice) of an earlier file.
	if len(d.groups) < cap(d.groups) {
		d.groups = d.groups[:len(d.groups)+1]
		g := &d.groups[len(d.groups)-1]
		*g = rowGroupMeta{cols: g.cols[:0]}
	} else {
		d.groups = append(d.groups, rowGroupMeta{})
	}
	g := &d.groups[len(d.groups)-1]
	var last int16
	for {
		id, typ, ok := r.field(&last)
		if !ok {
			return
		}
		switch {
		case id == 1 && typ == tList:
			g.seen.add(id)
			elem, n := r.list()
			if elem != tStruct {
				r.fail()
				return
			}
			for i := 0; i < n && r.err == nil; i++ {
				g.cols = append(g.cols, readColumnChunk(r))
			}
		case id == 3 && typ == tI64:
			g.seen.add(id)
			g.numRows = r.varint()
		default:
			r.skip(typ, 0)
		}
	}
}

func readColumnChunk(r *thriftReader) chunkMeta {
	var cm chunkMeta
	var last int16
	for {
		id, typ, ok := r.field(&last)
		if !ok {
			return cm
		}
		switch {
		case id == 1 || id == 8 || id == 9: // file_path, crypto metadata
			cm.external = true
			r.skip(typ, 0)
		case id == 3 && typ == tStruct:
			readColumnMeta(r, &cm)
		default:
			r.skip(typ, 0)
		}
	}
}

func readColumnMeta(r *thriftReader, cm *chunkMeta) {
	var last int16
	for {
		id, typ, ok := r.field(&last)
		if !ok {
			return
		}
		switch id {
		case 1, 3, 4, 5, 7, 9, 11:
			cm.seen.add(id)
		}
		switch {
		case id == 1 && typ == tI32:
			cm.phys = format.Type(r.i32())
		case id == 3 && typ == tList:
			elem, n := r.list()
			if elem != tBinary {
				r.fail()
				return
			}
			cm.paths = n
			for i := 0; i < n && r.err == nil; i++ {
				cm.path = r.binary()
			}
		case id == 4 && typ == tI32:
			cm.codec = format.CompressionCodec(r.i32())
		case id == 5 && typ == tI64:
			cm.numValues = r.varint()
		case id == 7 && typ == tI64:
			cm.compSize = r.varint()
		case id == 9 && typ == tI64:
			cm.dataOff = r.varint()
		case id == 11 && typ == tI64:
			cm.dictOff = r.varint()
		default:
			r.skip(typ, 0)
		}
	}
}

// pageHeader is what the decoder keeps of a PageHeader.
type pageHeader struct {
	typ          format.PageType
	uncompSize   int32
	compSize     int32
	hasData      bool
	numValues    int32
	encoding     format.Encoding
	defEncoding  format.Encoding
	dictValues   int32
	dictEncoding format.Encoding
}

// readPageHeader decodes the page header at the start of b and returns it
// with its length.
func readPageHeader(b []byte) (pageHeader, int, error) {
	ph := pageHeader{typ: -1}
	r := thriftReader{b: b}
	var last int16
	var seen fieldSet
	for {
		id, typ, ok := r.field(&last)
		if !ok {
			break
		}
		seen.add(id)
		switch {
		case id == 1 && typ == tI32:
			ph.typ = format.PageType(r.i32())
		case id == 2 && typ == tI32:
			ph.uncompSize = r.i32()
		case id == 3 && typ == tI32:
			ph.compSize = r.i32()
		case id == 5 && typ == tStruct:
			var dl int16
			var dseen fieldSet
			for {
				did, dt, ok := r.field(&dl)
				if !ok {
					break
				}
				dseen.add(did)
				switch {
				case did == 1 && dt == tI32:
					ph.numValues = r.i32()
				case did == 2 && dt == tI32:
					ph.encoding = format.Encoding(r.i32())
				case did == 3 && dt == tI32:
					ph.defEncoding = format.Encoding(r.i32())
				default:
					r.skip(dt, 0)
				}
			}
			ph.hasData = dseen.has(1, 2, 3, 4)
		case id == 7 && typ == tStruct:
			var dl int16
			for {
				did, dt, ok := r.field(&dl)
				if !ok {
					break
				}
				switch {
				case did == 1 && dt == tI32:
					ph.dictValues = r.i32()
				case did == 2 && dt == tI32:
					ph.dictEncoding = format.Encoding(r.i32())
				default:
					r.skip(dt, 0)
				}
			}
		default:
			r.skip(typ, 0)
		}
	}
	if r.err != nil {
		return ph, 0, fmt.Errorf("page header: %w", r.err)
	}
	if !seen.has(1, 2, 3) {
		return ph, 0, errNotFlat
	}
	return ph, r.pos, nil
}

// fieldSet records which field ids (1 to 63) of a Thrift struct were read.
type fieldSet uint64

func (s *fieldSet) add(id int16) {
	if id > 0 && id < 64 {
		*s |= 1 << id
	}
}

func (s fieldSet) has(ids ...int16) bool {
	for _, id := range ids {
		if s&(1<<id) == 0 {
			return false
		}
	}
	return true
}

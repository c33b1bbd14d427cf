package schema

import (
	"math/bits"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Decoder decodes the input streams' JSON documents strictly, in one pass
// over the bytes with no reflection.
//
// The zero Decoder is ready to use. A Decoder keeps scratch buffers, a cache
// of fixed zones and a bounded table of interned short strings (store, SKU,
// currency ids...) across calls, so one Decoder per goroutine decodes with
// almost no allocations beyond the result's own strings and slices. It is not
// safe for concurrent use. Decoded values never alias the input bytes.
//
// What each stream must satisfy is written on its method (POS, Inventory,
// PurchaseOrder, ItemLocation, Promotion). Every failure is a *DecodeError
// whose Reason is one of the Reason* codes, decided in this order: malformed
// JSON first (the whole input is checked), then an unsupported
// schema_version, then the first other problem met.
type Decoder struct {
	b []byte // the document being decoded
	i int    // read position in b

	buf    []byte // unescaped value strings
	keyBuf []byte // unescaped member names

	zones   map[int]*time.Location // fixed zones by offset in seconds
	strs    map[string]string      // interned short strings
	lines   []POSLine              // scratch for POS lines
	tenders []Tender               // scratch for POS tenders
	lineNos []bool                 // scratch for line_no uniqueness
}

const (
	// maxInterned bounds the interned-string table of a Decoder.
	maxInterned = 1 << 16
	// maxInternLen is the longest string a Decoder interns.
	maxInternLen = 48
	// maxDepth is the deepest nesting accepted, as in encoding/json.
	maxDepth = 10000
	// minYear and maxYear bound every date and time (anything else is not
	// a retail event).
	minYear, maxYear = 1900, 9999
)

func (d *Decoder) reset(b []byte) {
	d.b = b
	d.i = 0
}

// finish turns a failure met while decoding into the error to report: a
// syntax error anywhere in the input wins, then an unsupported top-level
// schema_version, then e itself.
func (d *Decoder) finish(e *DecodeError) error {
	c := syntaxChecker{b: d.b}
	d.b = nil
	if se := c.document(); se != nil {
		return se
	}
	if c.found {
		if ve := versionError(c.version); ve != nil {
			return ve
		}
	}
	return e
}

// path names an object for error messages: the document (idx < 0) or the
// element idx of array arr.
type path struct {
	arr string
	idx int
}

func (p path) String() string {
	if p.idx < 0 {
		return p.arr
	}
	return p.arr + "[" + strconv.Itoa(p.idx) + "]"
}

// key returns the path of member k of the object p.
func (p path) key(k string) string {
	if p.idx < 0 && p.arr == "" {
		return k
	}
	return p.String() + "." + k
}

func errSyntax(b []byte, i int) *DecodeError {
	if i >= len(b) {
		return &DecodeError{Reason: ReasonMalformedJSON, Msg: "unexpected end of JSON input"}
	}
	return &DecodeError{Reason: ReasonMalformedJSON, Msg: "invalid character " + quoteChar(b[i]) + " at offset " + strconv.Itoa(i)}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	if c >= utf8.RuneSelf {
		s = strconv.Quote(string([]byte{c}))
	}
	return "'" + s[1:len(s)-1] + "'"
}

func invalid(msg string) *DecodeError {
	return &DecodeError{Reason: ReasonInvalidValue, Msg: msg}
}

func (d *Decoder) syntax() *DecodeError { return errSyntax(d.b, d.i) }

// ws skips JSON white space.
func (d *Decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// wrongType reports the value at d.i as not the wanted JSON type.
func (d *Decoder) wrongType(want string) *DecodeError {
	if d.i >= len(d.b) {
		return d.syntax()
	}
	var got string
	switch c := d.b[d.i]; {
	case c == '"':
		got = "a string"
	case c == '{':
		got = "an object"
	case c == '[':
		got = "an array"
	case c == 't' || c == 'f':
		got = "a boolean"
	case c == 'n':
		got = "null"
	case c == '-' || (c >= '0' && c <= '9'):
		got = "a number"
	default:
		return d.syntax()
	}
	return &DecodeError{Reason: ReasonWrongType, Msg: "want " + want + ", got " + got}
}

// fieldSet describes the members of one JSON object type: their names in
// declaration order (the member index is the position) and which are
// required. It is a read-only table.
type fieldSet struct {
	names    []string
	required uint32
}

// lookup returns the index of member key, trying hint first (producers
// usually send members in declaration order), or -1.
func (fs *fieldSet) lookup(key []byte, hint int) int {
	if hint < len(fs.names) && string(key) == fs.names[hint] {
		return hint
	}
	for i, n := range fs.names {
		if string(key) == n {
			return i
		}
	}
	return -1
}

// object decodes the JSON object at d.i whose members are fs's, calling
// member with each member's index while d.i is at its value. It reports
// unknown, duplicate and missing members; errors from member without a path
// get the member's.
func (d *Decoder) object(fs *fieldSet, p path, member func(f int) *DecodeError) *DecodeError {
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		e := d.wrongType("an object")
		e.Path = p.String()
		return e
	}
	d.i++
	d.ws()
	var seen uint32
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
	} else {
		hint := 0
		for {
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return d.syntax()
			}
			key, e := d.str(&d.keyBuf)
			if e != nil {
				return e
			}
			f := fs.lookup(key, hint)
			if f < 0 {
				return &DecodeError{Path: p.key(string(key)), Reason: ReasonUnknownField, Msg: "unknown field"}
			}
			if seen&(1<<f) != 0 {
				return &DecodeError{Path: p.key(fs.names[f]), Reason: ReasonDuplicateField, Msg: "duplicate field"}
			}
			seen |= 1 << f
			hint = f + 1
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return d.syntax()
			}
			d.i++
			d.ws()
			if e := member(f); e != nil {
				if e.Path == "" && e.Reason != ReasonMalformedJSON {
					e.Path = p.key(fs.names[f])
				}
				return e
			}
			d.ws()
			if d.i >= len(d.b) {
				return d.syntax()
			}
			c := d.b[d.i]
			d.i++
			if c == '}' {
				break
			}
			if c != ',' {
				d.i--
				return d.syntax()
			}
			d.ws()
		}
	}
	if missing := fs.required &^ seen; missing != 0 {
		f := bits.TrailingZeros32(missing)
		return &DecodeError{Path: p.key(fs.names[f]), Reason: ReasonMissingField, Msg: "missing"}
	}
	return nil
}

// array decodes the JSON array at d.i, calling elem for each element with
// its index while d.i is at it.
func (d *Decoder) array(elem func(i int) *DecodeError) *DecodeError {
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return d.wrongType("an array")
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return nil
	}
	for n := 0; ; n++ {
		if e := elem(n); e != nil {
			return e
		}
		d.ws()
		if d.i >= len(d.b) {
			return d.syntax()
		}
		c := d.b[d.i]
		d.i++
		if c == ']' {
			return nil
		}
		if c != ',' {
			d.i--
			return d.syntax()
		}
		d.ws()
	}
}

// end checks that only white space follows the document.
func (d *Decoder) end() *DecodeError {
	d.ws()
	if d.i != len(d.b) {
		return d.syntax()
	}
	return nil
}

// str reads the JSON string at d.i (which is '"') and returns its unescaped
// contents: a slice of d.b when it has no escapes, else of *scratch. Invalid
// UTF-8 and raw control characters are syntax errors; escaped surrogates
// decode as encoding/json decodes them (a lone one becomes U+FFFD).
func (d *Decoder) str(scratch *[]byte) ([]byte, *DecodeError) {
	b := d.b
	i := d.i + 1
	start := i
	// Fast path: plain ASCII, eight bytes at a time.
	for i+8 <= len(b) {
		w := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		if specialBytes(w) != 0 {
			break
		}
		i += 8
	}
	for i < len(b) {
		c := b[i]
		if c == '"' {
			d.i = i + 1
			return b[start:i], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return d.strSlow(start, i, scratch)
		}
		i++
	}
	d.i = i
	return nil, d.syntax()
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes returns a non-zero value when a byte of w is '"', '\\', a
// control character or not ASCII.
func specialBytes(w uint64) uint64 {
	hasZero := func(x uint64) uint64 { return (x - lsb) &^ x & msb }
	quote := hasZero(w ^ (lsb * '"'))
	bslash := hasZero(w ^ (lsb * '\\'))
	ctl := (w - lsb*0x20) &^ w & msb // some byte < 0x20 (or >= 0x80, caught below)
	return quote | bslash | ctl | (w & msb)
}

func (d *Decoder) strSlow(start, i int, scratch *[]byte) ([]byte, *DecodeError) {
	b := d.b
	out := (*scratch)[:0]
	escaped := false
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			if !escaped {
				return b[start:i], nil
			}
			*scratch = out
			return out, nil
		case c < 0x20:
			d.i = i
			return nil, d.syntax()
		case c == '\\':
			if !escaped {
				out = append(out, b[start:i]...)
				escaped = true
			}
			i++
			if i >= len(b) {
				d.i = i
				return nil, d.syntax()
			}
			switch b[i] {
			case '"', '\\', '/':
				out = append(out, b[i])
				i++
			case 'b':
				out = append(out, '\b')
				i++
			case 'f':
				out = append(out, '\f')
				i++
			case 'n':
				out = append(out, '\n')
				i++
			case 'r':
				out = append(out, '\r')
				i++
			case 't':
				out = append(out, '\t')
				i++
			case 'u':
				r := hex4(b, i+1)
				if r < 0 {
					d.i = i + 1
					for d.i < len(b) && d.i < i+5 && isHex(b[d.i]) {
						d.i++
					}
					return nil, d.syntax()
				}
				i += 5
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						r2 = hex4(b, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				d.i = i
				return nil, d.syntax()
			}
		case c < utf8.RuneSelf:
			if escaped {
				out = append(out, c)
			}
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				d.i = i
				return nil, &DecodeError{Reason: ReasonMalformedJSON, Msg: "invalid UTF-8 at offset " + strconv.Itoa(i)}
			}
			if escaped {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
	d.i = i
	return nil, d.syntax()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// hex4 decodes four hex digits at b[i:], or returns -1.
func hex4(b []byte, i int) rune {
	if i+4 > len(b) {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// stringValue reads a JSON string value (wrong_type otherwise).
func (d *Decoder) stringValue() ([]byte, *DecodeError) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, d.wrongType("a string")
	}
	return d.str(&d.buf)
}

// intern returns b as a string, shared with earlier equal strings while the
// table has room.
func (d *Decoder) intern(b []byte) string {
	if len(b) > maxInternLen {
		return string(b)
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.strs) < maxInterned {
		if d.strs == nil {
			d.strs = make(map[string]string, 256)
		}
		d.strs[s] = s
	}
	return s
}

// id reads a required, non-empty string; shared says whether to intern it
// (low-cardinality ids).
func (d *Decoder) id(shared bool) (string, *DecodeError) {
	v, e := d.stringValue()
	if e != nil {
		return "", e
	}
	if len(v) == 0 {
		return "", invalid("empty")
	}
	if shared {
		return d.intern(v), nil
	}
	return string(v), nil
}

// text reads a required string that may be empty.
func (d *Decoder) text() (string, *DecodeError) {
	v, e := d.stringValue()
	if e != nil {
		return "", e
	}
	return string(v), nil
}

// optionalID reads an optional id: null means absent; a string must be
// non-empty.
func (d *Decoder) optionalID(shared bool) (string, *DecodeError) {
	if d.i < len(d.b) && d.b[d.i] == 'n' {
		return "", d.literal("null")
	}
	return d.id(shared)
}

// literal consumes the literal word (true, false, null) at d.i.
func (d *Decoder) literal(word string) *DecodeError {
	for k := 0; k < len(word); k++ {
		if d.i >= len(d.b) || d.b[d.i] != word[k] {
			return d.syntax()
		}
		d.i++
	}
	return nil
}

// boolean reads true or false.
func (d *Decoder) boolean() (bool, *DecodeError) {
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case 't':
			return true, d.literal("true")
		case 'f':
			return false, d.literal("false")
		}
	}
	return false, d.wrongType("a boolean")
}

// number scans the JSON number at d.i (which starts with '-' or a digit) and
// returns its text and whether it has a fraction or an exponent.
func (d *Decoder) number() (text []byte, frac, exp bool, e *DecodeError) {
	b := d.b
	i := d.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		d.i = i
		return nil, false, false, d.syntax()
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.i = i
		return nil, false, false, d.syntax()
	}
	if i < len(b) && b[i] == '.' {
		frac = true
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return nil, false, false, d.syntax()
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return nil, false, false, d.syntax()
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i], frac, exp, nil
}

func (d *Decoder) atNumber() bool {
	return d.i < len(d.b) && (d.b[d.i] == '-' || (d.b[d.i] >= '0' && d.b[d.i] <= '9'))
}

// integer reads a JSON integer (no fraction, no exponent) into an int64.
func (d *Decoder) integer() (int64, *DecodeError) {
	if !d.atNumber() {
		return 0, d.wrongType("an integer")
	}
	text, frac, exp, e := d.number()
	if e != nil {
		return 0, e
	}
	if frac || exp {
		return 0, &DecodeError{Reason: ReasonWrongType, Msg: "want an integer, got " + string(text)}
	}
	v, ok := parseInt(text)
	if !ok {
		return 0, invalid(string(text) + " out of range")
	}
	return v, nil
}

// parseInt parses a JSON integer's text, which the caller has scanned.
func parseInt(text []byte) (int64, bool) {
	neg := text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range text {
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// intIn reads an integer in [lo, hi].
func (d *Decoder) intIn(lo, hi int64) (int64, *DecodeError) {
	v, e := d.integer()
	if e != nil {
		return 0, e
	}
	if v < lo || v > hi {
		return 0, invalid(rangeMsg(v, lo, hi))
	}
	return v, nil
}

func rangeMsg(v, lo, hi int64) string {
	switch {
	case v < lo && lo == 0:
		return strconv.FormatInt(v, 10) + " is negative"
	case v < lo && lo == 1:
		return strconv.FormatInt(v, 10) + " is not positive"
	case v < lo:
		return strconv.FormatInt(v, 10) + " is below " + strconv.FormatInt(lo, 10)
	}
	return strconv.FormatInt(v, 10) + " is above " + strconv.FormatInt(hi, 10)
}

// money reads an exact amount from a JSON number or a string holding one.
// Exponents and more than four fractional digits are refused; the amount
// must fit DECIMAL(18,4).
func (d *Decoder) money() (Money, *DecodeError) {
	if m, ok := d.moneyFast(); ok {
		return m, nil
	}
	var text []byte
	switch {
	case d.i < len(d.b) && d.b[d.i] == '"':
		s, e := d.str(&d.buf)
		if e != nil {
			return 0, e
		}
		text = s
	case d.atNumber():
		s, _, exp, e := d.number()
		if e != nil {
			return 0, e
		}
		if exp {
			return 0, invalid(string(s) + ": exponent not allowed in money")
		}
		text = s
	default:
		return 0, d.wrongType("a number")
	}
	m, err := ParseMoney(text)
	if err != nil {
		return 0, invalid(err.Error())
	}
	if m > MaxMoney || m < -MaxMoney {
		return 0, invalid(m.String() + " out of range for DECIMAL(18,4)")
	}
	return m, nil
}

// moneyFast reads the common form of an amount in one pass: a JSON number
// with at most 14 integer digits, at most four fractional digits and no
// exponent, followed by a delimiter. Anything else leaves d.i alone and
// returns false, for money's general path (which also words the errors).
func (d *Decoder) moneyFast() (Money, bool) {
	b := d.b
	i := d.i
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	start := i
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + int64(b[i]-'0')
		i++
	}
	n := i - start
	if n == 0 || n > 14 || (n > 1 && b[start] == '0') {
		return 0, false
	}
	frac := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-fs < MoneyScale {
			v = v*10 + int64(b[i]-'0')
			i++
		}
		frac = i - fs
		if frac == 0 {
			return 0, false
		}
	}
	if i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
		default:
			return 0, false // more digits, an exponent, or a syntax error
		}
	}
	for ; frac < MoneyScale; frac++ {
		v *= 10
	}
	d.i = i
	if neg {
		v = -v
	}
	return Money(v), true
}

// nonNegMoney reads an amount that must not be negative.
func (d *Decoder) nonNegMoney() (Money, *DecodeError) {
	m, e := d.money()
	if e == nil && m < 0 {
		e = invalid("negative")
	}
	return m, e
}

// float reads a JSON number as a float64.
func (d *Decoder) float() (float64, *DecodeError) {
	if !d.atNumber() {
		return 0, d.wrongType("a number")
	}
	text, _, _, e := d.number()
	if e != nil {
		return 0, e
	}
	v, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return 0, invalid(string(text) + " out of range")
	}
	return v, nil
}

// currency reads a known ISO 4217 currency code.
func (d *Decoder) currency() (string, *DecodeError) {
	v, e := d.stringValue()
	if e != nil {
		return "", e
	}
	if !isCurrency(v) {
		return "", invalid(strconv.Quote(string(v)) + " is not an ISO 4217 currency code")
	}
	return d.intern(v), nil
}

// date reads a "YYYY-MM-DD" string.
func (d *Decoder) date() (Date, *DecodeError) {
	v, e := d.stringValue()
	if e != nil {
		return 0, e
	}
	days, ok := parseDate(v)
	if !ok {
		return 0, invalid(strconv.Quote(string(v)) + " is not a date YYYY-MM-DD")
	}
	return Date(days), nil
}

// timestamp reads an RFC 3339 time, which must carry a zone offset. The
// result is in a fixed zone of that offset (UTC for Z and +00:00).
func (d *Decoder) timestamp() (time.Time, *DecodeError) {
	v, e := d.stringValue()
	if e != nil {
		return time.Time{}, e
	}
	sec, nsec, off, msg := parseRFC3339(v)
	if msg != "" {
		return time.Time{}, invalid(strconv.Quote(string(v)) + ": " + msg)
	}
	return time.Unix(sec, int64(nsec)).In(d.zone(off)), nil
}

func (d *Decoder) zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if z, ok := d.zones[off]; ok {
		return z
	}
	z := time.FixedZone("", off)
	if d.zones == nil {
		d.zones = make(map[int]*time.Location)
	}
	d.zones[off] = z
	return z
}

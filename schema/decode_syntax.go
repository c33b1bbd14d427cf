package schema

import (
	"strconv"
	"unicode/utf8"
)

// The decoders stop at the first problem. When that happens, the error path
// checks the whole input with a plain JSON validator, so that a document is
// reported as malformed_json exactly when it is not one well-formed JSON
// value in UTF-8 (encoding/json's Valid plus UTF-8 validity), whatever
// problem the decoder met first; and it looks up the top-level
// schema_version, so that an unsupported version is reported as such rather
// than as the unknown fields a newer version brings.

// syntaxChecker validates JSON text.
type syntaxChecker struct {
	b       []byte
	i       int
	version []byte // raw value of the first top-level "schema_version"
	found   bool
	key     []byte // scratch for unescaped keys
}

// checkSyntax returns a malformed_json error if b is not one well-formed
// JSON value (surrounded by optional white space) in valid UTF-8.
func checkSyntax(b []byte) *DecodeError {
	c := syntaxChecker{b: b}
	return c.document()
}

// versionError checks the text of a schema_version value: nil when it is
// CurrentVersion or not an integer at all (that is a type error, reported
// elsewhere).
func versionError(v []byte) *DecodeError {
	if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
		return nil
	}
	for _, c := range v {
		if c == '.' || c == 'e' || c == 'E' {
			return nil
		}
	}
	if string(v) == strconv.Itoa(CurrentVersion) {
		return nil
	}
	shown := string(v)
	if len(shown) > 24 {
		shown = shown[:24] + "…"
	}
	return &DecodeError{Path: "schema_version", Reason: ReasonUnknownVersion,
		Msg: "version " + shown + " is not supported (this build reads " + strconv.Itoa(CurrentVersion) + ")"}
}

func (c *syntaxChecker) err() *DecodeError { return errSyntax(c.b, c.i) }

func (c *syntaxChecker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *syntaxChecker) document() *DecodeError {
	c.ws()
	if e := c.value(1); e != nil {
		return e
	}
	c.ws()
	if c.i != len(c.b) {
		return c.err()
	}
	return nil
}

// value checks the value at c.i; depth is the nesting depth a container
// starting here would have.
func (c *syntaxChecker) value(depth int) *DecodeError {
	if c.i >= len(c.b) {
		return c.err()
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		if depth > maxDepth {
			return &DecodeError{Reason: ReasonMalformedJSON, Msg: "exceeded max depth at offset " + strconv.Itoa(c.i)}
		}
		c.i++
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == '}' {
			c.i++
			return nil
		}
		for {
			if c.i >= len(c.b) || c.b[c.i] != '"' {
				return c.err()
			}
			keyStart := c.i
			if e := c.str(); e != nil {
				return e
			}
			isVersion := depth == 1 && !c.found && c.isVersionKey(c.b[keyStart:c.i])
			c.ws()
			if c.i >= len(c.b) || c.b[c.i] != ':' {
				return c.err()
			}
			c.i++
			c.ws()
			start := c.i
			if e := c.value(depth + 1); e != nil {
				return e
			}
			if isVersion {
				c.found = true
				c.version = c.b[start:c.i]
			}
			c.ws()
			if c.i >= len(c.b) {
				return c.err()
			}
			switch c.b[c.i] {
			case ',':
				c.i++
				c.ws()
			case '}':
				c.i++
				return nil
			default:
				return c.err()
			}
		}
	case ch == '[':
		if depth > maxDepth {
			return &DecodeError{Reason: ReasonMalformedJSON, Msg: "exceeded max depth at offset " + strconv.Itoa(c.i)}
		}
		c.i++
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == ']' {
			c.i++
			return nil
		}
		for {
			if e := c.value(depth + 1); e != nil {
				return e
			}
			c.ws()
			if c.i >= len(c.b) {
				return c.err()
			}
			switch c.b[c.i] {
			case ',':
				c.i++
				c.ws()
			case ']':
				c.i++
				return nil
			default:
				return c.err()
			}
		}
	case ch == '"':
		return c.str()
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number()
	}
	return c.err()
}

// isVersionKey reports whether the quoted key raw unescapes to
// "schema_version".
func (c *syntaxChecker) isVersionKey(raw []byte) bool {
	if string(raw) == `"schema_version"` {
		return true
	}
	d := Decoder{b: raw}
	k, e := d.str(&c.key)
	return e == nil && string(k) == "schema_version"
}

func (c *syntaxChecker) literal(word string) *DecodeError {
	for k := 0; k < len(word); k++ {
		if c.i >= len(c.b) || c.b[c.i] != word[k] {
			return c.err()
		}
		c.i++
	}
	return nil
}

func (c *syntaxChecker) digits() {
	for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		c.i++
	}
}

func (c *syntaxChecker) number() *DecodeError {
	if c.b[c.i] == '-' {
		c.i++
	}
	switch {
	case c.i >= len(c.b):
		return c.err()
	case c.b[c.i] == '0':
		c.i++
	case c.b[c.i] >= '1' && c.b[c.i] <= '9':
		c.digits()
	default:
		return c.err()
	}
	if c.i < len(c.b) && c.b[c.i] == '.' {
		c.i++
		if c.i >= len(c.b) || c.b[c.i] < '0' || c.b[c.i] > '9' {
			return c.err()
		}
		c.digits()
	}
	if c.i < len(c.b) && (c.b[c.i] == 'e' || c.b[c.i] == 'E') {
		c.i++
		if c.i < len(c.b) && (c.b[c.i] == '+' || c.b[c.i] == '-') {
			c.i++
		}
		if c.i >= len(c.b) || c.b[c.i] < '0' || c.b[c.i] > '9' {
			return c.err()
		}
		c.digits()
	}
	return nil
}

// str checks the string at c.i (which is '"'): escapes, no raw control
// characters, valid UTF-8.
func (c *syntaxChecker) str() *DecodeError {
	c.i++
	for c.i < len(c.b) {
		ch := c.b[c.i]
		switch {
		case ch == '"':
			c.i++
			return nil
		case ch < 0x20:
			return c.err()
		case ch == '\\':
			c.i++
			if c.i >= len(c.b) {
				return c.err()
			}
			switch c.b[c.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i++
			case 'u':
				c.i++
				for k := 0; k < 4; k++ {
					if c.i >= len(c.b) || !isHex(c.b[c.i]) {
						return c.err()
					}
					c.i++
				}
			default:
				return c.err()
			}
		case ch < utf8.RuneSelf:
			c.i++
		default:
			r, size := utf8.DecodeRune(c.b[c.i:])
			if r == utf8.RuneError && size == 1 {
				return &DecodeError{Reason: ReasonMalformedJSON, Msg: "invalid UTF-8 at offset " + strconv.Itoa(c.i)}
			}
			c.i += size
		}
	}
	return c.err()
}

package schema

import "errors"

// Reasons a record is rejected: stable short codes, usable as a Prometheus
// label value and stored in the rejects table's reason column.
const (
	// ReasonMalformedJSON: the bytes are not one well-formed JSON value in
	// UTF-8 (what encoding/json's Valid refuses, plus invalid UTF-8).
	ReasonMalformedJSON = "malformed_json"
	// ReasonUnknownVersion: schema_version is not one this build reads.
	ReasonUnknownVersion = "unknown_version"
	// ReasonUnknownField: a member the schema does not define.
	ReasonUnknownField = "unknown_field"
	// ReasonMissingField: a required member is absent.
	ReasonMissingField = "missing_field"
	// ReasonDuplicateField: a member appears twice in one object.
	ReasonDuplicateField = "duplicate_field"
	// ReasonWrongType: a member holds the wrong JSON type (or a fraction
	// where an integer belongs).
	ReasonWrongType = "wrong_type"
	// ReasonInvalidValue: well-typed but impossible (negative price, unknown
	// currency, totals that do not add up, a time without zone, ...).
	ReasonInvalidValue = "invalid_value"
)

// Reasons lists every reason code, in a fixed order (for pre-creating metric
// label values).
func Reasons() []string {
	return []string{
		ReasonMalformedJSON, ReasonUnknownVersion, ReasonUnknownField,
		ReasonMissingField, ReasonDuplicateField, ReasonWrongType, ReasonInvalidValue,
	}
}

// DecodeError is why a document was refused. Path names the member in a
// JSONPath-like form with zero-based indexes ("lines[2].unit_price"; empty
// for the document as a whole), Reason is one of the Reason* codes, and Msg
// says what is wrong with it.
type DecodeError struct {
	Path   string
	Reason string
	Msg    string
}

// Error returns "path: msg", or msg alone when the path is empty.
func (e *DecodeError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ReasonOf returns err's reason code: the Reason of a *DecodeError in its
// chain, else ReasonMalformedJSON for any other non-nil error (a decoder
// only fails with *DecodeError, so this is a fallback), and "" for nil.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ReasonMalformedJSON
}

// FieldOf returns the Path of a *DecodeError in err's chain, or "".
func FieldOf(err error) string {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Path
	}
	return ""
}

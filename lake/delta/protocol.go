package delta

import (
	"fmt"
	"slices"
	"strings"
)

// The protocol versions shelflake writes for new tables.
const (
	WriteReaderVersion = 1
	WriteWriterVersion = 2
)

// readerFeaturesSupported are the reader table features (reader version 3)
// this reader honours: both only restrict what data files may contain or what
// vacuum must check, nothing about the log this package reads.
var readerFeaturesSupported = []string{"timestampNtz", "vacuumProtocolCheck"}

// writerFeaturesSupported are the writer table features (writer version 7)
// Commit honours. appendOnly is enforced; the others below writer version 3
// need nothing from us (invariants are refused separately when present).
var writerFeaturesSupported = []string{"appendOnly", "invariants", "timestampNtz", "vacuumProtocolCheck"}

// checkReadable refuses a protocol this package cannot read correctly:
// reader version 2 (column mapping), reader version 3 with a feature outside
// readerFeaturesSupported (deletion vectors, column mapping, v2 checkpoints,
// catalog-managed tables, …), or any higher version.
func checkReadable(p Protocol) error {
	switch p.MinReaderVersion {
	case 0, 1:
		return nil
	case 3:
		var unknown []string
		for _, f := range p.ReaderFeatures {
			if !slices.Contains(readerFeaturesSupported, f) {
				unknown = append(unknown, f)
			}
		}
		if len(unknown) > 0 {
			return fmt.Errorf("%w: table requires reader features [%s]; supported: reader version 1, or 3 with [%s]",
				ErrUnsupportedProtocol, strings.Join(unknown, ", "), strings.Join(readerFeaturesSupported, ", "))
		}
		return nil
	default:
		return fmt.Errorf("%w: table requires Delta reader version %d; supported: 1, or 3 with features [%s]",
			ErrUnsupportedProtocol, p.MinReaderVersion, strings.Join(readerFeaturesSupported, ", "))
	}
}

// checkWritable refuses to commit to a table whose protocol asks writers for
// more than Commit does: writer versions 3–6 (CHECK constraints, change data
// feed, generated and identity columns, column mapping), or writer version 7
// with an unknown writer feature. Column invariants (writer version 2) are
// refused when the schema declares one, since Commit does not evaluate them.
func checkWritable(p Protocol, md Metadata) error {
	if err := checkReadable(p); err != nil {
		return err
	}
	switch {
	case p.MinWriterVersion <= 2:
	case p.MinWriterVersion == 7:
		var unknown []string
		for _, f := range p.WriterFeatures {
			if !slices.Contains(writerFeaturesSupported, f) {
				unknown = append(unknown, f)
			}
		}
		if len(unknown) > 0 {
			return fmt.Errorf("%w: table requires writer features [%s]", ErrUnsupportedProtocol, strings.Join(unknown, ", "))
		}
	default:
		return fmt.Errorf("%w: table requires Delta writer version %d; supported: up to 2, or 7 with features [%s]",
			ErrUnsupportedProtocol, p.MinWriterVersion, strings.Join(writerFeaturesSupported, ", "))
	}
	if strings.Contains(md.SchemaString, "delta.invariants") {
		return fmt.Errorf("%w: table schema declares column invariants, which this writer does not enforce", ErrUnsupportedProtocol)
	}
	return nil
}

// appendOnly reports whether the table's delta.appendOnly property is set.
func appendOnly(md Metadata) bool {
	return strings.EqualFold(md.Configuration["delta.appendOnly"], "true")
}

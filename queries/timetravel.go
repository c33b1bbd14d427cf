package queries

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shelflake/shelflake/lake/delta"
)

// VersionError is Open's error for a pinned version (Options.Versions) the
// table does not have: it names the versions it has.
type VersionError struct {
	Table   string
	Version int64
	// All is true when the version pinned every table (PinAll).
	All bool
	// Range is what the table has.
	Range delta.VersionRange
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s has no version %d: versions %s", e.Table, e.Version, e.Range)
}

// Is makes errors.Is(err, delta.ErrVersionNotFound) true.
func (e *VersionError) Is(target error) bool { return target == delta.ErrVersionNotFound }

// AsOfError is Open's error for an Options.AsOf before the first commit of
// every table in the lake: the session would read an empty lake.
type AsOfError struct {
	AsOf time.Time
	// First is the lake's first commit time (the oldest over Ranges).
	First time.Time
	// Tables are the lake's tables, sorted, and Ranges their versions.
	Tables []string
	Ranges []delta.VersionRange
}

func (e *AsOfError) Error() string {
	return fmt.Sprintf("as of %s is before the lake's first commit (%s); %s",
		e.AsOf.UTC().Format(time.RFC3339Nano), e.First.UTC().Format(time.RFC3339), e.Versions())
}

// Versions lists the tables' version ranges: "versions of pos_lines: 0..41,
// 2026-05-05T10:00:00Z..2026-05-06T08:00:00Z; versions of …".
func (e *AsOfError) Versions() string {
	parts := make([]string, len(e.Tables))
	for i, name := range e.Tables {
		parts[i] = "versions of " + name + ": " + e.Ranges[i].String()
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, delta.ErrVersionNotFound) true.
func (e *AsOfError) Is(target error) bool { return target == delta.ErrVersionNotFound }

// versionError returns a *VersionError for version of dt, or err when the
// range cannot be read.
func versionError(ctx context.Context, dt *delta.Table, name string, version int64, all bool, err error) error {
	r, rerr := dt.Versions(ctx)
	if rerr != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	return &VersionError{Table: name, Version: version, All: all, Range: r}
}

// checkAsOf returns an *AsOfError when Options.AsOf is set and no table was
// present at that time although the lake has tables.
func (s *Session) checkAsOf(ctx context.Context, names []string, tables []*table) error {
	if s.opts.AsOf.IsZero() {
		return nil
	}
	for _, t := range tables {
		if t.info.Present {
			return nil
		}
	}
	e := &AsOfError{AsOf: s.opts.AsOf}
	for _, name := range names {
		dt, err := delta.NewTable(s.lake.Bucket(), name+"/", delta.Options{Logger: s.log})
		if err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
		r, err := dt.Versions(ctx)
		if errors.Is(err, delta.ErrTableNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
		if len(e.Tables) == 0 || r.OldestTime.Before(e.First) {
			e.First = r.OldestTime
		}
		e.Tables = append(e.Tables, name)
		e.Ranges = append(e.Ranges, r)
	}
	if len(e.Tables) == 0 {
		return nil // an empty lake reads as empty at any time
	}
	return e
}

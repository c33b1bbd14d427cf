package compact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/iceberg"
	"github.com/shelflake/shelflake/schema"
)

// DefaultVacuumRetention is the default retention of removed files: a
// week, as Delta's default.
const DefaultVacuumRetention = 7 * 24 * time.Hour

// MinVacuumRetention is the shortest retention Vacuum accepts without
// VacuumOptions.AllowShortRetention: a removed file must outlive the longest
// query reading a snapshot that still lists it, and an uploaded file the
// time until its commit.
const MinVacuumRetention = time.Hour

// VacuumOptions configure Vacuum. The zero value is usable.
type VacuumOptions struct {
	// Retention: files removed (or never committed) longer ago than this
	// are deleted. Default DefaultVacuumRetention.
	Retention time.Duration
	// AllowShortRetention permits a Retention below MinVacuumRetention
	// (tests, or a lake nobody reads).
	AllowShortRetention bool
	// Tables to vacuum. Default schema.AllTables() (raw and unified); tables
	// missing from the lake are skipped.
	Tables []*schema.Table
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger. Default: discard.
	Logger *slog.Logger
}

// VacuumTableReport is the result of vacuuming one table.
type VacuumTableReport struct {
	Table string
	delta.VacuumReport
}

// Vacuum deletes, in every table of the lake, the data files no snapshot
// within the retention references (delta.Table.Vacuum: files removed by
// compaction or unified rebuilds, and uploads never committed, once older
// than the retention). Time travel to any time within the retention keeps
// working, and so does Iceberg time travel to any snapshot the table's
// Iceberg metadata retains (iceberg.ReferencedFiles). Tables fail
// independently; the errors are joined.
func Vacuum(ctx context.Context, l *lake.Lake, o VacuumOptions) ([]VacuumTableReport, error) {
	if o.Retention == 0 {
		o.Retention = DefaultVacuumRetention
	}
	if o.Retention < 0 || (o.Retention < MinVacuumRetention && !o.AllowShortRetention) {
		return nil, fmt.Errorf("vacuum: retention %s is below the minimum %s", o.Retention, MinVacuumRetention)
	}
	if o.Tables == nil {
		o.Tables = schema.AllTables()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var (
		out  []VacuumTableReport
		errs []error
	)
	for _, t := range o.Tables {
		if err := ctx.Err(); err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		ok, err := tableExists(ctx, l, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		dtab, err := l.Table(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Files a retained Iceberg snapshot lists stay (none without
		// Iceberg metadata).
		keep, err := iceberg.ReferencedFiles(ctx, l.Bucket(), lake.TablePrefix(t))
		if err != nil {
			errs = append(errs, fmt.Errorf("vacuum %s: %w", t.Name, err))
			continue
		}
		rep, err := dtab.VacuumKeeping(ctx, o.Retention, o.Now(), keep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.Logger.Info("table vacuumed", "table", t.Name, "version", rep.Version,
			"deleted", len(rep.Deleted), "deleted_bytes", rep.DeletedBytes, "kept", rep.Kept)
		out = append(out, VacuumTableReport{Table: t.Name, VacuumReport: rep})
	}
	return out, errors.Join(errs...)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/iceberg"
	"github.com/shelflake/shelflake/schema"
)

func newIcebergCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "iceberg",
		Short: "Publish the lake's tables as Iceberg tables (same files, Iceberg metadata beside the Delta log)",
		Long: `Every table of the lake can be read by Iceberg engines (Snowflake, Athena,
BigQuery, Trino, Spark) from the same Parquet files: an Iceberg v2 snapshot per
Delta version under <table>/metadata/. "sync" starts it for every table and
catches up; afterwards ingest and compact keep it up after each commit.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newIcebergSyncCmd(a), newIcebergRegisterCmd(a))
	return cmd
}

func newIcebergSyncCmd(a *app) *cobra.Command {
	var lakeURI string
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Publish (or catch up) the Iceberg metadata of every table to its latest Delta version",
		Example: `  shelflake iceberg sync --lake ./lake
  shelflake iceberg sync --lake 's3://bucket/lake'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lakeURI == "" {
				return errors.New("--lake is required (or SHELFLAKE_LAKE)")
			}
			ctx := cmd.Context()
			pub, err := icebergPublisher(lakeURI, a.log, true, false)
			if err != nil {
				return err
			}
			l, err := openLake(ctx, lakeURI, lake.Options{Logger: a.log})
			if err != nil {
				return err
			}
			defer l.Close()
			tabs, err := existingTablesCtx(ctx, l)
			if err != nil {
				return err
			}
			for _, t := range tabs {
				v, err := pub.Sync(ctx, t.dt)
				if err != nil {
					return fmt.Errorf("table %s: %w", t.name, err)
				}
				fmt.Fprintf(a.stdout, "%-28s delta version %-6d %s\n", t.name, v, icebergMetadataURI(pub, t.dt, v))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&lakeURI, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory or s3://bucket/prefix (env SHELFLAKE_LAKE)")
	return cmd
}

type lakeTable struct {
	name string
	dt   *delta.Table
}

// existingTablesCtx opens every table of the lake (raw and unified) that
// exists.
func existingTablesCtx(ctx context.Context, l *lake.Lake) ([]lakeTable, error) {
	var out []lakeTable
	for _, t := range append(schema.AllTables(), schema.ForecastTables()...) {
		dt, err := l.ExistingTable(ctx, t)
		if errors.Is(err, delta.ErrTableNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, lakeTable{name: t.Name, dt: dt})
	}
	return out, nil
}

func icebergMetadataURI(p *iceberg.Publisher, t *delta.Table, v int64) string {
	return p.Location(t) + "/metadata/" + iceberg.MetadataFileName(v)
}

// icebergRoot is the lake URI as Iceberg metadata names it: s3://bucket/prefix
// without query options, or file:///absolute/path.
func icebergRoot(uri string) (string, error) {
	if strings.HasPrefix(uri, "s3://") {
		root, _, _ := strings.Cut(uri, "?")
		return strings.TrimSuffix(root, "/"), nil
	}
	p := strings.TrimPrefix(uri, "file://")
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("lake path %s: %w", p, err)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// icebergPublisher returns the publisher of the lake at uri. With always
// false it keeps up only tables that already have Iceberg metadata.
func icebergPublisher(uri string, log *slog.Logger, always, async bool) (*iceberg.Publisher, error) {
	root, err := icebergRoot(uri)
	if err != nil {
		return nil, err
	}
	return iceberg.NewPublisher(iceberg.Options{
		Root:        root,
		Logger:      log,
		Always:      always,
		Async:       async,
		SortColumns: sortColumns,
	})
}

// sortColumns is a table's sort key, its Iceberg sort order.
func sortColumns(name string) []string {
	if t, ok := schema.LookupTable(name); ok {
		return t.SortKey
	}
	for _, t := range schema.ForecastTables() {
		if t.Name == name {
			return t.SortKey
		}
	}
	return nil
}

// withIceberg makes a writer's lake keep the Iceberg metadata of the tables
// that have it up to date after each Delta commit, in the background (the
// commit does not wait). The returned func waits for pending publications;
// call it before exiting, after the lake's last commit.
func withIceberg(uri string, opts lake.Options) (lake.Options, func(), error) {
	root, err := icebergRoot(uri)
	if err != nil {
		return opts, nil, err
	}
	pub, err := iceberg.NewPublisher(iceberg.Options{Root: root, Logger: opts.Logger, Async: true,
		SortColumns: sortColumns, Registerer: opts.Registerer})
	if err != nil {
		return opts, nil, err
	}
	opts.Delta.AfterCommit = pub.AfterCommit
	return opts, pub.Close, nil
}

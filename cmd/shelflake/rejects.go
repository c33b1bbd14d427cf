package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake"
)

func newRejectsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rejects",
		Short: "Work with the records ingest rejected",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRejectsReplayCmd(a))
	return cmd
}

type rejectsReplayFlags struct {
	lake   string
	group  string
	from   string
	to     string
	dryRun bool
	json   bool
	topics ingest.Topics
}

func newRejectsReplayCmd(a *app) *cobra.Command {
	var o rejectsReplayFlags
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Re-validate the rejects of a time range and ingest, once, those that now pass",
		Long: `replay reads the rejects table's records received in [--from, --to), decodes
them again with this build's validation (after a fix: a new schema version, a
currency added, ...) and writes those that now pass to their table, with the
source partition and offset of the original record. Running it again, or two
at once, never writes a record twice. Records that still fail are counted by
reason. The rejects table keeps every record: it is the history of what failed.`,
		Example: `  shelflake rejects replay --lake ./lake --from 2025-06-01 --to 2025-06-02
  shelflake rejects replay --lake ./lake --from 2025-06-01T08:00:00Z --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.lake == "" {
				return errors.New("--lake is required (or SHELFLAKE_LAKE)")
			}
			from, err := parseWhen(o.from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			to, err := parseWhen(o.to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if !from.IsZero() && !to.IsZero() && !from.Before(to) {
				return fmt.Errorf("--from %s is not before --to %s: the range [--from, --to) is empty", o.from, o.to)
			}
			l, err := openLake(cmd.Context(), o.lake, lake.Options{Logger: a.log, ReadOnly: o.dryRun})
			if err != nil {
				return err
			}
			defer l.Close()
			rep, err := ingest.ReplayRejects(cmd.Context(), ingest.ReplayOptions{
				Lake: l, Group: o.group, Topics: o.topics, From: from, To: to, DryRun: o.dryRun, Logger: a.log,
			})
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			if o.dryRun {
				fmt.Fprintln(a.stdout, "dry run: nothing written")
			}
			fmt.Fprintf(a.stdout, "examined %d rejects: %d now pass (%d ingested now, %d by an earlier replay)\n",
				rep.Examined, rep.Passed, rep.Ingested, rep.AlreadyIngested)
			if rep.Deferred > 0 {
				fmt.Fprintf(a.stdout, "%d left to the ingester: their table has not committed past their offsets, so it reads them again when it resumes\n", rep.Deferred)
			}
			reasons := make([]string, 0, len(rep.StillFailing))
			for r := range rep.StillFailing {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			for _, r := range reasons {
				fmt.Fprintf(a.stdout, "  still failing, %s: %d\n", r, rep.StillFailing[r])
			}
			tables := make([]string, 0, len(rep.Rows))
			for t := range rep.Rows {
				tables = append(tables, t)
			}
			sort.Strings(tables)
			for _, t := range tables {
				fmt.Fprintf(a.stdout, "  %s: %d rows written\n", t, rep.Rows[t])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI (env SHELFLAKE_LAKE)")
	f.StringVar(&o.group, "group", envOr("SHELFLAKE_GROUP", ingest.DefaultGroup), "the ingest consumer group (env SHELFLAKE_GROUP)")
	f.StringVar(&o.from, "from", "", "replay rejects received at or after this time (RFC 3339, or YYYY-MM-DD for midnight UTC; default: the first)")
	f.StringVar(&o.to, "to", "", "replay rejects received before this time (default: now)")
	f.BoolVar(&o.dryRun, "dry-run", false, "re-validate and report, write nothing")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.StringVar(&o.topics.POS, "topic-pos", envOr("SHELFLAKE_TOPIC_POS", ""), "POS transactions topic (default pos.transactions)")
	f.StringVar(&o.topics.Inventory, "topic-inventory", envOr("SHELFLAKE_TOPIC_INVENTORY", ""), "inventory snapshots topic (default erp.inventory)")
	f.StringVar(&o.topics.PurchaseOrder, "topic-purchase-orders", envOr("SHELFLAKE_TOPIC_PURCHASE_ORDERS", ""), "purchase orders topic (default erp.purchase_orders)")
	f.StringVar(&o.topics.ItemLocation, "topic-item-locations", envOr("SHELFLAKE_TOPIC_ITEM_LOCATIONS", ""), "item locations topic (default erp.item_locations)")
	f.StringVar(&o.topics.Promotion, "topic-promotions", envOr("SHELFLAKE_TOPIC_PROMOTIONS", ""), "promotions topic (default erp.promotions)")
	return cmd
}

// parseWhen reads an RFC 3339 time or a YYYY-MM-DD date (midnight UTC); ""
// is the zero time (an open bound).
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 or YYYY-MM-DD", s)
	}
	return t, nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/route"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

type writebackOutcomesFlags struct {
	lake      string
	erpConfig string
	since     string
	json      bool
}

func newWritebackOutcomesCmd(a *app) *cobra.Command {
	o := writebackOutcomesFlags{}
	cmd := &cobra.Command{
		Use:   "outcomes --lake URI --erp-config FILE",
		Short: "Read back what planners did with the suggested POs in the ERPs",
		Long: `outcomes asks each ERP of --erp-config that can read back (Odoo, NetSuite,
…) for the documents erp_writeback_log shows it accepted, of the completed
forecast runs since --since, and appends to suggestion_outcomes one row per
line of every document whose decision (pending, accepted, changed, rejected)
or quantities changed since the last read-back: a rerun with nothing new in
the ERPs appends nothing. The saved query suggestion_acceptance and the
report summarise the table.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWritebackOutcomes(cmd, a, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI (env SHELFLAKE_LAKE)")
	f.StringVar(&o.erpConfig, "erp-config", envOr("SHELFLAKE_ERP_CONFIG", ""), "JSON file of the ERP routes (env SHELFLAKE_ERP_CONFIG; see README)")
	f.StringVar(&o.since, "since", "", "only runs with an as-of date on or after this YYYY-MM-DD (default: all)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func runWritebackOutcomes(cmd *cobra.Command, a *app, o writebackOutcomesFlags) (err error) {
	ctx := cmd.Context()
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	if o.erpConfig == "" {
		return errors.New("--erp-config is required (or SHELFLAKE_ERP_CONFIG): the ERPs to read back from")
	}
	var since schema.Date
	if o.since != "" {
		if since, err = schema.ParseDate(o.since); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	l, err := openLake(ctx, o.lake, lake.Options{Logger: a.log})
	if err != nil {
		return err
	}
	defer l.Close()
	rs, err := route.Load(o.erpConfig, erpAdapters(), route.Deps{})
	if err != nil {
		return err
	}
	defer rs.Close()
	readers := rs.Readers()
	if len(readers) == 0 {
		return fmt.Errorf("%s: no route's ERP can read back decisions", o.erpConfig)
	}
	rep, err := writeback.ReadBack(ctx, l, readers, since)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CHANNEL\tDOCUMENTS")
	names := make([]string, 0, len(rep.ByChannel))
	for n := range rep.ByChannel {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s\t%d\n", n, rep.ByChannel[n])
	}
	w.Flush()
	fmt.Fprintf(a.stdout, "%d documents read back, %d with a new decision or quantity (pending %d, accepted %d, changed %d, rejected %d)\n",
		rep.Documents, rep.Changed, rep.Decisions[writeback.OutcomePending], rep.Decisions[writeback.OutcomeAccepted],
		rep.Decisions[writeback.OutcomeChanged], rep.Decisions[writeback.OutcomeRejected])
	return nil
}

package writeback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
)

// ReadBackReport describes one ReadBack.
type ReadBackReport struct {
	// Documents is the number of accepted documents looked up; Changed how
	// many of them had a new decision or quantity (appended), by decision.
	Documents int
	Changed   int
	Decisions map[string]int
	// ByChannel counts the documents looked up per channel.
	ByChannel map[string]int
	// Version is the suggestion_outcomes version committed (-1: none).
	Version int64
}

// ReadBack asks each reader (channel name → reader) what planners did with
// the documents the log shows accepted on that channel, of the completed
// runs with an as-of date on or after since (0: all), and appends to
// suggestion_outcomes one observation per document whose decision or
// quantities differ from its newest observation there: a rerun with nothing
// changed in the ERPs appends nothing.
func ReadBack(ctx context.Context, l *lake.Lake, readers map[string]OutcomeReader, since schema.Date) (ReadBackReport, error) {
	rep := ReadBackReport{Decisions: map[string]int{}, ByChannel: map[string]int{}, Version: -1}
	rows, _, err := ReadLog(ctx, l)
	if err != nil {
		return rep, err
	}
	type run struct {
		asOf schema.Date
		id   string
	}
	accepted := map[string]map[string]run{} // channel → key → run
	for _, r := range rows {
		if _, ok := readers[r.Channel]; !ok || r.Status != schema.WritebackAccepted || r.DT < since {
			continue
		}
		if accepted[r.Channel] == nil {
			accepted[r.Channel] = map[string]run{}
		}
		accepted[r.Channel][r.DocumentKey] = run{r.DT, r.RunID}
	}
	// The documents as sent, from their runs' outboxes.
	docs := map[string]*Document{}
	loaded := map[run]bool{}
	for _, keys := range accepted {
		for _, ru := range keys {
			if loaded[ru] {
				continue
			}
			loaded[ru] = true
			ds, err := LoadDocuments(ctx, l.Bucket(), ru.asOf, ru.id)
			if err != nil {
				return rep, err
			}
			for _, d := range ds {
				docs[d.ExternalRef] = d
			}
		}
	}
	prev, err := latestOutcomes(ctx, l)
	if err != nil {
		return rep, err
	}
	var out []schema.SuggestionOutcomeRow
	channels := make([]string, 0, len(accepted))
	for ch := range accepted {
		channels = append(channels, ch)
	}
	slices.Sort(channels)
	for _, ch := range channels {
		var mine []*Document
		for key := range accepted[ch] {
			if d, ok := docs[key]; ok {
				mine = append(mine, d)
			}
		}
		slices.SortFunc(mine, func(a, b *Document) int { return strings.Compare(a.ExternalRef, b.ExternalRef) })
		if len(mine) == 0 {
			continue
		}
		outs, err := readers[ch].Outcomes(ctx, mine)
		if err != nil {
			return rep, fmt.Errorf("read-back from %s: %w", ch, err)
		}
		rep.Documents += len(outs)
		rep.ByChannel[ch] += len(outs)
		for _, o := range outs {
			d := docs[o.ExternalRef]
			if d == nil {
				continue
			}
			if o.Channel == "" {
				o.Channel = ch
			}
			if prev[outcomeKey{o.ExternalRef, o.Channel}] == fingerprint(o) {
				continue
			}
			rep.Changed++
			rep.Decisions[o.Decision]++
			seen := o.Seen.UTC()
			if seen.IsZero() {
				seen = time.Now().UTC()
			}
			seen = seen.Truncate(time.Microsecond)
			lines := o.Lines
			if len(lines) == 0 {
				lines = []OutcomeLine{{}}
			}
			for _, ln := range lines {
				out = append(out, schema.SuggestionOutcomeRow{DT: d.AsOf, ExternalRef: o.ExternalRef, Channel: o.Channel, DocID: o.DocID,
					RunID: d.RunID, LocationID: d.LocationID, SupplierID: d.SupplierID, ERPStatus: o.ERPStatus, Decision: o.Decision,
					SKU: ln.SKU, SuggestedQty: ln.SuggestedQty, PlannerQty: ln.PlannerQty, SeenAt: seen})
			}
		}
	}
	if len(out) == 0 {
		return rep, nil
	}
	v, err := appendOutcomes(ctx, l, out)
	if err != nil {
		return rep, err
	}
	rep.Version = v
	return rep, nil
}

type outcomeKey struct{ ref, channel string }

// fingerprint is what makes an observation new: the decision, the ERP's
// status and id, and every line's quantities.
func fingerprint(o Outcome) string {
	var b strings.Builder
	b.WriteString(o.Decision + "\x00" + o.ERPStatus + "\x00" + o.DocID)
	lines := slices.Clone(o.Lines)
	slices.SortFunc(lines, func(a, b OutcomeLine) int { return strings.Compare(a.SKU, b.SKU) })
	for _, l := range lines {
		b.WriteString("\x00" + l.SKU + ":" + strconv.FormatInt(l.SuggestedQty, 10) + ":" + strconv.FormatInt(l.PlannerQty, 10))
	}
	return b.String()
}

// latestOutcomes returns the fingerprint of the newest observation of each
// document and channel in suggestion_outcomes (none when it does not
// exist).
func latestOutcomes(ctx context.Context, l *lake.Lake) (map[outcomeKey]string, error) {
	t := schema.TableSuggestionOutcomes()
	dt, err := l.ExistingTable(ctx, t)
	if errors.Is(err, delta.ErrTableNotFound) {
		return map[outcomeKey]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("suggestion outcomes: %w", err)
	}
	type obs struct {
		seen time.Time
		o    Outcome
	}
	newest := map[outcomeKey]*obs{}
	for _, f := range snap.Files() {
		rows, err := lake.ReadRows[schema.SuggestionOutcomeRow](ctx, l, f.Key)
		if err != nil {
			return nil, fmt.Errorf("suggestion outcomes: %w", err)
		}
		for _, r := range rows {
			k := outcomeKey{r.ExternalRef, r.Channel}
			cur := newest[k]
			if cur == nil || r.SeenAt.After(cur.seen) {
				cur = &obs{seen: r.SeenAt, o: Outcome{Decision: r.Decision, ERPStatus: r.ERPStatus, DocID: r.DocID}}
				newest[k] = cur
			}
			if r.SeenAt.Equal(cur.seen) && (r.SKU != "" || r.SuggestedQty != 0 || r.PlannerQty != 0) {
				cur.o.Lines = append(cur.o.Lines, OutcomeLine{SKU: r.SKU, SuggestedQty: r.SuggestedQty, PlannerQty: r.PlannerQty})
			}
		}
	}
	out := make(map[outcomeKey]string, len(newest))
	for k, v := range newest {
		out[k] = fingerprint(v.o)
	}
	return out, nil
}

// appendOutcomes commits rows to suggestion_outcomes, one file per dt.
func appendOutcomes(ctx context.Context, l *lake.Lake, rows []schema.SuggestionOutcomeRow) (int64, error) {
	t := schema.TableSuggestionOutcomes()
	dt, err := l.Table(ctx, t)
	if err != nil {
		return 0, err
	}
	slices.SortFunc(rows, func(a, b schema.SuggestionOutcomeRow) int {
		if a.DT != b.DT {
			return int(a.DT - b.DT)
		}
		if c := strings.Compare(a.ExternalRef, b.ExternalRef); c != 0 {
			return c
		}
		if c := strings.Compare(a.Channel, b.Channel); c != 0 {
			return c
		}
		return strings.Compare(a.SKU, b.SKU)
	})
	var adds []delta.Add
	for i := 0; i < len(rows); {
		j := i
		for j < len(rows) && rows[j].DT == rows[i].DT {
			j++
		}
		a, err := lake.WriteFiles(ctx, l, t, rows[i].DT, rows[i:j], lake.WriteOptions{})
		if err != nil {
			return 0, fmt.Errorf("suggestion outcomes: %w", err)
		}
		adds = append(adds, a...)
		i = j
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("suggestion outcomes: %w", err)
	}
	res, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds, Operation: "WRITE",
		Info: map[string]any{"shelflake.outcomes": map[string]any{"rows": len(rows)}}})
	if err != nil {
		return 0, fmt.Errorf("suggestion outcomes commit: %w", err)
	}
	return res.Version, nil
}

package report

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/schema"
)

// testOptions are the report options of the tests: a fixed clock, small
// caps so that POs and lines are left out, synthetic watermarks.
func testOptions(f *fixture) Options {
	return Options{
		Lake: "file:///fixture/lake", Now: clockForecast.Add(3 * time.Hour),
		MaxPOs: 4, MaxLinesPerPO: 3, HistoryDays: 28, HorizonDays: 14,
		Watermarks: []Watermark{
			{Table: schema.TableNamePOSLines, Topic: schema.TopicPOS, Partition: 0, Offset: 100, EventTime: f.last.Time().Add(20 * time.Hour), CommittedAt: clockRaw},
			{Table: schema.TableNamePOSLines, Topic: schema.TopicPOS, Partition: 1, Offset: 90, EventTime: f.last.Time().Add(18 * time.Hour), CommittedAt: clockRaw},
			{Table: schema.TableNameInventorySnapshots, Topic: schema.TopicInventory, Partition: 0, Offset: 7, CommittedAt: clockRaw},
		},
		Lateness: time.Hour,
	}
}

func TestReportFromLake(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, queries.Options{})
	opts := testOptions(f)
	var buf bytes.Buffer
	r, err := Write(t.Context(), &buf, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	page := buf.String()

	t.Run("freshness shows each raw table's newest data and commit", func(t *testing.T) {
		type want struct {
			rows  int
			day   schema.Date
			event time.Time
		}
		wants := map[string]want{}
		newest := func(name string, n int, day func(int) schema.Date, at func(int) time.Time) {
			w := want{rows: n}
			for i := range n {
				w.day = max(w.day, day(i))
				if at(i).After(w.event) {
					w.event = at(i)
				}
			}
			wants[name] = w
		}
		newest(schema.TableNamePOSLines, len(f.pos), func(i int) schema.Date { return f.pos[i].BusinessDate }, func(i int) time.Time { return f.pos[i].EventTime })
		newest(schema.TableNameInventorySnapshots, len(f.inv), func(i int) schema.Date { return f.inv[i].BusinessDate }, func(i int) time.Time { return f.inv[i].AsOf })
		newest(schema.TableNamePurchaseOrderLines, len(f.po), func(i int) schema.Date { return f.po[i].BusinessDate }, func(i int) time.Time { return f.po[i].UpdatedAt })
		newest(schema.TableNameItemLocations, len(f.items), func(i int) schema.Date { return f.items[i].BusinessDate }, func(i int) time.Time { return f.items[i].UpdatedAt })
		newest(schema.TableNamePromotions, len(f.promos), func(i int) schema.Date { return f.promos[i].BusinessDate }, func(i int) time.Time { return f.promos[i].UpdatedAt })
		newest(schema.TableNameRejects, len(f.rejects), func(i int) schema.Date { return f.rejects[i].BusinessDate }, func(i int) time.Time { return f.rejects[i].ReceivedAt })
		if len(r.Sources) != len(wants) {
			t.Fatalf("%d sources, want %d", len(r.Sources), len(wants))
		}
		for _, src := range r.Sources {
			w := wants[src.Table]
			if !src.Present || src.Rows != int64(w.rows) || !src.HasDay || src.NewestDay != w.day || !src.NewestEvent.Equal(w.event) {
				t.Errorf("%s: present %v, %d rows, newest day %s, event %s; want %d rows, %s, %s",
					src.Table, src.Present, src.Rows, src.NewestDay, src.NewestEvent, w.rows, w.day, w.event)
			}
			// Delta keeps commit timestamps increasing: a millisecond on.
			if src.Version != 1 || src.CommitTime.Sub(clockRaw) < 0 || src.CommitTime.Sub(clockRaw) >= time.Second || src.CommitLag != opts.Now.Sub(src.CommitTime) {
				t.Errorf("%s: version %d committed %s (lag %s), want version 1 at %s", src.Table, src.Version, src.CommitTime, src.CommitLag, clockRaw)
			}
			if src.EventLag != opts.Now.Sub(w.event) || !src.Stale {
				t.Errorf("%s: event lag %s stale %v, want %s and stale", src.Table, src.EventLag, src.Stale, opts.Now.Sub(w.event))
			}
			if !strings.Contains(page, `data-table="`+src.Table+`"`) {
				t.Errorf("page has no freshness row for %s", src.Table)
			}
		}
		// Watermarks: pos_lines is complete up to its slower partition
		// minus the lateness; inventory has a partition without event time.
		pos, inv := r.Sources[0], r.Sources[1]
		if want := f.last.Time().Add(17 * time.Hour); pos.Partitions != 2 || !pos.CompleteUpTo.Equal(want) {
			t.Errorf("pos_lines: %d partitions complete up to %s, want 2 and %s", pos.Partitions, pos.CompleteUpTo, want)
		}
		if inv.Partitions != 1 || !inv.CompleteUpTo.IsZero() {
			t.Errorf("inventory_snapshots: %d partitions complete up to %s, want 1 and unknown", inv.Partitions, inv.CompleteUpTo)
		}
		if !strings.Contains(page, fmtTime(pos.CompleteUpTo)) {
			t.Errorf("page does not show pos_lines complete up to %s", fmtTime(pos.CompleteUpTo))
		}
	})

	t.Run("rejects by reason equal the rejects written", func(t *testing.T) {
		want := map[[2]string]int64{}
		for _, rj := range f.rejects {
			want[[2]string{rj.Topic, rj.Reason}]++
		}
		got := map[[2]string]int64{}
		var total int64
		for i, g := range r.Rejects {
			got[[2]string{g.Topic, g.Reason}] = g.Count
			total += g.Count
			if i > 0 && g.Count > r.Rejects[i-1].Count {
				t.Errorf("rejects not by count: %d after %d", g.Count, r.Rejects[i-1].Count)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || total != int64(len(f.rejects)) || r.RejectsTotal != total {
			t.Errorf("rejects %v (total %d, report %d), want %v (total %d)", got, total, r.RejectsTotal, want, len(f.rejects))
		}
		// The page's rows carry the same counts.
		rows := regexp.MustCompile(`<tr class="reject" data-topic="([^"]*)" data-reason="([^"]*)" data-count="(\d+)"`).FindAllStringSubmatch(page, -1)
		if len(rows) != len(want) {
			t.Fatalf("page has %d reject rows, want %d", len(rows), len(want))
		}
		for _, m := range rows {
			key := [2]string{unescape(m[1]), unescape(m[2])}
			if fmt.Sprint(want[key]) != m[3] {
				t.Errorf("page: %v rejected %s, want %d", key, m[3], want[key])
			}
		}
	})

	t.Run("markup and URLs from the lake are text", func(t *testing.T) {
		for _, bad := range []string{"<script", "<img", "<link", "<iframe", "url(", "@import"} {
			if strings.Contains(page, bad) {
				t.Errorf("page contains %q", bad)
			}
		}
		if !strings.Contains(page, "&lt;script&gt;") || !strings.Contains(page, "&lt;img src=https://example.com/x.png") {
			t.Error("the reject's markup is not shown escaped")
		}
		checkOffline(t, page)
	})

	t.Run("suggested POs are the most urgent, capped, with their lines", func(t *testing.T) {
		checkRun(t, f, r, opts)
	})

	t.Run("the page has a chart per charted line", func(t *testing.T) {
		n := r.ChartedLines()
		if n == 0 {
			t.Fatal("no line charted")
		}
		if got := strings.Count(page, "<svg"); got != n {
			t.Errorf("%d SVG elements, want one per charted line: %d", got, n)
		}
		if got := strings.Count(page, `<div class="line" data-sku=`); got != n {
			t.Errorf("%d line blocks, want %d", got, n)
		}
		for _, id := range []string{`id="freshness"`, `id="rejects"`, `id="suggestions"`, `id="tables"`, `id="omitted-pos"`} {
			if !strings.Contains(page, id) {
				t.Errorf("page has no %s", id)
			}
		}
		if strings.Contains(page, `id="no-forecast"`) {
			t.Error("page says there is no forecast run")
		}
		for _, want := range []string{plural(r.Run.OmittedPOs, "more suggested PO") + " (", plural(r.Run.Unassigned, "line") + " with a quantity "} {
			if !strings.Contains(page, want) {
				t.Errorf("page does not say %q", want)
			}
		}
	})
}

// checkRun compares the report's run with the fixture's suggestions.
func checkRun(t *testing.T, f *fixture, r *Report, opts Options) {
	t.Helper()
	run := r.Run
	if run == nil {
		t.Fatal("no run")
	}
	type po struct {
		key, loc, sup string
		needBy        schema.Date
		value         schema.Money
		units         int64
		lines         []schema.ReplenishmentSuggestionRow
	}
	pos := map[string]*po{}
	var lines, units, unassigned int64
	value := map[string]schema.Money{}
	for _, s := range f.sugg {
		if s.SuggestedQty <= 0 {
			continue
		}
		lines++
		units += s.SuggestedQty
		if s.DocumentKey == "" {
			unassigned++
			continue
		}
		value[s.Currency] += s.ExtendedCost
		p := pos[s.DocumentKey]
		if p == nil {
			p = &po{key: s.DocumentKey, loc: s.LocationID, sup: s.SupplierID, needBy: s.NeedByDate}
			pos[s.DocumentKey] = p
		}
		p.needBy = min(p.needBy, s.NeedByDate)
		p.value += s.ExtendedCost
		p.units += s.SuggestedQty
		p.lines = append(p.lines, s)
	}
	order := make([]*po, 0, len(pos))
	for _, p := range pos {
		order = append(order, p)
	}
	slices.SortFunc(order, func(a, b *po) int {
		return cmp.Or(cmp.Compare(a.needBy, b.needBy), cmp.Compare(b.value, a.value), cmp.Compare(a.key, b.key))
	})
	if unassigned == 0 {
		t.Fatal("fixture has no line without a supplier")
	}
	if len(order) <= opts.MaxPOs {
		t.Fatalf("fixture has %d POs: not enough to leave some out", len(order))
	}
	if run.AsOf != f.asOf || run.RunID != "run-test" || run.Series != int64(len(f.sugg)) || run.Lines != lines ||
		run.Units != units || run.Unassigned != unassigned || run.Documents != int64(len(pos)) || !run.FinishedAt.Equal(clockForecast) {
		t.Errorf("run %s %s: %d series, %d lines, %d units, %d unassigned, %d documents, finished %s; want %s, %d, %d, %d, %d, %d, %s",
			run.AsOf, run.RunID, run.Series, run.Lines, run.Units, run.Unassigned, run.Documents, run.FinishedAt,
			f.asOf, len(f.sugg), lines, units, unassigned, len(pos), clockForecast)
	}
	var gotValue []string
	for _, a := range run.Value {
		gotValue = append(gotValue, a.Currency+" "+a.Value.String())
	}
	var wantValue []string
	for c, v := range value {
		wantValue = append(wantValue, c+" "+v.String())
	}
	slices.Sort(wantValue)
	if fmt.Sprint(gotValue) != fmt.Sprint(wantValue) {
		t.Errorf("value %v, want %v", gotValue, wantValue)
	}
	if len(run.POs) != opts.MaxPOs || run.OmittedPOs != int64(len(order)-opts.MaxPOs) {
		t.Fatalf("%d POs shown, %d left out; want %d and %d", len(run.POs), run.OmittedPOs, opts.MaxPOs, len(order)-opts.MaxPOs)
	}
	var omittedLines, omittedUnits int64
	for _, p := range order[opts.MaxPOs:] {
		omittedLines += int64(len(p.lines))
		omittedUnits += p.units
	}
	if run.OmittedLines != omittedLines || run.OmittedUnits != omittedUnits {
		t.Errorf("left out %d lines, %d units; want %d, %d", run.OmittedLines, run.OmittedUnits, omittedLines, omittedUnits)
	}
	sold := map[string]int64{}
	for _, p := range f.pos {
		if p.TxnType == "sale" {
			sold[p.StoreID+"/"+p.SKU+"/"+p.BusinessDate.String()] += p.Quantity
		}
	}
	fc := map[string]float64{}
	for _, r := range f.fc {
		fc[r.LocationID+"/"+r.SKU+"/"+r.Date.String()] = r.Forecast
	}
	snapshots := map[string][]int64{}
	for _, r := range f.inv {
		k := r.LocationID + "/" + r.SKU + "/" + r.BusinessDate.String()
		snapshots[k] = append(snapshots[k], r.OnHand)
	}
	for i, got := range run.POs {
		want := order[i]
		if got.DocumentKey != want.key || got.LocationID != want.loc || got.SupplierID != want.sup || got.NeedBy != want.needBy ||
			got.Value != want.value || got.Units != want.units || got.Lines != int64(len(want.lines)) {
			t.Errorf("PO %d: %+v, want %s %s %s need by %s value %s units %d lines %d", i+1, got, want.key, want.loc, want.sup,
				want.needBy, want.value, want.units, len(want.lines))
			continue
		}
		slices.SortFunc(want.lines, func(a, b schema.ReplenishmentSuggestionRow) int {
			return cmp.Or(cmp.Compare(b.ExtendedCost, a.ExtendedCost), cmp.Compare(a.SKU, b.SKU))
		})
		charted := want.lines[:min(len(want.lines), opts.MaxLinesPerPO)]
		if len(got.Charted) != len(charted) || got.OmittedLines != int64(len(want.lines)-len(charted)) {
			t.Errorf("PO %s: %d lines charted, %d left out; want %d, %d", got.DocumentKey, len(got.Charted), got.OmittedLines, len(charted), len(want.lines)-len(charted))
			continue
		}
		for j, ln := range got.Charted {
			w := charted[j]
			if ln.SKU != w.SKU || ln.SuggestedQty != w.SuggestedQty || ln.ExtendedCost != w.ExtendedCost || ln.UnitCost != w.UnitCost ||
				ln.OnHand != w.OnHand || ln.InventoryPosition != w.InventoryPosition || ln.ReorderPoint != w.ReorderPoint {
				t.Errorf("PO %s line %d: %s qty %d cost %s, want %s qty %d cost %s", got.DocumentKey, j, ln.SKU, ln.SuggestedQty, ln.ExtendedCost, w.SKU, w.SuggestedQty, w.ExtendedCost)
				continue
			}
			s := ln.Series
			if s.Start != f.asOf.AddDays(-opts.HistoryDays) || len(s.Sold) != opts.HistoryDays || len(s.Forecast) != opts.HorizonDays {
				t.Fatalf("series of %s: start %s, %d history, %d horizon days", ln.SKU, s.Start, len(s.Sold), len(s.Forecast))
			}
			known := 0
			for d := range s.Sold {
				k := got.LocationID + "/" + ln.SKU + "/" + s.Start.AddDays(d).String()
				if s.Sold[d] != sold[k] {
					t.Errorf("%s sold %d, want %d", k, s.Sold[d], sold[k])
				}
				if s.OnHandKnown[d] {
					known++
					if !slices.Contains(snapshots[k], s.OnHand[d]) {
						t.Errorf("%s on hand %d is no snapshot's of that day (%v)", k, s.OnHand[d], snapshots[k])
					}
				}
			}
			if known == 0 {
				t.Errorf("%s/%s: no on-hand history", got.LocationID, ln.SKU)
			}
			for d, v := range s.Forecast {
				k := got.LocationID + "/" + ln.SKU + "/" + f.asOf.AddDays(d).String()
				if math.Abs(v-fc[k]) > 1e-9 {
					t.Errorf("%s forecast %v, want %v", k, v, fc[k])
				}
			}
			if ln.Chart.Title == "" || ln.Chart.Position == nil {
				t.Errorf("%s: chart without title or position", ln.SKU)
			}
		}
	}
}

func TestReportWithoutForecastRun(t *testing.T) {
	f := getFixture(t)
	// As of before the forecast run was committed, its tables do not exist.
	s := openSession(t, f, queries.Options{AsOf: clockForecast.Add(-time.Minute)})
	var buf bytes.Buffer
	r, err := Write(t.Context(), &buf, s, testOptions(f))
	if err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if r.Run != nil {
		t.Fatalf("run %+v, want none", r.Run)
	}
	if !strings.Contains(page, `id="no-forecast"`) || !strings.Contains(page, "No forecast run yet") {
		t.Error(`page does not say "No forecast run yet"`)
	}
	if n := strings.Count(page, "<svg"); n != 0 {
		t.Errorf("%d charts without a forecast run", n)
	}
	if len(r.Rejects) == 0 || !r.Sources[0].Present {
		t.Error("freshness and rejects missing")
	}
	checkOffline(t, page)
}

func TestReportOfAnEmptyLake(t *testing.T) {
	l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := queries.Open(t.Context(), l, queries.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	r, err := Write(t.Context(), &buf, s, Options{Now: clockRaw})
	if err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, src := range r.Sources {
		if src.Present || src.Rows != 0 {
			t.Errorf("%s: present %v with %d rows in an empty lake", src.Table, src.Present, src.Rows)
		}
	}
	if r.Run != nil || len(r.Rejects) != 0 {
		t.Errorf("run %v, rejects %v in an empty lake", r.Run, r.Rejects)
	}
	for _, want := range []string{"not in the lake yet", "No rejects", "No forecast run yet", "No planners' decisions read back yet"} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not say %q", want)
		}
	}
	checkOffline(t, page)
}

func TestOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"a negative PO cap is refused", Options{MaxPOs: -1}},
		{"a negative line cap is refused", Options{MaxLinesPerPO: -2}},
		{"a negative history is refused", Options{HistoryDays: -1}},
		{"a span past the chart limit is refused", Options{HistoryDays: MaxChartDays, HorizonDays: 1}},
		{"a negative lateness is refused", Options{Lateness: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Build(t.Context(), nil, tc.opts); err == nil {
				t.Error("no error")
			}
		})
	}
}

// checkOffline checks that the page needs nothing from elsewhere: no URL
// inside any tag (links are in-page anchors), no scripts.
func checkOffline(t *testing.T, page string) {
	t.Helper()
	tags := regexp.MustCompile(`<[^>]*>`).FindAllString(page, -1)
	if len(tags) < 20 {
		t.Fatalf("page has %d tags", len(tags))
	}
	for _, tag := range tags {
		low := strings.ToLower(tag)
		if strings.Contains(low, "http:") || strings.Contains(low, "https:") || strings.Contains(low, "//") && !strings.HasPrefix(low, "<!--") {
			t.Errorf("tag with a URL: %s", tag)
		}
		if strings.HasPrefix(low, "<script") {
			t.Errorf("script: %s", tag)
		}
		for _, m := range regexp.MustCompile(`\bhref="([^"]*)"`).FindAllStringSubmatch(tag, -1) {
			if !strings.HasPrefix(m[1], "#") {
				t.Errorf("link out of the page: %s", tag)
			}
		}
	}
}

// unescape undoes html/template's escaping of attribute text.
func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&amp;", "&", "&#43;", "+").Replace(s)
}

func TestReportShowsPlannersDecisionsPerSupplier(t *testing.T) {
	ctx := t.Context()
	l, err := lake.Open(ctx, t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	day := schema.NewDate(2026, 3, 2)
	t0 := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	row := func(ref, sup, decision, sku string, sugg, plan int64, seen time.Time) schema.SuggestionOutcomeRow {
		return schema.SuggestionOutcomeRow{DT: day, ExternalRef: ref, Channel: "odoo:acme", RunID: "r", LocationID: "S1", SupplierID: sup,
			ERPStatus: "x", Decision: decision, SKU: sku, SuggestedQty: sugg, PlannerQty: plan, SeenAt: seen}
	}
	rows := []schema.SuggestionOutcomeRow{
		// d1 was pending, then accepted: the newest observation counts.
		row("d1", "SUP1", "pending", "A", 10, 10, t0), row("d1", "SUP1", "accepted", "A", 10, 10, t0.Add(time.Hour)),
		row("d2", "SUP1", "changed", "B", 6, 12, t0), row("d2", "SUP1", "changed", "C", 4, 4, t0),
		row("d3", "SUP1", "rejected", "D", 8, 0, t0),
		row("d4", "SUP2", "pending", "E", 5, 5, t0),
	}
	if err := writeTable(ctx, l, schema.TableSuggestionOutcomes(), rows); err != nil {
		t.Fatal(err)
	}
	s, err := queries.Open(ctx, l, queries.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	r, err := Write(ctx, &buf, s, Options{Now: t0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Outcomes) != 2 {
		t.Fatalf("outcomes %+v", r.Outcomes)
	}
	g := r.Outcomes[0]
	if g.SupplierID != "SUP1" || g.Documents != 3 || g.Accepted != 1 || g.Changed != 1 || g.Rejected != 1 || g.Pending != 0 ||
		g.AcceptanceRate == nil || *g.AcceptanceRate != 1.0/3 || g.UnitsSuggested != 28 || g.UnitsOrdered != 26 {
		t.Errorf("SUP1: %+v", g)
	}
	if g := r.Outcomes[1]; g.SupplierID != "SUP2" || g.Pending != 1 || g.AcceptanceRate != nil || g.UnitsSuggested != 0 {
		t.Errorf("SUP2: %+v", g)
	}
	page := buf.String()
	for _, want := range []string{`<section id="outcomes">`, `data-supplier="SUP1" data-documents="3" data-accepted="1"`, "33%"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	checkOffline(t, page)
}

package validate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// queriedNameRE finds metric names in PromQL (and any other text).
var queriedNameRE = regexp.MustCompile(`shelflake_[a-z0-9_]+`)

// unknownMetrics returns the shelflake_ names in text that the code does not
// export and METRICS.md does not promise. A histogram's _bucket, _sum and
// _count series count as its name.
func unknownMetrics(text string, exported, pending map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range queriedNameRE.FindAllString(text, -1) {
		if seen[n] {
			continue
		}
		seen[n] = true
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && exported[b] {
				base = b
			}
		}
		if !exported[base] && !pending[base] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestUnknownMetricsSpotsNamesTheCodeDoesNotExport(t *testing.T) {
	exported := map[string]bool{"shelflake_a_seconds": true, "shelflake_b_total": true}
	pending := map[string]bool{"shelflake_c": true}
	cases := []struct {
		name string
		expr string
		want []string
	}{
		{"exported names pass", `rate(shelflake_b_total[5m]) > shelflake_a_seconds`, nil},
		{"histogram series of an exported histogram pass", `histogram_quantile(0.9, rate(shelflake_a_seconds_bucket[5m])) + shelflake_a_seconds_sum / shelflake_a_seconds_count`, nil},
		{"pending names pass", `shelflake_c == 0`, nil},
		{"a misspelt name fails", `rate(shelflake_b_totals[5m])`, []string{"shelflake_b_totals"}},
		{"a suffix of a name that is not exported fails", `shelflake_d_count`, []string{"shelflake_d_count"}},
		{"recording rule names are not metric names", `shelflake:ingest_lag_records:sum > 0`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := unknownMetrics(c.expr, exported, pending)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("unknownMetrics(%q) = %v, want %v", c.expr, got, c.want)
			}
		})
	}
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) (dashboard, string) {
	t.Helper()
	raw := readDeploy(t, "grafana/shelflake.json")
	var d dashboard
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("grafana/shelflake.json: %v", err)
	}
	return d, raw
}

// dashboardExprs returns every query of the dashboard by panel title.
func dashboardExprs(d dashboard) map[string]string {
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title+" "+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func TestDashboardIsWellFormed(t *testing.T) {
	d, _ := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard needs a title and a uid (provisioning keys on the uid)")
	}
	dsVar := false
	for _, v := range d.Templating.List {
		dsVar = dsVar || (v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus")
	}
	if !dsVar {
		t.Error("dashboard needs a Prometheus datasource variable named datasource")
	}
	ids := map[int]bool{}
	type rect struct{ x0, y0, x1, y1 int }
	var placed []rect
	var names []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		r := rect{g.X, g.Y, g.X + g.W, g.Y + g.H}
		for i, o := range placed {
			if r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1 {
				t.Errorf("panel %q overlaps panel %q", p.Title, names[i])
			}
		}
		placed, names = append(placed, r), append(names, p.Title)
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource must be the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: query %s is empty", p.Title, tg.RefID)
			}
		}
	}
	if len(ids) < 10 {
		t.Errorf("only %d panels", len(ids))
	}
	// The dashboard shows the signals the alerts watch.
	all := strings.Join(mapValues(dashboardExprs(d)), "\n")
	for _, m := range []string{
		"shelflake_ingest_freshness_seconds", "shelflake_ingest_lag_records", "shelflake_ingest_rejects_total",
		"shelflake_ingest_commit_conflicts_total", "shelflake_ingest_fenced_commits_total",
		"shelflake_forecast_last_success_timestamp_seconds", "shelflake_forecast_last_run_success",
		"shelflake_writeback_last_run_documents",
	} {
		if !strings.Contains(all, m) {
			t.Errorf("no dashboard query shows %s", m)
		}
	}
}

// TestDashboardQueriesParse hands every dashboard query to promtool as a
// recording rule: promtool parses the PromQL. Grafana's $__rate_interval
// becomes a fixed range.
func TestDashboardQueriesParse(t *testing.T) {
	d, _ := readDashboard(t)
	exprs := dashboardExprs(d)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, k := range sortedKeys(exprs) {
		e := strings.ReplaceAll(exprs[k], "$__rate_interval", "5m")
		j, _ := json.Marshal(e)
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, j)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, dir, "check", "rules", "dashboard.yaml")
	if !strings.Contains(out, fmt.Sprintf("%d rules found", len(exprs))) {
		t.Errorf("promtool did not check all %d queries:\n%s", len(exprs), out)
	}
}

// TestQueriedMetricsAreExported is the cross-check: every metric name the
// alert rules, the alert tests' inputs, the dashboard, the Prometheus
// configuration and the runbook mention is exported by the repository's code
// or promised in METRICS.md's pending block.
func TestQueriedMetricsAreExported(t *testing.T) {
	exported := repoFacts(t).metrics
	pending := pendingMetrics(t)
	_, dash := readDashboard(t)
	files := map[string]string{"grafana/shelflake.json": dash}
	for _, f := range append([]string{"prometheus/alerts.yaml", "prometheus/prometheus.yml", "RUNBOOK.md"}, ruleTestFiles...) {
		files[f] = readDeploy(t, f)
	}
	total := 0
	for _, f := range sortedKeys(files) {
		total += len(queriedNameRE.FindAllString(files[f], -1))
		for _, n := range unknownMetrics(files[f], exported, pending) {
			t.Errorf("%s uses %s, which the code does not export and deploy/METRICS.md does not list as pending", f, n)
		}
	}
	if total < 30 {
		t.Errorf("found only %d metric names in deploy/: is the extraction broken?", total)
	}
	// And every pending metric is used somewhere (else drop it from the contract).
	for n := range pending {
		used := false
		for _, text := range files {
			used = used || strings.Contains(text, n)
		}
		if !used {
			t.Errorf("pending metric %s is used by no alert or panel", n)
		}
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

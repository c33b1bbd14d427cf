package validate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite generated files (the PrometheusRule) from their sources")

// ruleFile is a Prometheus rule file, decoded strictly.
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ruleTestFile is a promtool unit test file, decoded strictly.
type ruleTestFile struct {
	RuleFiles          []string `json:"rule_files"`
	EvaluationInterval string   `json:"evaluation_interval"`
	Tests              []struct {
		Name        string `json:"name"`
		Interval    string `json:"interval"`
		InputSeries []struct {
			Series string `json:"series"`
			Values string `json:"values"`
		} `json:"input_series"`
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			EvalTime  string `json:"eval_time"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `json:"exp_labels"`
				ExpAnnotations map[string]string `json:"exp_annotations"`
			} `json:"exp_alerts"`
		} `json:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr       string `json:"expr"`
			EvalTime   string `json:"eval_time"`
			ExpSamples []struct {
				Labels string  `json:"labels"`
				Value  float64 `json:"value"`
			} `json:"exp_samples"`
		} `json:"promql_expr_test"`
	} `json:"tests"`
}

// ruleTestFiles are the promtool unit tests of alerts.yaml.
var ruleTestFiles = []string{"prometheus/alerts_test.yaml", "prometheus/alerts_week_test.yaml"}

func readAlerts(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	if err := strictYAML([]byte(readDeploy(t, "prometheus/alerts.yaml")), &rf); err != nil {
		t.Fatalf("prometheus/alerts.yaml: %v", err)
	}
	return rf
}

// The alerts issue 8 asks for, by what they watch.
var requiredAlerts = []string{
	"ShelflakeDataStale",              // freshness over 2 minutes per source
	"ShelflakeRejectRateHigh",         // reject rate over 0.1%
	"ShelflakeConsumerLagGrowing",     // lag growing for 10 minutes
	"ShelflakeCommitConflictsSpiking", // commit conflicts spiking
	"ShelflakeFencedCommitsSpiking",   // fenced commits spiking
	"ShelflakeForecastFailed",         // a forecast run failed
	"ShelflakeForecastMissedWeek",     // … or missed its week
	"ShelflakeWritebackFailures",      // ERP write-back failures
}

func TestAlertRulesAreComplete(t *testing.T) {
	rf := readAlerts(t)
	runbook := readDeploy(t, "RUNBOOK.md")
	anchors := markdownAnchors(runbook)
	alerts := map[string]rule{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("group %s: a rule must be either an alert or a recording rule: %+v", g.Name, r)
			}
			if r.Alert == "" {
				continue
			}
			if _, dup := alerts[r.Alert]; dup {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert] = r
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if r.Annotations[a] == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			want := "deploy/RUNBOOK.md#" + strings.ToLower(r.Alert)
			if r.Annotations["runbook"] != want {
				t.Errorf("alert %s: runbook %q, want %q", r.Alert, r.Annotations["runbook"], want)
			}
			if !anchors[strings.ToLower(r.Alert)] {
				t.Errorf("alert %s: RUNBOOK.md has no section %q", r.Alert, r.Alert)
			}
		}
	}
	for _, a := range requiredAlerts {
		if _, ok := alerts[a]; !ok {
			t.Errorf("alert %s is missing", a)
		}
	}

	// Every alert has a promtool case where it fires and one where it stays quiet.
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range ruleTestFiles {
		var tf ruleTestFile
		if err := strictYAML([]byte(readDeploy(t, f)), &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tf.RuleFiles) != 1 || tf.RuleFiles[0] != "alerts.yaml" {
			t.Errorf("%s: rule_files %v, want [alerts.yaml]", f, tf.RuleFiles)
		}
		for _, tc := range tf.Tests {
			for _, at := range tc.AlertRuleTest {
				if _, ok := alerts[at.Alertname]; !ok {
					t.Errorf("%s: test %q checks unknown alert %s", f, tc.Name, at.Alertname)
				}
				if len(at.ExpAlerts) > 0 {
					fires[at.Alertname] = true
				} else {
					quiet[at.Alertname] = true
				}
			}
		}
	}
	for a := range alerts {
		if !fires[a] {
			t.Errorf("alert %s: no promtool test where it fires", a)
		}
		if !quiet[a] {
			t.Errorf("alert %s: no promtool test where it stays quiet", a)
		}
	}
}

// markdownAnchors returns the GitHub anchors of a markdown file's headings.
func markdownAnchors(md string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		out[strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-")] = true
	}
	return out
}

// promtool returns the promtool binary `make deploy-test` builds from
// deploy/tools (SHELFLAKE_PROMTOOL), or bin/promtool of the repository.
func promtool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SHELFLAKE_PROMTOOL")
	if p == "" {
		p = filepath.Join(repoRoot, "bin", "promtool")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("promtool not found at %s (%v): run `make deploy-test`, which builds it from deploy/tools, or set SHELFLAKE_PROMTOOL", abs, err)
	}
	return abs
}

func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestPromtoolChecksAndUnitTests(t *testing.T) {
	dir := filepath.Join(deployDir, "prometheus")
	cases := []struct {
		name string
		args []string
	}{
		{"alert rules pass promtool check rules", []string{"check", "rules", "--lint=all", "--lint-fatal", "alerts.yaml"}},
		{"alert unit tests pass promtool test rules", append([]string{"test", "rules"}, baseNames(ruleTestFiles)...)},
		{"the compose Prometheus configuration passes promtool check config", []string{"check", "config", "--lint=all", "--lint-fatal", "prometheus.yml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := runPromtool(t, dir, c.args...)
			if !strings.Contains(out, "SUCCESS") {
				t.Errorf("promtool %v printed no SUCCESS:\n%s", c.args, out)
			}
		})
	}
	t.Run("promtool test rules fails on a wrong expectation", func(t *testing.T) {
		// Guard against a promtool that passes anything: flip one expectation.
		src := readDeploy(t, "prometheus/alerts_test.yaml")
		bad := strings.Replace(src, "value: 1000", "value: 999", 1)
		if bad == src {
			t.Fatal("alerts_test.yaml no longer has the expectation this test flips")
		}
		tmp := t.TempDir()
		for name, body := range map[string]string{"alerts_test.yaml": bad, "alerts.yaml": readDeploy(t, "prometheus/alerts.yaml")} {
			if err := os.WriteFile(filepath.Join(tmp, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(promtool(t), "test", "rules", "alerts_test.yaml")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("promtool accepted a wrong expectation:\n%s", out)
		}
	})
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

const prometheusRulePath = "k8s/components/prometheus-operator/prometheusrule.yaml"

// TestPrometheusRuleMatchesAlerts keeps the Prometheus Operator's copy of the
// rules equal to alerts.yaml; `go test -run PrometheusRule -update` rewrites it.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	rf := readAlerts(t)
	groupsJSON, err := json.Marshal(rf.Groups)
	if err != nil {
		t.Fatal(err)
	}
	var want []monitoringv1.RuleGroup
	if err := strictJSON(groupsJSON, &want); err != nil {
		t.Fatalf("alerts.yaml groups as monitoring.coreos.com/v1 RuleGroups: %v", err)
	}
	if *update {
		pr := monitoringv1.PrometheusRule{}
		pr.APIVersion, pr.Kind = "monitoring.coreos.com/v1", "PrometheusRule"
		pr.Name = "shelflake"
		pr.Labels = map[string]string{"app.kubernetes.io/component": "alerts"}
		pr.Spec.Groups = want
		y, err := yaml.Marshal(pr)
		if err != nil {
			t.Fatal(err)
		}
		y = bytes.Replace(y, []byte("  creationTimestamp: null\n"), nil, 1)
		header := "# Generated from deploy/prometheus/alerts.yaml by\n#   cd deploy/validate && go test -run PrometheusRule -update\n# Do not edit; edit alerts.yaml (the validate test fails while they differ).\n"
		if err := os.WriteFile(filepath.Join(deployDir, prometheusRulePath), append([]byte(header), y...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got monitoringv1.PrometheusRule
	if err := strictYAML([]byte(readDeploy(t, prometheusRulePath)), &got); err != nil {
		t.Fatalf("%s: %v", prometheusRulePath, err)
	}
	if !reflect.DeepEqual(got.Spec.Groups, want) {
		t.Errorf("%s differs from prometheus/alerts.yaml: run `cd deploy/validate && go test -run PrometheusRule -update`", prometheusRulePath)
	}
}

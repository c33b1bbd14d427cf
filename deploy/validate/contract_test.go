package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The metric names the code must export for the extraction to be trusted:
// if any goes missing, either the code changed (update deploy/) or the
// extraction broke.
var knownExported = []string{
	"shelflake_ingest_freshness_seconds",
	"shelflake_ingest_lag_records",
	"shelflake_ingest_rejects_total",
	"shelflake_ingest_records_consumed_total",
	"shelflake_ingest_fenced_commits_total",
	"shelflake_ingest_commit_conflicts_total",
	"shelflake_delta_commits_total",
	"shelflake_objstore_operations_total",
}

func TestSourceExtractionFindsWhatTheCodeDefines(t *testing.T) {
	f := repoFacts(t)
	cases := []struct {
		name  string
		set   map[string]bool
		names []string
	}{
		{"metric names written as string literals", f.metrics, knownExported},
		{"subcommands from cobra Use fields", f.subcommands, []string{"ingest", "broker", "gen"}},
		{"flags from pflag definitions", f.flags, []string{"brokers", "lake", "group", "http", "flush-interval", "max-buffer-bytes", "shutdown-timeout", "sasl-mechanism", "log-format"}},
		{"environment variables", f.envVars, []string{"SHELFLAKE_BROKERS", "SHELFLAKE_LAKE", "SHELFLAKE_SASL_PASSWORD", "SHELFLAKE_LOG_FORMAT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, n := range c.names {
				if !c.set[n] {
					t.Errorf("%q not found in the repository's Go source (found %d: %v)", n, len(c.set), sortedKeys(c.set))
				}
			}
		})
	}
	// Names assembled from Opts parts count too.
	src := `package p
import "github.com/prometheus/client_golang/prometheus"
var o = prometheus.CounterOpts{Namespace: "shelflake", Subsystem: "compact", Name: "runs_total"}`
	got := extractFromSnippet(t, src)
	if !got["shelflake_compact_runs_total"] {
		t.Errorf("Namespace/Subsystem/Name opts not joined: got %v", got)
	}
}

// pendingMetrics returns the metric names deploy/METRICS.md promises.
func pendingMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, n := range pendingBlock(t, "METRICS.md", "pending-metrics") {
		if !metricNameRE.MatchString(n) {
			t.Errorf("METRICS.md: pending %q is not a shelflake_ metric name", n)
		}
		out[n] = true
	}
	return out
}

func TestPendingMetricsAreNotYetExported(t *testing.T) {
	f := repoFacts(t)
	for n := range pendingMetrics(t) {
		if f.metrics[n] {
			t.Errorf("pending metric %s is now exported by the code: move it from the pending block of deploy/METRICS.md to its table", n)
		}
	}
}

func TestMetricsDocumentedAsExportedAreExported(t *testing.T) {
	f := repoFacts(t)
	text := readDeploy(t, "METRICS.md")
	table := text[:strings.Index(text, "<!-- pending-metrics:begin -->")]
	names := regexp.MustCompile("`(shelflake_[a-z0-9_]+)`").FindAllStringSubmatch(table, -1)
	if len(names) < len(knownExported) {
		t.Fatalf("METRICS.md documents only %d exported metrics", len(names))
	}
	for _, m := range names {
		if !f.metrics[m[1]] {
			t.Errorf("METRICS.md lists %s as exported, but the code does not define it", m[1])
		}
	}
}

// pendingCLI is what deploy/COMMANDS.md promises: subcommands, "sub --flag"
// flags and SHELFLAKE_* variables.
type pendingCLI struct {
	subcommands, flags, env map[string]bool
}

func readPendingCLI(t *testing.T) pendingCLI {
	t.Helper()
	p := pendingCLI{map[string]bool{}, map[string]bool{}, map[string]bool{}}
	for _, e := range pendingBlock(t, "COMMANDS.md", "pending-commands") {
		switch {
		case envNameRE.MatchString(e):
			p.env[e] = true
		case strings.Contains(e, " --"):
			p.flags[strings.TrimPrefix(e[strings.Index(e, " --")+1:], "--")] = true
		case !strings.ContainsAny(e, " -"):
			p.subcommands[e] = true
		default:
			t.Errorf("COMMANDS.md: cannot tell what pending %q is", e)
		}
	}
	return p
}

func TestPendingCommandsAreNotYetDefined(t *testing.T) {
	f, p := repoFacts(t), readPendingCLI(t)
	for _, c := range []struct {
		what    string
		pending map[string]bool
		defined map[string]bool
	}{
		{"subcommand", p.subcommands, f.subcommands},
		{"flag --", p.flags, f.flags},
		{"variable", p.env, f.envVars},
	} {
		for n := range c.pending {
			if c.defined[n] {
				t.Errorf("pending %s%s is now defined in the code: delete its line from the pending block of deploy/COMMANDS.md", c.what, n)
			}
		}
	}
}

// invocation is one `shelflake …` command line found in deploy/.
type invocation struct {
	where string
	args  []string // after the binary
	env   []string // SHELFLAKE_* names set for it
}

// problems returns the subcommands, flags and variables of inv that neither
// the code nor COMMANDS.md's pending block knows.
func (inv invocation) problems(f sourceFacts, p pendingCLI) []string {
	var out []string
	sub := ""
	for _, a := range inv.args {
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			if i := strings.IndexByte(name, '='); i >= 0 {
				name = name[:i]
			}
			if name != "help" && !f.flags[name] && !p.flags[name] {
				out = append(out, fmt.Sprintf("%s: flag --%s is not defined in cmd/shelflake nor pending in deploy/COMMANDS.md", inv.where, name))
			}
			continue
		}
		if sub == "" {
			sub = a
			if !f.subcommands[sub] && !p.subcommands[sub] {
				out = append(out, fmt.Sprintf("%s: subcommand %q is not defined in cmd/shelflake nor pending in deploy/COMMANDS.md", inv.where, sub))
			}
		}
	}
	if sub == "" {
		out = append(out, fmt.Sprintf("%s: no subcommand in %q", inv.where, inv.args))
	}
	for _, e := range inv.env {
		if strings.HasPrefix(e, "SHELFLAKE_") && !f.envVars[e] && !p.env[e] {
			out = append(out, fmt.Sprintf("%s: %s is read by no code and is not pending in deploy/COMMANDS.md", inv.where, e))
		}
	}
	return out
}

// checkInvocations fails t for every problem of invs; it fails if there are none
// to check, since then the caller found nothing to check.
func checkInvocations(t *testing.T, invs []invocation) {
	t.Helper()
	if len(invs) == 0 {
		t.Fatal("no shelflake invocations found")
	}
	f, p := repoFacts(t), readPendingCLI(t)
	for _, inv := range invs {
		for _, msg := range inv.problems(f, p) {
			t.Error(msg)
		}
	}
}

func TestInvocationCheckCatchesUnknownNames(t *testing.T) {
	f, p := repoFacts(t), readPendingCLI(t)
	cases := []struct {
		name string
		inv  invocation
		bad  bool
	}{
		{"a defined subcommand with defined flags passes", invocation{"case", []string{"ingest", "--lake=x", "--group", "g"}, []string{"SHELFLAKE_BROKERS"}}, false},
		{"a pending subcommand and flag pass", invocation{"case", []string{"compact", "--interval=5m"}, []string{"SHELFLAKE_PUSHGATEWAY_URL"}}, false},
		{"an unknown flag fails", invocation{"case", []string{"ingest", "--no-such-flag=1"}, nil}, true},
		{"an unknown subcommand fails", invocation{"case", []string{"frobnicate"}, nil}, true},
		{"no subcommand fails", invocation{"case", []string{"--lake=x"}, nil}, true},
		{"an unknown variable fails", invocation{"case", []string{"ingest"}, []string{"SHELFLAKE_NO_SUCH_THING"}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.inv.problems(f, p)
			if (len(got) > 0) != c.bad {
				t.Errorf("problems = %q, want some: %v", got, c.bad)
			}
		})
	}
}

// extractFromSnippet returns the metric names readSourceFacts finds in one
// Go file with source src.
func extractFromSnippet(t *testing.T, src string) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := readSourceFacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f.metrics
}

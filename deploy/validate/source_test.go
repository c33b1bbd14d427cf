package validate

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The repository root and deploy/, relative to this package (deploy/validate).
const (
	repoRoot  = "../.."
	deployDir = ".."
)

// sourceFacts is what the repository's Go code defines, read from its source
// text: metric names, the shelflake subcommands and flags, and the SHELFLAKE_*
// environment variables.
type sourceFacts struct {
	metrics     map[string]bool
	subcommands map[string]bool
	flags       map[string]bool
	envVars     map[string]bool
}

var (
	factsOnce sync.Once
	facts     sourceFacts
	factsErr  error
)

// repoFacts parses every non-test .go file of the repository outside deploy/
// once per test binary.
func repoFacts(t *testing.T) sourceFacts {
	t.Helper()
	factsOnce.Do(func() { facts, factsErr = readSourceFacts(repoRoot) })
	if factsErr != nil {
		t.Fatalf("read the repository's Go source: %v", factsErr)
	}
	return facts
}

var (
	metricNameRE = regexp.MustCompile(`^shelflake_[a-z0-9_]+$`)
	envNameRE    = regexp.MustCompile(`^SHELFLAKE_[A-Z0-9_]+$`)
	// pflag's flag definers: String, StringVar, StringVarP, Var, VarP, …
	flagMethodRE = regexp.MustCompile(`^(Var|VarP|(String|Bool|Int|Int8|Int16|Int32|Int64|Uint|Uint8|Uint16|Uint32|Uint64|Float32|Float64|Duration|StringSlice|StringArray|StringToString|IntSlice|Int32Slice|Int64Slice|UintSlice|Float64Slice|DurationSlice|BoolSlice|Count|BytesHex|BytesBase64|IP|IPSlice|IPMask|IPNet)(Var)?P?)$`)
)

func readSourceFacts(root string) (sourceFacts, error) {
	f := sourceFacts{
		metrics:     map[string]bool{},
		subcommands: map[string]bool{},
		flags:       map[string]bool{},
		envVars:     map[string]bool{},
	}
	cmdDir := filepath.Join(root, "cmd", "shelflake")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "node_modules", "bin":
				return filepath.SkipDir
			}
			if path == filepath.Join(root, "deploy") || path == filepath.Join(root, "tools") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		inCmd := filepath.Dir(path) == cmdDir
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, ok := stringLit(n); ok {
					if metricNameRE.MatchString(s) {
						f.metrics[s] = true
					}
					if envNameRE.MatchString(s) {
						f.envVars[s] = true
					}
				}
			case *ast.CompositeLit:
				if name := optsMetricName(n); name != "" {
					f.metrics[name] = true
				}
				if inCmd && isSelector(n.Type, "cobra", "Command") {
					if use := fieldString(n, "Use"); use != "" {
						f.subcommands[strings.Fields(use)[0]] = true
					}
				}
			case *ast.CallExpr:
				if !inCmd {
					return true
				}
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || !flagMethodRE.MatchString(sel.Sel.Name) {
					return true
				}
				for _, a := range n.Args {
					if lit, ok := a.(*ast.BasicLit); ok {
						if s, ok := stringLit(lit); ok {
							f.flags[s] = true
						}
						break
					}
				}
			}
			return true
		})
		return nil
	})
	return f, err
}

func stringLit(l *ast.BasicLit) (string, bool) {
	if l.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(l.Value)
	return s, err == nil
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// fieldString returns the string literal of key in a keyed composite literal.
func fieldString(c *ast.CompositeLit, key string) string {
	for _, e := range c.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if k, ok := kv.Key.(*ast.Ident); ok && k.Name == key {
			if lit, ok := kv.Value.(*ast.BasicLit); ok {
				s, _ := stringLit(lit)
				return s
			}
		}
	}
	return ""
}

// optsMetricName returns the full name of a prometheus.{Counter,Gauge,
// Histogram,Summary}Opts literal written with Namespace/Subsystem/Name parts,
// the way prometheus.BuildFQName joins them.
func optsMetricName(c *ast.CompositeLit) string {
	sel, ok := c.Type.(*ast.SelectorExpr)
	if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
		return ""
	}
	ns, sub, name := fieldString(c, "Namespace"), fieldString(c, "Subsystem"), fieldString(c, "Name")
	if name == "" || (ns == "" && sub == "") {
		return ""
	}
	var parts []string
	for _, p := range []string{ns, sub, name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	full := strings.Join(parts, "_")
	if !metricNameRE.MatchString(full) {
		return ""
	}
	return full
}

// pendingBlock returns the backquoted names listed between
// <!-- NAME:begin --> and <!-- NAME:end --> in a deploy/ markdown file.
func pendingBlock(t *testing.T, file, name string) []string {
	t.Helper()
	text := readDeploy(t, file)
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %s … %s block", file, begin, end)
	}
	var out []string
	for _, line := range strings.Split(text[i+len(begin):j], "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "- `") {
			continue
		}
		rest := line[3:]
		k := strings.Index(rest, "`")
		if k <= 0 {
			t.Fatalf("%s: bad pending line %q", file, line)
		}
		out = append(out, rest[:k])
	}
	// An empty block is fine: nothing is pending.
	return out
}

func readDeploy(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// strictYAML decodes YAML into v, failing on duplicate keys, on fields v
// does not have (case-sensitively) and on trailing documents.
func strictYAML(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	return strictJSON(j, v)
}

func strictJSON(data []byte, v any) error {
	strict, err := sigsjson.UnmarshalStrict(data, v)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

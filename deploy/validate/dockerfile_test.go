package validate

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	digest "github.com/opencontainers/go-digest"
)

// offlineImages answers BuildKit's base-image lookups with an empty Linux
// image config, so linting never contacts a registry.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
	return ref, digest.FromBytes(cfg), cfg, nil
}

// buildkitLint runs the checks of `docker build --check` (BuildKit's
// Dockerfile linter, as a library) and returns its warnings and error.
func buildkitLint(t *testing.T, dockerfile []byte) []string {
	t.Helper()
	ctx := context.Background()
	src := llb.Local("context")
	def, err := src.Marshal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sm := llb.NewSourceMap(&src, "Dockerfile", "Dockerfile", dockerfile)
	sm.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, dockerfile, dockerfile2llb.ConvertOpt{SourceMap: sm, MetaResolver: offlineImages{}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range res.Warnings {
		line := 0
		if len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		out = append(out, fmt.Sprintf("line %d: %s: %s", line, w.RuleName, w.Detail))
	}
	if res.Error != nil {
		out = append(out, "error: "+res.Error.Message)
	}
	return out
}

func TestDockerfileLintCatchesMistakes(t *testing.T) {
	bad := "FROM golang:1.26 as build\nRUN echo hi\nFROM scratch\nENV API_PASSWORD=x\nENTRYPOINT /x\n"
	got := strings.Join(buildkitLint(t, []byte(bad)), "\n")
	for _, rule := range []string{"FromAsCasing", "JSONArgsRecommended", "SecretsUsedInArgOrEnv"} {
		if !strings.Contains(got, rule) {
			t.Errorf("lint of a bad Dockerfile did not report %s; got:\n%s", rule, got)
		}
	}
}

// TestDockerfile lints deploy/Dockerfile with BuildKit's rules (no warnings
// allowed) and checks what this project needs of its image.
func TestDockerfile(t *testing.T) {
	raw := []byte(readDeploy(t, "Dockerfile"))
	for _, w := range buildkitLint(t, raw) {
		t.Errorf("Dockerfile: %s", w)
	}

	ast, err := parser.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				args[kv.Key] = *kv.Value
			}
		}
	}
	expand := func(s string) string {
		return regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`).ReplaceAllStringFunc(s, func(m string) string {
			return args[strings.Trim(m, "${}")]
		})
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	names := map[string]bool{}
	for i, st := range stages {
		img := expand(st.BaseName)
		if names[strings.ToLower(st.BaseName)] {
			continue // FROM an earlier stage
		}
		tagged := regexp.MustCompile(`^[a-z0-9.-]+(/[a-z0-9._-]+)*:[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?$`).MatchString(img)
		digested := regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(img)
		if !(tagged || digested) || strings.HasSuffix(img, ":latest") {
			t.Errorf("stage %d: base image %q is not pinned to a tag or digest", i, img)
		}
		if st.Name != "" {
			names[strings.ToLower(st.Name)] = true
		}
	}

	// The Go version of the builder is the one go.mod asks for.
	goMod := readDeploy(t, "../go.mod")
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if m == nil || !strings.HasPrefix(args["GO_VERSION"], m[1]+".") {
		t.Errorf("ARG GO_VERSION=%q does not match go.mod's go %v", args["GO_VERSION"], m)
	}
	// glibc: the runtime's Debian release is the builder's.
	if b, r := expand(stages[0].BaseName), expand(stages[len(stages)-1].BaseName); !(strings.Contains(b, "bookworm") && strings.Contains(r, "debian12")) {
		t.Errorf("builder %q and runtime %q must be the same Debian release (bookworm = debian12)", b, r)
	}

	var (
		build      = stages[0]
		final      = stages[len(stages)-1]
		user       string
		health     *instructions.HealthCheckCommand
		entrypoint *instructions.EntrypointCommand
		env        = map[string]string{}
		exposed    []string
		goBuild    string
	)
	for _, c := range build.Commands {
		switch c := c.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env["build:"+kv.Key] = kv.Value
			}
		case *instructions.RunCommand:
			if s := strings.Join(c.CmdLine, " "); strings.Contains(s, "go build") {
				goBuild = s
			}
		}
	}
	if env["build:CGO_ENABLED"] != "1" {
		t.Error("the build stage must set CGO_ENABLED=1 (DuckDB is cgo)")
	}
	if !strings.Contains(env["build:GOFLAGS"]+" "+goBuild, "duckdb_arrow") {
		t.Error("the build must use -tags duckdb_arrow, like the Makefile")
	}
	if !strings.Contains(goBuild, "./cmd/shelflake") || !strings.Contains(goBuild, "-trimpath") {
		t.Errorf("the build stage must go build -trimpath ./cmd/shelflake; got %q", goBuild)
	}
	for _, st := range stages {
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.AddCommand:
				t.Errorf("stage %q: ADD %v: use COPY (ADD fetches URLs and unpacks archives)", st.Name, c.SourcePaths)
			case *instructions.CopyCommand:
				if c.From != "" && !names[strings.ToLower(c.From)] {
					t.Errorf("stage %q: COPY --from=%s names no earlier stage", st.Name, c.From)
				}
			}
		}
	}
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.HealthCheckCommand:
			health = c
		case *instructions.EntrypointCommand:
			entrypoint = c
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.RunCommand:
			t.Errorf("the runtime stage runs %q: it has no shell; prepare files in the build stage", strings.Join(c.CmdLine, " "))
		}
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
		t.Errorf("the runtime stage must switch to a non-root USER, got %q", user)
	}
	if entrypoint == nil || entrypoint.PrependShell || len(entrypoint.CmdLine) != 1 || !strings.HasSuffix(entrypoint.CmdLine[0], "/shelflake") {
		t.Error("ENTRYPOINT must be the shelflake binary in exec form")
	}
	if health == nil || health.Health == nil || len(health.Health.Test) < 2 || health.Health.Test[0] != "CMD" {
		t.Fatal("the runtime stage needs a HEALTHCHECK in exec form (CMD [...]): the image has no shell")
	}
	hc := health.Health.Test[1:]
	if !strings.HasSuffix(hc[0], "/shelflake") {
		t.Errorf("HEALTHCHECK runs %q, not the shelflake binary", hc[0])
	}
	// The health check, SHELFLAKE_HTTP and EXPOSE agree on the port.
	port := env["SHELFLAKE_HTTP"][strings.LastIndex(env["SHELFLAKE_HTTP"], ":")+1:]
	url, _ := flagValue(hc, "url")
	if port == "" || !strings.Contains(url, ":"+port+"/healthz") || len(exposed) != 1 || exposed[0] != port {
		t.Errorf("port mismatch: SHELFLAKE_HTTP=%q, HEALTHCHECK --url %q, EXPOSE %v", env["SHELFLAKE_HTTP"], url, exposed)
	}
	checkInvocations(t, []invocation{{where: "Dockerfile HEALTHCHECK", args: hc[1:], env: sortedKeys(env)}})
}

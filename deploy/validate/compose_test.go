package validate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose specification deploy/compose.yaml
// uses. Anchors and merge keys are resolved by the YAML decoder.
type composeFile struct {
	Name     string                     `json:"name"`
	Services map[string]composeService  `json:"services"`
	Volumes  map[string]json.RawMessage `json:"volumes"`
}

type composeService struct {
	Image       string            `json:"image"`
	Build       *composeBuild     `json:"build"`
	Command     stringList        `json:"command"`
	Entrypoint  stringList        `json:"entrypoint"`
	Environment map[string]string `json:"environment"`
	DependsOn   json.RawMessage   `json:"depends_on"`
	Volumes     []string          `json:"volumes"`
	Ports       []string          `json:"ports"`
	Expose      []string          `json:"expose"`
	Profiles    []string          `json:"profiles"`
	Healthcheck *struct {
		Test    stringList `json:"test"`
		Disable bool       `json:"disable"`
	} `json:"healthcheck"`
	StopGracePeriod string `json:"stop_grace_period"`
}

type composeBuild struct {
	Context    string `json:"context"`
	Dockerfile string `json:"dockerfile"`
}

// stringList is a Compose command: a list, or a string split on spaces.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = strings.Fields(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	j, err := yaml.YAMLToJSONStrict([]byte(readDeploy(t, "compose.yaml")))
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var c composeFile
	if err := json.Unmarshal(j, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// dependsOn reads depends_on in its list or its map form.
func dependsOn(t *testing.T, raw json.RawMessage) map[string]string {
	t.Helper()
	out := map[string]string{}
	if len(raw) == 0 {
		return out
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		for _, s := range list {
			out[s] = "service_started"
		}
		return out
	}
	var m map[string]struct {
		Condition string `json:"condition"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("depends_on: %v", err)
	}
	for k, v := range m {
		out[k] = v.Condition
	}
	return out
}

func TestComposeFile(t *testing.T) {
	c := readCompose(t)
	for _, want := range []string{"redpanda", "topics", "s3", "bucket", "ingest", "compact", "forecast", "pushgateway", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("compose.yaml: no service %q", want)
		}
	}
	var invs []invocation
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		// Images: pinned third-party images, or shelflake built from this repository.
		switch {
		case s.Build != nil:
			ctx := filepath.Join(deployDir, s.Build.Context)
			if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
				t.Errorf("service %s: build context %s is not the repository root", name, s.Build.Context)
			}
			if _, err := os.Stat(filepath.Join(ctx, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s: dockerfile: %v", name, err)
			}
		case !regexp.MustCompile(`^[a-z0-9.-]+(/[a-z0-9._-]+)*:v?[0-9][A-Za-z0-9._-]*$`).MatchString(s.Image):
			t.Errorf("service %s: image %q is not pinned to a version tag", name, s.Image)
		}
		// Bind mounts exist; named volumes are declared.
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
					t.Errorf("service %s: bind mount %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s: volume %q is not declared", name, src)
			}
		}
		for dep, cond := range dependsOn(t, s.DependsOn) {
			d, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("service %s depends on unknown service %s", name, dep)
			case cond == "service_healthy" && (d.Healthcheck == nil || d.Healthcheck.Disable):
				t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
			case cond != "service_started" && cond != "service_healthy" && cond != "service_completed_successfully":
				t.Errorf("service %s: depends_on condition %q", name, cond)
			}
		}
		// shelflake command lines.
		if s.Build == nil {
			continue
		}
		var args []string
		if len(s.Entrypoint) > 0 {
			if !strings.HasSuffix(s.Entrypoint[0], "/shelflake") {
				t.Errorf("service %s: entrypoint %q is not the shelflake binary", name, s.Entrypoint)
				continue
			}
			args = append(args, s.Entrypoint[1:]...)
		}
		args = append(args, s.Command...)
		invs = append(invs, invocation{where: "compose service " + name, args: args, env: sortedKeys(s.Environment)})
	}
	checkInvocations(t, invs)

	ingest := c.Services["ingest"]
	st, ok := flagValue(ingest.Command, "shutdown-timeout")
	grace, err := time.ParseDuration(ingest.StopGracePeriod)
	if d, perr := time.ParseDuration(st); !ok || perr != nil || err != nil || grace < d+10*time.Second {
		t.Errorf("ingest: stop_grace_period %q must exceed --shutdown-timeout %q by 10s", ingest.StopGracePeriod, st)
	}
	if ingest.Environment["SHELFLAKE_HTTP"] != "0.0.0.0:9464" {
		t.Errorf("ingest must serve metrics on all interfaces: SHELFLAKE_HTTP=%q", ingest.Environment["SHELFLAKE_HTTP"])
	}
	if lake := ingest.Environment["SHELFLAKE_LAKE"]; !strings.HasPrefix(lake, "s3://") || !strings.Contains(lake, "endpoint=http://s3:7070") {
		t.Errorf("ingest's lake %q is not the compose S3 server", lake)
	}
	if !strings.Contains(strings.Join(c.Services["bucket"].Command, " "), "create-bucket --bucket "+strings.SplitN(ingest.Environment["SHELFLAKE_LAKE"], "/", 4)[2]) {
		t.Errorf("the bucket service does not create the lake's bucket")
	}
	if p := c.Services["forecast"].Profiles; len(p) == 0 {
		t.Error("forecast is a one-shot: give it a profile so `up` does not start it")
	}

	// Prometheus scrapes what runs.
	prom := readDeploy(t, "prometheus/prometheus.yml")
	for _, target := range regexp.MustCompile(`"([a-z0-9-]+):(\d+)"`).FindAllStringSubmatch(prom, -1) {
		svc, port := target[1], target[2]
		if svc == "localhost" {
			continue
		}
		s, ok := c.Services[svc]
		if !ok {
			t.Errorf("prometheus.yml scrapes %s, which compose does not run", svc)
			continue
		}
		if !strings.Contains(strings.Join(append(s.Expose, s.Ports...), " "), port) &&
			!strings.Contains(strings.Join(s.Command, " "), ":"+port) {
			t.Errorf("prometheus.yml scrapes %s:%s, which the service does not expose", svc, port)
		}
	}
	if !strings.Contains(prom, "names: [ingest]") || !strings.Contains(strings.Join(ingest.Expose, " "), "9464") {
		t.Error("prometheus.yml must find every ingest replica by DNS on port 9464")
	}
}

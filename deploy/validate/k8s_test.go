package validate

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlays are the kustomizations an operator applies.
var overlays = []struct {
	dir        string
	namespace  string
	autoscaler string // "ScaledObject" or "HorizontalPodAutoscaler"
	secrets    bool   // the overlay generates its Secrets (else the operator creates them)
}{
	{"overlays/production", "shelflake", "ScaledObject", false},
	{"overlays/production-hpa", "shelflake", "HorizontalPodAutoscaler", false},
	{"overlays/production-sharded", "shelflake", "ScaledObject", false},
	{"overlays/dev", "shelflake-dev", "HorizontalPodAutoscaler", true},
}

// ScaledObject and TriggerAuthentication (keda.sh/v1alpha1): the fields
// shelflake uses, decoded strictly. KEDA's Go module drags in all of KEDA;
// these mirror its API for the fields below (names and JSON tags as in
// keda.sh/v1alpha1).
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		Advanced        *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior"`
			} `json:"horizontalPodAutoscalerConfig"`
		} `json:"advanced"`
		Triggers []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
			} `json:"authenticationRef"`
		} `json:"triggers"`
	} `json:"spec"`
}

type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// The Kafka scaler's metadata and authentication parameters KEDA documents.
var (
	kedaKafkaMetadata = map[string]bool{
		"bootstrapServers": true, "consumerGroup": true, "topic": true, "lagThreshold": true,
		"activationLagThreshold": true, "offsetResetPolicy": true, "allowIdleConsumers": true,
		"scaleToZeroOnInvalidOffset": true, "excludePersistentLag": true, "limitToPartitionsWithLag": true,
		"partitionLimitation": true, "version": true, "sasl": true, "tls": true,
	}
	kedaKafkaAuthParams = map[string]bool{
		"sasl": true, "username": true, "password": true, "tls": true, "ca": true, "cert": true, "key": true, "keyPassword": true,
	}
)

// rendered is one overlay's output, decoded.
type rendered struct {
	namespace   string
	deployments []*appsv1.Deployment
	cronJobs    []*batchv1.CronJob
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	netpols     []*networkingv1.NetworkPolicy
	monitors    []*monitoringv1.ServiceMonitor
	rules       []*monitoringv1.PrometheusRule
	scaled      []*scaledObject
	triggerAuth map[string]*triggerAuthentication
	namespaces  []*corev1.Namespace
}

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// render runs kustomize on deploy/k8s/<dir> and decodes every object
// strictly: an unknown or misspelt field, a duplicate key or an unknown kind
// is an error.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(deployDir, "k8s", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	decoder := serializer.NewCodecFactory(newScheme(t), serializer.EnableStrict).UniversalDeserializer()
	r := &rendered{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, triggerAuth: map[string]*triggerAuthentication{}}
	for _, res := range resMap.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%s %s/%s", dir, res.GetKind(), res.GetName())
		switch res.GetApiVersion() {
		case "keda.sh/v1alpha1":
			switch res.GetKind() {
			case "ScaledObject":
				var so scaledObject
				if err := strictYAML(y, &so); err != nil {
					t.Errorf("%s: %v", id, err)
					continue
				}
				r.scaled = append(r.scaled, &so)
			case "TriggerAuthentication":
				var ta triggerAuthentication
				if err := strictYAML(y, &ta); err != nil {
					t.Errorf("%s: %v", id, err)
					continue
				}
				r.triggerAuth[ta.Name] = &ta
			default:
				t.Errorf("%s: unknown KEDA kind", id)
			}
			continue
		}
		// A strict decoding error (unknown or duplicate field) comes with the
		// decoded object: report it and check the object all the same.
		obj, gvk, err := decoder.Decode(y, nil, nil)
		if err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if obj == nil {
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, o)
		case *batchv1.CronJob:
			r.cronJobs = append(r.cronJobs, o)
		case *corev1.Service:
			r.services = append(r.services, o)
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		case *corev1.Secret:
			r.secrets[o.Name] = o
		case *corev1.ServiceAccount:
		case *corev1.Namespace:
			r.namespaces = append(r.namespaces, o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, o)
		case *networkingv1.NetworkPolicy:
			r.netpols = append(r.netpols, o)
		case *monitoringv1.ServiceMonitor:
			r.monitors = append(r.monitors, o)
		case *monitoringv1.PrometheusRule:
			r.rules = append(r.rules, o)
		default:
			t.Errorf("%s: unexpected kind %v", id, gvk)
		}
		// Namespaced objects land in the overlay's namespace.
		if m, ok := obj.(metav1.Object); ok && gvk.Kind != "Namespace" {
			if r.namespace == "" {
				r.namespace = m.GetNamespace()
			}
			if m.GetNamespace() != r.namespace {
				t.Errorf("%s: namespace %q, others %q", id, m.GetNamespace(), r.namespace)
			}
		}
	}
	return r
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	decoder := serializer.NewCodecFactory(newScheme(t), serializer.EnableStrict).UniversalDeserializer()
	cases := []struct {
		name string
		yaml string
	}{
		{"a misspelt Deployment field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n"},
		{"a field in the wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  Ports: []\n"},
		{"a ServiceMonitor endpoint field that does not exist", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  selector: {}\n  endpoints:\n    - port: metrics\n      scrapeEvery: 15s\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := decoder.Decode([]byte(c.yaml), nil, nil); err == nil {
				t.Error("decoded without error")
			}
		})
	}
	t.Run("a ScaledObject field that does not exist", func(t *testing.T) {
		var so scaledObject
		err := strictYAML([]byte("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec:\n  maxReplicas: 3\n"), &so)
		if err == nil {
			t.Error("decoded without error")
		}
	})
}

func TestOverlaysRenderToValidObjects(t *testing.T) {
	// The Secrets the dev overlay generates are the ones production must
	// provide: every secret reference anywhere must name one of their keys.
	devSecrets := render(t, "overlays/dev").secrets
	if len(devSecrets) == 0 {
		t.Fatal("the dev overlay generates no Secrets")
	}
	for _, o := range overlays {
		t.Run(o.dir, func(t *testing.T) {
			r := render(t, o.dir)
			if r.namespace != o.namespace {
				t.Errorf("namespace %q, want %q", r.namespace, o.namespace)
			}
			if len(r.namespaces) != 1 || r.namespaces[0].Name != o.namespace {
				t.Errorf("want one Namespace %q, got %v", o.namespace, r.namespaces)
			}
			if !o.secrets && len(r.secrets) > 0 {
				t.Errorf("a production overlay must not carry Secrets; found %v", sortedKeys(r.secrets))
			}
			checkWorkloads(t, r, devSecrets)
			checkIngest(t, r, o.autoscaler)
			checkServe(t, r, devSecrets)
			checkCronJobs(t, r)
			checkForecastSteps(t, r)
			checkMonitoring(t, r)
		})
	}
}

// podSpecs returns every pod template of the overlay with a name for messages.
func podSpecs(r *rendered) map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for _, d := range r.deployments {
		out["Deployment/"+d.Name] = &d.Spec.Template
	}
	for _, c := range r.cronJobs {
		out["CronJob/"+c.Name] = &c.Spec.JobTemplate.Spec.Template
	}
	return out
}

var imageTagRE = regexp.MustCompile(`^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)(@sha256:[0-9a-f]{64})?$|^[a-z0-9./_-]+@sha256:[0-9a-f]{64}$`)

func checkWorkloads(t *testing.T, r *rendered, devSecrets map[string]*corev1.Secret) {
	t.Helper()
	var invs []invocation
	for name, pt := range podSpecs(r) {
		ps := &pt.Spec
		if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod must set runAsNonRoot", name)
		}
		if ps.SecurityContext != nil && ps.SecurityContext.RunAsUser != nil && *ps.SecurityContext.RunAsUser == 0 {
			t.Errorf("%s: runs as root", name)
		}
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it does not need", name)
		}
		volumes := map[string]bool{}
		for _, v := range ps.Volumes {
			volumes[v.Name] = true
		}
		for _, c := range ps.Containers {
			cname := name + " container " + c.Name
			if !imageTagRE.MatchString(c.Image) || strings.HasSuffix(c.Image, ":latest") {
				t.Errorf("%s: image %q is not pinned to a tag or digest", cname, c.Image)
			}
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("%s: want readOnlyRootFilesystem, no privilege escalation, all capabilities dropped", cname)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s: want cpu and memory requests and a memory limit", cname)
			}
			if c.Resources.Limits.Memory().Cmp(*c.Resources.Requests.Memory()) < 0 {
				t.Errorf("%s: memory limit below request", cname)
			}
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] {
					t.Errorf("%s: mounts unknown volume %q", cname, m.Name)
				}
			}
			env := containerEnv(t, r, cname, &c, devSecrets)
			// $(VAR) in args expands from the container's environment.
			for _, a := range c.Args {
				for _, m := range regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).FindAllStringSubmatch(a, -1) {
					if _, ok := env[m[1]]; !ok {
						t.Errorf("%s: argument %q refers to $(%s), which the container's environment lacks", cname, a, m[1])
					}
				}
			}
			if len(c.Command) > 0 {
				t.Errorf("%s: overrides the image's entrypoint; pass a subcommand in args", cname)
			}
			invs = append(invs, invocation{where: r.namespace + " " + cname, args: c.Args, env: sortedKeys(env)})
		}
	}
	checkInvocations(t, invs)
}

// containerEnv resolves the container's environment: envFrom ConfigMaps and
// env entries, checking every ConfigMap and Secret reference. Values from
// Secrets are "<secret>".
func containerEnv(t *testing.T, r *rendered, cname string, c *corev1.Container, devSecrets map[string]*corev1.Secret) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Errorf("%s: envFrom other than a ConfigMap", cname)
			continue
		}
		cm := r.configMaps[ef.ConfigMapRef.Name]
		if cm == nil {
			t.Errorf("%s: envFrom ConfigMap %q is not in the overlay", cname, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := devSecrets[ref.Name]
			if s == nil {
				t.Errorf("%s: %s from Secret %q, which the dev overlay does not define (it lists what production must create)", cname, e.Name, ref.Name)
			} else if _, ok := s.Data[ref.Key]; !ok {
				t.Errorf("%s: %s from key %q of Secret %q, which has no such key in the dev overlay", cname, e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = "<secret>"
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := r.configMaps[ref.Name]
			if cm == nil {
				t.Errorf("%s: %s from missing ConfigMap %q", cname, e.Name, ref.Name)
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				t.Errorf("%s: %s from missing key %q of ConfigMap %q", cname, e.Name, ref.Key, ref.Name)
			}
			env[e.Name] = v
		default:
			env[e.Name] = "<field>"
		}
	}
	return env
}

// flagValue returns the value of --name=value or --name value in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// parseBytes reads the byte sizes the ingest flags take: 512MiB, 2GiB, 64MB, 1048576.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			var v int64
			if _, err := fmt.Sscanf(n, "%d", &v); err != nil || fmt.Sprint(v) != n {
				return 0, fmt.Errorf("size %q", s)
			}
			return v * u.mult, nil
		}
	}
	return 0, fmt.Errorf("size %q", s)
}

func checkIngest(t *testing.T, r *rendered, autoscaler string) {
	t.Helper()
	d := deploymentNamed(t, r, "shelflake-ingest")
	ps := &d.Spec.Template.Spec
	podLabels := labels.Set(d.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("Deployment %s: selector does not match its pods (%v)", d.Name, err)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("Deployment %s: want one container", d.Name)
	}
	c := ps.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "ingest" {
		t.Errorf("Deployment %s: args %q do not run ingest", d.Name, c.Args)
	}

	// Graceful termination: the kubelet must wait out ingest's own deadline.
	st, ok := flagValue(c.Args, "shutdown-timeout")
	if !ok {
		t.Errorf("Deployment %s: set --shutdown-timeout explicitly so the grace period can match it", d.Name)
	} else if dur, err := time.ParseDuration(st); err != nil {
		t.Errorf("--shutdown-timeout %q: %v", st, err)
	} else {
		grace := int64(30) // the Kubernetes default
		if ps.TerminationGracePeriodSeconds != nil {
			grace = *ps.TerminationGracePeriodSeconds
		}
		if time.Duration(grace)*time.Second < dur+10*time.Second {
			t.Errorf("Deployment %s: terminationGracePeriodSeconds %d must be at least --shutdown-timeout %s + 10s", d.Name, grace, dur)
		}
	}

	// Memory: the buffer budget, Go's soft limit and the container limit nest.
	limit := c.Resources.Limits.Memory().Value()
	if mb, ok := flagValue(c.Args, "max-buffer-bytes"); !ok {
		t.Errorf("Deployment %s: set --max-buffer-bytes explicitly so the memory limit can match it", d.Name)
	} else if budget, err := parseBytes(mb); err != nil {
		t.Error(err)
	} else {
		if float64(limit) < 1.4*float64(budget) {
			t.Errorf("Deployment %s: memory limit %d leaves too little above --max-buffer-bytes %s", d.Name, limit, mb)
		}
		gml := ""
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				gml = e.Value
			}
		}
		soft, err := parseBytes(gml)
		if err != nil || soft <= budget || soft >= limit {
			t.Errorf("Deployment %s: GOMEMLIMIT %q must lie between --max-buffer-bytes %s and the limit %d", d.Name, gml, mb, limit)
		}
	}

	// Probes on the metrics port: liveness /healthz, readiness /readyz.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != 9464 {
		t.Errorf("Deployment %s: want container port metrics=9464, got %v", d.Name, ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("Deployment %s: want a %s probe GET %s on port metrics", d.Name, p.name, p.path)
		}
	}
	if env := d.Spec.Template.Spec.Containers[0].EnvFrom; len(env) == 0 || r.configMaps[env[0].ConfigMapRef.Name].Data["SHELFLAKE_HTTP"] != "0.0.0.0:9464" {
		t.Errorf("Deployment %s: SHELFLAKE_HTTP must make the probes' port listen on all interfaces", d.Name)
	}

	// Service, PDB and NetworkPolicies select the ingest pods.
	if svcs := servicesSelecting(r, podLabels); len(svcs) != 1 {
		t.Errorf("want one Service selecting the ingest pods")
	} else if sp := svcs[0].Spec.Ports; len(sp) != 1 || sp[0].Name != "metrics" || sp[0].TargetPort.String() != "metrics" {
		t.Errorf("Service %s: want one port named metrics targeting the container's metrics port", svcs[0].Name)
	}
	if len(r.pdbs) != 1 {
		t.Errorf("want one PodDisruptionBudget, got %d", len(r.pdbs))
	} else if s, err := metav1.LabelSelectorAsSelector(r.pdbs[0].Spec.Selector); err != nil || !s.Matches(podLabels) {
		t.Errorf("PodDisruptionBudget %s does not select the ingest pods", r.pdbs[0].Name)
	}
	for _, np := range r.netpols {
		npSel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Errorf("NetworkPolicy %s: %v", np.Name, err)
			continue
		}
		if !npSel.Matches(podLabels) {
			continue // another component's policy (checkServe)
		}
		for _, in := range np.Spec.Ingress {
			for _, p := range in.Ports {
				if p.Port != nil && p.Port.String() != "metrics" && p.Port.IntValue() != 9464 {
					t.Errorf("NetworkPolicy %s opens port %s, not the metrics port", np.Name, p.Port.String())
				}
			}
		}
	}

	// Exactly one autoscaler, targeting the Deployment, which then leaves
	// replicas to it.
	var targets []string
	for _, h := range r.hpas {
		targets = append(targets, "HorizontalPodAutoscaler->"+h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name)
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("HorizontalPodAutoscaler %s: bad replica bounds", h.Name)
		}
	}
	for _, so := range r.scaled {
		targets = append(targets, "ScaledObject->"+so.Spec.ScaleTargetRef.Kind+"/"+so.Spec.ScaleTargetRef.Name)
		checkScaledObject(t, r, so)
	}
	want := []string{autoscaler + "->Deployment/" + d.Name}
	if strings.Join(targets, ",") != strings.Join(want, ",") {
		t.Errorf("autoscalers %v, want %v", targets, want)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment %s sets replicas %d although an autoscaler owns them", d.Name, *d.Spec.Replicas)
	}
}

func checkScaledObject(t *testing.T, r *rendered, so *scaledObject) {
	t.Helper()
	if so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil || *so.Spec.MinReplicaCount < 1 || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount {
		t.Errorf("ScaledObject %s: want 1 <= minReplicaCount <= maxReplicaCount", so.Name)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("ScaledObject %s: want one kafka trigger", so.Name)
	}
	tr := so.Spec.Triggers[0]
	for k := range tr.Metadata {
		if !kedaKafkaMetadata[k] {
			t.Errorf("ScaledObject %s: unknown kafka trigger metadata %q", so.Name, k)
		}
	}
	cm := r.configMaps["shelflake-config"]
	if cm == nil {
		t.Fatal("no shelflake-config ConfigMap")
	}
	// The scaler must watch the brokers and group ingest uses.
	if got, want := tr.Metadata["bootstrapServers"], cm.Data["SHELFLAKE_BROKERS"]; got != want {
		t.Errorf("ScaledObject %s: bootstrapServers %q, ingest uses %q", so.Name, got, want)
	}
	if got, want := tr.Metadata["consumerGroup"], cm.Data["SHELFLAKE_GROUP"]; got != want {
		t.Errorf("ScaledObject %s: consumerGroup %q, ingest uses %q", so.Name, got, want)
	}
	if _, ok := tr.Metadata["topic"]; ok {
		t.Errorf("ScaledObject %s: name no topic, so the lag of every input topic counts", so.Name)
	}
	if tr.AuthenticationRef == nil || r.triggerAuth[tr.AuthenticationRef.Name] == nil {
		t.Errorf("ScaledObject %s: authenticationRef names no TriggerAuthentication of the overlay", so.Name)
		return
	}
	dev := render(t, "overlays/dev").secrets
	for _, ref := range r.triggerAuth[tr.AuthenticationRef.Name].Spec.SecretTargetRef {
		if !kedaKafkaAuthParams[ref.Parameter] {
			t.Errorf("TriggerAuthentication: unknown kafka parameter %q", ref.Parameter)
		}
		if s := dev[ref.Name]; s == nil {
			t.Errorf("TriggerAuthentication: Secret %q is not among those the dev overlay defines", ref.Name)
		} else if _, ok := s.Data[ref.Key]; !ok {
			t.Errorf("TriggerAuthentication: Secret %q has no key %q in the dev overlay", ref.Name, ref.Key)
		}
	}
}

func checkCronJobs(t *testing.T, r *rendered) {
	t.Helper()
	seen := map[string]bool{}
	for _, cj := range r.cronJobs {
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("CronJob %s: concurrencyPolicy %q, want Forbid", cj.Name, cj.Spec.ConcurrencyPolicy)
		}
		if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone == "" {
			t.Errorf("CronJob %s: set timeZone", cj.Name)
		}
		if fields := strings.Fields(cj.Spec.Schedule); len(fields) != 5 {
			t.Errorf("CronJob %s: schedule %q is not five cron fields", cj.Name, cj.Spec.Schedule)
		}
		js := cj.Spec.JobTemplate.Spec
		if js.ActiveDeadlineSeconds == nil || js.BackoffLimit == nil {
			t.Errorf("CronJob %s: bound the job with activeDeadlineSeconds and backoffLimit", cj.Name)
		}
		if p := js.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			t.Errorf("CronJob %s: restartPolicy %q", cj.Name, p)
		}
		if c := js.Template.Spec.Containers; len(c) == 1 && len(c[0].Args) > 0 {
			seen[c[0].Args[0]] = true
		}
	}
	for _, want := range []string{"compact", "vacuum", "forecast"} {
		if !seen[want] {
			t.Errorf("no CronJob runs shelflake %s", want)
		}
	}
}

func checkMonitoring(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.monitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(r.monitors))
	}
	sm := r.monitors[0]
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	var svc *corev1.Service
	for _, s := range r.services {
		if sel.Matches(labels.Set(s.Labels)) {
			svc = s
		}
	}
	if svc == nil {
		t.Fatalf("ServiceMonitor %s selects no Service of the overlay", sm.Name)
	}
	// Without jobLabel the job label is the Service's name; the alerts expect it.
	if sm.Spec.JobLabel != "" || svc.Name != "shelflake-ingest" {
		t.Errorf("ServiceMonitor %s: scrapes must get job=\"shelflake-ingest\" (Service %s, jobLabel %q)", sm.Name, svc.Name, sm.Spec.JobLabel)
	}
	for _, ep := range sm.Spec.Endpoints {
		found := false
		for _, p := range svc.Spec.Ports {
			found = found || p.Name == ep.Port
		}
		if !found || ep.Path != "/metrics" {
			t.Errorf("ServiceMonitor %s: endpoint port %q path %q does not match Service %s's metrics port", sm.Name, ep.Port, ep.Path, svc.Name)
		}
	}
	if len(r.rules) != 1 {
		t.Errorf("want one PrometheusRule, got %d", len(r.rules))
	}
}

// deploymentNamed returns the overlay's Deployment called name.
func deploymentNamed(t *testing.T, r *rendered, name string) *appsv1.Deployment {
	t.Helper()
	for i := range r.deployments {
		if r.deployments[i].Name == name {
			return r.deployments[i]
		}
	}
	t.Fatalf("no Deployment %s among %d", name, len(r.deployments))
	return nil
}

// servicesSelecting returns the Services whose selector matches pods.
func servicesSelecting(r *rendered, pods labels.Set) []*corev1.Service {
	var out []*corev1.Service
	for _, svc := range r.services {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) {
			out = append(out, svc)
		}
	}
	return out
}

// checkServe checks the Postgres-protocol endpoint: it runs serve with a
// users file from a Secret production must create (the dev overlay has it),
// a Service exposes its postgres and metrics ports, its probes use
// /healthz, and where ingress is denied by default a policy opens postgres.
func checkServe(t *testing.T, r *rendered, devSecrets map[string]*corev1.Secret) {
	t.Helper()
	d := deploymentNamed(t, r, "shelflake-serve")
	podLabels := labels.Set(d.Spec.Template.Labels)
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("Deployment %s: selector does not match its pods (%v)", d.Name, err)
	}
	ps := &d.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("Deployment %s: want one container", d.Name)
	}
	c := ps.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Errorf("Deployment %s: args %q do not run serve", d.Name, c.Args)
	}
	users, ok := flagValue(c.Args, "users")
	if !ok {
		t.Errorf("Deployment %s: no --users", d.Name)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(users, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range ps.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			s := devSecrets[v.Secret.SecretName]
			key := strings.TrimPrefix(users, strings.TrimSuffix(m.MountPath, "/")+"/")
			if s == nil {
				t.Errorf("Deployment %s: --users from Secret %q, which the dev overlay does not define", d.Name, v.Secret.SecretName)
			} else if _, ok := s.Data[key]; !ok {
				if _, ok := s.StringData[key]; !ok {
					t.Errorf("Deployment %s: --users reads key %q, which Secret %s lacks in the dev overlay", d.Name, key, s.Name)
				}
			}
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("Deployment %s: --users %s is not in a mounted Secret", d.Name, users)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["postgres"] != 5432 || ports["metrics"] == 0 {
		t.Errorf("Deployment %s: want container ports postgres=5432 and metrics, got %v", d.Name, ports)
	}
	if h, _ := flagValue(c.Args, "http"); !strings.HasSuffix(h, fmt.Sprintf(":%d", ports["metrics"])) || !strings.HasPrefix(h, "0.0.0.0:") {
		t.Errorf("Deployment %s: --http %q must listen on all interfaces at the metrics port", d.Name, h)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.StartupProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("Deployment %s: want liveness and startup probes GET /healthz on port metrics", d.Name)
		}
	}
	svcs := servicesSelecting(r, podLabels)
	if len(svcs) != 1 {
		t.Fatalf("want one Service selecting the serve pods, got %d", len(svcs))
	}
	names := map[string]bool{}
	for _, p := range svcs[0].Spec.Ports {
		names[p.Name+"->"+p.TargetPort.String()] = true
	}
	if !names["postgres->postgres"] || !names["metrics->metrics"] {
		t.Errorf("Service %s: want ports postgres and metrics targeting the container's, got %v", svcs[0].Name, names)
	}
	denyAll, opens := false, false
	for _, np := range r.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			continue
		}
		if sel.Empty() && len(np.Spec.Ingress) == 0 {
			denyAll = true
		}
		if !sel.Empty() && sel.Matches(podLabels) {
			for _, in := range np.Spec.Ingress {
				for _, p := range in.Ports {
					if p.Port != nil && p.Port.String() == "postgres" {
						opens = true
					}
				}
			}
		}
	}
	if denyAll && !opens {
		t.Errorf("ingress is denied by default but no NetworkPolicy opens the serve pods' postgres port")
	}
}

// checkForecastSteps checks the forecast's CronJobs: either one unsharded
// run, or a sharded run's three steps (forecast/job) — a train step, an
// Indexed Job of N shards each given --shard=index/N, and a merge of
// --shards=N — where only the merge writes back to the ERP.
func checkForecastSteps(t *testing.T, r *rendered) {
	t.Helper()
	steps := map[string]*batchv1.CronJob{}
	for _, cj := range r.cronJobs {
		c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers
		if len(c) != 1 || len(c[0].Args) == 0 || c[0].Args[0] != "forecast" {
			continue
		}
		step := "run"
		for _, a := range c[0].Args[1:] {
			switch {
			case a == "--train":
				step = "train"
			case strings.HasPrefix(a, "--shard="):
				step = "shard"
			case a == "--merge":
				step = "merge"
			}
		}
		if steps[step] != nil {
			t.Errorf("CronJobs %s and %s both run the forecast's %s step", steps[step].Name, cj.Name, step)
		}
		steps[step] = cj
	}
	flag := func(cj *batchv1.CronJob, name string) (string, bool) {
		for _, a := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	if steps["run"] != nil {
		if len(steps) != 1 {
			t.Errorf("an unsharded forecast CronJob next to sharded steps %v: one run would compute the week twice", sortedKeys(steps))
		}
		return
	}
	for _, want := range []string{"train", "shard", "merge"} {
		if steps[want] == nil {
			t.Fatalf("sharded forecast without its %s step (steps: %v)", want, sortedKeys(steps))
		}
	}
	for step, cj := range steps {
		if _, erp := flag(cj, "erp-url"); erp != (step == "merge") {
			t.Errorf("CronJob %s (%s step): --erp-url %v; only the merge sends the documents, once", cj.Name, step, erp)
		}
		if cj.Spec.Schedule != steps["train"].Spec.Schedule {
			t.Errorf("CronJob %s: schedule %q, the train step's %q: the steps of one week start together", cj.Name, cj.Spec.Schedule, steps["train"].Spec.Schedule)
		}
	}
	js := steps["shard"].Spec.JobTemplate.Spec
	spec, _ := flag(steps["shard"], "shard")
	n, err := strconv.Atoi(strings.TrimPrefix(spec, "index/"))
	if !strings.HasPrefix(spec, "index/") || err != nil || n < 1 {
		t.Fatalf("shard step: --shard=%s, want index/N (the pod's JOB_COMPLETION_INDEX of N)", spec)
	}
	if js.CompletionMode == nil || *js.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("shard step: completionMode %v, want Indexed", js.CompletionMode)
	}
	if js.Completions == nil || int(*js.Completions) != n || js.Parallelism == nil || int(*js.Parallelism) != n {
		t.Errorf("shard step: completions %v and parallelism %v, want both %d (--shard=%s)", js.Completions, js.Parallelism, n, spec)
	}
	if m, _ := flag(steps["merge"], "shards"); m != strconv.Itoa(n) {
		t.Errorf("merge step: --shards=%s, the shard step has %d", m, n)
	}
}

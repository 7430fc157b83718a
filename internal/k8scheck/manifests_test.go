package k8scheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const dir = "../../deploy/kubernetes"

// kinds are the types the manifests may hold, by apiVersion and kind.
var kinds = map[string]func() any{
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                          func() any { return &corev1.Secret{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
}

// manifests are every object of deploy/kubernetes, decoded strictly.
type manifests struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pdbs         map[string]*policyv1.PodDisruptionBudget
	policies     map[string]*networkingv1.NetworkPolicy
	accounts     map[string]*corev1.ServiceAccount
}

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, policies: map[string]*networkingv1.NetworkPolicy{},
		accounts: map[string]*corev1.ServiceAccount{},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			obj, err := decode([]byte(doc))
			require.NoError(t, err, "%s, document %d", filepath.Base(file), i+1)
			m.add(t, obj)
		}
	}
	return m
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// decode turns one YAML document into its k8s.io/api type: duplicate keys
// and fields the type does not have are errors.
func decode(doc []byte) (any, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var head struct{ APIVersion, Kind string }
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, err
	}
	newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return nil, fmt.Errorf("unexpected %s %s (add it to kinds)", head.APIVersion, head.Kind)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s: %w", head.Kind, err)
	}
	return obj, nil
}

func (m *manifests) add(t *testing.T, obj any) {
	t.Helper()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		m.deployments[o.Name] = o
	case *appsv1.StatefulSet:
		m.statefulSets[o.Name] = o
	case *corev1.Service:
		m.services[o.Name] = o
	case *corev1.ConfigMap:
		m.configMaps[o.Name] = o
	case *corev1.Secret:
		m.secrets[o.Name] = o
	case *policyv1.PodDisruptionBudget:
		m.pdbs[o.Name] = o
	case *networkingv1.NetworkPolicy:
		m.policies[o.Name] = o
	case *corev1.ServiceAccount:
		m.accounts[o.Name] = o
	}
}

// pods are the pod templates of the workloads, by name.
func (m *manifests) pods() map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for n, d := range m.deployments {
		out[n] = d.Spec.Template
	}
	for n, s := range m.statefulSets {
		out[n] = s.Spec.Template
	}
	return out
}

func TestStrictDecodingCatchesMistakes(t *testing.T) {
	for name, doc := range map[string]string{
		"an unknown field":    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {app: x}}\n",
		"a misplaced field":   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1, containers: []}\n",
		"a duplicate key":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: '1', A: '2'}\n",
		"a wrong type":        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: three}\n",
		"an unknown kind":     "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
		"a misspelled struct": "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavaliable: 1}\n",
	} {
		_, err := decode([]byte(doc))
		assert.Error(t, err, name)
	}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	for _, name := range []string{"registrar", "mailer"} {
		assert.Contains(t, m.deployments, name)
		assert.Contains(t, m.pdbs, name, "a PodDisruptionBudget for %s", name)
	}
	assert.Contains(t, m.statefulSets, "etcd")
}

func TestWorkloadsAreSizedProbedAndLockedDown(t *testing.T) {
	m := load(t)
	for name, pod := range m.pods() {
		spec := pod.Spec
		require.NotNil(t, spec.SecurityContext, name)
		assert.True(t, ptrTrue(spec.SecurityContext.RunAsNonRoot), "%s runs as non-root", name)
		assert.False(t, ptrTrue(spec.AutomountServiceAccountToken), "%s needs no Kubernetes API token", name)
		for _, c := range spec.Containers {
			what := name + "/" + c.Name
			assert.False(t, c.Resources.Requests.Cpu().IsZero(), "%s: CPU request", what)
			assert.False(t, c.Resources.Requests.Memory().IsZero(), "%s: memory request", what)
			assert.False(t, c.Resources.Limits.Memory().IsZero(), "%s: memory limit", what)
			require.NotNil(t, c.ReadinessProbe, "%s: readiness probe", what)
			require.NotNil(t, c.LivenessProbe, "%s: liveness probe", what)
			require.NotNil(t, c.SecurityContext, what)
			assert.True(t, ptrTrue(c.SecurityContext.ReadOnlyRootFilesystem), "%s: read-only root", what)
			assert.False(t, ptrTrue(c.SecurityContext.AllowPrivilegeEscalation), "%s: no privilege escalation", what)
			require.NotNil(t, c.SecurityContext.Capabilities, what)
			assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop, what)
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
				if p != nil && p.HTTPGet != nil {
					assert.True(t, hasPort(c, p.HTTPGet.Port.String()), "%s: probe port %s is a container port", what, p.HTTPGet.Port.String())
				}
			}
		}
	}
	for name, want := range map[string][2]string{
		// Kafka down is no reason to leave the rotation (the outbox holds the
		// messages); the mailer cannot work without it.
		"registrar": {"/healthz", "/readyz?exclude=kafka"},
		"mailer":    {"/healthz", "/readyz"},
	} {
		c := m.deployments[name].Spec.Template.Spec.Containers[0]
		assert.Equal(t, want[0], c.LivenessProbe.HTTPGet.Path, name)
		assert.Equal(t, want[1], c.ReadinessProbe.HTTPGet.Path, name)
	}
	reg := m.deployments["registrar"].Spec.Template.Spec.Containers[0]
	assert.Equal(t, "2", reg.Resources.Limits.Cpu().String(),
		"the CPU limit is GOMAXPROCS and so the hashes at once; memory is sized for two 19 MiB hashes")
}

func hasPort(c corev1.Container, port string) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == port || fmt.Sprint(p.ContainerPort) == port
	})
}

func ptrTrue(b *bool) bool { return b != nil && *b }

func TestSelectorsAndPortsMatch(t *testing.T) {
	m := load(t)
	pods := m.pods()
	matches := func(selector map[string]string) []string {
		var out []string
		for name, pod := range pods {
			ok := len(selector) > 0
			for k, v := range selector {
				ok = ok && pod.Labels[k] == v
			}
			if ok {
				out = append(out, name)
			}
		}
		return out
	}
	for name, s := range m.services {
		targets := matches(s.Spec.Selector)
		require.Len(t, targets, 1, "service %s selects one workload", name)
		pod := pods[targets[0]]
		for _, p := range s.Spec.Ports {
			target := p.TargetPort.String()
			if p.TargetPort.IntValue() == 0 && target == "0" {
				target = fmt.Sprint(p.Port)
			}
			assert.True(t, hasPort(pod.Spec.Containers[0], target), "service %s port %s reaches a container port", name, target)
		}
	}
	for name, p := range m.pdbs {
		assert.Len(t, matches(p.Spec.Selector.MatchLabels), 1, "PDB %s selects one workload", name)
	}
	for name, d := range m.deployments {
		assert.Equal(t, d.Spec.Selector.MatchLabels, map[string]string(d.Spec.Template.Labels), "deployment %s selects its own pods", name)
		if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "" {
			assert.Contains(t, m.accounts, sa, "deployment %s's service account", name)
		}
	}
	reg := pods["registrar"].Spec.Containers[0]
	addr := envValue(reg, "CLUSTER_ADDR")
	require.NotEmpty(t, addr)
	_, port, _ := strings.Cut(addr, ":")
	assert.True(t, hasPort(reg, port), "CLUSTER_ADDR's port %s is the cluster container port", port)
	policy := m.policies["registrar"]
	require.NotNil(t, policy, "the clear-text cluster port is fenced by a NetworkPolicy")
	assert.Len(t, matches(policy.Spec.PodSelector.MatchLabels), 1)
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestVariablesAreTheBinariesOwn: every variable the manifests set is one
// the binary reads (its --help lists them all), and every Secret key they
// reference exists in secret.example.yaml.
func TestVariablesAreTheBinariesOwn(t *testing.T) {
	m := load(t)
	known := map[string]map[string]bool{}
	for _, bin := range []string{"registrar", "mailer"} {
		cmd := exec.Command("go", "run", "./cmd/"+bin, "--help")
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s --help: %s", bin, out)
		known[bin] = map[string]bool{}
		for _, v := range regexp.MustCompile(`(?m)^\s+([A-Z][A-Z0-9_]+)\s`).FindAllStringSubmatch(string(out), -1) {
			known[bin][v[1]] = true
		}
		require.NotEmpty(t, known[bin], "%s --help lists its variables", bin)
	}
	for name, bin := range map[string]string{"registrar": "registrar", "mailer": "mailer"} {
		c := m.deployments[name].Spec.Template.Spec.Containers[0]
		for _, e := range c.Env {
			if e.Name == "POD_IP" { // only to build CLUSTER_ADDR
				continue
			}
			assert.True(t, known[bin][e.Name], "%s sets %s, which %s does not read", name, e.Name, bin)
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				require.Contains(t, m.secrets, ref.Name)
				assert.Contains(t, m.secrets[ref.Name].StringData, ref.Key, "%s: secret key %s", name, ref.Key)
			}
		}
		for _, from := range c.EnvFrom {
			require.NotNil(t, from.ConfigMapRef)
			cm := m.configMaps[from.ConfigMapRef.Name]
			require.NotNil(t, cm, "%s's ConfigMap %s", name, from.ConfigMapRef.Name)
			for k := range cm.Data {
				assert.True(t, known[bin][k], "ConfigMap %s sets %s, which %s does not read", cm.Name, k, bin)
			}
		}
	}
}

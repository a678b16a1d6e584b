// Package install_test checks podlock's Helm chart (install/helm/podlock)
// with Helm's own Go packages: its defaults render the objects of
// `kubectl apply -k install/`, its values change what they say, and a real
// API server accepts what it renders.
package install_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles/webhook"
	"github.com/kubewarden/podlock/tests/internal/chart"
)

func render(t *testing.T, values map[string]any) []chart.Object {
	t.Helper()
	objs, err := chart.Render(chart.Namespace, values)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// The chart's defaults and install/kustomization.yaml are the same
// objects, but for the namespace: a chart does not create its release's
// namespace (helm install --create-namespace does).
func TestChartMatchesKustomize(t *testing.T) {
	helm := render(t, nil)
	kustomize, err := chart.Kustomize()
	if err != nil {
		t.Fatal(err)
	}
	byKey := func(objs []chart.Object) map[string]chart.Object {
		m := map[string]chart.Object{}
		for _, o := range objs {
			if _, dup := m[o.Key()]; dup {
				t.Errorf("%s twice", o.Key())
			}
			m[o.Key()] = o
		}
		return m
	}
	h, k := byKey(helm), byKey(kustomize)
	namespace := "v1 Namespace  " + chart.Namespace
	if _, ok := k[namespace]; !ok {
		t.Errorf("kustomize has no %s", namespace)
	}
	delete(k, namespace)
	for _, key := range slices.Sorted(maps.Keys(k)) {
		ho, ok := h[key]
		if !ok {
			t.Errorf("%s: in kustomize's objects, not in the chart's", key)
			continue
		}
		if !reflect.DeepEqual(ho, k[key]) {
			hj, _ := json.MarshalIndent(ho, "", "  ")
			kj, _ := json.MarshalIndent(k[key], "", "  ")
			t.Errorf("%s differs:\nchart:\n%s\nkustomize:\n%s", key, hj, kj)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(h)) {
		if _, ok := k[key]; !ok {
			t.Errorf("%s: in the chart's objects, not in kustomize's", key)
		}
	}
	t.Logf("%d objects alike", len(h))
}

// get returns the value at a path of keys (strings) and indexes (ints).
func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := o.(map[string]any)
			o = m[k]
		case int:
			l, _ := o.([]any)
			if k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}

func asJSON(v any) string {
	js, _ := json.Marshal(v)
	return string(js)
}

// podSpec returns the pod template's spec of a workload.
func podSpec(t *testing.T, objs []chart.Object, kind, name string) map[string]any {
	t.Helper()
	o := chart.Find(objs, kind, name)
	if o == nil {
		t.Fatalf("no %s %s", kind, name)
	}
	spec, _ := get(map[string]any(o), "spec", "template", "spec").(map[string]any)
	return spec
}

// container returns a container (or init container) of a pod spec.
func container(t *testing.T, spec map[string]any, name string) map[string]any {
	t.Helper()
	for _, list := range []string{"initContainers", "containers"} {
		cs, _ := spec[list].([]any)
		for _, c := range cs {
			if m := c.(map[string]any); m["name"] == name {
				return m
			}
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

// command is a container's command and args.
func command(c map[string]any) []string {
	var out []string
	for _, key := range []string{"command", "args"} {
		l, _ := c[key].([]any)
		for _, a := range l {
			out = append(out, a.(string))
		}
	}
	return out
}

func wantArgs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: no %s in %q", what, w, got)
		}
	}
}

func wantJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	if g := asJSON(got); g != want {
		t.Errorf("%s: %s, want %s", what, g, want)
	}
}

func TestChartValues(t *testing.T) {
	tests := []struct {
		name   string
		values string // YAML
		check  func(t *testing.T, objs []chart.Object)
	}{{
		name:   "image",
		values: "image: {repository: registry.example/podlock, tag: v1.2.3, pullPolicy: Always}",
		check: func(t *testing.T, objs []chart.Object) {
			for _, w := range []struct{ kind, name, container string }{
				{"DaemonSet", "podlock-node", "setup"}, {"DaemonSet", "podlock-node", "install"}, {"DaemonSet", "podlock-node", "agent"},
				{"Deployment", "podlock-controller", "controller"},
			} {
				c := container(t, podSpec(t, objs, w.kind, w.name), w.container)
				if c["image"] != "registry.example/podlock:v1.2.3" || c["imagePullPolicy"] != "Always" {
					t.Errorf("%s %s: image %v, pull policy %v", w.name, w.container, c["image"], c["imagePullPolicy"])
				}
			}
		},
	}, {
		name:   "controller replicas, resources and log level",
		values: "controller: {replicas: 3, resources: {requests: {cpu: 1}}, logLevel: debug}",
		check: func(t *testing.T, objs []chart.Object) {
			wantJSON(t, "replicas", get(map[string]any(chart.Find(objs, "Deployment", "podlock-controller")), "spec", "replicas"), "3")
			c := container(t, podSpec(t, objs, "Deployment", "podlock-controller"), "controller")
			// Helm merges maps of values: the other defaults stay.
			wantJSON(t, "resources", c["resources"], `{"limits":{"memory":"256Mi"},"requests":{"cpu":1,"memory":"64Mi"}}`)
			wantArgs(t, "controller", command(c), "--log-level=debug")
		},
	}, {
		name:   "cert-manager",
		values: "controller: {tlsMode: cert-manager}",
		check: func(t *testing.T, objs []chart.Object) {
			if chart.Find(objs, "Issuer", "podlock-selfsigned") == nil {
				t.Error("no Issuer")
			}
			cert := chart.Find(objs, "Certificate", "podlock-controller-webhook")
			wantJSON(t, "Certificate dnsNames", get(map[string]any(cert), "spec", "dnsNames"),
				`["podlock-controller-webhook.podlock-system.svc","podlock-controller-webhook.podlock-system.svc.cluster.local"]`)
			for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
				wantJSON(t, kind, get(map[string]any(chart.Find(objs, kind, "podlock-controller")), "metadata", "annotations"),
					`{"cert-manager.io/inject-ca-from":"podlock-system/podlock-controller-webhook"}`)
			}
			spec := podSpec(t, objs, "Deployment", "podlock-controller")
			c := container(t, spec, "controller")
			wantArgs(t, "controller", command(c), "--tls-mode=cert-files", "--cert-dir=/certs")
			if slices.Contains(command(c), "--tls-mode=self-signed") {
				t.Error("still self-signed")
			}
			wantJSON(t, "volumes", spec["volumes"], `[{"configMap":{"name":"podlock-controller"},"name":"config"},{"name":"certs","secret":{"secretName":"podlock-controller-webhook-tls"}}]`)
		},
	}, {
		name: "admission policy",
		values: `
controller:
  config:
    reservedRuntimes: [runC]
    fallbackRuntime: containerd-kata
    defaultRuntimeReserved: true
    defaultSeccompNamespaceSelector:
      matchExpressions:
      - {key: kubernetes.io/metadata.name, operator: NotIn, values: [legacy]}`,
		check: func(t *testing.T, objs []chart.Object) {
			cfg := controllerConfig(t, objs)
			if !slices.Equal(cfg.ReservedRuntimes, []string{"runC"}) || cfg.FallbackRuntime != "containerd-kata" || !cfg.DefaultRuntimeReserved {
				t.Errorf("runtime-class policy %+v", cfg)
			}
			wantJSON(t, "defaultSeccompNamespaceSelector", cfg.DefaultSeccompNamespaceSelector,
				`{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["legacy"]}]}`)
		},
	}, {
		name:   "runtime class",
		values: "runtimeClass: {name: confined, handler: plk, nodeSelector: {pool: secure}, tolerations: [{key: secure, operator: Exists}]}",
		check: func(t *testing.T, objs []chart.Object) {
			rc := chart.Find(objs, "RuntimeClass", "confined")
			wantJSON(t, "handler", get(map[string]any(rc), "handler"), `"plk"`)
			wantJSON(t, "scheduling", get(map[string]any(rc), "scheduling"),
				`{"nodeSelector":{"podlock.kubewarden.io/ready":"true","pool":"secure"},"tolerations":[{"key":"secure","operator":"Exists"}]}`)
			if cfg := controllerConfig(t, objs); cfg.RuntimeClassName != "confined" {
				t.Errorf("the controller gives pods %q", cfg.RuntimeClassName)
			}
			wantArgs(t, "install", command(container(t, podSpec(t, objs, "DaemonSet", "podlock-node"), "install")), "--handler=plk")
		},
	}, {
		name: "node agent",
		values: `
node:
  hostPaths: {bin: /opt/bin, config: /opt/podlock, cache: /var/cache/podlock, records: /var/podlock, index: /run/plk, containerd: /opt/containerd, crio: /opt/crio}
  engine: containerd
  engineConfig: /opt/containerd/main.toml
  tokenTTL: 30m
  reportDenials: false
  metricsPort: 19811
  probePort: 19812
  resources: {limits: {memory: 128Mi}}
  tolerations: [{key: gpu, operator: Exists}]
  nodeSelector: {podlock: "yes"}`,
		check: func(t *testing.T, objs []chart.Object) {
			spec := podSpec(t, objs, "DaemonSet", "podlock-node")
			wantArgs(t, "setup", command(container(t, spec, "setup")), "--bin-dir=/opt/bin", "--config-dir=/opt/podlock",
				"--cache-dir=/var/cache/podlock", "--record-dir=/var/podlock", "--index-dir=/run/plk")
			wantArgs(t, "install", command(container(t, spec, "install")), "--runtime-path=/opt/bin/podlock-runtime",
				"--engine=containerd", "--config=/opt/containerd/main.toml")
			agent := container(t, spec, "agent")
			wantArgs(t, "agent", command(agent), "--bin-dir=/opt/bin", "--config-dir=/opt/podlock", "--token-ttl=30m",
				"--report-denials=false", "--metrics-address=:19811", "--probe-address=:19812", "--index-dir=/run/plk", "--record-dir=/var/podlock")
			wantJSON(t, "agent ports", agent["ports"], `[{"containerPort":19811,"name":"metrics"},{"containerPort":19812,"name":"probes"}]`)
			wantJSON(t, "agent resources", agent["resources"], `{"limits":{"memory":"128Mi"},"requests":{"cpu":"5m","memory":"16Mi"}}`)
			wantJSON(t, "mounts", agent["volumeMounts"], `[{"mountPath":"/host/opt/bin","name":"bin"},{"mountPath":"/host/opt/podlock","name":"podlock-config"},`+
				`{"mountPath":"/host/run/plk","name":"container-index"},{"mountPath":"/host/var/podlock","name":"records","readOnly":true}]`)
			wantJSON(t, "volume", get(spec, "volumes", 0), `{"hostPath":{"path":"/opt/bin","type":"DirectoryOrCreate"},"name":"bin"}`)
			wantJSON(t, "tolerations", spec["tolerations"], `[{"key":"gpu","operator":"Exists"}]`)
			wantJSON(t, "nodeSelector", spec["nodeSelector"], `{"podlock":"yes"}`)
		},
	}, {
		name:   "host network",
		values: "controller: {hostNetwork: true, webhookPort: 19443, servicePort: 19443, probePort: 18081, metricsPort: 18080}\nnode: {hostNetwork: true}",
		check: func(t *testing.T, objs []chart.Object) {
			spec := podSpec(t, objs, "Deployment", "podlock-controller")
			c := container(t, spec, "controller")
			if spec["hostNetwork"] != true {
				t.Error("controller: not in the host network")
			}
			wantArgs(t, "controller", command(c), "--reuse-port", "--webhook-port=19443",
				"--health-probe-bind-address=127.0.0.1:18081", "--metrics-bind-address=127.0.0.1:18080")
			if c["ports"] != nil {
				t.Errorf("controller ports %v: two replicas on one node would not be scheduled", c["ports"])
			}
			wantJSON(t, "readiness probe", c["readinessProbe"], `{"httpGet":{"host":"127.0.0.1","path":"/readyz","port":18081}}`)
			wantJSON(t, "Service port", get(map[string]any(chart.Find(objs, "Service", "podlock-controller-webhook")), "spec", "ports"),
				`[{"name":"webhook","port":19443,"targetPort":19443}]`)
			wantJSON(t, "webhook port", get(map[string]any(chart.Find(objs, "ValidatingWebhookConfiguration", "podlock-controller")), "webhooks", 0, "clientConfig", "service", "port"), "19443")

			node := podSpec(t, objs, "DaemonSet", "podlock-node")
			agent := container(t, node, "agent")
			if node["hostNetwork"] != true {
				t.Error("node agent: not in the host network")
			}
			wantArgs(t, "agent", command(agent), "--metrics-address=127.0.0.1:9811", "--probe-address=127.0.0.1:9812")
			wantJSON(t, "agent liveness probe", agent["livenessProbe"], `{"httpGet":{"host":"127.0.0.1","path":"/healthz","port":"probes"}}`)
		},
	}, {
		name:   "API server address",
		values: "kubernetesAPI: {host: 127.0.0.1, port: 6443}",
		check: func(t *testing.T, objs []chart.Object) {
			env := `[{"name":"KUBERNETES_SERVICE_HOST","value":"127.0.0.1"},{"name":"KUBERNETES_SERVICE_PORT","value":"6443"}]`
			node := podSpec(t, objs, "DaemonSet", "podlock-node")
			wantJSON(t, "setup env", container(t, node, "setup")["env"], env)
			wantJSON(t, "agent env", get(container(t, node, "agent"), "env", 1), `{"name":"KUBERNETES_SERVICE_HOST","value":"127.0.0.1"}`)
			wantJSON(t, "controller env", get(container(t, podSpec(t, objs, "Deployment", "podlock-controller"), "controller"), "env", 2),
				`{"name":"KUBERNETES_SERVICE_PORT","value":"6443"}`)
		},
	}, {
		name:   "controller scheduling",
		values: "controller: {nodeSelector: {role: infra}, tolerations: [{key: infra, operator: Exists}], affinity: {podAntiAffinity: {}}}",
		check: func(t *testing.T, objs []chart.Object) {
			spec := podSpec(t, objs, "Deployment", "podlock-controller")
			wantJSON(t, "nodeSelector", spec["nodeSelector"], `{"role":"infra"}`)
			wantJSON(t, "tolerations", spec["tolerations"], `[{"key":"infra","operator":"Exists"}]`)
			wantJSON(t, "affinity", spec["affinity"], `{"podAntiAffinity":{}}`)
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var values map[string]any
			if err := yaml.Unmarshal([]byte(tt.values), &values); err != nil {
				t.Fatal(err)
			}
			tt.check(t, render(t, values))
		})
	}
}

// controllerConfig parses the controller's configuration as the
// controller does.
func controllerConfig(t *testing.T, objs []chart.Object) webhook.Config {
	t.Helper()
	data, _ := get(map[string]any(chart.Find(objs, "ConfigMap", "podlock-controller")), "data", "controller.yaml").(string)
	cfg, err := webhook.ParseConfig([]byte(data))
	if err != nil {
		t.Fatalf("the controller refuses its configuration %q: %v", data, err)
	}
	return cfg
}

// Another release namespace: every namespaced object, reference and
// exemption follows it.
func TestChartNamespace(t *testing.T) {
	objs, err := chart.Render("security", map[string]any{"controller": map[string]any{"tlsMode": "cert-manager"}})
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := chart.Manifest(objs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(manifest), chart.Namespace) {
		t.Errorf("the manifest of namespace security names %s:\n%s", chart.Namespace, manifest)
	}
	for _, o := range objs {
		if o.Namespace() != "" && o.Namespace() != "security" {
			t.Errorf("%s is in namespace %s", o.Key(), o.Namespace())
		}
	}
	wantJSON(t, "webhook exemption", get(map[string]any(chart.Find(objs, "MutatingWebhookConfiguration", "podlock-controller")), "webhooks", 0, "namespaceSelector"),
		`{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["security","kube-system"]}]}`)
	wantArgs(t, "agent", command(container(t, podSpec(t, objs, "DaemonSet", "podlock-node"), "agent")), "--service-account=security/podlock-node")
}

// Values the chart cannot honour are refused, naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tt := range []struct{ values, want string }{
		{"controller: {replica: 3}", "additional properties 'replica' not allowed"},
		{"controller: {tlsMode: manual}", "controller/tlsMode"},
		{"node: {engine: docker}", "node/engine"},
		{"node: {hostPaths: {bin: usr/local/bin, config: /etc/podlock, cache: /c, records: /r, index: /i, containerd: /etc/containerd, crio: /etc/crio}}", "node/hostPaths/bin"},
		{"runtimeClass: {name: Podlock, handler: podlock}", "runtimeClass/name"},
		{"node: {tokenTTL: 1 hour}", "node/tokenTTL"},
	} {
		t.Run(tt.values, func(t *testing.T) {
			var values map[string]any
			if err := yaml.Unmarshal([]byte(tt.values), &values); err != nil {
				t.Fatal(err)
			}
			_, err := chart.Render(chart.Namespace, values)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

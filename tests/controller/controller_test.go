package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	webhookPods      = `admission webhook "validate.pods.podlock.kubewarden.io" denied the request: `
	webhookWorkloads = `admission webhook "validate.workloads.podlock.kubewarden.io" denied the request: `
)

func landlockProfile(name, seccompByContainer string) string {
	spec := `{"containerWide":{"app":{"readOnly":["/etc"]}}}`
	if seccompByContainer != "" {
		spec = `{"seccompByContainer":` + seccompByContainer + `}`
	}
	return `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile","metadata":{"name":"` + name + `"},"spec":` + spec + `}`
}

func seccompProfile(name, base string) string {
	spec := `{"defaultAction":"SCMP_ACT_ALLOW"}`
	if base != "" {
		spec = `{"baseProfileName":"` + base + `","defaultAction":"SCMP_ACT_ALLOW"}`
	}
	return `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"SeccompProfile","metadata":{"name":"` + name + `"},"spec":` + spec + `}`
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func (e *env) createProfile(ns, resource, obj string) {
	e.t.Helper()
	if status, body := e.do(http.MethodPost, profilesPath(ns, resource), obj); status != http.StatusCreated {
		e.t.Fatalf("creating %s: %d %s", resource, status, body)
	}
}

func TestController(t *testing.T) {
	e := newEnv(t)
	e.startController("")

	t.Run("probes, metrics and leader election", func(t *testing.T) {
		e := e.sub(t)
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", e.probes, path))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %v %v", path, err, resp)
			}
			resp.Body.Close()
		}
		// The finalizer controller runs once this replica leads.
		e.waitFor("the leader-election lease", 30*time.Second, func() (bool, string) {
			status, lease := e.do(http.MethodGet, "/apis/coordination.k8s.io/v1/namespaces/podlock-system/leases/podlock-controller.podlock.kubewarden.io", nil)
			return status == http.StatusOK && bytes.Contains(lease, []byte(`"holderIdentity"`)), string(lease)
		})
		e.waitFor("the metrics", 30*time.Second, func() (bool, string) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", e.metrics))
			if err != nil {
				return false, err.Error()
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`controller_runtime_webhook_requests_total{code="200",webhook="/validate-pods"}`, `controller_runtime_reconcile_total{controller="landlockprofile"`} {
				if !bytes.Contains(body, []byte(want)) {
					return false, "no " + want
				}
			}
			return true, ""
		})
	})

	t.Run("labelled pods are bound to their profile", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("bind", nil)
		e.createProfile("bind", "landlockprofiles", landlockProfile("demo", ""))

		p := e.createPod("bind", podJSON("labelled", labels("podlock.kubewarden.io/profile", "demo"), nil, nil))
		if p.Spec.RuntimeClassName != "podlock" || p.Metadata.Annotations["podlock.kubewarden.io/profile"] != "demo" {
			t.Errorf("labelled pod: runtimeClassName %q, annotations %v; want podlock and the profile annotation", p.Spec.RuntimeClassName, p.Metadata.Annotations)
		}

		// User values are overwritten, the user's seccomp annotation removed.
		p = e.createPod("bind", podJSON("overwritten", labels("podlock.kubewarden.io/profile", "demo"),
			labels("podlock.kubewarden.io/profile", "other", "podlock.kubewarden.io/seccomp", "audit", "keep", "me"),
			map[string]any{"runtimeClassName": "podlock"}))
		want := labels("podlock.kubewarden.io/profile", "demo", "keep", "me")
		if fmt.Sprint(p.Metadata.Annotations) != fmt.Sprint(want) {
			t.Errorf("annotations %v, want %v", p.Metadata.Annotations, want)
		}

		// An unlabelled pod is left alone.
		if p = e.createPod("bind", podJSON("plain", nil, nil, nil)); p.Spec.RuntimeClassName != "" || len(p.Metadata.Annotations) != 0 {
			t.Errorf("unlabelled pod changed: %+v", p)
		}

		for _, c := range []struct {
			name        string
			labels      map[string]string
			annotations map[string]string
			spec        map[string]any
			want        string
		}{
			{"other runtime class", labels("podlock.kubewarden.io/profile", "demo"), nil, map[string]any{"runtimeClassName": "containerd-kata"},
				`pod has label podlock.kubewarden.io/profile=demo, which needs runtimeClassName "podlock", but the pod asks for runtimeClassName "containerd-kata": remove spec.runtimeClassName or set it to "podlock"`},
			{"unknown podlock annotation", nil, labels("podlock.kubewarden.io/unconfined", "true"), nil,
				`annotation podlock.kubewarden.io/unconfined is not one podlock sets: podlock reads only podlock.kubewarden.io/profile, set from the pod label of that name, podlock.kubewarden.io/seccomp, set from the namespace label podlock.kubewarden.io/seccomp-profile, and podlock.kubewarden.io/namespace-profile, set from the namespace label podlock.kubewarden.io/landlock-profile`},
			{"podlock's container annotation", labels("podlock.kubewarden.io/profile", "demo"), labels("podlock.kubewarden.io/container", "other"), nil,
				`annotation podlock.kubewarden.io/container names a container for podlock-runtime outside Kubernetes (podman, ctr); in a pod, the container runtime names every container: remove it`},
			{"missing profile", labels("podlock.kubewarden.io/profile", "nope"), nil, nil,
				`pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "bind"`},
		} {
			got := e.refused(http.MethodPost, podsPath("bind"), podJSON("refused", c.labels, c.annotations, c.spec))
			if got != webhookPods+c.want {
				t.Errorf("%s:\n got %s\nwant %s", c.name, got, webhookPods+c.want)
			}
		}

		// Exempt namespaces are not seen by the webhooks.
		e.createPod("kube-system", podJSON("exempt", nil, labels("podlock.kubewarden.io/unconfined", "true"), nil))
	})

	t.Run("seccomp profiles a LandlockProfile binds must exist", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("bindsec", nil)
		e.createProfile("bindsec", "landlockprofiles", landlockProfile("web", `{"app":"strict","sidecar":"runtime-default"}`))
		got := e.refused(http.MethodPost, podsPath("bindsec"), podJSON("p", labels("podlock.kubewarden.io/profile", "web"), nil, nil))
		if want := webhookPods + `SeccompProfile "strict", bound to container "app" by LandlockProfile "web", does not exist in namespace "bindsec"`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		e.createProfile("bindsec", "seccompprofiles", seccompProfile("strict", "base"))
		got = e.refused(http.MethodPost, podsPath("bindsec"), podJSON("p", labels("podlock.kubewarden.io/profile", "web"), nil, nil))
		if want := webhookPods + `SeccompProfile "base", base profile of SeccompProfile "strict", does not exist in namespace "bindsec"`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		// Created a moment before the pod: found though the cache may
		// not have it yet.
		e.createProfile("bindsec", "seccompprofiles", seccompProfile("base", "runtime-default"))
		e.createPod("bindsec", podJSON("p", labels("podlock.kubewarden.io/profile", "web"), nil, nil))
	})

	t.Run("the binding cannot change on update", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("upd", nil)
		e.createProfile("upd", "landlockprofiles", landlockProfile("demo", ""))
		e.createProfile("upd", "landlockprofiles", landlockProfile("other", ""))
		e.createPod("upd", podJSON("p", labels("podlock.kubewarden.io/profile", "demo"), nil, nil))
		e.createPod("upd", podJSON("q", nil, nil, nil))
		path := podsPath("upd")
		for _, c := range []struct{ name, pod, patch, want string }{
			{"label changed", "p", `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"other"}}}`,
				`label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now "other"): delete the pod and create it again`},
			{"label removed", "p", `{"metadata":{"labels":{"podlock.kubewarden.io/profile":null}}}`,
				`label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now none): delete the pod and create it again`},
			{"label added", "q", `{"metadata":{"labels":{"podlock.kubewarden.io/profile":"demo"}}}`,
				`label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was none, now "demo"): delete the pod and create it again`},
			{"annotation removed", "p", `{"metadata":{"annotations":{"podlock.kubewarden.io/profile":null}}}`,
				`annotation podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod (was "demo", now none): delete the pod and create it again`},
			{"seccomp annotation added", "q", `{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
				`annotation podlock.kubewarden.io/seccomp cannot be added, changed or removed on an existing pod (was none, now "audit"): delete the pod and create it again`},
		} {
			if got := e.refused(http.MethodPatch, path+"/"+c.pod, c.patch); got != webhookPods+c.want {
				t.Errorf("%s:\n got %s\nwant %s", c.name, got, webhookPods+c.want)
			}
		}
		if status, body := e.do(http.MethodPatch, path+"/p", `{"metadata":{"labels":{"tier":"web"}}}`); status != http.StatusOK {
			t.Errorf("another label: %d %s", status, body)
		}
	})

	t.Run("workload templates are validated at apply time", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("wl", nil)
		e.createProfile("wl", "landlockprofiles", landlockProfile("demo", ""))
		tmpl := func(profile string) map[string]any {
			return map[string]any{
				"metadata": map[string]any{"labels": labels("app", "x", "podlock.kubewarden.io/profile", profile)},
				"spec": map[string]any{"automountServiceAccountToken": false,
					"containers": []any{map[string]any{"name": "app", "image": "busybox"}}},
			}
		}
		jobTmpl := func(p string) map[string]any {
			t := tmpl(p)
			t["spec"].(map[string]any)["restartPolicy"] = "Never"
			return t
		}
		selector := map[string]any{"matchLabels": labels("app", "x")}
		kinds := []struct {
			group, resource, kind, field string
			spec                         func(string) map[string]any
		}{
			{"apps", "deployments", "Deployment", "spec.template", func(p string) map[string]any {
				return map[string]any{"selector": selector, "template": tmpl(p)}
			}},
			{"apps", "statefulsets", "StatefulSet", "spec.template", func(p string) map[string]any {
				return map[string]any{"selector": selector, "serviceName": "x", "template": tmpl(p)}
			}},
			{"apps", "daemonsets", "DaemonSet", "spec.template", func(p string) map[string]any {
				return map[string]any{"selector": selector, "template": tmpl(p)}
			}},
			{"apps", "replicasets", "ReplicaSet", "spec.template", func(p string) map[string]any {
				return map[string]any{"selector": selector, "template": tmpl(p)}
			}},
			{"batch", "jobs", "Job", "spec.template", func(p string) map[string]any {
				return map[string]any{"template": jobTmpl(p)}
			}},
			{"batch", "cronjobs", "CronJob", "spec.jobTemplate.spec.template", func(p string) map[string]any {
				return map[string]any{"schedule": "@daily", "jobTemplate": map[string]any{"spec": map[string]any{"template": jobTmpl(p)}}}
			}},
		}
		for _, k := range kinds {
			path := "/apis/" + k.group + "/v1/namespaces/wl/" + k.resource
			obj := func(name, profile string) map[string]any {
				return map[string]any{"apiVersion": k.group + "/v1", "kind": k.kind, "metadata": map[string]any{"name": name}, "spec": k.spec(profile)}
			}
			got := e.refused(http.MethodPost, path, obj("bad", "nope"))
			want := webhookWorkloads + k.kind + ` bad: ` + k.field + `: its pods would be refused: pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "wl"`
			if got != want {
				t.Errorf("%s:\n got %s\nwant %s", k.kind, got, want)
			}
			if status, body := e.do(http.MethodPost, path, obj("good", "demo")); status != http.StatusCreated {
				t.Errorf("%s with an existing profile: %d %s", k.kind, status, body)
			}
			if k.kind == "Deployment" {
				// A template changed to a missing profile is refused; an
				// update that leaves the template alone is not.
				got := e.refused(http.MethodPatch, path+"/good", `{"spec":{"template":{"metadata":{"labels":{"podlock.kubewarden.io/profile":"nope"}}}}}`)
				want := webhookWorkloads + `Deployment good: spec.template: its pods would be refused: pod label podlock.kubewarden.io/profile names LandlockProfile "nope", which does not exist in namespace "wl"`
				if got != want {
					t.Errorf("Deployment update:\n got %s\nwant %s", got, want)
				}
				if status, body := e.do(http.MethodPatch, path+"/good", `{"metadata":{"labels":{"tier":"web"}}}`); status != http.StatusOK {
					t.Errorf("Deployment update outside the template: %d %s", status, body)
				}
			}
		}
	})

	t.Run("default seccomp profile", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("sec-default", labels("podlock.kubewarden.io/default-seccomp", "enabled"))
		e.namespace("sec-off", nil)
		seccomp := func(p pod) string {
			if sp := p.Spec.SecurityContext.SeccompProfile; sp != nil {
				return sp.Type
			}
			return ""
		}
		for _, c := range []struct {
			name, ns string
			labels   map[string]string
			spec     map[string]any
			want     string
		}{
			{"defaulted", "sec-default", nil, nil, "RuntimeDefault"},
			{"explicit pod-level profile kept", "sec-default", nil,
				map[string]any{"securityContext": map[string]any{"seccompProfile": map[string]any{"type": "Unconfined"}}}, "Unconfined"},
			{"container-level profile counts", "sec-default", nil,
				map[string]any{"containers": []any{map[string]any{"name": "app", "image": "busybox",
					"securityContext": map[string]any{"seccompProfile": map[string]any{"type": "Unconfined"}}}}}, ""},
			{"skip label", "sec-default", labels("podlock.kubewarden.io/default-seccomp-skip", "true"), nil, ""},
			{"namespace not labelled", "sec-off", nil, nil, ""},
		} {
			if got := seccomp(e.createPod(c.ns, podJSON(strings.ReplaceAll(c.name, " ", "-"), c.labels, nil, c.spec))); got != c.want {
				t.Errorf("%s: pod seccompProfile %q, want %q", c.name, got, c.want)
			}
		}
		// Labelling a namespace applies to the pods created after.
		if status, body := e.do(http.MethodPatch, "/api/v1/namespaces/sec-off", `{"metadata":{"labels":{"podlock.kubewarden.io/default-seccomp":"enabled"}}}`); status != http.StatusOK {
			t.Fatalf("labelling namespace: %d %s", status, body)
		}
		e.waitFor("new pods of sec-off to be defaulted", 10*time.Second, func() (bool, string) {
			_, body := e.do(http.MethodPost, podsPath("sec-off")+"?dryRun=All", podJSON("later", nil, nil, nil))
			var p pod
			json.Unmarshal(body, &p)
			return seccomp(p) == "RuntimeDefault", string(body)
		})
	})

	t.Run("a namespace binds a seccomp profile to its pods", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("sec-bound", labels("podlock.kubewarden.io/seccomp-profile", "strict"))
		got := e.refused(http.MethodPost, podsPath("sec-bound"), podJSON("p", nil, nil, nil))
		if want := webhookPods + `SeccompProfile "strict", bound to every pod by the namespace label podlock.kubewarden.io/seccomp-profile, does not exist in namespace "sec-bound"`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		e.createProfile("sec-bound", "seccompprofiles", seccompProfile("strict", ""))
		p := e.createPod("sec-bound", podJSON("p", nil, labels("podlock.kubewarden.io/seccomp", "audit"), nil))
		if p.Spec.RuntimeClassName != "podlock" || fmt.Sprint(p.Metadata.Annotations) != fmt.Sprint(labels("podlock.kubewarden.io/seccomp", "strict")) {
			t.Errorf("runtimeClassName %q, annotations %v; want podlock and the namespace's profile", p.Spec.RuntimeClassName, p.Metadata.Annotations)
		}
		got = e.refused(http.MethodPost, podsPath("sec-bound"), podJSON("q", nil, nil, map[string]any{"runtimeClassName": "containerd-kata"}))
		if want := webhookPods + `namespace "sec-bound" binds SeccompProfile "strict" to its pods (label podlock.kubewarden.io/seccomp-profile), which needs runtimeClassName "podlock", but the pod asks for runtimeClassName "containerd-kata": remove spec.runtimeClassName or set it to "podlock"`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		e.namespace("sec-builtin", labels("podlock.kubewarden.io/seccomp-profile", "runtime-default"))
		if p := e.createPod("sec-builtin", podJSON("p", nil, nil, nil)); p.Metadata.Annotations["podlock.kubewarden.io/seccomp"] != "runtime-default" {
			t.Errorf("built-in profile: annotations %v", p.Metadata.Annotations)
		}
	})

	// The namespace's SeccompProfile is the administrator's: a pod whose
	// LandlockProfile binds another one to a container runs under both, so
	// both must exist, and both are in use.
	t.Run("a namespace's seccomp profile and a LandlockProfile's both hold", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("sec-both", labels("podlock.kubewarden.io/seccomp-profile", "admin"))
		e.createProfile("sec-both", "landlockprofiles", landlockProfile("web", `{"app":"team"}`))
		pod := podJSON("p", labels("podlock.kubewarden.io/profile", "web"), nil, nil)
		const adminMissing = `SeccompProfile "admin", bound to every pod by the namespace label podlock.kubewarden.io/seccomp-profile, does not exist in namespace "sec-both"`
		got := e.refused(http.MethodPost, podsPath("sec-both"), pod)
		if want := webhookPods + `SeccompProfile "team", bound to container "app" by LandlockProfile "web", does not exist in namespace "sec-both"; ` + adminMissing; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		// The LandlockProfile's binding does not stand in for the
		// namespace's.
		e.createProfile("sec-both", "seccompprofiles", seccompProfile("team", ""))
		if got := e.refused(http.MethodPost, podsPath("sec-both"), pod); got != webhookPods+adminMissing {
			t.Errorf("\n got %s\nwant %s", got, webhookPods+adminMissing)
		}
		e.createProfile("sec-both", "seccompprofiles", seccompProfile("admin", ""))
		p := e.createPod("sec-both", pod)
		want := labels("podlock.kubewarden.io/profile", "web", "podlock.kubewarden.io/seccomp", "admin")
		if p.Spec.RuntimeClassName != "podlock" || fmt.Sprint(p.Metadata.Annotations) != fmt.Sprint(want) {
			t.Errorf("runtimeClassName %q, annotations %v; want podlock and %v", p.Spec.RuntimeClassName, p.Metadata.Annotations, want)
		}
		for _, name := range []string{"admin", "team"} {
			e.waitFor("SeccompProfile "+name+" in use", 30*time.Second, func() (bool, string) {
				p := e.getProfile("sec-both", "seccompprofiles", name)
				return p != nil && p.Status.PodsInUse == 1 && len(p.Metadata.Finalizers) == 1, fmt.Sprint(p)
			})
		}
	})

	// A namespace's LandlockProfile binds every new pod of the namespace,
	// which gets podlock's runtime class and the annotation the runtime
	// reads; the profile and what it binds must exist, learning mode is
	// refused under it, and its pods keep it in use, by the annotation
	// they were created with.
	t.Run("a namespace binds a LandlockProfile to its pods", func(t *testing.T) {
		e := e.sub(t)
		const ns = "ll-bound"
		e.namespace(ns, labels("podlock.kubewarden.io/landlock-profile", "base"))
		got := e.refused(http.MethodPost, podsPath(ns), podJSON("p", nil, nil, nil))
		if want := webhookPods + `LandlockProfile "base", bound to every pod by the namespace label podlock.kubewarden.io/landlock-profile, does not exist in namespace "ll-bound"`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		e.createProfile(ns, "landlockprofiles", `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile","metadata":{"name":"base"},
			"spec":{"containerWide":{"*":{"readOnly":["/etc"]}},"seccompByContainer":{"app":"ns-filter"}}}`)
		got = e.refused(http.MethodPost, podsPath(ns), podJSON("p", nil, nil, nil))
		if want := webhookPods + `SeccompProfile "ns-filter", bound to container "app" by LandlockProfile "base", does not exist in namespace "ll-bound"`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		e.createProfile(ns, "seccompprofiles", seccompProfile("ns-filter", ""))
		e.createProfile(ns, "landlockprofiles", landlockProfile("web", ""))
		e.createProfile(ns, "landlockprofiles", `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile","metadata":{"name":"learn"},"spec":{"mode":"Record"}}`)

		// The pod's own forged annotation is replaced.
		p := e.createPod(ns, podJSON("p", nil, labels("podlock.kubewarden.io/namespace-profile", "loose"), nil))
		if want := labels("podlock.kubewarden.io/namespace-profile", "base"); p.Spec.RuntimeClassName != "podlock" || fmt.Sprint(p.Metadata.Annotations) != fmt.Sprint(want) {
			t.Errorf("unlabelled pod: runtimeClassName %q, annotations %v; want podlock and %v", p.Spec.RuntimeClassName, p.Metadata.Annotations, want)
		}
		p = e.createPod(ns, podJSON("q", labels("podlock.kubewarden.io/profile", "web"), nil, nil))
		if want := labels("podlock.kubewarden.io/namespace-profile", "base", "podlock.kubewarden.io/profile", "web"); p.Spec.RuntimeClassName != "podlock" || fmt.Sprint(p.Metadata.Annotations) != fmt.Sprint(want) {
			t.Errorf("labelled pod: runtimeClassName %q, annotations %v; want podlock and %v", p.Spec.RuntimeClassName, p.Metadata.Annotations, want)
		}
		got = e.refused(http.MethodPost, podsPath(ns), podJSON("r", labels("podlock.kubewarden.io/profile", "learn"), nil, nil))
		if want := webhookPods + `LandlockProfile "learn" is in mode Record, which would run the pod without LandlockProfile "base" that namespace "ll-bound" binds to every pod (label podlock.kubewarden.io/landlock-profile): record in a namespace without that label`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		got = e.refused(http.MethodPatch, podsPath(ns)+"/p", `{"metadata":{"annotations":{"podlock.kubewarden.io/namespace-profile":null}}}`)
		if want := webhookPods + `annotation podlock.kubewarden.io/namespace-profile cannot be added, changed or removed on an existing pod (was "base", now none): delete the pod and create it again`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}

		inUse := func(res, name string, n int, deleting bool) {
			t.Helper()
			e.waitFor(fmt.Sprintf("%s %s in use by %d pods", res, name, n), 30*time.Second, func() (bool, string) {
				p := e.getProfile(ns, res, name)
				if p == nil {
					return false, "gone"
				}
				return p.Status.PodsInUse == n && (len(p.Metadata.Finalizers) == 1) == (n > 0) && (p.Metadata.DeletionTimestamp != nil) == deleting, fmt.Sprint(p)
			})
		}
		inUse("landlockprofiles", "base", 2, false)
		inUse("seccompprofiles", "ns-filter", 2, false)
		inUse("landlockprofiles", "web", 1, false)

		// Relabelling the namespace binds its new pods only: the pods
		// created before keep the profile they started with in use.
		if status, body := e.do(http.MethodPatch, "/api/v1/namespaces/"+ns, `{"metadata":{"labels":{"podlock.kubewarden.io/landlock-profile":"web"}}}`); status != http.StatusOK {
			t.Fatalf("relabelling the namespace: %d %s", status, body)
		}
		e.waitFor("new pods to get the namespace's new profile", 10*time.Second, func() (bool, string) {
			_, body := e.do(http.MethodPost, podsPath(ns)+"?dryRun=All", podJSON("later", nil, nil, nil))
			var p pod
			json.Unmarshal(body, &p)
			return p.Metadata.Annotations["podlock.kubewarden.io/namespace-profile"] == "web", string(body)
		})
		if status, body := e.do(http.MethodDelete, profilesPath(ns, "landlockprofiles")+"/base", nil); status != http.StatusOK {
			t.Fatalf("deleting base: %d %s", status, body)
		}
		inUse("landlockprofiles", "base", 2, true)
		e.deletePod(ns, "p")
		e.deletePod(ns, "q")
		e.waitFor("base to be gone with its last pod", 30*time.Second, func() (bool, string) {
			p := e.getProfile(ns, "landlockprofiles", "base")
			return p == nil, fmt.Sprint(p)
		})
		inUse("seccompprofiles", "ns-filter", 0, false)
	})

	t.Run("profiles in use are kept until their last pod is gone", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("fin", nil)
		finalizers := func(res, name string) (*profile, string) {
			p := e.getProfile("fin", res, name)
			if p == nil {
				return nil, "gone"
			}
			return p, fmt.Sprintf("finalizers %v, podsInUse %d, deletionTimestamp %v", p.Metadata.Finalizers, p.Status.PodsInUse, p.Metadata.DeletionTimestamp != nil)
		}
		expect := func(res, name string, inUse int, deleting bool) {
			t.Helper()
			e.waitFor(fmt.Sprintf("%s %s in use by %d pods", res, name, inUse), 30*time.Second, func() (bool, string) {
				p, s := finalizers(res, name)
				if p == nil {
					return false, s
				}
				has := len(p.Metadata.Finalizers) == 1 && p.Metadata.Finalizers[0] == "podlock.kubewarden.io/in-use"
				return has == (inUse > 0) && p.Status.PodsInUse == inUse && (p.Metadata.DeletionTimestamp != nil) == deleting, s
			})
		}
		gone := func(res, name string) {
			t.Helper()
			e.waitFor(res+" "+name+" to be gone", 30*time.Second, func() (bool, string) {
				p, s := finalizers(res, name)
				return p == nil, s
			})
		}
		del := func(res, name string) {
			t.Helper()
			if status, body := e.do(http.MethodDelete, profilesPath("fin", res)+"/"+name, nil); status != http.StatusOK && status != http.StatusAccepted {
				t.Fatalf("deleting %s %s: %d %s", res, name, status, body)
			}
		}

		// seccomp chain: strict is based on base; web binds strict;
		// the namespace-less annotation path is covered by ns-wide below.
		e.createProfile("fin", "seccompprofiles", seccompProfile("base", ""))
		e.createProfile("fin", "seccompprofiles", seccompProfile("strict", "base"))
		e.createProfile("fin", "landlockprofiles", landlockProfile("web", `{"app":"strict"}`))
		e.createProfile("fin", "landlockprofiles", landlockProfile("unused", ""))

		// 1. Pods use web: it gets the finalizer, its count follows.
		e.createPod("fin", podJSON("p1", labels("podlock.kubewarden.io/profile", "web"), nil, nil))
		expect("landlockprofiles", "web", 1, false)
		e.createPod("fin", podJSON("p2", labels("podlock.kubewarden.io/profile", "web"), nil, nil))
		expect("landlockprofiles", "web", 2, false)
		expect("seccompprofiles", "strict", 2, false)
		expect("seccompprofiles", "base", 2, false)

		// 2. Deleting a profile in use leaves it pending.
		del("landlockprofiles", "web")
		expect("landlockprofiles", "web", 2, true)
		del("seccompprofiles", "base")
		expect("seccompprofiles", "base", 2, true)

		// 3. No new pod may use a profile being deleted.
		got := e.refused(http.MethodPost, podsPath("fin"), podJSON("p3", labels("podlock.kubewarden.io/profile", "web"), nil, nil))
		if want := webhookPods + `LandlockProfile "web" of namespace "fin" is being deleted: new pods cannot use it`; got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}

		// 4. A terminated pod no longer uses it.
		if status, body := e.do(http.MethodPatch, podsPath("fin")+"/p1/status", `{"status":{"phase":"Succeeded"}}`); status != http.StatusOK {
			t.Fatalf("p1 status: %d %s", status, body)
		}
		expect("landlockprofiles", "web", 1, true)

		// 5. The last pod gone: the finalizer goes, the profile is
		// garbage collected, and so is the seccomp profile deleted while
		// in use through it.
		e.deletePod("fin", "p2")
		gone("landlockprofiles", "web")
		gone("seccompprofiles", "base")
		expect("seccompprofiles", "strict", 0, false)

		// 6. An unreferenced profile is deleted at once.
		del("landlockprofiles", "unused")
		if p, s := finalizers("landlockprofiles", "unused"); p != nil {
			t.Errorf("unused profile still there after delete: %s", s)
		}

		// 7. A seccomp profile named by the pod's annotation (namespace
		// binding) is in use too.
		e.namespace("fin2", labels("podlock.kubewarden.io/seccomp-profile", "ns-wide"))
		if status, body := e.do(http.MethodPost, profilesPath("fin2", "seccompprofiles"), seccompProfile("ns-wide", "")); status != http.StatusCreated {
			t.Fatalf("%d %s", status, body)
		}
		e.createPod("fin2", podJSON("p", nil, nil, nil))
		e.waitFor("ns-wide in use", 30*time.Second, func() (bool, string) {
			p := e.getProfile("fin2", "seccompprofiles", "ns-wide")
			return p != nil && p.Status.PodsInUse == 1 && len(p.Metadata.Finalizers) == 1, fmt.Sprint(p)
		})
		e.deletePod("fin2", "p")
		e.waitFor("ns-wide unused", 30*time.Second, func() (bool, string) {
			p := e.getProfile("fin2", "seccompprofiles", "ns-wide")
			return p != nil && p.Status.PodsInUse == 0 && len(p.Metadata.Finalizers) == 0, fmt.Sprint(p)
		})
	})

	t.Run("the ValidatingAdmissionPolicy keeps the binding", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("vap", nil)
		e.createProfile("vap", "landlockprofiles", landlockProfile("demo", ""))
		e.createPod("vap", podJSON("p", labels("podlock.kubewarden.io/profile", "demo"), nil, nil))
		e.apply(readFile(t, e.root, "install/controller/admission-policy.yaml"))
		const prefix = `pods "p" is forbidden: ValidatingAdmissionPolicy 'podlock-profile-binding' with binding 'podlock-profile-binding' denied request: `
		for _, c := range []struct{ patch, want string }{
			{`{"metadata":{"labels":{"podlock.kubewarden.io/profile":"other"}}}`,
				"label podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod: delete the pod and create it again"},
			{`{"metadata":{"annotations":{"podlock.kubewarden.io/profile":null}}}`,
				"annotation podlock.kubewarden.io/profile cannot be added, changed or removed on an existing pod: delete the pod and create it again"},
			{`{"metadata":{"annotations":{"podlock.kubewarden.io/seccomp":"audit"}}}`,
				"annotation podlock.kubewarden.io/seccomp cannot be added, changed or removed on an existing pod: delete the pod and create it again"},
			{`{"metadata":{"annotations":{"podlock.kubewarden.io/namespace-profile":"demo"}}}`,
				"annotation podlock.kubewarden.io/namespace-profile cannot be added, changed or removed on an existing pod: delete the pod and create it again"},
		} {
			// The policy takes effect once the API server has loaded it.
			e.waitFor("the policy to refuse "+c.patch, 30*time.Second, func() (bool, string) {
				status, body := e.do(http.MethodPatch, podsPath("vap")+"/p", c.patch)
				return status == http.StatusForbidden && message(body) == prefix+c.want, message(body)
			})
		}
		if status, body := e.do(http.MethodPatch, podsPath("vap")+"/p", `{"metadata":{"labels":{"tier":"web"}}}`); status != http.StatusOK {
			t.Errorf("another label: %d %s", status, body)
		}
	})

	t.Run("runtime-class policy, the seed's examples", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("rc", nil)
		e.createProfile("rc", "landlockprofiles", landlockProfile("demo", ""))
		// Created before the policy: an UPDATE of it is refused once its
		// runtime is reserved.
		e.createPod("rc", podJSON("before", nil, nil, nil))
		// The examples' pod, verbatim but for what a pod without kubelet
		// and service account needs.
		nginx := func(runtimeClass string) string {
			rc := ""
			if runtimeClass != "" {
				rc = "\n  runtimeClassName: " + runtimeClass
			}
			return `apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:` + rc + `
  automountServiceAccountToken: false
  containers:
  - name: nginx
    image: nginx
    imagePullPolicy: IfNotPresent
`
		}
		runtimeOf := func(body []byte) string {
			var p pod
			json.Unmarshal(body, &p)
			return p.Spec.RuntimeClassName
		}

		// Example 1: the default runtime is refused.
		e.restartController("reservedRuntimes:\n- runC\ndefaultRuntimeReserved: true\n")
		got := e.refused(http.MethodPost, podsPath("rc"), nginx(""))
		if want := webhookPods + "the default runtime class is reserved (defaultRuntimeReserved): use a runtime class that is not reserved"; got != want {
			t.Errorf("example 1:\n got %s\nwant %s", got, want)
		}
		got = e.refused(http.MethodPost, podsPath("rc"), nginx("containerd-runc"))
		if want := webhookPods + `runtime class "containerd-runc" (handler "runc") is reserved (reservedRuntimes: runC): use a runtime class that is not reserved`; got != want {
			t.Errorf("reserved runtime without fallback:\n got %s\nwant %s", got, want)
		}

		// Examples 2 and 3: mutated to the fallback.
		e.restartController("reservedRuntimes:\n- runC\nfallbackRuntime: containerd-kata\ndefaultRuntimeReserved: true\n")
		for _, rc := range []string{"", "containerd-runc"} {
			status, body := e.do(http.MethodPost, podsPath("rc"), nginx(rc))
			if status != http.StatusCreated || runtimeOf(body) != "containerd-kata" {
				t.Errorf("pod with runtimeClassName %q: %d, runtimeClassName %q, want containerd-kata", rc, status, runtimeOf(body))
			}
			e.deletePod("rc", "nginx")
		}
		// Where podlock differs: an explicit runtime that is not reserved
		// is kept; labelled pods get podlock, never reserved.
		if status, body := e.do(http.MethodPost, podsPath("rc"), nginx("podlock")); status != http.StatusCreated || runtimeOf(body) != "podlock" {
			t.Errorf("explicit podlock: %d %q", status, runtimeOf(body))
		}
		if p := e.createPod("rc", podJSON("labelled", labels("podlock.kubewarden.io/profile", "demo"), nil, nil)); p.Spec.RuntimeClassName != "podlock" {
			t.Errorf("labelled pod: runtimeClassName %q, want podlock", p.Spec.RuntimeClassName)
		}
		// UPDATE can only validate: runtimeClassName is immutable.
		got = e.refused(http.MethodPatch, podsPath("rc")+"/before", `{"metadata":{"labels":{"tier":"web"}}}`)
		if want := webhookPods + "the default runtime class is reserved (defaultRuntimeReserved); spec.runtimeClassName cannot change on an existing pod: delete the pod and create it again"; got != want {
			t.Errorf("update:\n got %s\nwant %s", got, want)
		}
		// Workload templates: refused only when no fallback can help.
		e.restartController("reservedRuntimes:\n- runC\ndefaultRuntimeReserved: true\n")
		dep := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},
			"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"nginx"}]}}}}`
		got = e.refused(http.MethodPost, "/apis/apps/v1/namespaces/rc/deployments", dep)
		if want := webhookWorkloads + "Deployment web: spec.template: its pods would be refused: the default runtime class is reserved (defaultRuntimeReserved): use a runtime class that is not reserved"; got != want {
			t.Errorf("deployment:\n got %s\nwant %s", got, want)
		}
		e.restartController("")
	})

	t.Run("an unreachable webhook blocks pods", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("outage", nil)
		e.createProfile("outage", "landlockprofiles", landlockProfile("demo", ""))
		e.stop()
		got := e.refused(http.MethodPost, podsPath("outage"), podJSON("p", labels("podlock.kubewarden.io/profile", "demo"), nil, nil))
		if !strings.HasPrefix(got, `Internal error occurred: failed calling webhook "mutate.pods.podlock.kubewarden.io"`) {
			t.Errorf("with the controller stopped, a labelled pod got: %s", got)
		}
		if status, _ := e.do(http.MethodGet, podsPath("outage")+"/p", nil); status != http.StatusNotFound {
			t.Errorf("the pod was created (GET: %d)", status)
		}
		e.startController("")
		if p := e.createPod("outage", podJSON("p", labels("podlock.kubewarden.io/profile", "demo"), nil, nil)); p.Spec.RuntimeClassName != "podlock" {
			t.Errorf("after restart: %+v", p)
		}
	})

	t.Run("self-signed certificates rotate without an outage", func(t *testing.T) {
		e := e.sub(t)
		e.namespace("rotate", nil)
		e.createProfile("rotate", "landlockprofiles", landlockProfile("demo", ""))
		// Lifetimes in seconds: the serving certificate is renewed every
		// 4 s, the CA at 10 s, and the old CA leaves the bundle at 15 s.
		// The CA of the earlier starts is valid for a year: remove it.
		e.stop()
		if status, body := e.do(http.MethodDelete, "/api/v1/namespaces/podlock-system/secrets/podlock-webhook-ca", nil); status != http.StatusOK {
			t.Fatalf("deleting the CA Secret: %d %s", status, body)
		}
		e.restartControllerArgs("", "--ca-validity", "15s", "--cert-validity", "6s", "--cert-check-interval", "250ms")
		caBundles := func() (string, int) {
			_, body := e.do(http.MethodGet, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/podlock-controller", nil)
			var cfg struct {
				Webhooks []struct {
					ClientConfig struct {
						CABundle []byte `json:"caBundle"`
					} `json:"clientConfig"`
				} `json:"webhooks"`
			}
			json.Unmarshal(body, &cfg)
			b := string(cfg.Webhooks[0].ClientConfig.CABundle)
			return b, strings.Count(b, "BEGIN CERTIFICATE")
		}
		serials := map[string]bool{}
		bundles := map[string]bool{}
		maxCAs := 0
		start := time.Now()
		for i := 0; time.Since(start) < 19*time.Second; i++ {
			name := fmt.Sprintf("p%d", i)
			if status, body := e.do(http.MethodPost, podsPath("rotate")+"?dryRun=All",
				podJSON(name, labels("podlock.kubewarden.io/profile", "demo"), nil, nil)); status != http.StatusCreated {
				t.Fatalf("after %s, a pod was refused: %d %s", time.Since(start).Round(time.Millisecond), status, body)
			}
			if s, err := e.servedCertificate(); err == nil {
				serials[s] = true
			}
			b, n := caBundles()
			bundles[b] = true
			maxCAs = max(maxCAs, n)
			time.Sleep(100 * time.Millisecond)
		}
		if len(serials) < 3 || len(bundles) < 3 || maxCAs != 2 {
			t.Errorf("in 19 s: %d serving certificates, %d caBundles, at most %d CAs at once; want at least 3, 3 (one CA, two, then the new one) and 2",
				len(serials), len(bundles), maxCAs)
		}
		t.Logf("in 19 s: %d serving certificates, %d caBundles", len(serials), len(bundles))
	})
}

// sub returns the env for a subtest, failing that subtest.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) restartController(config string) { e.restartControllerArgs(config) }

func (e *env) restartControllerArgs(config string, extra ...string) {
	e.t.Helper()
	e.stop()
	e.startController(config, extra...)
}

package install_test

import (
	"fmt"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/chart"
	kubetest "github.com/kubewarden/podlock/tests/internal/kube"
)

// A real API server accepts every object the chart renders, with its
// defaults and with the values of the end-to-end test's cluster, in a
// server-side dry run. cert-manager's objects need cert-manager's CRDs,
// which the test's API server does not have.
func TestChartDryRun(t *testing.T) {
	cp := kubetest.StartControlPlane(t, kubetest.Options{})
	for _, ns := range []string{chart.Namespace, "security"} {
		cp.Apply(t, []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, ns)))
	}
	for _, tt := range []struct {
		name, namespace string
		values          map[string]any
	}{
		{"defaults", chart.Namespace, nil},
		{"host network, another namespace", "security", map[string]any{
			"kubernetesAPI": map[string]any{"host": "127.0.0.1", "port": "6443"},
			"controller":    map[string]any{"hostNetwork": true, "webhookPort": 19443, "servicePort": 19443},
			"node":          map[string]any{"hostNetwork": true, "engine": "containerd", "engineConfig": "/etc/containerd/main.toml"},
		}},
		{"cert-manager", chart.Namespace, map[string]any{"controller": map[string]any{"tlsMode": "cert-manager"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := chart.Render(tt.namespace, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, o := range objs {
				if o.Kind() == "Issuer" || o.Kind() == "Certificate" {
					continue
				}
				manifest, err := chart.Manifest([]chart.Object{o})
				if err != nil {
					t.Fatal(err)
				}
				if err := cp.DryRunApply(manifest); err != nil {
					t.Errorf("%s: %v", o.Key(), err)
				}
				checked++
			}
			t.Logf("%d objects accepted", checked)
		})
	}
}

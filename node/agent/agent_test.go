package agent

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubewarden/podlock/landlock"
)

// Refresh writes the token it was given and labels the node; Ready follows
// the binaries on disk.
func TestRefresh(t *testing.T) {
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	expires := time.Now().Add(time.Hour)
	client.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		return true, &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{
			Token: "secret-token", ExpirationTimestamp: metav1.NewTime(expires),
		}}, nil
	})
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	a := &Agent{
		Client:      client,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Node:        "node-a",
		SANamespace: "podlock-system",
		SAName:      "podlock-node",
		TTL:         time.Hour,
		TokenPath:   filepath.Join(dir, "etc", "token"),
		Binaries:    bin,
	}
	for _, installed := range []bool{false, true} {
		if installed {
			if err := os.MkdirAll(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-helper", "podlock-interpose"} {
				if err := os.WriteFile(filepath.Join(bin, name), nil, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := a.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		token, err := os.ReadFile(a.TokenPath)
		if err != nil || string(token) != "secret-token" {
			t.Fatalf("token file: %q %v", token, err)
		}
		if fi, err := os.Stat(a.TokenPath); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode: %v %v", fi.Mode(), err)
		}
		node, err := client.CoreV1().Nodes().Get(t.Context(), "node-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready := installed && landlock.KernelABI() >= landlock.MinABI
		want := map[string]string{LabelReady: strconv.FormatBool(ready), LabelLandlockVersion: strconv.Itoa(landlock.KernelABI())}
		for k, v := range want {
			if node.Labels[k] != v {
				t.Errorf("installed=%v: label %s=%q, want %q", installed, k, node.Labels[k], v)
			}
		}
	}
}

// Package agent keeps a node ready for podlock: it renews the token that
// podlock-runtime uses on the host and labels the node with its Landlock
// ABI and whether confined containers can start on it.
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/landlock"
	"github.com/kubewarden/podlock/node/probes"
)

// Node labels: the RuntimeClass podlock selects nodes where podlock is
// ready, and operators can see each node's Landlock ABI.
const (
	LabelLandlockVersion = "podlock.kubewarden.io/landlock-version"
	LabelReady           = "podlock.kubewarden.io/ready"
)

// Agent keeps one node ready for podlock.
type Agent struct {
	Client kubernetes.Interface
	Log    *slog.Logger
	// Node is the node's name.
	Node string
	// ServiceAccount is the identity whose tokens podlock-runtime uses
	// on the host.
	SANamespace, SAName string
	// TTL is the lifetime of the tokens requested; they are renewed at
	// half of it.
	TTL time.Duration
	// TokenPath is where the token is written, Binaries the directory of
	// podlock-runtime and podlock-helper, both as this process sees them.
	TokenPath string
	Binaries  string
	// Probes, when set, learns of each token written.
	Probes *probes.Probes
}

// Loop refreshes the node's state at half the tokens' lifetime until ctx
// ends, and then labels the node not ready.
func (a *Agent) Loop(ctx context.Context) error {
	for {
		wait := a.TTL / 2
		if err := a.Refresh(ctx); err != nil {
			a.Log.Error("refreshing the node's podlock state", "error", err)
			wait = 10 * time.Second
		}
		select {
		case <-ctx.Done():
			// Leaving: new confined pods must not be scheduled here on
			// the strength of a token nobody renews.
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return a.label(shutdown, false)
		case <-time.After(wait):
		}
	}
}

// Refresh writes a new token for podlock-runtime and labels the node.
func (a *Agent) Refresh(ctx context.Context) error {
	seconds := int64(a.TTL.Seconds())
	tr, err := a.Client.CoreV1().ServiceAccounts(a.SANamespace).CreateToken(ctx, a.SAName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for %s/%s: %w", a.SANamespace, a.SAName, err)
	}
	if err := os.MkdirAll(filepath.Dir(a.TokenPath), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(a.TokenPath, []byte(tr.Status.Token), 0o600); err != nil {
		return err
	}
	if a.Probes != nil {
		a.Probes.TokenWritten(tr.Status.ExpirationTimestamp.Time)
	}
	ready := a.Ready()
	if err := a.label(ctx, ready); err != nil {
		return err
	}
	a.Log.Info("node refreshed", "node", a.Node, "ready", ready, "tokenExpires", tr.Status.ExpirationTimestamp.Time)
	return nil
}

// Ready reports whether confined containers can start here.
func (a *Agent) Ready() bool {
	if landlock.KernelABI() < landlock.MinABI {
		return false
	}
	for _, name := range []string{"podlock-runtime", "podlock-runtime-confine", "podlock-helper", "podlock-interpose"} {
		if fi, err := os.Stat(filepath.Join(a.Binaries, name)); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func (a *Agent) label(ctx context.Context, ready bool) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
		LabelLandlockVersion: strconv.Itoa(landlock.KernelABI()),
		LabelReady:           strconv.FormatBool(ready),
	}}})
	if err != nil {
		return err
	}
	if _, err := a.Client.CoreV1().Nodes().Patch(ctx, a.Node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling node %s: %w", a.Node, err)
	}
	return nil
}

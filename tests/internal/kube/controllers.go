package kube

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubewarden/podlock/tests/internal/daemon"
)

// Identities of the controllers: the API server's RBAC bootstrap policy
// binds these user names to their roles.
const (
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
)

// controller is a running kube-controller-manager or kube-scheduler.
type controller struct {
	name string
	proc *daemon.Proc
}

// startControllers starts kube-controller-manager and kube-scheduler, as
// their own users, without serving (--secure-port 0) or leader election,
// and waits until the controller manager has published the API server's
// CA in namespace default (kube-root-ca.crt, which every pod with a
// service account token mounts): then Deployments, ReplicaSets,
// DaemonSets, EndpointSlices, service accounts and the garbage collector
// work, and the scheduler binds pods.
func (cp *ControlPlane) startControllers() error {
	for _, c := range []struct {
		name, user string
		args       []string
	}{
		{"kube-controller-manager", controllerManagerUser, []string{
			"--use-service-account-credentials",
			"--root-ca-file", cp.path("certs", "apiserver.crt"),
		}},
		{"kube-scheduler", schedulerUser, nil},
	} {
		kubeconfig := cp.path(c.name + ".kubeconfig")
		if err := cp.WriteKubeconfig(kubeconfig, c.user, cp.tokens[c.user]); err != nil {
			return err
		}
		args := append([]string{"--kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port", "0"}, c.args...)
		p, err := daemon.Start(filepath.Join(cp.bin, c.name), cp.path(c.name+".log"), nil, args...)
		if err != nil {
			return err
		}
		cp.mu.Lock()
		cp.controllers = append(cp.controllers, controller{c.name, p})
		cp.mu.Unlock()
	}
	deadline := time.Now().Add(cp.opts.StartTimeout)
	for {
		status, body, err := cp.Do("GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt", nil)
		if err == nil && status == 200 {
			return nil
		}
		for _, c := range cp.controllers {
			if c.proc.Exited() {
				return fmt.Errorf("%s exited:\n%s", c.name, daemon.Tail(cp.path(c.name+".log"), 30))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-controller-manager published no kube-root-ca.crt in %v (%d %v %s):\n%s", cp.opts.StartTimeout,
				status, err, strings.TrimSpace(string(body)), daemon.Tail(cp.path("kube-controller-manager.log"), 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

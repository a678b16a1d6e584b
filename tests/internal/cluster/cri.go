package cluster

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criClient talks CRI to the private containerd, as the kubelet does.
type criClient struct {
	conn    *grpc.ClientConn
	runtime runtimeapi.RuntimeServiceClient
	image   runtimeapi.ImageServiceClient
}

func dialCRI(socket string) (*criClient, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI client for %s: %w", socket, err)
	}
	return &criClient{conn: conn, runtime: runtimeapi.NewRuntimeServiceClient(conn), image: runtimeapi.NewImageServiceClient(conn)}, nil
}

// CRI is the CRI runtime service of the node's containerd: what the
// kubelet calls. Use it to look at containers beyond what the API server
// shows, or while it is down.
func (c *Cluster) CRI() runtimeapi.RuntimeServiceClient { return c.cri.runtime }

// ExecResult is the outcome of a CRI ExecSync.
type ExecResult struct {
	Stdout, Stderr string
	ExitCode       int32
}

// CRIExec runs cmd in a running container through the CRI's ExecSync, the
// call behind `kubectl exec` (kubelet -> containerd -> shim -> runc exec),
// unlike `ctr task exec`, which bypasses the CRI. containerID is the bare
// ID, without containerd://.
func (c *Cluster) CRIExec(containerID string, timeout time.Duration, cmd ...string) (ExecResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	resp, err := c.cri.runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{
		ContainerId: containerID,
		Cmd:         cmd,
		Timeout:     int64(timeout / time.Second),
	})
	if err != nil {
		return ExecResult{}, fmt.Errorf("CRI ExecSync %v in %s: %w", cmd, containerID, err)
	}
	return ExecResult{Stdout: string(resp.Stdout), Stderr: string(resp.Stderr), ExitCode: resp.ExitCode}, nil
}

// PodContainers lists the CRI containers of a pod (by its UID), all states,
// oldest first as the CRI returns them.
func (c *Cluster) PodContainers(podUID string) ([]*runtimeapi.Container, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.cri.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": podUID},
	}})
	if err != nil {
		return nil, fmt.Errorf("CRI ListContainers of pod %s: %w", podUID, err)
	}
	return resp.Containers, nil
}

// ContainerStatus is the CRI status of a container: state, exit code,
// log path, creation and start times in nanoseconds.
func (c *Cluster) ContainerStatus(containerID string) (*runtimeapi.ContainerStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.cri.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: containerID})
	if err != nil {
		return nil, fmt.Errorf("CRI ContainerStatus %s: %w", containerID, err)
	}
	return resp.Status, nil
}

// removeAllSandboxes stops and removes every pod sandbox (and so every
// container) through the CRI: what is left when the kubelet is stopped.
// StopPodSandbox kills containers at once (timeout 0).
func (cri *criClient) removeAllSandboxes() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := cri.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("CRI ListPodSandbox: %w", err)
	}
	var firstErr error
	for _, sb := range resp.Items {
		if _, err := cri.runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("CRI StopPodSandbox %s: %w", sb.Id, err)
		}
		if _, err := cri.runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("CRI RemovePodSandbox %s: %w", sb.Id, err)
		}
	}
	return firstErr
}

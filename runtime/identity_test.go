package runtime

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func TestIdentify(t *testing.T) {
	containerd := map[string]string{
		"io.kubernetes.cri.container-type":    "container",
		"io.kubernetes.cri.container-name":    "app",
		"io.kubernetes.cri.sandbox-namespace": "team-a",
		"io.kubernetes.cri.sandbox-name":      "web-0",
		v1alpha1.ProfileKey:                   "strict",
	}
	crio := map[string]string{
		"io.kubernetes.cri-o.ContainerType": "container",
		"io.kubernetes.container.name":      "app",
		"io.kubernetes.pod.namespace":       "team-b",
		"io.kubernetes.pod.name":            "web-1",
		v1alpha1.ProfileKey:                 "strict.v2",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name        string
		annotations map[string]string
		want        identity
		wantErr     error  // checked with errors.Is
		errContains string // checked when wantErr is nil and an error is expected
	}{
		{
			name:        "containerd",
			annotations: containerd,
			want:        identity{Namespace: "team-a", Pod: "web-0", Container: "app", Profile: "strict"},
		},
		{
			name:        "CRI-O",
			annotations: crio,
			want:        identity{Namespace: "team-b", Pod: "web-1", Container: "app", Profile: "strict.v2"},
		},
		{
			name: "CRI-O with containerd's keys forged by the pod",
			annotations: with(crio, "io.kubernetes.cri.sandbox-namespace", "kube-system",
				"io.kubernetes.cri.container-name", "other", "io.kubernetes.cri.container-type", "sandbox"),
			want: identity{Namespace: "team-b", Pod: "web-1", Container: "app", Profile: "strict.v2"},
		},
		{
			name:        "containerd sandbox",
			annotations: with(containerd, "io.kubernetes.cri.container-type", "sandbox"),
			wantErr:     errNotConfined,
		},
		{
			name:        "CRI-O sandbox",
			annotations: with(crio, "io.kubernetes.cri-o.ContainerType", "sandbox"),
			wantErr:     errNotConfined,
		},
		{
			name:        "sandbox with no container name",
			annotations: with(containerd, "io.kubernetes.cri.container-type", "sandbox", "io.kubernetes.cri.container-name", ""),
			wantErr:     errNotConfined,
		},
		{
			name:        "no profile annotation",
			annotations: with(containerd, v1alpha1.ProfileKey, ""),
			wantErr:     errNotConfined,
		},
		{
			name:        "the namespace's profile alone",
			annotations: with(containerd, v1alpha1.ProfileKey, "", v1alpha1.NamespaceProfileKey, "base"),
			want:        identity{Namespace: "team-a", Pod: "web-0", Container: "app", NamespaceProfile: "base"},
		},
		{
			name:        "the namespace's profile and the pod's",
			annotations: with(containerd, v1alpha1.NamespaceProfileKey, "base"),
			want:        identity{Namespace: "team-a", Pod: "web-0", Container: "app", Profile: "strict", NamespaceProfile: "base"},
		},
		{
			name:        "invalid namespace profile name",
			annotations: with(containerd, v1alpha1.NamespaceProfileKey, "../base"),
			errContains: `annotation podlock.kubewarden.io/namespace-profile: name "../base" is not a DNS-1123 subdomain`,
		},
		{
			name:        "namespace profile annotation that is no name",
			annotations: with(containerd, v1alpha1.ProfileKey, "", v1alpha1.NamespaceProfileKey, "-"),
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "no annotations at all",
			annotations: nil,
			wantErr:     errNotConfined,
		},
		{
			name:        "empty profile annotation",
			annotations: map[string]string{v1alpha1.ProfileKey: "", "io.kubernetes.cri.container-name": "app"},
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "invalid profile name",
			annotations: with(containerd, v1alpha1.ProfileKey, "../etc"),
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "upper-case profile name",
			annotations: with(containerd, v1alpha1.ProfileKey, "Strict"),
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "invalid namespace",
			annotations: with(containerd, "io.kubernetes.cri.sandbox-namespace", "a/b"),
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "namespace with a path separator, named by its key",
			annotations: with(crio, "io.kubernetes.pod.namespace", "../etc"),
			errContains: `annotation io.kubernetes.pod.namespace: namespace "../etc" is not a DNS-1123 label`,
		},
		{
			name:        "container name with a path separator",
			annotations: with(containerd, "io.kubernetes.cri.container-name", "../../app"),
			errContains: `annotation io.kubernetes.cri.container-name: container name "../../app" is not a DNS-1123 label`,
		},
		{
			name:        "container name with a dot",
			annotations: with(crio, "io.kubernetes.container.name", "app.log"),
			errContains: `annotation io.kubernetes.container.name: container name "app.log" is not a DNS-1123 label`,
		},
		{
			name:        "upper-case container name",
			annotations: with(containerd, "io.kubernetes.cri.container-name", "App"),
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "container name of 64 characters",
			annotations: with(containerd, "io.kubernetes.cri.container-name", strings.Repeat("a", 64)),
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "container name of 63 characters",
			annotations: with(containerd, "io.kubernetes.cri.container-name", strings.Repeat("a", 63)),
			want:        identity{Namespace: "team-a", Pod: "web-0", Container: strings.Repeat("a", 63), Profile: "strict"},
		},
		{
			name:        "pod name with a path separator",
			annotations: with(containerd, "io.kubernetes.cri.sandbox-name", "web/../0"),
			errContains: `annotation io.kubernetes.cri.sandbox-name: pod name "web/../0" is not a DNS-1123 subdomain`,
		},
		{
			name:        "pod name with a newline",
			annotations: with(crio, "io.kubernetes.pod.name", "web\nlevel=error"),
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "dotted pod name",
			annotations: with(containerd, "io.kubernetes.cri.sandbox-name", "web.v2-0"),
			want:        identity{Namespace: "team-a", Pod: "web.v2-0", Container: "app", Profile: "strict"},
		},
		{
			name:        "containerd, no container name",
			annotations: with(containerd, "io.kubernetes.cri.container-name", ""),
			errContains: "io.kubernetes.cri.container-name",
		},
		{
			name:        "CRI-O, no container name",
			annotations: with(crio, "io.kubernetes.container.name", ""),
			errContains: "io.kubernetes.container.name",
		},
		{
			name:        "not started by Kubernetes: default namespace",
			annotations: map[string]string{v1alpha1.ProfileKey: "strict", "io.kubernetes.cri.container-name": "app"},
			want:        identity{Namespace: "default", Container: "app", Profile: "strict"},
		},
		{
			name:        "outside Kubernetes: podlock's container annotation",
			annotations: map[string]string{v1alpha1.ProfileKey: "strict", v1alpha1.ContainerKey: "app", "io.container.manager": "libpod", "io.kubernetes.cri-o.Created": "2026-12-04T18:26:00Z"},
			want:        identity{Namespace: "default", Container: "app", Profile: "strict"},
		},
		{
			name:        "containerd: podlock's container annotation, passed from the pod, is ignored",
			annotations: with(containerd, v1alpha1.ContainerKey, "other"),
			want:        identity{Namespace: "team-a", Pod: "web-0", Container: "app", Profile: "strict"},
		},
		{
			name:        "CRI-O: podlock's container annotation is ignored",
			annotations: with(crio, v1alpha1.ContainerKey, "other"),
			want:        identity{Namespace: "team-b", Pod: "web-1", Container: "app", Profile: "strict.v2"},
		},
		{
			name:        "a container manager's key without a container name: podlock's annotation is ignored",
			annotations: with(containerd, "io.kubernetes.cri.container-name", "", v1alpha1.ContainerKey, "other"),
			errContains: "io.kubernetes.cri.container-name",
		},
		{
			name:        "podman pod: CRI-O's container type, so podlock's annotation is ignored",
			annotations: map[string]string{v1alpha1.ProfileKey: "strict", v1alpha1.ContainerKey: "other", "io.kubernetes.cri-o.ContainerType": "container"},
			errContains: "io.kubernetes.container.name",
		},
		{
			name:        "a pod's namespace alone counts as a container manager's",
			annotations: map[string]string{v1alpha1.ProfileKey: "strict", v1alpha1.ContainerKey: "other", "io.kubernetes.pod.namespace": "team-a"},
			errContains: "has no name",
		},
		{
			name:        "outside Kubernetes: no container name",
			annotations: map[string]string{v1alpha1.ProfileKey: "strict"},
			errContains: v1alpha1.ContainerKey,
		},
		{
			name:        "outside Kubernetes: invalid container name",
			annotations: map[string]string{v1alpha1.ProfileKey: "strict", v1alpha1.ContainerKey: "../app"},
			wantErr:     v1alpha1.ErrInvalid,
		},
		{
			name:        "containerd keys win over CRI-O keys",
			annotations: with(containerd, "io.kubernetes.container.name", "other", "io.kubernetes.pod.namespace", "other"),
			want:        identity{Namespace: "team-a", Pod: "web-0", Container: "app", Profile: "strict"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identify(tt.annotations)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("identify() error = %v, want %v", err, tt.wantErr)
				}
			case tt.errContains != "":
				if err == nil || !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("identify() error = %v, want one naming %s", err, tt.errContains)
				}
				if errors.Is(err, errNotConfined) {
					t.Fatalf("identify() error = %v must not let the container run unconfined", err)
				}
			default:
				if err != nil {
					t.Fatalf("identify() error = %v", err)
				}
				if got != tt.want {
					t.Errorf("identify() = %+v, want %+v", got, tt.want)
				}
			}
		})
	}
}

func TestIdentityString(t *testing.T) {
	tests := []struct {
		id   identity
		want string
	}{
		{identity{Namespace: "ns", Pod: "p", Container: "c"}, `container "c" of pod ns/p`},
		{identity{Namespace: "default", Container: "c"}, `container "c" (namespace default)`},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.id, got, tt.want)
		}
	}
}
